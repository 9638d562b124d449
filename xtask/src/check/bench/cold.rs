//! `cargo xtask bench --cold`: localbuild timed from nothing, as a newcomer
//! or a CI run without a warm tree meets it. In a scratch build tree and
//! prefix (the user's own are not touched) and with a scratch ccache
//! directory, three runs of the same binary:
//! 1. cold: empty tree, empty prefix, empty ccache;
//! 2. after `rm -rf` of the tree and the prefix, the ccache kept warm;
//! 3. no-op, right after.
//!
//! Each run's wall time is measured here, its CPU time (the whole process
//! tree) by `wait4`; its steps' times and its ccache statistics come from
//! the logs it wrote. The scratch directory is removed at the end.

use super::report::{Cold, ColdRun};
use crate::build::ccache::{self, Stats};
use crate::context::Context;
use crate::target::Selection;
use crate::util::cmd::Cmd;
use crate::util::fs;
use crate::util::progress;
use anyhow::{Context as _, Result};
use std::time::Instant;

pub(crate) fn measure(ctx: &Context, jobs: usize) -> Result<Cold> {
    let scratch = ctx.build_dir.join("bench-cold");
    let (build, prefix, cache) = (
        scratch.join("build"),
        scratch.join("prefix"),
        scratch.join("ccache"),
    );
    fs::remove_if_present(&scratch)?;
    let run = |what: &str| -> Result<ColdRun> {
        progress::say(
            "bench",
            &format!("{what} localbuild -j{jobs} in {}", scratch.display()),
        );
        let log = scratch.join(format!("{}.log", what.replace(' ', "-")));
        let exe = std::env::current_exe().context("locating the xtask binary")?;
        let start = Instant::now();
        let cpu_seconds = Cmd::new(exe)
            .arg("--build-dir")
            .arg(&build)
            .args(["localbuild", &format!("-j{jobs}"), "--prefix"])
            .arg(&prefix)
            .env("CCACHE_DIR", &cache)
            // Only this cache: a shared one would not start empty.
            .env("CCACHE_REMOTE_STORAGE", "")
            .run_timed(&log, ctx.verbose)
            .with_context(|| format!("the {what} localbuild of the bench failed"))?;
        let wall_seconds = start.elapsed().as_secs_f64();
        let logs = build.join("logs");
        Ok(ColdRun {
            wall_seconds,
            cpu_seconds,
            steps: crate::util::step::read_timings(&logs)?,
            ccache: Stats::read(&ccache::stats_log(&logs))?,
        })
    };
    let cold = run("cold")?;
    fs::remove_if_present(&build)?;
    fs::remove_if_present(&prefix)?;
    let warm = run("rm -rf then")?;
    let noop = run("no-op")?;
    let bundles = crate::target::select(&Selection::default())?;
    let critical_path =
        crate::build::localbuild::critical_path(&cold.steps, &bundles, cold.ccache.is_some());
    fs::remove_if_present(&scratch)?;
    Ok(Cold {
        jobs,
        cold,
        warm,
        noop_seconds: noop.wall_seconds,
        critical_path,
    })
}
