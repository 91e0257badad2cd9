//! The metrics file's text: what every run knows of the jobs, the last days they exported and
//! the catch-up window, written in node_exporter's textfile format (the Prometheus text
//! exposition format, without timestamps) and read back from the previous file (pure).
//!
//! The file is its own state: a run rewrites its job's lines and keeps the others' as the last
//! run left them, so a failed run cannot move a last success it did not have.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::contract::Verdict;

/// The scheduled or manual kind of run a line belongs to: the `job` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MetricsJob {
    /// Any export of whole days: the 02:30 catch-up, `--date`, `--from/--to`.
    Daily,
    /// `--intraday`: the running day up to now.
    Intraday,
    /// `import-legacy`.
    Import,
}

impl MetricsJob {
    pub const ALL: [MetricsJob; 3] = [MetricsJob::Daily, MetricsJob::Intraday, MetricsJob::Import];

    pub fn as_str(self) -> &'static str {
        match self {
            MetricsJob::Daily => "daily",
            MetricsJob::Intraday => "intraday",
            MetricsJob::Import => "import",
        }
    }

    fn parse(s: &str) -> Option<MetricsJob> {
        Self::ALL.into_iter().find(|j| j.as_str() == s)
    }
}

/// A source's states, as the report names them (`report::SourceState`): every one gets a line,
/// 1 for the state the source was in, so that a query never depends on a line appearing.
pub const SOURCE_STATES: [&str; 5] = ["ok", "unavailable", "trimmed", "unverified", "missing"];

/// The sources a run can be configured with: the only `source` labels read back, so that a
/// hand edit cannot grow the file's label sets run after run.
fn known_source(s: &str) -> bool {
    use crate::contract::Source;
    [Source::Redis, Source::Sqlite]
        .into_iter()
        .any(|k| k.as_str() == s)
}

/// The reject reason codes (`record::RejectReason::code`): each gets a line, 0 when no record
/// was rejected for it, so that sums over reasons and the last week's average see every day.
pub const REJECT_REASONS: [&str; 12] = [
    "missing_timestamp",
    "bad_timestamp",
    "missing_status",
    "unknown_status",
    "negative_duration",
    "bad_duration",
    "bad_check",
    "invalid_utf8",
    "bad_report_type",
    "bad_record_id",
    "bad_entry",
    "timestamp_far_from_entry_id",
];

/// What catch-up would find of a day in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WindowDay {
    Complete,
    /// No day file.
    Missing,
    Partial,
    Empty,
    Incomplete,
    /// A file that fails `verify`'s checks.
    Invalid,
}

impl WindowDay {
    pub const ALL: [WindowDay; 6] = [
        WindowDay::Complete,
        WindowDay::Missing,
        WindowDay::Partial,
        WindowDay::Empty,
        WindowDay::Incomplete,
        WindowDay::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WindowDay::Complete => "complete",
            WindowDay::Missing => "missing",
            WindowDay::Partial => "partial",
            WindowDay::Empty => "empty",
            WindowDay::Incomplete => "incomplete",
            WindowDay::Invalid => "invalid",
        }
    }

    fn parse(s: &str) -> Option<WindowDay> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// What a file with this footer verdict counts as.
    pub fn of_verdict(v: Verdict) -> WindowDay {
        match v {
            Verdict::Success | Verdict::Imported => WindowDay::Complete,
            Verdict::Partial => WindowDay::Partial,
            Verdict::Empty => WindowDay::Empty,
            Verdict::Incomplete => WindowDay::Incomplete,
        }
    }
}

/// The last day a job exported, as its run reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct DayMetrics {
    /// Where the day's data ends: its end, or an intraday export's cut (Unix seconds).
    pub end_s: f64,
    pub rows: u64,
    /// Reason code → records rejected for it.
    pub rejects: BTreeMap<String, u64>,
    pub merged: u64,
    pub conflicts: u64,
    pub file_bytes: u64,
    pub duration_s: f64,
    /// Source name → its state, for the sources the run was configured with.
    pub sources: BTreeMap<String, String>,
    pub gaps: u64,
    pub hosts: u64,
    /// Hosts whose last beat is more than `SILENT_AT_END_S` before the end of the data.
    pub hosts_silent: u64,
    /// The longest silence of any host at the end of the data.
    pub end_silence_s: f64,
    /// Heartbeats of the beats the hosts owe, 0 to 1.
    pub coverage_ratio: f64,
    pub verdict: Verdict,
}

impl Default for DayMetrics {
    fn default() -> Self {
        DayMetrics {
            end_s: 0.0,
            rows: 0,
            rejects: BTreeMap::new(),
            merged: 0,
            conflicts: 0,
            file_bytes: 0,
            duration_s: 0.0,
            sources: BTreeMap::new(),
            gaps: 0,
            hosts: 0,
            hosts_silent: 0,
            end_silence_s: 0.0,
            coverage_ratio: 0.0,
            verdict: Verdict::Success,
        }
    }
}

/// One job's lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobMetrics {
    /// When its last run ended (Unix seconds).
    pub last_run_s: f64,
    pub exit_code: u8,
    pub run_duration_s: f64,
    /// When it last exited 0; 0 while it never has.
    pub last_success_s: f64,
    /// The start of the last day it covered (Unix seconds).
    pub day_start_s: Option<f64>,
    /// The last day an export job exported (an import has none).
    pub day: Option<DayMetrics>,
    /// Runs in a row that exported a partial day.
    pub partial_streak: u64,
    /// Source → runs in a row in which it could not be read.
    pub source_streaks: BTreeMap<String, u64>,
}

/// Everything the file says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsState {
    pub jobs: BTreeMap<MetricsJob, JobMetrics>,
    /// The catch-up window's days by what catch-up finds, as the last catch-up run left it.
    pub window: Option<BTreeMap<WindowDay, u64>>,
    /// Whether each schedule (daily, intraday) is installed for this user.
    pub installed: BTreeMap<MetricsJob, bool>,
}

/// One metric family: its name, and the HELP text that says what it means.
struct Family {
    name: &'static str,
    help: &'static str,
}

macro_rules! families {
    ($($id:ident = $name:literal, $help:literal;)*) => {
        $(const $id: Family = Family { name: $name, help: $help };)*
        /// Every family, in the order the file lists them.
        const FAMILIES: &[Family] = &[$($id),*];
    };
}

families! {
    BUILD_INFO = "parquet_exporter_build_info",
        "The exporter's version and the schema version of the day files it writes (always 1).";
    LAST_RUN = "parquet_exporter_last_run_timestamp_seconds",
        "When the job's last run ended, Unix time.";
    EXIT_CODE = "parquet_exporter_last_run_exit_code",
        "The job's last exit status: 0 success, 1 failed, 2 usage, 3 partial, 4 empty, 5 no source, 6 busy.";
    RUN_DURATION = "parquet_exporter_last_run_duration_seconds",
        "How long the job's last run took.";
    LAST_SUCCESS = "parquet_exporter_last_success_timestamp_seconds",
        "When the job last exited 0, Unix time; 0 while it never has.";
    DAY_START = "parquet_exporter_day_start_timestamp_seconds",
        "The start (local midnight) of the last day the job covered, Unix time.";
    DAY_END = "parquet_exporter_day_end_timestamp_seconds",
        "Where the last exported day's data ends, Unix time: the day's end, or an intraday export's cut.";
    DAY_ROWS = "parquet_exporter_day_rows",
        "Rows in the last exported day's file.";
    DAY_REJECTS = "parquet_exporter_day_rejects",
        "Records of the last exported day rejected, by reason.";
    DAY_MERGED = "parquet_exporter_day_merged",
        "Duplicate copies of a record merged into one row in the last exported day.";
    DAY_CONFLICTS = "parquet_exporter_day_conflicts",
        "Merged records whose copies differed (SQLite's copy kept) in the last exported day.";
    DAY_BYTES = "parquet_exporter_day_file_bytes",
        "Size of the last exported day's file.";
    DAY_DURATION = "parquet_exporter_day_duration_seconds",
        "How long the last day's export took.";
    DAY_SOURCE = "parquet_exporter_day_source_state",
        "1 for the state each configured source was in for the last exported day, 0 for the others.";
    DAY_GAPS = "parquet_exporter_day_gaps",
        "Silences over 7.5 minutes in the hosts' heartbeats in the last exported day.";
    DAY_HOSTS = "parquet_exporter_day_hosts",
        "Hosts seen in the last exported day.";
    DAY_SILENT = "parquet_exporter_day_hosts_silent",
        "Hosts silent for over 30 minutes at the end of the last exported day's data.";
    DAY_END_SILENCE = "parquet_exporter_day_end_silence_seconds",
        "The longest any host has been silent at the end of the last exported day's data.";
    DAY_COVERAGE = "parquet_exporter_day_coverage_ratio",
        "Heartbeats received of those the hosts owe (one per 5 minutes) in the last exported day, 0 to 1.";
    DAY_VERDICT = "parquet_exporter_day_verdict",
        "1 for the last exported day's verdict, 0 for the others.";
    PARTIAL_STREAK = "parquet_exporter_consecutive_partial_runs",
        "Runs in a row of the job that exported a partial day.";
    SOURCE_STREAK = "parquet_exporter_source_consecutive_failed_runs",
        "Runs in a row of the job in which the source was unavailable or its stream missing.";
    WINDOW_DAYS = "parquet_exporter_catch_up_dates",
        "Dates of the catch-up window by what catch-up finds of them, after the last catch-up run.";
    INSTALLED = "parquet_exporter_schedule_installed",
        "1 when the job's launchd agent or systemd timer is installed for this user.";
}

/// One line of the file: a family, its labels and the value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The lines of `state`, family by family.
fn lines(state: &MetricsState, version: &str, schema: &str) -> Vec<(&'static Family, Sample)> {
    let mut out = Vec::new();
    let mut add = |f: &'static Family, labels: &[(&str, &str)], value: f64| {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        out.push((
            f,
            Sample {
                name: f.name.to_string(),
                labels,
                value,
            },
        ));
    };
    add(
        &BUILD_INFO,
        &[("version", version), ("schema", schema)],
        1.0,
    );
    for (job, m) in &state.jobs {
        let j = ("job", job.as_str());
        add(&LAST_RUN, &[j], m.last_run_s);
        add(&EXIT_CODE, &[j], f64::from(m.exit_code));
        add(&RUN_DURATION, &[j], m.run_duration_s);
        add(&LAST_SUCCESS, &[j], m.last_success_s);
        if let Some(s) = m.day_start_s {
            add(&DAY_START, &[j], s);
        }
        if let Some(d) = &m.day {
            day_lines(&mut add, j, d);
            add(&PARTIAL_STREAK, &[j], m.partial_streak as f64);
        }
        // Also without a day: runs that read no source count before any day is exported.
        for (source, n) in &m.source_streaks {
            add(&SOURCE_STREAK, &[j, ("source", source)], *n as f64);
        }
    }
    if let Some(w) = &state.window {
        for d in WindowDay::ALL {
            let n = w.get(&d).copied().unwrap_or(0);
            add(&WINDOW_DAYS, &[("state", d.as_str())], n as f64);
        }
    }
    for (job, on) in &state.installed {
        add(
            &INSTALLED,
            &[("job", job.as_str())],
            f64::from(u8::from(*on)),
        );
    }
    out
}

/// The lines of a job's last exported day.
fn day_lines(
    add: &mut impl FnMut(&'static Family, &[(&str, &str)], f64),
    j: (&str, &str),
    d: &DayMetrics,
) {
    add(&DAY_END, &[j], d.end_s);
    add(&DAY_ROWS, &[j], d.rows as f64);
    let mut reasons: Vec<&str> = REJECT_REASONS.to_vec();
    reasons.extend(
        d.rejects
            .keys()
            .map(String::as_str)
            .filter(|r| !REJECT_REASONS.contains(r)),
    );
    for r in reasons {
        let n = d.rejects.get(r).copied().unwrap_or(0);
        add(&DAY_REJECTS, &[j, ("reason", r)], n as f64);
    }
    add(&DAY_MERGED, &[j], d.merged as f64);
    add(&DAY_CONFLICTS, &[j], d.conflicts as f64);
    add(&DAY_BYTES, &[j], d.file_bytes as f64);
    add(&DAY_DURATION, &[j], d.duration_s);
    for (source, state) in &d.sources {
        for s in SOURCE_STATES {
            let on = u8::from(s == state);
            add(
                &DAY_SOURCE,
                &[j, ("source", source), ("state", s)],
                f64::from(on),
            );
        }
    }
    add(&DAY_GAPS, &[j], d.gaps as f64);
    add(&DAY_HOSTS, &[j], d.hosts as f64);
    add(&DAY_SILENT, &[j], d.hosts_silent as f64);
    add(&DAY_END_SILENCE, &[j], d.end_silence_s);
    add(&DAY_COVERAGE, &[j], d.coverage_ratio);
    for v in Verdict::ALL {
        let on = u8::from(v == d.verdict);
        add(&DAY_VERDICT, &[j, ("verdict", v.as_str())], f64::from(on));
    }
}

/// The label naming the exporter instance on every series of a run that has one. Not
/// `instance`: with `honor_labels: true` that would replace the scrape target's own label.
pub const INSTANCE_LABEL: &str = "exporter_instance";

/// The file's text for `state`: each family once, with its HELP and TYPE, then its lines,
/// each labelled with `instance` when there is one.
pub fn render(state: &MetricsState, version: &str, schema: &str, instance: Option<&str>) -> String {
    let mut by_family: Vec<Vec<Sample>> = vec![Vec::new(); FAMILIES.len()];
    for (f, mut line) in lines(state, version, schema) {
        if let Some(i) = instance {
            line.labels
                .insert(0, (INSTANCE_LABEL.to_string(), i.to_string()));
        }
        if let Some(i) = FAMILIES.iter().position(|g| g.name == f.name) {
            by_family[i].push(line);
        }
    }
    let mut text = String::new();
    for (f, lines) in FAMILIES.iter().zip(by_family) {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(text, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(text, "# TYPE {} gauge", f.name);
        for l in lines {
            text.push_str(&l.name);
            if !l.labels.is_empty() {
                let labels: Vec<String> = l
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect();
                let _ = write!(text, "{{{}}}", labels.join(","));
            }
            let _ = writeln!(text, " {}", number(l.value));
        }
    }
    text
}

/// A value as the format writes it: whole numbers without a fraction.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One sample line, `name{k="v",...} value`; `None` for anything else.
fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        loop {
            // key
            while chars
                .next_if(|(_, c)| *c == ',' || c.is_whitespace())
                .is_some()
            {}
            match chars.peek() {
                Some((i, '}')) => {
                    end = Some(*i);
                    break;
                }
                None => break,
                _ => {}
            }
            let mut key = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=') {
                key.push(c);
            }
            chars.next()?; // '='
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
            labels.push((key.trim().to_string(), value));
        }
        rest = &body[end? + 1..];
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// What a previous file says, as far as this version reads it: lines it does not know (a
/// family renamed since, a hand edit, a label value outside the fixed lists) are left out, and
/// so leave the file with the next run.
pub fn parse(text: &str) -> MetricsState {
    let mut state = MetricsState::default();
    let mut window = BTreeMap::new();
    for line in text.lines().filter_map(parse_line) {
        let job = line.label("job").and_then(MetricsJob::parse);
        if line.name == WINDOW_DAYS.name {
            if let Some(d) = line.label("state").and_then(WindowDay::parse) {
                window.insert(d, line.value as u64);
            }
            continue;
        }
        let Some(job) = job else { continue };
        if line.name == INSTALLED.name {
            state.installed.insert(job, line.value == 1.0);
            continue;
        }
        let m = state.jobs.entry(job).or_default();
        read_job_line(m, &line);
    }
    state.window = (!window.is_empty()).then_some(window);
    // A job with no run line is no job this file knows.
    state.jobs.retain(|_, m| m.last_run_s > 0.0);
    state
}

/// The first line (counting from 1) that is not this exporter's: every line of a file it
/// wrote is empty, a `#` comment or a `parquet_exporter_` sample of this `instance` (the
/// label's value, or no such label when there is none). `None` when all are.
pub fn foreign_line(text: &str, instance: Option<&str>) -> Option<usize> {
    let ours = |l: &str| {
        if l.is_empty() || l.starts_with('#') {
            return true;
        }
        if !l.starts_with("parquet_exporter_") {
            return false;
        }
        // A damaged line of ours is still ours: `parse` leaves it out.
        parse_line(l).is_none_or(|s| s.label(INSTANCE_LABEL) == instance)
    };
    text.lines()
        .map(str::trim)
        .position(|l| !ours(l))
        .map(|i| i + 1)
}

/// Puts one of a job's lines into `m`.
fn read_job_line(m: &mut JobMetrics, line: &Sample) {
    let v = line.value;
    let n = v.max(0.0) as u64;
    let name = line.name.as_str();
    match name {
        _ if name == LAST_RUN.name => m.last_run_s = v,
        _ if name == EXIT_CODE.name => m.exit_code = v.clamp(0.0, 255.0) as u8,
        _ if name == RUN_DURATION.name => m.run_duration_s = v,
        _ if name == LAST_SUCCESS.name => m.last_success_s = v,
        _ if name == DAY_START.name => m.day_start_s = Some(v),
        _ if name == PARTIAL_STREAK.name => m.partial_streak = n,
        _ if name == SOURCE_STREAK.name => {
            if let Some(s) = line.label("source").filter(|s| known_source(s)) {
                m.source_streaks.insert(s.to_string(), n);
            }
        }
        _ => {
            if let Some(family) = FAMILIES.iter().find(|f| f.name == name) {
                read_day_line(m.day.get_or_insert_with(DayMetrics::default), family, line);
            }
        }
    }
}

/// Puts one line of a job's last day into `d`.
fn read_day_line(d: &mut DayMetrics, family: &Family, line: &Sample) {
    let (v, n) = (line.value, line.value.max(0.0) as u64);
    match family.name {
        f if f == DAY_END.name => d.end_s = v,
        f if f == DAY_ROWS.name => d.rows = n,
        f if f == DAY_REJECTS.name => {
            let known = |r: &&str| REJECT_REASONS.contains(r);
            if let Some(r) = line.label("reason").filter(known).filter(|_| n > 0) {
                d.rejects.insert(r.to_string(), n);
            }
        }
        f if f == DAY_MERGED.name => d.merged = n,
        f if f == DAY_CONFLICTS.name => d.conflicts = n,
        f if f == DAY_BYTES.name => d.file_bytes = n,
        f if f == DAY_DURATION.name => d.duration_s = v,
        f if f == DAY_SOURCE.name => {
            if let (Some(source), Some(state)) = (line.label("source"), line.label("state")) {
                if v == 1.0 && known_source(source) && SOURCE_STATES.contains(&state) {
                    d.sources.insert(source.to_string(), state.to_string());
                }
            }
        }
        f if f == DAY_GAPS.name => d.gaps = n,
        f if f == DAY_HOSTS.name => d.hosts = n,
        f if f == DAY_SILENT.name => d.hosts_silent = n,
        f if f == DAY_END_SILENCE.name => d.end_silence_s = v,
        f if f == DAY_COVERAGE.name => d.coverage_ratio = v,
        f if f == DAY_VERDICT.name => {
            if let Some(verdict) = line.label("verdict").and_then(|s| s.parse().ok()) {
                if v == 1.0 {
                    d.verdict = verdict;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_state() -> MetricsState {
        let day = DayMetrics {
            end_s: 1_764_090_000.0,
            rows: 576,
            rejects: [
                ("bad_timestamp".to_string(), 3),
                ("unknown_status".to_string(), 4),
            ]
            .into(),
            merged: 10,
            conflicts: 1,
            file_bytes: 41_234,
            duration_s: 0.25,
            sources: [
                ("redis".to_string(), "unavailable".to_string()),
                ("sqlite".to_string(), "ok".to_string()),
            ]
            .into(),
            gaps: 2,
            hosts: 2,
            hosts_silent: 1,
            end_silence_s: 2_400.0,
            coverage_ratio: 0.990_277_777_777_777_8,
            verdict: Verdict::Partial,
        };
        let daily = JobMetrics {
            last_run_s: 1_764_095_400.5,
            exit_code: 3,
            run_duration_s: 1.5,
            last_success_s: 1_764_009_000.0,
            day_start_s: Some(1_764_003_600.0),
            day: Some(day),
            partial_streak: 2,
            source_streaks: [("redis".to_string(), 2), ("sqlite".to_string(), 0)].into(),
        };
        let import = JobMetrics {
            last_run_s: 1_764_000_000.0,
            exit_code: 0,
            run_duration_s: 3.0,
            last_success_s: 1_764_000_000.0,
            day_start_s: Some(1_763_917_200.0),
            ..Default::default()
        };
        MetricsState {
            jobs: [(MetricsJob::Daily, daily), (MetricsJob::Import, import)].into(),
            window: Some(
                WindowDay::ALL
                    .into_iter()
                    .map(|d| (d, [12, 1, 1, 0, 0, 0][d as usize]))
                    .collect(),
            ),
            installed: [(MetricsJob::Daily, true), (MetricsJob::Intraday, false)].into(),
        }
    }

    /// What a run writes, the next run reads back the same: the file is the state.
    #[test]
    fn the_text_reads_back_as_the_state_it_was_written_from() {
        let state = sample_state();
        let text = render(&state, "0.1.0", "1", None);
        let back = parse(&text);
        assert_eq!(back, state, "{text}");
        assert_eq!(render(&back, "0.1.0", "1", None), text);
    }

    #[test]
    fn every_family_has_help_and_type_once_and_every_line_a_value() {
        let text = render(&sample_state(), "0.1.0", "1", None);
        for f in FAMILIES {
            let helps = text.matches(&format!("# HELP {} ", f.name)).count();
            let types = text.matches(&format!("# TYPE {} gauge\n", f.name)).count();
            assert_eq!((helps, types), (1, 1), "{}", f.name);
            assert!(
                !f.name.ends_with("_total"),
                "a gauge is no counter: {}",
                f.name
            );
        }
        assert!(text.contains("parquet_exporter_build_info{version=\"0.1.0\",schema=\"1\"} 1\n"));
        assert!(text.contains(
            "parquet_exporter_last_success_timestamp_seconds{job=\"daily\"} 1764009000\n"
        ));
        assert!(text
            .contains("parquet_exporter_last_run_timestamp_seconds{job=\"daily\"} 1764095400.5\n"));
        assert!(text.contains(
            "parquet_exporter_day_source_state{job=\"daily\",source=\"redis\",state=\"unavailable\"} 1\n"
        ));
        assert!(
            text.contains("parquet_exporter_day_rejects{job=\"daily\",reason=\"bad_check\"} 0\n")
        );
        assert!(
            text.contains("parquet_exporter_day_verdict{job=\"daily\",verdict=\"partial\"} 1\n")
        );
        assert!(text.contains("parquet_exporter_catch_up_dates{state=\"invalid\"} 0\n"));
        // An import covers days but exports none: no day lines of its own.
        assert!(!text.contains("parquet_exporter_day_rows{job=\"import\"}"));
        assert!(text.contains("parquet_exporter_day_start_timestamp_seconds{job=\"import\"}"));
    }

    /// With an instance, every series is labelled with it and reads back; a file of another
    /// instance, or of none, is not this run's.
    #[test]
    fn an_instance_labels_every_series_and_owns_its_file() {
        let state = sample_state();
        let text = render(&state, "0.1.0", "1", Some("site-b"));
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(samples.len() > 50);
        for l in &samples {
            assert!(l.contains("{exporter_instance=\"site-b\""), "{l}");
        }
        assert_eq!(parse(&text), state);
        assert_eq!(foreign_line(&text, Some("site-b")), None);
        assert_eq!(foreign_line(&text, Some("site-a")), Some(3));
        assert_eq!(foreign_line(&text, None), Some(3));
        let plain = render(&state, "0.1.0", "1", None);
        assert_eq!(foreign_line(&plain, None), None);
        assert_eq!(foreign_line(&plain, Some("site-b")), Some(3));
    }

    /// A file damaged or edited by hand still gives what it holds of each job; the rest is
    /// left out, not a failed run.
    #[test]
    fn lines_it_cannot_read_are_left_out() {
        let text = "garbage\nparquet_exporter_last_run_timestamp_seconds{job=\"daily\"} 100\n\
                    parquet_exporter_last_success_timestamp_seconds{job=\"daily\" 5\n\
                    parquet_exporter_last_run_exit_code{job=\"nightly\"} 1\n\
                    parquet_exporter_old_family{job=\"daily\"} 7\n\
                    parquet_exporter_last_run_exit_code{job=\"daily\"} x\n";
        let state = parse(text);
        assert_eq!(state.jobs.len(), 1);
        let daily = &state.jobs[&MetricsJob::Daily];
        assert_eq!(
            (daily.last_run_s, daily.last_success_s, daily.exit_code),
            (100.0, 0.0, 0)
        );
        assert_eq!(parse(""), MetricsState::default());
    }

    #[test]
    fn label_values_are_escaped_and_read_back() {
        let mut state = sample_state();
        let day = state
            .jobs
            .get_mut(&MetricsJob::Daily)
            .unwrap()
            .day
            .as_mut()
            .unwrap();
        day.rejects.insert("odd\"reason\\\n".into(), 2);
        let text = render(&state, "0.1.0", "1", None);
        let line = text
            .lines()
            .find(|l| l.contains("reason=\"odd\\\"reason\\\\\\n\"} 2"))
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(
            parse_line(line).unwrap().label("reason"),
            Some("odd\"reason\\\n")
        );
        // Read back, a reason of no reject code is left out.
        assert_eq!(parse(&text), sample_state());
    }

    /// A hand-written file with label values outside the fixed lists: none survives a run.
    #[test]
    fn unknown_label_values_are_not_carried_forward() {
        let known = render(&sample_state(), "0.1.0", "1", None);
        let extra = "parquet_exporter_day_rejects{job=\"daily\",reason=\"made_up\"} 9\n\
                     parquet_exporter_day_source_state{job=\"daily\",source=\"kafka\",state=\"ok\"} 1\n\
                     parquet_exporter_day_source_state{job=\"daily\",source=\"redis\",state=\"sleepy\"} 1\n\
                     parquet_exporter_source_consecutive_failed_runs{job=\"daily\",source=\"kafka\"} 4\n";
        let state = parse(&format!("{known}{extra}"));
        assert_eq!(state, sample_state());
        let text = render(&state, "0.1.0", "1", None);
        for gone in ["made_up", "kafka", "sleepy"] {
            assert!(!text.contains(gone), "{text}");
        }
    }

    /// The lists here are the enums' values: a new reject reason or source state gets its
    /// lines, or this fails to compile or pass.
    #[test]
    fn the_label_lists_are_the_enums_values() {
        use crate::record::RejectReason as R;
        use crate::report::SourceState as S;
        let s = String::new;
        let reasons = [
            R::MissingTimestamp,
            R::BadTimestamp(s()),
            R::MissingStatus,
            R::UnknownStatus(s()),
            R::NegativeDuration(s()),
            R::BadDuration(s()),
            R::BadCheck {
                name: s(),
                value: s(),
            },
            R::InvalidUtf8(s()),
            R::BadReportType(s()),
            R::BadRecordId(s()),
            R::BadEntry(s()),
            R::TimestampFarFromEntryId {
                timestamp: s(),
                filed: s(),
                minutes: 0,
            },
        ];
        for r in &reasons {
            // Every variant is listed above: adding one fails to compile here.
            match r {
                R::MissingTimestamp
                | R::BadTimestamp(_)
                | R::MissingStatus
                | R::UnknownStatus(_)
                | R::NegativeDuration(_)
                | R::BadDuration(_)
                | R::BadCheck { .. }
                | R::InvalidUtf8(_)
                | R::BadReportType(_)
                | R::BadRecordId(_)
                | R::BadEntry(_)
                | R::TimestampFarFromEntryId { .. } => {}
            }
        }
        let codes: Vec<&str> = reasons.iter().map(R::code).collect();
        assert_eq!(codes, REJECT_REASONS);
        let states = [S::Ok, S::Unavailable, S::Trimmed, S::Unverified, S::Missing];
        for st in states {
            match st {
                S::Ok | S::Unavailable | S::Trimmed | S::Unverified | S::Missing => {}
            }
        }
        assert_eq!(states.map(S::as_str), SOURCE_STATES);
    }
}
