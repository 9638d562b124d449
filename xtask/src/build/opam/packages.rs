//! The opam packages that stand for an installation, read from its staging
//! root, and their opam files.
//!
//! One package per installed part, named as the original project names
//! what mirage asks for (FACTS §9), each owning whole files or directories
//! of the prefix:
//!
//! | package | owns |
//! |---|---|
//! | `ocaml-unikraft` | `bin/ocaml-unikraft-run`; creates the directories the others need |
//! | `ocaml-unikraft-backend-<backend>-<arch>` | a bundle: `lib/` and `share/ocaml-unikraft-backend-<backend>-<arch>` |
//! | `ocaml-unikraft-toolchain-<arch>` | the driver `bin/<gnu-arch>-unikraft-ocaml-*`, `share/ocaml-unikraft-toolchain-<arch>` |
//! | `ocaml-unikraft-<arch>` | the cross compiler `lib/ocaml-unikraft-<arch>`, `lib/findlib.conf.d/unikraft_<arch>.conf` |
//! | `ocaml-unikraft-default-<arch>` | `lib/findlib.conf.d/unikraft.conf` (conflict class `ocaml-unikraft-default`) |
//! | `ocaml-unikraft-backend-<backend>` | nothing: one of the `-<arch>` bundles of that backend |
//!
//! Every package depends on `ocaml-unikraft`, directly or through the
//! chain `-default-<arch>` -> `-<arch>` -> `-toolchain-<arch>` -> the
//! arch's default bundle: `opam remove ocaml-unikraft` removes them all,
//! and opam removes them in the reverse order of their installation, so
//! `ocaml-unikraft`, which created the directories (`share/`,
//! `lib/findlib.conf.d/` in a switch that had none), goes last and leaves
//! the prefix as it found it. `ocaml-unikraft` conflicts with an OCaml of
//! another series than the cross compilers' (a ppx built by the switch's
//! compiler emits its own AST).
//!
//! A package's version is `1.0.0+xtask.<digest>`, inside mirage's
//! constraint (`>= "1.0.0" & < "2.0.0"`), the digest covering the content
//! of every file it owns: an unchanged part keeps its version, a rebuilt
//! one gets another.

use crate::target::{Arch, Backend, Bundle};
use crate::util::fs;
use anyhow::{bail, Context as _, Result};
use ocaml_unikraft_toolchain::layout;
use std::path::{Path, PathBuf};

/// The version every package starts with: the first major version mirage
/// 4.10 and 4.11 accept.
pub(crate) const VERSION_BASE: &str = "1.0.0";

/// Between the base and the digest: what marks a version as ours.
pub(crate) const VERSION_MARK: &str = "+xtask.";

/// The package every other one depends on.
pub(crate) const BASE: &str = "ocaml-unikraft";

/// The conflict class of the packages that choose toolchain `unikraft`.
const DEFAULT_CLASS: &str = "ocaml-unikraft-default";

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) synopsis: String,
    /// Files and whole directories, relative to the prefix.
    pub(crate) owns: Vec<PathBuf>,
    /// Directories, relative to the prefix, created when missing (parents
    /// first), before the files are copied.
    pub(crate) creates: Vec<PathBuf>,
    /// Each entry is satisfied by any one of its names.
    pub(crate) depends: Vec<Vec<String>>,
    pub(crate) conflict_class: Option<String>,
}

/// The packages of the installation staged in `root`, toolchain `unikraft`
/// pointing at `default` (none when it points nowhere); dependencies
/// before the packages that depend on them.
pub(crate) fn plan(root: &Path, default: Option<Arch>) -> Result<Vec<Package>> {
    let runner = Path::new("bin").join(layout::RUNNER);
    if !root.join(&runner).is_file() {
        bail!(
            "the staged installation {} has no {}\nhelp: run `cargo xtask install --prefix DIR --opam` again",
            root.display(),
            runner.display()
        );
    }
    let mut packages = vec![Package {
        name: BASE.into(),
        synopsis: "OCaml cross compilers for Unikraft unikernels: the runner, and what the other packages need".into(),
        owns: vec![runner],
        creates: Vec::new(),
        depends: Vec::new(),
        conflict_class: None,
    }];
    let bundles = crate::build::install::installed_bundles(root);
    for bundle in &bundles {
        let dir = bundle.install_name();
        packages.push(Package {
            name: dir.clone(),
            synopsis: format!(
                "Unikraft bundle {}: the {} backend for {}",
                bundle.name(),
                bundle.backend_name(),
                bundle.arch.unikraft()
            ),
            owns: vec![Path::new("lib").join(&dir), Path::new("share").join(&dir)],
            creates: Vec::new(),
            depends: vec![vec![BASE.into()]],
            conflict_class: None,
        });
    }
    for arch in Arch::ALL {
        if !layout::c_compiler(root, arch).is_file() {
            continue;
        }
        let default_file = layout::default_backend_file(arch);
        let backend = std::fs::read_to_string(root.join(&default_file))
            .with_context(|| format!("reading {}", root.join(&default_file).display()))?;
        let leader = layout::bundle_dir_name(backend.trim(), arch);
        if !packages.iter().any(|p| p.name == leader) {
            bail!(
                "the default backend of {} in {} is {}, which is not installed there\nhelp: run `cargo xtask install --prefix DIR --opam` without --option",
                arch.unikraft(),
                root.display(),
                backend.trim()
            );
        }
        let mut owns: Vec<PathBuf> = layout::tools()
            .map(|tool| Path::new("bin").join(layout::tool_file_name(arch, tool)))
            .collect();
        owns.push(default_file.parent().unwrap_or(&default_file).to_path_buf());
        packages.push(Package {
            name: toolchain_package(arch),
            synopsis: format!(
                "The C driver {}-unikraft-ocaml-cc and its binutils names",
                arch.gnu()
            ),
            owns,
            creates: Vec::new(),
            depends: vec![vec![leader]],
            conflict_class: None,
        });
    }
    for arch in Arch::ALL {
        if !layout::has_compiler(root, arch) {
            continue;
        }
        if !packages.iter().any(|p| p.name == toolchain_package(arch)) {
            bail!(
                "the staged installation {} has an {} cross compiler but no C driver for it\nhelp: run `cargo xtask install --prefix DIR --opam --arch {}` again",
                root.display(),
                arch.unikraft(),
                arch.unikraft()
            );
        }
        let compiler = layout::compiler_dir(Path::new(""), arch);
        let conf = conf_dir().join(format!(
            "{}.conf",
            crate::build::ocaml::toolchain_name(arch)
        ));
        packages.push(Package {
            name: arch_package(arch),
            synopsis: format!(
                "OCaml cross compiler for {}, ocamlfind toolchain {}",
                arch.unikraft(),
                crate::build::ocaml::toolchain_name(arch)
            ),
            owns: vec![compiler, conf],
            creates: Vec::new(),
            depends: vec![vec![toolchain_package(arch)]],
            conflict_class: None,
        });
    }
    if let Some(arch) = default {
        if !packages.iter().any(|p| p.name == arch_package(arch)) {
            bail!(
                "toolchain unikraft in {} points at {}, which has no cross compiler there\nhelp: run `cargo xtask install --prefix DIR --opam --arch {}`",
                root.display(),
                arch.unikraft(),
                arch.unikraft()
            );
        }
        packages.push(Package {
            name: format!("ocaml-unikraft-default-{}", arch.unikraft()),
            synopsis: format!(
                "ocamlfind toolchain unikraft: the {} cross compiler",
                arch.unikraft()
            ),
            owns: vec![conf_dir().join("unikraft.conf")],
            creates: Vec::new(),
            depends: vec![vec![arch_package(arch)]],
            conflict_class: Some(DEFAULT_CLASS.into()),
        });
    }
    for backend in Backend::ALL {
        let plain: Vec<String> = bundles
            .iter()
            .filter(|b| b.backend == backend && b.options.is_empty())
            .map(Bundle::install_name)
            .collect();
        if !plain.is_empty() {
            packages.push(Package {
                name: format!("ocaml-unikraft-backend-{}", backend.name()),
                synopsis: format!("The {} backend, for one arch or more", backend.name()),
                owns: Vec::new(),
                creates: Vec::new(),
                depends: vec![plain],
                conflict_class: None,
            });
        }
    }
    // The base creates every directory a package copies into: it is
    // installed first and removed last.
    let mut dirs: Vec<PathBuf> = packages
        .iter()
        .flat_map(|p| &p.owns)
        .flat_map(|path| path.ancestors().skip(1))
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    dirs.sort();
    dirs.dedup();
    packages[0].creates = dirs;
    Ok(packages)
}

fn conf_dir() -> PathBuf {
    Path::new("lib").join("findlib.conf.d")
}

fn toolchain_package(arch: Arch) -> String {
    format!("ocaml-unikraft-toolchain-{}", arch.unikraft())
}

fn arch_package(arch: Arch) -> String {
    format!("ocaml-unikraft-{}", arch.unikraft())
}

/// Fails unless every file and link below `root` belongs to a package: opam
/// must know every file it puts in the prefix.
pub(crate) fn check_covered(root: &Path, packages: &[Package]) -> Result<()> {
    let owned: Vec<&PathBuf> = packages.iter().flat_map(|p| &p.owns).collect();
    for file in fs::files_below(root)? {
        if !owned.iter().any(|path| file.starts_with(path)) {
            bail!(
                "{} in the staged installation {} belongs to no opam package\nhelp: remove it (a leftover of an interrupted run) and run `cargo xtask install --prefix DIR --opam` again",
                file.display(),
                root.display()
            );
        }
    }
    Ok(())
}

/// The digest of what `package` owns in `root`: every path below it, its
/// kind, its executable bit, and a file's content or a link's target.
pub(crate) fn digest(root: &Path, package: &Package) -> Result<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut text = String::new();
    for owned in &package.owns {
        let mut paths = vec![owned.clone()];
        while let Some(relative) = paths.pop() {
            let path = root.join(&relative);
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let line = if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                format!("link {}", target.display())
            } else if meta.is_dir() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                    .with_context(|| format!("reading {}", path.display()))?
                    .map(|entry| Ok(relative.join(entry?.file_name())))
                    .collect::<std::io::Result<_>>()?;
                // Popped in name order.
                entries.sort_by(|a, b| b.cmp(a));
                paths.extend(entries);
                "dir".to_string()
            } else {
                let exec = meta.permissions().mode() & 0o111 != 0;
                format!("file {exec} {}", fs::sha256_file(&path)?)
            };
            text.push_str(&format!("{} {line}\n", relative.display()));
        }
    }
    Ok(fs::sha256_hex(text.as_bytes())[..12].to_string())
}

/// `1.0.0+xtask.<digest>`.
pub(crate) fn version(digest: &str) -> String {
    format!("{VERSION_BASE}{VERSION_MARK}{digest}")
}

/// What an opam file says about where it comes from.
pub(crate) struct Origin<'a> {
    /// The staging root the files are copied from.
    pub(crate) root: &'a Path,
    /// The repository that built them.
    pub(crate) repo: &'a Path,
    /// The OCaml release of the cross compilers (`5.4.1`).
    pub(crate) ocaml: &'a str,
}

/// The opam file of `package`.
pub(crate) fn opam_file(package: &Package, origin: &Origin) -> Result<String> {
    let (major, minor) = ocaml_series(origin.ocaml)?;
    let mut text = String::from("opam-version: \"2.0\"\n");
    text.push_str(&format!("synopsis: {}\n", quote(&package.synopsis)?));
    text.push_str(&format!(
        "description: {}\n",
        quote(&format!(
            "Installed by ocaml-unikraft's `cargo xtask install --opam`, from the build of {}: this package copies files built there into the switch (opam removes them with it). It stands for the package of the same name of the original ocaml-unikraft project, which MirageOS's unikraft targets ask for.",
            origin.repo.display()
        ))?
    ));
    text.push_str("maintainer: \"ocaml-unikraft (cargo xtask install --opam)\"\n");
    text.push_str("license: \"MIT\"\n");
    if !package.depends.is_empty() {
        text.push_str("depends: [\n");
        for alternatives in &package.depends {
            let names: Vec<String> = alternatives
                .iter()
                .map(|n| quote(n))
                .collect::<Result<_>>()?;
            text.push_str(&format!("  {}\n", names.join(" | ")));
        }
        text.push_str("]\n");
    }
    if package.name == BASE {
        text.push_str(&format!(
            "conflicts: [\n  \"ocaml\" {{< \"{major}.{minor}~\" | >= \"{major}.{}~\"}}\n]\n",
            minor + 1
        ));
    }
    if let Some(class) = &package.conflict_class {
        text.push_str(&format!("conflict-class: {}\n", quote(class)?));
    }
    let prefix = "%{prefix}%";
    let mut commands: Vec<Vec<String>> = package
        .creates
        .iter()
        .map(|dir| {
            vec![
                "mkdir".into(),
                "-p".into(),
                format!("{prefix}/{}", dir.display()),
            ]
        })
        .collect();
    // One copy per destination directory, so that hard links between the
    // files copied (the driver's names) stay links.
    let mut by_parent: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    for owned in &package.owns {
        let parent = owned.parent().unwrap_or(Path::new("")).to_path_buf();
        match by_parent.iter_mut().find(|(p, _)| *p == parent) {
            Some((_, paths)) => paths.push(owned.clone()),
            None => by_parent.push((parent, vec![owned.clone()])),
        }
    }
    for (parent, paths) in by_parent {
        let mut cp = vec!["cp".to_string(), "-a".to_string()];
        cp.extend(
            paths
                .iter()
                .map(|p| origin.root.join(p).display().to_string()),
        );
        cp.push(format!("{prefix}/{}/", parent.display()));
        commands.push(cp);
    }
    if !commands.is_empty() {
        text.push_str("install: [\n");
        for command in commands {
            let words: Vec<String> = command.iter().map(|w| quote(w)).collect::<Result<_>>()?;
            text.push_str(&format!("  [{}]\n", words.join(" ")));
        }
        text.push_str("]\n");
    }
    Ok(text)
}

/// An opam string: no escapes needed, and no `%{` (opam would expand it)
/// but the one of `%{prefix}%`.
fn quote(text: &str) -> Result<String> {
    let plain = text.replace("%{prefix}%", "");
    if plain.contains(['"', '\\']) || plain.contains("%{") {
        bail!(
            "{text} cannot be written in an opam file (it holds '\"', '\\' or '%{{')\nhelp: use a build directory and prefix whose paths have none of them"
        );
    }
    Ok(format!("\"{text}\""))
}

/// `(5, 4)` of `5.4.1`, `5.4.0+options`, `5.4`.
pub(crate) fn ocaml_series(version: &str) -> Result<(u32, u32)> {
    let mut parts = version.split(['.', '+', '~', '-']);
    let number = |part: Option<&str>| part.and_then(|p| p.parse::<u32>().ok());
    match (number(parts.next()), number(parts.next())) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => bail!("cannot read an OCaml release from '{version}'\nhelp: an OCaml version reads MAJOR.MINOR[.PATCH]"),
    }
}

/// Fails unless the switch's OCaml (none in an empty switch) is of the
/// series of the cross compilers' `ours`.
pub(crate) fn check_switch_ocaml(switch: &str, theirs: Option<&str>, ours: &str) -> Result<()> {
    let Some(theirs) = theirs else {
        return Ok(());
    };
    let (major, minor) = ocaml_series(ours)?;
    if ocaml_series(theirs)? != (major, minor) {
        bail!(
            "opam switch {switch} has OCaml {theirs}, and the cross compilers are OCaml {ours}: a ppx run by the switch's compiler would emit the AST of {theirs}, which the cross compilers cannot read\nhelp: install into a switch with OCaml {major}.{minor} (`opam switch create NAME {ours}`) or an empty one (`opam switch create NAME --empty`)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::BuildOption;

    /// A staging root as localbuild leaves it: x86_64 with QEMU (its
    /// default), Firecracker and a 9pfs variant; arm64 with QEMU; toolchain
    /// unikraft on x86_64.
    fn staged(root: &Path) {
        let write = |path: &Path, text: &str| {
            fs::create_parent(&root.join(path)).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        };
        write(&Path::new("bin").join(layout::RUNNER), "runner");
        for bundle in [
            Bundle::new(Backend::Qemu, Arch::X86_64, &[]),
            Bundle::new(Backend::Firecracker, Arch::X86_64, &[]),
            Bundle::new(Backend::Qemu, Arch::X86_64, &[BuildOption::NinePfs]),
            Bundle::new(Backend::Qemu, Arch::Arm64, &[]),
        ] {
            let dir = bundle.install_name();
            write(&Path::new("lib").join(&dir).join("libuk.a"), "bundle");
            write(
                &Path::new("share").join(&dir).join(layout::DESCRIPTOR_FILE),
                "{}",
            );
        }
        for arch in Arch::ALL {
            for tool in layout::tools() {
                write(
                    &Path::new("bin").join(layout::tool_file_name(arch, tool)),
                    "driver",
                );
            }
            write(&layout::default_backend_file(arch), "qemu\n");
            write(
                &layout::compiler_dir(Path::new(""), arch).join("bin/ocamlopt"),
                "ocamlopt",
            );
            write(
                &conf_dir().join(format!("unikraft_{}.conf", arch.unikraft())),
                "conf",
            );
        }
        write(&conf_dir().join("unikraft.conf"), "conf");
    }

    fn find<'a>(packages: &'a [Package], name: &str) -> &'a Package {
        packages
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no package {name}"))
    }

    #[test]
    fn every_part_is_a_package_and_every_package_leads_to_the_base() {
        let dir = tempfile::tempdir().unwrap();
        staged(dir.path());
        let packages = plan(dir.path(), Some(Arch::X86_64)).unwrap();
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ocaml-unikraft",
                "ocaml-unikraft-backend-qemu-x86_64",
                "ocaml-unikraft-backend-qemu-9pfs-x86_64",
                "ocaml-unikraft-backend-firecracker-x86_64",
                "ocaml-unikraft-backend-qemu-arm64",
                "ocaml-unikraft-toolchain-x86_64",
                "ocaml-unikraft-toolchain-arm64",
                "ocaml-unikraft-x86_64",
                "ocaml-unikraft-arm64",
                "ocaml-unikraft-default-x86_64",
                "ocaml-unikraft-backend-qemu",
                "ocaml-unikraft-backend-firecracker",
            ]
        );
        check_covered(dir.path(), &packages).unwrap();
        // Dependencies come first, and every chain ends at the base.
        for (index, package) in packages.iter().enumerate() {
            for alternatives in &package.depends {
                for name in alternatives {
                    let at = names.iter().position(|n| n == name).unwrap();
                    assert!(at < index, "{} before {name}", package.name);
                }
            }
            let mut at = package;
            while at.name != BASE {
                at = find(&packages, &at.depends[0][0]);
            }
        }
        assert_eq!(
            find(&packages, "ocaml-unikraft-backend-qemu").depends,
            [[
                "ocaml-unikraft-backend-qemu-x86_64",
                "ocaml-unikraft-backend-qemu-arm64"
            ]]
        );
        assert_eq!(
            find(&packages, "ocaml-unikraft-toolchain-arm64").depends,
            [["ocaml-unikraft-backend-qemu-arm64"]]
        );
        assert_eq!(
            find(&packages, BASE).creates,
            ["bin", "lib", "lib/findlib.conf.d", "share"].map(PathBuf::from)
        );
        assert!(packages[1..].iter().all(|p| p.creates.is_empty()));
    }

    #[test]
    fn a_file_no_package_owns_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        staged(dir.path());
        std::fs::write(dir.path().join("lib/stray"), "").unwrap();
        let packages = plan(dir.path(), Some(Arch::Arm64)).unwrap();
        let err = check_covered(dir.path(), &packages)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("lib/stray in the staged installation"),
            "{err}"
        );
        assert!(err.contains("\nhelp: "), "{err}");
    }

    #[test]
    fn the_digest_follows_content_and_kind_not_time() {
        let dir = tempfile::tempdir().unwrap();
        staged(dir.path());
        let packages = plan(dir.path(), Some(Arch::X86_64)).unwrap();
        let compiler = find(&packages, "ocaml-unikraft-x86_64");
        let before = digest(dir.path(), compiler).unwrap();
        let ocamlopt = dir.path().join("lib/ocaml-unikraft-x86_64/bin/ocamlopt");
        std::fs::write(&ocamlopt, "ocamlopt").unwrap();
        assert_eq!(digest(dir.path(), compiler).unwrap(), before);
        std::fs::write(&ocamlopt, "ocamlopt 2").unwrap();
        assert_ne!(digest(dir.path(), compiler).unwrap(), before);
        let other = find(&packages, "ocaml-unikraft-arm64");
        assert_ne!(digest(dir.path(), other).unwrap(), before);
    }

    #[test]
    fn an_opam_file_copies_the_parts_and_says_where_they_come_from() {
        let dir = tempfile::tempdir().unwrap();
        staged(dir.path());
        let packages = plan(dir.path(), Some(Arch::X86_64)).unwrap();
        let origin = Origin {
            root: Path::new("/b/opam/p"),
            repo: Path::new("/src/ocaml-unikraft"),
            ocaml: "5.4.1",
        };
        let base = opam_file(find(&packages, BASE), &origin).unwrap();
        assert!(
            base.contains("\nconflicts: [\n  \"ocaml\" {< \"5.4~\" | >= \"5.5~\"}\n]\n"),
            "{base}"
        );
        assert!(
            base.contains("  [\"mkdir\" \"-p\" \"%{prefix}%/lib/findlib.conf.d\"]\n"),
            "{base}"
        );
        assert!(
            base.contains(
                "  [\"cp\" \"-a\" \"/b/opam/p/bin/ocaml-unikraft-run\" \"%{prefix}%/bin/\"]\n"
            ),
            "{base}"
        );
        assert!(base.contains("cargo xtask install --opam"), "{base}");
        assert!(base.contains("/src/ocaml-unikraft"), "{base}");
        assert!(!base.contains("depends"), "{base}");

        let driver =
            opam_file(find(&packages, "ocaml-unikraft-toolchain-x86_64"), &origin).unwrap();
        // The eleven names in one copy, then the default-backend directory.
        let copies: Vec<&str> = driver.lines().filter(|l| l.contains("\"cp\"")).collect();
        assert_eq!(copies.len(), 2, "{driver}");
        assert_eq!(copies[0].matches("-unikraft-ocaml-").count(), 11);
        assert!(!driver.contains("mkdir"), "{driver}");

        let default = opam_file(find(&packages, "ocaml-unikraft-default-x86_64"), &origin).unwrap();
        assert!(
            default.contains("\nconflict-class: \"ocaml-unikraft-default\"\n"),
            "{default}"
        );
        let meta = opam_file(find(&packages, "ocaml-unikraft-backend-qemu"), &origin).unwrap();
        assert!(meta.contains("depends: [\n  \"ocaml-unikraft-backend-qemu-x86_64\" | \"ocaml-unikraft-backend-qemu-arm64\"\n]\n"), "{meta}");
        assert!(!meta.contains("install: ["), "{meta}");
    }

    #[test]
    fn a_path_opam_cannot_quote_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        staged(dir.path());
        let packages = plan(dir.path(), None).unwrap();
        assert!(!packages.iter().any(|p| p.name.contains("default")));
        let origin = Origin {
            root: Path::new("/b/%{x}%/p"),
            repo: Path::new("/src"),
            ocaml: "5.4.1",
        };
        let err = opam_file(&packages[0], &origin).unwrap_err().to_string();
        assert!(err.contains("cannot be written in an opam file"), "{err}");
    }

    #[test]
    fn versions_stay_inside_mirages_constraint() {
        let v = version("0123456789ab");
        assert_eq!(v, "1.0.0+xtask.0123456789ab");
        assert!(v.starts_with(VERSION_BASE) && v.as_bytes()[VERSION_BASE.len()] == b'+');
    }

    #[test]
    fn only_the_cross_compilers_ocaml_series_or_none_is_accepted() {
        check_switch_ocaml("sw", None, "5.4.1").unwrap();
        check_switch_ocaml("sw", Some("5.4.0"), "5.4.1").unwrap();
        check_switch_ocaml("sw", Some("5.4.1+options"), "5.4.1").unwrap();
        let err = check_switch_ocaml("sw", Some("5.3.0"), "5.4.1")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "opam switch sw has OCaml 5.3.0, and the cross compilers are OCaml 5.4.1"
            ),
            "{err}"
        );
        assert!(err.contains("\nhelp: "), "{err}");
        assert!(check_switch_ocaml("sw", Some("4.14.2"), "5.4.1").is_err());
        assert!(check_switch_ocaml("sw", Some("5.5.0~alpha1"), "5.4.1").is_err());
        assert_eq!(ocaml_series("5.4").unwrap(), (5, 4));
        assert!(ocaml_series("five").is_err());
    }
}
