//! What a mistyped value was probably meant to be: a date in another order or with other
//! separators, a zone name in the wrong case or a letter off.

use chrono::NaiveDate;

/// A `--date`-like value, or a message naming the one format accepted (and, for a year-first
/// date with `/` or `.`, the same date written that way).
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    if let Ok(d) = s.parse::<NaiveDate>() {
        return Ok(d);
    }
    let dashed = s.trim().replace(['/', '.'], "-");
    let year_first = dashed.split('-').next().is_some_and(|y| y.len() == 4);
    match dashed.parse::<NaiveDate>() {
        Ok(d) if year_first => Err(format!("write the date as YYYY-MM-DD: {d}")),
        _ => Err("write the date as YYYY-MM-DD, year first (e.g. 2026-12-01)".into()),
    }
}

/// The IANA zone `name` most likely meant: the one that differs only in case, else the nearest
/// by edits when it is close enough to be a typo.
pub fn suggest_zone(name: &str) -> Option<&'static str> {
    let names = || chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(same) = names().find(|n| n.eq_ignore_ascii_case(name)) {
        return Some(same);
    }
    let wanted = name.to_ascii_lowercase();
    let (distance, nearest) = names()
        .map(|n| (edits(&wanted, &n.to_ascii_lowercase()), n))
        .min()?;
    // A third of the name changed is another name, not a typo.
    (distance <= 1.max(name.chars().count() / 3)).then_some(nearest)
}

/// Levenshtein distance.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_in_another_shape_names_yyyy_mm_dd() {
        assert_eq!(
            parse_date("2026-12-01").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
        assert_eq!(
            parse_date("2026/12/01").unwrap_err(),
            "write the date as YYYY-MM-DD: 2026-12-01"
        );
        // Day first or month first? Not guessed.
        assert_eq!(
            parse_date("01-12-2026").unwrap_err(),
            "write the date as YYYY-MM-DD, year first (e.g. 2026-12-01)"
        );
        assert!(parse_date("2026-02-30").unwrap_err().contains("YYYY-MM-DD"));
    }

    #[test]
    fn a_zone_in_the_wrong_case_or_a_letter_off_is_named() {
        assert_eq!(suggest_zone("america/new_york"), Some("America/New_York"));
        assert_eq!(suggest_zone("utc"), Some("UTC"));
        assert_eq!(suggest_zone("Asia/Bangkock"), Some("Asia/Bangkok"));
        assert_eq!(suggest_zone("Europe/Berln"), Some("Europe/Berlin"));
        assert_eq!(suggest_zone("Mars/Olympus_Mons"), None);
    }

    #[test]
    fn edits_count_insertions_deletions_and_changes() {
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(edits("", "abc"), 3);
        assert_eq!(edits("abc", "abc"), 0);
    }
}
