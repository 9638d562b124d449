//! The command line: every subcommand and option, with its help text.

use crate::target::{Arch, Backend, BuildOption};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build OCaml cross compilers for Unikraft unikernels"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalOpts,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand understands.
#[derive(Args, Debug, Clone)]
pub(crate) struct GlobalOpts {
    /// Build tree (sources, objects, logs, stamps) [default: <repo>/_build/build]
    #[arg(long, global = true, env = "OCAML_UNIKRAFT_BUILD_DIR")]
    pub(crate) build_dir: Option<PathBuf>,
    /// Download cache shared by all build trees
    /// [default: $XDG_CACHE_HOME/ocaml-unikraft or ~/.cache/ocaml-unikraft]
    #[arg(long, global = true, env = "OCAML_UNIKRAFT_CACHE")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Pin file to read instead of <repo>/sources.toml
    #[arg(long, global = true, hide = true)]
    pub(crate) sources: Option<PathBuf>,
    /// Print every command before running it
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Fetch, verify and extract the pinned sources (see sources.toml)
    Downloads(DownloadsOpts),
    /// Build everything and install it into a prefix (implies downloads)
    Localbuild(LocalbuildOpts),
    /// Build what is needed and install it into --prefix DIR
    ///
    /// DIR may be an opam switch's prefix (with --opam, as opam packages
    /// of that switch). The cross compilers are rebuilt for each new
    /// prefix: OCaml records its library directory when it is configured.
    Install(InstallOpts),
    /// Make toolchain `unikraft` use ARCH's cross compiler (no rebuild)
    DefaultArch {
        #[arg(value_enum)]
        arch: Arch,
        /// The prefix localbuild installed into [default: <repo>/_build]
        #[arg(long)]
        prefix: Option<PathBuf>,
    },
    /// Boot one unikernel image; exit with the program's status
    ///
    /// The console goes to stdout. The exit status is the program's: 0 for
    /// a clean end, n for `exit n`, 2 for an uncaught exception (as OCaml
    /// on Linux); 134 if the guest crashed (stopped without reporting a
    /// status), 124 if it ran past --timeout, 125 if the VMM could not run,
    /// 128 + N if signal N (SIGINT, SIGTERM, SIGHUP) stopped it.
    Run(ocaml_unikraft_toolchain::boot::runner::RunOpts),
    /// Build examples/all and boot every example on every installed backend
    Localtests(LocaltestsOpts),
    /// Build MirageOS unikernels (mirage-skeleton's hello, network with a
    /// static address and with DHCP, block; our entropy one) with the
    /// installed toolchain and boot them on QEMU
    ///
    /// The pinned MirageOS sources are in tests/mirage/sources.toml; the
    /// work goes under <build>/mirage.
    MirageTests(MirageTestsOpts),
    /// Build OCaml's own testsuite programs (of the pinned OCaml source)
    /// with the installed cross compilers and boot each on every installed
    /// QEMU bundle, against its reference output
    ///
    /// Which tests run is read from their ocamltest headers with the rules
    /// of tests/ocaml-testsuite/selection.toml; the native build of each
    /// is run here as the control. The work goes under
    /// <build>/tests/ocaml-testsuite.
    OcamlTests(OcamlTestsOpts),
    /// Measure build, driver, image and boot figures into bench/report.md
    ///
    /// Needs a finished localbuild; cold build times are the ones it
    /// recorded.
    Bench(BenchOpts),
    /// Check the host for the programs the build needs
    Doctor,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct BenchOpts {
    /// The prefix localbuild installed into [default: <repo>/_build]
    #[arg(long)]
    pub(crate) prefix: Option<PathBuf>,
    /// Compile-only calls timed through the driver and directly
    #[arg(long, default_value_t = 200)]
    pub(crate) driver_runs: usize,
    /// Boots timed per image
    #[arg(long, default_value_t = 10)]
    pub(crate) boot_runs: usize,
    /// Also time localbuild from nothing (empty build tree, prefix, ccache
    /// and step cache) at each --cold-jobs, after `rm -rf` with the caches
    /// warm, a no-op, and fresh clones elsewhere with the caches warm, all
    /// in a scratch directory (about 45 min on 2 cores)
    #[arg(long)]
    pub(crate) cold: bool,
    /// The -j of the cold localbuilds, in order; the last one's also for
    /// the warm runs
    #[arg(long, value_delimiter = ',', default_values_t = [8, 2])]
    pub(crate) cold_jobs: Vec<usize>,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct LocaltestsOpts {
    /// The prefix localbuild installed into [default: <repo>/_build]
    #[arg(long)]
    pub(crate) prefix: Option<PathBuf>,
    /// Seconds a unikernel may run before it counts as hung
    #[arg(long, default_value_t = 60.0)]
    pub(crate) timeout: f64,
    /// Fail unless every installed bundle of this backend can boot here
    /// (repeatable): its boots must not be skipped
    #[arg(long, value_enum)]
    pub(crate) require: Vec<Backend>,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct OcamlTestsOpts {
    /// The prefix localbuild installed into [default: <repo>/_build]
    #[arg(long)]
    pub(crate) prefix: Option<PathBuf>,
    /// Seconds a test may run before it counts as hung
    #[arg(long, default_value_t = 120.0)]
    pub(crate) timeout: f64,
    /// Parallel builds and boots [default: number of CPUs]
    #[arg(short, long)]
    pub(crate) jobs: Option<usize>,
    /// Only the tests whose id (`parallel/tak.ml`) contains this
    /// (repeatable) [default: every selected test]
    #[arg(long, value_name = "TEXT")]
    pub(crate) only: Vec<String>,
    /// Only this installed QEMU bundle (repeatable; `qemu-x86_64`,
    /// `qemu-debug-x86_64`, ...) [default: every one]
    #[arg(long = "bundle", value_name = "NAME")]
    pub(crate) bundles: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct MirageTestsOpts {
    /// The prefix localbuild installed into [default: <repo>/_build]
    #[arg(long)]
    pub(crate) prefix: Option<PathBuf>,
    /// Seconds a unikernel may run before it counts as hung
    #[arg(long, default_value_t = 120.0)]
    pub(crate) timeout: f64,
    /// Parallel jobs of each dune build [default: number of CPUs]
    #[arg(short, long)]
    pub(crate) jobs: Option<usize>,
    /// Only fetch and verify the pinned MirageOS sources (no toolchain
    /// needed): tells whether the tests can run here
    #[arg(long)]
    pub(crate) fetch_only: bool,
    /// Build and boot only this example (repeatable; `hello`, `network`,
    /// `network_dhcp`, `block`, `crypto`, `dns`, `https`, `http`,
    /// `website`, `entropy`, `fetch`) [default: all]
    #[arg(long = "example", value_name = "NAME")]
    pub(crate) examples: Vec<String>,
    #[command(flatten)]
    pub(crate) fetch: FetchOpts,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct InstallOpts {
    #[command(flatten)]
    pub(crate) build: LocalbuildOpts,
    /// DIR is an opam switch's prefix: install there as opam packages
    /// (ocaml-unikraft, ocaml-unikraft-backend-qemu, ...) that opam owns
    /// and `opam remove ocaml-unikraft` removes. Uses the opam on PATH
    /// and OPAMROOT
    #[arg(long)]
    pub(crate) opam: bool,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct LocalbuildOpts {
    /// Parallel jobs shared by all builds, at most the number of CPUs
    /// [default: number of CPUs]
    #[arg(short, long)]
    pub(crate) jobs: Option<usize>,
    /// Where to install [default: <repo>/_build]
    #[arg(long)]
    pub(crate) prefix: Option<PathBuf>,
    /// Backends to build (repeatable) [default: all]
    #[arg(long = "backend", value_enum)]
    pub(crate) backends: Vec<Backend>,
    /// Architectures to build (repeatable) [default: all]
    #[arg(long = "arch", value_enum)]
    pub(crate) arches: Vec<Arch>,
    /// Build the variant with these options (repeatable) instead of the
    /// plain bundles; it installs beside them as backend
    /// <backend>-<options>, e.g. qemu-9pfs. Without --backend, backends
    /// that cannot have an option are left out (9pfs is QEMU only)
    #[arg(long = "option", value_enum)]
    pub(crate) options: Vec<BuildOption>,
    /// Also build the variants localtests boots (qemu-9pfs for both
    /// arches, qemu-debug for x86_64), which the default leaves out
    #[arg(long, conflicts_with = "options")]
    pub(crate) test_variants: bool,
    /// Stop the other bundles as soon as one fails
    #[arg(long)]
    pub(crate) fail_fast: bool,
    /// Directory of <backend>[-<options>]-<arch>.config files replacing
    /// the composed configuration of those bundles
    #[arg(long, value_name = "DIR")]
    pub(crate) config_dir: Option<PathBuf>,
    /// Compile without ccache even when it is installed (it is used by
    /// default: see docs/localbuild.md, "Compile cache")
    #[arg(long)]
    pub(crate) no_ccache: bool,
    /// ccache's remote storage for the C compiles, passed to ccache as its
    /// remote_storage setting: http://HOST:PORT/PATH, file:DIR, redis://...
    #[arg(long, value_name = "URL", env = "CCACHE_REMOTE_STORAGE")]
    pub(crate) ccache_remote_storage: Option<String>,
    /// Build every step, restoring nothing from the step cache and
    /// keeping nothing in it (see docs/localbuild.md, "Compile cache")
    #[arg(long)]
    pub(crate) no_step_cache: bool,
    /// Where the step cache keeps the steps' outputs [default:
    /// <cache-dir>/steps]
    #[arg(long, value_name = "DIR", env = "OCAML_UNIKRAFT_STEP_CACHE_DIR")]
    pub(crate) step_cache_dir: Option<PathBuf>,
    /// A step cache shared by a team or CI fleet, read and written beside
    /// the local one: file:DIR, or an http(s):// URL taking GET and PUT
    #[arg(long, value_name = "URL", env = "OCAML_UNIKRAFT_STEP_CACHE_REMOTE")]
    pub(crate) step_cache_remote: Option<String>,
    #[command(flatten)]
    pub(crate) sources: SourceOpts,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct DownloadsOpts {
    /// Print the pins instead, one line per source: NAME VERSION KIND FILE
    ///
    /// KIND is `tarball` or `git`; FILE is the name a mirror holds the
    /// source under (`ocaml-5.4.1.tar.xz`, `unikraft.git`). Fields are
    /// separated by one space and never contain one; lines are sorted by
    /// name. Reads sources.toml only: no network, cache or build tree.
    #[arg(long, conflicts_with = "import")]
    pub(crate) list: bool,
    #[command(flatten)]
    pub(crate) sources: SourceOpts,
}

/// Where downloads come from: shared by every subcommand that fetches.
#[derive(Args, Debug, Clone, Default)]
pub struct FetchOpts {
    /// Try this URL or directory before upstream (repeatable, tried in order)
    #[arg(
        long,
        value_name = "URL|DIR",
        env = "OCAML_UNIKRAFT_MIRRORS",
        value_delimiter = ' '
    )]
    pub mirror: Vec<String>,
    /// Never touch the network: use the cache and directory mirrors only
    #[arg(long)]
    pub offline: bool,
}

/// Where sources come from: shared by every subcommand that needs them.
#[derive(Args, Debug, Clone, Default)]
pub struct SourceOpts {
    #[command(flatten)]
    pub fetch: FetchOpts,
    /// Add local files to the cache when their sha256 matches a pin
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub import: Vec<PathBuf>,
    /// Only handle these sources (repeatable)
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Use this Unikraft tree instead of the pinned one
    #[arg(long, env = "UNIKRAFT", value_name = "PATH")]
    pub unikraft: Option<PathBuf>,
    /// Use this lib-musl tree instead of the pinned one
    #[arg(long, value_name = "PATH")]
    pub lib_musl: Option<PathBuf>,
}

impl SourceOpts {
    /// The local tree the user asked to use instead of a pinned source.
    pub(crate) fn local_override(&self, source: &str) -> Option<&PathBuf> {
        match source {
            "unikraft" => self.unikraft.as_ref(),
            "lib-musl" => self.lib_musl.as_ref(),
            _ => None,
        }
    }
}
