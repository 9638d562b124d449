//! The `runner_stop` rows: the installed `ocaml-unikraft-run` as a service
//! host, on each plain QEMU bundle. It boots `forged_hang` (a program that
//! never ends) with no deadline, once for each stop signal: once the
//! program's first line is out, the signal goes to the runner, which must
//! exit 128 + the signal with no QEMU left; then once more, killed with
//! SIGKILL, after which QEMU must be gone too.

use super::Verdict;
use crate::check::table::Run;
use anyhow::{bail, Context as _, Result};
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The example that serves forever.
pub(crate) const EXAMPLE: &str = "forged_hang";

/// What the runner's stop must take at most: its grace for the VMM, and
/// room for a loaded machine.
const STOP_WITHIN: Duration = Duration::from_secs(15);

/// Boots `image` with `runner` once per stop signal and once for SIGKILL.
pub(crate) fn check(
    runner: &Path,
    image: &Path,
    boot_within: Duration,
) -> Result<(Verdict, Option<Run>)> {
    let mut outcomes = Vec::new();
    for (signal, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGKILL, "SIGKILL"),
    ] {
        if let Some(problem) = stop_once(runner, image, signal, name, boot_within)? {
            return Ok((Verdict::Fail(problem), None));
        }
        outcomes.push(name);
    }
    Ok((
        Verdict::Pass,
        Some(Run {
            ending: format!("stopped by {}", outcomes.join(", ")),
            first_output: None,
        }),
    ))
}

/// One boot stopped by `signal`; what went wrong, if anything.
fn stop_once(
    runner: &Path,
    image: &Path,
    signal: i32,
    name: &str,
    boot_within: Duration,
) -> Result<Option<String>> {
    let mut child = Command::new(runner)
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run {}", runner.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (lines, first_line) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let started = first_line.recv_timeout(boot_within);
    let vmms = children_of(child.id());
    let outcome = match started {
        Ok(Ok(_)) if vmms.is_empty() => Some("no VMM process under the runner".to_string()),
        Ok(Ok(_)) => stop_and_check(&mut child, signal, name, &vmms)?,
        _ => Some(format!(
            "the program printed nothing within {} s",
            boot_within.as_secs()
        )),
    };
    let _ = child.kill();
    let _ = child.wait();
    Ok(outcome)
}

fn stop_and_check(
    child: &mut Child,
    signal: i32,
    name: &str,
    vmms: &[u32],
) -> Result<Option<String>> {
    // SAFETY: kill(2) on our own child's pid.
    if unsafe { libc::kill(child.id() as libc::pid_t, signal) } != 0 {
        bail!("cannot send {name} to the runner");
    }
    let asked = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if asked.elapsed() > STOP_WITHIN {
            return Ok(Some(format!(
                "the runner was still running {} s after {name}",
                STOP_WITHIN.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wanted = match signal {
        libc::SIGKILL => None,
        _ => Some(128 + signal),
    };
    if status.code() != wanted {
        return Ok(Some(format!(
            "{name}: the runner ended with {status}, not {wanted:?}"
        )));
    }
    // The VMM goes down with the runner (after SIGKILL, through the
    // kernel's parent-death signal): give the kernel a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while vmms.iter().any(|pid| alive(*pid)) {
        if Instant::now() > deadline {
            return Ok(Some(format!(
                "{name}: the VMM (pid {vmms:?}) outlived the runner"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(None)
}

/// The pids of a process's children, from `/proc`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// A process's state letter and parent pid.
fn stat_fields(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether a process runs (a zombie does not).
fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(state, _)| state != 'Z')
}
