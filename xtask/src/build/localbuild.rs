//! `cargo xtask localbuild`: every stage, each skipping what is already up
//! to date, and each starting as soon as what it needs is built (a cross
//! compiler needs the host OCaml, the driver and one bundle of its arch,
//! not the rest). All stages share one GNU make jobserver holding the `-j`
//! budget; its slots go to the most urgent step waiting ([`step::Urgency`]).

use crate::build::backends;
use crate::build::ccache::{self, Ccache};
use crate::build::dest::Dest;
use crate::build::findlib::{self, MainConf};
use crate::build::host::{self, HostTools};
use crate::build::install::{self, Installation, Programs};
use crate::build::ocaml;
use crate::build::sources::{self, Fetcher, Source};
use crate::cli::LocalbuildOpts;
use crate::context::Context;
use crate::target::{Arch, Bundle, Selection};
use crate::util::probe::{self, cmd};
use crate::util::progress;
use crate::util::ready::Ready;
use crate::util::step::{self, Timing};
use crate::util::step_cache::StepCache;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

pub(crate) fn localbuild(ctx: &Context, opts: &LocalbuildOpts) -> Result<()> {
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    let built = build(ctx, opts, &Dest::direct(&prefix))?;
    progress::say("localbuild", "to use the toolchain:");
    for line in findlib::usage(&prefix, built.main_conf, built.host_bin.as_deref()) {
        println!("{line}");
    }
    Ok(())
}

/// What a finished build tells about the toolchain's use.
pub(crate) struct Built {
    /// Whose the prefix's main ocamlfind configuration is.
    pub(crate) main_conf: MainConf,
    /// The host tools we built (OCaml, ocamlfind, dune), when the host had
    /// none to use.
    pub(crate) host_bin: Option<PathBuf>,
}

/// The jobs to run at once: as asked, but no more than the CPUs. More
/// would only share them: on 2 CPUs, `-j8` took 7 % longer than `-j2`
/// and 5 % more CPU time (every step at once, each evicting the others'
/// caches), while the niceness by urgency already orders what runs.
fn job_budget(asked: Option<usize>) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    match asked {
        Some(asked) if asked > cpus => {
            progress::say(
                "localbuild",
                &format!("-j{asked} on {cpus} CPUs: running {cpus} jobs at once"),
            );
            cpus
        }
        asked => asked.unwrap_or(cpus).max(1),
    }
}

/// Builds what is out of date and installs it into `dest`; the summary
/// ends with the critical path and ccache's figures.
pub(crate) fn build(ctx: &Context, opts: &LocalbuildOpts, dest: &Dest) -> Result<Built> {
    let start = Instant::now();
    let jobs = job_budget(opts.jobs);
    let jobserver = jobserver::Client::new(jobs).context("creating the make jobserver")?;
    let prefix = dest.prefix().to_path_buf();
    // Before anything runs: a selection that cannot be built fails at once.
    let bundles: Vec<Bundle> = crate::target::select(&Selection {
        backends: &opts.backends,
        arches: &opts.arches,
        options: &opts.options,
        test_variants: opts.test_variants,
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
    let step_cache = step_cache(ctx, opts, &all)?;
    let trees = host::Trees {
        ocaml: dir_of(ocaml_src),
        ocaml_key: key_of(ocaml_src)?,
        findlib: dir_of(findlib_src),
        findlib_key: key_of(findlib_src)?,
        dune: dir_of(dune_src),
        dune_key: key_of(dune_src)?,
    };
    let built = Ready::new(bundles.iter().map(Bundle::name));
    let bundle_opts = backends::Options {
        jobserver: &jobserver,
        ccache: ccache.as_ref(),
        step_cache: step_cache.as_ref(),
        fail_fast: opts.fail_fast,
        config_dir: opts.config_dir.as_deref(),
        built: &built,
    };
    let programs = OnceLock::new();
    let mut arches: Vec<Arch> = bundles.iter().map(|b| b.arch).collect();
    arches.sort();
    arches.dedup();
    // Two lines of work, each step starting once what it needs is there:
    // the driver, the bundles and their installation; and the host OCaml,
    // then side by side ocamlfind and dune, and each arch's cross compiler
    // as soon as the bundle it is built with (its leader) is ready.
    let (installed, host_tools) = std::thread::scope(|s| {
        let installed = s.spawn(|| {
            let _release_waiters = built.closer();
            let driver_and_runner = install::build_programs(ctx, &jobserver, step_cache.as_ref())?;
            let programs = programs.get_or_init(|| driver_and_runner);
            let stages = backends::build(ctx, &bundles, &inputs, &bundle_opts)?;
            install::install(
                ctx,
                &Installation {
                    prefix: dest.root(),
                    programs,
                    bundles: &bundles,
                    bundle_stages: &stages,
                },
            )
        });
        let caches = host::Caches {
            ccache: ccache.as_ref(),
            steps: step_cache.as_ref(),
        };
        let host_tools: Result<HostTools> = (|| {
            let host = host::ensure_ocaml(ctx, &ocaml_src.version, &trees, &jobserver, caches)?;
            let (key, host_bin) = cross_key(&trees, &host)?;
            let cross = CrossInputs {
                ctx,
                dest,
                trees: &trees,
                host: &host,
                key,
                host_bin,
                jobserver: &jobserver,
                caches,
                built: &built,
                programs: &programs,
            };
            std::thread::scope(|s| {
                let compilers: Vec<_> = crate::target::leaders(&bundles)
                    .into_iter()
                    .map(|leader| s.spawn(|| cross.build(leader)))
                    .collect();
                let tools = host::ensure_tools(ctx, &host, &trees, &jobserver, caches);
                for compiler in compilers {
                    compiler
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                }
                tools
            })?;
            Ok(host)
        })();
        let installed = installed
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (installed, host_tools)
    });
    // The bundles' failure first: a cross compiler waiting for a failed
    // bundle only echoes it.
    installed?;
    let host_tools = host_tools?;
    let path = host::path_with_all(&[prefix.join("bin")], host_tools.bin_dir.as_deref());
    let sh = probe::shell()?;

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
    let default = findlib::current_default(dest).unwrap_or(if arches.contains(&Arch::X86_64) {
        Arch::X86_64
    } else {
        arches[0]
    });
    let main_conf = findlib::write(dest, &arches, default, &host_path)?;

    progress::say(
        "localbuild",
        &format!("done in {:.1} s", start.elapsed().as_secs_f64()),
    );
    let ran = step::this_run(&ctx.log_dir())?;
    if let Some(path) = critical_path(&ran, &bundles, ccache.is_some()) {
        progress::say("critical path", &path);
    }
    if let Some(ccache) = &ccache {
        let stats = ccache.stats()?;
        progress::say("ccache", &stats.summary(ccache.has_remote_storage()));
    }
    Ok(Built {
        main_conf,
        host_bin: host_tools.bin_dir,
    })
}

/// What the cross compilers are built from, besides their arch.
struct CrossInputs<'a> {
    ctx: &'a Context,
    dest: &'a Dest,
    trees: &'a host::Trees,
    host: &'a HostTools,
    /// The OCaml tree's identity and the host compiler's version.
    key: String,
    /// Where the host compiler's programs are.
    host_bin: PathBuf,
    jobserver: &'a jobserver::Client,
    caches: host::Caches<'a>,
    built: &'a Ready<PathBuf>,
    programs: &'a OnceLock<Programs>,
}

/// The cross compilers' key (the OCaml tree's identity and the host
/// compiler's version), and the host compiler's bindir.
fn cross_key(trees: &host::Trees, host: &HostTools) -> Result<(String, PathBuf)> {
    let path = host::path_with_all(&[], host.bin_dir.as_deref());
    let sh = probe::shell()?;
    let host_ocaml = probe::read(cmd!(sh, "ocamlopt -version").env("PATH", &path))
        .context("asking the host OCaml its version")?;
    // Where the `ocamlrun` the cross compiler's bytecode programs name is:
    // ours, or the one on PATH.
    let host_bin = match &host.bin_dir {
        Some(dir) => dir.clone(),
        None => ocaml_unikraft_toolchain::which::on_path("ocamlrun")
            .and_then(|ocamlrun| ocamlrun.parent().map(Path::to_path_buf))
            .context("the host OCaml has no ocamlrun on PATH")?,
    };
    let key = format!("{}\nhost ocamlopt {}", trees.ocaml_key, host_ocaml.trim());
    Ok((key, host_bin))
}

/// The step cache of this build, unless `--no-step-cache`. Its remote
/// store is left out when a source is a local tree: a key names such a
/// tree by its path and modification time, which mean nothing on another
/// machine.
fn step_cache(ctx: &Context, opts: &LocalbuildOpts, all: &[Source]) -> Result<Option<StepCache>> {
    if opts.no_step_cache {
        progress::say("step cache", "not used (--no-step-cache)");
        return Ok(None);
    }
    let local = opts
        .step_cache_dir
        .clone()
        .unwrap_or_else(|| ctx.cache_dir.join("steps"));
    let local_tree = all
        .iter()
        .find(|s| opts.sources.local_override(&s.name).is_some());
    let remote = match (opts.step_cache_remote.as_deref(), local_tree) {
        (Some(url), Some(source)) if !url.is_empty() => {
            progress::say(
                "step cache",
                &format!(
                    "not sharing with {}: {} is a local tree",
                    crate::util::step_cache::without_password(url),
                    source.name
                ),
            );
            None
        }
        (remote, _) => remote,
    };
    let cache = StepCache::new(local, remote)?;
    progress::say("step cache", &cache.describe());
    Ok(Some(cache))
}

impl CrossInputs<'_> {
    /// The cross compiler of `leader`'s arch, once that bundle is built:
    /// the driver, in a prefix of the build tree holding only that bundle,
    /// compiles its runtime.
    fn build(&self, leader: Bundle) -> Result<()> {
        let arch = leader.arch.unikraft();
        let stage = self.built.wait(&leader.name()).with_context(|| {
            format!("no {arch} cross compiler: bundle {} failed", leader.name())
        })?;
        let programs = self.programs.get().context("the C driver was not built")?;
        let driver = self.ctx.build_dir.join("cross").join(arch).join("driver");
        install::driver_prefix(&driver, &programs.driver, &leader, &stage)?;
        let path = host::path_with_all(&[driver.join("bin")], self.host.bin_dir.as_deref());
        let cross = ocaml::Cross {
            dest: self.dest,
            source: &self.trees.ocaml,
            key: &self.key,
            path: &path,
            ccache: self.caches.ccache,
            steps: self.caches.steps,
            host_bin: &self.host_bin,
        };
        ocaml::build(self.ctx, &cross, leader.arch, self.jobserver)
            .with_context(|| format!("building the {arch} cross compiler"))
    }
}

/// The chain of steps (`bundle qemu-x86_64 130 s -> ocaml-x86_64 240 s`)
/// that set the length of a localbuild of `bundles`, from its `timings`;
/// none when no step ran.
pub(crate) fn critical_path(
    timings: &[Timing],
    bundles: &[Bundle],
    ccache: bool,
) -> Option<String> {
    let leaders = crate::target::leaders(bundles);
    let path = step::critical_path(timings, |step| {
        dependencies(step, bundles, &leaders, ccache)
    });
    let chain: Vec<String> = path
        .iter()
        .map(|t| format!("{} {:.0} s", t.step, t.wall_seconds))
        .collect();
    (!chain.is_empty()).then(|| chain.join(" -> "))
}

/// The steps `step` waits for in a localbuild of `bundles` (by the names
/// the timings record), `leaders` being theirs: what its critical path
/// follows.
fn dependencies(step: &str, bundles: &[Bundle], leaders: &[Bundle], ccache: bool) -> Vec<String> {
    let bundle_step = backends::step_name;
    match step {
        host::FINDLIB_STEP => vec![host::OCAML_STEP.into()],
        host::DUNE_STEP => vec![host::FINDLIB_STEP.into()],
        install::STEP => bundles.iter().map(bundle_step).collect(),
        _ => {
            if let Some(leader) = leaders.iter().find(|l| step == ocaml::step_name(l.arch)) {
                return vec![host::OCAML_STEP.into(), bundle_step(leader)];
            }
            // With a compile cache, a bundle waits for its arch's leader.
            let follower = bundles
                .iter()
                .find(|b| step == bundle_step(b) && !leaders.contains(b));
            match follower.and_then(|b| leaders.iter().find(|l| l.arch == b.arch)) {
                Some(leader) if ccache => vec![bundle_step(leader)],
                // Every bundle waits for the driver.
                _ if bundles.iter().any(|b| step == bundle_step(b)) => {
                    vec![install::PROGRAMS_STEP.into()]
                }
                _ => Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::Selection;

    #[test]
    fn the_job_budget_is_at_most_the_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(job_budget(None), cpus);
        assert_eq!(job_budget(Some(1)), 1);
        assert_eq!(job_budget(Some(0)), 1);
        assert_eq!(job_budget(Some(cpus + 6)), cpus);
    }

    #[test]
    fn cross_compilers_wait_for_host_ocaml_and_their_leader_only() {
        let bundles = crate::target::select(&Selection {
            test_variants: true,
            ..Selection::default()
        })
        .unwrap();
        let leaders = crate::target::leaders(&bundles);
        let deps = |step: &str, ccache| dependencies(step, &bundles, &leaders, ccache);
        assert_eq!(
            deps("ocaml-arm64", true),
            ["host-ocaml", "bundle qemu-arm64"]
        );
        assert_eq!(deps("bundle qemu-9pfs-arm64", true), ["bundle qemu-arm64"]);
        assert_eq!(deps("bundle qemu-9pfs-arm64", false), ["programs"]);
        assert_eq!(deps("bundle qemu-arm64", true), ["programs"]);
        assert!(deps("programs", true).is_empty());
        assert_eq!(deps("host-dune", true), ["host-findlib"]);
        assert_eq!(deps("install", true).len(), bundles.len());
    }
}
