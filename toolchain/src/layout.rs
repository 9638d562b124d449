//! The layout of an installed prefix: what the xtask writes and the driver
//! reads, named once.
//!
//! - `<prefix>/bin/<gnu-arch>-unikraft-ocaml-<tool>`: the driver, under the
//!   name of every tool it stands in for;
//! - `<prefix>/bin/ocaml-unikraft-run`: the runner;
//! - `<prefix>/lib/ocaml-unikraft-backend-<backend>-<arch>/`: a bundle;
//! - `<prefix>/share/ocaml-unikraft-backend-<backend>-<arch>/backend.json`:
//!   its descriptor;
//! - `<prefix>/share/ocaml-unikraft-toolchain-<arch>/default-backend`, and
//!   `kvm-probe` beside it;
//! - `<prefix>/lib/ocaml-unikraft-<arch>/`: the OCaml cross compiler.
//!
//! `<arch>` is Unikraft's spelling (`arm64`), `<gnu-arch>` GNU's (`aarch64`).

use crate::arch::Arch;
use std::path::{Path, PathBuf};

/// Between the arch and the tool in the driver's installed names.
pub const TOOL_INFIX: &str = "-unikraft-ocaml-";

/// The names under which the driver is the C compiler.
pub const C_COMPILERS: &[&str] = &["cc", "gcc"];

/// The binutils the driver stands in for.
pub const BINUTILS: &[&str] = &[
    "ar", "as", "ld", "nm", "objcopy", "objdump", "ranlib", "readelf", "strip",
];

/// Every tool name the driver is installed under, the C compiler first.
pub fn tools() -> impl Iterator<Item = &'static str> {
    C_COMPILERS.iter().chain(BINUTILS).copied()
}

/// `x86_64-unikraft-ocaml-cc`.
pub fn tool_file_name(arch: Arch, tool: &str) -> String {
    format!("{}{TOOL_INFIX}{tool}", arch.gnu())
}

/// The runner's file name in `<prefix>/bin`.
pub const RUNNER: &str = "ocaml-unikraft-run";

/// The prefix's runner.
pub fn runner(prefix: &Path) -> PathBuf {
    prefix.join("bin").join(RUNNER)
}

/// The prefix's C compiler for `arch`.
pub fn c_compiler(prefix: &Path, arch: Arch) -> PathBuf {
    prefix
        .join("bin")
        .join(tool_file_name(arch, C_COMPILERS[0]))
}

const BUNDLE_PREFIX: &str = "ocaml-unikraft-backend-";

/// The directory name of a bundle under `lib/` and `share/`.
pub fn bundle_dir_name(backend: &str, arch: Arch) -> String {
    format!("{BUNDLE_PREFIX}{backend}-{}", arch.unikraft())
}

/// The backend a bundle directory name is for, if it is one for `arch`.
pub fn backend_of_bundle_dir(dir_name: &str, arch: Arch) -> Option<&str> {
    dir_name
        .strip_prefix(BUNDLE_PREFIX)?
        .strip_suffix(arch.unikraft())?
        .strip_suffix('-')
}

/// The descriptor file in a bundle's `share/` directory.
pub const DESCRIPTOR_FILE: &str = "backend.json";

/// The file naming the default backend of `arch`, relative to the prefix.
pub fn default_backend_file(arch: Arch) -> PathBuf {
    Path::new("share")
        .join(format!("ocaml-unikraft-toolchain-{}", arch.unikraft()))
        .join("default-backend")
}

/// The KVM probe for `arch` guests, relative to the prefix: a QEMU image
/// whose program exits 0, which the runner boots once on KVM to learn
/// whether KVM can run unikernels here (`--accel auto`).
pub fn kvm_probe(arch: Arch) -> PathBuf {
    Path::new("share")
        .join(format!("ocaml-unikraft-toolchain-{}", arch.unikraft()))
        .join("kvm-probe")
}

/// Where the OCaml cross compiler for `arch` is installed.
pub fn compiler_dir(prefix: &Path, arch: Arch) -> PathBuf {
    prefix
        .join("lib")
        .join(format!("ocaml-unikraft-{}", arch.unikraft()))
}

/// Whether the prefix holds a cross compiler for `arch`.
pub fn has_compiler(prefix: &Path, arch: Arch) -> bool {
    compiler_dir(prefix, arch).join("bin/ocamlopt").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_use_each_arch_spelling_where_it_belongs() {
        assert_eq!(
            tool_file_name(Arch::Arm64, "ranlib"),
            "aarch64-unikraft-ocaml-ranlib"
        );
        assert_eq!(
            bundle_dir_name("qemu", Arch::Arm64),
            "ocaml-unikraft-backend-qemu-arm64"
        );
        assert_eq!(
            default_backend_file(Arch::Arm64),
            Path::new("share/ocaml-unikraft-toolchain-arm64/default-backend")
        );
        assert_eq!(
            compiler_dir(Path::new("/p"), Arch::X86_64),
            Path::new("/p/lib/ocaml-unikraft-x86_64")
        );
        assert_eq!(tools().next(), Some("cc"));
        assert_eq!(tools().count(), 11);
    }

    #[test]
    fn bundle_dir_names_read_back() {
        let name = bundle_dir_name("qemu-9pfs", Arch::X86_64);
        assert_eq!(
            backend_of_bundle_dir(&name, Arch::X86_64),
            Some("qemu-9pfs")
        );
        assert_eq!(backend_of_bundle_dir(&name, Arch::Arm64), None);
        assert_eq!(
            backend_of_bundle_dir("ocaml-unikraft-x86_64", Arch::X86_64),
            None
        );
    }
}
