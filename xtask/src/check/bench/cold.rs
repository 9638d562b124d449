//! `cargo xtask bench --cold`: localbuild timed from nothing, as a newcomer
//! or a CI run without a warm tree meets it, and again with the caches a
//! team shares warm. In a scratch directory (the user's build tree, prefix,
//! ccache and step cache are not touched):
//! 1. cold, at each `-j` asked: empty tree, prefix, ccache and step cache;
//! 2. after `rm -rf` of the tree and the prefix, the caches kept warm;
//! 3. no-op, right after;
//! 4. two fresh clones of the repository's HEAD in other directories, the
//!    caches warm: the first compiles its xtask from an empty cargo target
//!    directory, the second from the one the first left; then, on the
//!    second clone, `localbuild --test-variants` and `localtests`.
//!
//! Each run's wall time is measured here, its CPU time (the whole process
//! tree) by `wait4`; its steps' times and its ccache statistics come from
//! the logs it wrote. The scratch directory is removed at the end.

use super::report::{CloneSetup, Cold, ColdBuild, ColdRun, FreshClone};
use crate::build::ccache::{self, Stats};
use crate::context::Context;
use crate::target::Selection;
use crate::util::cmd::Cmd;
use crate::util::fs;
use crate::util::progress;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The caches every run of the bench shares, in the scratch directory.
struct Caches {
    ccache: PathBuf,
    steps: PathBuf,
    /// For the clones' xtask.
    cargo_target: PathBuf,
}

impl Caches {
    /// `cmd` using only these caches: shared ones would not start empty.
    fn apply(&self, cmd: Cmd) -> Cmd {
        cmd.env("CCACHE_DIR", &self.ccache)
            .env("CCACHE_REMOTE_STORAGE", "")
            .env("OCAML_UNIKRAFT_STEP_CACHE_DIR", &self.steps)
            .env("OCAML_UNIKRAFT_STEP_CACHE_REMOTE", "")
    }

    /// `cargo ARGS` in the clone at `dir`, with the clones' shared cargo
    /// target directory.
    fn cargo_in(&self, dir: &Path, args: &[&str]) -> Cmd {
        Cmd::new("cargo")
            .args(args)
            .dir(dir)
            .env("CARGO_TARGET_DIR", &self.cargo_target)
    }

    fn clear(&self) -> Result<()> {
        fs::remove_if_present(&self.ccache)?;
        fs::remove_if_present(&self.steps)
    }
}

pub(crate) fn measure(ctx: &Context, jobs: &[usize]) -> Result<Cold> {
    let scratch = ctx.build_dir.join("bench-cold");
    let (build, prefix) = (scratch.join("build"), scratch.join("prefix"));
    let caches = Caches {
        ccache: scratch.join("ccache"),
        steps: scratch.join("steps"),
        cargo_target: scratch.join("cargo-target"),
    };
    fs::remove_if_present(&scratch)?;
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let localbuild = |what: &str, jobs: usize| -> Result<ColdRun> {
        progress::say(
            "bench",
            &format!("{what} localbuild -j{jobs} in {}", scratch.display()),
        );
        let cmd = Cmd::new(&exe)
            .arg("--build-dir")
            .arg(&build)
            .args(["localbuild", &format!("-j{jobs}"), "--prefix"])
            .arg(&prefix);
        let log = scratch.join(format!("{}-j{jobs}.log", what.replace(' ', "-")));
        run(caches.apply(cmd), &log, &build.join("logs"), what)
    };
    let bundles = crate::target::select(&Selection::default())?;
    let mut cold = Vec::new();
    for &jobs in jobs {
        fs::remove_if_present(&build)?;
        fs::remove_if_present(&prefix)?;
        caches.clear()?;
        let run = localbuild("cold", jobs)?;
        let critical_path =
            crate::build::localbuild::critical_path(&run.steps, &bundles, run.ccache.is_some());
        cold.push(ColdBuild {
            jobs,
            run,
            critical_path,
        });
    }
    let last_jobs = *jobs.last().context("bench --cold needs at least one -j")?;
    fs::remove_if_present(&build)?;
    fs::remove_if_present(&prefix)?;
    let warm = localbuild("rm -rf then", last_jobs)?;
    let noop = localbuild("no-op", last_jobs)?;
    let first = set_up_clone(ctx, &scratch.join("clone-1"), &caches, last_jobs)?;
    let second_dir = scratch.join("clone-2");
    let second = set_up_clone(ctx, &second_dir, &caches, last_jobs)?;
    progress::say(
        "bench",
        "the test variants, then localtests, on the second clone's toolchain",
    );
    let start = Instant::now();
    let jobs_arg = format!("-j{last_jobs}");
    let test_variants = ["xtask", "localbuild", &jobs_arg, "--test-variants"];
    let localtests = caches
        .apply(caches.cargo_in(&second_dir, &test_variants))
        .run_timed(&scratch.join("clone-test-variants.log"), ctx.verbose)
        .and_then(|_| {
            caches
                .cargo_in(&second_dir, &["xtask", "localtests", "--require", "qemu"])
                .run_timed(&scratch.join("clone-localtests.log"), ctx.verbose)
        })
        .map(|_| start.elapsed().as_secs_f64())
        .map_err(|err| format!("{err:#}"));
    fs::remove_if_present(&scratch)?;
    Ok(Cold {
        cold,
        warm,
        noop_seconds: noop.wall_seconds,
        fresh_clone: FreshClone {
            first,
            second,
            localtests,
        },
    })
}

/// Clones the repository's HEAD into `dir` and sets up its toolchain with
/// `caches`, as a user would: compile its xtask, then `localbuild`.
fn set_up_clone(ctx: &Context, dir: &Path, caches: &Caches, jobs: usize) -> Result<CloneSetup> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    progress::say("bench", &format!("fresh clone in {}", dir.display()));
    let log = |step: &str| dir.with_file_name(format!("{name}-{step}.log"));
    let timed = |cmd: Cmd, step: &str| -> Result<f64> {
        let start = Instant::now();
        cmd.run_timed(&log(step), ctx.verbose)
            .with_context(|| format!("{step} in the fresh clone {} failed", dir.display()))?;
        Ok(start.elapsed().as_secs_f64())
    };
    let clone_seconds = timed(
        Cmd::new("git")
            .args(["clone", "-q"])
            .arg(&ctx.root)
            .arg(dir),
        "clone",
    )?;
    let cargo = |args: &[&str]| caches.cargo_in(dir, args);
    let xtask_seconds = timed(cargo(&["build", "-q", "-p", "xtask"]), "xtask")?;
    progress::say(
        "bench",
        &format!("localbuild -j{jobs} in {}", dir.display()),
    );
    let localbuild = run(
        caches.apply(cargo(&["xtask", "localbuild", &format!("-j{jobs}")])),
        &log("localbuild"),
        &dir.join("_build/build/logs"),
        "fresh clone",
    )?;
    Ok(CloneSetup {
        clone_seconds,
        xtask_seconds,
        localbuild,
    })
}

/// Runs a localbuild `cmd` writing its logs to `logs`.
fn run(cmd: Cmd, log: &Path, logs: &Path, what: &str) -> Result<ColdRun> {
    let start = Instant::now();
    let cpu_seconds = cmd
        .run_timed(log, false)
        .with_context(|| format!("the {what} localbuild of the bench failed"))?;
    Ok(ColdRun {
        wall_seconds: start.elapsed().as_secs_f64(),
        cpu_seconds,
        steps: crate::util::step::read_timings(logs)?,
        ccache: Stats::read(&ccache::stats_log(logs))?,
    })
}
