//! The Grafana dashboard as the DuckDB data source plugin really runs it, with the provisioning
//! files that load it. `plugin` below follows the plugin's own source, rule by rule, each rule
//! naming the file it comes from; every panel's query then runs in DuckDB over exported days in
//! both layouts. Grafana itself is not run (no registry this CI reaches ships it); its query path
//! is, as its source states it.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{python, run_ok};
use serde_json::Value;

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/dashboards/provisioning/dashboards/ops_atomic.json"
);
const PROVISIONING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/provisioning");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
const OPERATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md");
const PLUGIN_ID: &str = "motherduck-duckdb-datasource";
/// The day files directory written into every panel's query, the exporter's default
/// `--out-dir`; installing for another out dir replaces this text in the JSON.
const DEFAULT_DIR: &str = "~/02luka/g/analytics";
/// What every panel reads: both layouts under `DEFAULT_DIR`, as one SQL string literal.
const DAY_FILES: &str = "'~/02luka/g/analytics/**/ops_atomic_*.parquet'";

/// The plugin's query path, from the sources of motherduckdb/grafana-duckdb-datasource v0.4.5,
/// the grafana/sqlds v3.4.2 and grafana-plugin-sdk-go v0.274.0 its go.mod pins, and Grafana's
/// variable interpolation (grafana/scenes). A panel's target goes: front end (variables) → back
/// end (query model, macros) → DuckDB (a connection after the boot queries). The DuckDB under
/// it is duckdb-go's static build, which links the parquet and icu extensions (duckdb-go-bindings
/// `linux-amd64/cgo_static.go`), so `TIMESTAMPTZ` and `timezone()` behave as in the Python build
/// the test runs.
mod plugin {
    use serde_json::Value;

    /// The dashboard's time range and interval, as Grafana sends them with each query.
    pub const FROM: &str = "2025-10-28T00:00:00Z";
    pub const TO: &str = "2025-10-30T23:59:59Z";
    pub const INTERVAL_MS: i64 = 300_000;

    /// The back end's query model. grafana-plugin-sdk-go `data/sqlutil/query.go`: `Query` has
    /// `Format FormatQueryOption json:"format"`, a `uint32` (0 time series, 1 table, 2 logs, 3
    /// trace, 4 multi), so encoding/json refuses anything but a whole number in range; a
    /// missing or null `format` keeps the zero value, time series.
    pub fn query_format(target: &Value) -> Result<u32, String> {
        let go_type = |kind: &str| {
            format!(
                "json: cannot unmarshal {kind} into Go struct field Query.format of type \
                 sqlutil.FormatQueryOption"
            )
        };
        match target.get("format") {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| go_type(&format!("number {n}"))),
            Some(Value::String(_)) => Err(go_type("string")),
            Some(Value::Bool(_)) => Err(go_type("bool")),
            Some(Value::Array(_)) => Err(go_type("array")),
            Some(Value::Object(_)) => Err(go_type("object")),
        }
    }

    /// Grafana's `sqlstring` variable format. grafana/scenes
    /// `packages/scenes/src/variables/interpolation/formatRegistry.ts`, `sqlStringFormatter`:
    /// `'` becomes `''`, `"` becomes `\"`, and the value is put in single quotes. The plugin
    /// interpolates with this format: `src/datasource.ts`, `DuckDBQueryModel.interpolate()`
    /// calls `templateSrv.replace(rawSql, scopedVars, VariableFormatID.SQLString)`.
    pub fn sqlstring(value: &str) -> String {
        let mut out = String::from("'");
        for c in value.chars() {
            match c {
                '\'' => out.push_str("''"),
                '"' => out.push_str("\\\""),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    }

    /// How the front end fills in variables. grafana/scenes
    /// `packages/scenes/src/variables/constants.ts` `VARIABLE_REGEX` finds `$name`,
    /// `[[name]]`/`[[name:fmt]]` and `${name}`/`${name.path}`/`${name:fmt}`;
    /// `interpolation/sceneInterpolator.ts` leaves a name it does not know as written (so
    /// `$__timeFilter` reaches the back end), formats with the explicit `:fmt` when there is
    /// one, else with the caller's format (`sqlstring`). `$__interval_ms` is a macro of the
    /// front end (`macros/timeMacros.ts`, `IntervalMacro`: the request's `intervalMs`, a
    /// number), formatted like any value, so it too arrives quoted.
    pub fn interpolate_variables(sql: &str, vars: &[(&str, &str)]) -> String {
        interpolate(sql, &mut |name| {
            if name == "__interval_ms" {
                return Some(INTERVAL_MS.to_string());
            }
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Every name the front end looks up in `sql`, in order: what a value could reach the
    /// query through.
    pub fn variable_names(sql: &str) -> Vec<String> {
        let mut names = Vec::new();
        interpolate(sql, &mut |name| {
            names.push(name.to_string());
            None
        });
        names
    }

    fn interpolate(sql: &str, value: &mut dyn FnMut(&str) -> Option<String>) -> String {
        let format = |v: String, fmt: Option<&str>| match fmt {
            Some("raw") => v,
            Some("sqlstring") | None => sqlstring(&v),
            Some(other) => panic!("format {other} is not emulated here"),
        };
        let word = |s: &str| s.find(|c: char| !(c.is_alphanumeric() || c == '_'));
        let mut out = String::new();
        let mut rest = sql;
        loop {
            let next = [rest.find('$'), rest.find("[[")]
                .into_iter()
                .flatten()
                .min();
            let Some(at) = next else { break };
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            // (name, format, length of the whole match)
            let found: Option<(&str, Option<&str>, usize)> =
                if let Some(body) = tail.strip_prefix("${") {
                    body.find('}').and_then(|end| {
                        let inner = &body[..end];
                        let (head, fmt) = match inner.split_once(':') {
                            Some((h, f)) => (h, Some(f)),
                            None => (inner, None),
                        };
                        let name = head.split('.').next().unwrap();
                        (!name.is_empty() && word(name).is_none()).then_some((name, fmt, end + 3))
                    })
                } else if let Some(body) = tail.strip_prefix("[[") {
                    body.find("]]").and_then(|end| {
                        let inner = &body[..end];
                        let (name, fmt) = match inner.split_once(':') {
                            Some((n, f)) => (n, Some(f)),
                            None => (inner, None),
                        };
                        (!name.is_empty() && word(name).is_none()).then_some((name, fmt, end + 4))
                    })
                } else {
                    let body = &tail[1..];
                    let end = word(body).unwrap_or(body.len());
                    (end > 0).then_some((&body[..end], None, end + 1))
                };
            match found {
                Some((name, fmt, len)) => {
                    match value(name) {
                        Some(v) => out.push_str(&format(v, fmt)),
                        None => out.push_str(&tail[..len]),
                    }
                    rest = &tail[len..];
                }
                None => {
                    let step = if tail.starts_with("[[") { 2 } else { 1 };
                    out.push_str(&tail[..step]);
                    rest = &tail[step..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A macro's arguments, as grafana-plugin-sdk-go `data/sqlutil/macros.go` `parseArgs` reads
    /// them: none when no `(` follows the name; else split on commas at the first depth and
    /// trimmed (so `$__timeFrom()` has one empty argument). Returns the arguments and the
    /// length of the bracketed list, or an error for a missing `)`.
    fn parse_args(s: &str) -> Result<(Vec<String>, usize), String> {
        if !s.starts_with('(') {
            return Ok((Vec::new(), 0));
        }
        let (mut args, mut arg, mut depth) = (Vec::new(), String::new(), 0);
        for (i, c) in s.char_indices() {
            match c {
                '(' => {
                    depth += 1;
                    if depth == 1 {
                        continue;
                    }
                }
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        args.push(arg.trim().to_string());
                        return Ok((args, i + 1));
                    }
                }
                ',' if depth == 1 => {
                    args.push(arg.trim().to_string());
                    arg.clear();
                    continue;
                }
                _ => {}
            }
            arg.push(c);
        }
        Err("failed to parse macro arguments (missing close bracket?)".into())
    }

    fn bad_count(want: usize, got: usize) -> String {
        format!("unexpected number of arguments: expected {want} argument, received {got}")
    }

    /// One macro applied to its arguments. The set is grafana-plugin-sdk-go
    /// `data/sqlutil/macros.go` `DefaultMacros` (`interval`, `interval_ms`, `timeFilter` with
    /// one argument, `timeGroup` with two, `table`, `column`), with `timeFrom` and `timeTo`
    /// replaced by the plugin's (`pkg/plugin/duckdb_driver.go`, `Macros()`): no argument (or
    /// one empty one), giving the quoted RFC 3339 bound; any argument is "unexpected number of
    /// arguments".
    fn apply(name: &str, args: &[String]) -> Result<String, String> {
        let none = args.is_empty() || (args.len() == 1 && args[0].is_empty());
        match name {
            "interval_ms" => Ok(INTERVAL_MS.to_string()),
            "interval" => Ok(format!("{}m", INTERVAL_MS / 60_000)),
            "timeFilter" if args.len() == 1 => {
                let c = &args[0];
                Ok(format!("{c} >= '{FROM}' AND {c} <= '{TO}'"))
            }
            "timeFilter" => Err(bad_count(1, args.len())),
            "timeFrom" if none => Ok(format!("'{FROM}'")),
            "timeTo" if none => Ok(format!("'{TO}'")),
            "timeFrom" | "timeTo" => Err(format!(
                "unexpected number of arguments: expected 0 arguments, received {}",
                args.len()
            )),
            "timeGroup" => Err("timeGroup writes datepart(), which DuckDB lacks".into()),
            "table" | "column" => Ok(String::new()),
            other => unreachable!("{other}"),
        }
    }

    /// The back end's macro pass, grafana-plugin-sdk-go `data/sqlutil/macros.go`
    /// `Interpolate`: longest names first, each `$__name` at a word boundary with its
    /// arguments replaced, every occurrence of the same text at once.
    pub fn expand_macros(sql: &str) -> Result<String, String> {
        let names = [
            "interval_ms",
            "timeFilter",
            "timeGroup",
            "interval",
            "timeFrom",
            "column",
            "timeTo",
            "table",
        ];
        let mut sql = sql.to_string();
        for name in names {
            let pat = format!("$__{name}");
            let mut from = 0;
            while let Some(pos) = sql[from..].find(&pat).map(|p| p + from) {
                let after = pos + pat.len();
                let boundary = sql[after..]
                    .chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                if !boundary {
                    from = after;
                    continue;
                }
                let (args, len) = parse_args(&sql[after..])?;
                let full = sql[pos..after + len].to_string();
                let res = apply(name, &args)?;
                sql = sql.replace(&full, &res);
                from = 0;
            }
        }
        Ok(sql)
    }

    /// What runs on a new DuckDB connection before any query: `pkg/plugin/duckdb_driver.go`,
    /// `Connect`: with `GF_PATHS_DATA` set (the Docker images set it to /var/lib/grafana),
    /// `SET home_directory` to it, so `~` in a path is that directory and not the home of
    /// the user Grafana runs as.
    pub fn boot_queries(gf_paths_data: Option<&str>) -> Vec<String> {
        match gf_paths_data {
            Some(p) => vec![format!("SET home_directory='{p}';")],
            None => Vec::new(),
        }
    }

    /// sqlds v3.4.2 `query.go`: a time-series query (`format` 0, the `default:` branch) with
    /// no row fails with "no results"; a table may be empty.
    pub fn check_frame(format: u32, rows: usize) -> Result<(), String> {
        match format {
            0 if rows == 0 => Err("no results".into()),
            0..=4 => Ok(()),
            other => Err(format!("format {other} is no FormatQueryOption")),
        }
    }
}

/// Whether a viewer's `var-<name>=` in the dashboard URL sets a variable, in the two ways
/// Grafana has run dashboards. The dashboard must hold in both: Grafana 10.4, which the
/// plugin supports, runs the legacy one unless the `dashboardScene` toggle is on, and later
/// versions can still be switched back to it.
mod url_sync {
    use serde_json::Value;

    #[derive(Clone, Copy, Debug)]
    pub enum Dashboards {
        /// grafana/grafana `public/app/features/variables/state/actions.ts`: on load,
        /// `processVariable` reads `queryParams['var-' + name]` for every variable of the list
        /// and hands it to the type's `setValueFromUrl`, with no test of the type, of `hide` or
        /// of `skipUrlSync` (that one only keeps a value out of URLs Grafana writes); on a URL
        /// change `templateVarsChangedInUrl` does the same, reverting a removed `var-` of a
        /// constant to its `query`. The constant's adapter (`variables/constant/adapter.ts`)
        /// has `setValueFromUrl` → `setOptionFromUrl`, which keeps a value matching no option
        /// ("the URL value will be used anyway").
        Legacy,
        /// grafana/grafana `public/app/features/dashboard-scene/utils/variables.ts`,
        /// `createSceneVariableFromVariableModel`: a `constant` becomes scenes'
        /// `ConstantVariable` with `value: query`; every other type gets the JSON's
        /// `skipUrlSync` and `hide`. grafana/scenes `variables/variants/ConstantVariable.ts`:
        /// the constructor forces `skipUrlSync: true` and sets no URL sync handler, and
        /// `services/utils.ts` `syncUrlStateToObject` reads only the keys of an object's
        /// handler. `TextBoxVariable.getKeys` and `MultiValueUrlSyncHandler.getKeys` (custom,
        /// query, data source) return no key when `skipUrlSync` is set. Nothing reads `hide`.
        Scenes,
    }

    pub const BOTH: [Dashboards; 2] = [Dashboards::Legacy, Dashboards::Scenes];

    /// `variable` is an entry of the dashboard JSON's `templating.list`.
    pub fn set_from_url(variable: &Value, dashboards: Dashboards) -> bool {
        match dashboards {
            Dashboards::Legacy => true,
            Dashboards::Scenes => {
                variable["type"] != "constant" && variable["skipUrlSync"] != Value::Bool(true)
            }
        }
    }

    /// Names the front end fills in from the request and the time range, never from a `var-`
    /// parameter (`$__interval_ms`, grafana/scenes `macros/timeMacros.ts`), or leaves for the
    /// back end's macros (grafana-plugin-sdk-go `data/sqlutil/macros.go`).
    pub const NOT_FROM_THE_URL: [&str; 4] =
        ["__interval_ms", "__timeFilter", "__timeFrom", "__timeTo"];
}

/// What a panel returned, or the error the plugin would show on it.
#[derive(Debug)]
struct Answer {
    columns: Vec<String>,
    types: Vec<String>,
    rows: Vec<Vec<Value>>,
}

/// Where Grafana runs, for the `~` rule: its user's home, and `GF_PATHS_DATA` if set.
struct Grafana<'a> {
    home: &'a Path,
    gf_paths_data: Option<&'a Path>,
}

/// Runs each query in DuckDB (Python), on a connection of its own after `boot`, with HOME set
/// as Grafana's process has it.
fn duckdb(
    queries: &BTreeMap<String, String>,
    boot: &[String],
    home: &Path,
) -> BTreeMap<String, Result<Answer, String>> {
    let script = r#"
import duckdb, json, sys
job = json.load(sys.stdin)
out = {}
for title, sql in job["queries"].items():
    try:
        con = duckdb.connect()
        for q in job["boot"]:
            con.execute(q)
        rel = con.sql(sql)
        rows = [[v if isinstance(v, (int, float, str)) or v is None else str(v) for v in r] for r in rel.fetchall()]
        out[title] = {"columns": rel.columns, "types": [str(t) for t in rel.types], "rows": rows}
    except Exception as e:
        out[title] = {"error": f"{type(e).__name__}: {e}"}
print(json.dumps(out))
"#;
    let job = serde_json::json!({ "queries": queries, "boot": boot });
    let out = common::run_with_stdin(
        Command::new(python())
            .args(["-c", script])
            .env("HOME", home),
        job.to_string().as_bytes(),
    );
    let doc: BTreeMap<String, Value> = serde_json::from_slice(&out).unwrap();
    doc.into_iter()
        .map(|(title, a)| {
            if let Some(e) = a.get("error") {
                return (title, Err(e.as_str().unwrap().to_string()));
            }
            let strings = |k: &str| -> Vec<String> {
                a[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            let answer = Answer {
                columns: strings("columns"),
                types: strings("types"),
                rows: serde_json::from_value(a["rows"].clone()).unwrap(),
            };
            (title, Ok(answer))
        })
        .collect()
}

/// Every panel of `dash` as the plugin runs it: by title, the rows, or the error the panel
/// would show.
fn run_panels(dash: &Value, grafana: &Grafana) -> BTreeMap<String, Result<Answer, String>> {
    let mut results = BTreeMap::new();
    let mut queries = BTreeMap::new();
    let mut formats = BTreeMap::new();
    for p in dash["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap().to_string();
        let targets = p["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1, "{title}");
        let target = &targets[0];
        let prepared = plugin::query_format(target).and_then(|format| {
            let sql = target["rawSql"].as_str().unwrap();
            let sql = plugin::interpolate_variables(sql, &[]);
            plugin::expand_macros(&sql).map(|sql| (format, sql))
        });
        match prepared {
            Ok((format, sql)) => {
                formats.insert(title.clone(), format);
                queries.insert(title, sql);
            }
            Err(e) => {
                results.insert(title, Err(e));
            }
        }
    }
    let gf = grafana.gf_paths_data.map(|p| p.to_str().unwrap());
    for (title, answer) in duckdb(&queries, &plugin::boot_queries(gf), grafana.home) {
        let answer =
            answer.and_then(|a| plugin::check_frame(formats[&title], a.rows.len()).map(|()| a));
        results.insert(title, answer);
    }
    results
}

fn dashboard() -> Value {
    serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap()
}

/// The dashboard installed for the out dir `dir`, as the documented `sed` does it: every
/// `DEFAULT_DIR` in the file replaced.
fn dashboard_for(dir: &str) -> Value {
    let text = std::fs::read_to_string(DASHBOARD).unwrap();
    serde_json::from_str(&text.replace(DEFAULT_DIR, dir)).unwrap()
}

fn variable<'d>(dash: &'d Value, name: &str) -> &'d Value {
    dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no variable {name}"))
}

/// Three days, two hosts, three malformed records a day, exported under `root`: flat, or hive
/// with two instances.
fn export_days(home: &Path, root: &Path, hive: bool) {
    common::export_three_days(home, root, hive);
}

/// The columns each panel must return; a panel missing here (or here but not in the
/// dashboard) fails the test, so a new panel cannot go untested.
fn expected_columns() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("Status over time", &["time", "status", "beats"][..]),
        ("Non-healthy beats per hour", &["time", "non_healthy"][..]),
        (
            "Check duration percentiles",
            &["time", "p50", "p95", "p99"][..],
        ),
        (
            "Per-host gaps",
            &["host", "beats", "gaps", "longest_gap_min", "last_beat"][..],
        ),
        (
            "Rejects and verdict per day",
            &["time", "verdict", "rows", "rejected", "merged", "conflicts"][..],
        ),
        (
            "Failures per check",
            &["check", "failures", "warnings", "beats"][..],
        ),
        ("Hosts silent now", &["host", "last_beat", "silent_min"][..]),
        ("Age of the newest data", &["newest", "age_min"][..]),
    ])
}

/// Panels that may rightly return no row: a fleet with no silent host.
const MAY_BE_EMPTY: [&str; 1] = ["Hosts silent now"];

/// Every panel answered with the expected columns and rows, and the totals agree with what
/// `copies` exports of three days (two hosts, 288 beats each a day, three rejects) hold.
fn check_answers(answers: &BTreeMap<String, Result<Answer, String>>, copies: i64, case: &str) {
    let expected = expected_columns();
    let titles: Vec<&str> = answers.keys().map(String::as_str).collect();
    assert_eq!(
        titles,
        expected.keys().copied().collect::<Vec<_>>(),
        "{case}"
    );
    let ok = |title: &str| -> &Answer {
        answers[title]
            .as_ref()
            .unwrap_or_else(|e| panic!("{case}: panel {title:?} fails: {e}"))
    };
    for (title, want) in &expected {
        let a = ok(title);
        assert_eq!(a.columns, *want, "{case}: {title}");
        assert!(
            !a.rows.is_empty() || MAY_BE_EMPTY.contains(title),
            "{case}: {title} returned no row"
        );
        if a.columns[0] == "time" {
            assert!(
                a.types[0].starts_with("TIMESTAMP"),
                "{case}: {title}: {}",
                a.types[0]
            );
        }
    }
    let total = |a: &Answer, col: &str| -> i64 {
        let i = a.columns.iter().position(|c| c == col).unwrap();
        a.rows.iter().map(|r| r[i].as_i64().unwrap()).sum()
    };
    let days = ok("Rejects and verdict per day");
    assert_eq!(
        days.rows.len() as i64,
        3 * copies,
        "{case}: one row a day file"
    );
    let rows = total(days, "rows");
    assert_eq!(
        rows,
        copies * 3 * 2 * 288,
        "{case}: two hosts, 288 beats a day"
    );
    assert_eq!(
        total(days, "rejected"),
        copies * 9,
        "{case}: three rejects a day"
    );
    assert!(days.rows.iter().all(|r| r[1] == "success"), "{case}");
    assert_eq!(total(ok("Status over time"), "beats"), rows, "{case}");
    let hosts = ok("Per-host gaps");
    assert_eq!(total(hosts, "beats"), rows, "{case}");
    let names: Vec<&str> = hosts.rows.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{case}: {names:?}");
    assert!(names.contains(&"mini") && names.contains(&"book"), "{case}");
    let checks = ok("Failures per check");
    for fixed in [
        "redis",
        "database",
        "api",
        "launchagent_optimizer",
        "launchagent_digest",
    ] {
        let row = checks.rows.iter().find(|r| r[0] == fixed).unwrap();
        assert_eq!(
            row[3].as_i64(),
            Some(rows),
            "{case}: {fixed}: one state per beat"
        );
    }
}

/// Homebrew's Grafana (no `GF_PATHS_DATA`: `~` is its user's home) over a flat out dir at the
/// default path; Docker's (`GF_PATHS_DATA=/var/lib/grafana`, the out dir mounted under it, as
/// the README's command does) over a hive out dir with two instances; and an absolute path.
#[test]
fn every_panel_returns_rows_as_the_plugin_runs_it_in_both_layouts() {
    let dash = dashboard();

    let user = tempfile::tempdir().unwrap();
    let flat = user.path().join("02luka/g/analytics");
    export_days(user.path(), &flat, false);
    let homebrew = Grafana {
        home: user.path(),
        gf_paths_data: None,
    };
    check_answers(
        &run_panels(&dash, &homebrew),
        1,
        "Homebrew, flat, default dir",
    );

    let data = tempfile::tempdir().unwrap();
    let gf_home = tempfile::tempdir().unwrap();
    let hive = data.path().join("02luka/g/analytics");
    export_days(gf_home.path(), &hive, true);
    let docker = Grafana {
        home: gf_home.path(),
        gf_paths_data: Some(data.path()),
    };
    check_answers(&run_panels(&dash, &docker), 2, "Docker, hive, default dir");

    let absolute = hive.to_str().unwrap();
    check_answers(
        &run_panels(&dashboard_for(absolute), &homebrew),
        2,
        "absolute dir",
    );

    // A range that runs past the last day file invents no gap: the data ends with the file.
    let two_days = user.path().join("two_days");
    std::fs::create_dir(&two_days).unwrap();
    for d in ["20251028", "20251029"] {
        let name = format!("ops_atomic_{d}.parquet");
        std::fs::copy(flat.join(&name), two_days.join(&name)).unwrap();
    }
    let answers = run_panels(&dashboard_for(two_days.to_str().unwrap()), &homebrew);
    let gaps = answers["Per-host gaps"].as_ref().unwrap();
    assert_eq!(gaps.rows.len(), 2);
    for row in &gaps.rows {
        assert_eq!(row[2].as_i64(), Some(0), "{row:?}");
    }
}

/// The ways the dashboard broke in the real plugin each fail here, so this emulation is one
/// that can tell: a string `format`, an argument to `$__timeFrom`, a path that finds
/// flat-layout files only. And `~` when Grafana's data path is not where the files are. (The
/// fourth, `${dir}` inside a quoted literal, needs a variable in the path, which
/// `no_url_value_reaches_a_panel_query` forbids.)
#[test]
fn each_way_the_plugin_rejected_the_dashboard_fails_here() {
    let user = tempfile::tempdir().unwrap();
    let hive = user.path().join("02luka/g/analytics");
    export_days(user.path(), &hive, true);
    let grafana = Grafana {
        home: user.path(),
        gf_paths_data: None,
    };
    let good = dashboard();
    check_answers(&run_panels(&good, &grafana), 2, "as shipped");
    let panels = good["panels"].as_array().unwrap().len();

    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut d = good.clone();
        for p in d["panels"].as_array_mut().unwrap() {
            f(&mut p["targets"][0]);
        }
        d
    };
    let edit_sql = |from: &'static str, to: &'static str| {
        mutate(&move |t: &mut Value| {
            let sql = t["rawSql"].as_str().unwrap().replace(from, to);
            t["rawSql"] = sql.into();
        })
    };
    let failures = |d: &Value, g: &Grafana| -> Vec<String> {
        run_panels(d, g)
            .into_iter()
            .filter_map(|(t, a)| match a {
                Err(e) => Some(format!("{t}: {e}")),
                Ok(a) if a.rows.is_empty() && !MAY_BE_EMPTY.contains(&t.as_str()) => {
                    Some(format!("{t}: no rows"))
                }
                Ok(_) => None,
            })
            .collect()
    };

    let as_string = mutate(&|t: &mut Value| {
        let name = if t["format"] == 1 {
            "table"
        } else {
            "time_series"
        };
        t["format"] = name.into();
    });
    let f = failures(&as_string, &grafana);
    assert_eq!(f.len(), panels, "{f:#?}");
    assert!(
        f.iter()
            .all(|e| e.contains("cannot unmarshal string into Go struct field Query.format")),
        "{f:#?}"
    );

    let with_arg = edit_sql("> $__timeFrom()", "> $__timeFrom(\"timestamp\")");
    let f = failures(&with_arg, &grafana);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(f[0].contains("unexpected number of arguments"), "{f:#?}");

    let flat_only = edit_sql("/**/ops_atomic_*.parquet'", "/ops_atomic_*.parquet'");
    let f = failures(&flat_only, &grafana);
    // Every panel but the one that may be empty (no file, no silent host) shows it.
    assert!(
        f.len() >= panels - MAY_BE_EMPTY.len(),
        "hive files are not found: {f:#?}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let docker = Grafana {
        home: user.path(),
        gf_paths_data: Some(elsewhere.path()),
    };
    let f = failures(&good, &docker);
    assert!(
        f.len() >= panels - MAY_BE_EMPTY.len(),
        "~ is GF_PATHS_DATA, where no file is: {f:#?}"
    );
}

/// Every name in a panel's query through which a viewer's URL could change it: a variable that
/// either way of running dashboards sets from `var-<name>=`, or a name no variable has yet
/// (left as written today, taken by whichever variable is added with that name). Only the
/// request's own macros pass.
fn url_settable_inputs(dash: &Value) -> Vec<String> {
    let vars = dash["templating"]["list"].as_array().unwrap();
    let mut found = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            for name in plugin::variable_names(t["rawSql"].as_str().unwrap()) {
                if url_sync::NOT_FROM_THE_URL.contains(&name.as_str()) {
                    continue;
                }
                let settable = vars
                    .iter()
                    .find(|v| v["name"] == name)
                    .is_none_or(|v| url_sync::BOTH.iter().any(|&d| url_sync::set_from_url(v, d)));
                if settable {
                    found.push(format!("{}: ${name}", p["title"]));
                }
            }
        }
    }
    found
}

/// `var-dir=/` made every panel scan the whole Grafana host. No variable type holds in both
/// ways Grafana runs dashboards (a constant, hidden or not, is set from the URL by the legacy
/// one), so the day files' path is no variable: it is written into each query, and no name a
/// URL can fill in is left in any query.
#[test]
fn no_url_value_reaches_a_panel_query() {
    let dash = dashboard();
    assert_eq!(url_settable_inputs(&dash), Vec::<String>::new());
    assert!(
        dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["name"] != "dir"),
        "a dir variable is back"
    );
    for p in dash["panels"].as_array().unwrap() {
        let sql = p["targets"][0]["rawSql"].as_str().unwrap();
        let readers =
            sql.matches("read_parquet(").count() + sql.matches("parquet_kv_metadata(").count();
        assert!(readers > 0, "{}", p["title"]);
        assert_eq!(
            sql.matches(&format!("read_parquet({DAY_FILES})")).count()
                + sql
                    .matches(&format!("parquet_kv_metadata({DAY_FILES})"))
                    .count(),
            readers,
            "{}: each reader reads the written-in path",
            p["title"]
        );
        // A hostile URL, every variable and `dir` at `/`, leaves the query as shipped.
        let mut hostile: Vec<(&str, &str)> = vec![("dir", "/")];
        for v in dash["templating"]["list"].as_array().unwrap() {
            hostile.push((v["name"].as_str().unwrap(), "/"));
        }
        assert_eq!(
            plugin::interpolate_variables(sql, &hostile),
            plugin::interpolate_variables(sql, &[]),
            "{}",
            p["title"]
        );
    }

    // The design this replaced, and variables that look safe in one way of running dashboards
    // but not in the other, each found.
    let with_dir = |var: Option<Value>| {
        let mut d = dash.clone();
        if let Some(var) = var {
            d["templating"]["list"].as_array_mut().unwrap().push(var);
        }
        for p in d["panels"].as_array_mut().unwrap() {
            let sql = p["targets"][0]["rawSql"]
                .as_str()
                .unwrap()
                .replace(DAY_FILES, "${dir} || '/**/ops_atomic_*.parquet'");
            p["targets"][0]["rawSql"] = sql.into();
        }
        d
    };
    let panels = dash["panels"].as_array().unwrap().len();
    for (case, var) in [
        (
            "textbox",
            Some(serde_json::json!({"name": "dir", "type": "textbox", "query": DEFAULT_DIR})),
        ),
        (
            "hidden constant",
            Some(
                serde_json::json!({"name": "dir", "type": "constant", "query": DEFAULT_DIR, "hide": 2}),
            ),
        ),
        (
            "hidden textbox, skipUrlSync",
            Some(
                serde_json::json!({"name": "dir", "type": "textbox", "query": DEFAULT_DIR, "hide": 2, "skipUrlSync": true}),
            ),
        ),
        (
            "custom",
            Some(serde_json::json!({"name": "dir", "type": "custom", "query": DEFAULT_DIR})),
        ),
        ("no variable", None),
    ] {
        let d = with_dir(var);
        let found = url_settable_inputs(&d);
        assert!(found.len() >= panels, "{case}: {found:?}");
        let sql = d["panels"][0]["targets"][0]["rawSql"].as_str().unwrap();
        assert_ne!(
            plugin::interpolate_variables(sql, &[("dir", "/")]),
            plugin::interpolate_variables(sql, &[("dir", DEFAULT_DIR)]),
            "{case}"
        );
    }
}

/// The URL rules as their sources state them: `hide` changes nothing anywhere; a constant and
/// `skipUrlSync` hold in scenes only.
#[test]
fn the_url_rules_match_their_sources() {
    use url_sync::{set_from_url, Dashboards::*};
    let constant = serde_json::json!({"name": "d", "type": "constant", "query": "/x", "hide": 2});
    assert!(set_from_url(&constant, Legacy));
    assert!(!set_from_url(&constant, Scenes));
    let hidden = serde_json::json!({"name": "d", "type": "textbox", "hide": 2});
    assert!(set_from_url(&hidden, Legacy));
    assert!(set_from_url(&hidden, Scenes));
    let skipped = serde_json::json!({"name": "d", "type": "textbox", "skipUrlSync": true});
    assert!(set_from_url(&skipped, Legacy));
    assert!(!set_from_url(&skipped, Scenes));
    let ds = variable(&dashboard(), "datasource").clone();
    assert!(set_from_url(&ds, Legacy) && set_from_url(&ds, Scenes));
    // The request's macros are found as names, and pass.
    let names = plugin::variable_names(
        "CAST($__interval_ms AS BIGINT) $__timeFilter(t) $__timeTo() ${x:raw} [[y]]",
    );
    assert_eq!(
        names,
        ["__interval_ms", "__timeFilter", "__timeTo", "x", "y"]
    );
}

#[test]
fn the_emulated_steps_match_their_sources() {
    // sceneInterpolator + sqlStringFormatter: quoted and escaped; an explicit format wins;
    // unknown names (the back end's macros) stay.
    assert_eq!(
        plugin::interpolate_variables(
            "FROM read_parquet(${dir} || '/x') WHERE a = $dir AND b = [[dir]] AND c = ${dir:raw} \
             AND $__timeFilter(t) LIMIT $__interval_ms",
            &[("dir", "/d/it's \"q\"")],
        ),
        "FROM read_parquet('/d/it''s \\\"q\\\"' || '/x') WHERE a = '/d/it''s \\\"q\\\"' AND \
         b = '/d/it''s \\\"q\\\"' AND c = /d/it's \"q\" AND $__timeFilter(t) LIMIT '300000'"
    );
    // macros.go: arity, longest name first, empty parentheses are one empty argument.
    let from = plugin::FROM;
    let to = plugin::TO;
    assert_eq!(
        plugin::expand_macros("WHERE $__timeFilter(\"timestamp\") AND d > $__timeFrom() AND d <= $__timeTo LIMIT $__interval_ms").unwrap(),
        format!("WHERE \"timestamp\" >= '{from}' AND \"timestamp\" <= '{to}' AND d > '{from}' AND d <= '{to}' LIMIT 300000")
    );
    assert!(plugin::expand_macros("$__timeFilter(a, b)")
        .unwrap_err()
        .contains("unexpected number of arguments"));
    assert!(plugin::expand_macros("$__timeTo(x)")
        .unwrap_err()
        .contains("expected 0 arguments"));
    assert!(plugin::expand_macros("$__timeFilter(a")
        .unwrap_err()
        .contains("missing close bracket"));
    assert_eq!(
        plugin::query_format(&serde_json::json!({"format": 1})),
        Ok(1)
    );
    assert_eq!(plugin::query_format(&serde_json::json!({})), Ok(0));
    assert!(plugin::query_format(&serde_json::json!({"format": -1})).is_err());
}

/// The YAML files under `dashboards/provisioning`, as JSON (PyYAML, which the venv has).
fn yaml(path: &Path) -> Value {
    let out = run_ok(
        Command::new(python())
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            ])
            .arg(path),
    );
    serde_json::from_str(&out).unwrap()
}

/// The provisioning files load the dashboard with no edit: the data source is the plugin's,
/// the dashboard picks it through a data-source variable (a provisioned dashboard gets no
/// `${DS_…}` input filled in), the provider reads the folder the dashboard is in, and the
/// README's Docker command mounts that folder, the data source and the data where the files say.
#[test]
fn the_provisioning_files_load_the_dashboard_without_editing() {
    let dir = PathBuf::from(PROVISIONING);
    let ds = yaml(&dir.join("datasources/ops_atomic.yaml"));
    assert_eq!(ds["apiVersion"], 1);
    let source = &ds["datasources"][0];
    assert_eq!(source["type"], PLUGIN_ID);
    assert_eq!(
        source["jsonData"]["path"], "",
        "in memory: the panels read the files"
    );

    let dash = dashboard();
    let text = std::fs::read_to_string(DASHBOARD).unwrap();
    assert!(
        !text.contains("${DS_"),
        "an import-only input stays unresolved when provisioned"
    );
    assert!(dash.get("__inputs").is_none());
    let var = variable(&dash, "datasource");
    assert_eq!(var["type"], "datasource");
    assert_eq!(var["query"], PLUGIN_ID);
    for p in dash["panels"].as_array().unwrap() {
        for ds in [&p["datasource"], &p["targets"][0]["datasource"]] {
            assert_eq!(ds["type"], PLUGIN_ID, "{}", p["title"]);
            assert_eq!(ds["uid"], "${datasource}", "{}", p["title"]);
        }
    }

    let providers = yaml(&dir.join("dashboards/ops_atomic.yaml"));
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    let path = provider["options"]["path"].as_str().unwrap();

    // The README's Docker command: each mount's source and target.
    let readme = std::fs::read_to_string(README).unwrap();
    let docker = readme
        .split("```")
        .find(|b| b.contains("docker run") && b.contains("grafana"))
        .expect("the README's docker run command for Grafana");
    let mounts: BTreeMap<String, String> = docker
        .split("-v ")
        .skip(1)
        .map(|m| {
            let m = m.split_whitespace().next().unwrap().trim_matches('"');
            let mut parts = m.split(':');
            let src = parts.next().unwrap().to_string();
            (parts.next().unwrap().to_string(), src)
        })
        .collect();
    assert_eq!(
        mounts.get(path).map(String::as_str),
        Some("$PWD/dashboards/provisioning/dashboards"),
        "{mounts:?}"
    );
    assert_eq!(
        mounts
            .get("/etc/grafana/provisioning/datasources")
            .map(String::as_str),
        Some("$PWD/dashboards/provisioning/datasources"),
        "{mounts:?}"
    );
    // The data, where `~` resolves with the image's GF_PATHS_DATA.
    let data = DEFAULT_DIR.replacen('~', "/var/lib/grafana", 1);
    assert_eq!(
        mounts.get(&data).map(String::as_str),
        Some("$HOME/02luka/g/analytics"),
        "{mounts:?}"
    );
    assert!(
        docker.contains("grafana/grafana:") && docker.contains("-ubuntu"),
        "the plugin needs glibc: {docker}"
    );
    assert!(
        docker.contains("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS=motherduck-duckdb-datasource")
    );
}

/// Today on the dashboard: two finished days and today's intraday export at 14:35, with one
/// host silent since 14:00. The panels show beats up to the last export (within 10 minutes of
/// its run), the silent host with its last beat, and today's verdict as incomplete.
#[test]
fn todays_intraday_export_shows_on_the_dashboard() {
    let user = tempfile::tempdir().unwrap();
    let h = user.path();
    common::archive_of(h, "UTC", &common::THREE_DAYS, "mini,book", 0);
    // book falls silent at 14:00 today.
    let silent_from = "2025-10-30T14:00:00.000Z";
    let ms = chrono::DateTime::parse_from_rfc3339(silent_from)
        .unwrap()
        .timestamp_millis();
    let conn = rusqlite::Connection::open(h.join("ops.db")).unwrap();
    conn.execute(
        "DELETE FROM ops_atomic_heartbeats WHERE host = 'book' AND ((ts >= ?1 AND ts < ''))
         OR (host = 'book' AND ts >= ?2 AND ts < x'')",
        rusqlite::params![ms, silent_from],
    )
    .unwrap();
    drop(conn);
    let export = |args: &[&str]| {
        let out = common::run(
            common::exporter(h)
                .args(["--tz", "UTC", "--sqlite", "ops.db"])
                .args(args),
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    export(&["--date", "2025-10-28"]);
    export(&["--date", "2025-10-29"]);
    export(&["--intraday", "--now", "2025-10-30T14:35:00Z"]);

    let dash = dashboard();
    let homebrew = Grafana {
        home: h,
        gf_paths_data: None,
    };
    let answers = run_panels(&dash, &homebrew);
    let ok = |t: &str| answers[t].as_ref().unwrap_or_else(|e| panic!("{t}: {e}"));

    let age = ok("Age of the newest data");
    let newest = age.rows[0][0].as_str().unwrap().to_string();
    assert!(
        newest.as_str() >= "2025-10-30 14:25" && newest.as_str() < "2025-10-30 14:35",
        "the newest data is within 10 minutes of the 14:35 export: {newest}"
    );
    let status = ok("Status over time");
    let last_bucket = status
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .max()
        .unwrap();
    assert!(last_bucket.as_str() >= "2025-10-30 14:25", "{last_bucket}");

    // The gap panel counts book's silence up to the intraday file's cut (14:35), and none
    // for mini, whose last beat is within 5 minutes of it.
    let gaps = ok("Per-host gaps");
    let row = |h: &str| gaps.rows.iter().find(|r| r[0] == h).unwrap().clone();
    assert_eq!(row("mini")[2].as_i64(), Some(0), "{:?}", gaps.rows);
    assert_eq!(row("book")[2].as_i64(), Some(1), "{:?}", gaps.rows);
    let longest = row("book")[3].as_f64().unwrap();
    assert!((35.0..=41.0).contains(&longest), "{longest}");

    let silent = ok("Hosts silent now");
    assert_eq!(silent.rows.len(), 1, "{:?}", silent.rows);
    assert_eq!(silent.rows[0][0], "book");
    let last_beat = silent.rows[0][1].as_str().unwrap();
    assert!(last_beat.starts_with("2025-10-30 13:5"), "{last_beat}");
    assert!(
        silent.rows[0][2].as_f64().unwrap() >= 30.0,
        "{:?}",
        silent.rows[0]
    );

    let days = ok("Rejects and verdict per day");
    let verdicts: Vec<&str> = days.rows.iter().map(|r| r[1].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["success", "success", "incomplete"]);
}

/// The install steps as written in the README and docs/operations.md, checked against the
/// provisioning files and the layouts Grafana is installed with. Followed literally, the steps
/// must put the plugin, the data source, the dashboard and the day files where Grafana (and the
/// panels' `~`) reads them; a step that drifts from the files (a mount, a folder, a version)
/// loads nothing and says nothing, so CI is where it shows.
mod install {
    use std::collections::BTreeMap;

    /// The plugin release the steps install. The provisioning files and the dashboard were
    /// checked against its source (the `plugin` module above).
    pub const PLUGIN_VERSION: &str = "0.4.5";
    /// The plugin's release assets, from its `.github/workflows/release.yml` (v0.4.5).
    const RELEASES: &str = "https://github.com/motherduckdb/grafana-duckdb-datasource/releases";
    /// The official images' paths (grafana/grafana `docs/sources/setup-grafana/configure-docker.md`
    /// "Default paths"; `packaging/docker/run.sh` passes them to `grafana server`).
    pub const DOCKER_PLUGINS: &str = "/var/lib/grafana/plugins";
    pub const DOCKER_PROVISIONING: &str = "/etc/grafana/provisioning";
    pub const DOCKER_DATA: &str = "/var/lib/grafana";
    /// Homebrew's service (Homebrew/homebrew-core `Formula/g/grafana.rb`): `--config
    /// etc/grafana/grafana.ini`, `cfg:default.paths.plugins=var/lib/grafana/plugins`, and no
    /// provisioning path, so one has to be set in that `grafana.ini`.
    pub const BREW: &str = "$(brew --prefix)";
    pub const BREW_INI: &str = "$(brew --prefix)/etc/grafana/grafana.ini";
    pub const BREW_PLUGINS: &str = "$(brew --prefix)/var/lib/grafana/plugins";

    /// What the repository's files say, which the steps must match.
    pub struct Facts {
        /// The data source's `type`.
        pub plugin_id: String,
        /// The provider's `options.path`, as written for the Docker image.
        pub provider_path: String,
        /// The folder every panel reads, `~/…`.
        pub day_dir: String,
    }

    /// The text of the section whose heading starts with `heading`, to the next `## `.
    pub fn section<'a>(md: &'a str, heading: &str) -> &'a str {
        let start = md
            .find(&format!("\n{heading}"))
            .unwrap_or_else(|| panic!("no section {heading}"))
            + 1;
        let rest = &md[start..];
        let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
        &rest[..end]
    }

    /// The fenced code blocks of a section, without their info string.
    fn blocks(section: &str) -> Vec<&str> {
        section
            .split("```")
            .skip(1)
            .step_by(2)
            .map(|b| b.split_once('\n').map_or(b, |(_, body)| body))
            .collect()
    }

    /// Shell words as `sh` would see them, for the little the steps use: quotes, `$name`,
    /// `${name}` from earlier assignments (others, `$PWD`, `$HOME` and `$(…)`, stay as
    /// written), and a redirect `>` as a word of its own.
    fn words(line: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut started = false;
        let (mut single, mut double) = (false, false);
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if single {
                if c == '\'' {
                    single = false;
                } else {
                    word.push(c);
                }
                continue;
            }
            match c {
                '\'' if !double => (single, started) = (true, true),
                '"' => (double, started) = (!double, true),
                '$' if i < chars.len() && chars[i] == '(' => {
                    let mut depth = 0;
                    word.push('$');
                    while i < chars.len() {
                        word.push(chars[i]);
                        depth += match chars[i] {
                            '(' => 1,
                            ')' => -1,
                            _ => 0,
                        };
                        i += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    started = true;
                }
                '$' => {
                    let braced = i < chars.len() && chars[i] == '{';
                    let from = if braced { i + 1 } else { i };
                    let mut to = from;
                    while to < chars.len() && (chars[to].is_alphanumeric() || chars[to] == '_') {
                        to += 1;
                    }
                    let name: String = chars[from..to].iter().collect();
                    let end = if braced { to + 1 } else { to };
                    match vars.get(&name) {
                        Some(v) => word.push_str(v),
                        None => word.extend(&chars[i - 1..end]),
                    }
                    i = end;
                    started = true;
                }
                c if !double && c.is_whitespace() => {
                    if started {
                        out.push(std::mem::take(&mut word));
                        started = false;
                    }
                }
                '>' if !double => {
                    if started {
                        out.push(std::mem::take(&mut word));
                        started = false;
                    }
                    out.push(c.to_string());
                }
                c => {
                    word.push(c);
                    started = true;
                }
            }
        }
        if started {
            out.push(word);
        }
        out
    }

    /// The commands of a block, each as its words, with `x="…"` assignments applied to the
    /// commands after them.
    fn commands(block: &str) -> Vec<Vec<String>> {
        let mut vars = BTreeMap::new();
        let mut out = Vec::new();
        for line in block.lines() {
            let line = line.split(" #").next().unwrap();
            if line.trim_start().starts_with('#') {
                continue;
            }
            // Expanded one command at a time, so `b=…; p="$b/…"` on one line sees `b`.
            for segment in segments(line) {
                let cmd = words(segment, &vars);
                if let [one] = &cmd[..] {
                    if let Some((name, value)) = one.split_once('=') {
                        if name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                            vars.insert(name.to_string(), value.to_string());
                            continue;
                        }
                    }
                }
                if !cmd.is_empty() {
                    out.push(cmd);
                }
            }
        }
        out
    }

    /// A line cut at its unquoted `;`, `&&` and `|`.
    fn segments(line: &str) -> Vec<&str> {
        let (mut out, mut from) = (Vec::new(), 0);
        let (mut single, mut double) = (false, false);
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let sep = match bytes[i] {
                b'\'' if !double => {
                    single = !single;
                    0
                }
                b'"' if !single => {
                    double = !double;
                    0
                }
                _ if single || double => 0,
                b';' | b'|' => 1,
                b'&' if bytes.get(i + 1) == Some(&b'&') => 2,
                _ => 0,
            };
            if sep > 0 {
                out.push(&line[from..i]);
                from = i + sep;
                i += sep;
            } else {
                i += 1;
            }
        }
        out.push(&line[from..]);
        out
    }

    fn arg_after<'c>(cmd: &'c [String], flag: &str) -> Option<&'c str> {
        let at = cmd.iter().position(|w| w == flag)?;
        cmd.get(at + 1).map(String::as_str)
    }

    /// Every version named for the plugin: after its id (`motherduck-duckdb-datasource-0.4.5.zip`,
    /// `` `motherduck-duckdb-datasource` 0.4.5``) and in a release address (`/download/v0.4.5/`).
    pub fn plugin_versions(text: &str, plugin_id: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in [plugin_id, "/releases/download/", "/releases/tag/"] {
            for (at, _) in text.match_indices(marker) {
                let rest = text[at + marker.len()..].trim_start_matches(['-', '`', ' ', 'v']);
                let version: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                let version = version.trim_end_matches('.');
                if version.contains('.') {
                    found.push(version.to_string());
                }
            }
        }
        found
    }

    /// The plugin download and unzip of a block: the folder it leaves (`<dir>/<id>`, as the
    /// release zip holds one folder named after the plugin id, per the plugin's `ci.yml`:
    /// `mv dist <plugin-id>; zip -r <archive> <plugin-id>`), checked for `plugin.json`.
    fn plugin_folder(cmds: &[Vec<String>], facts: &Facts, errors: &mut Vec<String>) -> String {
        let zip = format!("{}-{PLUGIN_VERSION}.zip", facts.plugin_id);
        let url = format!("{RELEASES}/download/v{PLUGIN_VERSION}/{zip}");
        if !cmds.iter().any(|c| c[0] == "curl" && c.contains(&url)) {
            errors.push(format!("no `curl` of {url}"));
        }
        let Some(unzip) = cmds.iter().find(|c| c[0] == "unzip") else {
            errors.push("no `unzip` of the plugin".into());
            return String::new();
        };
        if !unzip.iter().any(|w| w.ends_with(&zip)) {
            errors.push(format!("`unzip` does not unzip {zip}: {unzip:?}"));
        }
        let dir = arg_after(unzip, "-d").unwrap_or(".");
        let folder = if dir == "." {
            facts.plugin_id.clone()
        } else {
            format!("{dir}/{}", facts.plugin_id)
        };
        let checked = format!("{folder}/plugin.json");
        if !cmds.iter().any(|c| c[0] == "test" && c.contains(&checked)) {
            errors.push(format!("no `test -f {checked}` after the unzip"));
        }
        folder
    }

    fn docker(block: &str, facts: &Facts, errors: &mut Vec<String>) {
        let cmds = commands(block);
        let folder = plugin_folder(&cmds, facts, errors);
        let run = cmds
            .iter()
            .find(|c| c.len() > 1 && c[0] == "docker" && c[1] == "run")
            .unwrap();
        let (mut mounts, mut env) = (BTreeMap::new(), BTreeMap::new());
        for pair in run.windows(2) {
            match pair[0].as_str() {
                "-v" => {
                    let mut parts = pair[1].split(':');
                    let src = parts.next().unwrap().to_string();
                    mounts.insert(parts.next().unwrap_or("").to_string(), src);
                }
                "-e" => {
                    let (k, v) = pair[1].split_once('=').unwrap_or((&pair[1], ""));
                    env.insert(k.to_string(), v.to_string());
                }
                _ => {}
            }
        }
        let mut want = |target: String, source: String, what: &str| {
            if mounts.get(&target) != Some(&source) {
                errors.push(format!(
                    "{what}: want -v {source}:{target}, have {:?}",
                    mounts.get(&target)
                ));
            }
        };
        want(
            format!("{DOCKER_PLUGINS}/{}", facts.plugin_id),
            format!("$PWD/{folder}"),
            "the unzipped plugin in the image's plugins directory",
        );
        want(
            format!("{DOCKER_PROVISIONING}/datasources"),
            "$PWD/dashboards/provisioning/datasources".into(),
            "the data source where the image reads data sources",
        );
        want(
            facts.provider_path.clone(),
            "$PWD/dashboards/provisioning/dashboards".into(),
            "the provider and the JSON where the provider's options.path says",
        );
        want(
            facts.day_dir.replacen('~', DOCKER_DATA, 1),
            facts.day_dir.replacen('~', "$HOME", 1),
            "the day files where the panels' ~ resolves (GF_PATHS_DATA)",
        );
        let allowed = env
            .get("GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS")
            .map(String::as_str)
            .unwrap_or("");
        if !allowed.split(',').any(|id| id.trim() == facts.plugin_id) {
            errors.push(format!(
                "GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS={allowed:?} does not allow {}",
                facts.plugin_id
            ));
        }
        let image = run.last().unwrap();
        if !(image.starts_with("grafana/") && image.ends_with("-ubuntu")) {
            errors.push(format!("the plugin needs glibc, an -ubuntu image: {image}"));
        }
    }

    fn homebrew(block: &str, facts: &Facts, errors: &mut Vec<String>) {
        let cmds = commands(block);
        let folder = plugin_folder(&cmds, facts, errors);
        if folder != format!("{BREW_PLUGINS}/{}", facts.plugin_id) {
            errors.push(format!(
                "the plugin unzips to {folder}, not into the service's {BREW_PLUGINS}"
            ));
        }
        // grafana.ini: the two lines the service does not set, in the file it reads.
        let Some(ini_edit) = cmds
            .iter()
            .find(|c| c[0] == "sed" && c.iter().any(|w| w.starts_with("-i")))
        else {
            errors.push("no `sed -i` of grafana.ini".into());
            return;
        };
        if ini_edit.last().map(String::as_str) != Some(BREW_INI) {
            errors.push(format!(
                "grafana.ini edited is not {BREW_INI}: {ini_edit:?}"
            ));
        }
        let set = |key: &str| {
            ini_edit.iter().find_map(|w| {
                let (_, new) = w.strip_prefix("s|")?.split_once('|')?;
                new.trim_end_matches('|')
                    .strip_prefix(&format!("{key} = "))
                    .map(str::to_string)
            })
        };
        let allowed = set("allow_loading_unsigned_plugins").unwrap_or_default();
        if !allowed.split(',').any(|id| id.trim() == facts.plugin_id) {
            errors.push(format!(
                "grafana.ini's allow_loading_unsigned_plugins = {allowed:?} does not allow {}",
                facts.plugin_id
            ));
        }
        let Some(provisioning) = set("provisioning") else {
            errors.push("grafana.ini's [paths] provisioning is not set".into());
            return;
        };
        if !provisioning.starts_with(BREW) || provisioning.contains("/opt/") {
            errors.push(format!(
                "provisioning = {provisioning}: not a folder under the prefix that upgrades keep"
            ));
        }
        // The files, copied where that provisioning folder has them read.
        let copied_to = |file: &str| {
            cmds.iter().find_map(|c| {
                (c[0] == "cp" && c.get(1).is_some_and(|w| w.ends_with(file)))
                    .then(|| c.last().unwrap().trim_end_matches('/').to_string())
            })
        };
        let datasources = copied_to("datasources/ops_atomic.yaml");
        if datasources.as_deref() != Some(&format!("{provisioning}/datasources")) {
            errors.push(format!(
                "the data source is copied to {datasources:?}, not {provisioning}/datasources"
            ));
        }
        let json = copied_to("ops_atomic.json");
        // The provider: written with its path rewritten by the documented `sed`; it must be
        // read from `<provisioning>/dashboards` and point at the folder the JSON is in.
        let Some(rewrite) = cmds.iter().find(|c| {
            c[0] == "sed"
                && c.iter()
                    .any(|w| w.ends_with("dashboards/provisioning/dashboards/ops_atomic.yaml"))
        }) else {
            errors.push("no `sed` writing the provider YAML".into());
            return;
        };
        let target = arg_after(rewrite, ">").unwrap_or("");
        if target != format!("{provisioning}/dashboards/ops_atomic.yaml") {
            errors.push(format!(
                "the provider is written to {target}, not {provisioning}/dashboards"
            ));
        }
        let script = rewrite
            .iter()
            .find_map(|w| w.strip_prefix("s|"))
            .unwrap_or("");
        let mut parts = script.split('|');
        let (from, to) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = facts.provider_path.replacen(from, to, 1);
        if json.as_deref() != Some(path.as_str()) {
            errors.push(format!(
                "the provider reads {path}, the JSON is copied to {json:?}"
            ));
        }
    }

    /// Every mismatch between the Grafana steps of the README and docs/operations.md and the
    /// provisioning files; empty when the steps, followed literally, install what the files
    /// need where Grafana reads it.
    pub fn mismatches(readme: &str, operations: &str, facts: &Facts) -> Vec<String> {
        let mut errors = Vec::new();
        // The provider YAML is used unedited in the image, so it must name the image's folder.
        if facts.provider_path != format!("{DOCKER_PROVISIONING}/dashboards") {
            errors.push(format!(
                "the provider reads {}, not the image's {DOCKER_PROVISIONING}/dashboards",
                facts.provider_path
            ));
        }
        let mut seen = BTreeMap::new();
        for (name, text) in [
            ("README", section(readme, "## Grafana")),
            ("operations", section(operations, "## Grafana dashboard")),
        ] {
            let versions = plugin_versions(text, &facts.plugin_id);
            if versions.is_empty() {
                errors.push(format!("{name}: no plugin version named"));
            }
            for v in versions.iter().filter(|v| *v != PLUGIN_VERSION) {
                errors.push(format!("{name}: plugin version {v}, not {PLUGIN_VERSION}"));
            }
            for block in blocks(text) {
                let kind = if block.contains("docker run") {
                    "docker"
                } else if block.contains("brew ") {
                    "homebrew"
                } else {
                    continue;
                };
                *seen.entry(kind).or_insert(0) += 1;
                let mut found = Vec::new();
                match kind {
                    "docker" => docker(block, facts, &mut found),
                    _ => homebrew(block, facts, &mut found),
                }
                errors.extend(found.into_iter().map(|e| format!("{name} {kind}: {e}")));
            }
        }
        for kind in ["docker", "homebrew"] {
            if !seen.contains_key(kind) {
                errors.push(format!("no {kind} steps"));
            }
        }
        errors
    }
}

/// The Grafana steps of the README and docs/operations.md name the plugin id of the data source,
/// version 0.4.5 wherever a version is named, and put the plugin, the provisioning files and the
/// day files where Docker's image and Homebrew's service have Grafana read them. Each way of
/// drifting, written into a copy of the docs, must be caught.
#[test]
fn the_install_steps_put_the_files_where_grafana_reads_them() {
    let dir = PathBuf::from(PROVISIONING);
    let ds = yaml(&dir.join("datasources/ops_atomic.yaml"));
    let providers = yaml(&dir.join("dashboards/ops_atomic.yaml"));
    // The folder every panel reads, from the queries themselves.
    let text = std::fs::read_to_string(DASHBOARD).unwrap();
    let mut day_dirs: Vec<&str> = text
        .split("('")
        .skip(1)
        .filter_map(|s| s.split_once("/**").map(|(d, _)| d))
        .collect();
    day_dirs.dedup();
    assert_eq!(
        day_dirs.len(),
        1,
        "one folder for every panel: {day_dirs:?}"
    );
    let facts = install::Facts {
        plugin_id: ds["datasources"][0]["type"].as_str().unwrap().to_string(),
        provider_path: providers["providers"][0]["options"]["path"]
            .as_str()
            .unwrap()
            .to_string(),
        day_dir: day_dirs[0].to_string(),
    };
    assert!(facts.day_dir.starts_with("~/"), "{}", facts.day_dir);
    let readme = std::fs::read_to_string(README).unwrap();
    let operations = std::fs::read_to_string(OPERATIONS).unwrap();
    let errors = install::mismatches(&readme, &operations, &facts);
    assert!(errors.is_empty(), "{errors:#?}");

    // Each drift, in the README or in docs/operations.md, must fail.
    let data = facts.day_dir.replacen('~', install::DOCKER_DATA, 1);
    let zip = format!("{}-{}.zip", facts.plugin_id, install::PLUGIN_VERSION);
    let readme_drifts = [
        (data.clone(), "/var/lib/grafana/analytics".to_string()),
        (
            ":/etc/grafana/provisioning/dashboards\"".into(),
            ":/etc/grafana/dashboards\"".into(),
        ),
        (
            "-v \"$PWD/dashboards/provisioning/datasources:".into(),
            "-v \"$PWD/dashboards/provisioning:".into(),
        ),
        (
            format!("UNSIGNED_PLUGINS={}", facts.plugin_id),
            "UNSIGNED_PLUGINS=grafana-duckdb-datasource".into(),
        ),
        ("latest-ubuntu".into(), "latest".into()),
        ("/download/v0.4.5/".into(), "/download/v0.4.4/".into()),
        (
            format!("unzip -o {zip}"),
            format!("unzip -o {zip} -d {}", facts.plugin_id),
        ),
        (
            format!("{}:/var/lib/grafana/plugins/", facts.plugin_id),
            format!("{}:/var/lib/grafana/", facts.plugin_id),
        ),
    ];
    let ops_drifts = [
        (
            "s|^;provisioning = .*|provisioning = $p|\" ".to_string(),
            String::new(),
        ),
        (
            "-d \"$b/var/lib/grafana/plugins\"".into(),
            "-d \"$b/etc/grafana/plugins\"".into(),
        ),
        (
            "p=\"$b/etc/grafana/provisioning\"".into(),
            "p=\"$b/opt/grafana/share/grafana/conf/provisioning\"".into(),
        ),
        (
            "allow_loading_unsigned_plugins = motherduck-duckdb-datasource|".into(),
            "allow_loading_unsigned_plugins = grafana-duckdb-datasource|".into(),
        ),
        (
            "> \"$p/dashboards/ops_atomic.yaml\"".into(),
            "> \"$p/ops_atomic.yaml\"".into(),
        ),
        ("\"$p/dashboards/\"\nsed".into(), "\"$p/\"\nsed".into()),
        (
            "\"$ini\"\ngrep".into(),
            "\"$b/etc/grafana.ini\"\ngrep".into(),
        ),
        (
            "(`motherduck-duckdb-datasource` 0.4.5,".into(),
            "(`motherduck-duckdb-datasource` 0.4.3,".into(),
        ),
    ];
    for (doc, drifts) in [
        ("README", &readme_drifts[..]),
        ("operations", &ops_drifts[..]),
    ] {
        for (from, to) in drifts {
            let (r, o) = match doc {
                "README" => (readme.replacen(from, to, 1), operations.clone()),
                _ => (readme.clone(), operations.replacen(from, to, 1)),
            };
            assert!(
                r != readme || o != operations,
                "{doc}: the drift {from:?} is no longer in the text"
            );
            assert!(
                !install::mismatches(&r, &o, &facts).is_empty(),
                "{doc}: {from:?} → {to:?} was not caught"
            );
        }
    }
    // And a provider YAML that moved away from the folder the image reads.
    let moved = install::Facts {
        provider_path: "/var/lib/grafana/dashboards".into(),
        ..facts
    };
    assert!(!install::mismatches(&readme, &operations, &moved).is_empty());
}
