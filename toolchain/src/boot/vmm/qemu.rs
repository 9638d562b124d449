//! QEMU's command line: the machine and CPU for each arch, the firmware,
//! the devices, the console and the debugger's stub.

use super::{kernel_args, Accel, Launch};
use crate::arch::Arch;
use crate::boot::devices::Console;
use crate::boot::image::{self, Image};
use crate::which;
use anyhow::{bail, Context as _, Result};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(super) const SERCON_FW_CFG: &str = "etc/sercon-port";

/// QEMU's default x86_64 CPU model plus 1 GiB pages (Unikraft's paging
/// needs them) and RDRAND, the CPU's random number generator, which
/// entropy sources in the guest use (mirage-crypto-rng seeds from it).
/// The software CPU implements RDRAND but not RDSEED (QEMU warns when asked
/// for it).
const X86_64_CPU: &str = "qemu64,+pdpe1gb,+rdrand";

/// QEMU's qboot firmware, as QEMU installs it in its data directory.
const QBOOT_ROM: &str = "share/qemu/qboot.rom";

/// The qboot firmware of the `qemu-system-x86_64` on `PATH`, if it has one.
pub(super) fn qboot_rom() -> Option<PathBuf> {
    qboot_rom_of(&which::on_path(program(Arch::X86_64))?)
}

/// The qboot firmware of QEMU executable `qemu`: QEMU looks for firmware
/// in the data directory of its installation, `<prefix>/share/qemu` for
/// `<prefix>/bin/qemu-system-x86_64` (a symlink, as Homebrew's, resolved).
pub(super) fn qboot_rom_of(qemu: &Path) -> Option<PathBuf> {
    let prefix = qemu.canonicalize().ok()?.parent()?.parent()?.to_path_buf();
    let rom = prefix.join(QBOOT_ROM);
    rom.is_file().then_some(rom)
}

/// The QEMU command line that boots `launch`. `token` goes to the guest's
/// status line (see [`crate::boot::console`]). `qboot` is QEMU's qboot firmware where
/// it has one ([`qboot_rom`]). With `console_socket`, the guest also gets
/// a virtio-console whose port is connected to that Unix socket, where the
/// caller listens (see [`virtio_console`]). `own_tap` is the descriptor of
/// the runner's tap for a bridge.
pub(super) fn command(
    launch: &Launch,
    token: &str,
    qboot: Option<&Path>,
    console_socket: Option<&Path>,
    own_tap: Option<RawFd>,
) -> Result<Command> {
    let virtio_console = console_socket.is_some();
    let mut cmd = match launch.arch {
        Arch::X86_64 => {
            let mut cmd = Command::new(program(Arch::X86_64));
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
            cmd.args(["-cpu", cpu(launch.accel, X86_64_CPU)]);
            cmd
        }
        Arch::Arm64 => {
            let mut cmd = Command::new(program(Arch::Arm64));
            cmd.args(["-machine", "virt", "-cpu", cpu(launch.accel, "max")]);
            cmd
        }
    };
    cmd.args(["-m", &format!("{}M", launch.devices.memory_mib())]);
    if launch.accel == Accel::Tcg {
        // One vCPU, with room for a second: QEMU's software CPU makes the
        // guest's memory barriers (mfence, dmb) real host barriers only
        // when a machine may have more than one CPU. Without them a
        // virtio device, emulated in another host thread, can miss the
        // guest's notification of new buffers: under load a guest's
        // transmit ring filled and stayed full, and the guest spun on it
        // (the website example on a bridge, one run in four with ab -c
        // 100; none in 16 with this).
        cmd.args(["-smp", "1,maxcpus=2"]);
    }
    cmd.args(launch.devices.qemu_args(launch.arch, own_tap)?);
    // A guest that resets (a triple fault, a crash on some platforms) ends
    // QEMU instead of booting again.
    cmd.args(["-accel", launch.accel.name()]);
    cmd.args(["-no-reboot", "-nographic", "-nodefaults"]);
    if let Some(port) = launch.gdb {
        // `-S`: the CPU waits for the debugger's first `continue`.
        cmd.args(["-gdb", &format!("tcp:127.0.0.1:{port}"), "-S"]);
    }
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
        .arg(kernel_args::kernel_arguments(&[], launch, token)?);
    Ok(cmd)
}

/// The QEMU that boots `arch` guests.
pub(super) fn program(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "qemu-system-x86_64",
        Arch::Arm64 => "qemu-system-aarch64",
    }
}

/// The debugger for QEMU's gdbstub with `arch` guests: the host's own
/// `gdb` for its arch, `gdb-multiarch` (Debian's name) for the other.
pub fn debugger(arch: Arch) -> &'static str {
    match arch.is_host() {
        true => "gdb",
        false => "gdb-multiarch",
    }
}

/// The CPU model: on KVM the host's own CPU (it has what the software
/// models add), on the software CPU `model`.
fn cpu(accel: Accel, model: &str) -> &str {
    match accel {
        Accel::Kvm => "host",
        Accel::Tcg => model,
    }
}

/// Whether `launch` gets a virtio-console device (see [`Console`]): the
/// image says whether it has the driver (an image that cannot be read is
/// left to QEMU to complain about). Its output then comes on a socket of
/// its own, beside the serial line's (QEMU's multiplexer, which would
/// give both one character device, tells only the serial line that the
/// host side is open, and the port would drop everything).
pub(super) fn virtio_console(launch: &Launch) -> Result<bool> {
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
