//! Booting unikernels: the VMM command line for each backend and arch, and a
//! run with a timeout that records the console, and when it began.

use crate::arch::Arch;
use crate::backend::Backend;
use crate::boot::console::{self, ConsoleFilter, Transcript};
use crate::boot::devices::Devices;
use crate::which;
use anyhow::{bail, Context as _, Result};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One unikernel to boot.
pub struct Launch<'a> {
    pub backend: Backend,
    pub arch: Arch,
    pub image: &'a Path,
    /// The program's arguments (`Sys.argv` from index 1).
    pub args: &'a [String],
    /// Memory, network and disk.
    pub devices: &'a Devices,
}

/// What a boot produced.
#[derive(Debug)]
pub struct Boot {
    /// Everything the guest wrote on its serial console.
    pub console: String,
    /// The token the guest's status line must carry (see [`console`]).
    pub token: String,
    /// What the VMM itself reported (warnings, errors).
    pub vmm_stderr: String,
    /// The VMM's exit status; `None` when it was killed at the deadline.
    pub vmm_status: Option<i32>,
    /// The deadline, when the VMM had to be killed.
    pub killed_after: Option<Duration>,
    /// From VMM start to the first console byte.
    pub first_output: Option<Duration>,
    pub program: String,
}

impl Boot {
    /// The program's output and how it ended; an error when the VMM itself
    /// failed (it could not start, or the host cannot run the guest).
    pub fn transcript(&self) -> Result<Transcript> {
        let transcript = console::read(&self.console, &self.token, self.killed_after);
        if transcript.ending == console::Ending::Crash && self.vmm_status != Some(0) {
            bail!(
                "{} failed (status {}) before the guest reported an exit status{}",
                self.program,
                self.vmm_status.map_or("unknown".into(), |s| s.to_string()),
                match self.vmm_stderr.trim() {
                    "" => String::new(),
                    text => format!(":\n{text}"),
                }
            );
        }
        Ok(transcript)
    }
}

/// What to do when a VMM is missing. The runner is also used outside the
/// ocaml-unikraft repository, where `cargo xtask doctor` cannot be run.
pub const INSTALL_HELP: &str = "help: install the VMM (QEMU: Debian/Ubuntu packages qemu-system-x86 and qemu-system-arm); in the ocaml-unikraft repository, `cargo xtask doctor` checks every prerequisite";

const SERCON_FW_CFG: &str = "etc/sercon-port";

/// QEMU's default x86_64 CPU model plus 1 GiB pages.
const X86_64_CPU: &str = "qemu64,+pdpe1gb";

/// The QEMU command line that boots `launch` with accelerator `accel`: the
/// software CPU (`tcg`) works everywhere, KVM is not required. `token` goes
/// to the guest's status line (see [`console`]).
fn qemu(launch: &Launch, accel: &str, token: &str) -> Result<Command> {
    let mut cmd = match launch.arch {
        Arch::X86_64 => {
            let mut cmd = Command::new("qemu-system-x86_64");
            // Without a display SeaBIOS writes its banner to the serial
            // console; this fw_cfg entry (SeaBIOS's own name for it, hence
            // QEMU's warning, filtered out below) turns that off.
            cmd.args(["-fw_cfg", &format!("name={SERCON_FW_CFG},string=0")]);
            // The bundles page on demand (ukvmem), and Unikraft's x86_64
            // paging needs 1 GiB pages, which QEMU's default CPU model
            // lacks (every x86_64 CPU of the last fifteen years has them).
            cmd.args(["-cpu", X86_64_CPU]);
            cmd
        }
        Arch::Arm64 => {
            let mut cmd = Command::new("qemu-system-aarch64");
            cmd.args(["-machine", "virt", "-cpu", "max"]);
            cmd
        }
    };
    cmd.args(["-m", &format!("{}M", launch.devices.memory_mib())]);
    cmd.args(launch.devices.qemu_args(launch.arch)?);
    // A guest that resets (a triple fault, a crash on some platforms) ends
    // QEMU instead of booting again.
    cmd.args(["-accel", accel, "-no-reboot", "-nographic", "-nodefaults"]);
    cmd.args(["-serial", "stdio", "-kernel"]).arg(launch.image);
    // QEMU puts the image's name in front of the x86 command line, and
    // Unikraft its own name on arm64: both become argv[0].
    cmd.arg("-append")
        .arg(kernel_arguments(&[], launch.args, token)?);
    Ok(cmd)
}

/// Firecracker's VM configuration for `launch`, as JSON.
///
/// On x86_64 Unikraft takes the boot arguments as they are for argv, so
/// they start with a program name (the image's file name, as QEMU gives);
/// on arm64 Unikraft puts its own name in front.
pub fn firecracker_config(launch: &Launch, token: &str) -> Result<String> {
    let mut program_name = Vec::new();
    if launch.arch == Arch::X86_64 {
        let name = launch
            .image
            .file_name()
            .map_or("unikernel".into(), |n| n.to_string_lossy());
        program_name.push(name.into_owned());
    }
    let (drives, interfaces) = launch.devices.firecracker_entries()?;
    let config = serde_json::json!({
        "boot-source": {
            "kernel_image_path": launch.image,
            "boot_args": kernel_arguments(&program_name, launch.args, token)?,
        },
        "drives": drives,
        "network-interfaces": interfaces,
        "machine-config": {
            "vcpu_count": 1,
            "mem_size_mib": launch.devices.memory_mib(),
        },
    });
    Ok(serde_json::to_string_pretty(&config)?)
}

/// The Firecracker command line for `launch`; its configuration and log go
/// to `scratch`. The log keeps Firecracker's own messages off the console.
fn firecracker(launch: &Launch, scratch: &Path, token: &str) -> Result<Command> {
    let config = scratch.join("vm.json");
    std::fs::write(&config, firecracker_config(launch, token)?)?;
    let mut cmd = Command::new("firecracker");
    cmd.arg("--no-api")
        .arg("--config-file")
        .arg(&config)
        .arg("--log-path")
        .arg(firecracker_log(scratch));
    Ok(cmd)
}

fn firecracker_log(scratch: &Path) -> PathBuf {
    scratch.join("firecracker.log")
}

/// The kernel command line: `program_name` (where the VMM does not supply
/// argv[0] itself), the token as a Unikraft library parameter, `--` that
/// ends the library parameters, then the program's arguments. Unikraft
/// hands the program only argv[0] and what follows `--`.
fn kernel_arguments(program_name: &[String], args: &[String], token: &str) -> Result<String> {
    let mut words = program_name.to_vec();
    words.push(format!("{}={token}", console::TOKEN_PARAMETER));
    words.push("--".into());
    words.extend(args.iter().cloned());
    command_line(&words)
}

/// Joins arguments into a kernel command line that Unikraft splits back
/// into the same words: plain words as they are, others single-quoted
/// (nothing is special inside), or double-quoted with `\"` and `\\` when
/// they contain a single quote.
pub fn command_line(args: &[String]) -> Result<String> {
    let mut words = Vec::new();
    for arg in args {
        if arg.is_empty() {
            bail!("Unikraft's command line cannot carry an empty argument");
        }
        let plain = arg
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | '\\'));
        words.push(if plain {
            arg.clone()
        } else if !arg.contains('\'') {
            format!("'{arg}'")
        } else {
            format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
        });
    }
    Ok(words.join(" "))
}

/// Why a backend cannot boot here, if it cannot.
pub fn unavailable(backend: Backend, arch: Arch) -> Option<String> {
    match backend {
        Backend::Qemu => {
            let program = match arch {
                Arch::X86_64 => "qemu-system-x86_64",
                Arch::Arm64 => "qemu-system-aarch64",
            };
            which::on_path(program)
                .is_none()
                .then(|| format!("{program} is not installed"))
        }
        Backend::Firecracker => {
            if std::env::consts::ARCH != arch.gnu() {
                Some(format!(
                    "Firecracker runs only {} guests on this host",
                    std::env::consts::ARCH
                ))
            } else if which::on_path("firecracker").is_none() {
                Some("firecracker is not installed".into())
            } else if let Err(err) = open_kvm() {
                Some(format!("/dev/kvm cannot be opened ({err})"))
            } else {
                None
            }
        }
    }
}

/// Opens `/dev/kvm` as a VMM does, for reading and writing: an error says
/// why no VMM can use KVM here (`NotFound`: the host has no `/dev/kvm`).
/// Whether KVM really runs a guest is [`kvm_problem`]'s question.
pub fn open_kvm() -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
}

/// Why KVM cannot run unikernels here although `/dev/kvm` opens, if it
/// cannot (some hosts offer a KVM that fails on real guests): boots
/// `probe`, a QEMU x86_64 image of a program that exits 0, with QEMU on KVM.
pub fn kvm_problem(probe: &Path) -> Option<String> {
    let launch = Launch {
        backend: Backend::Qemu,
        arch: Arch::X86_64,
        image: probe,
        args: &[],
        devices: &Devices::default(),
    };
    let scratch = tempfile::tempdir().ok()?;
    let result = console::new_token()
        .map_err(anyhow::Error::from)
        .and_then(|token| {
            let cmd = qemu(&launch, "kvm", &token)?;
            run_vmm(
                cmd,
                &launch,
                &token,
                scratch.path(),
                Duration::from_secs(5),
                false,
            )
        });
    let boot = match result {
        Ok(boot) => boot,
        Err(err) => return Some(format!("QEMU could not use KVM: {err:#}")),
    };
    let internal_error = boot.vmm_stderr.contains("KVM internal error");
    match boot.transcript() {
        Ok(transcript) if transcript.ending == console::Ending::Exit(0) => None,
        _ if internal_error => Some(
            "KVM here fails on a unikernel (QEMU on KVM: \"KVM internal error\", emulation failure)"
                .into(),
        ),
        Ok(transcript) => Some(format!(
            "KVM here does not run a unikernel (a C hello on QEMU with KVM: {})",
            transcript.ending.describe()
        )),
        Err(err) => Some(format!("KVM here does not run a unikernel: {err:#}")),
    }
}

/// Boots `launch`, killing the VMM after `timeout`. With `echo`, the
/// console goes to stdout as it comes (see [`ConsoleFilter`]).
pub fn boot(launch: &Launch, timeout: Duration, echo: bool) -> Result<Boot> {
    let scratch = tempfile::tempdir()?;
    let token = console::new_token().context("drawing the boot's token from /dev/urandom")?;
    let cmd = match launch.backend {
        Backend::Qemu => qemu(launch, "tcg", &token)?,
        Backend::Firecracker => firecracker(launch, scratch.path(), &token)?,
    };
    run_vmm(cmd, launch, &token, scratch.path(), timeout, echo)
}

/// Runs a VMM command line for `launch` (see [`boot`]).
fn run_vmm(
    mut cmd: Command,
    launch: &Launch,
    token: &str,
    scratch: &Path,
    timeout: Duration,
    echo: bool,
) -> Result<Boot> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run '{program}'\n{INSTALL_HELP}"))?;
    let first = Arc::new(Mutex::new(None));
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let first_seen = Arc::clone(&first);
    let token_for_filter = token.to_string();
    let reader = std::thread::spawn(move || {
        let mut console = Vec::new();
        let mut filter = ConsoleFilter::new(&token_for_filter);
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
            if echo {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&filter.feed(&buf[..n]));
                let _ = out.flush();
            }
        }
        if echo {
            let _ = std::io::stdout().write_all(&filter.finish());
        }
        console
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let vmm_status = loop {
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
    let console = reader.join().unwrap_or_default();
    let mut vmm_stderr: String = errors
        .join()
        .unwrap_or_default()
        .lines()
        .filter(|l| !(l.contains(SERCON_FW_CFG) && l.contains("should be prefixed")))
        .map(|l| format!("{l}\n"))
        .collect();
    if launch.backend == Backend::Firecracker && vmm_status != Some(0) {
        if let Ok(log) = std::fs::read_to_string(firecracker_log(scratch)) {
            vmm_stderr.push_str(&log);
        }
    }
    let first_output = first.lock().ok().and_then(|f| *f);
    Ok(Boot {
        console: String::from_utf8_lossy(&console).into_owned(),
        token: token.to_string(),
        vmm_stderr,
        killed_after: vmm_status.is_none().then_some(timeout),
        vmm_status,
        first_output,
        program,
    })
}

#[cfg(test)]
mod tests;
