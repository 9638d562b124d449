//! The one error type: a message, an optional `help:` line and the exit
//! status the driver ends with.

use std::fmt;

/// Exit status for configuration problems (bad backend, broken descriptor,
/// bad driver options): distinct from the compiler's own failures (1).
pub const CONFIG: i32 = 2;

#[derive(Debug, PartialEq, Eq)]
pub struct Error {
    pub message: String,
    pub help: Option<String>,
    pub status: i32,
}

impl Error {
    /// A configuration error (exit status 2).
    pub fn config(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            help: None,
            status: CONFIG,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_status(mut self, status: i32) -> Self {
        self.status = status;
        self
    }

    /// Print as `<prog>: <message>` and, if any, `help: <help>` to stderr.
    pub fn report(&self, prog: &str) {
        eprintln!("{prog}: {self}");
        if let Some(help) = &self.help {
            eprintln!("help: {help}");
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
