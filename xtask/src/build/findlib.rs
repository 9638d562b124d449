//! ocamlfind configuration of an installed prefix:
//! - `<prefix>/lib/findlib.conf`: the host's package path (what
//!   `OCAMLFIND_CONF` points at);
//! - `<prefix>/lib/findlib.conf.d/unikraft_<arch>.conf`: one toolchain per
//!   built cross compiler;
//! - `<prefix>/lib/findlib.conf.d/unikraft.conf`: toolchain `unikraft`, the
//!   default arch; `cargo xtask default-arch` rewrites only this file.

use crate::build::ocaml;
use crate::target::Arch;
use crate::util::place::{self, Piece};
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};

pub(crate) fn main_conf(prefix: &Path) -> PathBuf {
    prefix.join("lib/findlib.conf")
}

fn conf_dir(prefix: &Path) -> PathBuf {
    prefix.join("lib/findlib.conf.d")
}

/// Writes every file, all or none; `host_path` is the host ocamlfind's
/// package path.
pub(crate) fn write(prefix: &Path, arches: &[Arch], default: Arch, host_path: &str) -> Result<()> {
    require_compiler(prefix, default)?;
    let mut files = vec![(main_conf(prefix), main_conf_text(host_path))];
    for &arch in arches {
        let name = ocaml::toolchain_name(arch);
        files.push((
            conf_dir(prefix).join(format!("{name}.conf")),
            ocaml::findlib_toolchain(prefix, arch, &name),
        ));
    }
    files.push((
        conf_dir(prefix).join("unikraft.conf"),
        ocaml::findlib_toolchain(prefix, default, "unikraft"),
    ));
    // Staged in the prefix, as renames cannot cross filesystems.
    let lib = prefix.join("lib");
    std::fs::create_dir_all(&lib).with_context(|| format!("creating {}", lib.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(&lib)
        .with_context(|| format!("creating a staging directory in {}", lib.display()))?;
    let mut pieces = Vec::new();
    for (index, (dest, text)) in files.into_iter().enumerate() {
        let staged = staging.path().join(index.to_string());
        std::fs::write(&staged, text).with_context(|| format!("writing {}", staged.display()))?;
        pieces.push(Piece { staged, dest });
    }
    place::all_or_none(&pieces, &lib, &mut place::rename)
}

/// The main configuration: the host's packages, and its compiler tools.
fn main_conf_text(host_path: &str) -> String {
    let mut main = format!(
        "# Host packages; cross toolchains are in findlib.conf.d/ (written by cargo xtask localbuild)\npath = \"{host_path}\"\ndestdir = \"{}\"\n",
        host_path.split(':').next().unwrap_or(host_path)
    );
    // ocamlfind's own defaults, spelled out: dune (3.24) reads a tool that
    // only toolchains define as an empty program name in a native context
    // and stops with an internal error.
    main.push_str("# The host compiler, from PATH, when no toolchain is asked for\n");
    for tool in ocaml::FINDLIB_TOOLS {
        main.push_str(&format!("{tool} = \"{tool}\"\n"));
    }
    main
}

/// The arch toolchain `unikraft` points at now, if the prefix has one
/// written by us whose compiler is installed.
pub(crate) fn current_default(prefix: &Path) -> Option<Arch> {
    let text = std::fs::read_to_string(conf_dir(prefix).join("unikraft.conf")).ok()?;
    Arch::ALL.into_iter().find(|&arch| {
        text == ocaml::findlib_toolchain(prefix, arch, "unikraft")
            && ocaml_unikraft_toolchain::installed::has_compiler(prefix, arch)
    })
}

/// Points toolchain `unikraft` at `arch`'s cross compiler.
pub(crate) fn set_default(prefix: &Path, arch: Arch) -> Result<()> {
    require_compiler(prefix, arch)?;
    write_file(
        &conf_dir(prefix).join("unikraft.conf"),
        &ocaml::findlib_toolchain(prefix, arch, "unikraft"),
    )
}

fn require_compiler(prefix: &Path, arch: Arch) -> Result<()> {
    if !ocaml_unikraft_toolchain::installed::has_compiler(prefix, arch) {
        bail!(
            "no {} cross compiler is installed in {}\nhelp: build it with `cargo xtask localbuild --arch {}`",
            arch.unikraft(),
            prefix.display(),
            arch.unikraft()
        );
    }
    Ok(())
}

/// Written beside and renamed over: a reader never sees half a file.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_compiler(prefix: &Path, arch: Arch) {
        let bin = ocaml::compiler_prefix(prefix, arch).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("ocamlopt"), "").unwrap();
    }

    #[test]
    fn default_arch_switches_only_the_unikraft_toolchain() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        fake_compiler(prefix, Arch::X86_64);
        fake_compiler(prefix, Arch::Arm64);
        write(
            prefix,
            &[Arch::X86_64, Arch::Arm64],
            Arch::X86_64,
            "/host/lib",
        )
        .unwrap();
        let read = |name: &str| std::fs::read_to_string(conf_dir(prefix).join(name)).unwrap();
        let x86 = read("unikraft_x86_64.conf");
        assert!(read("unikraft.conf").contains("ocaml-unikraft-x86_64/bin/ocamlopt"));
        assert!(std::fs::read_to_string(main_conf(prefix))
            .unwrap()
            .contains("path = \"/host/lib\""));

        assert_eq!(current_default(prefix), Some(Arch::X86_64));
        set_default(prefix, Arch::Arm64).unwrap();
        assert_eq!(current_default(prefix), Some(Arch::Arm64));
        let unikraft = read("unikraft.conf");
        assert!(
            unikraft.contains("ocamlopt(unikraft) = \"")
                && unikraft.contains("ocaml-unikraft-arm64/bin/ocamlopt")
        );
        assert_eq!(read("unikraft_x86_64.conf"), x86, "per-arch files stay");
    }

    #[test]
    fn switching_to_an_arch_that_is_not_built_fails_and_keeps_the_old_default() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        fake_compiler(prefix, Arch::X86_64);
        write(prefix, &[Arch::X86_64], Arch::X86_64, "/host/lib").unwrap();
        let err = set_default(prefix, Arch::Arm64).unwrap_err().to_string();
        assert!(err.contains("no arm64 cross compiler"), "{err}");
        let unikraft = std::fs::read_to_string(conf_dir(prefix).join("unikraft.conf")).unwrap();
        assert!(unikraft.contains("ocaml-unikraft-x86_64"));
    }

    #[test]
    fn the_main_conf_names_every_tool_without_a_toolchain() {
        let text = main_conf_text("/host/lib/ocaml");
        assert!(text.contains("path = \"/host/lib/ocaml\"\n"));
        for tool in ocaml::FINDLIB_TOOLS {
            assert!(text.contains(&format!("\n{tool} = \"{tool}\"\n")), "{tool}");
        }
    }
}
