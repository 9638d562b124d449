//! `ocaml-unikraft-run IMAGE [OPTIONS] [-- ARGS]`: boots one unikernel with
//! the right VMM options and exits with what the program in it did. The
//! same code as `cargo xtask run`, installed with the toolchain so that
//! projects outside this repository can boot their images.

use clap::Parser;
use ocaml_unikraft_toolchain::boot::{console, runner};
use std::process::ExitCode;

/// Boot a unikernel image on QEMU or Firecracker; exit with its program's
/// status (134 if it crashed, 124 if it ran past --timeout, 125 if the VMM
/// could not run, 128 + N if signal N stopped it)
#[derive(Parser)]
#[command(name = "ocaml-unikraft-run", version)]
struct Runner {
    #[command(flatten)]
    run: runner::RunOpts,
}

fn main() -> ExitCode {
    let runner = Runner::parse();
    ExitCode::from(runner::run(&runner.run).unwrap_or_else(|err| {
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        console::RUN_ERROR_STATUS
    }))
}
