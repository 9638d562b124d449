//! Host tools: an OCaml 5.4.1 with ocamlfind, and dune, for the machine we
//! build on. OCaml's cross build needs a host compiler of exactly the same
//! version; users need ocamlfind and dune to use the cross compilers.
//!
//! A matching installation already on `PATH` (an opam switch, say) is used
//! as is. Otherwise they are built from the pinned sources into
//! `<build>/host/`, one stamped step each.

use crate::build::ccache::{self, Ccache};
use crate::context::Context;
use crate::util::cmd::Cmd;
use crate::util::fs;
use crate::util::probe::{self, cmd};
use crate::util::progress;
use crate::util::step::{BuildStep, Cached, Stamp, Urgency};
use crate::util::step_cache::{OutputKind, Outputs, StepCache};
use anyhow::{Context as _, Result};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// configure options of the host OCaml besides its prefix: only what dune,
/// findlib and the cross build use. None of them runs ocamldoc, ocamltest
/// or the debugger, or links the debug or instrumented runtimes (the cross
/// build makes its own runtimes from its own tree).
const CONFIGURE_OPTIONS: &[&str] = &[
    "--disable-ocamldoc",
    "--disable-ocamltest",
    "--disable-debugger",
    "--disable-debug-runtime",
    "--disable-instrumented-runtime",
];

/// Stands in the recipes for the copy of a tool's source tree they run in:
/// a path of the build tree, kept out of the stamp keys (which hold the
/// prefix: the tools remember where they are installed).
const TREE: &str = "${tree}";

/// Stands in the step cache's keys for the prefix of our host tools: a
/// fresh clone restores them into its own.
pub(crate) const HOST_ROOT: &str = "${host}";

/// The steps of the host tools, in build order.
pub(crate) const OCAML_STEP: &str = "host-ocaml";
pub(crate) const FINDLIB_STEP: &str = "host-findlib";
pub(crate) const DUNE_STEP: &str = "host-dune";

/// The oldest dune that builds with OCaml 5.4.
const DUNE_MIN: (u32, u32) = (3, 18);

pub(crate) struct HostTools {
    /// Prepended to `PATH` for every later stage (empty when the tools come
    /// from `PATH` already).
    pub(crate) bin_dir: Option<PathBuf>,
    /// The stamp key of our host OCaml, on which findlib and dune depend
    /// (none when the tools come from `PATH`).
    ocaml_key: Option<String>,
}

/// Where the pinned trees of the host tools are.
pub(crate) struct Trees {
    pub(crate) ocaml: PathBuf,
    pub(crate) ocaml_key: String,
    pub(crate) findlib: PathBuf,
    pub(crate) findlib_key: String,
    pub(crate) dune: PathBuf,
    pub(crate) dune_key: String,
}

/// The host OCaml: the one on `PATH` when it comes with the other tools,
/// else ours, built now. The cross compilers need only this; ocamlfind and
/// dune follow in [`ensure_tools`].
pub(crate) fn ensure_ocaml(
    ctx: &Context,
    version: &str,
    trees: &Trees,
    jobserver: &jobserver::Client,
    caches: Caches,
) -> Result<HostTools> {
    if let Some(found) = usable_on_path(version) {
        progress::say(
            "host tools",
            &format!("using OCaml {version}, ocamlfind and dune from PATH ({found})"),
        );
        return Ok(HostTools {
            bin_dir: None,
            ocaml_key: None,
        });
    }
    let prefix = own_prefix(ctx);
    progress::say(
        "host tools",
        &format!(
            "no OCaml {version} with ocamlfind and dune >= {}.{} on PATH: using our own build in {}",
            DUNE_MIN.0,
            DUNE_MIN.1,
            prefix.display()
        ),
    );
    let bin = prefix.join("bin");
    let ocaml_key = build_tool(
        ctx,
        &Tool {
            name: OCAML_STEP,
            source: &trees.ocaml,
            inputs: trees.ocaml_key.clone(),
            recipe: ocaml_recipe(&prefix),
            // A fresh prefix: files of an older build must not linger.
            clears: Some(&prefix),
            // The cross compilers wait for it.
            urgency: Urgency::Critical,
            outputs: Some(host_outputs(&prefix, OutputKind::Whole)),
        },
        &path_with_all(&[], Some(&bin)),
        jobserver,
        caches,
    )?;
    Ok(HostTools {
        bin_dir: Some(bin),
        ocaml_key: Some(ocaml_key),
    })
}

/// ocamlfind and dune, built with our host OCaml (nothing to do when the
/// tools come from `PATH`). One after the other: dune's install asks an
/// ocamlfind on `PATH` where libraries go, so it must find ours.
pub(crate) fn ensure_tools(
    ctx: &Context,
    host: &HostTools,
    trees: &Trees,
    jobserver: &jobserver::Client,
    caches: Caches,
) -> Result<()> {
    let (Some(bin), Some(ocaml_key)) = (&host.bin_dir, &host.ocaml_key) else {
        return Ok(());
    };
    let prefix = own_prefix(ctx);
    let path = path_with_all(&[], Some(bin));
    // Built with the host OCaml: rebuilt with it.
    let build = |name, source: &Path, key: &str, recipe, outputs| {
        let tool = Tool {
            name,
            source,
            inputs: format!("{ocaml_key}{key}"),
            recipe,
            clears: None,
            urgency: Urgency::Normal,
            outputs,
        };
        build_tool(ctx, &tool, &path, jobserver, caches).map(drop)
    };
    // findlib is not kept in the step cache: it builds in seconds, and
    // ocamlfind records where its configuration is.
    build(
        FINDLIB_STEP,
        &trees.findlib,
        &trees.findlib_key,
        findlib_recipe(&prefix),
        None,
    )?;
    build(
        DUNE_STEP,
        &trees.dune,
        &trees.dune_key,
        dune_recipe(&prefix),
        Some(host_outputs(&prefix, OutputKind::Added)),
    )
}

/// The caches a host tool's build goes through, when there are.
#[derive(Clone, Copy, Default)]
pub(crate) struct Caches<'a> {
    /// For the C compiles.
    pub(crate) ccache: Option<&'a Ccache>,
    /// For the whole installation.
    pub(crate) steps: Option<&'a StepCache>,
}

/// A host tool's outputs in our host prefix, which it records.
fn host_outputs(prefix: &Path, kind: OutputKind) -> Outputs {
    Outputs {
        dir: prefix.to_path_buf(),
        kind,
        roots: vec![(HOST_ROOT, prefix.to_path_buf())],
    }
}

/// A host tool: built by its recipe in a copy of its source tree.
struct Tool<'a> {
    name: &'static str,
    source: &'a Path,
    /// See [`BuildStep::inputs`].
    inputs: String,
    /// Run in the copy, named [`TREE`].
    recipe: Vec<Cmd>,
    /// Removed before the build.
    clears: Option<&'a Path>,
    urgency: Urgency,
    /// What the step cache keeps of it, if anything.
    outputs: Option<Outputs>,
}

/// Builds `tool` unless it is up to date; returns its stamp key, on which
/// the tools built with it depend.
fn build_tool(
    ctx: &Context,
    tool: &Tool,
    path: &OsStr,
    jobserver: &jobserver::Client,
    caches: Caches,
) -> Result<String> {
    let tree = ctx.build_dir.join("host-build").join(tool.name);
    let step = BuildStep {
        name: tool.name.to_owned(),
        stamp: Stamp::new(ctx.build_dir.join("stamps").join(tool.name)),
        log: ctx.log_dir().join(format!("{}.log", tool.name)),
        inputs: tool.inputs.clone(),
        recipe: &tool.recipe,
        output: None,
        urgency: tool.urgency,
        cache: caches
            .steps
            .zip(tool.outputs.clone())
            .map(|(store, outputs)| Cached { store, outputs }),
    };
    step.run(&ctx.log_dir(), jobserver, None, |log| {
        if let Some(dir) = tool.clears {
            fs::remove_if_present(dir)?;
        }
        fs::remove_if_present(&tree)?;
        fs::copy_tree(tool.source, &tree, &fs::CopyOptions::default())?;
        for cmd in &tool.recipe {
            let cmd = cmd.resolve(&[(TREE, &tree)])?.dir(&tree);
            ccache::wrap(caches.ccache, cmd, path).run_build(log, ctx.verbose, jobserver, None)?;
        }
        Ok(())
    })
    .with_context(|| format!("building {}", tool.name))?;
    Ok(step.key())
}

fn ocaml_recipe(prefix: &Path) -> Vec<Cmd> {
    vec![
        Cmd::new(format!("{TREE}/configure"))
            .arg(format!("--prefix={}", prefix.display()))
            .args(CONFIGURE_OPTIONS),
        Cmd::new("make"),
        Cmd::new("make").arg("install"),
    ]
}

fn findlib_recipe(prefix: &Path) -> Vec<Cmd> {
    vec![
        Cmd::new(format!("{TREE}/configure"))
            .arg("-bindir")
            .arg(prefix.join("bin"))
            .arg("-mandir")
            .arg(prefix.join("man"))
            .arg("-sitelib")
            .arg(prefix.join("lib/ocaml"))
            .arg("-config")
            .arg(prefix.join("etc/findlib.conf")),
        // findlib's Makefile is not parallel-safe (two rules write
        // topfind.ml at once: "cp: cannot create regular file"), and it
        // builds in seconds: one job, one goal at a time.
        Cmd::new("make").args(["-j1", "all"]),
        Cmd::new("make").args(["-j1", "opt"]),
        Cmd::new("make").arg("install"),
    ]
}

fn dune_recipe(prefix: &Path) -> Vec<Cmd> {
    vec![
        Cmd::new("make").arg("release"),
        Cmd::new("make")
            .arg("install")
            .arg(format!("PREFIX={}", prefix.display())),
    ]
}

/// `PATH` with `dirs` and then `host_bin` (when the host tools were built)
/// before the user's own.
pub(crate) fn path_with_all(dirs: &[PathBuf], host_bin: Option<&Path>) -> OsString {
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
pub(crate) fn user_path(ctx: &Context, prefix: &Path) -> OsString {
    let host_bin = own_prefix(ctx).join("bin");
    path_with_all(
        &[prefix.join("bin")],
        host_bin.is_dir().then_some(host_bin.as_path()),
    )
}

/// Describes the installation on `PATH` if it has OCaml `version` (exactly:
/// the cross build requires it), ocamlfind and a recent enough dune.
fn usable_on_path(version: &str) -> Option<String> {
    let sh = probe::shell().ok()?;
    let ocamlc = probe::read(cmd!(sh, "ocamlc -vnum")).ok()?;
    let ocamlfind = probe::read(cmd!(sh, "ocamlfind ocamlopt -version")).ok()?;
    let dune = probe::read(cmd!(sh, "dune --version")).ok()?;
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
    fn a_tool_builds_once_in_a_fresh_copy_of_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let ctx = Context {
            root: root.clone(),
            build_dir: root.join("build"),
            cache_dir: root.join("cache"),
            sources_file: root.join("sources.toml"),
            verbose: false,
        };
        let source = root.join("source");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("configure"), "pwd > \"$1\"\n").unwrap();
        let (stale, out) = (root.join("stale"), root.join("out"));
        std::fs::create_dir_all(&stale).unwrap();
        let tool = Tool {
            name: "host-fake",
            source: &source,
            inputs: "fake 1.0".into(),
            recipe: vec![Cmd::new("sh").arg(format!("{TREE}/configure")).arg(&out)],
            clears: Some(&stale),
            urgency: Urgency::Normal,
            outputs: None,
        };
        let jobserver = jobserver::Client::new(1).unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let key = build_tool(&ctx, &tool, &path, &jobserver, Caches::default()).unwrap();
        let ran_in = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            ran_in.trim(),
            root.join("build/host-build/host-fake").to_str().unwrap()
        );
        assert!(!stale.exists(), "cleared before the build");
        let out_arg = crate::util::cmd::shell_quote(out.to_str().unwrap());
        assert_eq!(
            key,
            format!("fake 1.0\nrun sh '${{tree}}/configure' {out_arg}\n")
        );

        std::fs::remove_file(&out).unwrap();
        assert_eq!(
            build_tool(&ctx, &tool, &path, &jobserver, Caches::default()).unwrap(),
            key
        );
        assert!(!out.exists(), "up to date: not run again");
    }

    #[test]
    fn dune_versions() {
        assert!(dune_recent_enough("3.24.1"));
        assert!(dune_recent_enough("3.18.0"));
        assert!(!dune_recent_enough("3.17.2"));
        assert!(!dune_recent_enough("2.9.3"));
        assert!(dune_recent_enough("4.0.0~alpha1"));
    }
}
