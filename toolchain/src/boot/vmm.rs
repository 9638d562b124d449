//! Booting unikernels: the VMM command line for each backend and arch, and a
//! run with a timeout that records the console, and when it began.

use crate::arch::Arch;
use crate::backend::Backend;
use crate::boot::console::{self, ConsoleFilter, Transcript};
use crate::boot::devices::{Console, Devices};
use crate::boot::image::{self, Image};
use crate::which;
use anyhow::{bail, Context as _, Result};
use std::io::{Read, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
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

const SERCON_FW_CFG: &str = "etc/sercon-port";

/// QEMU's default x86_64 CPU model plus 1 GiB pages (Unikraft's paging
/// needs them) and RDRAND, the CPU's random number generator, which
/// entropy sources in the guest use (mirage-crypto-rng seeds from it).
/// The software CPU implements RDRAND but not RDSEED (QEMU warns when asked
/// for it).
const X86_64_CPU: &str = "qemu64,+pdpe1gb,+rdrand";

/// QEMU's qboot firmware, as QEMU installs it in its data directory.
const QBOOT_ROM: &str = "share/qemu/qboot.rom";

/// The qboot firmware of the `qemu-system-x86_64` on `PATH`, if it has one.
fn qboot_rom() -> Option<PathBuf> {
    qboot_rom_of(&which::on_path("qemu-system-x86_64")?)
}

/// The qboot firmware of QEMU executable `qemu`: QEMU looks for firmware
/// in the data directory of its installation, `<prefix>/share/qemu` for
/// `<prefix>/bin/qemu-system-x86_64` (a symlink, as Homebrew's, resolved).
fn qboot_rom_of(qemu: &Path) -> Option<PathBuf> {
    let prefix = qemu.canonicalize().ok()?.parent()?.parent()?.to_path_buf();
    let rom = prefix.join(QBOOT_ROM);
    rom.is_file().then_some(rom)
}

/// The QEMU command line that boots `launch` with accelerator `accel`: the
/// software CPU (`tcg`) works everywhere, KVM is not required. `token` goes
/// to the guest's status line (see [`console`]). `qboot` is QEMU's qboot
/// firmware where it has one ([`qboot_rom`]). With `console_socket`, the
/// guest also gets a virtio-console whose port is connected to that Unix
/// socket, where the caller listens (see [`virtio_console`]).
fn qemu(
    launch: &Launch,
    accel: &str,
    token: &str,
    qboot: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<Command> {
    let virtio_console = console_socket.is_some();
    let mut cmd = match launch.arch {
        Arch::X86_64 => {
            let mut cmd = Command::new("qemu-system-x86_64");
            let pci_devices = !launch.devices.memory_only() || virtio_console;
            match qboot.filter(|_| !pci_devices) {
                // qboot hands over to the image within milliseconds, where
                // QEMU's default firmware, SeaBIOS, takes 50-70 ms on
                // the software CPU, and prints nothing. But it leaves PCI
                // devices without resources (BARs), which Unikraft 0.17
                // expects from the firmware: the boot hangs in the virtio
                // drivers. Unikraft patches 0003 (its memory map) and
                // 0005 (its untouched local APIC) make the rest work.
                Some(rom) => {
                    cmd.arg("-bios").arg(rom);
                }
                // Without a display SeaBIOS writes its banner to the
                // serial console; this fw_cfg entry (SeaBIOS's own name
                // for it, hence QEMU's warning, filtered out below) turns
                // that off.
                None => {
                    cmd.args(["-fw_cfg", &format!("name={SERCON_FW_CFG},string=0")]);
                }
            }
            // The bundles page on demand (ukvmem), and Unikraft's x86_64
            // paging needs 1 GiB pages, which QEMU's default CPU model
            // lacks (every x86_64 CPU of the last fifteen years has them,
            // and RDRAND too).
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
    cmd.args(["-serial", "stdio"]);
    if let Some(socket) = console_socket {
        // Port 1 of a virtio-serial device, a plain port: QEMU holds the
        // guest back while the socket is full, where a console port (port
        // 0, virtconsole) would drop what does not fit. Port 1 needs the
        // multiport feature, hence two ports at most.
        let transport = match launch.arch {
            Arch::X86_64 => "pci",
            Arch::Arm64 => "device",
        };
        let path = socket
            .to_str()
            .context("the console socket's path is not UTF-8")?;
        cmd.args([
            "-chardev",
            &format!("socket,id=vconsole,path={}", path.replace(',', ",,")),
        ]);
        cmd.args(["-device", &format!("virtio-serial-{transport},max_ports=2")]);
        cmd.args(["-device", "virtserialport,chardev=vconsole,nr=1"]);
    }
    cmd.arg("-kernel").arg(launch.image);
    // QEMU puts the image's name in front of the x86 command line, and
    // Unikraft its own name on arm64: both become argv[0].
    cmd.arg("-append")
        .arg(kernel_arguments(&[], launch, token)?);
    Ok(cmd)
}

/// Whether `launch` gets a virtio-console device (see [`Console`]): the
/// image says whether it has the driver (an image that cannot be read is
/// left to QEMU to complain about). Its output then comes on a socket of
/// its own, beside the serial line's (QEMU's multiplexer, which would
/// give both one character device, tells only the serial line that the
/// host side is open, and the port would drop everything).
fn virtio_console(launch: &Launch) -> Result<bool> {
    // The image is read only where its answer counts.
    let has_driver = || {
        Image::read(launch.image)
            .ok()
            .and_then(|image| image.has(image::VCONSOLE))
    };
    let free_of_cost = launch.arch == Arch::Arm64 || !launch.devices.memory_only();
    Ok(match launch.devices.console {
        Console::Serial => false,
        Console::Virtio => {
            if has_driver() == Some(false) {
                bail!(
                    "{} has no virtio-console driver (its bundle was built without it)\nhelp: link it again with this toolchain, or boot it with --console serial",
                    launch.image.display()
                );
            }
            true
        }
        Console::Auto => free_of_cost && has_driver() == Some(true),
    })
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
            "boot_args": kernel_arguments(&program_name, launch, token)?,
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
/// argv[0] itself), the token as a Unikraft library parameter, the
/// environment as another (posix-environ's `env.vars`, a list), `--` that
/// ends the library parameters, then the program's arguments. Unikraft
/// hands the program only argv[0] and what follows `--`.
fn kernel_arguments(program_name: &[String], launch: &Launch, token: &str) -> Result<String> {
    let mut words = program_name.to_vec();
    words.push(format!("{}={token}", console::TOKEN_PARAMETER));
    words.extend(env_parameter(launch.env));
    words.push("--".into());
    words.extend(launch.args.iter().cloned());
    command_line(&words)
}

/// The library parameter that sets these environment variables: a list,
/// `env.vars=[A=1 B=2]`, which Unikraft's parser ends at the first word
/// that ends with `]` (hence [`env_var`]'s rule).
fn env_parameter(env: &[String]) -> Vec<String> {
    let mut words: Vec<String> = env.to_vec();
    if let Some(first) = words.first_mut() {
        *first = format!("{ENV_PARAMETER}=[{first}");
    }
    if let Some(last) = words.last_mut() {
        last.push(']');
    }
    words
}

/// posix-environ's library parameter (`backends/fragments/base.config`
/// turns it on).
const ENV_PARAMETER: &str = "env.vars";

/// How many variables `env.vars` takes: `LIBPOSIX_ENVIRON_LIBPARAM_MAXCOUNT`
/// in `backends/fragments/base.config`.
pub const MAX_ENV_VARS: usize = 32;

/// Checks one `--env` value, `NAME=VALUE`: a name as the shell has them,
/// and a value Unikraft's list parameter carries unchanged (it may not end
/// with `]`, which would end the list).
pub fn env_var(text: &str) -> Result<String, String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    let mut chars = name.chars();
    let valid_name = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "'{name}' is not a variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    if value.ends_with(']') {
        return Err(format!(
            "the value of {name} ends with ']', which Unikraft's parameter list cannot carry"
        ));
    }
    Ok(text.to_string())
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
        env: &[],
        devices: &Devices::default(),
    };
    let scratch = tempfile::tempdir().ok()?;
    let result = console::new_token()
        .map_err(anyhow::Error::from)
        .and_then(|token| {
            let cmd = qemu(&launch, "kvm", &token, qboot_rom().as_deref(), None)?;
            run_vmm(
                cmd,
                &launch,
                &token,
                scratch.path(),
                None,
                &Watch::test(Duration::from_secs(5)),
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
    let (cmd, console_socket) = match launch.backend {
        Backend::Qemu => {
            let socket = virtio_console(launch)?.then(|| scratch.path().join("console.sock"));
            let cmd = qemu(
                launch,
                "tcg",
                &token,
                qboot_rom().as_deref(),
                socket.as_deref(),
            )?;
            (cmd, socket)
        }
        Backend::Firecracker => (firecracker(launch, scratch.path(), &token)?, None),
    };
    run_vmm(
        cmd,
        launch,
        &token,
        scratch.path(),
        console_socket.as_deref(),
        watch,
    )
}

/// The VMM's own process group, so that a terminal's Ctrl-C reaches the
/// runner only (which then stops the VM), and the kernel's parent-death
/// signal, so that the VMM never outlives the process that started it,
/// even one killed with SIGKILL.
fn tie_to_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    let parent = std::process::id();
    cmd.process_group(0);
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (prctl, getppid, _exit), and nothing is allocated.
    unsafe {
        cmd.pre_exec(move || {
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
    tie_to_parent(&mut cmd);
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
        .filter(|l| !(l.contains(SERCON_FW_CFG) && l.contains("should be prefixed")))
        .filter(|l| !(matches!(wait, Wait::Signal(_)) && l.contains("terminating on signal")))
        .map(|l| format!("{l}\n"))
        .collect();
    let vmm_status = match wait {
        Wait::Exited(status) => status,
        _ => None,
    };
    if launch.backend == Backend::Firecracker && vmm_status != Some(0) {
        if let Ok(log) = std::fs::read_to_string(firecracker_log(scratch)) {
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

/// The console as it was read: all of it or its tail, and when it began.
struct Record {
    keep_all: bool,
    start: Instant,
    kept: Vec<u8>,
    /// Bytes dropped from the front (only when not keeping all).
    dropped: u64,
    first_output: Option<Duration>,
}

impl Record {
    fn new(keep_all: bool, start: Instant) -> Record {
        Record {
            keep_all,
            start,
            kept: Vec::new(),
            dropped: 0,
            first_output: None,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.first_output.is_none() && !bytes.is_empty() {
            self.first_output = Some(self.start.elapsed());
        }
        self.kept.extend_from_slice(bytes);
        // Trim to the tail now and then, not at every read.
        if self.kept.len() > 2 * TAIL_BYTES {
            self.trim();
        }
    }

    /// Keeps only the last [`TAIL_BYTES`], unless keeping all.
    fn trim(&mut self) {
        if !self.keep_all && self.kept.len() > TAIL_BYTES {
            let cut = self.kept.len() - TAIL_BYTES;
            self.kept.drain(..cut);
            self.dropped += cut as u64;
        }
    }
}

/// How long the console reader lets output gather after a read of fewer
/// than [`DRIBBLE`] bytes before reading again: the serial line brings a
/// byte at a time, and reading (and echoing) each on its own would cost
/// two system calls per byte. Output is delayed by at most this much.
/// Larger reads (the virtio console's 4 KiB chunks, a full pipe) are
/// followed by the next read at once: sleeping after them would cap the
/// rate at what a pipe holds per sleep.
const GATHER: Duration = Duration::from_millis(2);
const DRIBBLE: usize = 1024;

/// Reads a VMM's console to its end into `record`, echoing it through
/// `filter` when there is one: the serial line (the VMM's stdout) and, with
/// `listener`, the virtio console's socket, in the order their bytes come.
fn read_console(
    serial: ChildStdout,
    listener: Option<UnixListener>,
    mut record: Record,
    filter: Option<ConsoleFilter>,
) -> Record {
    // Bounded: a reader waits for the echo rather than piling up chunks
    // (the VMM then waits too, and QEMU holds the guest back).
    let (chunks, received) = mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let serial_closed = Arc::new(AtomicBool::new(false));
    {
        let chunks = chunks.clone();
        let serial_closed = Arc::clone(&serial_closed);
        std::thread::spawn(move || {
            forward(serial, &chunks);
            serial_closed.store(true, Ordering::SeqCst);
        });
    }
    if let Some(listener) = listener {
        std::thread::spawn(move || {
            if let Some(stream) = accept_console(&listener, &serial_closed) {
                forward(stream, &chunks);
            }
        });
    } else {
        drop(chunks);
    }
    let mut echo = filter.map(|filter| (filter, std::io::stdout()));
    for chunk in received {
        record.push(&chunk);
        if let Some((filter, out)) = echo.as_mut() {
            let mut out = out.lock();
            let _ = out.write_all(&filter.feed(&chunk));
            let _ = out.flush();
        }
    }
    record.trim();
    if let Some((filter, out)) = echo {
        let mut out = out.lock();
        let _ = out.write_all(&filter.finish());
        let _ = out.flush();
    }
    record
}

/// Console chunks read but not yet echoed, at most (each up to 64 KiB).
const CHUNKS_IN_FLIGHT: usize = 16;

/// Sends what `source` gives, chunk by chunk, until it ends.
fn forward(mut source: impl Read, chunks: &mpsc::SyncSender<Vec<u8>>) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = source.read(&mut buf) {
        if n == 0 || chunks.send(buf[..n].to_vec()).is_err() {
            break;
        }
        if n < DRIBBLE {
            std::thread::sleep(GATHER);
        }
    }
}

/// The VMM's connection to the virtio console's socket; `None` if the VMM
/// ended (its serial line closed) without making one.
fn accept_console(listener: &UnixListener, serial_closed: &AtomicBool) -> Option<UnixStream> {
    listener.set_nonblocking(true).ok()?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                return Some(stream);
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if serial_closed.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests;
