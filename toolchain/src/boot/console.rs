//! What a guest's serial console tells: the program's own output, and how
//! the program ended.
//!
//! Our bundles end every program with the line `ocaml-unikraft: exit status
//! N boot=TOKEN` (backends/app/exit.c): the console is the one channel every
//! VMM has. TOKEN is new on every boot and reaches the guest as a Unikraft
//! library parameter, never through the program's argv, so a program that
//! prints such a line itself cannot fake its status. The status counts only
//! when the guest really ended: the genuine line is the last thing on the
//! console (Unikraft's own informational messages aside) and the VMM exited
//! by itself. A VM that stops otherwise has crashed; one that never stops
//! has timed out, whatever it printed. The OCaml runtime reports an uncaught
//! exception with a `Fatal error: exception ...` line and status 2.

use std::time::Duration;

/// The beginning of the line the guest prints last (see exit.c).
pub const STATUS_LINE: &str = "ocaml-unikraft: exit status ";
/// The kernel command line parameter that carries the token (exit.c's
/// `token` in library `libocamlexit`).
pub const TOKEN_PARAMETER: &str = "libocamlexit.token";

/// `cargo xtask run`'s status when the guest crashed (as a shell reports an
/// aborted process: 128 + SIGABRT).
pub const CRASH_STATUS: u8 = 134;
/// `cargo xtask run`'s status when the guest did not stop in time (as
/// coreutils' `timeout`).
pub const TIMEOUT_STATUS: u8 = 124;
/// `cargo xtask run`'s status when the VMM could not be run at all.
pub const RUN_ERROR_STATUS: u8 = 125;

/// A fresh token for one boot: 32 hex digits from the kernel's random
/// source.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// How the program in the guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// `exit n`, or the end of the program (0).
    Exit(u8),
    /// The OCaml runtime's report of an uncaught exception, then status 2.
    UncaughtException,
    /// The VM stopped without reporting a status.
    Crash,
    /// The VM was still running at the deadline and was killed.
    Timeout(Duration),
    /// A stop signal (SIGINT, SIGTERM, SIGHUP) to the runner stopped the VM.
    Stopped(i32),
}

impl Ending {
    /// The status `cargo xtask run` exits with.
    pub fn status(&self) -> u8 {
        match self {
            Ending::Exit(code) => *code,
            Ending::UncaughtException => 2,
            Ending::Crash => CRASH_STATUS,
            Ending::Timeout(_) => TIMEOUT_STATUS,
            Ending::Stopped(signal) => 128u8.saturating_add(*signal as u8),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Ending::Exit(code) => format!("exit status {code}"),
            Ending::UncaughtException => "uncaught exception (status 2)".into(),
            Ending::Crash => format!("crash (status {CRASH_STATUS})"),
            Ending::Timeout(after) => format!(
                "timeout after {:.0} s (status {TIMEOUT_STATUS})",
                after.as_secs_f64()
            ),
            Ending::Stopped(signal) => format!(
                "stopped by {} (status {})",
                signal_name(*signal),
                self.status()
            ),
        }
    }
}

/// A stop signal's name.
fn signal_name(signal: i32) -> String {
    match signal {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        other => format!("signal {other}"),
    }
}

/// What a guest prints when it runs out of memory: Unikraft's page-fault
/// handler finding no free page (demand paging, ukvmem), and the OCaml
/// runtime's fatal errors when `malloc` or a heap reservation fails.
const OUT_OF_MEMORY_MARKS: [&str; 4] = [
    "Out of memory (12)",
    "Fatal error: not enough memory",
    "Fatal error: allocation failure during minor GC",
    "Not enough heap memory to reserve minor heaps",
];

/// Whether the console shows the guest out of memory.
pub fn out_of_memory(output: &str) -> bool {
    OUT_OF_MEMORY_MARKS.iter().any(|mark| output.contains(mark))
}

/// A console read back: what the program printed, and how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Transcript {
    /// The console with LF for the serial line's CRLF, without Unikraft's
    /// banner, the status line and anything the platform printed after it.
    pub output: String,
    pub ending: Ending,
}

/// How a console read back came to an end, and whether it is whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cut {
    /// The console from its first byte (else its tail: no banner to strip).
    pub from_start: bool,
    /// The deadline, if the VMM had to be killed at it.
    pub killed_after: Option<Duration>,
    /// The stop signal, if one stopped the VM.
    pub stopped_by: Option<i32>,
}

/// Reads a console, all of it or its tail (the verdict needs only the
/// end). `token` is the boot's token.
pub fn read(console: &str, token: &str, cut: Cut) -> Transcript {
    let console = console.replace("\r\n", "\n");
    let console = match cut.from_start {
        true => strip_banner(&console),
        false => console,
    };
    if let Some(signal) = cut.stopped_by {
        return Transcript {
            output: console,
            ending: Ending::Stopped(signal),
        };
    }
    let killed_after = cut.killed_after;
    let Some(line) = genuine_status_line(&console, token) else {
        return Transcript {
            output: console,
            ending: match killed_after {
                Some(after) => Ending::Timeout(after),
                None => Ending::Crash,
            },
        };
    };
    let before = &console[..line.start];
    let after = &console[line.end..];
    let ending = if let Some(after) = killed_after {
        Ending::Timeout(after)
    } else if after
        .lines()
        .all(|l| l.trim().is_empty() || is_kernel_info(l))
    {
        ending_of_exit(line.code, before)
    } else {
        // Something ran after the program's exit: a crash while powering off.
        return Transcript {
            output: format!("{before}{after}"),
            ending: Ending::Crash,
        };
    };
    Transcript {
        output: before.to_string(),
        ending,
    }
}

/// Where the guest's own status line lies in a console, and its status.
struct StatusLine {
    start: usize,
    /// Just after its newline.
    end: usize,
    code: u8,
}

fn genuine_status_line(console: &str, token: &str) -> Option<StatusLine> {
    console.rmatch_indices(STATUS_LINE).find_map(|(start, _)| {
        let rest = &console[start + STATUS_LINE.len()..];
        let line = &rest[..rest.find('\n')?];
        let code = parse_genuine(line, token)?;
        Some(StatusLine {
            start,
            end: start + STATUS_LINE.len() + line.len() + 1,
            code,
        })
    })
}

/// The status in what follows `STATUS_LINE` on a line, if the line carries
/// `token`.
fn parse_genuine(line: &str, token: &str) -> Option<u8> {
    let (digits, line_token) = line.split_once(" boot=")?;
    (line_token == token && !token.is_empty())
        .then(|| digits.parse::<u8>().ok())
        .flatten()
}

/// Whether a console line is one of Unikraft's informational kernel
/// messages (`[    0.123456] Info: [lib] ...`, the time stamp optional),
/// which debug builds print while powering off.
fn is_kernel_info(line: &str) -> bool {
    let plain = strip_ansi(line);
    let message = match plain.strip_prefix('[') {
        Some(stamped) => stamped.split_once("] ").map_or("", |(_, message)| message),
        None => &plain,
    };
    message.starts_with("Info: [")
}

/// The levels of the kernel messages that bundles built with the debug
/// option print and the others do not (theirs print `ERR:` and `CRIT:`
/// only, and those stay: they tell of trouble).
const DEBUG_LEVELS: &[&str] = &["Info: ", "Warn: "];

/// Removes the `Info:` and `Warn:` kernel messages of Unikraft's ukdebug
/// (lib/ukdebug/print.c) from a console: each from its header, `[` time
/// stamp `] ` level, then optionally `[library] ` and `<file @ line> `, to
/// the end of its line. Unikraft starts a message wherever the console
/// is, even within a line of the program's, so only the message is cut
/// there. Lines of the program's own never carry the header unless the
/// program prints one itself.
pub fn strip_kernel_messages(console: &str) -> String {
    let mut out = String::with_capacity(console.len());
    let mut rest = console;
    while let Some(at) = rest.find('[') {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match kernel_message_header(from) {
            Some(_) => {
                let end = from.find('\n').map_or(from.len(), |n| n + 1);
                rest = &from[end..];
            }
            None => {
                out.push('[');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of the debug-level kernel message header `text` starts
/// with, if it starts with one: `[%5u.%06u] `, a level of
/// [`DEBUG_LEVELS`], then `[library] ` and `<file @ %4u> ` when present.
fn kernel_message_header(text: &str) -> Option<usize> {
    let stamp = text.strip_prefix('[')?;
    let (seconds, stamp) = stamp.split_once('.')?;
    let (micros, after) = stamp.split_once("] ")?;
    let seconds = seconds.trim_start_matches(' ');
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(seconds) || micros.len() != 6 || !digits(micros) {
        return None;
    }
    let level = DEBUG_LEVELS.iter().find(|l| after.starts_with(*l))?;
    let mut header = &after[level.len()..];
    if let Some(library) = header.strip_prefix('[') {
        let (name, tail) = library.split_once("] ")?;
        if name.contains(char::is_whitespace) {
            return None;
        }
        header = tail;
    }
    if let Some(source) = header.strip_prefix('<') {
        let (place, tail) = source.split_once("> ")?;
        let (_, line) = place.split_once(" @ ")?;
        if !digits(line.trim_start_matches(' ')) {
            return None;
        }
        header = tail;
    }
    Some(text.len() - header.len())
}

/// How a program that exited with `code` ended, given what it printed.
pub fn ending_of_exit(code: u8, output: &str) -> Ending {
    let uncaught = output
        .lines()
        .any(|line| line.starts_with("Fatal error: exception "));
    if code == 2 && uncaught {
        Ending::UncaughtException
    } else {
        Ending::Exit(code)
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

/// The longest a genuine status line can be: the marker, three digits,
/// ` boot=`, the token (32 hex digits), with room to spare.
const MAX_STATUS_LINE: usize = 128;

/// Passes console bytes through as they come, as a Linux program's output
/// would look: the serial line's CRLF becomes LF, and the guest's own
/// status line (the one carrying the boot's token) is dropped. Holds back
/// only what may be the beginning of either.
pub struct ConsoleFilter {
    token: String,
    pending: Vec<u8>,
    /// A carriage return that may be the first half of CRLF.
    carriage_return: bool,
}

impl ConsoleFilter {
    pub fn new(token: &str) -> ConsoleFilter {
        ConsoleFilter {
            token: token.to_string(),
            pending: Vec::new(),
            carriage_return: false,
        }
    }

    /// Takes the next bytes from the console, returns what can be shown now.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        // Copy the runs between carriage returns whole; a CR is dropped
        // when a LF follows it, possibly in the next chunk.
        let mut rest = bytes;
        while !rest.is_empty() {
            if std::mem::take(&mut self.carriage_return) && rest[0] != b'\n' {
                self.pending.push(b'\r');
            }
            match memchr::memchr(b'\r', rest) {
                Some(at) => {
                    self.pending.extend_from_slice(&rest[..at]);
                    self.carriage_return = true;
                    rest = &rest[at + 1..];
                }
                None => {
                    self.pending.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        let marker = STATUS_LINE.as_bytes();
        let mut shown = Vec::new();
        loop {
            match find(&self.pending, marker) {
                Some(at) => {
                    shown.extend_from_slice(&self.pending[..at]);
                    match memchr::memchr(b'\n', &self.pending[at..]) {
                        // The whole line has come: drop it if it is the
                        // guest's own, show it if the program printed it.
                        Some(end) => {
                            let line = &self.pending[at + marker.len()..at + end];
                            let genuine = std::str::from_utf8(line)
                                .ok()
                                .and_then(|line| parse_genuine(line, &self.token))
                                .is_some();
                            if !genuine {
                                shown.extend_from_slice(&self.pending[at..at + end + 1]);
                            }
                            self.pending.drain(..at + end + 1);
                        }
                        // A line longer than any genuine one is the
                        // program's: show it rather than hold it back
                        // without bound.
                        None if self.pending.len() - at > MAX_STATUS_LINE => {
                            shown.extend_from_slice(&self.pending[at..at + marker.len()]);
                            self.pending.drain(..at + marker.len());
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
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests;
