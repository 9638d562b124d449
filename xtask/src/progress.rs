//! What the user sees while work runs: progress bars on a terminal, one plain
//! line per event otherwise (CI logs, pipes).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal as _;

/// One line about one object: `>>> ocaml 5.4.1: verified (cache)`.
pub fn say(object: &str, message: &str) {
    eprintln!(">>> {object}: {message}");
}

pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A byte-counting bar (size, rate, ETA) on a terminal; hidden otherwise.
pub fn bytes_bar(object: &str, total: Option<u64>) -> ProgressBar {
    if !interactive() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    };
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
