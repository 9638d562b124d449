//! `cargo xtask localbuild`: every stage in order, each skipping what is
//! already up to date. All stages share one GNU make jobserver holding the
//! `-j` budget; independent stages (bundles and host tools, then the cross
//! compilers of each arch) run at the same time.

use crate::build::backends;
use crate::build::ccache::{self, Ccache};
use crate::build::host;
use crate::build::install::{self, Installation};
use crate::build::sources::{self, Fetcher, Source};
use crate::build::{findlib, ocaml};
use crate::cli::LocalbuildOpts;
use crate::context::Context;
use crate::target::{Arch, Bundle, Selection};
use crate::util::probe::{self, cmd};
use crate::util::progress;
use crate::util::step;
use anyhow::{Context as _, Result};
use rayon::prelude::*;
use std::time::Instant;

pub(crate) fn localbuild(ctx: &Context, opts: &LocalbuildOpts) -> Result<()> {
    let start = Instant::now();
    let jobs = opts
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let jobserver = jobserver::Client::new(jobs).context("creating the make jobserver")?;
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    // Before anything runs: a selection that cannot be built fails at once.
    let bundles: Vec<Bundle> = crate::target::select(&Selection {
        backends: &opts.backends,
        arches: &opts.arches,
        options: &opts.options,
        no_variants: opts.no_variants,
    })?;

    // Held to the end: two runs on one build tree would build the same
    // bundles into the same directories.
    let _build_lock = crate::util::lock::lock_dir(&ctx.build_dir, "build tree")?;
    // Every step's timing records this run's budget, for `cargo xtask bench`.
    step::begin_run(jobs);
    let all = sources::selected(ctx, &opts.sources)?;
    sources::prepare(ctx, &opts.sources, &all, &Fetcher::new()?)?;
    let find = |name: &str| -> Result<&Source> {
        all.iter()
            .find(|s| s.name == name)
            .with_context(|| format!("sources.toml has no '{name}'"))
    };
    let key_of = |source: &Source| sources::tree_key(ctx, &opts.sources, source);
    let dir_of = |source: &Source| sources::source_dir(ctx, &opts.sources, source);
    let (unikraft, lib_musl, musl) = (find("unikraft")?, find("lib-musl")?, find("musl")?);
    let (ocaml_src, findlib_src, dune_src) = (find("ocaml")?, find("findlib")?, find("dune")?);

    let inputs = backends::Inputs {
        unikraft: dir_of(unikraft),
        lib_musl: dir_of(lib_musl),
        musl_tarball: sources::cached_tarball(ctx, musl),
        sources_key: [key_of(unikraft)?, key_of(lib_musl)?, key_of(musl)?].join("\n"),
    };
    let ccache = Ccache::setup(
        ctx,
        &prefix,
        &ccache::Request {
            disabled: opts.no_ccache,
            remote_storage: opts.ccache_remote_storage.as_deref(),
        },
    )?;
    let bundle_opts = backends::Options {
        jobserver: &jobserver,
        ccache: ccache.as_ref(),
        fail_fast: opts.fail_fast,
        config_dir: opts.config_dir.as_deref(),
    };
    let trees = host::Trees {
        ocaml: dir_of(ocaml_src),
        ocaml_key: key_of(ocaml_src)?,
        findlib: dir_of(findlib_src),
        findlib_key: key_of(findlib_src)?,
        dune: dir_of(dune_src),
        dune_key: key_of(dune_src)?,
    };
    let (stages, host_tools) = rayon::join(
        || backends::build(ctx, &bundles, &inputs, &bundle_opts),
        || host::ensure(ctx, &ocaml_src.version, &trees, &jobserver, ccache.as_ref()),
    );
    let (stages, host_tools) = (stages?, host_tools?);

    let programs = install::build_programs(ctx)?;
    install::install(
        ctx,
        &Installation {
            prefix: &prefix,
            programs: &programs,
            bundles: &bundles,
            bundle_stages: &stages,
        },
    )?;

    // The driver first, then the host tools, then the user's PATH.
    let path = host::path_with_all(&[prefix.join("bin")], host_tools.bin_dir.as_deref());
    let sh = probe::shell()?;
    let host_ocaml = probe::read(cmd!(sh, "ocamlopt -version").env("PATH", &path))
        .context("asking the host OCaml its version")?;
    let cross_key = format!("{}\nhost ocamlopt {}", trees.ocaml_key, host_ocaml.trim());
    let cross = ocaml::Cross {
        prefix: &prefix,
        source: &trees.ocaml,
        key: &cross_key,
        path: &path,
        ccache: ccache.as_ref(),
    };
    let mut arches: Vec<Arch> = bundles.iter().map(|b| b.arch).collect();
    arches.sort();
    arches.dedup();
    arches
        .par_iter()
        .map(|&arch| ocaml::build(ctx, &cross, arch, &jobserver))
        .collect::<Result<Vec<()>>>()?;

    let host_path = probe::read(
        cmd!(sh, "ocamlfind printconf path")
            .env("PATH", &path)
            .env_remove("OCAMLFIND_CONF"),
    )
    .context("asking the host ocamlfind for its package path")?;
    let host_path = host_path.lines().collect::<Vec<_>>().join(":");
    // The default arch stays as it was (`cargo xtask default-arch` sets
    // it): a build of one arch or one variant leaves it alone. A first
    // build picks x86_64 when it has it.
    let default = findlib::current_default(&prefix).unwrap_or(if arches.contains(&Arch::X86_64) {
        Arch::X86_64
    } else {
        arches[0]
    });
    let owner = findlib::write(&prefix, &arches, default, &host_path)?;

    progress::say(
        "localbuild",
        &format!(
            "done in {:.1} s; to use the toolchain:",
            start.elapsed().as_secs_f64()
        ),
    );
    if let Some(ccache) = &ccache {
        let stats = ccache.stats()?;
        progress::say("ccache", &stats.summary(ccache.has_remote_storage()));
    }
    for line in findlib::usage(&prefix, owner, host_tools.bin_dir.as_deref()) {
        println!("{line}");
    }
    Ok(())
}
