//! Why a record could not be normalized (docs/contract.md, "Rejects"), as the rejects file and the summary
//! name it.

/// Why a record could not be normalized. The `code` groups reasons in the summary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("no timestamp")]
    MissingTimestamp,
    #[error("unparsable timestamp {0}")]
    BadTimestamp(String),
    #[error("no status")]
    MissingStatus,
    #[error("unknown status {0}")]
    UnknownStatus(String),
    #[error("negative duration_ms {0}")]
    NegativeDuration(String),
    #[error("non-numeric duration_ms {0}")]
    BadDuration(String),
    #[error("invalid value {value} for check {name}")]
    BadCheck { name: String, value: String },
    #[error("invalid UTF-8 in field {0}")]
    InvalidUtf8(String),
    #[error("invalid report_type {0} (expected [a-z0-9_]+)")]
    BadReportType(String),
    #[error("invalid record_id {0}")]
    BadRecordId(String),
    #[error("invalid entry: {0}")]
    BadEntry(String),
    #[error("timestamp {timestamp} is more than {minutes} minutes from the stream entry ID's time {filed}, so no day's read range holds both; rejected on the entry ID's day")]
    TimestampFarFromEntryId {
        timestamp: String,
        filed: String,
        minutes: i64,
    },
}

impl RejectReason {
    /// Stable short name of the reason, for counting and for the rejects file.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::BadTimestamp(_) => "bad_timestamp",
            RejectReason::MissingStatus => "missing_status",
            RejectReason::UnknownStatus(_) => "unknown_status",
            RejectReason::NegativeDuration(_) => "negative_duration",
            RejectReason::BadDuration(_) => "bad_duration",
            RejectReason::BadCheck { .. } => "bad_check",
            RejectReason::InvalidUtf8(_) => "invalid_utf8",
            RejectReason::BadReportType(_) => "bad_report_type",
            RejectReason::BadRecordId(_) => "bad_record_id",
            RejectReason::BadEntry(_) => "bad_entry",
            RejectReason::TimestampFarFromEntryId { .. } => "timestamp_far_from_entry_id",
        }
    }
}
