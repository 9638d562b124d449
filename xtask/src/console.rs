//! What a guest's serial console tells: the program's own output, and how
//! the program ended.
//!
//! Our bundles end every program with the line `ocaml-unikraft: exit status
//! N` (backends/app/exit.c): the console is the one channel every VMM has.
//! A VM that stops without that line has crashed; one that never stops has
//! timed out. The OCaml runtime reports an uncaught exception with a
//! `Fatal error: exception ...` line and status 2.

use std::time::Duration;

/// The line the guest prints last, before its status (see exit.c).
pub const STATUS_LINE: &str = "ocaml-unikraft: exit status ";

/// `cargo xtask run`'s status when the guest crashed (as a shell reports an
/// aborted process: 128 + SIGABRT).
pub const CRASH_STATUS: u8 = 134;
/// `cargo xtask run`'s status when the guest did not stop in time (as
/// coreutils' `timeout`).
pub const TIMEOUT_STATUS: u8 = 124;
/// `cargo xtask run`'s status when the VMM could not be run at all.
pub const RUN_ERROR_STATUS: u8 = 125;

/// How the program in the guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `exit n`, or the end of the program (0).
    Exit(u8),
    /// The OCaml runtime's report of an uncaught exception, then status 2.
    UncaughtException,
    /// The VM stopped without reporting a status.
    Crash,
    /// The VM was still running at the deadline and was killed.
    Timeout(Duration),
}

impl Outcome {
    /// The status `cargo xtask run` exits with.
    pub fn status(&self) -> u8 {
        match self {
            Outcome::Exit(code) => *code,
            Outcome::UncaughtException => 2,
            Outcome::Crash => CRASH_STATUS,
            Outcome::Timeout(_) => TIMEOUT_STATUS,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Outcome::Exit(code) => format!("exit status {code}"),
            Outcome::UncaughtException => "uncaught exception (status 2)".into(),
            Outcome::Crash => format!("crash (status {CRASH_STATUS})"),
            Outcome::Timeout(after) => format!(
                "timeout after {:.0} s (status {TIMEOUT_STATUS})",
                after.as_secs_f64()
            ),
        }
    }
}

/// A console read back: what the program printed, and how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// The console with LF for the serial line's CRLF, without Unikraft's
    /// banner, the status line and anything the platform printed after it.
    pub output: String,
    pub outcome: Outcome,
}

/// Reads a whole console. `killed_after` is the deadline if the VMM had to
/// be killed.
pub fn read(console: &str, killed_after: Option<Duration>) -> Report {
    let console = strip_banner(&console.replace("\r\n", "\n"));
    let status = console.rmatch_indices(STATUS_LINE).find_map(|(at, _)| {
        let rest = &console[at + STATUS_LINE.len()..];
        let digits = rest.split('\n').next()?;
        let code = digits.parse::<u8>().ok()?;
        rest[digits.len()..].starts_with('\n').then_some((at, code))
    });
    match status {
        Some((at, code)) => {
            let output = console[..at].to_string();
            Report {
                outcome: exit_outcome(code, &output),
                output,
            }
        }
        None => Report {
            output: console,
            outcome: match killed_after {
                Some(after) => Outcome::Timeout(after),
                None => Outcome::Crash,
            },
        },
    }
}

/// How a program that exited with `code` ended, given what it printed.
pub fn exit_outcome(code: u8, output: &str) -> Outcome {
    let uncaught = output
        .lines()
        .any(|line| line.starts_with("Fatal error: exception "));
    if code == 2 && uncaught {
        Outcome::UncaughtException
    } else {
        Outcome::Exit(code)
    }
}

/// Removes the banner Unikraft prints before anything else, in each of its
/// styles (our bundles turn it off; a user's configuration may not).
pub fn strip_banner(console: &str) -> String {
    let plain = strip_ansi(console);
    let banner_lines = if plain.starts_with("Powered by Unikraft ") {
        1 // the minimal style
    } else if plain.starts_with("Powered by\n") {
        7 // "Powered by", five lines of art, codename and version
    } else if plain.starts_with("Welcome to ") {
        5 // the classic style: four lines of art, then the version
    } else {
        return console.to_string();
    };
    plain.split_inclusive('\n').skip(banner_lines).collect()
}

/// Removes ANSI escape sequences (`ESC [ ... letter`): the coloured banner
/// styles use them.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Passes console bytes through as they come, as a Linux program's output
/// would look: the serial line's CRLF becomes LF, and the status line is
/// dropped. Holds back only what may be the beginning of either.
#[derive(Default)]
pub struct ConsoleFilter {
    pending: Vec<u8>,
    /// A carriage return that may be the first half of CRLF.
    carriage_return: bool,
}

impl ConsoleFilter {
    /// Takes the next bytes from the console, returns what can be shown now.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        for &byte in bytes {
            if std::mem::take(&mut self.carriage_return) && byte != b'\n' {
                self.pending.push(b'\r');
            }
            if byte == b'\r' {
                self.carriage_return = true;
            } else {
                self.pending.push(byte);
            }
        }
        let marker = STATUS_LINE.as_bytes();
        let mut shown = Vec::new();
        loop {
            match find(&self.pending, marker) {
                Some(at) => {
                    shown.extend_from_slice(&self.pending[..at]);
                    match self.pending[at..].iter().position(|&b| b == b'\n') {
                        // The whole line has come: drop it.
                        Some(end) => {
                            self.pending.drain(..at + end + 1);
                        }
                        // Wait for the rest of it.
                        None => {
                            self.pending.drain(..at);
                            return shown;
                        }
                    }
                }
                None => {
                    // Hold back the longest tail that could start the marker.
                    let keep = (1..marker.len().min(self.pending.len() + 1))
                        .rev()
                        .find(|&n| self.pending.ends_with(&marker[..n]))
                        .unwrap_or(0);
                    let cut = self.pending.len() - keep;
                    shown.extend(self.pending.drain(..cut));
                    return shown;
                }
            }
        }
    }

    /// What was held back when the console closed.
    pub fn finish(mut self) -> Vec<u8> {
        if self.carriage_return {
            self.pending.push(b'\r');
        }
        self.pending
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests;
