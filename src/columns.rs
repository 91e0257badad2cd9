//! Schema v1's columns in one table (CONTRACT.md §3): each column's name, kind (which gives
//! its Arrow type and how a source's value is read), nullability, SQLite column, enumerated
//! values and the writer thread that encodes it. The record's fields, the rows' layout, the
//! Arrow schema, the SQLite reader and its DDL, and the typed path's slots are all derived
//! from `COLUMNS`, and code names a column by `Col`, never by its position.

/// A schema-v1 column. Its discriminant is its position in the file and in `COLUMNS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Col {
    RecordId,
    ReportType,
    Timestamp,
    Status,
    DurationMs,
    Host,
    RedisStatus,
    DatabaseStatus,
    ApiStatus,
    LaunchagentOptimizer,
    LaunchagentDigest,
    Checks,
    Source,
}

/// Every column, in file order. A column is a variant of `Col` and an entry here, at the
/// variant's place (checked when compiling); everything else follows from its kind.
pub const COLUMNS: [Column; 13] = [
    Column {
        col: Col::RecordId,
        name: "record_id",
        kind: Kind::Id,
        nullable: false,
        sqlite: Some(SqliteColumn {
            name: "record_id",
            ty: "TEXT",
            required: false,
            note: "optional; derived from report_type:host:ts when NULL",
        }),
        thread: Thread::First,
    },
    Column {
        col: Col::ReportType,
        name: "report_type",
        kind: Kind::ReportType,
        nullable: false,
        sqlite: Some(SqliteColumn::text("report_type", "NULL means 'heartbeat'")),
        thread: Thread::Second,
    },
    Column {
        col: Col::Timestamp,
        name: "timestamp",
        kind: Kind::Timestamp,
        nullable: false,
        sqlite: Some(SqliteColumn {
            name: "ts",
            ty: "INTEGER",
            required: true,
            note: "Unix epoch ms (UTC), or RFC 3339 TEXT with offset",
        }),
        thread: Thread::First,
    },
    Column {
        col: Col::Status,
        name: "status",
        kind: Kind::Status,
        nullable: false,
        sqlite: Some(SqliteColumn {
            name: "status",
            ty: "TEXT",
            required: true,
            note: "healthy | warnings | critical",
        }),
        thread: Thread::Second,
    },
    Column {
        col: Col::DurationMs,
        name: "duration_ms",
        kind: Kind::Duration,
        nullable: true,
        sqlite: Some(SqliteColumn {
            name: "duration_ms",
            ty: "INTEGER",
            required: false,
            note: "",
        }),
        thread: Thread::First,
    },
    Column {
        col: Col::Host,
        name: "host",
        kind: Kind::Label,
        nullable: true,
        sqlite: Some(SqliteColumn::text("host", "")),
        thread: Thread::First,
    },
    Column {
        col: Col::RedisStatus,
        name: "redis_status",
        kind: Kind::Check(Vocab::Check),
        nullable: false,
        sqlite: Some(SqliteColumn::text(
            "redis_status",
            "ok | warn | error | unknown",
        )),
        thread: Thread::Second,
    },
    Column {
        col: Col::DatabaseStatus,
        name: "database_status",
        kind: Kind::Check(Vocab::Check),
        nullable: false,
        sqlite: Some(SqliteColumn::text("database_status", "")),
        thread: Thread::Second,
    },
    Column {
        col: Col::ApiStatus,
        name: "api_status",
        kind: Kind::Check(Vocab::Check),
        nullable: false,
        sqlite: Some(SqliteColumn::text("api_status", "")),
        thread: Thread::Second,
    },
    Column {
        col: Col::LaunchagentOptimizer,
        name: "launchagent_optimizer",
        kind: Kind::Check(Vocab::Agent),
        nullable: false,
        sqlite: Some(SqliteColumn::text(
            "launchagent_optimizer",
            "loaded | not_loaded | unknown",
        )),
        thread: Thread::Second,
    },
    Column {
        col: Col::LaunchagentDigest,
        name: "launchagent_digest",
        kind: Kind::Check(Vocab::Agent),
        nullable: false,
        sqlite: Some(SqliteColumn::text("launchagent_digest", "")),
        thread: Thread::First,
    },
    Column {
        col: Col::Checks,
        name: "checks",
        kind: Kind::Checks,
        nullable: true,
        sqlite: Some(SqliteColumn::text(
            "checks_json",
            "JSON object: extra check name -> status",
        )),
        thread: Thread::Second,
    },
    Column {
        col: Col::Source,
        name: "source",
        kind: Kind::Source,
        nullable: false,
        sqlite: None,
        thread: Thread::First,
    },
];

/// One column of schema v1.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub col: Col,
    /// The Parquet column, and the field a source's record holds its value in.
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    /// The archive's column, in the canonical table; `None` for a column no source holds.
    pub sqlite: Option<SqliteColumn>,
    pub thread: Thread,
}

/// What a column holds: its Arrow type, and the rule a source's value is read by
/// (CONTRACT.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `record_id`, a string: any non-empty text, derived from the record when it has none.
    Id,
    /// `report_type`, a string: `[a-z0-9_]+`, `heartbeat` when absent.
    ReportType,
    /// `timestamp[ms, tz=UTC]`: RFC 3339 with an offset, or epoch milliseconds.
    Timestamp,
    /// The verdict, a string of `Status`'s values: required.
    Status,
    /// An `int64` of milliseconds, never negative; null when absent.
    Duration,
    /// A string, null when absent or empty: any text, shared among the rows that repeat it
    /// (`host`, which the derived id and the per-host analysis read too).
    Label,
    /// A fixed check, a string of the vocabulary's values: `unknown` when absent.
    Check(Vocab),
    /// The extra checks, `map<string, string>`: null when there are none.
    Checks,
    /// Where the row came from, a string of `Source`'s values: set by the merge, not read.
    Source,
}

/// The values a fixed check takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocab {
    /// `CheckStatus`: a service check.
    Check,
    /// `AgentStatus`: a launch agent.
    Agent,
}

/// A column of the archive's canonical table (`parquet-exporter sqlite-ddl`).
#[derive(Debug, Clone, Copy)]
pub struct SqliteColumn {
    pub name: &'static str,
    /// The declared type, without `NOT NULL`.
    pub ty: &'static str,
    /// A table without it is refused, and the DDL declares it `NOT NULL`.
    pub required: bool,
    /// The DDL's comment on it; empty for none.
    pub note: &'static str,
}

impl SqliteColumn {
    const fn text(name: &'static str, note: &'static str) -> Self {
        SqliteColumn {
            name,
            ty: "TEXT",
            required: false,
            note,
        }
    }
}

/// Which of the writer's two threads builds and encodes a column: the split balances their
/// work and changes no byte of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    First,
    Second,
}

/// Number of columns in schema v1.
pub const COUNT: usize = COLUMNS.len();

const _: () = {
    let mut i = 0;
    while i < COUNT {
        assert!(
            COLUMNS[i].col as usize == i,
            "COLUMNS lists the columns in Col's order"
        );
        i += 1;
    }
};

impl Col {
    /// Every column, in file order.
    pub const ALL: [Col; COUNT] = {
        let mut all = [Col::RecordId; COUNT];
        let mut i = 0;
        while i < COUNT {
            all[i] = COLUMNS[i].col;
            i += 1;
        }
        all
    };

    pub const fn spec(self) -> &'static Column {
        &COLUMNS[self as usize]
    }

    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    pub const fn kind(self) -> Kind {
        self.spec().kind
    }

    /// The column named `name`.
    pub fn by_name(name: &str) -> Option<Col> {
        Col::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Columns that the derived layouts hold side by side.
#[derive(Clone, Copy)]
enum Group {
    /// Every column a source's record holds by name (all but the extra checks and `source`).
    Field,
}

impl Group {
    const fn holds(self, kind: Kind) -> bool {
        match self {
            Group::Field => !matches!(kind, Kind::Checks | Kind::Source),
        }
    }

    const fn len(self) -> usize {
        let (mut n, mut i) = (0, 0);
        while i < COUNT {
            if self.holds(COLUMNS[i].kind) {
                n += 1;
            }
            i += 1;
        }
        n
    }

    /// The group's columns, in file order (`N` is `len`).
    const fn members<const N: usize>(self) -> [Col; N] {
        let mut out = [Col::RecordId; N];
        let (mut n, mut i) = (0, 0);
        while i < COUNT {
            if self.holds(COLUMNS[i].kind) {
                out[n] = COLUMNS[i].col;
                n += 1;
            }
            i += 1;
        }
        assert!(n == N, "N is the group's length");
        out
    }
}

/// The record's own fields as sources name them (CONTRACT.md §1), extra checks aside.
pub const RECORD_FIELDS: [&str; Group::Field.len()] = {
    let cols: [Col; Group::Field.len()] = Group::Field.members();
    let mut names = [""; Group::Field.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = cols[i].name();
        i += 1;
    }
    names
};

/// The column a source's record holds in its field `name` (one of `RECORD_FIELDS`).
pub fn field_col(name: &[u8]) -> Option<Col> {
    Col::ALL
        .into_iter()
        .find(|c| Group::Field.holds(c.kind()) && c.name().as_bytes() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_schema_v1_in_file_order() {
        let names: Vec<&str> = Col::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "record_id",
                "report_type",
                "timestamp",
                "status",
                "duration_ms",
                "host",
                "redis_status",
                "database_status",
                "api_status",
                "launchagent_optimizer",
                "launchagent_digest",
                "checks",
                "source"
            ]
        );
        for c in Col::ALL {
            assert_eq!(Col::by_name(c.name()), Some(c));
        }
        assert_eq!(Col::by_name("ts"), None);
    }

    #[test]
    fn derived_layouts_follow_the_table() {
        assert_eq!(RECORD_FIELDS[..], Col::ALL.map(Col::name)[..11]);
        assert_eq!(field_col(b"timestamp"), Some(Col::Timestamp));
        assert_eq!(field_col(b"checks"), None, "extra checks are not a field");
        assert_eq!(field_col(b"source"), None, "no source says where it is");
    }
}
