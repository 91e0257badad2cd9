//! Opening paths the tool does not own outright: a lock is never opened through a symbolic
//! link, and nothing read or written here ever blocks on a FIFO or device that stands where a
//! regular file is expected.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// The process's file mode creation mask, read once. Reading it means setting it (`umask(2)`
/// has no query), so `main` calls this before any thread starts; a library caller that has
/// not gets it read on first use.
pub fn umask() -> u32 {
    static MASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MASK.get_or_init(|| {
        // SAFETY: umask only swaps the process's mask; it is put back at once.
        let old = unsafe { libc::umask(0o022) };
        unsafe { libc::umask(old) };
        // mode_t is u32 on Linux and u16 on macOS.
        #[allow(clippy::useless_conversion)]
        u32::from(old)
    })
}

/// The mode a new output file gets: read and write for whoever the umask allows, as for any
/// file a program creates (0644 under the usual umask 022, 0600 under 077), so that files and
/// the directories created for them follow one rule.
pub fn file_mode() -> u32 {
    0o666 & !umask()
}

/// What stands at a path where a regular file was expected, for messages: "a FIFO", "a
/// directory", "a symbolic link".
pub fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// The error for `path` when what stands there is not a regular file.
fn not_regular(path: &Path, meta: &std::fs::Metadata) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is {}, not a regular file",
            path.display(),
            kind_of(meta)
        ),
    )
}

/// Opens `path` for reading, and only if it is a regular file (a symbolic link to one is
/// fine). The open itself cannot block: `O_NONBLOCK` makes opening a FIFO with no writer
/// return at once, and the file type is then checked on the open descriptor, so a FIFO, a
/// device or a directory is refused before anything reads from it.
pub fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(file)
}

/// Opens `path` for reading only if it is a regular file and not a symbolic link
/// (`O_NOFOLLOW`), without blocking on a FIFO: for files moved or copied out of a tree others
/// can write to, which must not lead the copy to a file elsewhere.
pub fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(file)
}

/// Opens the directory `path` to hold a lock on it; only a directory (through a link is fine:
/// where the out dir lives is the operator's choice).
pub fn open_dir(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
        .open(path)
}

/// How much text `read_text` takes from a config file, summary or report: far more than any
/// of them holds.
pub const TEXT_LIMIT: u64 = 16 << 20;

/// The text of the regular file at `path`, refused past `limit` bytes: config files, summaries
/// and legacy reports are read whole, so a huge or endless one must not be.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

/// The bytes of the regular file at `path` (a CA certificate, a config file), refused past
/// `limit` bytes, and refused at once, without blocking, when it is a FIFO or a device.
pub fn read_bytes(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {limit} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

/// Whether `path` is a regular file (through links), without opening it: for paths another
/// library opens itself (SQLite), so that a FIFO is refused before that library blocks on it.
/// A missing path is `Ok` for the caller's own open to report.
pub fn ensure_regular_or_missing(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(meta) => Err(not_regular(path, &meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Fails unless every directory from below `base` down to `dir` is a real directory, not a
/// symbolic link: the directories a run creates inside its out dir must not lead outside it.
/// (`base` itself may be a link: that is the operator's choice of where the data lives.)
pub fn ensure_real_dirs(base: &Path, dir: &Path) -> io::Result<()> {
    let Ok(below) = dir.strip_prefix(base) else {
        return Ok(());
    };
    let mut at = base.to_path_buf();
    for part in below.components() {
        at.push(part);
        let meta = std::fs::symlink_metadata(&at)?;
        if !meta.file_type().is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is {}, not a directory of this exporter's; refusing to write through it",
                    at.display(),
                    kind_of(&meta)
                ),
            ));
        }
    }
    Ok(())
}

/// Opens (creating it 0644 if need be) `path` for reading and writing, never through a
/// symbolic link and only if it is a regular file: a lock file in a directory that others can
/// write must not become a way to truncate or lock a file elsewhere.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        // O_NOFOLLOW on a link fails with ELOOP: say what is there, not "too many links".
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            let meta = std::fs::symlink_metadata(path)?;
            return Err(not_regular(path, &meta));
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    }

    #[test]
    fn a_lock_is_never_opened_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let lock = dir.path().join("lock");
        std::os::unix::fs::symlink(&victim, &lock).unwrap();
        let err = open_lock_file(&lock).unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        // A dangling link is refused too, and creates nothing at its target.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("made"), &dangling).unwrap();
        assert!(open_lock_file(&dangling).is_err());
        assert!(!dir.path().join("made").exists());
    }

    #[test]
    fn a_lock_on_a_fifo_or_directory_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = open_lock_file(&fifo).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        let err = open_lock_file(dir.path()).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
        open_lock_file(&dir.path().join("new")).expect("a new lock file is created");
    }

    #[test]
    fn a_linked_partition_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(out.join("day=2025-10-29")).unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), out.join("day=2025-10-30"))
            .unwrap();
        assert!(ensure_real_dirs(&out, &out.join("day=2025-10-29")).is_ok());
        let err = ensure_real_dirs(&out, &out.join("day=2025-10-30")).unwrap_err();
        assert!(err.to_string().contains("a symbolic link"), "{err}");
        assert!(ensure_real_dirs(&out, &out).is_ok());
    }

    #[test]
    fn reading_a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("day.parquet");
        mkfifo(&fifo);
        let err = open_regular(&fifo).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        assert!(ensure_regular_or_missing(&fifo).is_err());
        assert!(ensure_regular_or_missing(&dir.path().join("missing")).is_ok());
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(open_regular(&file).is_ok());
        assert!(ensure_regular_or_missing(&file).is_ok());
    }
}
