//! The lifecycle over the combinations: a seeded random walk over layout (flat, hive) ×
//! instance (none, one) × target (a local folder, a bucket on moto) through exports,
//! intraday runs at random cuts, a stream trimmed and archive rows deleted between runs,
//! `kill -9` at the run's own steps, catch-up and `verify`. After every step: no record a
//! published file held is gone, every published file passes `verify`, and after a catch-up
//! yesterday has its whole file; at the end DuckDB's glob over the tree counts each record
//! once. `LIFECYCLE_SEED=N` replays a walk.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{exporter, read_parquet, record_ids, run, Moto, Redis, Rng};

const DAYS: [&str; 3] = ["2025-10-28", "2025-10-29", "2025-10-30"];
const STREAM: &str = "ops:atomic:heartbeats";
/// The walk's clock: from 00:30 on the last simulated day to noon the day after, in steps.
const FIRST_NOW_MS: i64 = 1_761_784_200_000; // 2025-10-30T00:30:00Z
const LAST_NOW_MS: i64 = 1_761_912_000_000; // 2025-10-31T12:00:00Z
const STEPS: usize = 10;

enum Target<'m> {
    Local,
    Bucket(&'m Moto, String),
}

/// One combination's world: its home (Redis stream and SQLite archive with disjoint hosts,
/// so a trim or a delete takes records only one source held), and every id a published day
/// file has held.
struct World<'m> {
    home: tempfile::TempDir,
    redis: Redis,
    target: Target<'m>,
    layout: Vec<&'static str>,
    held: BTreeMap<String, BTreeSet<String>>,
    now_ms: i64,
    log: Vec<String>,
}

fn rfc3339(ms: i64) -> String {
    common::rfc3339(ms)
}

impl<'m> World<'m> {
    fn new(layout: Vec<&'static str>, target: Target<'m>) -> World<'m> {
        let home = tempfile::tempdir().unwrap();
        let redis = Redis::start();
        let h = home.path();
        for day in DAYS {
            let sim = run(exporter(h)
                .args(["simulate", "--date", day, "--tz", "UTC", "--hosts", "r1"])
                .arg("--redis-url")
                .arg(redis.url()));
            assert_eq!(sim.code, 0, "{}", sim.stderr);
            let sim = run(exporter(h).args([
                "simulate", "--date", day, "--tz", "UTC", "--hosts", "s1,s2", "--sqlite", "ops.db",
            ]));
            assert_eq!(sim.code, 0, "{}", sim.stderr);
        }
        World {
            home,
            redis,
            target,
            layout,
            held: BTreeMap::new(),
            now_ms: FIRST_NOW_MS,
            log: Vec::new(),
        }
    }

    fn h(&self) -> &Path {
        self.home.path()
    }

    fn out_dir(&self) -> String {
        match &self.target {
            Target::Local => "out".into(),
            Target::Bucket(_, prefix) => format!("s3://{}/{prefix}", common::MOTO_BUCKET),
        }
    }

    /// The exporter with this world's sources, layout and target.
    fn pe(&self) -> Command {
        let mut cmd = match &self.target {
            Target::Local => exporter(self.h()),
            Target::Bucket(moto, _) => moto.exporter(self.h(), &moto.endpoint()),
        };
        cmd.args(["--tz", "UTC", "--summary-dir", "rep", "--sqlite", "ops.db"])
            .arg("--out-dir")
            .arg(self.out_dir())
            .arg("--redis-url")
            .arg(self.redis.url())
            .args(&self.layout)
            .args(["--now", &rfc3339(self.now_ms), "-q"]);
        cmd
    }

    /// Runs an export; any outcome but success, partial or empty fails the walk.
    fn export(&mut self, args: &[&str]) {
        let out = run(self.pe().args(args));
        self.log.push(format!("{args:?} -> {}", out.code));
        assert!(
            [0, 3, 4].contains(&out.code),
            "{}: {args:?} exited {}: {}\n{}",
            self.trail(),
            out.code,
            out.stderr,
            out.stdout
        );
    }

    fn trail(&self) -> String {
        format!("walk so far: {}", self.log.join("; "))
    }

    /// Every day file as published now, copied to a local folder when in a bucket: (relative
    /// path, local path).
    fn day_files(&self) -> (Option<tempfile::TempDir>, Vec<(String, PathBuf)>) {
        let (root, keep) = match &self.target {
            Target::Local => (self.h().join("out"), None),
            Target::Bucket(moto, prefix) => {
                let dir = tempfile::tempdir().unwrap();
                moto.py(&format!(
                    r#"
import os
for o in s3.list_objects_v2(Bucket='{bucket}', Prefix='{prefix}/').get('Contents', []):
    rel = o['Key'][len('{prefix}/'):]
    p = os.path.join('{dir}', rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    s3.download_file('{bucket}', o['Key'], p)
"#,
                    bucket = common::MOTO_BUCKET,
                    dir = dir.path().display()
                ));
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        if !root.exists() {
            return (keep, Vec::new());
        }
        let files = common::files_under(&root)
            .into_iter()
            .filter(|f| f.ends_with(".parquet"))
            .map(|f| (f.clone(), root.join(f)))
            .collect();
        (keep, files)
    }

    /// The invariants after a step: nothing a published file held is gone, and `verify`
    /// passes every published file.
    fn check(&mut self, step: &str) {
        let (_keep, files) = self.day_files();
        for (rel, path) in &files {
            let ids = record_ids(path);
            let trail = self.trail();
            let before = self.held.entry(rel.clone()).or_default();
            let lost: Vec<&String> = before.difference(&ids).take(3).collect();
            assert!(
                lost.is_empty(),
                "{trail}: after {step}, {rel} lost records it held, e.g. {lost:?}"
            );
            before.extend(ids);
        }
        for rel in self.held.keys() {
            assert!(
                files.iter().any(|(r, _)| r == rel),
                "{}: after {step}, {rel} is gone",
                self.trail()
            );
        }
        if !files.is_empty() {
            let out = run(self.pe_plain().args(["verify"]).arg(self.out_dir()));
            assert_eq!(
                out.code,
                0,
                "{}: verify after {step}:\n{}",
                self.trail(),
                out.stdout
            );
        }
    }

    /// The exporter without the export's flags (for `verify`).
    fn pe_plain(&self) -> Command {
        match &self.target {
            Target::Local => exporter(self.h()),
            Target::Bucket(moto, _) => moto.exporter(self.h(), &moto.endpoint()),
        }
    }

    fn yesterday(&self) -> String {
        rfc3339(self.now_ms - 86_400_000)[..10].to_string()
    }

    /// One random step of the lifecycle.
    fn step(&mut self, rng: &mut Rng) -> String {
        self.now_ms = (self.now_ms + rng.below(6 * 3_600_000) as i64).min(LAST_NOW_MS);
        match rng.below(7) {
            0 => {
                let day = DAYS[rng.below(2) as usize].to_string();
                self.export(&["--date", &day]);
                format!("export {day}")
            }
            1 | 2 => {
                self.export(&["--intraday"]);
                format!("intraday at {}", rfc3339(self.now_ms))
            }
            3 => {
                let keep = 100 + rng.below(500);
                let _: i64 = redis::cmd("XTRIM")
                    .arg(STREAM)
                    .arg("MAXLEN")
                    .arg(keep)
                    .query(&mut self.redis.conn())
                    .unwrap();
                format!("trim the stream to {keep}")
            }
            4 => {
                let from = DAY0_MS + rng.below(3 * 86_400_000) as i64;
                let to = from + rng.below(8 * 3_600_000) as i64;
                let db = rusqlite::Connection::open(self.h().join("ops.db")).unwrap();
                let n = db
                    .execute(
                        "DELETE FROM ops_atomic_heartbeats WHERE ts >= ?1 AND ts < ?2",
                        [from, to],
                    )
                    .unwrap();
                format!("delete {n} archive rows")
            }
            5 => {
                let points = common::PAUSE_POINTS;
                let point = points[rng.below(points.len() as u64) as usize];
                let intraday = rng.below(2) == 0;
                self.kill_at(point, intraday);
                format!("kill -9 at {point}")
            }
            _ => {
                self.export(&["--catch-up"]);
                self.reaches_yesterday();
                "catch-up".into()
            }
        }
    }

    /// Starts an export that stops at `point`, and kills it there with SIGKILL. A run that
    /// ends before the point (a kept file publishes nothing) is no kill.
    fn kill_at(&mut self, point: &str, intraday: bool) {
        let mut cmd = self.pe();
        if intraday {
            cmd.arg("--intraday");
        } else {
            cmd.args(["--date", &self.yesterday()]);
        }
        if let Some(mut child) = common::hold_at(&mut cmd, point, &self.h().join("paused")) {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// After a catch-up, yesterday has its whole day's file (not an intraday one).
    fn reaches_yesterday(&self) {
        let y = self.yesterday().replace('-', "");
        let (_keep, files) = self.day_files();
        let found = files
            .iter()
            .find(|(rel, _)| rel.contains(&format!("ops_atomic_{y}")));
        let Some((rel, path)) = found else {
            panic!("{}: catch-up did not reach yesterday ({y})", self.trail());
        };
        let (_, meta) = read_parquet(path);
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        assert!(
            !kv.iter().any(|k| k.key == "ops_atomic.covers_until"),
            "{}: after catch-up {rel} is still an intraday file",
            self.trail()
        );
    }

    /// DuckDB's glob over the whole tree counts each record once.
    fn duckdb_counts_each_record_once(&self) {
        let (_keep, files) = self.day_files();
        let Some((rel, path)) = files.first() else {
            return;
        };
        let depth = rel.matches('/').count();
        let mut root = path.clone();
        for _ in 0..=depth {
            root.pop();
        }
        let glob = format!("{}/{}*.parquet", root.display(), "*/".repeat(depth));
        let text = common::run_ok(Command::new(common::python()).arg("-c").arg(format!(
            "import duckdb\nprint(*duckdb.sql(\"SELECT count(*), count(DISTINCT record_id) FROM read_parquet('{glob}')\").fetchall()[0])"
        )));
        let counts: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(
            counts[0],
            counts[1],
            "{}: DuckDB over {glob}: {text}",
            self.trail()
        );
    }
}

/// 2025-10-28T00:00:00Z, the first simulated day's start.
const DAY0_MS: i64 = 1_761_609_600_000;

#[test]
fn every_layout_instance_and_target_through_the_whole_lifecycle() {
    let (mut rng, seed) = Rng::seeded("LIFECYCLE_SEED");
    let moto = Moto::start();
    let mut combination = 0;
    for bucket in [false, true] {
        for hive in [false, true] {
            for instance in [false, true] {
                combination += 1;
                let mut layout = Vec::new();
                if hive {
                    layout.extend(["--layout", "hive"]);
                }
                if instance {
                    layout.extend(["--instance", "site-a"]);
                }
                let target = if bucket {
                    Target::Bucket(&moto, format!("lc{combination}"))
                } else {
                    Target::Local
                };
                let mut world = World::new(layout, target);
                world.log.push(format!(
                    "seed {seed}, bucket {bucket}, hive {hive}, instance {instance}"
                ));
                for _ in 0..STEPS {
                    let step = world.step(&mut rng);
                    world.log.push(step.clone());
                    world.check(&step);
                }
                // The walk ends as every night does: a catch-up after the day is over.
                world.now_ms = LAST_NOW_MS;
                world.export(&["--catch-up"]);
                world.reaches_yesterday();
                world.check("the final catch-up");
                world.duckdb_counts_each_record_once();
            }
        }
    }
}
