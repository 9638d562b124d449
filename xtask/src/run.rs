//! `cargo xtask run IMAGE`: boots one unikernel with the right VMM options
//! and exits with what the program in it did (see [`crate::console`]).

use crate::backends::Arch;
use crate::cli::RunOpts;
use crate::console::Outcome;
use crate::vmm;
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::time::Duration;

/// Boots the image; returns the status `cargo xtask run` exits with.
pub fn run(opts: &RunOpts) -> Result<u8> {
    let arch = match opts.arch {
        Some(arch) => arch,
        None => image_arch(&opts.image)?,
    };
    if let Some(reason) = vmm::unavailable(opts.backend, arch) {
        bail!(
            "cannot boot a {} {} image here: {reason}\nhelp: `cargo xtask doctor` lists what to install",
            opts.backend.name(),
            arch.name()
        );
    }
    let launch = vmm::Launch {
        backend: opts.backend,
        arch,
        image: &opts.image,
        args: &opts.args,
    };
    let boot = vmm::boot(&launch, Duration::from_secs_f64(opts.timeout), true)?;
    eprint!("{}", boot.vmm_stderr);
    let outcome = boot.report()?.outcome;
    if outcome.status() != 0 {
        eprintln!("run: {}: {}", opts.image.display(), outcome.describe());
    }
    if outcome == Outcome::Crash {
        eprintln!("run: the VM stopped without the guest reporting an exit status");
    }
    Ok(outcome.status())
}

/// The architecture an image was built for: x86_64 images are ELF files
/// (32-bit ones for QEMU, whose multiboot loader wants that), arm64 ones
/// Linux arm64 `Image` files (or ELF, for Firecracker).
pub fn image_arch(image: &Path) -> Result<Arch> {
    let mut header = [0u8; 64];
    let read = {
        use std::io::Read as _;
        let mut file = std::fs::File::open(image)
            .with_context(|| format!("cannot open the image {}", image.display()))?;
        file.read(&mut header)?
    };
    arch_of_header(&header[..read]).with_context(|| {
        format!(
            "{} is neither an x86_64 nor an arm64 unikernel image\nhelp: name the architecture with --arch",
            image.display()
        )
    })
}

fn arch_of_header(header: &[u8]) -> Option<Arch> {
    const ELF_MACHINE_I386: u16 = 0x03;
    const ELF_MACHINE_X86_64: u16 = 0x3e;
    const ELF_MACHINE_AARCH64: u16 = 0xb7;
    if header.starts_with(b"\x7fELF") && header.len() >= 0x14 {
        return match u16::from_le_bytes([header[0x12], header[0x13]]) {
            ELF_MACHINE_I386 | ELF_MACHINE_X86_64 => Some(Arch::X86_64),
            ELF_MACHINE_AARCH64 => Some(Arch::Arm64),
            _ => None,
        };
    }
    // The arm64 Linux boot image header has its magic at 0x38.
    (header.get(0x38..0x3c) == Some(b"ARM\x64")).then_some(Arch::Arm64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_comes_from_the_elf_machine_or_the_arm64_image_magic() {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[0x12] = 0x3e;
        assert_eq!(arch_of_header(&elf), Some(Arch::X86_64));
        elf[0x12] = 0x03;
        assert_eq!(arch_of_header(&elf), Some(Arch::X86_64));
        elf[0x12] = 0xb7;
        assert_eq!(arch_of_header(&elf), Some(Arch::Arm64));
        elf[0x12] = 0x28; // 32-bit Arm
        assert_eq!(arch_of_header(&elf), None);

        let mut image = vec![0u8; 64];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert_eq!(arch_of_header(&image), Some(Arch::Arm64));
        assert_eq!(arch_of_header(b"#!/bin/sh\n"), None);
    }
}
