//! `schema` and `sqlite-ddl`: the output schema v1 as a table or JSON, and the SQLite DDL
//! that writers create the table with.

use std::io::Write;

use anyhow::Result;

use super::Exit;
use crate::config::UsageError;
use crate::{batch, source};

/// Schema v1, as a table (also atop a dry run's report) or as one JSON document.
pub(super) fn print_schema(json: bool, out: &mut impl Write) -> Result<()> {
    let schema = batch::schema();
    if json {
        let cols: Vec<_> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| serde_json::json!({"position": i + 1, "name": f.name(), "type": batch::type_name(f.data_type()), "nullable": f.is_nullable()}))
            .collect();
        let doc = serde_json::json!({"schema_version": batch::SCHEMA_VERSION, "fingerprint": crate::verify::fingerprint(&schema), "columns": cols});
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "schema v{} (fingerprint {})",
        batch::SCHEMA_VERSION,
        crate::verify::fingerprint(&schema)
    )?;
    writeln!(out, "{:>3}  {:<22} {:<22} nullable", "#", "column", "type")?;
    for (i, f) in schema.fields().iter().enumerate() {
        writeln!(
            out,
            "{:>3}  {:<22} {:<22} {}",
            i + 1,
            f.name(),
            batch::type_name(f.data_type()),
            if f.is_nullable() { "yes" } else { "no" }
        )?;
    }
    Ok(())
}

/// `sqlite-ddl`: the table and its `ts` index, for a table name SQLite can be given.
pub(super) fn print_ddl(table: &str, out: &mut impl Write) -> Result<Exit> {
    if !source::sqlite::valid_table_name(table) {
        return Err(UsageError(format!(
            "table name {table:?} is empty or holds control characters"
        ))
        .into());
    }
    write!(out, "{}", source::sqlite::ddl(table))?;
    Ok(Exit::Success)
}
