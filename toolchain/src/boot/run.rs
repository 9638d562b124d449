//! `cargo xtask run IMAGE`: boots one unikernel with the right VMM options
//! and exits with what the program in it did (see [`crate::boot::console`]).

use crate::arch::Arch;
use crate::backend::Backend;
use crate::boot::console::{self, Ending};
use crate::boot::devices::{self, Devices, Disk, Net};
use crate::boot::vmm;
use crate::elf;
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
    /// Seconds the guest may run before it is stopped
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Guest memory in MiB [default: 512]
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u32>,
    /// A network device: `user` (QEMU's NAT, see --forward),
    /// `udp:LISTEN:SEND` (QEMU: raw Ethernet frames as UDP datagrams on
    /// 127.0.0.1, to the guest through port LISTEN, from it to port SEND)
    /// or `tap:NAME` (Firecracker: a host tap device)
    #[arg(long, value_name = "NET")]
    pub net: Option<Net>,
    /// With --net user: TCP port HOSTPORT of 127.0.0.1 reaches GUESTPORT
    /// of the guest (repeatable)
    #[arg(long, value_name = "HOSTPORT:GUESTPORT")]
    pub forward: Vec<devices::Forward>,
    /// A raw disk image, the guest's first block device (virtio-blk)
    #[arg(long, value_name = "FILE")]
    pub disk: Option<PathBuf>,
    /// The guest may read the disk image but not write it
    #[arg(long, requires = "disk")]
    pub disk_readonly: bool,
    /// The program's arguments (its Sys.argv from index 1)
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Boots the image; returns the status `cargo xtask run` exits with.
pub fn run(opts: &RunOpts) -> Result<u8> {
    let (arch, backend) = match (opts.arch, opts.backend) {
        (Some(arch), Some(backend)) => (arch, backend),
        (arch, backend) => {
            let kind = image_kind(&opts.image)?;
            (
                arch.unwrap_or(kind.arch),
                backend.or(kind.backend).unwrap_or(Backend::Qemu),
            )
        }
    };
    if let Some(reason) = vmm::unavailable(backend, arch) {
        bail!(
            "cannot boot a {} {} image here: {reason}\n{}",
            backend.name(),
            arch.unikraft(),
            vmm::INSTALL_HELP
        );
    }
    let devices = devices(opts)?;
    devices::check(&devices, backend, arch)?;
    let launch = vmm::Launch {
        backend,
        arch,
        image: &opts.image,
        args: &opts.args,
        devices: &devices,
    };
    let boot = vmm::boot(&launch, Duration::from_secs_f64(opts.timeout), true)?;
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

/// The memory, network and disk the options ask for.
fn devices(opts: &RunOpts) -> Result<Devices> {
    let net = match (opts.net.clone(), opts.forward.is_empty()) {
        (Some(Net::User { .. }), false) => Some(Net::User {
            forwards: opts.forward.clone(),
        }),
        (_, false) => bail!("--forward needs --net user\nhelp: add --net user"),
        (net, true) => net,
    };
    Ok(Devices {
        memory_mib: opts.memory,
        net,
        disk: opts.disk.as_ref().map(|path| Disk {
            path: path.clone(),
            read_only: opts.disk_readonly,
        }),
    })
}

/// What an image says about itself.
#[derive(Debug, PartialEq, Eq)]
struct ImageKind {
    arch: Arch,
    /// Known for x86_64 only: arm64 images are alike for both VMMs.
    backend: Option<Backend>,
}

/// Reads an image's header: x86_64 images are ELF files, 32-bit for QEMU
/// (its multiboot loader wants that) and 64-bit for Firecracker; arm64
/// images are Linux arm64 `Image` files for both VMMs.
fn image_kind(image: &Path) -> Result<ImageKind> {
    let mut header = [0u8; 64];
    let read = {
        use std::io::Read as _;
        let mut file = std::fs::File::open(image)
            .with_context(|| format!("cannot open the image {}", image.display()))?;
        file.read(&mut header)?
    };
    kind_of_header(&header[..read]).with_context(|| {
        format!(
            "{} is neither an x86_64 nor an arm64 unikernel image\nhelp: name the architecture with --arch",
            image.display()
        )
    })
}

fn kind_of_header(header: &[u8]) -> Option<ImageKind> {
    if let Some(machine) = elf::machine(header) {
        let backend = match elf::class(header) {
            Some(elf::Class::Elf32) => Backend::Qemu,
            _ => Backend::Firecracker,
        };
        return matches!(machine, elf::MACHINE_I386 | elf::MACHINE_X86_64).then_some(ImageKind {
            arch: Arch::X86_64,
            backend: Some(backend),
        });
    }
    // The arm64 Linux boot image header has its magic at 0x38.
    (header.get(0x38..0x3c) == Some(b"ARM\x64")).then_some(ImageKind {
        arch: Arch::Arm64,
        backend: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_and_backend_come_from_the_header() {
        let kind = |arch, backend| Some(ImageKind { arch, backend });
        let mut elf = vec![0u8; 64];
        elf[..5].copy_from_slice(b"\x7fELF\x01");
        elf[0x12] = 0x03;
        assert_eq!(
            kind_of_header(&elf),
            kind(Arch::X86_64, Some(Backend::Qemu))
        );
        elf[4] = 2;
        elf[0x12] = 0x3e;
        assert_eq!(
            kind_of_header(&elf),
            kind(Arch::X86_64, Some(Backend::Firecracker))
        );
        elf[0x12] = 0xb7; // an aarch64 ELF: not what our arm64 bundles make
        assert_eq!(kind_of_header(&elf), None);

        let mut image = vec![0u8; 64];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert_eq!(kind_of_header(&image), kind(Arch::Arm64, None));
        assert_eq!(kind_of_header(b"#!/bin/sh\n"), None);
    }
}
