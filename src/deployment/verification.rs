//! The report's shape: each deployment and health line, each metric, the verdict, as the
//! markdown renders them and as `--json` prints them.

use serde::Serialize;

/// How one line of the report came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Ok,
    Failed,
    /// Nothing to measure yet, or a part that is not installed.
    Missing,
    /// A source that is not configured: not read, not required.
    NotConfigured,
}

impl Mark {
    pub(super) fn cell(self) -> &'static str {
        match self {
            Mark::Ok => "✅ Verified",
            Mark::Failed => "❌ Failed",
            Mark::Missing => "☐ Pending",
            Mark::NotConfigured => "➖ Not configured",
        }
    }
}

/// A deployment or health line: what, how it came out, and the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub name: &'static str,
    pub mark: Mark,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    pub name: &'static str,
    pub target: String,
    pub actual: String,
    pub mark: Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentVerdict {
    /// Installed, exporting every day on schedule, every measure on target, sources alive.
    FullSuccess,
    /// Installed and exporting, but a measure or a health check is off target.
    Partial,
    /// Not (fully) installed yet, or nothing exported yet: nothing to validate.
    Pending,
}

impl DeploymentVerdict {
    pub fn label(self) -> &'static str {
        match self {
            DeploymentVerdict::FullSuccess => "✅ Full success",
            DeploymentVerdict::Partial => "⚠️ Partial success",
            DeploymentVerdict::Pending => "☐ Pending validation",
        }
    }
}

/// The whole report, as rendered and as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// When, in UTC (RFC 3339), and the same instant in the report's zone.
    pub generated_at: String,
    pub generated_local: String,
    pub timezone: String,
    /// Who generated it: `user@host`, and the command line that regenerates it.
    pub generated_by: String,
    pub host: String,
    pub command: String,
    pub exporter: String,
    pub deployment: Vec<Line>,
    pub metrics: Vec<Metric>,
    pub health: Vec<Line>,
    pub verdict: DeploymentVerdict,
    /// Why the verdict is not Full success, one line per item off target.
    pub reasons: Vec<String>,
    /// Where the markdown report was written.
    pub report: String,
}
