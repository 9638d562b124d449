//! The ocaml-unikraft build orchestrator, one module per stage.
//!
//! - [`cli`]: the command line, declared once with its help texts;
//! - [`context`]: paths, job budget and verbosity shared by every stage;
//! - [`cmd`]: running external programs with actionable errors;
//! - [`step`]: stamps keyed by inputs, so a second run only redoes what changed;
//! - [`lock`]: serialising concurrent runs on one cache or build directory;
//! - [`sources`]: pinned inputs: download, verify, cache, extract;
//! - [`backends`]: Unikraft bundles per platform and architecture;
//! - [`host`]: the host OCaml, ocamlfind and dune;
//! - [`ocaml`]: the OCaml cross compilers;
//! - [`findlib`]: the ocamlfind toolchains;
//! - [`install`]: staging into a prefix, then moving into place;
//! - [`localbuild`]: every stage in order;
//! - [`fs`]: trees replaced whole, never left half-written;
//! - [`localtests`]: boot tests of an installed prefix;
//! - [`vmm`]: booting unikernels;
//! - [`console`]: a guest's output and exit status, read from its console;
//! - [`run`]: booting one image, its program's status as ours;
//! - [`bench`]: the figures users choose a toolchain by;
//! - [`doctor`]: host prerequisites.

pub mod backends;
pub mod bench;
pub mod cli;
pub mod cmd;
pub mod console;
pub mod context;
pub mod doctor;
pub mod findlib;
pub mod fs;
pub mod host;
pub mod install;
pub mod localbuild;
pub mod localtests;
pub mod lock;
pub mod ocaml;
pub mod progress;
pub mod run;
pub mod sources;
pub mod step;
pub mod vmm;

use anyhow::Result;
use clap::Parser;
use std::process::ExitCode;

/// Parses the command line and runs the chosen subcommand; returns the
/// status to exit with.
pub fn run() -> Result<ExitCode> {
    let cli = cli::Cli::parse();
    let ctx = context::Context::new(&cli.global)?;
    match cli.command {
        cli::Command::Downloads(opts) if opts.list => sources::list(&ctx, &opts.sources),
        cli::Command::Downloads(opts) => sources::downloads(&ctx, &opts.sources),
        cli::Command::Localbuild(opts) => localbuild::localbuild(&ctx, &opts),
        cli::Command::Install(opts) => {
            if opts.prefix.is_none() {
                anyhow::bail!("install needs --prefix DIR\nhelp: `cargo xtask localbuild` installs into <repo>/_build");
            }
            localbuild::localbuild(&ctx, &opts)
        }
        cli::Command::Localtests(opts) => localtests::localtests(&ctx, &opts),
        cli::Command::DefaultArch { arch, prefix } => {
            let prefix = ctx.prefix(prefix.as_deref())?;
            findlib::set_default(&prefix, arch)?;
            progress::say(
                "default-arch",
                &format!("toolchain unikraft now builds for {}", arch.name()),
            );
            Ok(())
        }
        cli::Command::Bench(opts) => bench::bench(&ctx, &opts),
        // `run` exits with the guest program's status, so its own errors
        // get a status of their own.
        cli::Command::Run(opts) => {
            return Ok(ExitCode::from(run::run(&opts).unwrap_or_else(|err| {
                report_error(&err);
                console::RUN_ERROR_STATUS
            })))
        }
        cli::Command::Doctor => doctor::doctor(),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// Prints an error and its causes the way the rest of the tool talks:
/// lowercase, the object named first, `help:` lines kept as they are.
pub fn report_error(err: &anyhow::Error) {
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
