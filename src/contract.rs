//! The contract's vocabulary (CONTRACT.md): the schema version, the heartbeat cadence, where a
//! record came from and the values of its enumerated fields. Every other module builds on
//! these; this one depends on nothing of the crate.

/// Output schema version, written to every file's footer.
pub const SCHEMA_VERSION: &str = "1";

/// The heartbeat cadence; a longer silence is a gap.
pub const CADENCE_MS: i64 = 5 * 60 * 1000;

/// Where a record came from. `Both` only exists after the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Redis,
    Sqlite,
    Both,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Redis => "redis",
            Source::Sqlite => "sqlite",
            Source::Both => "both",
        }
    }
}

/// Overall verdict of a check run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Healthy,
    Warnings,
    Critical,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Healthy, Status::Warnings, Status::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Warnings => "warnings",
            Status::Critical => "critical",
        }
    }
}

/// Result of one of the three fixed service checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    Ok,
    Warn,
    Error,
    Unknown,
}

impl CheckStatus {
    pub const VALUES: [&'static str; 4] = ["ok", "warn", "error", "unknown"];

    pub fn as_str(self) -> &'static str {
        Self::VALUES[self as usize]
    }
}

/// State of one of the two fixed launch agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentStatus {
    Loaded,
    NotLoaded,
    Unknown,
}

impl AgentStatus {
    pub const VALUES: [&'static str; 3] = ["loaded", "not_loaded", "unknown"];

    pub fn as_str(self) -> &'static str {
        Self::VALUES[self as usize]
    }
}
