//! `ocaml-unikraft-cc`: the C compiler driver and binutils dispatcher of
//! the OCaml/Unikraft cross toolchains.
//!
//! Installed as `<prefix>/bin/<arch>-unikraft-ocaml-<tool>` (`<arch>` is
//! `x86_64` or `aarch64`), it acts on the name it is run by:
//!
//! - `cc`, `gcc`: the C driver. It adds the selected backend's compile flags
//!   to every call and, for a link, its link flags, objects and linker
//!   scripts. `-z unikraft-backend=NAME` (also `-zunikraft-backend=NAME` and
//!   `-Wl,-z,unikraft-backend=NAME`) selects a backend and is removed; a
//!   link then goes to `<out>.dbg` and the backend's post-link steps make
//!   `<out>` the bootable image. Without it the default backend is used and
//!   the link writes a plain ELF to `<out>` with no post-link step (what
//!   configure's link tests need). `-lm -lpthread -ldl -lrt -lc` are dropped
//!   from links: musl and Unikraft provide them.
//! - `ar`, `as`, `ld`, `nm`, `objcopy`, `objdump`, `ranlib`, `readelf`,
//!   `strip`: the target's tool (`<tool_prefix><tool>`), arguments unchanged.
//!
//! Introspection, recognised only as the sole argument of `cc`/`gcc`:
//!
//! - `--unikraft-backends`: installed backends for the arch, one per line,
//!   the default followed by ` (default)`.
//! - `--unikraft-flags[=BACKEND]`: the descriptor, bundle, compile command,
//!   link command (`ARGS...` marks the caller's arguments) and post-link
//!   steps of a backend (default: the default backend), expanded and
//!   shell-quoted.
//!
//! Environment: `__V=1` prints each command, shell-quoted, to stderr before
//! running it. `OCAML_UNIKRAFT_PREFIX` overrides the prefix, otherwise the
//! parent of the executable's directory.
//!
//! Exit status: a single command (compile, query, binutil, link without a
//! backend) replaces the driver (exec), so its status or signal is seen as
//! is. In a multi-step link the first failing step's status ends the chain,
//! 128+N when it was killed by signal N. 2 is for configuration errors
//! (unknown backend, broken descriptor), 127 for a missing program.

mod args;
mod backends;
mod driver;
mod error;
mod exec;
mod expand;
mod name;

use backends::Backends;
use error::Error;
use exec::Executor;
use name::{Invocation, Tool};
use std::ffi::OsString;
use std::io::Write;

fn real_main(inv: &Invocation, args: Vec<OsString>) -> Result<i32, Error> {
    let backends = Backends::locate(inv.arch)?;
    let runner = Executor::new(exec::verbose_from_env());
    match inv.tool {
        Tool::Binutil(tool) => driver::binutil(&runner, &backends, tool, args),
        Tool::Cc => {
            if let [only] = &args[..] {
                if let Some(result) = driver::introspect(&backends, only) {
                    let text = result?;
                    let mut stdout = std::io::stdout().lock();
                    return match stdout
                        .write_all(text.as_bytes())
                        .and_then(|_| stdout.flush())
                    {
                        Ok(()) => Ok(0),
                        Err(e) => {
                            Err(Error::config(format!("cannot write output: {e}")).with_status(1))
                        }
                    };
                }
            }
            driver::cc(&runner, &backends, args)
        }
    }
}

fn main() {
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<OsString> = argv.collect();
    let code = match Invocation::detect(&argv0) {
        Ok(inv) => real_main(&inv, args).unwrap_or_else(|e| {
            e.report(&inv.name);
            e.status
        }),
        Err(e) => {
            e.report("ocaml-unikraft-cc");
            e.status
        }
    };
    std::process::exit(code);
}
