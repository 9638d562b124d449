//! What an image says about itself: its arch and, on x86_64, its VMM (from
//! its header), and the features of the bundle it was linked with (from
//! the string `backends/app/exit.c` leaves in every image), so that `run`
//! can refuse at once what the image cannot serve.

use crate::arch::Arch;
use crate::backend::Backend;
use crate::elf;
use anyhow::{Context as _, Result};
use std::path::Path;

/// How exit.c's feature list begins; it ends with `;`.
pub const FEATURES_MARKER: &[u8] = b"ocaml-unikraft-features:";
/// The feature of images whose bundle mounts a shared directory at boot.
pub const NINEPFS: &str = "9pfs";
/// The feature of images that send their console over a virtio-console
/// device when they get one (`backends/app/console.c`).
pub const VCONSOLE: &str = "vconsole";

/// What an image file says.
pub struct Image {
    /// `None` when the header is neither of ours.
    pub kind: Option<Kind>,
    /// The bundle's features; `None` for an image of a bundle older than
    /// the feature list (or not ours), whose features are unknown.
    pub features: Option<Vec<String>>,
}

/// What an image's header says.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    pub arch: Arch,
    /// Known for x86_64 only: arm64 images are alike for both VMMs.
    pub backend: Option<Backend>,
}

impl Image {
    pub fn read(path: &Path) -> Result<Image> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the image {}", path.display()))?;
        Ok(Image {
            kind: kind_of_header(&bytes[..bytes.len().min(64)]),
            features: features(&bytes),
        })
    }

    /// Whether the image is known to have `feature`, known not to, or
    /// neither (`None`).
    pub fn has(&self, feature: &str) -> Option<bool> {
        self.features
            .as_ref()
            .map(|list| list.iter().any(|f| f == feature))
    }
}

/// Reads an image's header: x86_64 images are ELF files, 32-bit for QEMU
/// (its multiboot loader wants that) and 64-bit for Firecracker; arm64
/// images are Linux arm64 `Image` files for both VMMs.
pub fn kind_of_header(header: &[u8]) -> Option<Kind> {
    if let Some(machine) = elf::machine(header) {
        let backend = match elf::class(header) {
            Some(elf::Class::Elf32) => Backend::Qemu,
            _ => Backend::Firecracker,
        };
        return matches!(machine, elf::MACHINE_I386 | elf::MACHINE_X86_64).then_some(Kind {
            arch: Arch::X86_64,
            backend: Some(backend),
        });
    }
    // The arm64 Linux boot image header has its magic at 0x38.
    (header.get(0x38..0x3c) == Some(b"ARM\x64")).then_some(Kind {
        arch: Arch::Arm64,
        backend: None,
    })
}

/// The features listed in an image: the first [`FEATURES_MARKER`]
/// followed by words and `;` within a line's length.
pub fn features(bytes: &[u8]) -> Option<Vec<String>> {
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], FEATURES_MARKER) {
        let start = from + at + FEATURES_MARKER.len();
        let tail = &bytes[start..bytes.len().min(start + 200)];
        let list = tail
            .iter()
            .position(|&b| b == b';')
            .map(|end| &tail[..end])
            .filter(|list| list.iter().all(|&b| b == b' ' || b.is_ascii_alphanumeric()));
        if let Some(list) = list {
            let text = String::from_utf8_lossy(list);
            return Some(text.split_whitespace().map(String::from).collect());
        }
        from = start;
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_and_backend_come_from_the_header() {
        let kind = |arch, backend| Some(Kind { arch, backend });
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

    #[test]
    fn features_are_read_from_the_marker_string() {
        let image = |middle: &[u8]| [&b"\x7fELF\0\0code"[..], middle, b"\0more"].concat();
        assert_eq!(
            features(&image(b"ocaml-unikraft-features: 9pfs;")),
            Some(vec!["9pfs".to_string()])
        );
        assert_eq!(features(&image(b"ocaml-unikraft-features:;")), Some(vec![]));
        assert_eq!(features(&image(b"no marker here")), None);
        // A marker without a well-formed list (a program mentioning it) is
        // passed over for the genuine one.
        assert_eq!(
            features(&image(
                b"ocaml-unikraft-features: \"x\0ocaml-unikraft-features: 9pfs debug;"
            )),
            Some(vec!["9pfs".to_string(), "debug".to_string()])
        );
        let plain = Image {
            kind: None,
            features: Some(vec![]),
        };
        assert_eq!(plain.has(NINEPFS), Some(false));
        let unknown = Image {
            features: None,
            ..plain
        };
        assert_eq!(unknown.has(NINEPFS), None);
    }
}
