//! Progress bars for long work (indicatif). Bars draw on a terminal only, and never when
//! [`set_quiet`] was called (`--quiet`), so logs and tests stay clean. Every bar joins one
//! process-wide [`MultiProgress`], so bars of parallel jobs (`reproduce --jobs N`) stack instead
//! of overwriting each other; print through [`println()`] while bars are shown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);
static MULTI: OnceLock<MultiProgress> = OnceLock::new();

fn multi() -> &'static MultiProgress {
    MULTI.get_or_init(MultiProgress::new)
}

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
    multi().add(pb)
}

/// Print a line to stderr above the bars.
pub fn println(line: &str) {
    multi().suspend(|| eprintln!("{line}"));
}
