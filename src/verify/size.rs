//! How big a day file is, as `verify`, the summary and the deployment report show it, and the
//! size the ops team aims at.

/// The size the ops acceptance script aims at: 5 MB. A file over it is reported (a warning in
/// `verify`, the summary and the report), not refused: only a limit asked for refuses it.
pub const SIZE_TARGET_BYTES: u64 = 5_000_000;

/// The size as `verify` and the summary show it: against the limit when one is set, else
/// against the target.
pub fn size_line(bytes: u64, max_bytes: Option<u64>) -> String {
    match max_bytes {
        Some(max) => format!("{} (limit {})", human_size(bytes), mb(max)),
        None if bytes > SIZE_TARGET_BYTES => format!(
            "{} (over the {} target)",
            human_size(bytes),
            mb(SIZE_TARGET_BYTES)
        ),
        None => format!("{} (target {})", human_size(bytes), mb(SIZE_TARGET_BYTES)),
    }
}

/// A limit or target in MB, as typed (`5 MB`, `2.5 MB`).
pub fn mb(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb} MB")
    }
}

/// Bytes in decimal units (the size limit is in MB), with the exact count.
pub fn human_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.2} MB ({bytes} bytes)", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB ({bytes} bytes)", bytes as f64 / 1e3)
    }
}
