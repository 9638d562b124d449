//! Booting unikernels: the VMM command line for each backend and arch, and
//! a run with a timeout that records the console output and when it began.

use crate::backends::{Arch, Backend};
use anyhow::{Context as _, Result};
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a boot produced.
#[derive(Debug)]
pub struct Boot {
    /// Everything the guest wrote on its serial console.
    pub console: String,
    /// What the VMM itself reported (warnings, errors).
    pub vmm_stderr: String,
    /// The VMM's exit status; `None` when it was killed at the timeout.
    pub status: Option<i32>,
    /// From VMM start to the first console byte.
    pub first_output: Option<Duration>,
    pub elapsed: Duration,
}

const SERCON_FW_CFG: &str = "etc/sercon-port";

/// The QEMU command line that boots `image` with `args` on `arch`, on the
/// software CPU (works everywhere; KVM is not required).
pub fn qemu(arch: Arch, image: &Path, args: &[String]) -> Command {
    let mut cmd = match arch {
        Arch::X86_64 => {
            let mut cmd = Command::new("qemu-system-x86_64");
            cmd.args(["-m", "64M"]);
            // Without a display SeaBIOS writes its banner to the serial
            // console; this fw_cfg entry (SeaBIOS's own name for it, hence
            // QEMU's warning below) turns that off.
            cmd.args(["-fw_cfg", &format!("name={SERCON_FW_CFG},string=0")]);
            cmd
        }
        Arch::Arm64 => {
            let mut cmd = Command::new("qemu-system-aarch64");
            cmd.args(["-machine", "virt", "-cpu", "max", "-m", "128M"]);
            cmd
        }
    };
    cmd.args([
        "-accel",
        "tcg",
        "-nographic",
        "-nodefaults",
        "-serial",
        "stdio",
        "-kernel",
    ])
    .arg(image);
    if !args.is_empty() {
        cmd.arg("-append").arg(args.join(" "));
    }
    cmd
}

/// Why a backend cannot boot here, if it cannot.
pub fn unavailable(backend: Backend, arch: Arch) -> Option<String> {
    match backend {
        Backend::Qemu => {
            let program = match arch {
                Arch::X86_64 => "qemu-system-x86_64",
                Arch::Arm64 => "qemu-system-aarch64",
            };
            crate::doctor::find_in(&std::env::var_os("PATH").unwrap_or_default(), program)
                .is_none()
                .then(|| format!("{program} is not installed"))
        }
        Backend::Firecracker => {
            if crate::doctor::find_in(&std::env::var_os("PATH").unwrap_or_default(), "firecracker")
                .is_none()
            {
                Some("firecracker is not installed".into())
            } else if std::env::consts::ARCH != arch.gnu_name() {
                Some(format!(
                    "firecracker runs only {} guests on this host",
                    std::env::consts::ARCH
                ))
            } else {
                Some("firecracker boots are not implemented yet".into())
            }
        }
    }
}

/// Runs `cmd`, killing it after `timeout`.
pub fn boot(mut cmd: Command, timeout: Duration) -> Result<Boot> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("cannot run '{program}'\nhelp: `cargo xtask doctor` lists what to install")
        })?;
    let first = Arc::new(Mutex::new(None));
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let first_seen = Arc::clone(&first);
    let reader = std::thread::spawn(move || {
        let mut console = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            if console.is_empty() {
                if let Ok(mut seen) = first_seen.lock() {
                    *seen = Some(start.elapsed());
                }
            }
            console.extend_from_slice(&buf[..n]);
        }
        console
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    let console = reader.join().unwrap_or_default();
    let vmm_stderr: String = errors
        .join()
        .unwrap_or_default()
        .lines()
        .filter(|l| !(l.contains(SERCON_FW_CFG) && l.contains("should be prefixed")))
        .map(|l| format!("{l}\n"))
        .collect();
    let console = String::from_utf8_lossy(&console).replace('\r', "");
    let first_output = first.lock().ok().and_then(|f| *f);
    Ok(Boot {
        console,
        vmm_stderr,
        status,
        first_output,
        elapsed,
    })
}
