//! Running external programs.
//!
//! Every argument is its own argv entry (never a shell string). A failure
//! names the command as it could be pasted into a shell, its status, the log
//! holding its output and the last lines of that output, and says what to try.

use anyhow::{bail, Context as _, Result};
use std::ffi::{OsStr, OsString};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    /// CPU seconds of the build commands this thread has waited for. A
    /// step's work runs on one thread, so the difference over the work is
    /// its CPU (see [`crate::util::step`]).
    static CHILD_CPU: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

/// CPU seconds of every [`Cmd::run_build`] this thread has waited for.
pub(crate) fn child_cpu_seconds() -> f64 {
    CHILD_CPU.with(std::cell::Cell::get)
}

thread_local! {
    /// The niceness [`Cmd::run_build`] starts commands with on this thread:
    /// set by a step for its work ([`with_niceness`]).
    static NICENESS: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// Runs `work` with every build command it starts on this thread at
/// `niceness` (0 is the usual priority, 19 the lowest).
pub(crate) fn with_niceness<T>(niceness: i32, work: impl FnOnce() -> T) -> T {
    let before = NICENESS.with(|n| n.replace(niceness));
    let result = work();
    NICENESS.with(|n| n.set(before));
    result
}

#[derive(Clone, Debug)]
pub(crate) struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    dir: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    env_removed: Vec<OsString>,
}

impl Cmd {
    pub(crate) fn new(program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            dir: None,
            env: Vec::new(),
            env_removed: Vec::new(),
        }
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub(crate) fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Cmd {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub(crate) fn dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.dir = Some(dir.as_ref().to_owned());
        self
    }

    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The command without `key` in its environment.
    pub(crate) fn env_remove(mut self, key: impl AsRef<OsStr>) -> Cmd {
        self.env_removed.push(key.as_ref().to_owned());
        self
    }

    /// The command with each placeholder replaced by its path in `places`
    /// (placeholder, path). A recipe is built before it runs, naming the
    /// paths of one build (trees, staging directories) with placeholders
    /// written `${name}`: it then reads the same in every build directory,
    /// as a stamp key must, and can name paths that do not exist yet.
    pub(crate) fn resolve(&self, places: &[(&str, &Path)]) -> Result<Cmd> {
        let fill = |arg: &OsString| {
            fill_placeholders(arg, places).map_err(|placeholder| {
                anyhow::anyhow!(
                    "command {} has placeholder {placeholder} but no path for it",
                    self.display()
                )
            })
        };
        Ok(Cmd {
            program: fill(&self.program)?,
            args: self.args.iter().map(fill).collect::<Result<_>>()?,
            ..self.clone()
        })
    }

    /// The command as a user would type it.
    pub(crate) fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn expression(&self) -> duct::Expression {
        let mut expr = duct::cmd(&self.program, &self.args);
        if let Some(dir) = &self.dir {
            expr = expr.dir(dir);
        }
        for (key, value) in &self.env {
            expr = expr.env(key, value);
        }
        for key in &self.env_removed {
            expr = expr.env_remove(key);
        }
        expr
    }

    /// Runs the command, capturing its output; returns stdout. On failure the
    /// error carries stderr.
    pub(crate) fn read(&self, verbose: bool) -> Result<String> {
        self.echo(verbose);
        let output = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|err| self.spawn_error(err))?;
        if !output.status.success() {
            bail!(
                "command failed ({}): {}\n{}",
                output.status,
                self.display(),
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs a long build command with all its output appended to `log`.
    /// GNU make children share `jobserver`'s tokens; with a `cancel` flag,
    /// the command is killed once it is set (another bundle failed under
    /// `--fail-fast`).
    pub(crate) fn run_build(
        &self,
        log: &Path,
        verbose: bool,
        jobserver: &jobserver::Client,
        cancel: Option<&AtomicBool>,
    ) -> Result<()> {
        let cpu = self.run_logged(log, verbose, Some(jobserver), cancel)?;
        CHILD_CPU.with(|total| total.set(total.get() + cpu));
        Ok(())
    }

    /// Runs a command that keeps its own job budget (a whole localbuild),
    /// its output appended to `log`; returns the CPU seconds it and its
    /// descendants used.
    pub(crate) fn run_timed(&self, log: &Path, verbose: bool) -> Result<f64> {
        self.run_logged(log, verbose, None, None)
    }

    fn run_logged(
        &self,
        log: &Path,
        verbose: bool,
        jobserver: Option<&jobserver::Client>,
        cancel: Option<&AtomicBool>,
    ) -> Result<f64> {
        self.echo(verbose);
        crate::util::fs::create_parent(log)?;
        // Appended: a build is several commands writing one log.
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let mut command = std::process::Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        if let Some(dir) = &self.dir {
            command.current_dir(dir);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for key in &self.env_removed {
            command.env_remove(key);
        }
        if let Some(jobserver) = jobserver {
            jobserver.configure_make(&mut command);
            let niceness = NICENESS.with(std::cell::Cell::get);
            if niceness > 0 {
                use std::os::unix::process::CommandExt as _;
                // SAFETY: setpriority is a plain system call, safe between
                // fork and exec; it changes the child only, and its
                // children inherit it.
                unsafe {
                    command.pre_exec(move || {
                        libc::setpriority(libc::PRIO_PROCESS, 0, niceness);
                        Ok(())
                    });
                }
            }
        }
        let child = command.spawn().map_err(|err| self.spawn_error(err))?;
        let (status, cpu) = wait_with_cpu(child.id(), cancel)?;
        self.check_logged(&status, log)?;
        Ok(cpu)
    }

    /// Starts the command and returns a reader of its stdout; reading to the
    /// end reports a failing status as an error.
    pub(crate) fn reader(&self, verbose: bool) -> Result<duct::ReaderHandle> {
        self.echo(verbose);
        self.expression()
            .stderr_capture()
            .reader()
            .map_err(|err| self.spawn_error(err))
    }

    fn check_logged(&self, status: &std::process::ExitStatus, log: &Path) -> Result<()> {
        if !status.success() {
            bail!(
                "command failed ({status}): {}\nlast lines of {}:\n{}\nhelp: the full output is in {}",
                self.display(),
                log.display(),
                log_tail(log, 15),
                log.display()
            );
        }
        Ok(())
    }

    fn echo(&self, verbose: bool) {
        if verbose {
            eprintln!("+ {}", self.display());
        }
    }

    fn spawn_error(&self, err: std::io::Error) -> anyhow::Error {
        let program = self.program.to_string_lossy();
        // A program named with a slash is run from that path, not looked
        // for on PATH.
        let by_path = program.contains('/');
        match err.kind() {
            std::io::ErrorKind::NotFound if !by_path => anyhow::anyhow!(
                "cannot run '{program}': not found on PATH\nhelp: `cargo xtask doctor` lists what to install"
            ),
            std::io::ErrorKind::NotFound if !Path::new(program.as_ref()).exists() => {
                anyhow::anyhow!("cannot run '{program}': no such file")
            }
            _ => anyhow::anyhow!("cannot run '{program}': {err}"),
        }
    }
}

/// Waits for the child `pid` and returns its status and the CPU time it and
/// its descendants used (what `time` reports), killing it when `cancel` is
/// set. std's `Child::wait` does not report CPU time; `wait4` does.
fn wait_with_cpu(pid: u32, cancel: Option<&AtomicBool>) -> Result<(std::process::ExitStatus, f64)> {
    use std::os::unix::process::ExitStatusExt as _;
    let pid = libc::pid_t::try_from(pid).context("process id out of range")?;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain data that wait4 fills in; the pointers are
        // valid for the call.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let cancelled = cancel.is_some_and(|flag| flag.load(Ordering::Relaxed));
        if cancelled {
            // SAFETY: pid is our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let flags = if cancelled { 0 } else { libc::WNOHANG };
        // SAFETY: as above.
        let reaped = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if reaped == pid {
            if cancelled {
                bail!("stopped because another build failed (--fail-fast)");
            }
            let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
            return Ok((std::process::ExitStatus::from_raw(status), cpu));
        }
        if reaped < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err).context("waiting for a build command");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `arg` with each `${name}` replaced by its path in `places`; the first
/// placeholder missing from `places`, if any.
fn fill_placeholders(arg: &OsStr, places: &[(&str, &Path)]) -> Result<OsString, String> {
    let Some(mut rest) = arg.to_str().filter(|text| text.contains("${")) else {
        return Ok(arg.to_owned());
    };
    let mut filled = OsString::new();
    while let Some(start) = rest.find("${") {
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |i| start + i + 1);
        let placeholder = &rest[start..end];
        let (_, path) = places
            .iter()
            .find(|(known, _)| *known == placeholder)
            .ok_or_else(|| placeholder.to_owned())?;
        filled.push(&rest[..start]);
        filled.push(path);
        rest = &rest[end..];
    }
    filled.push(rest);
    Ok(filled)
}

/// The last `lines` lines of a log file, for error messages.
pub(crate) fn log_tail(log: &Path, lines: usize) -> String {
    let Ok(file) = std::fs::File::open(log) else {
        return String::from("(no log)");
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A word as a POSIX shell reads it back (the driver's quoting, shared).
pub(crate) fn shell_quote(arg: &str) -> String {
    ocaml_unikraft_toolchain::quote::quote(std::ffi::OsStr::new(arg)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_round_trips_through_a_shell() {
        for arg in [
            "plain-arg",
            "",
            "two words",
            "it's",
            "$HOME",
            "a\"b",
            "-DX=\"y\"",
        ] {
            let echoed = Cmd::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(arg)))
                .read(false)
                .unwrap();
            assert_eq!(echoed, arg);
        }
        assert_eq!(shell_quote("-I/usr/include"), "-I/usr/include");
    }

    #[test]
    fn failure_names_the_command_and_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("logs/fail.log");
        let jobserver = jobserver::Client::new(1).unwrap();
        let err = Cmd::new("sh")
            .args(["-c", "echo first; echo last-line; exit 3"])
            .run_build(&log, false, &jobserver, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exit status: 3"), "{err}");
        assert!(
            err.contains("sh -c 'echo first; echo last-line; exit 3'"),
            "{err}"
        );
        assert!(err.contains("last-line"), "{err}");
        assert!(err.contains(&log.display().to_string()), "{err}");
    }

    #[test]
    fn build_commands_run_at_the_niceness_of_their_step() {
        let dir = tempfile::tempdir().unwrap();
        let jobserver = jobserver::Client::new(1).unwrap();
        let niceness_of = |log: &str| {
            let log = dir.path().join(log);
            Cmd::new("sh")
                .args(["-c", "nice"])
                .run_build(&log, false, &jobserver, None)
                .unwrap();
            std::fs::read_to_string(log)
                .unwrap()
                .trim()
                .parse::<i32>()
                .unwrap()
        };
        let usual = niceness_of("usual.log");
        let lowered = with_niceness(usual + 7, || niceness_of("lowered.log"));
        assert_eq!(lowered, usual + 7);
        assert_eq!(niceness_of("after.log"), usual, "only for the work given");
    }

    #[test]
    fn build_commands_report_their_cpu_time_to_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let jobserver = jobserver::Client::new(1).unwrap();
        let stamp = crate::util::step::Stamp::new(dir.path().join("stamp"));
        crate::util::step::run_step(dir.path(), "busy", &stamp, "k", || {
            Cmd::new("sh")
                .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
                .run_build(&dir.path().join("busy.log"), false, &jobserver, None)
        })
        .unwrap();
        let timings = std::fs::read_to_string(dir.path().join("timings.jsonl")).unwrap();
        let record: serde_json::Value = serde_json::from_str(timings.trim()).unwrap();
        let cpu = record["cpu_seconds"].as_f64().unwrap();
        assert!(cpu > 0.05, "cpu {cpu} s for a busy loop");
        assert!(cpu <= record["wall_seconds"].as_f64().unwrap() * 1.05 + 0.01);
    }

    #[test]
    fn cancelling_stops_a_running_build_command() {
        let dir = tempfile::tempdir().unwrap();
        let jobserver = jobserver::Client::new(1).unwrap();
        let cancel = AtomicBool::new(false);
        let start = std::time::Instant::now();
        let err = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(300));
                cancel.store(true, Ordering::Relaxed);
            });
            Cmd::new("sleep")
                .arg("30")
                .run_build(
                    &dir.path().join("sleep.log"),
                    false,
                    &jobserver,
                    Some(&cancel),
                )
                .unwrap_err()
        });
        assert!(err.to_string().contains("--fail-fast"), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn placeholders_become_paths_and_a_missing_one_is_an_error() {
        let recipe = Cmd::new("${tree}/configure")
            .arg("--prefix=${prefix}")
            .arg("DESTDIR=${tree}/a ${tree}/b");
        let tree = Path::new("/build/tree");
        let resolved = recipe
            .resolve(&[("${tree}", tree), ("${prefix}", Path::new("/opt/x"))])
            .unwrap();
        assert_eq!(
            resolved.display(),
            "/build/tree/configure --prefix=/opt/x 'DESTDIR=/build/tree/a /build/tree/b'"
        );
        let err = recipe.resolve(&[("${tree}", tree)]).unwrap_err();
        assert!(err.to_string().contains("${prefix}"), "{err}");
    }

    #[test]
    fn missing_program_says_what_to_do() {
        let err = Cmd::new("no-such-program-here").read(false).unwrap_err();
        assert!(err.to_string().contains("not found on PATH"), "{err}");
        assert!(err.to_string().contains("cargo xtask doctor"), "{err}");
    }

    #[test]
    fn a_missing_program_given_by_path_is_no_such_file() {
        let err = Cmd::new("/nonexistent/tool").read(false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot run '/nonexistent/tool': no such file"
        );
    }
}
