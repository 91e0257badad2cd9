//! The daily schedule: a launchd agent (macOS) rendered with the plist library from this
//! machine's paths, installed with launchctl; and a systemd user service and timer for Linux.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use plist::{Dictionary, Value};

pub const LABEL: &str = "com.02luka.analytics.parquet";
pub const WRAPPER: &str = "run_parquet_exporter.sh";
const LOG_DIR: &str = "02luka/g/logs";
/// Where `systemd print` says to put the timer, under HOME.
pub const SYSTEMD_TIMER: &str = ".config/systemd/user/parquet-exporter.timer";

/// The absolute paths a schedule needs on this machine.
#[derive(Debug, Clone)]
pub struct Paths {
    pub binary: PathBuf,
    pub wrapper: PathBuf,
    pub home: PathBuf,
    /// Passed on only when the file exists (a named config file that is missing is an error).
    pub config: Option<PathBuf>,
}

impl Paths {
    /// Finds the binary (this one), the wrapper (given, next to the binary, or in the checkout
    /// this binary was built from), HOME, and the config file.
    pub fn discover(wrapper: Option<&Path>, config: Option<&Path>) -> Result<Paths> {
        let binary = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .context("finding this binary's path")?;
        let home = crate::config::home().context("HOME is not set")?;
        let wrapper = match wrapper {
            Some(w) => w.to_path_buf(),
            None => {
                let beside = binary.with_file_name(WRAPPER);
                let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("launchd")
                    .join(WRAPPER);
                if beside.exists() {
                    beside
                } else if checkout.exists() {
                    checkout
                } else {
                    bail!(
                        "no {WRAPPER} next to {} (copy launchd/{WRAPPER} there, or pass --wrapper PATH)",
                        binary.display()
                    )
                }
            }
        };
        let wrapper = wrapper
            .canonicalize()
            .with_context(|| format!("wrapper {}", wrapper.display()))?;
        let config = match config {
            Some(c) => Some(c.to_path_buf()),
            None => Some(home.join(crate::config::DEFAULT_CONFIG)).filter(|c| c.exists()),
        };
        Ok(Paths {
            binary,
            wrapper,
            home,
            config,
        })
    }

    pub fn log_dir(&self) -> PathBuf {
        self.home.join(LOG_DIR)
    }

    pub fn plist_path(&self) -> PathBuf {
        plist_path(&self.home)
    }

    /// PATH for the job: Homebrew (Apple silicon and Intel), the system, and the binary's dir.
    fn path_var(&self) -> String {
        let bin_dir = self.binary.parent().unwrap_or(Path::new("/usr/local/bin"));
        format!(
            "{}:/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            bin_dir.display()
        )
    }

    fn environment(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PATH", self.path_var()),
            ("HOME", self.home.display().to_string()),
            ("PARQUET_EXPORTER_BIN", self.binary.display().to_string()),
        ];
        if let Some(c) = &self.config {
            env.push(("PARQUET_EXPORTER_CONFIG", c.display().to_string()));
        }
        env
    }
}

/// Where the agent is installed for the user whose home is `home`.
pub fn plist_path(home: &Path) -> PathBuf {
    home.join("Library/LaunchAgents")
        .join(format!("{LABEL}.plist"))
}

/// The launchd agent. Secrets (the Redis URL and password) stay in the config file or the
/// environment the config names, never in the plist, which any local user can read.
pub fn agent(paths: &Paths) -> Value {
    let mut d = Dictionary::new();
    d.insert("Label".into(), LABEL.into());
    d.insert(
        "ProgramArguments".into(),
        Value::Array(vec![
            "/bin/bash".into(),
            paths.wrapper.display().to_string().into(),
            "--catch-up".into(),
        ]),
    );
    let mut when = Dictionary::new();
    when.insert("Hour".into(), Value::Integer(2.into()));
    when.insert("Minute".into(), Value::Integer(30.into()));
    d.insert("StartCalendarInterval".into(), Value::Dictionary(when));
    let mut env = Dictionary::new();
    for (k, v) in paths.environment() {
        env.insert(k.into(), v.into());
    }
    d.insert("EnvironmentVariables".into(), Value::Dictionary(env));
    d.insert(
        "WorkingDirectory".into(),
        paths.home.display().to_string().into(),
    );
    let logs = paths.log_dir();
    d.insert(
        "StandardOutPath".into(),
        logs.join("parquet_exporter.launchd.out.log")
            .display()
            .to_string()
            .into(),
    );
    d.insert(
        "StandardErrorPath".into(),
        logs.join("parquet_exporter.launchd.err.log")
            .display()
            .to_string()
            .into(),
    );
    d.insert("RunAtLoad".into(), false.into());
    d.insert("ProcessType".into(), "Background".into());
    Value::Dictionary(d)
}

pub fn render_plist(paths: &Paths) -> Result<String> {
    let mut out = Vec::new();
    agent(paths)
        .to_writer_xml(&mut out)
        .context("rendering the plist")?;
    out.push(b'\n');
    Ok(String::from_utf8(out)?)
}

fn launchctl(args: &[&str]) -> Result<std::process::Output> {
    Command::new("launchctl")
        .args(args)
        .output()
        .with_context(|| format!("running launchctl {}", args.join(" ")))
}

fn gui_domain() -> Result<String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("running id -u")?;
    Ok(format!(
        "gui/{}",
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

fn require_macos(what: &str) -> Result<()> {
    if !cfg!(target_os = "macos") {
        bail!(
            "launchd {what} works only on macOS (this is {}); on Linux use `parquet-exporter systemd print`",
            std::env::consts::OS
        );
    }
    Ok(())
}

/// Writes the agent to ~/Library/LaunchAgents and loads it (replacing a loaded one).
pub fn install(paths: &Paths) -> Result<PathBuf> {
    require_macos("install")?;
    let plist = paths.plist_path();
    std::fs::create_dir_all(paths.log_dir())
        .with_context(|| format!("creating {}", paths.log_dir().display()))?;
    std::fs::create_dir_all(plist.parent().unwrap())?;
    let text = render_plist(paths)?;
    crate::atomic::replace(&plist, |w| {
        Ok(std::io::Write::write_all(w, text.as_bytes())?)
    })?;
    let domain = gui_domain()?;
    // Unload an older copy first; it is fine if none was loaded.
    let _ = launchctl(&["bootout", &format!("{domain}/{LABEL}")]);
    let out = launchctl(&["bootstrap", &domain, &plist.display().to_string()])?;
    if !out.status.success() {
        bail!(
            "launchctl bootstrap {domain} {} failed: {}",
            plist.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(plist)
}

/// Unloads the agent and removes its plist.
pub fn uninstall(paths: &Paths) -> Result<PathBuf> {
    require_macos("uninstall")?;
    let plist = paths.plist_path();
    let domain = gui_domain()?;
    let _ = launchctl(&["bootout", &format!("{domain}/{LABEL}")]);
    match std::fs::remove_file(&plist) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", plist.display())),
    }
    Ok(plist)
}

/// A systemd user service and timer doing what the launchd agent does, for Linux hosts.
pub fn systemd_units(paths: &Paths) -> (String, String) {
    let env: String = paths
        .environment()
        .iter()
        .map(|(k, v)| format!("Environment=\"{k}={v}\"\n"))
        .collect();
    let service = format!(
        "[Unit]
Description=Export yesterday's OPS-Atomic heartbeats to Parquet (catching up missed days)
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={home}
{env}ExecStart=/bin/bash {wrapper} --catch-up
",
        home = paths.home.display(),
        wrapper = paths.wrapper.display(),
    );
    let timer = "[Unit]
Description=Run parquet-exporter daily at 02:30

[Timer]
OnCalendar=*-*-* 02:30:00
Persistent=true

[Install]
WantedBy=timers.target
"
    .to_string();
    (service, timer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        Paths {
            binary: "/Users/ops/02luka/bin/parquet-exporter".into(),
            wrapper: "/Users/ops/02luka/bin/run_parquet_exporter.sh".into(),
            home: "/Users/ops".into(),
            config: Some("/Users/ops/02luka/config/parquet_exporter.toml".into()),
        }
    }

    #[test]
    fn plist_round_trips_through_the_parser() {
        let text = render_plist(&paths()).unwrap();
        let v = Value::from_reader_xml(text.as_bytes()).unwrap();
        let d = v.as_dictionary().unwrap();
        assert_eq!(d["Label"].as_string(), Some(LABEL));
        let when = d["StartCalendarInterval"].as_dictionary().unwrap();
        assert_eq!(when["Hour"].as_signed_integer(), Some(2));
        assert_eq!(when["Minute"].as_signed_integer(), Some(30));
        let args: Vec<&str> = d["ProgramArguments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "/bin/bash",
                "/Users/ops/02luka/bin/run_parquet_exporter.sh",
                "--catch-up"
            ]
        );
        assert_eq!(
            d["StandardOutPath"].as_string(),
            Some("/Users/ops/02luka/g/logs/parquet_exporter.launchd.out.log")
        );
        let env = d["EnvironmentVariables"].as_dictionary().unwrap();
        assert!(env["PATH"]
            .as_string()
            .unwrap()
            .contains("/opt/homebrew/bin"));
        assert_eq!(
            env["PARQUET_EXPORTER_BIN"].as_string(),
            Some("/Users/ops/02luka/bin/parquet-exporter")
        );
    }

    /// The plist shipped in launchd/ is exactly what `launchd print` renders for the standard
    /// layout (binary and wrapper in ~/02luka/bin of user `ops`), so the two cannot drift.
    #[test]
    fn shipped_plist_is_the_rendered_one() {
        let rendered = render_plist(&paths()).unwrap();
        if std::env::var_os("PARQUET_EXPORTER_WRITE_PLIST").is_some() {
            std::fs::write(
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/launchd/",
                    "com.02luka.analytics.parquet.plist"
                ),
                &rendered,
            )
            .unwrap();
        }
        assert_eq!(
            include_str!("../launchd/com.02luka.analytics.parquet.plist"),
            rendered,
            "regenerate with PARQUET_EXPORTER_WRITE_PLIST=1 cargo test --lib shipped_plist"
        );
    }

    #[test]
    fn systemd_timer_is_daily_and_persistent() {
        let (service, timer) = systemd_units(&paths());
        assert!(timer.contains("OnCalendar=*-*-* 02:30:00"));
        assert!(timer.contains("Persistent=true"));
        assert!(service.contains(
            "ExecStart=/bin/bash /Users/ops/02luka/bin/run_parquet_exporter.sh --catch-up"
        ));
    }
}
