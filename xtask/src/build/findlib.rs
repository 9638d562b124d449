//! ocamlfind configuration of an installed prefix:
//! - `<prefix>/lib/findlib.conf`: the main configuration, the host's
//!   package path and compiler; written only when it is ours (see
//!   [`MainConf`]): an opam switch keeps its own;
//! - `<prefix>/lib/findlib.conf.d/unikraft_<arch>.conf`: one toolchain per
//!   built cross compiler;
//! - `<prefix>/lib/findlib.conf.d/unikraft.conf`: toolchain `unikraft`, the
//!   default arch; `cargo xtask default-arch` rewrites only this file;
//! - `<sysroot>/lib/is_unikraft/META`: an empty package that only the cross
//!   toolchains see (libraries test for it), `<sysroot>` being a cross
//!   compiler's own prefix, `<prefix>/lib/ocaml-unikraft-<arch>`; a new
//!   cross compiler replaces its whole sysroot, and every install writes
//!   the marker again;
//! - `<sysroot>/lib/seq/META`: an empty package `seq`, as opam's `seq.base`
//!   is: Seq is in the standard library since OCaml 4.07, and libraries
//!   (psq, which MirageOS's TCP stack uses) still require `seq`.
//!
//! ocamlfind reads `findlib.conf.d/` beside whichever main configuration it
//! uses (`$OCAMLFIND_CONF`, else the one it was built with), so the
//! toolchains reach both our own main configuration and a foreign one.
//! Every file is written all or none ([`place`]). A staged destination
//! ([`Dest`]) gets the files for its prefix in its root, and never a main
//! configuration: it becomes opam packages, and in an opam switch the main
//! configuration is ocamlfind's.

use crate::build::dest::Dest;
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

/// The first line of every main configuration we write: what tells ours
/// from a foreign one.
const MAIN_CONF_MARKER: &str =
    "# Host packages; cross toolchains are in findlib.conf.d/ (written by cargo xtask localbuild)";

/// Whose `<prefix>/lib/findlib.conf` is, which decides whether an install
/// writes it.
///
/// The rule: it is ours when there is none, or when its first line is
/// [`MAIN_CONF_MARKER`] (we wrote it: in `<repo>/_build`, or in any prefix
/// that had none). Anything else is the prefix's own (an opam switch's,
/// written by its ocamlfind): an install never writes, moves or deletes it,
/// and the toolchains go only into `findlib.conf.d/` beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MainConf {
    Ours,
    Foreign,
}

impl MainConf {
    pub(crate) fn of(prefix: &Path) -> Result<MainConf> {
        let path = main_conf(prefix);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.starts_with(format!("{MAIN_CONF_MARKER}\n").as_bytes()) => {
                Ok(MainConf::Ours)
            }
            Ok(_) => Ok(MainConf::Foreign),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(MainConf::Ours),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// Writes every file, all or none; `host_path` is the host ocamlfind's
/// package path, for the main configuration when it is ours. Returns whose
/// the main configuration is.
pub(crate) fn write(
    dest: &Dest,
    arches: &[Arch],
    default: Arch,
    host_path: &str,
) -> Result<MainConf> {
    write_with(dest, arches, default, host_path, &mut place::rename)
}

fn write_with(
    dest: &Dest,
    arches: &[Arch],
    default: Arch,
    host_path: &str,
    rename: &mut place::Rename,
) -> Result<MainConf> {
    let prefix = dest.prefix();
    require_compiler(dest.root(), default)?;
    require_plain(prefix)?;
    let owner = match dest.is_staged() {
        true => MainConf::Foreign,
        false => MainConf::of(prefix)?,
    };
    let mut files = Vec::new();
    if owner == MainConf::Ours {
        files.push((main_conf(prefix), main_conf_text(host_path)));
    }
    for &arch in arches {
        let name = ocaml::toolchain_name(arch);
        files.push((
            conf_dir(prefix).join(format!("{name}.conf")),
            toolchain_text(prefix, arch, &name),
        ));
    }
    files.push((
        conf_dir(prefix).join("unikraft.conf"),
        toolchain_text(prefix, default, "unikraft"),
    ));
    for &arch in arches {
        files.push((is_unikraft_meta(prefix, arch), is_unikraft_text(arch)));
        files.push((seq_meta(prefix, arch), SEQ_TEXT.to_owned()));
    }
    // Staged in the prefix, as renames cannot cross filesystems.
    let lib = dest.root().join("lib");
    std::fs::create_dir_all(&lib).with_context(|| format!("creating {}", lib.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(&lib)
        .with_context(|| format!("creating a staging directory in {}", lib.display()))?;
    let mut pieces = Vec::new();
    for (index, (path, text)) in files.into_iter().enumerate() {
        let staged = staging.path().join(index.to_string());
        std::fs::write(&staged, text).with_context(|| format!("writing {}", staged.display()))?;
        pieces.push(Piece {
            staged,
            dest: dest.written(&path),
        });
    }
    place::all_or_none(&pieces, &lib, rename)?;
    Ok(owner)
}

/// The main configuration: the host's packages, and its compiler tools.
fn main_conf_text(host_path: &str) -> String {
    let mut main = format!(
        "{MAIN_CONF_MARKER}\npath = \"{host_path}\"\ndestdir = \"{}\"\n",
        host_path.split(':').next().unwrap_or(host_path)
    );
    // ocamlfind's own defaults, spelled out: dune (3.24) reads a tool that
    // only toolchains define as an empty program name in a native context
    // and stops with an internal error.
    main.push_str("# The host compiler, from PATH, when no toolchain is asked for\n");
    for tool in FINDLIB_TOOLS {
        main.push_str(&format!("{tool} = \"{tool}\"\n"));
    }
    main
}

/// The compiler tools a findlib toolchain names.
const FINDLIB_TOOLS: [&str; 5] = ["ocamlc", "ocamlopt", "ocamldep", "ocamlmklib", "ocamlcp"];

/// `<prefix>/lib/ocaml-unikraft-<arch>`: the cross compiler's own prefix.
fn sysroot(prefix: &Path, arch: Arch) -> PathBuf {
    ocaml::compiler_prefix(prefix, arch)
}

/// The package path of `arch`'s toolchains, in search order:
/// - `<sysroot>/lib/ocaml`: the standard library and the compiler's own
///   packages (`unix`, `threads`, ...), found before any host package of
///   the same name;
/// - `<sysroot>/lib`: packages for the target only: `is_unikraft`, and
///   whatever `ocamlfind install` puts there (the toolchain's `destdir`);
/// - `<prefix>/lib`: the prefix's packages (an opam switch's), so that
///   pure-OCaml libraries installed there can be used.
fn package_path(prefix: &Path, arch: Arch) -> [PathBuf; 3] {
    let sysroot = sysroot(prefix, arch);
    [
        sysroot.join("lib/ocaml"),
        sysroot.join("lib"),
        prefix.join("lib"),
    ]
}

/// The ocamlfind configuration of `arch`'s cross compiler, as toolchain
/// `toolchain`.
fn toolchain_text(prefix: &Path, arch: Arch, toolchain: &str) -> String {
    let [stdlib, target_lib, prefix_lib] = package_path(prefix, arch);
    let path = [&stdlib, &target_lib, &prefix_lib]
        .map(|dir| dir.display().to_string())
        .join(":");
    let bin = sysroot(prefix, arch).join("bin");
    let mut conf = format!(
        "# OCaml cross compiler for {}-unikraft-ocaml (written by cargo xtask localbuild)\n",
        arch.gnu()
    );
    let mut line = |key: &str, value: &str| {
        conf.push_str(&format!("{key}({toolchain}) = \"{value}\"\n"));
    };
    line("path", &path);
    line("destdir", &target_lib.display().to_string());
    line("stdlib", &stdlib.display().to_string());
    for tool in FINDLIB_TOOLS {
        line(tool, &bin.join(tool).display().to_string());
    }
    conf
}

/// The package that marks `arch`'s sysroot: in `<sysroot>/lib`, on the
/// toolchains' path before `<prefix>/lib` and on no host path.
fn is_unikraft_meta(prefix: &Path, arch: Arch) -> PathBuf {
    sysroot(prefix, arch).join("lib/is_unikraft/META")
}

fn is_unikraft_text(arch: Arch) -> String {
    format!(
        "description = \"Present only when building for Unikraft ({}): the ocaml-unikraft cross compiler\"\nversion = \"{}\"\n",
        arch.unikraft(),
        env!("CARGO_PKG_VERSION")
    )
}

/// The `seq` package of `arch`'s sysroot, beside `is_unikraft`.
fn seq_meta(prefix: &Path, arch: Arch) -> PathBuf {
    sysroot(prefix, arch).join("lib/seq/META")
}

/// What opam's `seq.base` installs, for the same reason.
const SEQ_TEXT: &str = "description = \"Seq is in the standard library since OCaml 4.07: nothing to link\"\nversion = \"[distributed with OCaml 4.07 or above]\"\nrequires = \"\"\n";

/// The arch toolchain `unikraft` points at now, if the destination has
/// one written by us whose compiler is installed.
pub(crate) fn current_default(dest: &Dest) -> Option<Arch> {
    let text = std::fs::read_to_string(conf_dir(dest.root()).join("unikraft.conf")).ok()?;
    Arch::ALL.into_iter().find(|&arch| {
        text == toolchain_text(dest.prefix(), arch, "unikraft")
            && ocaml_unikraft_toolchain::layout::has_compiler(dest.root(), arch)
    })
}

/// Points toolchain `unikraft` at `arch`'s cross compiler.
pub(crate) fn set_default(dest: &Dest, arch: Arch) -> Result<()> {
    require_compiler(dest.root(), arch)?;
    write_file(
        &conf_dir(dest.root()).join("unikraft.conf"),
        &toolchain_text(dest.prefix(), arch, "unikraft"),
    )
}

fn require_compiler(prefix: &Path, arch: Arch) -> Result<()> {
    if !ocaml_unikraft_toolchain::layout::has_compiler(prefix, arch) {
        bail!(
            "no {} cross compiler is installed in {}\nhelp: build it with `cargo xtask localbuild --arch {}`",
            arch.unikraft(),
            prefix.display(),
            arch.unikraft()
        );
    }
    Ok(())
}

/// A path in a configuration sits between double quotes, and in a package
/// path between colons.
fn require_plain(prefix: &Path) -> Result<()> {
    let text = prefix.to_string_lossy();
    if let Some(bad) = text.chars().find(|c| matches!(c, ':' | '"' | '\\')) {
        bail!(
            "the prefix {} holds '{bad}', which an ocamlfind configuration cannot\nhelp: install into a directory whose path has no ':', '\"' or '\\'",
            prefix.display()
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

/// The shell lines that make the toolchain usable, for a prefix whose main
/// configuration is `owner`'s; `host_bin` holds the host tools we built,
/// if any.
///
/// With our main configuration, `OCAMLFIND_CONF` names it. With a foreign
/// one whose ocamlfind is in `<prefix>/bin`, that ocamlfind already reads
/// it: `OCAMLFIND_CONF` stays unset (dune 3.24 stops with an internal error
/// in native contexts when it names a configuration without `ocamlmklib`,
/// as opam's is, next to toolchains that define one: ocaml/dune#16226).
/// Otherwise it names the foreign file, whose `findlib.conf.d/` holds the
/// toolchains.
pub(crate) fn usage(prefix: &Path, owner: MainConf, host_bin: Option<&Path>) -> Vec<String> {
    let conf = main_conf(prefix);
    let own_ocamlfind = prefix.join("bin/ocamlfind").is_file();
    let mut bin_dirs = vec![prefix.join("bin")];
    if owner == MainConf::Ours || !own_ocamlfind {
        bin_dirs.extend(host_bin.map(Path::to_path_buf));
    }
    let bin_dirs: Vec<String> = bin_dirs.iter().map(|d| d.display().to_string()).collect();
    let mut lines = vec![format!("export PATH=\"{}:$PATH\"", bin_dirs.join(":"))];
    match (owner, own_ocamlfind) {
        (MainConf::Foreign, true) => lines.push(format!(
            "# {} is the prefix's own and was left as it is; its ocamlfind reads the toolchains from findlib.conf.d/ beside it, with OCAMLFIND_CONF unset",
            conf.display()
        )),
        _ => lines.push(format!("export OCAMLFIND_CONF=\"{}\"", conf.display())),
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::place::testing::fail_each_rename;

    fn fake_compiler(prefix: &Path, arch: Arch) {
        let bin = ocaml::compiler_prefix(prefix, arch).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("ocamlopt"), "").unwrap();
    }

    const BOTH: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// An opam switch's findlib.conf (as opam's ocamlfind writes it), and
    /// a toolchain of another project beside it.
    fn opam_like(prefix: &Path) -> Vec<u8> {
        let conf = format!(
            "destdir=\"{p}/lib\"\npath=\"{p}/lib\"\nldconf=\"ignore\"\nocamlc=\"ocamlc.opt\"\nocamldep=\"ocamldep.opt\"\nocamlopt=\"ocamlopt.opt\"\n",
            p = prefix.display()
        );
        std::fs::create_dir_all(conf_dir(prefix)).unwrap();
        std::fs::write(main_conf(prefix), &conf).unwrap();
        std::fs::write(conf_dir(prefix).join("solo5.conf"), "path(solo5) = \"x\"\n").unwrap();
        for arch in BOTH {
            fake_compiler(prefix, arch);
        }
        conf.into_bytes()
    }

    #[test]
    fn the_toolchain_path_is_the_sysroot_stdlib_then_its_lib_then_the_prefix_lib() {
        let prefix = Path::new("/opt/uk");
        assert_eq!(
            package_path(prefix, Arch::X86_64),
            [
                "/opt/uk/lib/ocaml-unikraft-x86_64/lib/ocaml",
                "/opt/uk/lib/ocaml-unikraft-x86_64/lib",
                "/opt/uk/lib"
            ]
            .map(PathBuf::from)
        );
        let conf = toolchain_text(prefix, Arch::X86_64, "unikraft_x86_64");
        assert!(conf.contains(
            "\npath(unikraft_x86_64) = \"/opt/uk/lib/ocaml-unikraft-x86_64/lib/ocaml:/opt/uk/lib/ocaml-unikraft-x86_64/lib:/opt/uk/lib\"\n"
        ), "{conf}");
        assert!(conf
            .contains("\ndestdir(unikraft_x86_64) = \"/opt/uk/lib/ocaml-unikraft-x86_64/lib\"\n"));
        // is_unikraft is on the toolchain's path, before the prefix's lib.
        let meta = is_unikraft_meta(prefix, Arch::X86_64);
        let dir = meta.parent().unwrap().parent().unwrap();
        assert_eq!(
            package_path(prefix, Arch::X86_64)
                .iter()
                .position(|p| p == dir),
            Some(1)
        );
    }

    #[test]
    fn seq_is_an_empty_package_the_cross_toolchains_find() {
        let prefix = Path::new("/opt/uk");
        for arch in BOTH {
            let meta = seq_meta(prefix, arch);
            assert!(meta.ends_with("lib/seq/META"));
            let dir = meta.parent().unwrap().parent().unwrap();
            assert_eq!(package_path(prefix, arch)[1], dir);
        }
        assert!(SEQ_TEXT.contains("\nrequires = \"\"\n"));
        assert!(!SEQ_TEXT.contains("archive"));
    }

    #[test]
    fn the_toolchain_matches_the_golden_file() {
        let conf = toolchain_text(Path::new("/opt/uk"), Arch::Arm64, "unikraft");
        let golden = include_str!("../../tests/golden/findlib-arm64-unikraft.conf");
        assert_eq!(conf, golden);
    }

    #[test]
    fn an_opam_switch_keeps_its_findlib_conf_and_gets_the_toolchains_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        let theirs = opam_like(prefix);
        let owner = write(&Dest::direct(prefix), &BOTH, Arch::X86_64, "/host/lib").unwrap();
        assert_eq!(owner, MainConf::Foreign);
        assert_eq!(std::fs::read(main_conf(prefix)).unwrap(), theirs);

        let mut confs: Vec<String> = std::fs::read_dir(conf_dir(prefix))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        confs.sort();
        assert_eq!(
            confs,
            [
                "solo5.conf",
                "unikraft.conf",
                "unikraft_arm64.conf",
                "unikraft_x86_64.conf"
            ]
        );
        let read = |name: &str| std::fs::read_to_string(conf_dir(prefix).join(name)).unwrap();
        assert_eq!(read("solo5.conf"), "path(solo5) = \"x\"\n");
        for arch in BOTH {
            let name = ocaml::toolchain_name(arch);
            assert_eq!(
                read(&format!("{name}.conf")),
                toolchain_text(prefix, arch, &name)
            );
            let meta = std::fs::read_to_string(is_unikraft_meta(prefix, arch)).unwrap();
            assert!(
                meta.starts_with("description = \"") && meta.contains("\nversion = \""),
                "{meta}"
            );
            assert!(!meta.contains("archive"), "{meta}");
            let seq = std::fs::read_to_string(seq_meta(prefix, arch)).unwrap();
            assert!(seq.contains("\nrequires = \"\"\n"), "{seq}");
            assert!(!seq.contains("archive"), "{seq}");
        }
        assert_eq!(
            read("unikraft.conf"),
            toolchain_text(prefix, Arch::X86_64, "unikraft")
        );
        let path = format!("path(unikraft) = \"{}/lib/ocaml-unikraft-x86_64/lib/ocaml:{0}/lib/ocaml-unikraft-x86_64/lib:{0}/lib\"", prefix.display());
        assert!(read("unikraft.conf").contains(&path));

        // A second install still leaves it alone.
        write(&Dest::direct(prefix), &BOTH, Arch::Arm64, "/host/lib").unwrap();
        assert_eq!(std::fs::read(main_conf(prefix)).unwrap(), theirs);
    }

    #[test]
    fn a_failure_at_any_move_leaves_an_opam_switch_as_it_was() {
        let count = fail_each_rename(
            |root| drop(opam_like(root)),
            Path::to_path_buf,
            |root, renames| {
                write_with(
                    &Dest::direct(root),
                    &BOTH,
                    Arch::X86_64,
                    "/h",
                    &mut |from, to| renames.rename(from, to),
                )
                .map(drop)
            },
        );
        // Three toolchains, two markers and two seq packages, all new.
        assert_eq!(count, 7);
    }

    #[test]
    fn a_staged_destination_gets_the_toolchains_for_its_prefix_and_no_main_conf() {
        let dir = tempfile::tempdir().unwrap();
        let (prefix, root) = (dir.path().join("switch"), dir.path().join("stage"));
        std::fs::create_dir_all(&prefix).unwrap();
        fake_compiler(&root, Arch::X86_64);
        let dest = Dest::staged(&prefix, &root);
        // The switch has no findlib.conf yet: still not ours to write.
        let owner = write(&dest, &[Arch::X86_64], Arch::X86_64, "/host/lib").unwrap();
        assert_eq!(owner, MainConf::Foreign);
        assert!(!main_conf(&root).exists() && !main_conf(&prefix).exists());
        assert!(!conf_dir(&prefix).exists());
        let text = std::fs::read_to_string(conf_dir(&root).join("unikraft.conf")).unwrap();
        assert_eq!(text, toolchain_text(&prefix, Arch::X86_64, "unikraft"));
        assert!(is_unikraft_meta(&root, Arch::X86_64).is_file());
        assert_eq!(current_default(&dest), Some(Arch::X86_64));
    }

    #[test]
    fn our_own_main_conf_is_written_then_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        fake_compiler(prefix, Arch::X86_64);
        assert_eq!(
            write(
                &Dest::direct(prefix),
                &[Arch::X86_64],
                Arch::X86_64,
                "/host/a"
            )
            .unwrap(),
            MainConf::Ours
        );
        assert_eq!(
            write(
                &Dest::direct(prefix),
                &[Arch::X86_64],
                Arch::X86_64,
                "/host/b"
            )
            .unwrap(),
            MainConf::Ours
        );
        let main = std::fs::read_to_string(main_conf(prefix)).unwrap();
        assert!(main.contains("path = \"/host/b\""), "{main}");
    }

    #[test]
    fn a_main_conf_that_only_mentions_us_later_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        std::fs::create_dir_all(prefix.join("lib")).unwrap();
        std::fs::write(
            main_conf(prefix),
            format!("path=\"/x\"\n{MAIN_CONF_MARKER}\n"),
        )
        .unwrap();
        assert_eq!(MainConf::of(prefix).unwrap(), MainConf::Foreign);
        std::fs::write(main_conf(prefix), main_conf_text("/x")).unwrap();
        assert_eq!(MainConf::of(prefix).unwrap(), MainConf::Ours);
    }

    #[test]
    fn a_prefix_a_configuration_cannot_quote_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("a:b");
        fake_compiler(&prefix, Arch::X86_64);
        let err = write(&Dest::direct(&prefix), &[Arch::X86_64], Arch::X86_64, "/h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds ':'"), "{err}");
        assert!(!conf_dir(&prefix).exists());
    }

    #[test]
    fn the_export_lines_name_the_configuration_ocamlfind_must_read() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        let host = Path::new("/host/bin");
        let conf = main_conf(prefix);
        let ours = usage(prefix, MainConf::Ours, Some(host));
        assert_eq!(
            ours,
            [
                format!("export PATH=\"{}/bin:/host/bin:$PATH\"", prefix.display()),
                format!("export OCAMLFIND_CONF=\"{}\"", conf.display()),
            ]
        );
        // A foreign configuration without its ocamlfind: named.
        assert_eq!(usage(prefix, MainConf::Foreign, Some(host)), ours);
        // With its ocamlfind (an opam switch): that one reads it.
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::write(prefix.join("bin/ocamlfind"), "").unwrap();
        let opam = usage(prefix, MainConf::Foreign, Some(host));
        assert_eq!(
            opam[0],
            format!("export PATH=\"{}/bin:$PATH\"", prefix.display())
        );
        assert!(opam[1].starts_with('#') && opam[1].contains("OCAMLFIND_CONF unset"));
    }

    #[test]
    fn default_arch_switches_only_the_unikraft_toolchain() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        fake_compiler(prefix, Arch::X86_64);
        fake_compiler(prefix, Arch::Arm64);
        write(&Dest::direct(prefix), &BOTH, Arch::X86_64, "/host/lib").unwrap();
        let read = |name: &str| std::fs::read_to_string(conf_dir(prefix).join(name)).unwrap();
        let x86 = read("unikraft_x86_64.conf");
        assert!(read("unikraft.conf").contains("ocaml-unikraft-x86_64/bin/ocamlopt"));
        assert!(std::fs::read_to_string(main_conf(prefix))
            .unwrap()
            .contains("path = \"/host/lib\""));

        assert_eq!(current_default(&Dest::direct(prefix)), Some(Arch::X86_64));
        set_default(&Dest::direct(prefix), Arch::Arm64).unwrap();
        assert_eq!(current_default(&Dest::direct(prefix)), Some(Arch::Arm64));
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
        write(
            &Dest::direct(prefix),
            &[Arch::X86_64],
            Arch::X86_64,
            "/host/lib",
        )
        .unwrap();
        let err = set_default(&Dest::direct(prefix), Arch::Arm64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no arm64 cross compiler"), "{err}");
        let unikraft = std::fs::read_to_string(conf_dir(prefix).join("unikraft.conf")).unwrap();
        assert!(unikraft.contains("ocaml-unikraft-x86_64"));
    }

    #[test]
    fn the_main_conf_names_every_tool_without_a_toolchain() {
        let text = main_conf_text("/host/lib/ocaml");
        assert!(text.starts_with(&format!("{MAIN_CONF_MARKER}\n")));
        assert!(text.contains("path = \"/host/lib/ocaml\"\n"));
        for tool in FINDLIB_TOOLS {
            assert!(text.contains(&format!("\n{tool} = \"{tool}\"\n")), "{tool}");
        }
    }
}
