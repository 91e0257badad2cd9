//! The pictures, as SVG: a day's timeline (one row per host, one cell per 5-minute slot
//! coloured by its worst status, silent slots left empty, an hour axis in the day's time zone)
//! and `history`'s trend (status counts and coverage per day). A few dozen lines of plain SVG
//! (rectangles and text) need no plotting library, fonts or network.

use std::fmt::Write as _;

use crate::escape::plain;
use crate::history::HistoryDay;
use crate::report::Timeline;

const LABEL_W: usize = 170;
const CELL_W: usize = 3;
const ROW_H: usize = 16;
const TOP: usize = 40;
/// Fill of a slot by level: silent, healthy, warnings, critical.
const FILL: [&str; 4] = ["none", "#2e7d32", "#f9a825", "#c62828"];

/// Text as XML character data: markup characters escaped, control characters shown as escapes
/// (XML 1.0 cannot hold most of them), the noncharacters XML 1.0 forbids (U+FFFE, U+FFFF)
/// replaced with U+FFFD, long values cut.
fn xml_text(s: &str, max: usize) -> String {
    let shown: String = plain(s)
        .chars()
        .take(max)
        .map(|c| if is_xml_char(c) { c } else { '\u{fffd}' })
        .collect();
    shown
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Whether XML 1.0 allows `c` in a document (its `Char` production; Rust strings hold no
/// surrogates).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{fffd}' | '\u{10000}'..)
}

/// The start of a picture: its size, a white background and its title.
fn open(width: usize, height: usize, title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="4" y="16" font-size="13">{}</text>"#,
        xml_text(title, 120)
    );
    svg
}

/// How a legend entry is drawn: a filled box, a dot, or an outlined box with dashes.
#[derive(Clone, Copy)]
enum Swatch {
    Fill(&'static str),
    Dot(&'static str),
    Dashed(&'static str),
}

/// Width of one legend entry.
const LEGEND_W: usize = 100;

/// The status colours' legend at (`x`, `y`), then `more` entries, and the picture's end.
fn legend(w: &mut String, x: usize, y: usize, more: &[(&str, Swatch)]) {
    let statuses = [
        ("healthy", Swatch::Fill(FILL[1])),
        ("warnings", Swatch::Fill(FILL[2])),
        ("critical", Swatch::Fill(FILL[3])),
    ];
    for (i, (name, swatch)) in statuses.iter().chain(more).enumerate() {
        let x = x + i * LEGEND_W;
        let top = y - 9;
        let _ = match swatch {
            Swatch::Fill(fill) => write!(
                w,
                r##"<rect x="{x}" y="{top}" width="10" height="10" fill="{fill}" stroke="#bdbdbd" stroke-width="0.5"/>"##
            ),
            Swatch::Dot(fill) => write!(
                w,
                r#"<circle cx="{}" cy="{}" r="3" fill="{fill}"/>"#,
                x + 5,
                top + 5
            ),
            Swatch::Dashed(stroke) => write!(
                w,
                r#"<rect x="{x}" y="{top}" width="10" height="10" fill="none" stroke="{stroke}" stroke-dasharray="2,2"/>"#
            ),
        };
        let _ = writeln!(w, r#"<text x="{}" y="{y}">{name}</text>"#, x + 14);
    }
    let _ = writeln!(w, "</svg>");
}

pub fn render(t: &Timeline, title: &str) -> String {
    let width = (LABEL_W + t.slots * CELL_W + 20).max(LABEL_W + 4 * LEGEND_W);
    // A line under the rows says how many hosts are not drawn.
    let more_h = if t.hidden > 0 { ROW_H } else { 0 };
    let height = TOP + t.hosts.len() * ROW_H + more_h + 30;
    let mut svg = open(width, height, title);
    let w = &mut svg;
    // Hour axis: a tick and a local hour label at every hour from the day's start.
    let slots_per_hour = 12;
    for (h, label) in t.hours.iter().enumerate() {
        let x = LABEL_W + h * slots_per_hour * CELL_W;
        let bottom = TOP + t.hosts.len() * ROW_H;
        let _ = writeln!(
            w,
            r##"<line class="tick" x1="{x}" y1="{}" x2="{x}" y2="{bottom}" stroke="#cccccc"/>"##,
            TOP - 6
        );
        let _ = writeln!(
            w,
            r#"<text x="{}" y="{}">{}</text>"#,
            x + 1,
            TOP - 8,
            xml_text(label, 2)
        );
    }
    for (row, (host, cells)) in t.hosts.iter().enumerate() {
        let y = TOP + row * ROW_H;
        let _ = writeln!(w, r#"<g class="host">"#);
        let _ = writeln!(
            w,
            r#"<text x="4" y="{}">{}</text>"#,
            y + ROW_H - 4,
            xml_text(host, 26)
        );
        let _ = writeln!(
            w,
            r##"<rect x="{LABEL_W}" y="{}" width="{}" height="{}" fill="#eeeeee"/>"##,
            y + 1,
            t.slots * CELL_W,
            ROW_H - 2
        );
        // One rectangle per run of slots with the same level.
        let mut start = 0;
        while start < cells.len() {
            let level = cells[start];
            let end = start + cells[start..].iter().take_while(|c| **c == level).count();
            if level > 0 {
                let _ = writeln!(
                    w,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>"#,
                    LABEL_W + start * CELL_W,
                    y + 1,
                    (end - start) * CELL_W,
                    ROW_H - 2,
                    FILL[level as usize]
                );
            }
            start = end;
        }
        let _ = writeln!(w, "</g>");
    }
    if t.hidden > 0 {
        let _ = writeln!(
            w,
            r#"<text class="more" x="4" y="{}">+{} more hosts, not drawn: the {} with the worst coverage are above (the summary lists all)</text>"#,
            TOP + t.hosts.len() * ROW_H + ROW_H - 4,
            thousands(t.hidden),
            t.hosts.len()
        );
    }
    legend(
        w,
        LABEL_W,
        TOP + t.hosts.len() * ROW_H + more_h + 20,
        &[("silent", Swatch::Fill("#eeeeee"))],
    );
    svg
}

/// `n` with thousands separated by commas.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `history`'s picture: per day, oldest on the left, a bar of its status counts against a rows
/// axis on the left (0 to the busiest day, with gridlines), and a dot for its coverage against a
/// 0-100% axis on the right. A missing or unreadable day is a dashed red box; a day whose file
/// holds no record, a dotted grey one.
pub fn render_history(days: &[HistoryDay], title: &str) -> String {
    const LEFT: usize = 60;
    const COL: usize = 38;
    const PLOT_H: usize = 160;
    const TOP: usize = 40;
    const RIGHT: usize = 50;
    const EXTRA: usize = 3;
    // A plot a few days wide at least: one day's bar would otherwise touch the coverage axis,
    // its ticks printed on the bar.
    const MIN_DAYS: usize = 4;
    let plot_w = days.len().max(MIN_DAYS) * COL;
    // Wide enough for the legend when there are few days.
    let width = (LEFT + plot_w + RIGHT).max(LEFT + (3 + EXTRA) * LEGEND_W + 20);
    let height = TOP + PLOT_H + 60;
    let base = TOP + PLOT_H;
    let most = days.iter().map(|d| d.rows).max().unwrap_or(0).max(1);
    let mut svg = open(width, height, title);
    let w = &mut svg;
    let right = LEFT + plot_w;
    // The axes: rows on the left, coverage on the right, a gridline at each quarter.
    let _ = writeln!(
        w,
        r##"<text x="4" y="{}">rows</text><text x="{}" y="{}">coverage</text>"##,
        TOP - 8,
        right + 4,
        TOP - 8
    );
    for q in 0..=4u64 {
        let y = base - q as usize * PLOT_H / 4;
        let rows = most * q / 4;
        let _ = writeln!(
            w,
            r##"<line class="grid" x1="{LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="{}"/><text class="rows-tick" x="{}" y="{}" text-anchor="end">{}</text><text class="coverage-tick" x="{}" y="{}">{}%</text>"##,
            if q == 0 { "#999999" } else { "#e0e0e0" },
            LEFT - 4,
            y + 4,
            thousands(rows as usize),
            right + 4,
            y + 4,
            q * 25
        );
    }
    for (i, d) in days.iter().rev().enumerate() {
        let x = LEFT + i * COL;
        let label = d.day.get(5..).unwrap_or(&d.day);
        let outline = |class: &str, stroke: &str, dash: &str| {
            format!(
                r##"<g class="day {class}"><rect x="{}" y="{TOP}" width="{}" height="{PLOT_H}" fill="none" stroke="{stroke}" stroke-dasharray="{dash}"/><text x="{}" y="{}">{}</text></g>"##,
                x + 2,
                COL - 6,
                x,
                base + 14,
                xml_text(label, 5)
            )
        };
        if d.state != "ok" {
            let class = if d.state == "missing" {
                "missing"
            } else {
                "unreadable"
            };
            let _ = writeln!(w, "{}", outline(class, "#c62828", "3,3"));
            continue;
        }
        if d.rows == 0 {
            let _ = writeln!(w, "{}", outline("empty", "#9e9e9e", "1,2"));
            continue;
        }
        let _ = write!(w, r#"<g class="day">"#);
        let mut y = base;
        for (n, fill) in [
            (d.rows.saturating_sub(d.warnings + d.critical), FILL[1]),
            (d.warnings, FILL[2]),
            (d.critical, FILL[3]),
        ] {
            let h = (n as f64 * PLOT_H as f64 / most as f64).round() as usize;
            if h > 0 {
                y -= h;
                let _ = write!(
                    w,
                    r#"<rect x="{}" y="{y}" width="{}" height="{h}" fill="{fill}"/>"#,
                    x + 2,
                    COL - 6
                );
            }
        }
        let cy = base as f64 - d.coverage_pct * PLOT_H as f64 / 100.0;
        let _ = writeln!(
            w,
            r##"<circle cx="{}" cy="{cy:.1}" r="3" fill="#1a237e"/><text x="{x}" y="{}">{}</text></g>"##,
            x + COL / 2 - 1,
            base + 14,
            xml_text(label, 5)
        );
    }
    let extra: [(&str, Swatch); EXTRA] = [
        ("coverage", Swatch::Dot("#1a237e")),
        ("missing file", Swatch::Dashed("#c62828")),
        ("empty day", Swatch::Dashed("#9e9e9e")),
    ];
    legend(w, LEFT, base + 40, &extra);
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::day::Day;
    use crate::record::Status;
    use crate::report::timeline;

    #[test]
    fn characters_xml_forbids_never_reach_the_picture() {
        let text = xml_text("host\u{fffe}<&>\u{ffff}\u{1}x\u{1f600}", 100);
        let doc = format!("<svg><text>{text}</text></svg>");
        let parsed = roxmltree::Document::parse(&doc).expect("well-formed XML");
        let shown = parsed.root_element().first_child().unwrap().text().unwrap();
        assert!(shown.starts_with("host\u{fffd}<&>\u{fffd}"), "{shown:?}");
        assert!(shown.ends_with("x\u{1f600}"), "{shown:?}");
    }

    fn rows(day: &Day, hosts: &[&str]) -> Vec<crate::record::Row> {
        let mut out = Vec::new();
        for (n, host) in hosts.iter().enumerate() {
            for i in 0..(day.hours() as i64 * 12) {
                if n == 1 && (20..40).contains(&i) {
                    continue; // a silence
                }
                let mut r = crate::batch::tests::row(
                    &format!("{host}{i}"),
                    day.start_ms() + i * 300_000 + 1_000,
                    &[],
                );
                *r.record.host_mut() = Some((*host).into());
                r.record.status = if i == 50 {
                    Status::Critical
                } else {
                    Status::Healthy
                };
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.record.ts_ms);
        out
    }

    fn parse(svg: &str) -> (usize, usize) {
        let doc = roxmltree::Document::parse(svg).expect("the timeline is well-formed XML");
        let count = |class: &str| {
            doc.descendants()
                .filter(|n| n.attribute("class") == Some(class))
                .count()
        };
        (count("host"), count("tick"))
    }

    #[test]
    fn one_row_per_host_and_an_hour_tick_per_local_hour() {
        for (date, tz, hours) in [
            ((2025, 10, 30), "Asia/Bangkok", 24),
            ((2025, 3, 9), "America/New_York", 23),
            ((2025, 11, 2), "America/New_York", 25),
        ] {
            let day = Day::new(
                chrono::NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap(),
                tz.parse().unwrap(),
            )
            .unwrap();
            let hosts = ["mini", "book <&\"x\"> \u{1b}[31m", "third"];
            let rows = rows(&day, &hosts);
            let t = timeline(rows.iter().map(crate::record::Row::view), &day, &hosts);
            assert_eq!(t.slots, hours * 12);
            assert_eq!(t.hosts[1].1[25], 0, "silent slot");
            assert_eq!(t.hosts[0].1[50], 3, "critical slot");
            let svg = render(&t, "Heartbeats");
            assert_eq!(parse(&svg), (3, hours), "{tz} {date:?}");
            assert!(!svg.contains('\u{1b}'));
        }
    }

    #[test]
    fn hosts_not_drawn_are_counted_under_the_rows() {
        let t = Timeline {
            slots: 288,
            hours: (0..24).map(|h| format!("{h:02}")).collect(),
            hosts: vec![("worst".into(), vec![1; 288])],
            hidden: 1480,
        };
        let svg = render(&t, "Heartbeats");
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let more = doc
            .descendants()
            .find(|n| n.attribute("class") == Some("more"))
            .expect("a line for the hidden hosts");
        assert!(
            more.text().unwrap().starts_with("+1,480 more hosts"),
            "{svg}"
        );
        let none = render(&Timeline { hidden: 0, ..t }, "Heartbeats");
        assert!(!none.contains("more hosts"));
    }

    #[test]
    fn the_history_picture_has_both_axes_and_a_legend_for_every_mark() {
        let day = |d: &str, state: &'static str, rows: u64| HistoryDay {
            day: d.into(),
            state,
            rows,
            coverage_pct: if rows > 0 { 90.0 } else { 0.0 },
            ..Default::default()
        };
        let days = [
            day("2025-10-30", "ok", 4000),
            day("2025-10-29", "missing", 0),
            day("2025-10-28", "ok", 0),
            day("2025-10-27", "ok", 3000),
        ];
        let svg = render_history(&days, "History");
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts = |class: &str| -> Vec<String> {
            doc.descendants()
                .filter(|n| n.attribute("class") == Some(class))
                .map(|n| n.text().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(
            texts("rows-tick"),
            ["0", "1,000", "2,000", "3,000", "4,000"]
        );
        assert_eq!(texts("coverage-tick"), ["0%", "25%", "50%", "75%", "100%"]);
        let classes: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("class"))
            .filter(|c| c.starts_with("day"))
            .collect();
        assert_eq!(classes, ["day", "day empty", "day missing", "day"]);
        let legend: Vec<&str> = doc
            .descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect();
        for entry in [
            "healthy",
            "warnings",
            "critical",
            "coverage",
            "missing file",
            "empty day",
        ] {
            assert!(legend.contains(&entry), "legend lacks {entry}: {legend:?}");
        }
    }
}
