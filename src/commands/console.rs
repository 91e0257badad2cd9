//! What a run shows on the terminal besides its report: log lines on stderr that never land on
//! the progress bar's line, the progress bar itself, and a standard output that a reader may
//! close early.

use std::io::{IsTerminal, Write};

/// The progress bar on stderr while one is drawn, so that log lines are written above it and
/// never onto its line (`LogOut`).
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// Shows `bar` to the log writer until dropped.
pub(super) struct ShownBar;

impl ShownBar {
    pub(super) fn set(bar: Option<indicatif::ProgressBar>) -> ShownBar {
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = bar;
        ShownBar
    }
}

impl Drop for ShownBar {
    fn drop(&mut self) {
        *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// A progress bar for a run over `days` days, at a terminal only.
pub(super) fn progress_bar(days: usize) -> Option<indicatif::ProgressBar> {
    (std::io::stderr().is_terminal() && days > 1).then(|| {
        let bar = indicatif::ProgressBar::new(days as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} days {msg}")
                .expect("valid template"),
        );
        bar
    })
}

/// Where log lines go: stderr, with a progress bar being drawn there cleared first and drawn
/// again after the line. The subscriber writes each event in one call.
pub struct LogOut;

impl Write for LogOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Standard output that a reader may close early (`| head`): once the pipe is closed, the rest
/// is dropped rather than turning a run whose outputs are already published into "failed".
/// Every other write error still fails, and says it was standard output that failed: a full
/// disk under a redirected `> report.txt` must not read as a bare "No space left on device".
pub struct ClosedPipeOk<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> ClosedPipeOk<W> {
    pub fn new(inner: W) -> Self {
        ClosedPipeOk {
            inner,
            closed: false,
        }
    }

    fn guard(&mut self, r: std::io::Result<usize>, len: usize) -> std::io::Result<usize> {
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                if !self.closed {
                    tracing::warn!("standard output was closed by its reader; the rest of the report is not printed");
                }
                self.closed = true;
                Ok(len)
            }
            Err(e) => Err(std::io::Error::new(
                e.kind(),
                format!("writing standard output: {e}"),
            )),
            r => r,
        }
    }
}

impl<W: Write> Write for ClosedPipeOk<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let r = self.inner.write(buf);
        self.guard(r, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = self.inner.flush().map(|()| 0);
        self.guard(r, 0).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard output redirected to a full disk.
    struct FullDisk;

    impl Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        }
    }

    #[test]
    fn a_full_disk_under_standard_output_says_it_was_standard_output() {
        let mut out = ClosedPipeOk::new(FullDisk);
        for err in [
            out.write_all(b"report").unwrap_err(),
            out.flush().unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(text.starts_with("writing standard output: "), "{text}");
            assert!(text.contains("No space left on device"), "{text}");
            assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
        }
    }
}
