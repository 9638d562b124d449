//! What every MirageOS example's test shares: the runner started as a
//! user starts it (a process group of its own, its output collected), a
//! free port for QEMU to listen on, and the verdict of a row.

use crate::check::table::{Run, Verdict};
use anyhow::{Context as _, Result};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A pass when nothing is wrong; else a fail listing `problems` above the
/// end of the console. The row's outcome is `ending`.
pub(super) fn judged(problems: &[String], output: &str, ending: String) -> (Verdict, Option<Run>) {
    let verdict = if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!("{}\n{}", problems.join("\n"), tail(output)))
    };
    (verdict, Some(run(ending)))
}

pub(super) fn ending_of(status: Option<i32>) -> String {
    match status {
        Some(code) => format!("exit {code}"),
        None => "killed".to_string(),
    }
}

/// A port of 127.0.0.1 free a moment ago, for QEMU to listen on.
pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(super) fn run(ending: String) -> Run {
    Run {
        ending,
        first_output: None,
    }
}

/// The last lines of a console, for a failure's message.
pub(super) fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(15)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A runner started in a process group of its own, so that stopping it
/// stops its VMM too; its stdout and stderr are collected as they come.
pub(crate) struct Vm {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Vm {
    pub(crate) fn start(
        runner: &Path,
        image: &Path,
        options: &[std::ffi::OsString],
        args: &[&str],
        timeout: Duration,
    ) -> Result<Vm> {
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new(runner);
        command
            .arg("--timeout")
            .arg(timeout.as_secs_f64().to_string())
            .args(options)
            .arg(image)
            .arg("--")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {}", runner.display()))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().context("no stdout")?),
            Box::new(child.stderr.take().context("no stderr")?),
        ];
        for mut stream in streams {
            let output = Arc::clone(&output);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut all) = output.lock() {
                        all.extend_from_slice(&buf[..n]);
                    }
                }
            }));
        }
        Ok(Vm {
            child,
            output,
            readers,
        })
    }

    pub(crate) fn output(&self) -> String {
        let bytes = self.output.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub(crate) fn running(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// Waits until the guest has logged `line`; an error if it ends or
    /// `timeout` passes first.
    pub(crate) fn wait_for_log(&mut self, line: &str, timeout: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        while !self.output().contains(line) {
            if !self.running()? || std::time::Instant::now() > deadline {
                anyhow::bail!("the guest never logged `{line}`");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The row of a server checked from the host: `checked` is what the
    /// checks found while the VM served. The VM is stopped if it still
    /// runs; a pass needs it to have run until then.
    pub(super) fn judge_served(
        mut self,
        checked: Result<()>,
    ) -> Result<(Verdict, Option<Run>, String)> {
        let running = self.running()?;
        if running {
            self.stop()?;
        }
        let output = self.output();
        let (verdict, ending) = match checked {
            Ok(()) if running => (Verdict::Pass, "served, then stopped"),
            Ok(()) => (
                Verdict::Fail(format!("the VM ended while serving:\n{}", tail(&output))),
                "ended by itself",
            ),
            Err(err) => (
                Verdict::Fail(format!("{err:#}\n{}", tail(&output))),
                "stopped",
            ),
        };
        Ok((verdict, Some(run(ending.into())), output))
    }

    /// Stops the runner and its VMM (SIGTERM to their process group).
    pub(crate) fn stop(&mut self) -> Result<()> {
        // The group's id is the runner's pid (`process_group(0)`).
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        self.wait_for_end()?;
        Ok(())
    }

    /// Waits for the runner to end by itself (it stops the VMM at its own
    /// `--timeout`); its status and everything it printed.
    pub(crate) fn wait(mut self) -> Result<(Option<i32>, String)> {
        let status = self.wait_for_end()?;
        Ok((status, self.output()))
    }

    fn wait_for_end(&mut self) -> Result<Option<i32>> {
        let status = self.child.wait()?;
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        Ok(status.code())
    }
}
