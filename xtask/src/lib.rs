//! The ocaml-unikraft build orchestrator.
//!
//! Read the folders in this order; each uses only those above it:
//!
//! - [`util`]: machinery every stage uses (commands, files, locks,
//!   progress, stamps), knowing nothing of Unikraft or OCaml;
//! - [`cli`], [`context`], [`target`]: the command line, the paths of this
//!   run, and the vocabulary of targets (arch, backend, bundle);
//! - [`build`]: the pipeline of `cargo xtask localbuild`, one module per
//!   stage in the order they run: sources, backends, host tools, the cross
//!   compilers, the ocamlfind toolchains, the install into a prefix;
//! - [`check`]: what tells whether the result works and how well: the
//!   host's prerequisites, the end-to-end tests, the bench.
//!
//! Booting an image (`cargo xtask run`) lives in the toolchain library
//! (`ocaml_unikraft_toolchain::boot`): the installed `ocaml-unikraft-run`
//! is the same code.

pub mod build;
pub(crate) mod check;
pub mod cli;
pub mod context;
pub(crate) mod target;
pub mod util;

use anyhow::Result;
use clap::Parser;
use std::process::ExitCode;

/// Parses the command line and runs the chosen subcommand; returns the
/// status to exit with.
pub fn run() -> Result<ExitCode> {
    let cli = cli::Cli::parse();
    let ctx = context::Context::new(&cli.global)?;
    match cli.command {
        cli::Command::Downloads(opts) if opts.list => {
            build::sources::list(&ctx, &opts.sources)
        }
        cli::Command::Downloads(opts) => build::sources::downloads(&ctx, &opts.sources),
        cli::Command::Localbuild(opts) => build::localbuild::localbuild(&ctx, &opts),
        cli::Command::Install(opts) => {
            if opts.build.prefix.is_none() {
                anyhow::bail!("install needs --prefix DIR\nhelp: `cargo xtask localbuild` installs into <repo>/_build");
            }
            match opts.opam {
                true => build::opam::install(&ctx, &opts),
                false => build::localbuild::localbuild(&ctx, &opts.build),
            }
        }
        cli::Command::Localtests(opts) => check::localtests::localtests(&ctx, &opts),
        cli::Command::MirageTests(opts) => check::mirage::mirage_tests(&ctx, &opts),
        cli::Command::OcamlTests(opts) => check::ocaml_tests::ocaml_tests(&ctx, &opts),
        cli::Command::DefaultArch { arch, prefix } => {
            let prefix = ctx.prefix(prefix.as_deref())?;
            // In an opam switch, the file is opam's: the staged one changes,
            // and `install --opam` has opam install it.
            let dest = build::opam::dest_of(&ctx, &prefix);
            build::findlib::set_default(&dest, arch)?;
            if dest.is_staged() {
                util::progress::say(
                    "default-arch",
                    &format!(
                        "toolchain unikraft of the opam packages now builds for {}; `cargo xtask install --prefix {} --opam` installs that",
                        arch.unikraft(),
                        prefix.display()
                    ),
                );
            } else {
                util::progress::say(
                    "default-arch",
                    &format!("toolchain unikraft now builds for {}", arch.unikraft()),
                );
            }
            Ok(())
        }
        cli::Command::Bench(opts) => check::bench::bench(&ctx, &opts),
        // `run` exits with the guest program's status, so its own errors
        // get a status of their own.
        cli::Command::Run(opts) => {
            return Ok(ExitCode::from(ocaml_unikraft_toolchain::boot::runner::run(&opts).unwrap_or_else(|err| {
                report_error(&err);
                ocaml_unikraft_toolchain::boot::console::RUN_ERROR_STATUS
            })))
        }
        cli::Command::Doctor => check::doctor::doctor(),
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
