//! What the user sees while work runs: progress bars on a terminal, one plain
//! line per event otherwise (CI logs, pipes).

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::{IsTerminal as _, Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// All live lines share one terminal area, so concurrent builds each keep
/// their own line and plain messages print above them.
fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(MultiProgress::new)
}

/// One line about one object: `>>> ocaml 5.4.1: verified (cache)`.
pub(crate) fn say(object: &str, message: &str) {
    let line = format!(">>> {object}: {message}");
    if interactive() {
        multi().suspend(|| eprintln!("{line}"));
    } else {
        eprintln!("{line}");
    }
}

/// Runs `work` while, on a terminal, a live line for `object` shows the
/// last line of its log (elapsed time, current file). Off a terminal the
/// start and end lines printed by the caller are all there is.
pub(crate) fn following_log<T>(
    object: &str,
    log: &Path,
    work: impl FnOnce() -> Result<T>,
) -> Result<T> {
    if !interactive() {
        return work();
    }
    let bar = multi().add(ProgressBar::new_spinner());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>20} {spinner} {elapsed:>4} {wide_msg}")
    {
        bar.set_style(style);
    }
    bar.set_prefix(object.to_owned());
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_message(last_line(log));
                bar.tick();
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let result = work();
        done.store(true, Ordering::Relaxed);
        result
    });
    bar.finish_and_clear();
    result
}

/// The last non-empty line of a growing log, read from its end.
fn last_line(log: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(2048)));
    let mut tail = Vec::new();
    let _ = file.read_to_end(&mut tail);
    String::from_utf8_lossy(&tail)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .unwrap_or_default()
}

pub(crate) fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A byte-counting bar (size, rate, ETA) on a terminal; hidden otherwise.
pub(crate) fn bytes_bar(object: &str, total: Option<u64>) -> ProgressBar {
    if !interactive() {
        return ProgressBar::hidden();
    }
    let bar = multi().add(match total {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    });
    let template = if total.is_some() {
        "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{prefix:>12} {spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(object.to_owned());
    bar
}
