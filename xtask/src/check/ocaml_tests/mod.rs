//! `cargo xtask ocaml-tests`: OCaml's own testsuite, from the pinned OCaml
//! source, built with the installed cross compilers and booted on every
//! installed QEMU bundle.
//!
//! Which tests run is read from their ocamltest headers ([`selection`],
//! with the rules and the exclusions in
//! `tests/ocaml-testsuite/selection.toml`). Each selected one is built
//! ([`compile`]) natively and for each bundle, then run; the native build,
//! run on this machine in an empty directory, is the control. Each run's
//! console must equal the test's reference byte for byte and its status
//! the header's (0 unless it says).
//!
//! - [`header`]: the `(* TEST ... *)` header, parsed;
//! - [`selection`]: what the rules make of each header;
//! - [`compile`]: one test built as ocamltest builds it;
//! - [`report`]: the table of results.

mod compile;
mod header;
mod report;
mod selection;

use crate::build::sources::{self, Fetcher};
use crate::check::boots;
use crate::check::localtests::boot_check::{boot_and_check, Boots};
use crate::check::localtests::expected::Expected;
use crate::check::localtests::{native, LINUX};
use crate::check::table::{not_applicable_row, run_row, Row, Verdict};
use crate::cli::{OcamlTestsOpts, SourceOpts};
use crate::context::Context;
use crate::target::{Backend, BuildOption, Bundle};
use crate::util::progress;
use anyhow::{bail, Context as _, Result};
use compile::Builder;
use ocaml_unikraft_toolchain::layout;
use rayon::prelude::*;
use selection::{Choice, Rules, Spec};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The target of rows for tests that run nowhere.
const EVERYWHERE: &str = "all";
/// Guest memory: ocamltest sets no limit, and some tests use a few hundred
/// MiB natively (QEMU backs only the pages a guest touches).
const GUEST_MEMORY_MIB: u32 = 2048;

pub(crate) fn ocaml_tests(ctx: &Context, opts: &OcamlTestsOpts) -> Result<()> {
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    let bundles = targets(&prefix, &opts.bundles)?;
    let testsuite = pinned_testsuite(ctx)?;
    let rules = Rules::load(&ctx.root.join("tests/ocaml-testsuite/selection.toml"))?;
    let mut chosen = rules.choose_all(&testsuite.join("tests"))?;
    if !opts.only.is_empty() {
        chosen.retain(|(id, _)| opts.only.iter().any(|part| id.contains(part.as_str())));
        if chosen.is_empty() {
            bail!("no test's id contains any of {:?}", opts.only);
        }
    }
    let specs: Vec<&Spec> = chosen
        .iter()
        .filter_map(|(_, choice)| match choice {
            Choice::Run(spec) => Some(spec.as_ref()),
            Choice::NotApplicable(_) => None,
        })
        .collect();
    progress::say(
        "ocaml-tests",
        &format!(
            "{} of {} testsuite programs selected, for {} and {}",
            specs.len(),
            chosen.len(),
            LINUX,
            bundles
                .iter()
                .map(Bundle::name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let builder = Builder::new(
        ctx,
        &prefix,
        &ctx.build_dir.join("tests/ocaml-testsuite"),
        &testsuite.join("lib"),
    )?;
    let boots = Boots {
        timeout: Duration::from_secs_f64(opts.timeout),
        blockers: boots::blockers(&prefix, &bundles),
    };
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let total = specs.len() * (1 + bundles.len());
    let count = |row: &Row| {
        if let Verdict::Fail(why) = &row.verdict {
            failed.fetch_add(1, Ordering::Relaxed);
            let first = why.lines().next().unwrap_or_default();
            progress::say(
                "ocaml-tests",
                &format!("FAIL {} on {}: {first}", row.test, row.target),
            );
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(50) || n == total {
            progress::say(
                "ocaml-tests",
                &format!(
                    "{n} of {total} runs done, {} failed",
                    failed.load(Ordering::Relaxed)
                ),
            );
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.unwrap_or_else(num_cpus))
        .build()?;
    // The native runs first: how long each test takes there sets how long
    // it may take on the software CPU. Each job builds then runs, so that
    // builds overlap runs.
    let native: Vec<(Row, Option<Duration>)> = pool.install(|| {
        specs
            .par_iter()
            .map(|spec| {
                let (row, ran_for) = run_native(spec, &builder, &boots);
                count(&row);
                (row, ran_for)
            })
            .collect()
    });
    let mut jobs: Vec<(&Spec, &Bundle, Duration)> = Vec::new();
    for (spec, (_, ran_for)) in specs.iter().zip(&native) {
        let timeout = guest_timeout(boots.timeout, *ran_for);
        jobs.extend(bundles.iter().map(|b| (*spec, b, timeout)));
    }
    let booted: Vec<Row> = pool.install(|| {
        jobs.par_iter()
            .map(|(spec, bundle, timeout)| {
                let row = run_on(spec, bundle, *timeout, &builder, &boots);
                count(&row);
                row
            })
            .collect()
    });
    let mut rows: Vec<Row> = native.into_iter().map(|(row, _)| row).collect();
    rows.extend(booted);
    for (id, choice) in &chosen {
        if let Choice::NotApplicable(reason) = choice {
            rows.push(not_applicable_row(id, EVERYWHERE, reason.as_str()));
        }
    }
    let targets: Vec<String> = std::iter::once(LINUX.to_string())
        .chain(bundles.iter().map(Bundle::name))
        .collect();
    report::print(&rows, &targets);
    let failed = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
        .count();
    if failed > 0 {
        bail!("{failed} testsuite run(s) failed");
    }
    Ok(())
}

/// Every installed QEMU bundle with a cross compiler for its arch, or
/// those named; but those without the guest's own root the tests run on:
/// the 9pfs ones (their root is a directory of the host, without /tmp)
/// and the noroot ones (a bench baseline with no filesystem at all).
fn targets(prefix: &Path, named: &[String]) -> Result<Vec<Bundle>> {
    let no_own_root = |b: &Bundle| {
        if b.has(BuildOption::NinePfs) {
            Some("its root is the host's shared directory, without /tmp")
        } else if b.has(BuildOption::NoRoot) {
            Some("it has no root filesystem")
        } else {
            None
        }
    };
    let mut installed = Vec::new();
    for bundle in crate::build::install::installed_bundles(prefix)
        .into_iter()
        .filter(|b| b.backend == Backend::Qemu && layout::has_compiler(prefix, b.arch))
    {
        match no_own_root(&bundle) {
            Some(why) => progress::say(
                "ocaml-tests",
                &format!("{}: not a target ({why})", bundle.name()),
            ),
            None => installed.push(bundle),
        }
    }
    if installed.is_empty() {
        bail!(
            "no QEMU bundle with its cross compiler is installed in {}\nhelp: run `cargo xtask localbuild` first",
            prefix.display()
        );
    }
    if named.is_empty() {
        return Ok(installed);
    }
    named
        .iter()
        .map(|name| {
            installed
                .iter()
                .find(|b| &b.name() == name)
                .cloned()
                .with_context(|| {
                    let names: Vec<String> = installed.iter().map(Bundle::name).collect();
                    format!(
                        "{name} is not an installed QEMU bundle\nhelp: installed: {}",
                        names.join(", ")
                    )
                })
        })
        .collect()
}

/// testsuite/ of the pinned OCaml source, extracted if it is not yet.
fn pinned_testsuite(ctx: &Context) -> Result<PathBuf> {
    let opts = SourceOpts {
        only: vec!["ocaml".into()],
        ..SourceOpts::default()
    };
    let pins = sources::selected(ctx, &opts)?;
    sources::prepare(ctx, &opts, &pins, &Fetcher::new()?)?;
    let ocaml = pins
        .iter()
        .find(|s| s.name == "ocaml")
        .context("sources.toml has no 'ocaml'")?;
    Ok(sources::source_dir(ctx, &opts, ocaml).join("testsuite"))
}

/// How much longer than natively a test may take on a guest: the software
/// CPU, measured on the testsuite's longest test (`pr9853/compaction_corner_case`:
/// 13 s natively, 88 s on qemu-x86_64, 146 s on qemu-arm64, idle 2-core
/// host), times two for the runs beside it.
const SOFTWARE_CPU_ALLOWANCE: u32 = 25;

/// A guest's deadline: `--timeout`, or longer for a test that natively takes
/// more than a share of it.
fn guest_timeout(timeout: Duration, native_run: Option<Duration>) -> Duration {
    native_run.map_or(timeout, |ran_for| {
        timeout.max(ran_for * SOFTWARE_CPU_ALLOWANCE)
    })
}

/// Builds and runs one test natively, the control: its row, and how long the
/// program ran when it passed.
fn run_native(spec: &Spec, builder: &Builder, boots: &Boots) -> (Row, Option<Duration>) {
    let mut ran_for = None;
    let row = run_row(&spec.id, LINUX, || {
        let exe = match builder.build(spec, LINUX, None)? {
            Ok(exe) => exe,
            Err(said) => return Ok((Verdict::Fail(said), None)),
        };
        let dir = tempfile::tempdir()?;
        let start = Instant::now();
        let outcome = native::run(&exe, &expected(spec)?, boots.timeout, Some(dir.path()))?;
        if outcome.0 == Verdict::Pass {
            ran_for = Some(start.elapsed());
        }
        Ok(outcome)
    });
    (row, ran_for)
}

/// Builds one test for `bundle` and boots it, with `timeout`.
fn run_on(
    spec: &Spec,
    bundle: &Bundle,
    timeout: Duration,
    builder: &Builder,
    boots: &Boots,
) -> Row {
    let target = bundle.name();
    run_row(&spec.id, &target, || {
        let exe = match builder.build(spec, &target, Some(bundle))? {
            Ok(exe) => exe,
            Err(said) => return Ok((Verdict::Fail(said), None)),
        };
        let expected = Expected {
            timeout: Some(timeout),
            ..expected(spec)?
        };
        boot_and_check(bundle, &exe, &expected, boots)
    })
}

fn expected(spec: &Spec) -> Result<Expected> {
    let output = match &spec.reference {
        // Read as the consoles are (a few references are not UTF-8).
        Some(file) => String::from_utf8_lossy(
            &std::fs::read(file).with_context(|| format!("reading {}", file.display()))?,
        )
        .into_owned(),
        None => String::new(),
    };
    Ok(Expected {
        output,
        status: spec.exit_status,
        args: spec.arguments.clone(),
        env: spec.env.iter().map(|(n, v)| format!("{n}={v}")).collect(),
        memory_mib: Some(GUEST_MEMORY_MIB),
        crlf_is_newline: true,
        ..Expected::default()
    })
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
