//! Host tools: an OCaml 5.4.1 with ocamlfind, and dune, for the machine we
//! build on. OCaml's cross build needs a host compiler of exactly the same
//! version; users need ocamlfind and dune to use the cross compilers.
//!
//! A matching installation already on `PATH` (an opam switch, say) is used
//! as is. Otherwise they are built from the pinned sources into
//! `<build>/host/`, one stamped step each.

use crate::context::Context;
use crate::util::cmd::Cmd;
use crate::util::fs;
use crate::util::progress;
use crate::util::step::{run_build_step, Stamp, StepResult};
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// configure options of the host OCaml besides its prefix (part of its key).
const CONFIGURE_OPTIONS: &[&str] = &["--disable-ocamldoc", "--disable-ocamltest"];

/// The oldest dune that builds with OCaml 5.4.
const DUNE_MIN: (u32, u32) = (3, 18);

pub struct HostTools {
    /// Prepended to `PATH` for every later stage (empty when the tools come
    /// from `PATH` already).
    pub bin_dir: Option<PathBuf>,
}

/// Where the pinned trees of the host tools are.
pub struct Trees {
    pub ocaml: PathBuf,
    pub ocaml_key: String,
    pub findlib: PathBuf,
    pub findlib_key: String,
    pub dune: PathBuf,
    pub dune_key: String,
}

pub fn ensure(
    ctx: &Context,
    version: &str,
    trees: &Trees,
    jobserver: &jobserver::Client,
) -> Result<HostTools> {
    if let Some(found) = usable_on_path(version) {
        progress::say(
            "host tools",
            &format!("using OCaml {version}, ocamlfind and dune from PATH ({found})"),
        );
        return Ok(HostTools { bin_dir: None });
    }
    let prefix = own_prefix(ctx);
    let bin = prefix.join("bin");
    progress::say(
        "host tools",
        &format!(
            "no OCaml {version} with ocamlfind and dune >= {}.{} on PATH: using our own build in {}",
            DUNE_MIN.0,
            DUNE_MIN.1,
            prefix.display()
        ),
    );
    let path = path_with_all(&[], Some(&bin));
    let step = |name: &str, key: String, work: &dyn Fn(&Path, &Path) -> Result<()>| -> Result<()> {
        let stamp = Stamp::new(ctx.build_dir.join("stamps").join(name));
        let log = ctx.log_dir().join(format!("{name}.log"));
        let outcome = run_build_step(&ctx.log_dir(), name, &stamp, &key, jobserver, || {
            progress::say(name, &format!("building (log: {})", log.display()));
            std::fs::write(&log, format!("# {name}\n# inputs: {key}\n"))?;
            let tree = ctx.build_dir.join("host-build").join(name);
            fs::remove_if_present(&tree)?;
            progress::following_log(name, &log, || work(&tree, &log))
        })
        .with_context(|| format!("building {name}"))?;
        if outcome == StepResult::UpToDate {
            progress::say(name, "up to date");
        }
        Ok(())
    };
    let run = |cmd: Cmd, log: &Path| {
        cmd.env("PATH", &path)
            .run_build(log, ctx.verbose, jobserver, None)
    };

    let ocaml_key = format!(
        "{}\nprefix {}\nconfigure {}",
        trees.ocaml_key,
        prefix.display(),
        CONFIGURE_OPTIONS.join(" ")
    );
    step("host-ocaml", ocaml_key.clone(), &|tree, log| {
        // A fresh prefix: files of an older build must not linger.
        fs::remove_if_present(&prefix)?;
        fs::copy_tree(&trees.ocaml, tree, &fs::CopyOptions::default())?;
        run(
            Cmd::new(tree.join("configure"))
                .dir(tree)
                .arg(format!("--prefix={}", prefix.display()))
                .args(CONFIGURE_OPTIONS),
            log,
        )?;
        run(Cmd::new("make").dir(tree), log)?;
        run(Cmd::new("make").dir(tree).arg("install"), log)
    })?;
    let after_ocaml = |own: &str| format!("{ocaml_key}\n{own}");
    step(
        "host-findlib",
        after_ocaml(&trees.findlib_key),
        &|tree, log| {
            fs::copy_tree(&trees.findlib, tree, &fs::CopyOptions::default())?;
            let lib = prefix.join("lib/ocaml");
            run(
                Cmd::new(tree.join("configure"))
                    .dir(tree)
                    .arg("-bindir")
                    .arg(&bin)
                    .arg("-mandir")
                    .arg(prefix.join("man"))
                    .arg("-sitelib")
                    .arg(&lib)
                    .arg("-config")
                    .arg(prefix.join("etc/findlib.conf")),
                log,
            )?;
            // findlib's Makefile is not parallel-safe (two rules write
            // topfind.ml at once: "cp: cannot create regular file"), and it
            // builds in seconds: one job, one goal at a time.
            run(Cmd::new("make").dir(tree).args(["-j1", "all"]), log)?;
            run(Cmd::new("make").dir(tree).args(["-j1", "opt"]), log)?;
            run(Cmd::new("make").dir(tree).arg("install"), log)
        },
    )?;
    step("host-dune", after_ocaml(&trees.dune_key), &|tree, log| {
        fs::copy_tree(&trees.dune, tree, &fs::CopyOptions::default())?;
        run(Cmd::new("make").dir(tree).arg("release"), log)?;
        run(
            Cmd::new("make")
                .dir(tree)
                .arg("install")
                .arg(format!("PREFIX={}", prefix.display())),
            log,
        )
    })?;
    Ok(HostTools { bin_dir: Some(bin) })
}

/// `PATH` with `dirs` and then `host_bin` (when the host tools were built)
/// before the user's own.
pub fn path_with_all(dirs: &[PathBuf], host_bin: Option<&Path>) -> std::ffi::OsString {
    let mut all = dirs.to_vec();
    all.extend(host_bin.map(Path::to_path_buf));
    if let Some(path) = std::env::var_os("PATH") {
        all.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(all).unwrap_or_default()
}

/// Where the host tools we build go.
fn own_prefix(ctx: &Context) -> PathBuf {
    ctx.build_dir.join("host")
}

/// `PATH` as a user of the toolchain in `prefix` has it after the `export`
/// lines of localbuild: the driver, then our host tools if we built them.
pub fn user_path(ctx: &Context, prefix: &Path) -> std::ffi::OsString {
    let host_bin = own_prefix(ctx).join("bin");
    path_with_all(
        &[prefix.join("bin")],
        host_bin.is_dir().then_some(host_bin.as_path()),
    )
}

/// Describes the installation on `PATH` if it has OCaml `version` (exactly:
/// the cross build requires it), ocamlfind and a recent enough dune.
fn usable_on_path(version: &str) -> Option<String> {
    let ocamlc = Cmd::new("ocamlc").arg("-vnum").read(false).ok()?;
    let ocamlfind = Cmd::new("ocamlfind")
        .args(["ocamlopt", "-version"])
        .read(false)
        .ok()?;
    let dune = Cmd::new("dune").arg("--version").read(false).ok()?;
    (ocamlc.trim() == version && ocamlfind.trim() == version && dune_recent_enough(dune.trim()))
        .then(|| format!("dune {}", dune.trim()))
}

fn dune_recent_enough(version: &str) -> bool {
    let mut parts = version
        .split(['.', '-', '+'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= DUNE_MIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dune_versions() {
        assert!(dune_recent_enough("3.24.1"));
        assert!(dune_recent_enough("3.18.0"));
        assert!(!dune_recent_enough("3.17.2"));
        assert!(!dune_recent_enough("2.9.3"));
        assert!(dune_recent_enough("4.0.0~alpha1"));
    }
}
