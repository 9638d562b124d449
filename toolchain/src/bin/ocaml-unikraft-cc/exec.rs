//! Running external programs: argv lists, never a shell; `__V=1` echo.

use crate::error::Error;
use ocaml_unikraft_toolchain::quote;
use std::ffi::OsString;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};

/// Exit status when a program cannot be found (as in the shell).
const NOT_FOUND: i32 = 127;
/// Exit status when a program exists but cannot be run.
const CANNOT_RUN: i32 = 126;

pub struct Executor {
    /// Print each command before running it.
    verbose: bool,
}

/// `__V` set to anything but empty or `0` turns the echo on (Unikraft's
/// build uses `V=1` in the same sense).
pub fn verbose_from_env() -> bool {
    std::env::var_os("__V").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A child's status as our exit status: its code, or 128+signal.
pub fn status_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => 1,
    }
}

/// What to install to get `program`, as a `help:` line.
pub fn install_hint(program: &str) -> String {
    let base = program.rsplit('/').next().unwrap_or(program);
    for (prefix, pkg_arch) in [
        ("aarch64-linux-gnu-", "aarch64-linux-gnu"),
        ("x86_64-linux-gnu-", "x86-64-linux-gnu"),
    ] {
        if let Some(tool) = base.strip_prefix(prefix) {
            let pkg = if tool == "gcc" || tool == "cpp" {
                "gcc"
            } else {
                "binutils"
            };
            return format!("install {pkg}-{pkg_arch} (Debian/Ubuntu)");
        }
    }
    match base {
        "gcc" | "cc" => "install gcc".to_owned(),
        "python3" => "install python3".to_owned(),
        "ar" | "as" | "ld" | "nm" | "objcopy" | "objdump" | "ranlib" | "readelf" | "strip" => {
            "install binutils".to_owned()
        }
        _ => format!("check that '{base}' is installed and on PATH"),
    }
}

impl Executor {
    pub fn new(verbose: bool) -> Self {
        Executor { verbose }
    }

    fn command(&self, argv: &[OsString]) -> Result<Command, Error> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| Error::config("internal error: empty command"))?;
        if self.verbose {
            eprintln!("{}", quote::join(argv));
        }
        let mut cmd = Command::new(program);
        cmd.args(args);
        Ok(cmd)
    }

    fn spawn_error(&self, argv: &[OsString], e: io::Error) -> Error {
        let program = argv
            .first()
            .map(|p| p.to_string_lossy())
            .unwrap_or_default();
        let status = if e.kind() == io::ErrorKind::NotFound {
            NOT_FOUND
        } else {
            CANNOT_RUN
        };
        // io::Error's Display adds " (os error 2)"; say it the way tools do.
        let reason = match e.raw_os_error() {
            Some(_) if e.kind() == io::ErrorKind::NotFound => {
                "No such file or directory".to_owned()
            }
            Some(_) if e.kind() == io::ErrorKind::PermissionDenied => {
                "Permission denied".to_owned()
            }
            _ => e.to_string(),
        };
        Error::config(format!("cannot run '{program}': {reason}"))
            .with_help(install_hint(&program))
            .with_status(status)
    }

    /// Run and wait; returns the exit status as [`status_code`] does.
    pub fn run(&self, argv: &[OsString]) -> Result<i32, Error> {
        let status = self
            .command(argv)?
            .status()
            .map_err(|e| self.spawn_error(argv, e))?;
        Ok(status_code(status))
    }

    /// Replace this process with the command: no extra process to wait for,
    /// and the caller sees the child's status or signal as is. Returns only
    /// on failure.
    pub fn exec(&self, argv: &[OsString]) -> Error {
        match self.command(argv) {
            Ok(mut cmd) => {
                let e = cmd.exec();
                self.spawn_error(argv, e)
            }
            Err(e) => e,
        }
    }

    /// Run the commands in order, stopping at the first failure. A single
    /// command is exec'd.
    pub fn run_all(&self, commands: &[Vec<OsString>]) -> Result<i32, Error> {
        if let [only] = commands {
            return Err(self.exec(only));
        }
        for argv in commands {
            let code = self.run(argv)?;
            if code != 0 {
                return Ok(code);
            }
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints() {
        let cases = [
            (
                "aarch64-linux-gnu-gcc",
                "install gcc-aarch64-linux-gnu (Debian/Ubuntu)",
            ),
            (
                "aarch64-linux-gnu-ar",
                "install binutils-aarch64-linux-gnu (Debian/Ubuntu)",
            ),
            (
                "x86_64-linux-gnu-objcopy",
                "install binutils-x86-64-linux-gnu (Debian/Ubuntu)",
            ),
            ("/usr/bin/gcc", "install gcc"),
            ("python3", "install python3"),
            ("strip", "install binutils"),
            ("mkimage", "check that 'mkimage' is installed and on PATH"),
        ];
        for (program, want) in cases {
            assert_eq!(install_hint(program), want);
        }
    }

    #[test]
    fn statuses() {
        let run = |script: &str| {
            status_code(
                Command::new("sh")
                    .args(["-c", script])
                    .status()
                    .expect("sh runs"),
            )
        };
        assert_eq!(run("exit 0"), 0);
        assert_eq!(run("exit 3"), 3);
        assert_eq!(run("kill -TERM $$"), 128 + 15);
    }

    #[test]
    fn missing_program() {
        let runner = Executor::new(false);
        let argv = vec![OsString::from("/nonexistent/aarch64-linux-gnu-gcc")];
        let err = runner.run(&argv).expect_err("cannot run");
        assert_eq!(
            err.message,
            "cannot run '/nonexistent/aarch64-linux-gnu-gcc': No such file or directory"
        );
        assert_eq!(
            err.help.as_deref(),
            Some("install gcc-aarch64-linux-gnu (Debian/Ubuntu)")
        );
        assert_eq!(err.status, 127);
    }
}
