//! The text `verify` prints, and the missing days as one line.

use super::folder::{DayRange, VerifyReport};
use super::size::size_line;
use crate::escape::plain;

/// How many ranges of missing days a line lists before "and N more ranges".
const LISTED_RANGES: usize = 10;

/// `ranges` for one line: `none`, or the first `LISTED_RANGES` of them and how many more.
pub fn render_ranges(ranges: &[DayRange]) -> String {
    if ranges.is_empty() {
        return "none".to_string();
    }
    let listed: Vec<String> = ranges
        .iter()
        .take(LISTED_RANGES)
        .map(DayRange::to_string)
        .collect();
    let mut line = listed.join(", ");
    if ranges.len() > LISTED_RANGES {
        line.push_str(&format!(
            " and {} more ranges",
            ranges.len() - LISTED_RANGES
        ));
    }
    line
}

/// The text `verify` prints: one block per file, then the set.
pub fn render_text(r: &VerifyReport, max_bytes: Option<u64>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for c in &r.files {
        let _ = writeln!(out, "{}", plain(&c.path.display().to_string()));
        let _ = writeln!(
            out,
            "  Rows: {}",
            c.rows.map_or("unreadable".to_string(), |n| n.to_string())
        );
        let _ = writeln!(out, "  Size: {}", size_line(c.bytes, max_bytes));
        let _ = writeln!(out, "  Compression: {}", c.compression());
        let _ = writeln!(
            out,
            "  Schema: version {}, fingerprint {}",
            c.schema_version.as_deref().unwrap_or("absent"),
            c.schema_fingerprint.as_deref().unwrap_or("none")
        );
        let _ = writeln!(
            out,
            "  Day: {} ({})",
            c.day.as_deref().unwrap_or("absent"),
            c.timezone.as_deref().unwrap_or("no time zone")
        );
        for w in &c.warnings {
            let _ = writeln!(out, "  Warning: {w}");
        }
        out.push_str(&c.validation_lines("  ", "    "));
    }
    let valid = r.files.iter().filter(|c| c.ok()).count();
    let _ = writeln!(
        out,
        "
Files: {}, valid: {valid}",
        r.files.len()
    );
    let _ = writeln!(
        out,
        "Schema across files: {}",
        match r.fingerprints.len() {
            0 => "no readable schema".to_string(),
            1 => "consistent".to_string(),
            n => format!("{n} different schemas"),
        }
    );
    let _ = writeln!(out, "Missing days: {}", render_ranges(&r.missing_days));
    for p in &r.problems {
        let _ = writeln!(out, "Problem: {p}");
    }
    let _ = writeln!(out, "Validation: {}", if r.ok { "OK" } else { "FAILED" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::row;
    use crate::verify::file::tests::{kv, write};
    use crate::verify::folder::{missing_ranges, verify_paths};
    use crate::verify::size::SIZE_TARGET_BYTES;
    use std::collections::BTreeSet;

    #[test]
    fn missing_days_are_ranges_and_a_line_lists_a_bounded_number() {
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let days: BTreeSet<_> = ["0001-01-01", "2025-10-01", "2025-10-03", "2025-10-04"]
            .map(day)
            .into();
        let ranges = missing_ranges(&days);
        assert_eq!(
            render_ranges(&ranges),
            "0001-01-02 … 2025-09-30 (739523 days), 2025-10-02"
        );
        assert_eq!(
            serde_json::to_value(&ranges).unwrap(),
            serde_json::json!([["0001-01-02", "2025-09-30"], ["2025-10-02", "2025-10-02"]])
        );
        // Every other day present for a year: 182 one-day gaps, ten of them listed.
        let alternate: BTreeSet<_> = (0..365)
            .step_by(2)
            .map(|n| day("2025-01-01") + chrono::Days::new(n))
            .collect();
        let line = render_ranges(&missing_ranges(&alternate));
        assert!(line.ends_with(", 2025-01-20 and 172 more ranges"), "{line}");
        assert_eq!(render_ranges(&[]), "none");
    }

    #[test]
    fn a_directory_reports_drift_and_missing_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut kv3 = kv(1);
        kv3[1].1 = "1970-01-03".into();
        write(
            dir.path(),
            "ops_atomic_19700101.parquet",
            &[row("a", 1, &[])],
            kv(1),
        );
        write(
            dir.path(),
            "ops_atomic_19700103.parquet",
            &[row("b", 2 * 86_400_000 + 1, &[])],
            kv3,
        );
        let r = verify_paths(&[dir.path().to_path_buf()], Some(SIZE_TARGET_BYTES));
        assert!(r.ok, "{:?}", r.problems);
        let day = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
        let one = DayRange {
            first: day("1970-01-02"),
            last: day("1970-01-02"),
        };
        assert_eq!(r.missing_days, [one]);
        assert_eq!(r.missing_day_count, 1);
        assert_eq!(r.fingerprints.len(), 1);
        let text = render_text(&r, Some(SIZE_TARGET_BYTES));
        assert!(
            text.contains("Rows: 1") && text.contains("Compression: snappy"),
            "{text}"
        );
        assert!(text.contains("Missing days: 1970-01-02"));
        // Over the size limit.
        let r = verify_paths(&[dir.path().to_path_buf()], Some(10));
        assert!(!r.ok);
        assert!(r.files[0]
            .problems
            .iter()
            .any(|p| p.contains("over the 0.00001 MB limit set by --max-size")));
        // A directory with no exports.
        let empty = tempfile::tempdir().unwrap();
        assert!(!verify_paths(&[empty.path().to_path_buf()], Some(SIZE_TARGET_BYTES)).ok);
    }
}
