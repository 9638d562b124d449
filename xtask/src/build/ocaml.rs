//! OCaml cross compilers, one per architecture (the ocamlfind toolchains
//! that name them are [`super::findlib`]'s).
//!
//! Each is configured with `--target=<gnu-arch>-unikraft-ocaml` (accepted
//! thanks to `ocaml-patches/`), with the installed C driver and the host
//! OCaml first on `PATH`, built with `make crossopt` and installed with
//! `make installcross` into a staging directory in the prefix, then moved
//! to `<prefix>/lib/ocaml-unikraft-<arch>/` (replacing the previous one only
//! if the move succeeds, see [`place`]). A staged destination ([`Dest`])
//! gets the same files, configured for its prefix, in its root instead.

use crate::build::ccache::{self, Ccache};
use crate::build::dest::Dest;
use crate::context::Context;
use crate::target::Arch;
use crate::util::cmd::Cmd;
use crate::util::fs;
use crate::util::place::{self, Piece};
use crate::util::progress;
use crate::util::step::{BuildStep, Cached, Stamp, StepResult, Urgency};
use crate::util::step_cache::{OutputKind, Outputs, StepCache};
use anyhow::{Context as _, Result};
use std::ffi::OsString;
use std::path::Path;

/// configure options besides prefix and target. The instrumented runtime
/// (`-runtime-variant i`: allocation events added to the runtime events,
/// which are read from a file a unikernel cannot share) would cost two
/// more builds of the runtime and one more unikernel link; the debug
/// runtime (`-runtime-variant d`) stays.
const CONFIGURE_OPTIONS: &[&str] = &[
    "--disable-ocamldoc",
    "--disable-ocamltest",
    "--disable-debugger",
    "--disable-instrumented-runtime",
];

/// Stand in the recipe for paths of this build, kept out of the stamp key:
/// the copy of the OCaml tree it runs in, and the temporary directory
/// `make installcross` installs into.
const TREE: &str = "${tree}";
const STAGING: &str = "${staging}";

/// Stand in the step cache's keys for the paths a cross compiler records:
/// its own prefix, and the host's bindir its bytecode programs name in
/// their `#!` line.
const INSTALL_ROOT: &str = "${install}";
const HOST_BIN_ROOT: &str = "${host-bin}";

/// `<prefix>/lib/ocaml-unikraft-<arch>`: the cross compiler's own prefix.
pub(crate) use ocaml_unikraft_toolchain::layout::compiler_dir as compiler_prefix;

pub(crate) struct Cross<'a> {
    pub(crate) dest: &'a Dest,
    pub(crate) source: &'a Path,
    /// Identity of the patched OCaml tree and of the host compiler.
    pub(crate) key: &'a str,
    /// `PATH` with the driver and the host tools first.
    pub(crate) path: &'a OsString,
    /// The compile cache the driver's compiles go through, if any.
    pub(crate) ccache: Option<&'a Ccache>,
    /// The step cache, if any, and the host OCaml's bindir.
    pub(crate) steps: Option<&'a StepCache>,
    pub(crate) host_bin: &'a Path,
}

pub(crate) fn build(
    ctx: &Context,
    cross: &Cross,
    arch: Arch,
    jobserver: &jobserver::Client,
) -> Result<()> {
    let name = step_name(arch);
    let install_dir = compiler_prefix(cross.dest.prefix(), arch);
    let written_dir = cross.dest.written(&install_dir);
    let recipe = recipe(arch, &install_dir);
    // One stamp per prefix (and staging root): installing elsewhere must
    // not make the next build for the usual prefix start over.
    let mut destination = install_dir.as_os_str().as_encoded_bytes().to_vec();
    if cross.dest.is_staged() {
        destination.push(b'\n');
        destination.extend(written_dir.as_os_str().as_encoded_bytes());
    }
    let prefix_id = &fs::sha256_hex(&destination)[..12];
    let step = BuildStep {
        name: name.clone(),
        stamp: Stamp::new(
            ctx.build_dir
                .join("stamps")
                .join(format!("{name}-{prefix_id}")),
        ),
        log: ctx.log_dir().join(format!("{name}.log")),
        inputs: format!("{name}\n{}", cross.key),
        recipe: &recipe,
        output: Some(written_dir.join("bin/ocamlopt")),
        // The last step of its line: nothing after it can hide its delay.
        urgency: Urgency::Critical,
        cache: cross.steps.map(|store| Cached {
            store,
            outputs: Outputs {
                dir: written_dir.clone(),
                kind: OutputKind::Whole,
                roots: vec![
                    (INSTALL_ROOT, install_dir.clone()),
                    (HOST_BIN_ROOT, cross.host_bin.to_path_buf()),
                ],
            },
        }),
    };
    let result = step.run(&ctx.log_dir(), jobserver, None, |log| {
        let tree = ctx
            .build_dir
            .join("cross")
            .join(arch.unikraft())
            .join("ocaml");
        fs::remove_if_present(&tree)?;
        fs::copy_tree(cross.source, &tree, &fs::CopyOptions::default())?;
        let run = |cmd: &Cmd, places: &[(&str, &Path)]| {
            ccache::wrap(cross.ccache, cmd.resolve(places)?.dir(&tree), cross.path).run_build(
                log,
                ctx.verbose,
                jobserver,
                None,
            )
        };
        let [configure, build, install] = &recipe;
        run(configure, &[(TREE, &tree)])
            .context("configuring OCaml (configure's own log is config.log in the build tree)")?;
        run(build, &[])?;
        // Staged in the prefix: a rename cannot cross filesystems, and
        // the prefix may be on another one than the build tree.
        let lib_dir = cross.dest.root().join("lib");
        std::fs::create_dir_all(&lib_dir)
            .with_context(|| format!("creating {}", lib_dir.display()))?;
        let staging = tempfile::Builder::new()
            .prefix(".install-")
            .tempdir_in(&lib_dir)
            .with_context(|| format!("creating a staging directory in {}", lib_dir.display()))?;
        run(install, &[(STAGING, staging.path())])?;
        let staged = staging
            .path()
            .join(install_dir.strip_prefix("/").unwrap_or(&install_dir));
        let piece = Piece {
            staged,
            dest: written_dir.clone(),
        };
        place::all_or_none(&[piece], &lib_dir, &mut place::rename)
    })?;
    if result != StepResult::UpToDate {
        progress::say(&name, &format!("installed in {}", written_dir.display()));
    }
    Ok(())
}

/// The cross build of `arch`: configure (for its target, to be installed
/// in `install_dir`), build, install into the staging directory.
fn recipe(arch: Arch, install_dir: &Path) -> [Cmd; 3] {
    [
        Cmd::new(format!("{TREE}/configure"))
            .arg(format!("--prefix={}", install_dir.display()))
            .arg(format!("--target={}-unikraft-ocaml", arch.gnu()))
            .args(CONFIGURE_OPTIONS),
        Cmd::new("make").arg("crossopt"),
        Cmd::new("make")
            .arg("installcross")
            .arg(format!("DESTDIR={STAGING}")),
    ]
}

/// `ocaml-x86_64`: the cross build's step, log and stamp name.
pub(crate) fn step_name(arch: Arch) -> String {
    format!("ocaml-{}", arch.unikraft())
}

/// The toolchain names of an arch: `unikraft_x86_64`, `unikraft_arm64`.
pub(crate) fn toolchain_name(arch: Arch) -> String {
    format!("unikraft_{}", arch.unikraft())
}
