//! Progress bars for long work (indicatif). Bars draw on a terminal only, and never when
//! [`set_quiet`] was called (`--quiet`), so logs and tests stay clean.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Turn every progress bar off (or back on).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// True when bars are off.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A bar of `len` steps labelled `msg` (hidden when quiet).
pub fn bar(len: u64, msg: impl Into<String>) -> ProgressBar {
    if is_quiet() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:<32} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {prefix}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(msg.into());
    pb
}
