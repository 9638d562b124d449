//! Installing into a prefix: everything is first assembled in a staging
//! directory inside the prefix, then each piece is renamed into place. A
//! failure while staging leaves the previous installation untouched.
//!
//! Layout (mirroring the original project's package names):
//! - `bin/<gnu-arch>-unikraft-ocaml-<tool>`: the driver under every name;
//! - `lib/ocaml-unikraft-backend-<backend>-<arch>/`: bundle files;
//! - `share/ocaml-unikraft-backend-<backend>-<arch>/backend.json`;
//! - `share/ocaml-unikraft-toolchain-<arch>/default-backend`.

use crate::backends::{Arch, Backend, Bundle};
use crate::cmd::Cmd;
use crate::context::Context;
use crate::fs;
use crate::progress;
use crate::step::{run_step, Outcome, Stamp};
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// The names the driver is installed under, after `<gnu-arch>-unikraft-ocaml-`.
const TOOLS: &[&str] = &[
    "cc", "gcc", "ar", "as", "ld", "nm", "objcopy", "objdump", "ranlib", "readelf", "strip",
];

pub struct Installation<'a> {
    pub prefix: &'a Path,
    pub driver: &'a Path,
    pub bundles: &'a [Bundle],
    /// Stage directories, in the order of `bundles`.
    pub bundle_stages: &'a [PathBuf],
}

/// The bundles installed in `prefix` (those with a descriptor).
pub fn installed_bundles(prefix: &Path) -> Vec<Bundle> {
    let mut found = Vec::new();
    for arch in Arch::ALL {
        for backend in Backend::ALL {
            let bundle = Bundle::new(backend, arch, &[]);
            let descriptor = prefix
                .join("share")
                .join(bundle.install_name())
                .join("backend.json");
            if descriptor.is_file() {
                found.push(bundle);
            }
        }
    }
    found
}

/// Builds the C driver (release: it runs thousands of times per OCaml build).
pub fn build_driver(ctx: &Context) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = ctx.build_dir.join("cargo");
    Cmd::new(cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "--package",
            "ocaml-unikraft-toolchain",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .dir(&ctx.root)
        .read(ctx.verbose)
        .context("building the C driver (toolchain/)")?;
    Ok(target_dir.join("release/ocaml-unikraft-cc"))
}

pub fn install(ctx: &Context, what: &Installation) -> Result<()> {
    let prefix = what.prefix;
    let mut key = format!(
        "prefix {}\ndriver {}\n",
        prefix.display(),
        fs::sha256_file(what.driver)?
    );
    for bundle in what.bundles {
        let stamp = ctx
            .build_dir
            .join("stamps")
            .join(format!("bundle-{}", bundle.config_name()));
        let built = std::fs::read_to_string(&stamp)
            .with_context(|| format!("reading {}", stamp.display()))?;
        key.push_str(&format!(
            "{}: {}\n",
            bundle.install_name(),
            fs::sha256_hex(built.as_bytes())
        ));
    }
    let stamp = Stamp::new(ctx.build_dir.join("stamps/install"));
    let outcome = run_step(&ctx.log_dir(), "install", &stamp, &key, || {
        stage_and_move(what)
    })?;
    match outcome {
        Outcome::Ran => progress::say("install", &format!("installed into {}", prefix.display())),
        Outcome::UpToDate => {
            progress::say("install", &format!("{} is up to date", prefix.display()))
        }
    }
    Ok(())
}

fn stage_and_move(what: &Installation) -> Result<()> {
    let prefix = what.prefix;
    std::fs::create_dir_all(prefix).with_context(|| format!("creating {}", prefix.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".install-")
        .tempdir_in(prefix)
        .with_context(|| format!("creating a staging directory in {}", prefix.display()))?;
    let stage = staging.path();

    // Relative paths (inside the prefix) of everything staged.
    let mut pieces: Vec<PathBuf> = Vec::new();
    let mut arches: Vec<Arch> = what.bundles.iter().map(|b| b.arch).collect();
    arches.sort();
    arches.dedup();
    std::fs::create_dir_all(stage.join("bin"))?;
    for arch in &arches {
        let first =
            stage
                .join("bin")
                .join(format!("{}-unikraft-ocaml-{}", arch.gnu_name(), TOOLS[0]));
        std::fs::copy(what.driver, &first)
            .with_context(|| format!("copying {}", what.driver.display()))?;
        for tool in TOOLS {
            let name = format!("{}-unikraft-ocaml-{tool}", arch.gnu_name());
            if *tool != TOOLS[0] {
                std::fs::hard_link(&first, stage.join("bin").join(&name))?;
            }
            pieces.push(Path::new("bin").join(name));
        }
        let defaults = Path::new("share").join(format!("ocaml-unikraft-toolchain-{}", arch.name()));
        std::fs::create_dir_all(stage.join(&defaults))?;
        std::fs::write(
            stage.join(&defaults).join("default-backend"),
            default_backend(what.bundles, *arch),
        )?;
        pieces.push(defaults);
    }
    for (bundle, bundle_stage) in what.bundles.iter().zip(what.bundle_stages) {
        for part in ["lib", "share"] {
            let relative = Path::new(part).join(bundle.install_name());
            fs::copy_tree(
                &bundle_stage.join(&relative),
                &stage.join(&relative),
                fs::Copy::HardLink,
            )?;
            pieces.push(relative);
        }
    }

    // Everything is staged: move each piece into place.
    for piece in &pieces {
        let dest = prefix.join(piece);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        fs::remove_if_present(&dest)?;
        std::fs::rename(stage.join(piece), &dest)
            .with_context(|| format!("moving {} into {}", piece.display(), prefix.display()))?;
    }
    Ok(())
}

/// QEMU when it was built for the arch (it is what tests boot), else the
/// first backend built.
fn default_backend(bundles: &[Bundle], arch: Arch) -> String {
    let built: Vec<Backend> = bundles
        .iter()
        .filter(|b| b.arch == arch)
        .map(|b| b.backend)
        .collect();
    let chosen = if built.contains(&Backend::Qemu) {
        Backend::Qemu
    } else {
        built.first().copied().unwrap_or(Backend::Qemu)
    };
    format!("{}\n", chosen.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::BuildOption;

    #[test]
    fn a_failure_while_staging_leaves_the_previous_installation() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("prefix");
        let old_driver = prefix.join("bin/x86_64-unikraft-ocaml-cc");
        std::fs::create_dir_all(old_driver.parent().unwrap()).unwrap();
        std::fs::write(&old_driver, "old").unwrap();
        let driver = dir.path().join("new-driver");
        std::fs::write(&driver, "new").unwrap();
        let bundles = [Bundle::new(
            Backend::Qemu,
            Arch::X86_64,
            &[] as &[BuildOption],
        )];
        let missing_stage = [dir.path().join("no-such-stage")];
        let what = Installation {
            prefix: &prefix,
            driver: &driver,
            bundles: &bundles,
            bundle_stages: &missing_stage,
        };
        assert!(stage_and_move(&what).is_err());
        assert_eq!(std::fs::read_to_string(&old_driver).unwrap(), "old");
        let leftovers: Vec<_> = std::fs::read_dir(&prefix)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["bin"], "staging directory left behind");

        // With the stage present, everything lands.
        let stage = dir.path().join("stage");
        for part in ["lib", "share"] {
            std::fs::create_dir_all(stage.join(part).join(bundles[0].install_name())).unwrap();
        }
        std::fs::write(
            stage
                .join("share")
                .join(bundles[0].install_name())
                .join("backend.json"),
            "{}",
        )
        .unwrap();
        let stages = [stage];
        stage_and_move(&Installation {
            bundle_stages: &stages,
            ..what
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&old_driver).unwrap(), "new");
        assert_eq!(
            std::fs::read_to_string(prefix.join("bin/x86_64-unikraft-ocaml-ar")).unwrap(),
            "new"
        );
        assert!(prefix
            .join("share/ocaml-unikraft-backend-qemu-x86_64/backend.json")
            .is_file());
        assert_eq!(
            std::fs::read_to_string(
                prefix.join("share/ocaml-unikraft-toolchain-x86_64/default-backend")
            )
            .unwrap(),
            "qemu\n"
        );
    }
}
