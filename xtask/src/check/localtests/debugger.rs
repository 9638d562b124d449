//! The `gdb` row: a debugger on a unikernel, as a user would debug one.
//! `tests/gdb/countdown.ml` is built with `-g` for QEMU, booted with the
//! installed runner's `--gdb PORT` (the guest waits before its first
//! instruction), and Debian's `gdb` (x86_64) or `gdb-multiarch` (arm64)
//! in batch mode sets a breakpoint on the program's OCaml function
//! `greet`, continues to it and prints the backtrace, which must name
//! `greet`, the module's entry and the runtime's `caml_program`, the
//! frames that called it.

use super::boot_check::Boots;
use super::{Run, Verdict};
use crate::context::Context;
use crate::target::{Arch, Backend, Bundle};
use anyhow::{Context as _, Result};
use ocaml_unikraft_toolchain::boot::vmm;
use ocaml_unikraft_toolchain::{layout, which};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `gdb` row of QEMU on `arch`.
pub(crate) fn gdb(
    ctx: &Context,
    prefix: &Path,
    arch: Arch,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    let bundle = Bundle::new(Backend::Qemu, arch, &[]);
    if let Some(reason) = boots.blocker(&bundle) {
        return Ok((Verdict::Skip(format!("not booted: {reason}")), None));
    }
    let gdb = vmm::debugger(arch);
    if which::on_path(gdb).is_none() {
        return Ok((
            Verdict::Skip(format!(
                "{gdb} is not installed (Debian: apt-get install {gdb})"
            )),
            None,
        ));
    }
    let dir = ctx.build_dir.join("tests/gdb").join(arch.unikraft());
    crate::util::fs::remove_if_present(&dir)?;
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(
        ctx.root.join("tests/gdb/countdown.ml"),
        dir.join("countdown.ml"),
    )?;
    crate::util::cmd::Cmd::new("ocamlfind")
        .args(["-toolchain", &crate::build::ocaml::toolchain_name(arch)])
        .args(["ocamlopt", "-g", "-cclib", "-z unikraft-backend=qemu"])
        .args(["-o", "countdown.exe", "countdown.ml"])
        .dir(&dir)
        .env("PATH", crate::build::host::user_path(ctx, prefix))
        .env("OCAMLFIND_CONF", crate::build::findlib::main_conf(prefix))
        .read(ctx.verbose)
        .context("building tests/gdb/countdown.ml")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut runner = Command::new(layout::runner(prefix))
        .args(["--timeout", &boots.timeout.as_secs().to_string()])
        .args(["--gdb", &port.to_string(), "countdown.exe"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running the installed runner")?;
    let said = drive(gdb, port, &dir.join("countdown.exe.dbg"));
    // `kill` in gdb ends QEMU, and the runner with it; a runner still there
    // after a while is stopped.
    let ended = Instant::now();
    while runner.try_wait()?.is_none() && ended.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = runner.kill();
    let console = runner.wait_with_output()?;
    let said = said?;
    let backtrace: Vec<&str> = said.lines().filter(|l| l.starts_with('#')).collect();
    let mut problems = Vec::new();
    if !said.contains("Breakpoint 1, ") {
        problems.push("the breakpoint on greet was not hit".to_string());
    }
    for frame in [
        "camlCountdown.greet_",
        "camlCountdown.entry",
        "caml_program",
    ] {
        if !backtrace.iter().any(|l| l.contains(frame)) {
            problems.push(format!("the backtrace does not name {frame}"));
        }
    }
    let run = Run {
        ending: format!("stopped in greet; {} frames", backtrace.len()),
        first_output: None,
    };
    if problems.is_empty() {
        return Ok((Verdict::Pass, Some(run)));
    }
    Ok((
        Verdict::Fail(format!(
            "{}\n{gdb} said:\n{said}\nthe runner said:\n{}{}",
            problems.join("\n"),
            String::from_utf8_lossy(&console.stdout),
            String::from_utf8_lossy(&console.stderr)
        )),
        Some(run),
    ))
}

/// Runs the debugger in batch mode against the stub on `port`, with the
/// symbols of `symbols` (the driver's unstripped image); what it printed.
/// QEMU may not listen yet when the runner has just started: the
/// connection is tried again for a while.
fn drive(gdb: &str, port: u16, symbols: &Path) -> Result<String> {
    let start = Instant::now();
    loop {
        let output = Command::new(gdb)
            .args(["-batch", "-nx"])
            .args(["-ex", "set pagination off"])
            .args(["-ex", &format!("target remote 127.0.0.1:{port}")])
            // The function's symbol ends with a number the compiler gives.
            .args(["-ex", "rbreak camlCountdown\\.greet_"])
            .args(["-ex", "continue"])
            .args(["-ex", "bt"])
            .args(["-ex", "kill"])
            .arg(symbols)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {gdb}"))?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !said.contains("Connection refused") || start.elapsed() > Duration::from_secs(20) {
            return Ok(said);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
