//! `cargo xtask mirage-tests`: MirageOS unikernels built and booted with an
//! installed toolchain, the way a MirageOS user builds them.
//!
//! - The pinned MirageOS sources (`tests/mirage/sources.toml`, with our
//!   overlays) are fetched and verified like the main sources, into the
//!   shared download cache, and extracted under `<build>/mirage/src`.
//! - `<build>/mirage/host`: the `mirage` tool, built from the host
//!   duniverse with the host OCaml and dune of the toolchain's build, and
//!   installed with its libraries (a stamped step).
//! - `<build>/mirage/duniverse`: the one duniverse every example builds
//!   with; `<build>/mirage/<example>-<backend>-<arch>`: a copy of an
//!   example (mirage-skeleton's, or ours from `tests/mirage/unikernels`),
//!   configured with `mirage configure -t unikraft-<backend>` and built
//!   with `dune build ./dist`.
//! - The images are booted on QEMU with the installed
//!   `ocaml-unikraft-run` and checked ([`boot`]); Firecracker's are built
//!   only, as Firecracker cannot boot here (see [`crate::check::boots`]).
//!
//! The files: [`sets`] (which source goes where, the duniverses),
//! [`host_tool`], [`unikernel`] (the examples, configured and built),
//! [`boot`], [`crypto`] (the known answers the crypto example must show),
//! [`dns`] (the resolver the dns example asks), [`https`] (the website
//! over TLS and its client), [`minipaf`] (the http example), [`load`] (the
//! website under load from real clients), [`site`] (the examples on a
//! bridge with dnsmasq).

mod boot;
mod bridge;
mod crypto;
mod dns;
mod entropy;
mod host_tool;
pub(crate) mod https;
pub(crate) mod load;
mod minipaf;
mod network;
mod sets;
mod site;
mod unikernel;
mod vm;

use crate::build::sources::{self, Fetcher, Source};
use crate::check::table::{print_table, run_row, Row, Verdict};
use crate::cli::{MirageTestsOpts, SourceOpts};
use crate::context::Context;
use crate::target::Bundle;
use crate::util::cmd::Cmd;
use crate::util::lock::lock_dir;
use crate::util::progress;
use crate::util::step::StepResult;
use anyhow::{bail, Context as _, Result};
use sets::Sets;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use unikernel::{Case, Example};

/// The host tools and the toolchain every command runs with.
pub(crate) struct Tools {
    /// `PATH` as a user of the toolchain has it (driver, host OCaml, dune).
    path: OsString,
    /// The toolchain's ocamlfind configuration.
    findlib_conf: PathBuf,
    jobs: usize,
    verbose: bool,
    /// The host compiler's and dune's versions, part of the host tool's
    /// stamp.
    versions: String,
    /// dune's cache for the examples' builds, every rule in it, emptied at
    /// each run (see [`unikernel::build`]).
    dune_cache: PathBuf,
}

impl Tools {
    fn env(&self, cmd: Cmd) -> Cmd {
        cmd.env("PATH", &self.path)
            .env("OCAMLFIND_CONF", &self.findlib_conf)
    }
}

pub(crate) fn mirage_tests(ctx: &Context, opts: &MirageTestsOpts) -> Result<()> {
    let cases = Case::selected(&opts.examples)?;
    let dir = ctx.root.join("tests/mirage");
    // The pinned set is a source set of its own: its trees, stamps and
    // logs live under <build>/mirage; the download cache is shared.
    let mirage = Context {
        root: ctx.root.clone(),
        build_dir: ctx.build_dir.join("mirage"),
        cache_dir: ctx.cache_dir.clone(),
        sources_file: dir.join("sources.toml"),
        verbose: ctx.verbose,
    };
    let pins = sources::pins::load(&mirage.sources_file)?;
    let sets = Sets::load(&dir.join("sets.toml"), &pins)?;
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    let tools = if opts.fetch_only {
        None
    } else {
        Some(toolchain(ctx, &prefix, opts)?)
    };

    let _lock = lock_dir(&mirage.build_dir, "MirageOS test tree")?;
    let source_opts = SourceOpts {
        fetch: opts.fetch.clone(),
        ..SourceOpts::default()
    };
    fetch(&mirage, &source_opts, &pins)?;
    let tree = |name: &str| -> PathBuf {
        let source = pins.iter().find(|s| s.name == name);
        source.map_or_else(PathBuf::new, |s| {
            sources::source_dir(&mirage, &source_opts, s)
        })
    };
    let host = mirage.build_dir.join("host");
    sets::make_duniverse(&host, &sets.host.sources, false, tree)?;
    std::fs::write(host.join("dune-project"), "(lang dune 3.0)\n")?;
    sets::make_duniverse(&mirage.build_dir, &sets.target.sources, true, tree)?;
    let Some(tools) = tools else {
        progress::say(
            "mirage-tests",
            &format!(
                "every pinned MirageOS source is here; the unikernels' duniverse is {}/duniverse",
                mirage.build_dir.display()
            ),
        );
        return Ok(());
    };

    // The host tool.
    let mut inputs = tools.versions.clone();
    for name in &sets.host.sources {
        if let Some(source) = pins.iter().find(|s| &s.name == name) {
            inputs.push_str(&sources::tree_key(&mirage, &source_opts, source)?);
            inputs.push('\n');
        }
    }
    let start = Instant::now();
    let built = host_tool::ensure(
        &host,
        &mirage.log_dir(),
        &sets.host.packages,
        inputs,
        &tools,
    )?;
    let tool_time = match built {
        StepResult::Ran | StepResult::Restored => {
            format!("built in {:.0} s", start.elapsed().as_secs_f64())
        }
        StepResult::UpToDate => "up to date".into(),
    };

    // The examples.
    crate::util::fs::remove_if_present(&tools.dune_cache)?;
    let skeleton = tree(&sets.examples.source);
    let ours = dir.join("unikernels");
    let blockers = crate::check::boots::blockers(&prefix, &bundles_of(&cases));
    let runner = ocaml_unikraft_toolchain::layout::runner(&prefix);
    let timeout = Duration::from_secs_f64(opts.timeout);
    let mut rows = Vec::new();
    let mut figures = vec![format!("mirage tool: {tool_time}")];
    let no_site = bridge::unavailable();
    let no_load = load::unavailable();
    let page = std::fs::read(ours.join("website/htdocs/index.html"))?;
    // The website's image of each target, for fetch.
    let mut websites = std::collections::HashMap::new();
    for case in cases {
        let name = case.dir_name();
        let target = case.bundle.name();
        progress::say("mirage-tests", &format!("building {name}"));
        let log = mirage.log_dir().join(format!("{name}.log"));
        let built = unikernel::build(
            &case,
            &case.example.source_dir(&skeleton, &ours),
            &mirage.build_dir.join(&name),
            &mirage.build_dir.join("duniverse"),
            &host_tool::prefix(&host),
            &tools,
            &log,
        );
        let built = match built {
            Ok(built) => built,
            Err(err) => {
                let why = format!("{err:#}\nhelp: the full output is in {}", log.display());
                rows.push(row_failed(case.example.name(), &target, why));
                continue;
            }
        };
        figures.push(format!(
            "{name}: dune build {:.0} s, image {:.1} MiB",
            built.build_time.as_secs_f64(),
            built.image_bytes as f64 / (1024.0 * 1024.0)
        ));
        if case.example == Example::Website {
            websites.insert(target.clone(), built.image.clone());
        }
        if case.example != Example::Fetch {
            rows.push(run_row(case.example.name(), &target, || {
                if let Some(reason) = blockers.get(&target) {
                    return Ok((Verdict::Skip(format!("built, not booted: {reason}")), None));
                }
                progress::say("mirage-tests", &format!("booting {name}"));
                let console = mirage.log_dir().join(format!("{name}.console"));
                boot::boot(
                    &runner,
                    case.example,
                    case.bundle.arch,
                    &mirage.build_dir.join(&name),
                    &built.image,
                    timeout,
                    &console,
                )
            }));
        }
        if case.example == Example::Website {
            let name = format!("{name} under load");
            rows.push(run_row("website under load", &target, || {
                if let Some(reason) = blockers.get(&target).or(no_load.as_ref()) {
                    return Ok((Verdict::Skip(format!("not booted: {reason}")), None));
                }
                progress::say("mirage-tests", &format!("booting {name} (--forward)"));
                let (verdict, run, output) =
                    load::through_forward(&runner, &built.image, &page, timeout)?;
                let console = mirage.log_dir().join(format!("{name}.load.console"));
                std::fs::write(&console, output)
                    .with_context(|| format!("writing {}", console.display()))?;
                Ok((verdict, run))
            }));
        }
        // The same images on a bridge, with dnsmasq (see `site`).
        let on_site: Option<site::Test> = match case.example {
            Example::NetworkDhcp => {
                Some(&|runner, image, timeout| site::network(runner, image, timeout))
            }
            Example::Dns => Some(&|runner, image, timeout| site::dns(runner, image, timeout)),
            Example::Website => Some(&|runner, image, timeout| match no_load.as_ref() {
                Some(reason) => anyhow::bail!("cannot load it: {reason}"),
                None => site::load(runner, image, &page, timeout),
            }),
            Example::Fetch => Some(&|runner, image, timeout| match websites.get(&target) {
                Some(website) => site::fetch(runner, image, website, &page, timeout),
                None => anyhow::bail!("the website was not built for {target}"),
            }),
            _ => None,
        };
        if let Some(test) = on_site {
            let row_name = match case.example {
                Example::Website => "website under load on a bridge".to_string(),
                example => format!("{} on a bridge", example.name()),
            };
            rows.push(run_row(&row_name, &target, || {
                if let Some(reason) = blockers.get(&target).or(no_site.as_ref()) {
                    return Ok((Verdict::Skip(format!("not booted: {reason}")), None));
                }
                progress::say("mirage-tests", &format!("booting {name} on a bridge"));
                let (verdict, run, output) = test(&runner, &built.image, timeout)?;
                let console = mirage.log_dir().join(format!("{name}.bridge.console"));
                std::fs::write(&console, output)
                    .with_context(|| format!("writing {}", console.display()))?;
                Ok((verdict, run))
            }));
        }
    }
    print_table(&rows);
    println!("\ntimings and sizes:");
    for line in &figures {
        println!("  {line}");
    }
    let failed = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
        .count();
    if failed > 0 {
        bail!(
            "{failed} MirageOS test(s) failed\nhelp: each build's output is in {}/<example>-<backend>-<arch>.log, each boot's in .console beside it; boot one by hand with `ocaml-unikraft-run` (docs/mirage-and-opam.md)",
            mirage.log_dir().display()
        );
    }
    Ok(())
}

/// Fetches, verifies and extracts every pinned source; the error names all
/// that cannot be had (its first line is what CI prints when it skips).
fn fetch(mirage: &Context, opts: &SourceOpts, pins: &[Source]) -> Result<()> {
    let fetcher = Fetcher::new()?;
    let mut missing = Vec::new();
    for pin in pins {
        if let Err(err) = sources::prepare(mirage, opts, std::slice::from_ref(pin), &fetcher) {
            missing.push((pin.label(), err));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|(name, _)| name.as_str()).collect();
    let details: Vec<String> = missing.iter().map(|(_, err)| format!("{err:#}")).collect();
    bail!(
        "pinned MirageOS sources not obtainable: {}\n{}\nhelp: the pins are in tests/mirage/sources.toml; provide each as its error says (--mirror DIR holding <name>.git, or git's url.<copy>.insteadOf)",
        names.join(", "),
        details.join("\n")
    )
}

/// The installed toolchain and host tools the tests need, or what to do.
fn toolchain(ctx: &Context, prefix: &Path, opts: &MirageTestsOpts) -> Result<Tools> {
    let runner = ocaml_unikraft_toolchain::layout::runner(prefix);
    let installed = crate::build::install::installed_bundles(prefix);
    let mut missing: Vec<String> = Vec::new();
    if !runner.exists() {
        missing.push(runner.display().to_string());
    }
    for bundle in bundles_of(&Case::all()) {
        if !installed.contains(&bundle) {
            missing.push(format!("bundle {}", bundle.name()));
        }
        let compiler = format!("the {} cross compiler", bundle.arch.unikraft());
        if !ocaml_unikraft_toolchain::layout::has_compiler(prefix, bundle.arch)
            && !missing.contains(&compiler)
        {
            missing.push(compiler);
        }
    }
    // GMP's build runs m4 on its assembly; the HTTPS test makes its
    // certificate with openssl.
    let programs: Vec<&str> = ["m4", "openssl"]
        .into_iter()
        .filter(|program| ocaml_unikraft_toolchain::which::on_path(program).is_none())
        .collect();
    if !programs.is_empty() {
        bail!(
            "mirage-tests needs {} on PATH\nhelp: install {} (Debian: apt-get install {}); `cargo xtask doctor` lists every tool",
            programs.join(" and "),
            programs.join(" and "),
            programs.join(" ")
        );
    }
    if !missing.is_empty() {
        bail!(
            "the toolchain in {} lacks {}\nhelp: run `cargo xtask localbuild` first (or name its prefix with --prefix)",
            prefix.display(),
            missing.join(", ")
        );
    }
    let mut tools = Tools {
        path: crate::build::host::user_path(ctx, prefix),
        findlib_conf: crate::build::findlib::main_conf(prefix),
        jobs: opts
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        verbose: ctx.verbose,
        versions: String::new(),
        dune_cache: ctx.build_dir.join("mirage/dune-cache"),
    };
    let ocaml = tools.env(Cmd::new("ocamlfind").args(["ocamlopt", "-version"]));
    tools.versions = (|| -> Result<String> {
        // A dune built from a source tree says its version is `n/a`.
        let dune = std::env::split_paths(&tools.path)
            .map(|dir| dir.join("dune"))
            .find(|dune| dune.is_file())
            .context("no dune")?;
        Ok(format!(
            "ocaml {}dune sha256:{}\n",
            ocaml.read(ctx.verbose)?,
            crate::util::fs::sha256_file(&dune)?
        ))
    })()
    .with_context(|| {
        format!(
            "no host OCaml with ocamlfind and dune on PATH\nhelp: run `cargo xtask localbuild` first: it builds them into {}/host/bin; with another build tree, put that tree's host/bin on PATH",
            ctx.build_dir.display()
        )
    })?;
    Ok(tools)
}

/// The bundles the cases are built for, each once.
fn bundles_of(cases: &[Case]) -> Vec<Bundle> {
    let mut bundles: Vec<Bundle> = Vec::new();
    for case in cases {
        if !bundles.contains(&case.bundle) {
            bundles.push(case.bundle.clone());
        }
    }
    bundles
}

/// A row for a case that could not be built.
fn row_failed(test: &str, target: &str, why: String) -> Row {
    Row {
        test: test.into(),
        target: target.into(),
        verdict: Verdict::Fail(why),
        ending: None,
        first_output: None,
        time: Duration::ZERO,
    }
}
