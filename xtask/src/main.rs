//! `cargo xtask`: builds OCaml cross compilers for Unikraft unikernels.
//!
//! `main` only parses the command line and reports errors; the work lives in
//! the library so that tests can drive it.

use std::process::ExitCode;

fn main() -> ExitCode {
    match xtask::run() {
        Ok(status) => status,
        Err(err) => {
            xtask::report_error(&err);
            ExitCode::FAILURE
        }
    }
}
