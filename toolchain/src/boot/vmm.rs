//! Booting unikernels: a run of a VMM with a deadline that records the
//! console, and when it began.
//!
//! - [`qemu`] and [`firecracker`]: each VMM's command line;
//! - [`accel`]: KVM or the software CPU for QEMU;
//! - [`kernel_args`]: the guest's command line (its arguments, environment
//!   and boot token);
//! - [`console_reader`]: the console, read from the serial line and the
//!   virtio console as it comes.

pub mod accel;
mod console_reader;
mod firecracker;
mod kernel_args;
mod qemu;

pub use accel::{kvm_problem, open_kvm, Accel, AccelChoice};
pub use firecracker::firecracker_config;
pub use kernel_args::{command_line, env_var, MAX_ENV_VARS};
pub use qemu::debugger;

use crate::arch::Arch;
use crate::backend::Backend;
use crate::boot::console::{self, ConsoleFilter, Transcript};
use crate::boot::devices::Devices;
use crate::boot::network::{Net, OwnTap};
use crate::boot::relay::Relays;
use crate::which;
use anyhow::{bail, Context as _, Result};
use console_reader::{read_console, Record};
use std::io::Read;
use std::os::fd::RawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One unikernel to boot.
pub struct Launch<'a> {
    pub backend: Backend,
    pub arch: Arch,
    pub image: &'a Path,
    /// The program's arguments (`Sys.argv` from index 1).
    pub args: &'a [String],
    /// The program's environment variables beyond the bundle's own
    /// (`NAME=VALUE`, checked by [`env_var`]).
    pub env: &'a [String],
    /// Memory, network and disk.
    pub devices: &'a Devices,
    /// QEMU's accelerator (Firecracker always uses KVM).
    pub accel: Accel,
    /// QEMU's gdbstub on this port of 127.0.0.1, the guest held before its
    /// first instruction until a debugger lets it go.
    pub gdb: Option<u16>,
}

/// What a boot produced.
#[derive(Debug)]
pub struct Boot {
    /// What the guest wrote on its serial console: all of it, or its last
    /// [`TAIL_BYTES`] (see [`Watch::keep_all`]).
    pub console: String,
    /// Console bytes dropped before [`Boot::console`] (0 when all is kept).
    pub console_dropped: u64,
    /// The token the guest's status line must carry (see [`console`]).
    pub token: String,
    /// What the VMM itself reported (warnings, errors).
    pub vmm_stderr: String,
    /// The VMM's exit status; `None` when it was killed at the deadline.
    pub vmm_status: Option<i32>,
    /// The deadline, when the VMM had to be killed.
    pub killed_after: Option<Duration>,
    /// The stop signal that ended the run, if one did.
    pub stopped_by: Option<i32>,
    /// From VMM start to the first console byte.
    pub first_output: Option<Duration>,
    pub program: String,
}

impl Boot {
    /// The program's output and how it ended; an error when the VMM itself
    /// failed (it could not start, or the host cannot run the guest).
    pub fn transcript(&self) -> Result<Transcript> {
        let transcript = console::read(
            &self.console,
            &self.token,
            console::Cut {
                from_start: self.console_dropped == 0,
                killed_after: self.killed_after,
                stopped_by: self.stopped_by,
            },
        );
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

/// Why a backend cannot boot here, if it cannot.
pub fn unavailable(backend: Backend, arch: Arch) -> Option<String> {
    match backend {
        Backend::Qemu => {
            let program = qemu::program(arch);
            which::on_path(program)
                .is_none()
                .then(|| format!("{program} is not installed"))
        }
        Backend::Firecracker => {
            if !arch.is_host() {
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

/// How a boot is watched: how long it may run, where its console goes,
/// how much of it is kept, and whether the runner's stop signals end it.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// The VMM is killed after this long (the run is then a timeout).
    pub deadline: Option<Duration>,
    /// The console goes to stdout as it comes (see [`ConsoleFilter`]).
    pub echo: bool,
    /// Keep the whole console in [`Boot::console`] (the tests compare it);
    /// otherwise only its last [`TAIL_BYTES`], enough for the verdict, so
    /// that a guest printing without end does not grow the runner.
    pub keep_all: bool,
    /// SIGINT, SIGTERM and SIGHUP to this process stop the VM: the VMM is
    /// asked to stop, killed after [`STOP_GRACE`], and the run ends as
    /// [`console::Ending::Stopped`]. Only for a process that boots one VM
    /// at a time and has nothing else to do on those signals (the runner).
    pub stop_signals: bool,
}

impl Watch {
    /// What the tests use: a deadline, the whole console kept, nothing
    /// echoed, signals left alone.
    pub fn test(deadline: Duration) -> Watch {
        Watch {
            deadline: Some(deadline),
            echo: false,
            keep_all: true,
            stop_signals: false,
        }
    }
}

/// How much of the console a run that does not keep it all holds: the
/// status line, what follows it and what the verdict looks at before it
/// (an uncaught exception's report, an out-of-memory message) fit many
/// times over.
pub const TAIL_BYTES: usize = 64 * 1024;

/// How long a VMM asked to stop (SIGTERM) has before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// The signals that stop the runner's VM; the runner then exits 128 + the
/// signal, as a shell reports a process killed by it.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Boots `launch` and watches it as `watch` says.
pub fn boot(launch: &Launch, watch: &Watch) -> Result<Boot> {
    let scratch = tempfile::tempdir()?;
    let token = console::new_token().context("drawing the boot's token from /dev/urandom")?;
    // The tap lives until the VMM has ended (QEMU holds it too).
    let own_tap = match &launch.devices.net {
        Some(Net::Bridge(bridge)) => Some(OwnTap::attach(
            bridge,
            launch.backend == Backend::Firecracker,
        )?),
        _ => None,
    };
    // QEMU forwards from ports of the relays', which listen on the host's.
    let relays = match &launch.devices.net {
        Some(Net::User { forwards }) if !forwards.is_empty() => Some(Relays::start(forwards)?),
        _ => None,
    };
    let relayed_devices;
    let launch = match &relays {
        Some(relays) => {
            relayed_devices = Devices {
                net: Some(Net::User {
                    forwards: relays.inner.clone(),
                }),
                ..launch.devices.clone()
            };
            &Launch {
                devices: &relayed_devices,
                ..*launch
            }
        }
        None => launch,
    };
    let (cmd, console_socket, inherited) = match launch.backend {
        Backend::Qemu => {
            let socket = qemu::virtio_console(launch)?.then(|| scratch.path().join("console.sock"));
            let tap_fd = own_tap.as_ref().and_then(OwnTap::fd);
            let cmd = qemu::command(
                launch,
                &token,
                qemu::qboot_rom().as_deref(),
                socket.as_deref(),
                tap_fd,
            )?;
            (cmd, socket, tap_fd)
        }
        Backend::Firecracker => {
            let tap = own_tap.as_ref().map(OwnTap::name);
            let cmd = firecracker::command(launch, scratch.path(), &token, tap)?;
            (cmd, None, None)
        }
    };
    run_vmm(
        cmd,
        launch,
        &token,
        scratch.path(),
        console_socket.as_deref(),
        inherited,
        watch,
    )
}

/// The VMM's own process group, so that a terminal's Ctrl-C reaches the
/// runner only (which then stops the VM), and the kernel's parent-death
/// signal, so that the VMM never outlives the process that started it,
/// even one killed with SIGKILL. `inherited` is a descriptor of ours the
/// VMM gets under the same number (the rest close at exec).
fn tie_to_parent(cmd: &mut Command, inherited: Option<RawFd>) {
    use std::os::unix::process::CommandExt as _;
    let parent = std::process::id();
    cmd.process_group(0);
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (prctl, getppid, fcntl, _exit), and nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = inherited {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the signal was armed.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// What ended the wait for a VMM.
enum Wait {
    /// It exited by itself, with this status (`None`: killed by a signal).
    Exited(Option<i32>),
    /// The deadline passed; it was killed.
    Deadline(Duration),
    /// A stop signal came; it was stopped.
    Signal(i32),
}

/// Runs a VMM command line for `launch` (see [`boot`]).
fn run_vmm(
    mut cmd: Command,
    launch: &Launch,
    token: &str,
    scratch: &Path,
    console_socket: Option<&Path>,
    inherited: Option<RawFd>,
    watch: &Watch,
) -> Result<Boot> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    // QEMU connects to the virtio console's socket as it starts.
    let listener = console_socket
        .map(|path| {
            UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))
        })
        .transpose()?;
    let mut signals = match watch.stop_signals {
        true => Some(
            signal_hook::iterator::Signals::new(STOP_SIGNALS)
                .context("cannot catch the stop signals")?,
        ),
        false => None,
    };
    tie_to_parent(&mut cmd, inherited);
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run '{program}'\n{INSTALL_HELP}"))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let reader = {
        let record = Record::new(watch.keep_all, start);
        let filter = watch.echo.then(|| ConsoleFilter::new(token));
        std::thread::spawn(move || read_console(stdout, listener, record, filter))
    };
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let wait = loop {
        if let Some(status) = child.try_wait()? {
            break Wait::Exited(status.code());
        }
        if let Some(signal) = signals.as_mut().and_then(|s| s.pending().next()) {
            stop(&mut child, signals.as_mut());
            break Wait::Signal(signal);
        }
        if let Some(deadline) = watch.deadline.filter(|d| start.elapsed() > *d) {
            let _ = child.kill();
            let _ = child.wait();
            break Wait::Deadline(deadline);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // A signal that came while the VMM was ending by itself (a terminal's
    // Ctrl-C reaches the whole foreground group when the VMM is in it)
    // still stops the run.
    let wait = match (wait, signals.as_mut().and_then(|s| s.pending().next())) {
        (Wait::Exited(_), Some(signal)) => Wait::Signal(signal),
        (wait, _) => wait,
    };
    let record = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the console reader failed"))?;
    let mut vmm_stderr: String = errors
        .join()
        .unwrap_or_default()
        .lines()
        .filter(|l| !(l.contains(qemu::SERCON_FW_CFG) && l.contains("should be prefixed")))
        .filter(|l| !(matches!(wait, Wait::Signal(_)) && l.contains("terminating on signal")))
        .map(|l| format!("{l}\n"))
        .collect();
    let vmm_status = match wait {
        Wait::Exited(status) => status,
        _ => None,
    };
    if launch.backend == Backend::Firecracker && vmm_status != Some(0) {
        if let Ok(log) = std::fs::read_to_string(firecracker::log(scratch)) {
            vmm_stderr.push_str(&log);
        }
    }
    Ok(Boot {
        console: String::from_utf8_lossy(&record.kept).into_owned(),
        console_dropped: record.dropped,
        token: token.to_string(),
        vmm_stderr,
        killed_after: match wait {
            Wait::Deadline(after) => Some(after),
            _ => None,
        },
        stopped_by: match wait {
            Wait::Signal(signal) => Some(signal),
            _ => None,
        },
        vmm_status,
        first_output: record.first_output,
        program,
    })
}

/// Stops a VMM: SIGTERM (QEMU and Firecracker both end on it), then
/// SIGKILL after [`STOP_GRACE`] or at a second stop signal.
fn stop(child: &mut Child, mut signals: Option<&mut signal_hook::iterator::Signals>) {
    // SAFETY: kill(2) on the pid of a child not yet waited for.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let asked = Instant::now();
    while asked.elapsed() < STOP_GRACE {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        if signals
            .as_mut()
            .is_some_and(|s| s.pending().next().is_some())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests;
