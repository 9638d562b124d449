//! The `linux` rows: an example's native build run on this machine, which
//! shows that the expected files are what the program does on Linux.

use super::compare::compare;
use super::expected::Expected;
use super::{Run, Verdict};
use anyhow::{bail, Context as _, Result};
use ocaml_unikraft_toolchain::boot::console::{self, Transcript};
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs a native build of an example on this machine, in `dir` when
/// given; killed at `timeout`, it timed out, as a unikernel would.
pub(crate) fn run(
    exe: &Path,
    expected: &Expected,
    timeout: Duration,
    dir: Option<&Path>,
) -> Result<(Verdict, Option<Run>)> {
    run_program(exe, &expected.args, expected, timeout, dir)
}

/// Runs `program` with `args` on this machine (in `dir` when given) and
/// judges its output and status against `expected`.
pub(crate) fn run_program<S: AsRef<std::ffi::OsStr>>(
    exe: &Path,
    args: &[S],
    expected: &Expected,
    timeout: Duration,
    dir: Option<&Path>,
) -> Result<(Verdict, Option<Run>)> {
    let start = Instant::now();
    let mut command = duct::cmd(exe, args);
    for var in expected.env_now() {
        if let Some((name, value)) = var.split_once('=') {
            command = command.env(name, value);
        }
    }
    if let Some(dir) = dir {
        command = command.dir(dir);
    }
    let handle = command
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .start()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let mut timed_out = false;
    let output = loop {
        if let Some(output) = handle.try_wait()? {
            break output.clone();
        }
        if start.elapsed() > timeout {
            handle.kill()?;
            timed_out = true;
            break handle.wait()?.clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let ending = match output.status.code() {
        _ if timed_out => console::Ending::Timeout(timeout),
        Some(code) => console::ending_of_exit(code as u8, &text),
        // Killed by a signal: what a shell reports, and what a unikernel
        // whose program a signal ended reports too.
        None => match std::os::unix::process::ExitStatusExt::signal(&output.status) {
            Some(signal) => console::ending_of_exit((128 + signal) as u8, &text),
            None => bail!(
                "{} ended without a status ({})",
                exe.display(),
                output.status
            ),
        },
    };
    let transcript = Transcript {
        ending,
        output: text,
    };
    Ok((
        compare(&transcript, expected),
        Some(Run {
            ending: transcript.ending.describe(),
            first_output: None,
        }),
    ))
}
