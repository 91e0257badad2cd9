//! When the installed schedule fires, read from the launchd plist or the systemd timer, and
//! which service manager to ask whether it is loaded.

use std::path::PathBuf;

use crate::service::{self, launchd, systemd};

/// When the installed schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Neither a LaunchAgent nor a systemd timer is installed at these paths.
    None(Vec<PathBuf>),
    /// Installed at `path`; `when` is each firing as text, or why it could not be read.
    Installed {
        kind: ScheduleKind,
        path: PathBuf,
        when: Result<Vec<Fire>, String>,
    },
}

/// Which service manager runs the schedule: it decides whom to ask whether it is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// A launchd agent in ~/Library/LaunchAgents (macOS).
    LaunchAgent,
    /// A systemd user timer (Linux).
    SystemdTimer,
}

impl ScheduleKind {
    /// What the report calls it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::LaunchAgent => "LaunchAgent",
            ScheduleKind::SystemdTimer => "systemd timer",
        }
    }

    /// Whether the service manager has it loaded; `None` when its command is not on PATH.
    pub(super) fn loaded(self) -> Option<service::Loaded> {
        match self {
            ScheduleKind::LaunchAgent => launchd::agent_loaded(),
            ScheduleKind::SystemdTimer => systemd::timer_loaded(),
        }
    }
}

impl std::fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One calendar entry: a time of day, and any field that makes it less than daily.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    pub hour: Option<u32>,
    pub minute: Option<u32>,
    /// Weekday, Day, Month or a systemd date part that limits the days it fires on.
    pub limits: Vec<String>,
}

impl Fire {
    pub(super) fn is_daily_at(&self, hour: u32, minute: u32) -> bool {
        self.hour == Some(hour) && self.minute == Some(minute) && self.limits.is_empty()
    }

    pub(super) fn show(&self) -> String {
        let two = |v: Option<u32>| v.map_or("**".to_string(), |v| format!("{v:02}"));
        let days = if self.limits.is_empty() {
            "daily".to_string()
        } else {
            format!("on {}", self.limits.join(", "))
        };
        format!("{}:{} {days}", two(self.hour), two(self.minute))
    }
}

/// The `StartCalendarInterval` of a launchd plist.
pub fn plist_schedule(bytes: &[u8]) -> Result<Vec<Fire>, String> {
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable plist: {e}"))?;
    let dict = value
        .as_dictionary()
        .ok_or("the plist is not a dictionary")?;
    let Some(interval) = dict.get("StartCalendarInterval") else {
        return Err("it has no StartCalendarInterval".into());
    };
    let entries: Vec<&plist::Value> = match interval {
        plist::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    entries
        .into_iter()
        .map(|e| {
            let d = e
                .as_dictionary()
                .ok_or("a StartCalendarInterval entry is not a dictionary")?;
            let field = |k: &str| {
                d.get(k)
                    .and_then(plist::Value::as_signed_integer)
                    .and_then(|v| u32::try_from(v).ok())
            };
            let limits = ["Weekday", "Day", "Month"]
                .into_iter()
                .filter_map(|k| field(k).map(|v| format!("{k}={v}")))
                .collect();
            Ok(Fire {
                hour: field("Hour"),
                minute: field("Minute"),
                limits,
            })
        })
        .collect()
}

/// The `OnCalendar=` lines of a systemd timer: `daily`, or `*-*-* HH:MM[:SS]` read exactly;
/// any other form is shown as it is and never counts as daily.
pub fn timer_schedule(text: &str) -> Result<Vec<Fire>, String> {
    let fires: Vec<Fire> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("OnCalendar="))
        .map(|spec| {
            let spec = spec.trim();
            if spec == "daily" {
                return Fire {
                    hour: Some(0),
                    minute: Some(0),
                    limits: vec![],
                };
            }
            let parsed = spec.strip_prefix("*-*-* ").and_then(|t| {
                let mut parts = t.split(':');
                let h = parts.next()?.parse().ok()?;
                let m = parts.next()?.parse().ok()?;
                match parts.next() {
                    None | Some("00") | Some("0") => Some((h, m)),
                    Some(_) => None,
                }
            });
            match parsed {
                Some((h, m)) => Fire {
                    hour: Some(h),
                    minute: Some(m),
                    limits: vec![],
                },
                None => Fire {
                    hour: None,
                    minute: None,
                    limits: vec![format!("OnCalendar={spec}")],
                },
            }
        })
        .collect();
    if fires.is_empty() {
        return Err("it has no OnCalendar line".into());
    }
    Ok(fires)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(h: u32, m: u32) -> Fire {
        Fire {
            hour: Some(h),
            minute: Some(m),
            limits: vec![],
        }
    }

    #[test]
    fn plist_calendar_intervals_are_read_exactly() {
        let one = br#"<?xml version="1.0"?><plist version="1.0"><dict>
            <key>StartCalendarInterval</key><dict><key>Hour</key><integer>2</integer>
            <key>Minute</key><integer>30</integer></dict></dict></plist>"#;
        assert_eq!(plist_schedule(one), Ok(vec![fire(2, 30)]));
        let weekly = br#"<?xml version="1.0"?><plist version="1.0"><dict>
            <key>StartCalendarInterval</key><array><dict><key>Hour</key><integer>2</integer>
            <key>Minute</key><integer>30</integer><key>Weekday</key><integer>1</integer></dict>
            </array></dict></plist>"#;
        let got = plist_schedule(weekly).unwrap();
        assert!(!got[0].is_daily_at(2, 30));
        assert_eq!(got[0].show(), "02:30 on Weekday=1");
        assert!(plist_schedule(b"<plist><dict></dict></plist>").is_err());
        assert!(plist_schedule(b"not a plist").is_err());
    }

    #[test]
    fn timer_on_calendar_forms() {
        assert_eq!(
            timer_schedule("[Timer]\nOnCalendar=*-*-* 02:30:00\n"),
            Ok(vec![fire(2, 30)])
        );
        assert_eq!(
            timer_schedule("OnCalendar=*-*-* 02:30"),
            Ok(vec![fire(2, 30)])
        );
        assert_eq!(timer_schedule("OnCalendar=daily"), Ok(vec![fire(0, 0)]));
        let odd = timer_schedule("OnCalendar=Mon *-*-* 02:30:00").unwrap();
        assert!(!odd[0].is_daily_at(2, 30));
        assert!(
            timer_schedule("OnCalendar=*-*-* 02:30:15").unwrap()[0]
                .limits
                .len()
                == 1
        );
        assert!(timer_schedule("[Timer]\nPersistent=true").is_err());
    }
}
