//! Read-back validation of an exported file: footer, codecs, schema v1, row counts, order,
//! uniqueness, day bounds and allowed values. The export's own read-back uses this same code.
//! `file` checks one file (its rows in `passes`), `footer` reads a file's footer within
//! bounds, `folder` checks a set of files together, `render` prints the result and `size`
//! says how big a file is against the target.

mod file;
mod folder;
mod footer;
mod passes;
mod render;
mod size;

pub use file::{check_file, check_staged, fingerprint, stage_checked, FileCheck};
pub use folder::{
    day_file_zones, day_of_name, relative_files, verify_paths, DayRange, VerifyReport,
};
pub use footer::{open_for_reading, read_footer, LEGACY_COLUMNS};
pub use render::{render_ranges, render_text};
pub use size::{human_size, mb, size_line, SIZE_TARGET_BYTES};
