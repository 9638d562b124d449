//! Backend bundles: Unikraft built once per platform × architecture ×
//! options, and turned into what the C driver needs to link a unikernel.
//!
//! Per bundle, under `<build>/bundles/<config-name>/`:
//! - `config`: the composed Kconfig fragment, completed by `olddefconfig`;
//! - `uk/`: Unikraft's build directory (`O=`);
//! - `stage/`: the bundle as it will be installed (`lib/` and `share/`).
//!
//! The stamp key lists every input (source identities, configuration,
//! application files, compiler version) and the make commands, so a bundle
//! is rebuilt exactly when one of them changes. Bundles build in parallel
//! under one GNU make jobserver holding the `-j` budget: each build takes a
//! token before it starts and make's own children take the rest, so N jobs
//! never become N×N. With fewer tokens than builds (at `-j2`, beside the
//! host OCaml) the bundles wait their turn; see [`BuildStep::run`] for why
//! that is right.

mod compose;
mod descriptor;

use crate::target::Bundle;

use crate::build::ccache::{self, Ccache};
use crate::context::Context;
use crate::util::cmd::Cmd;
use crate::util::probe::{self, cmd};
use crate::util::ready::Ready;
use crate::util::step::{key_with_recipe, BuildStep, Cached, Stamp, Urgency};
use crate::util::step_cache::{OutputKind, Outputs, StepCache};
use anyhow::{bail, Context as _, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The app library registered by `backends/app/Makefile.uk`.
const APP_LIB: &str = "appocamlbundle";
/// `CONFIG_UK_NAME` in `backends/fragments/base.config`.
const IMAGE_NAME: &str = "ocamlbundle";

/// Version of the staging, how a finished build is turned into a bundle
/// (descriptor extraction, files copied): bump it when that changes. Only
/// the staging reruns then; Unikraft's build resumes as it was.
const STAGING_VERSION: u32 = 3;

/// Placeholders of the make commands for the paths of this machine's build,
/// which stay out of the stamp key: the placeholder application, the
/// Unikraft and lib-musl trees, and the bundle's directory.
const APP: &str = "${app}";
const UNIKRAFT: &str = "${unikraft}";
const LIB_MUSL: &str = "${lib-musl}";
const BUNDLE_DIR: &str = "${bundle-dir}";

/// Everything bundles are built from besides their configuration.
pub(crate) struct Inputs {
    pub(crate) unikraft: PathBuf,
    pub(crate) lib_musl: PathBuf,
    pub(crate) musl_tarball: PathBuf,
    /// Identities of the three sources (pins, or local paths).
    pub(crate) sources_key: String,
}

pub(crate) struct Options<'a> {
    /// The `-j` budget, shared with every other stage.
    pub(crate) jobserver: &'a jobserver::Client,
    /// The compile cache, when there is one (not part of any key: it
    /// changes no command).
    pub(crate) ccache: Option<&'a Ccache>,
    /// The step cache, when there is one: a bundle's stage records no
    /// path of the build, so it is restored as it was kept.
    pub(crate) step_cache: Option<&'a StepCache>,
    pub(crate) fail_fast: bool,
    pub(crate) config_dir: Option<&'a Path>,
    /// Where each bundle's stage is posted as soon as it is built (under
    /// [`Bundle::name`]), for the steps that need only that bundle.
    pub(crate) built: &'a Ready<PathBuf>,
}

/// Builds (or finds up to date) every bundle; returns their stage
/// directories. All bundles run to the end unless `fail_fast`; any failure
/// fails the whole call after the others finished.
pub(crate) fn build(
    ctx: &Context,
    bundles: &[Bundle],
    inputs: &Inputs,
    opts: &Options,
) -> Result<Vec<PathBuf>> {
    if let Some(dir) = opts.config_dir {
        compose::check_config_dir(dir)?;
    }
    let cancel = AtomicBool::new(false);
    let leaders = crate::target::leaders(bundles);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(bundles.len().max(1))
        .build()
        .context("starting bundle threads")?;
    let results: Vec<Result<PathBuf>> = pool.install(|| {
        bundles
            .par_iter()
            .map(|bundle| {
                // With a compile cache, the other bundles of an arch wait
                // for its leader: built after it, their compiles mostly hit
                // the cache; built beside it, both would miss. (A leader
                // that failed still lets them go.)
                if opts.ccache.is_some() && !leaders.contains(bundle) {
                    if let Some(leader) = leaders.iter().find(|l| l.arch == bundle.arch) {
                        opts.built.wait(&leader.name());
                    }
                }
                // A leader holds up its arch's cross compiler, which
                // waits for the host OCaml too, a longer build: the leader
                // goes before the others, which hold up nothing but the
                // installation, but after the host OCaml.
                let urgency = if leaders.contains(bundle) {
                    Urgency::Normal
                } else {
                    Urgency::Filler
                };
                let result = build_one(ctx, bundle, inputs, opts, &cancel, urgency);
                opts.built
                    .post(&bundle.name(), result.as_ref().ok().cloned());
                if result.is_err() && opts.fail_fast {
                    cancel.store(true, Ordering::Relaxed);
                }
                result.with_context(|| format!("building bundle {}", bundle.name()))
            })
            .collect()
    });
    let mut stages = Vec::new();
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(stage) => stages.push(stage),
            Err(err) => failures.push(format!("{err:#}")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} bundle(s) failed:\n{}",
            failures.len(),
            failures.join("\n\n")
        );
    }
    Ok(stages)
}

fn bundle_dir(ctx: &Context, bundle: &Bundle) -> PathBuf {
    ctx.build_dir.join("bundles").join(bundle.name())
}

/// `bundle qemu-x86_64`: a bundle's step in progress lines and timings.
pub(crate) fn step_name(bundle: &Bundle) -> String {
    format!("bundle {}", bundle.name())
}

/// The stamp of a bundle's stage; it records what the stage was built from.
pub(crate) fn stamp_path(ctx: &Context, bundle: &Bundle) -> PathBuf {
    ctx.build_dir
        .join("stamps")
        .join(format!("bundle-{}", bundle.name()))
}

/// Unikraft's build of one bundle: its configuration, its commands, and the
/// key an interrupted build resumes under (inputs and commands; not the
/// staging's version, whose change reruns the staging alone).
struct Compile {
    config: String,
    recipe: [Cmd; 2],
    key: String,
}

fn build_one(
    ctx: &Context,
    bundle: &Bundle,
    inputs: &Inputs,
    opts: &Options,
    cancel: &AtomicBool,
    urgency: Urgency,
) -> Result<PathBuf> {
    let name = bundle.name();
    let dir = bundle_dir(ctx, bundle);
    let stage = dir.join("stage");
    let config = compose::compose(
        bundle,
        &ctx.root.join("backends/fragments"),
        opts.config_dir,
    )?;
    let cc = format!("{}gcc", bundle.arch.derived_tool_prefix());
    let sh = probe::shell()?;
    let cc_version = probe::read(cmd!(sh, "{cc} --version"))?;
    let input_key = input_key(
        &ctx.root.join("backends/app"),
        bundle,
        inputs,
        &config,
        cc_version.lines().next().unwrap_or_default(),
    )?;
    let recipe = recipe(bundle);
    let compile = Compile {
        config,
        key: key_with_recipe(&input_key, &recipe),
        recipe,
    };
    let step = BuildStep {
        name: step_name(bundle),
        stamp: Stamp::new(stamp_path(ctx, bundle)),
        log: ctx.log_dir().join(format!("bundle-{name}.log")),
        // What is staged also depends on how it is staged.
        inputs: format!("{input_key}staging {STAGING_VERSION}\n"),
        recipe: &compile.recipe,
        output: Some(stage.clone()),
        urgency,
        cache: opts.step_cache.map(|store| Cached {
            store,
            outputs: Outputs {
                dir: stage.clone(),
                kind: OutputKind::Whole,
                roots: Vec::new(),
            },
        }),
    };
    step.run(&ctx.log_dir(), opts.jobserver, Some(cancel), |log| {
        run_compile(ctx, inputs, &dir, &compile, log, opts, cancel)?;
        stage_bundle(ctx, bundle, inputs, &dir, &stage)
    })?;
    Ok(stage)
}

/// The readable list of everything the bundle is built from.
fn input_key(
    app: &Path,
    bundle: &Bundle,
    inputs: &Inputs,
    config: &str,
    cc_version: &str,
) -> Result<String> {
    let mut key = format!("bundle {}\n{}\n", bundle.name(), inputs.sources_key);
    let mut app_files: Vec<_> = std::fs::read_dir(app)
        .with_context(|| format!("reading {}", app.display()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    app_files.sort_by_key(|e| e.file_name());
    for entry in app_files {
        let text = std::fs::read(entry.path())?;
        key.push_str(&format!(
            "app {} {}\n",
            entry.file_name().to_string_lossy(),
            crate::util::fs::sha256_hex(&text)
        ));
    }
    key.push_str(&format!(
        "config {}\n",
        crate::util::fs::sha256_hex(config.as_bytes())
    ));
    key.push_str(&format!("cc {cc_version}\n"));
    Ok(key)
}

/// The make commands of a bundle: `olddefconfig`, which completes the
/// configuration, then the build.
fn recipe(bundle: &Bundle) -> [Cmd; 2] {
    let mut make = Cmd::new("make")
        .arg("-C")
        .arg(APP)
        .arg(format!("UK_ROOT={UNIKRAFT}"))
        .arg(format!("LIBS={LIB_MUSL}"))
        .arg(format!("O={BUNDLE_DIR}/uk"))
        .arg(format!("C={BUNDLE_DIR}/config"));
    let cross = bundle.arch.derived_tool_prefix();
    if !cross.is_empty() {
        make = make.arg(format!("CROSS_COMPILE={cross}"));
    }
    [make.clone().arg("olddefconfig"), make]
}

fn run_compile(
    ctx: &Context,
    inputs: &Inputs,
    dir: &Path,
    compile: &Compile,
    log: &Path,
    opts: &Options,
    cancel: &AtomicBool,
) -> Result<()> {
    // Unikraft rebuilds everything when its configuration or trees change;
    // starting clean then avoids stale objects. An interrupted build of the
    // same inputs continues where it stopped: nothing it depends on is
    // rewritten then, since new timestamps would make make start over.
    let key_file = dir.join("building-key");
    let uk_build = dir.join("uk");
    let config_file = dir.join("config");
    let resuming = std::fs::read_to_string(&key_file).ok().as_ref() == Some(&compile.key);
    if !resuming {
        crate::util::fs::remove_if_present(dir)?;
        std::fs::create_dir_all(uk_build.join("libmusl"))
            .with_context(|| format!("creating {}", uk_build.display()))?;
        // lib-musl would download musl with wget; hand it the verified tarball.
        let musl = uk_build
            .join("libmusl")
            .join(inputs.musl_tarball.file_name().unwrap_or_default());
        std::fs::copy(&inputs.musl_tarball, &musl)
            .with_context(|| format!("copying {}", musl.display()))?;
        std::fs::write(&config_file, &compile.config)?;
    }
    let app = app_dir(ctx)?;
    let places = [
        (APP, app.as_path()),
        (UNIKRAFT, inputs.unikraft.as_path()),
        (LIB_MUSL, inputs.lib_musl.as_path()),
        (BUNDLE_DIR, dir),
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let run = |cmd: &Cmd| {
        let mut cmd = ccache::wrap(opts.ccache, cmd.resolve(&places)?, &path);
        // Unikraft stamps its version with `git describe` of the enclosing
        // repository; the extracted tree has none, and ours must not leak in.
        if let Some(parent) = inputs.unikraft.parent() {
            cmd = cmd.env("GIT_CEILING_DIRECTORIES", parent);
        }
        cmd.run_build(log, ctx.verbose, opts.jobserver, Some(cancel))
    };
    let [olddefconfig, build] = &compile.recipe;
    if !resuming {
        run(olddefconfig)?;
        // Written last: from here on, a rerun with the same inputs resumes.
        std::fs::write(&key_file, &compile.key)?;
    }
    run(build)
}

/// Extracts the descriptor and copies every file it names into `stage`
/// (replaced whole, so a failure leaves no partial stage).
fn stage_bundle(
    ctx: &Context,
    bundle: &Bundle,
    inputs: &Inputs,
    dir: &Path,
    stage: &Path,
) -> Result<()> {
    let uk_build = dir.join("uk");
    let image = uk_build.join(format!(
        "{IMAGE_NAME}_{}-{}",
        bundle.backend.image_platform(),
        bundle.arch.unikraft()
    ));
    let app_source = app_dir(ctx)?.join("main.c");
    let outputs = descriptor::BuildOutputs {
        build_dir: &uk_build,
        app_lib: APP_LIB,
        app_source: &app_source,
        image: &image,
    };
    let roots = descriptor::Roots {
        roots: vec![
            (uk_build.clone(), "build"),
            (inputs.unikraft.clone(), "unikraft"),
            (inputs.lib_musl.clone(), "lib-musl"),
        ],
    };
    let cross = bundle.arch.derived_tool_prefix();
    let gcc_include = Cmd::new(format!("{cross}gcc"))
        .arg("-print-file-name=include")
        .read(false)?;
    let (descriptor, referenced) = descriptor::extract(
        &outputs,
        &roots,
        &bundle.backend_name(),
        bundle.arch.unikraft(),
        cross,
        gcc_include.trim(),
    )
    .with_context(|| format!("reading the build of {}", uk_build.display()))?;
    let install_name = bundle.install_name();
    crate::util::fs::install_tree(stage, false, |tmp| {
        let lib = tmp.join("lib").join(&install_name);
        for (source, inside) in &referenced.dirs {
            crate::util::fs::copy_tree(source, &lib.join(inside), &COPY_REFERENCED_DIRS)?;
        }
        for (source, inside) in &referenced.files {
            copy_file(source, &lib.join(inside))?;
        }
        let share = tmp.join("share").join(&install_name);
        std::fs::create_dir_all(&share)?;
        let json = serde_json::to_string_pretty(&descriptor)?;
        std::fs::write(share.join("backend.json"), json + "\n")?;
        Ok(())
    })
}

/// The placeholder application, as Unikraft names it (its Makefile resolves
/// symbolic links, and the `.cmd` files hold that path).
fn app_dir(ctx: &Context) -> Result<PathBuf> {
    let dir = ctx.root.join("backends/app");
    std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))
}

fn copy_file(source: &Path, dest: &Path) -> Result<()> {
    crate::util::fs::create_parent(dest)?;
    std::fs::copy(source, dest)
        .with_context(|| format!("copying {} to {}", source.display(), dest.display()))?;
    Ok(())
}

/// How the directories a descriptor names are copied: the headers (and
/// anything else but objects and their make records). lib-musl's include
/// directories are symbolic links into musl's tree: followed, the bundle
/// must stand alone.
const COPY_REFERENCED_DIRS: crate::util::fs::CopyOptions = crate::util::fs::CopyOptions {
    hard_links: false,
    follow_links: true,
    skip_extensions: &["o", "d", "cmd"],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Backend};

    #[test]
    fn the_make_commands_in_the_key_name_no_path_of_this_build() {
        let bundle = Bundle::new(Backend::Qemu, Arch::Arm64, &[]);
        let key = key_with_recipe("inputs", &recipe(&bundle));
        let make = format!(
            "make -C '${{app}}' 'UK_ROOT=${{unikraft}}' 'LIBS=${{lib-musl}}' 'O=${{bundle-dir}}/uk' 'C=${{bundle-dir}}/config' CROSS_COMPILE={}",
            Arch::Arm64.derived_tool_prefix()
        );
        assert_eq!(
            key,
            format!("inputs\nrun {make} olddefconfig\nrun {make}\n")
        );
    }

    #[test]
    fn changing_one_fragment_changes_only_the_bundles_using_it() {
        let root = tempfile::tempdir().unwrap();
        let (app, fragments) = (root.path().join("app"), root.path().join("fragments"));
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("main.c"), "int main(void) { return 0; }\n").unwrap();
        std::fs::create_dir_all(&fragments).unwrap();
        for name in [
            "base",
            "arch-x86_64",
            "arch-arm64",
            "plat-qemu",
            "plat-firecracker",
            "lib-musl",
            "opt-debug",
            "opt-9pfs",
        ] {
            std::fs::write(
                fragments.join(format!("{name}.config")),
                format!("# {name}\n"),
            )
            .unwrap();
        }
        let inputs = Inputs {
            unikraft: "/uk".into(),
            lib_musl: "/lm".into(),
            musl_tarball: "/musl.tar.gz".into(),
            sources_key: "sources".into(),
        };
        let keys = || -> Vec<String> {
            crate::target::select(&Default::default())
                .unwrap()
                .iter()
                .map(|b| {
                    let config = compose::compose(b, &fragments, None).unwrap();
                    input_key(&app, b, &inputs, &config, "gcc 12").unwrap()
                })
                .collect()
        };
        let before = keys();
        assert_eq!(before, keys(), "keys are stable");
        std::fs::write(fragments.join("plat-firecracker.config"), "CONFIG_X=y\n").unwrap();
        let after = keys();
        let changed: Vec<_> = crate::target::select(&Default::default())
            .unwrap()
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| b != a)
            .map(|(bundle, _)| bundle.name())
            .collect();
        assert_eq!(changed, ["firecracker-x86_64", "firecracker-arm64"]);
        std::fs::write(app.join("main.c"), "int main(void) { return 1; }\n").unwrap();
        assert!(
            keys().iter().zip(&after).all(|(a, b)| a != b),
            "the app is in every key"
        );
    }
}
