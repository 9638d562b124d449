//! `cargo xtask run IMAGE`: boots one unikernel with the right VMM options
//! and exits with what the program in it did (see [`crate::boot::console`]).

use crate::arch::Arch;
use crate::backend::Backend;
use crate::boot::console::{self, Ending};
use crate::boot::devices::{self, Devices, Disk};
use crate::boot::image::{self, Image};
use crate::boot::network::{self, Forward, Mac, Net};
use crate::boot::vmm::{self, accel, AccelChoice};
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The options of `ocaml-unikraft-run` and `cargo xtask run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunOpts {
    /// The unikernel image (what `dune build` or the cc driver produced)
    pub image: PathBuf,
    /// The VMM the image was linked for [default: read from an x86_64
    /// image (QEMU's are 32-bit ELF, Firecracker's 64-bit), else qemu]
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// The image's architecture [default: read from the image]
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Seconds the guest may run before it is stopped (status 124)
    /// [default: no limit]
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout, allow_negative_numbers = true)]
    pub timeout: Option<Duration>,
    /// An environment variable for the program, NAME=VALUE (repeatable;
    /// the program sees it in Sys.getenv)
    #[arg(long, short = 'e', value_name = "NAME=VALUE", value_parser = vmm::env_var)]
    pub env: Vec<String>,
    /// Guest memory in MiB [default: 512]
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,
    /// A network device: `user` (QEMU's NAT, see --forward),
    /// `udp:LISTEN:SEND` (QEMU: raw Ethernet frames as UDP datagrams on
    /// 127.0.0.1, to the guest through port LISTEN, from it to port SEND),
    /// `tap:NAME` (an existing host tap device) or `bridge:NAME` (a tap
    /// device of the runner's own on that host bridge, gone when the
    /// runner ends; needs root)
    #[arg(long, value_name = "NET")]
    pub net: Option<Net>,
    /// With --net user: TCP port HOSTPORT of 127.0.0.1 reaches GUESTPORT
    /// of the guest (repeatable)
    #[arg(long, value_name = "HOSTPORT:GUESTPORT")]
    pub forward: Vec<Forward>,
    /// The network device's MAC address [default: on a tap or bridge, a
    /// locally administered one that stays the same for the same image
    /// and network, so that DHCP leases it the same address again]
    #[arg(long, value_name = "ADDR", requires = "net")]
    pub mac: Option<Mac>,
    /// A raw disk image, the guest's first block device (virtio-blk)
    #[arg(long, value_name = "FILE")]
    pub disk: Option<PathBuf>,
    /// The guest may read the disk image but not write it
    #[arg(long, requires = "disk")]
    pub disk_readonly: bool,
    /// A host directory the guest mounts at / over virtio-9p (QEMU; the
    /// image must be linked with a 9pfs bundle, -z
    /// unikraft-backend=qemu-9pfs)
    #[arg(long, value_name = "DIR")]
    pub share: Option<PathBuf>,
    /// Where the console goes: `virtio` (a virtio-console device, fast),
    /// `serial` (the serial line, about 0.5 MB/s), or `auto`: virtio where
    /// it costs no boot time (arm64; x86_64 guests with another device)
    #[arg(long, value_enum, default_value_t = devices::Console::Auto)]
    pub console: devices::Console,
    /// QEMU's accelerator: `kvm`, `tcg` (the software CPU, any arch) or
    /// `auto`: KVM where it can run a unikernel (tried once per host and
    /// QEMU, and remembered), the software CPU otherwise
    #[arg(long, value_enum, default_value_t = AccelChoice::Auto)]
    pub accel: AccelChoice,
    /// QEMU's gdbstub on 127.0.0.1:PORT; the guest waits before its first
    /// instruction until the debugger continues it
    #[arg(long, value_name = "PORT")]
    pub gdb: Option<u16>,
    /// The program's arguments (its Sys.argv from index 1)
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Boots the image; returns the status `cargo xtask run` exits with.
pub fn run(opts: &RunOpts) -> Result<u8> {
    let image = Image::read(&opts.image)?;
    let (arch, backend) = match (opts.arch, opts.backend) {
        (Some(arch), Some(backend)) => (arch, backend),
        (arch, backend) => {
            let kind = image.kind.as_ref().with_context(|| {
                format!(
                    "{} is neither an x86_64 nor an arm64 unikernel image\nhelp: name the architecture with --arch",
                    opts.image.display()
                )
            })?;
            (
                arch.unwrap_or(kind.arch),
                backend.or(kind.backend).unwrap_or(Backend::Qemu),
            )
        }
    };
    // What the options ask first: no installing a VMM that cannot serve them.
    let devices = devices(opts)?;
    devices::check(&devices, backend, arch)?;
    check_share(&opts.image, &image, &devices)?;
    if let Some(reason) = vmm::unavailable(backend, arch) {
        bail!(
            "cannot boot a {} {} image here: {reason}\n{}",
            backend.name(),
            arch.unikraft(),
            vmm::INSTALL_HELP
        );
    }
    if opts.env.len() > vmm::MAX_ENV_VARS {
        bail!(
            "{} --env variables: a bundle takes at most {}",
            opts.env.len(),
            vmm::MAX_ENV_VARS
        );
    }
    let accel = match backend {
        Backend::Qemu => {
            let decision = accel::decide(
                opts.accel,
                arch,
                kvm_probe().as_deref(),
                accel::cache_dir().as_deref(),
            )?;
            if let Some(note) = decision.note {
                eprintln!("run: {note}");
            }
            decision.accel
        }
        Backend::Firecracker if opts.accel == AccelChoice::Tcg => {
            bail!(
                "Firecracker runs guests on KVM only\nhelp: boot a QEMU image for the software CPU"
            )
        }
        Backend::Firecracker => vmm::Accel::Kvm,
    };
    if let Some(port) = opts.gdb {
        // The driver's unstripped image has the symbols.
        let mut symbols = opts.image.clone().into_os_string();
        symbols.push(".dbg");
        let symbols = match Path::new(&symbols).is_file() {
            true => PathBuf::from(symbols),
            false => opts.image.clone(),
        };
        eprintln!(
            "run: the guest waits for a debugger on 127.0.0.1:{port}, e.g. `{} -ex 'target remote 127.0.0.1:{port}' {}`",
            vmm::debugger(arch),
            symbols.display()
        );
    }
    let launch = vmm::Launch {
        backend,
        arch,
        image: &opts.image,
        args: &opts.args,
        env: &opts.env,
        devices: &devices,
        accel,
        gdb: opts.gdb,
    };
    let watch = vmm::Watch {
        deadline: opts.timeout,
        echo: true,
        keep_all: false,
        stop_signals: true,
    };
    let boot = vmm::boot(&launch, &watch)?;
    eprint!("{}", boot.vmm_stderr);
    let transcript = boot.transcript()?;
    let ending = transcript.ending;
    if ending.status() != 0 {
        eprintln!("run: {}: {}", opts.image.display(), ending.describe());
    }
    if ending == Ending::Crash {
        eprintln!("run: the VM stopped without the guest reporting an exit status");
        if console::out_of_memory(&transcript.output) {
            eprintln!(
                "run: the guest ran out of memory ({} MiB)\nhelp: give it more with --memory MIB",
                devices.memory_mib()
            );
        }
    }
    Ok(ending.status())
}

/// `--timeout`: a positive, finite number of seconds that a `Duration`
/// holds.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!(
            "'{text}' is not a positive, finite number of seconds"
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text} seconds is too long"))
}

/// The KVM probe installed beside the runner: `<prefix>/bin/` holds the
/// runner, `<prefix>/share/` the probe of the host's arch.
fn kvm_probe() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let prefix = exe.parent()?.parent()?;
    Some(prefix.join(crate::layout::kvm_probe(Arch::host()?)))
}

/// The memory, network and disk the options ask for.
fn devices(opts: &RunOpts) -> Result<Devices> {
    let net = match (opts.net.clone(), opts.forward.is_empty()) {
        (Some(Net::User { .. }), false) => Some(Net::User {
            forwards: opts.forward.clone(),
        }),
        (_, false) => bail!("--forward needs --net user\nhelp: add --net user"),
        (net, true) => net,
    };
    let mac = match (&net, opts.mac) {
        (_, Some(mac)) => Some(mac),
        (Some(net), None) => Some(network::default_mac(net, &opts.image)),
        (None, None) => None,
    };
    Ok(Devices {
        memory_mib: opts.memory,
        net,
        mac,
        disk: opts.disk.as_ref().map(|path| Disk {
            path: path.clone(),
            read_only: opts.disk_readonly,
        }),
        share: opts.share.clone(),
        console: opts.console,
    })
}

/// A 9pfs image mounts the shared directory at boot and stops before its
/// program without one; any other image cannot mount it. An image whose
/// features are unknown (linked with an older bundle) is let through.
fn check_share(path: &Path, image: &Image, devices: &Devices) -> Result<()> {
    match (image.has(image::NINEPFS), &devices.share) {
        (Some(false), Some(_)) => bail!(
            "{} cannot mount --share: it was not linked with a 9pfs bundle\nhelp: link it with -z unikraft-backend=qemu-9pfs (built by `cargo xtask localbuild --backend qemu --option 9pfs`)",
            path.display()
        ),
        (Some(true), None) => bail!(
            "{} was linked with a 9pfs bundle: it mounts a shared host directory at / during boot and stops without one\nhelp: add --share DIR",
            path.display()
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_a_positive_finite_number_of_seconds() {
        assert_eq!(parse_timeout("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("60"), Ok(Duration::from_secs(60)));
        for bad in ["0", "-1", "inf", "nan", "-inf", "ten", ""] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_timeout("1e30"),
            Err("1e30 seconds is too long".into())
        );
    }

    #[test]
    fn share_needs_a_9pfs_image_and_a_9pfs_image_needs_share() {
        let image = |features: Option<&[&str]>| Image {
            kind: None,
            features: features.map(|f| f.iter().map(|s| s.to_string()).collect()),
        };
        let path = Path::new("hello.exe");
        let with_share = Devices {
            share: Some("/srv".into()),
            ..Devices::default()
        };
        let without = Devices::default();
        let err = check_share(path, &image(Some(&[])), &with_share).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "hello.exe cannot mount --share: it was not linked with a 9pfs bundle\nhelp: link it with -z unikraft-backend=qemu-9pfs"
            ),
            "{err}"
        );
        let err = check_share(path, &image(Some(&["9pfs"])), &without).unwrap_err();
        assert!(err.to_string().ends_with("help: add --share DIR"), "{err}");
        assert!(check_share(path, &image(Some(&["9pfs"])), &with_share).is_ok());
        assert!(check_share(path, &image(Some(&[])), &without).is_ok());
        // Unknown features: nothing to go by.
        assert!(check_share(path, &image(None), &with_share).is_ok());
        assert!(check_share(path, &image(None), &without).is_ok());
    }
}
