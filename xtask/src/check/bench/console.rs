//! Console throughput: [`PROGRAM`] prints [`BYTES`] with `print_string`,
//! read from the installed runner's stdout as a user's pipe would, on each
//! QEMU bundle measured; and the same program as a Linux program. The rate
//! is counted from the first byte to the last, so the boot is not in it.

use crate::build::{findlib, host};
use crate::context::Context;
use crate::util::cmd::Cmd;
use anyhow::{bail, Context as _, Result};
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The program, relative to the repository.
pub(crate) const PROGRAM: &str = "bench/programs/console.ml";

/// Lines of 100 bytes it prints (its argument).
pub(crate) const LINES: u32 = 80_000;
/// What it prints in all.
pub(crate) const BYTES: u64 = LINES as u64 * 100;

/// Megabytes (10^6 bytes) a second that `command` (running [`PROGRAM`]
/// with argument [`LINES`]) writes to its stdout, from its first byte to
/// its last; an error unless it writes exactly [`BYTES`] and exits 0.
pub(crate) fn rate(mut command: Command) -> Result<f64> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the console program")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut total, mut first) = (0u64, None);
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        total += n as u64;
    }
    let elapsed = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let output = child.wait_with_output()?;
    if !output.status.success() || total != BYTES {
        bail!(
            "the console program wrote {total} bytes, not {BYTES}, and ended with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(BYTES as f64 / 1e6 / elapsed)
}

/// [`PROGRAM`] built for the host in `work`.
pub(crate) fn native(ctx: &Context, prefix: &Path, work: &Path) -> Result<std::path::PathBuf> {
    std::fs::copy(ctx.root.join(PROGRAM), work.join("console.ml"))
        .with_context(|| format!("copying {PROGRAM}"))?;
    let exe = work.join("console.native");
    Cmd::new("ocamlfind")
        .args(["ocamlopt", "console.ml", "-o"])
        .arg(&exe)
        .dir(work)
        .env("PATH", host::user_path(ctx, prefix))
        .env("OCAMLFIND_CONF", findlib::main_conf(prefix))
        .read(false)
        .with_context(|| format!("building {PROGRAM} for the host"))?;
    Ok(exe)
}
