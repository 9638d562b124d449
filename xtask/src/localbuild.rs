//! `cargo xtask localbuild`: every stage in order, each skipping what is
//! already up to date.

use crate::backends::{self, Bundle};
use crate::cli::LocalbuildOpts;
use crate::context::Context;
use crate::install::{self, Installation};
use crate::progress;
use crate::sources::{self, Fetcher, Source};
use anyhow::{Context as _, Result};
use std::time::Instant;

pub fn localbuild(ctx: &Context, opts: &LocalbuildOpts) -> Result<()> {
    let start = Instant::now();
    let jobs = opts
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let prefix = match &opts.prefix {
        Some(p) => std::env::current_dir()?.join(p),
        None => ctx.root.join("_build"),
    };

    let all = sources::selected(ctx, &opts.sources)?;
    sources::prepare(ctx, &opts.sources, &all, &Fetcher::new()?)?;
    let find = |name: &str| -> Result<&Source> {
        all.iter()
            .find(|s| s.name == name)
            .with_context(|| format!("sources.toml has no '{name}'"))
    };
    let (unikraft, lib_musl, musl) = (find("unikraft")?, find("lib-musl")?, find("musl")?);

    let bundles: Vec<Bundle> =
        backends::bundle::select(&opts.backends, &opts.arches, &opts.options);
    let inputs = backends::Inputs {
        unikraft: sources::source_dir(ctx, &opts.sources, unikraft),
        lib_musl: sources::source_dir(ctx, &opts.sources, lib_musl),
        musl_tarball: sources::cached_tarball(ctx, musl),
        sources_key: [unikraft, lib_musl, musl]
            .iter()
            .map(|s| sources::tree_key(ctx, &opts.sources, s))
            .collect::<Result<Vec<_>>>()?
            .join("\n"),
    };
    let bundle_opts = backends::Options {
        jobs,
        fail_fast: opts.fail_fast,
        config_dir: opts.config_dir.as_deref(),
    };
    let stages = backends::build(ctx, &bundles, &inputs, &bundle_opts)?;

    let driver = install::build_driver(ctx)?;
    install::install(
        ctx,
        &Installation {
            prefix: &prefix,
            driver: &driver,
            bundles: &bundles,
            bundle_stages: &stages,
        },
    )?;
    progress::say(
        "localbuild",
        &format!(
            "done in {:.1} s; to use the toolchain:",
            start.elapsed().as_secs_f64()
        ),
    );
    println!("export PATH=\"{}/bin:$PATH\"", prefix.display());
    Ok(())
}
