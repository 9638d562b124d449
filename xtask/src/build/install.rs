//! Installing into a prefix: everything is first assembled in a staging
//! directory inside the prefix, then the pieces are renamed into place all
//! or none ([`place`]). A failure at any point, staging or moving, leaves
//! the previous installation as it was.
//!
//! Layout (mirroring the original project's package names):
//! - `bin/<gnu-arch>-unikraft-ocaml-<tool>`: the driver under every name;
//! - `bin/ocaml-unikraft-run`: the runner (`cargo xtask run`'s code);
//! - `lib/ocaml-unikraft-backend-<backend>-<arch>/`: bundle files;
//! - `share/ocaml-unikraft-backend-<backend>-<arch>/backend.json`;
//! - `share/ocaml-unikraft-toolchain-<arch>/default-backend`, and for the
//!   host's arch `kvm-probe`, the C hello the runner boots once on KVM.

use crate::build::backends;
use crate::check::smoke;
use crate::context::Context;
use crate::target::{Arch, Backend, Bundle, Variant};
use crate::util::cmd::Cmd;
use crate::util::fs;
use crate::util::place::{self, Piece};
use crate::util::probe::{self, cmd};
use crate::util::progress;
use crate::util::step::{run_step, BuildStep, Cached, Stamp, StepResult, Urgency};
use crate::util::step_cache::{OutputKind, Outputs, StepCache};
use anyhow::{Context as _, Result};
use ocaml_unikraft_toolchain::layout;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The install step's name in progress lines and timings.
pub(crate) const STEP: &str = "install";

pub(crate) struct Installation<'a> {
    pub(crate) prefix: &'a Path,
    pub(crate) programs: &'a Programs,
    pub(crate) bundles: &'a [Bundle],
    /// Stage directories, in the order of `bundles`.
    pub(crate) bundle_stages: &'a [PathBuf],
}

/// The bundles installed in `prefix` (those with a descriptor), plain
/// bundles and variants alike, in a stable order: by arch, backend, then
/// options (the plain bundle first).
pub(crate) fn installed_bundles(prefix: &Path) -> Vec<Bundle> {
    let entries = match std::fs::read_dir(prefix.join("share")) {
        Ok(entries) => entries,
        Err(_) => return Vec::new(),
    };
    let mut found: Vec<Bundle> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|dir| {
            Arch::ALL.into_iter().find_map(|arch| {
                let backend = layout::backend_of_bundle_dir(&dir, arch)?;
                Some(Bundle::of(&Variant::from_name(backend)?, arch))
            })
        })
        .filter(|bundle| {
            prefix
                .join("share")
                .join(bundle.install_name())
                .join(layout::DESCRIPTOR_FILE)
                .is_file()
        })
        .collect();
    found.sort_by_key(|b| (b.arch, b.backend, b.options.clone()));
    found
}

/// The programs installed with the toolchain.
pub(crate) struct Programs {
    /// The C driver, installed under every tool name.
    pub(crate) driver: PathBuf,
    /// `ocaml-unikraft-run`.
    pub(crate) runner: PathBuf,
}

/// The step that builds the programs, in progress lines and timings.
pub(crate) const PROGRAMS_STEP: &str = "programs";

/// Stands in the recipe for cargo itself (the one running the xtask, when
/// it does: its path is not an input, `rustc -vV` is).
const CARGO: &str = "${cargo}";

/// Builds the C driver and the runner into `<build>/programs`, unless they
/// are up to date or the step cache has them.
///
/// They are built beside the xtask, in cargo's own target directory and
/// profile, with the xtask among the packages built so that cargo unifies
/// the dependencies' features as it did for the xtask: every dependency is
/// already compiled, and only the toolchain crate's programs are (a release
/// build of their own compiled them all again, 35 CPU-s at the head of
/// every cold build's critical path). The profile optimises the toolchain
/// crate (Cargo.toml): the driver runs thousands of times per OCaml build.
pub(crate) fn build_programs(
    ctx: &Context,
    jobserver: &jobserver::Client,
    step_cache: Option<&StepCache>,
) -> Result<Programs> {
    let dir = ctx.build_dir.join("programs");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let recipe = [Cmd::new(CARGO)
        .args(["build", "--package", "xtask", "--package"])
        .arg("ocaml-unikraft-toolchain")
        .args(["--features", "ocaml-unikraft-toolchain/boot", "--bins"])];
    let programs = Programs {
        driver: dir.join(DRIVER),
        runner: dir.join(layout::RUNNER),
    };
    let step = BuildStep {
        name: PROGRAMS_STEP.into(),
        stamp: Stamp::new(ctx.build_dir.join("stamps").join(PROGRAMS_STEP)),
        log: ctx.log_dir().join(format!("{PROGRAMS_STEP}.log")),
        inputs: programs_inputs(ctx)?,
        recipe: &recipe,
        output: Some(programs.runner.clone()),
        // The bundles, and so everything else, wait for the driver.
        urgency: Urgency::Critical,
        cache: step_cache.map(|store| Cached {
            store,
            outputs: Outputs {
                dir: dir.clone(),
                kind: OutputKind::Whole,
                roots: Vec::new(),
            },
        }),
    };
    step.run(&ctx.log_dir(), jobserver, None, |log| {
        let [build] = &recipe;
        without_run_env(build.resolve(&[(CARGO, Path::new(&cargo))])?)
            .dir(&ctx.root)
            .run_build(log, ctx.verbose, jobserver, None)
            .context("building the C driver and the runner (toolchain/)")?;
        let built = cargo_target_dir(&cargo, &ctx.root)?.join("debug");
        fs::install_tree(&dir, false, |tmp| {
            for program in [DRIVER, layout::RUNNER] {
                std::fs::copy(built.join(program), tmp.join(program))
                    .with_context(|| format!("copying {program}"))?;
            }
            // The profile's debug information (25 MB a program) is of no
            // use to a user.
            Cmd::new("strip")
                .args([DRIVER, layout::RUNNER])
                .dir(tmp)
                .run_build(log, ctx.verbose, jobserver, None)
                .context("stripping the programs (strip is binutils')")
        })
    })?;
    Ok(programs)
}

/// The C driver's name as cargo builds it.
const DRIVER: &str = "ocaml-unikraft-cc";

/// `cmd` without the variables `cargo run` set for the xtask: a build
/// script that reads one (ring's reads `CARGO_MANIFEST_DIR`) would see it
/// changed since the xtask's build, and cargo would compile it and all that
/// depends on it again.
fn without_run_env(cmd: Cmd) -> Cmd {
    std::env::vars_os()
        .map(|(key, _)| key)
        .filter(|key| {
            let key = key.to_string_lossy();
            key.starts_with("CARGO_PKG_")
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_CRATE_NAME",
                    "CARGO_BIN_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                ]
                .contains(&key.as_ref())
        })
        .fold(cmd, Cmd::env_remove)
}

/// Where cargo builds in the workspace at `root` (`target/`, unless
/// `CARGO_TARGET_DIR` or cargo's configuration says otherwise).
fn cargo_target_dir(cargo: &OsStr, root: &Path) -> Result<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Metadata {
        target_directory: PathBuf,
    }
    let json = Cmd::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .dir(root)
        .read(false)
        .context("asking cargo for its target directory")?;
    let metadata: Metadata =
        serde_json::from_str(&json).context("reading `cargo metadata`'s output")?;
    Ok(metadata.target_directory)
}

/// What the programs are built from: the toolchain crate's files, the
/// workspace's manifest, lock file and cargo configuration, and the Rust
/// compiler.
fn programs_inputs(ctx: &Context) -> Result<String> {
    let sh = probe::shell()?;
    let rustc = probe::read(cmd!(sh, "rustc -vV")).context("asking rustc its version")?;
    let mut inputs = format!("{PROGRAMS_STEP}\n{}\n", rustc.trim());
    let toolchain = ctx.root.join("toolchain");
    let files = fs::files_below(&toolchain)?
        .into_iter()
        .map(|file| Path::new("toolchain").join(file))
        .chain(["Cargo.toml", "Cargo.lock", ".cargo/config.toml"].map(PathBuf::from));
    for file in files {
        let hash = fs::sha256_file(&ctx.root.join(&file))?;
        inputs.push_str(&format!("{} {hash}\n", file.display()));
    }
    Ok(inputs)
}

pub(crate) fn install(ctx: &Context, what: &Installation) -> Result<()> {
    let prefix = what.prefix;
    let mut key = format!(
        "prefix {}\ndriver {}\nrunner {}\n",
        prefix.display(),
        fs::sha256_file(&what.programs.driver)?,
        fs::sha256_file(&what.programs.runner)?
    );
    for bundle in what.bundles {
        let stamp = backends::stamp_path(ctx, bundle);
        let built = std::fs::read_to_string(&stamp)
            .with_context(|| format!("reading {}", stamp.display()))?;
        key.push_str(&format!(
            "{}: {}\n",
            bundle.install_name(),
            fs::sha256_hex(built.as_bytes())
        ));
    }
    let stamp = Stamp::new(ctx.build_dir.join("stamps/install"));
    let outcome = run_step(&ctx.log_dir(), STEP, &stamp, &key, || {
        let probe = link_kvm_probe(ctx, what)?;
        stage_and_move(what, probe.as_ref(), &mut place::rename)
    })?;
    match outcome {
        StepResult::Ran | StepResult::Restored => {
            progress::say(STEP, &format!("installed into {}", prefix.display()))
        }
        StepResult::UpToDate => progress::say(STEP, &format!("{} is up to date", prefix.display())),
    }
    Ok(())
}

/// The runner's KVM probe (see [`layout::kvm_probe`]): the C hello linked
/// for the plain QEMU bundle of this host's arch, when it is installed.
fn link_kvm_probe(ctx: &Context, what: &Installation) -> Result<Option<(Arch, PathBuf)>> {
    let host = what
        .bundles
        .iter()
        .zip(what.bundle_stages)
        .find(|(b, _)| b.backend == Backend::Qemu && b.options.is_empty() && b.arch.is_host());
    let Some((bundle, stage)) = host else {
        return Ok(None);
    };
    let dir = ctx.build_dir.join("kvm-probe");
    driver_prefix(&dir.join("prefix"), &what.programs.driver, bundle, stage)?;
    let image = dir.join(bundle.arch.unikraft());
    smoke::link_hello(ctx, &dir.join("prefix"), bundle, &image)?;
    Ok(Some((bundle.arch, image)))
}

/// Stages everything (`kvm_probe`: the probe linked for an arch) and moves
/// it into the prefix.
fn stage_and_move(
    what: &Installation,
    kvm_probe: Option<&(Arch, PathBuf)>,
    rename: &mut place::Rename,
) -> Result<()> {
    let prefix = what.prefix;
    std::fs::create_dir_all(prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(prefix)
        .with_context(|| format!("creating a staging directory in {}", prefix.display()))?;
    let stage = staging.path();

    // Relative paths (inside the prefix) of everything staged.
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut arches: Vec<Arch> = what.bundles.iter().map(|b| b.arch).collect();
    arches.sort();
    arches.dedup();
    std::fs::create_dir_all(stage.join("bin"))?;
    let runner = Path::new("bin").join(layout::RUNNER);
    std::fs::copy(&what.programs.runner, stage.join(&runner))
        .with_context(|| format!("copying {}", what.programs.runner.display()))?;
    paths.push(runner);
    for arch in &arches {
        paths.extend(stage_driver(stage, &what.programs.driver, *arch)?);
        // A variant installed alone leaves the default as it was.
        if let Some(default) = default_backend(what.bundles, *arch) {
            let default_file = layout::default_backend_file(*arch);
            crate::util::fs::create_parent(&stage.join(&default_file))?;
            std::fs::write(stage.join(&default_file), format!("{}\n", default.name()))?;
            // The probe goes with the default, in the same directory.
            if let Some((_, probe)) = kvm_probe.filter(|(a, _)| a == arch) {
                std::fs::copy(probe, stage.join(layout::kvm_probe(*arch)))
                    .with_context(|| format!("copying {}", probe.display()))?;
            }
            paths.push(default_file.parent().unwrap_or(&default_file).to_path_buf());
        }
    }
    for (bundle, bundle_stage) in what.bundles.iter().zip(what.bundle_stages) {
        for part in ["lib", "share"] {
            let relative = Path::new(part).join(bundle.install_name());
            fs::copy_tree(
                &bundle_stage.join(&relative),
                &stage.join(&relative),
                &fs::CopyOptions {
                    hard_links: true,
                    ..Default::default()
                },
            )?;
            paths.push(relative);
        }
    }

    let pieces: Vec<Piece> = paths
        .iter()
        .map(|path| Piece {
            staged: stage.join(path),
            dest: prefix.join(path),
        })
        .collect();
    place::all_or_none(&pieces, prefix, rename)
}

/// The driver under every tool name of `arch` in `<dir>/bin` (one file,
/// hard links); returns their paths relative to `dir`.
fn stage_driver(dir: &Path, driver: &Path, arch: Arch) -> Result<Vec<PathBuf>> {
    let first = layout::c_compiler(dir, arch);
    std::fs::copy(driver, &first).with_context(|| format!("copying {}", driver.display()))?;
    let mut paths = Vec::new();
    for tool in layout::tools() {
        let name = layout::tool_file_name(arch, tool);
        let path = dir.join("bin").join(&name);
        if path != first {
            std::fs::hard_link(&first, &path)
                .with_context(|| format!("linking {}", path.display()))?;
        }
        paths.push(Path::new("bin").join(name));
    }
    Ok(paths)
}

/// A prefix in the build tree holding the driver and one built bundle, its
/// default: enough to build a cross compiler before the installation,
/// which waits for every bundle. The bundle is linked, not copied.
pub(crate) fn driver_prefix(
    dir: &Path,
    driver: &Path,
    bundle: &Bundle,
    stage: &Path,
) -> Result<()> {
    fs::remove_if_present(dir)?;
    std::fs::create_dir_all(dir.join("bin"))
        .with_context(|| format!("creating {}", dir.display()))?;
    stage_driver(dir, driver, bundle.arch)?;
    for part in ["lib", "share"] {
        let relative = Path::new(part).join(bundle.install_name());
        let link = dir.join(&relative);
        fs::create_parent(&link)?;
        std::os::unix::fs::symlink(stage.join(&relative), &link)
            .with_context(|| format!("linking {}", link.display()))?;
    }
    let default_file = dir.join(layout::default_backend_file(bundle.arch));
    fs::create_parent(&default_file)?;
    std::fs::write(&default_file, format!("{}\n", bundle.backend_name()))
        .with_context(|| format!("writing {}", default_file.display()))
}

/// The default backend of `arch` among the plain bundles installed: QEMU
/// when it is one (it is what tests boot), else the first; none when only
/// variants are.
fn default_backend(bundles: &[Bundle], arch: Arch) -> Option<Backend> {
    let plain: Vec<Backend> = bundles
        .iter()
        .filter(|b| b.arch == arch && b.options.is_empty())
        .map(|b| b.backend)
        .collect();
    if plain.contains(&Backend::Qemu) {
        Some(Backend::Qemu)
    } else {
        plain.first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::BuildOption;
    use crate::util::place::testing::{fail_each_rename, snapshot, Node, Renames};

    /// A driver, a runner and bundle stages whose every file holds `version`.
    struct Release {
        programs: Programs,
        bundles: Vec<Bundle>,
        stages: Vec<PathBuf>,
    }

    impl Release {
        fn new(dir: &Path, version: &str, bundles: &[(Backend, Arch)]) -> Release {
            let bundles = bundles
                .iter()
                .map(|&(backend, arch)| Bundle::new(backend, arch, &[]))
                .collect();
            Release::of(dir, version, bundles)
        }

        fn of(dir: &Path, version: &str, bundles: Vec<Bundle>) -> Release {
            let root = dir.join(version);
            std::fs::create_dir_all(&root).unwrap();
            let programs = Programs {
                driver: root.join("driver"),
                runner: root.join("runner"),
            };
            std::fs::write(&programs.driver, version).unwrap();
            std::fs::write(&programs.runner, version).unwrap();
            let stages = bundles
                .iter()
                .map(|bundle| {
                    let stage = root.join(bundle.name());
                    let lib = stage.join("lib").join(bundle.install_name());
                    let share = stage.join("share").join(bundle.install_name());
                    std::fs::create_dir_all(lib.join("include")).unwrap();
                    std::fs::create_dir_all(&share).unwrap();
                    std::fs::write(lib.join("include/uk.h"), version).unwrap();
                    std::os::unix::fs::symlink("include/uk.h", lib.join("uk.h")).unwrap();
                    std::fs::write(share.join("backend.json"), version).unwrap();
                    stage
                })
                .collect();
            Release {
                programs,
                bundles,
                stages,
            }
        }

        fn install(&self, prefix: &Path, renames: &mut Renames) -> Result<()> {
            let what = Installation {
                prefix,
                programs: &self.programs,
                bundles: &self.bundles,
                bundle_stages: &self.stages,
            };
            stage_and_move(&what, None, &mut |from, to| renames.rename(from, to))
        }
    }

    const V1: &[(Backend, Arch)] = &[(Backend::Qemu, Arch::X86_64)];
    /// Replaces everything in V1 and adds pieces V1 did not have.
    const V2: &[(Backend, Arch)] = &[
        (Backend::Qemu, Arch::X86_64),
        (Backend::Firecracker, Arch::X86_64),
        (Backend::Qemu, Arch::Arm64),
    ];

    /// A prefix holding a driver from elsewhere and nothing else: `lib/` and
    /// `share/` are created by an install.
    fn foreign_prefix(prefix: &Path) {
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::write(prefix.join("bin/x86_64-unikraft-ocaml-cc"), "foreign").unwrap();
    }

    fn v1_prefix(dir: &Path, prefix: &Path) {
        foreign_prefix(prefix);
        Release::new(dir, "v1", V1)
            .install(prefix, &mut Renames::failing_at(&[]))
            .unwrap();
    }

    #[test]
    fn a_successful_install_replaces_every_piece() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prefix");
        v1_prefix(dir.path(), &prefix);
        std::fs::write(prefix.join("lib/not-ours"), "kept").unwrap();
        Release::new(dir.path(), "v2", V2)
            .install(&prefix, &mut Renames::failing_at(&[]))
            .unwrap();
        let mut files = 0;
        for (path, node) in snapshot(&prefix) {
            let expected: &[u8] = match path.file_name().unwrap().to_str().unwrap() {
                "default-backend" => b"qemu\n",
                "not-ours" => b"kept",
                _ => b"v2",
            };
            match node {
                Node::File(bytes) => {
                    assert_eq!(bytes, expected, "{}", path.display());
                    files += 1;
                }
                Node::Link(target) => assert_eq!(target, Path::new("include/uk.h")),
                Node::Dir => {}
            }
        }
        // The runner; per arch the driver under each name and the default
        // backend; per bundle a header and a descriptor; and `not-ours`.
        assert_eq!(
            files,
            1 + 2 * (layout::tools().count() + 1) + 2 * V2.len() + 1
        );
        let mut top: Vec<_> = std::fs::read_dir(&prefix)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["bin", "lib", "share"],
            "staging or previous pieces left"
        );
    }

    #[test]
    fn a_variant_installs_beside_the_plain_bundles_and_keeps_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prefix");
        v1_prefix(dir.path(), &prefix);
        let variant = Bundle::new(Backend::Qemu, Arch::X86_64, &[BuildOption::NinePfs]);
        let before = snapshot(&prefix);
        Release::of(dir.path(), "v2", vec![variant.clone()])
            .install(&prefix, &mut Renames::failing_at(&[]))
            .unwrap();
        let after = snapshot(&prefix);
        // Everything of v1 is still there, the default backend too; the
        // variant's directories were added.
        let default = layout::default_backend_file(Arch::X86_64);
        for (path, node) in &before {
            if path.starts_with("bin") {
                continue; // the driver and the runner are v2's now
            }
            assert_eq!(after.get(path), Some(node), "{}", path.display());
        }
        assert_eq!(
            std::fs::read_to_string(prefix.join(&default)).unwrap(),
            "qemu\n"
        );
        assert!(prefix
            .join("share/ocaml-unikraft-backend-qemu-9pfs-x86_64/backend.json")
            .is_file());
        assert_eq!(
            installed_bundles(&prefix),
            [Bundle::new(Backend::Qemu, Arch::X86_64, &[]), variant]
        );
    }

    #[test]
    fn a_failure_while_staging_leaves_the_previous_installation() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prefix");
        v1_prefix(dir.path(), &prefix);
        let before = snapshot(&prefix);
        let mut v2 = Release::new(dir.path(), "v2", V2);
        v2.stages[1] = dir.path().join("no-such-stage");
        let mut renames = Renames::failing_at(&[]);
        assert!(v2.install(&prefix, &mut renames).is_err());
        assert_eq!(renames.calls, 0);
        assert_eq!(snapshot(&prefix), before);
    }

    /// The prefix after failing at each rename in turn, from a prefix that
    /// `previous` fills, equals the prefix before.
    fn every_failure_point_restores(previous: fn(&Path, &Path)) {
        let count = fail_each_rename(
            |dir| previous(dir, &dir.join("prefix")),
            |dir| dir.join("prefix"),
            |dir, renames| {
                Release::new(dir, "v2", V2)
                    .install(&dir.join("prefix"), renames)
                    .map(drop)
            },
        );
        assert!(count > 2 * layout::tools().count(), "only {count} renames");
    }

    #[test]
    fn a_failure_at_any_move_leaves_a_foreign_prefix_as_it_was() {
        every_failure_point_restores(|_, prefix| foreign_prefix(prefix));
    }

    #[test]
    fn a_failure_at_any_move_after_a_successful_install_restores_it() {
        every_failure_point_restores(v1_prefix);
    }
}
