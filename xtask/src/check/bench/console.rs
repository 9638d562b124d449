//! Console throughput: [`PROGRAM`] prints [`BYTES`] with `print_string`,
//! read from the installed runner's stdout as a user's pipe would, on each
//! QEMU bundle measured; and the same program as a Linux program. The rate
//! is counted from the first byte to the last, so the boot is not in it.
//!
//! And the runner alone: a stand-in QEMU (a shell script first on `PATH`)
//! writes [`FLOOD_BYTES`] to the console as fast as it can, then a genuine
//! status line; the runner's peak RSS and its rate show what it costs
//! whatever a guest prints.

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

/// What the stand-in VMM writes: 1 GB.
pub(crate) const FLOOD_BYTES: u64 = 1_000_000_000;

/// The runner's peak RSS (MiB) and its rate (MB/s) with a stand-in QEMU
/// writing [`FLOOD_BYTES`] to the console.
pub(crate) fn runner_alone(runner: &Path, work: &Path) -> Result<(f64, f64)> {
    let dir = work.join("stand-in-vmm");
    std::fs::create_dir_all(&dir)?;
    let qemu = dir.join("qemu-system-x86_64");
    // The token comes on the kernel command line, as QEMU's -append.
    let script = format!(
        r#"#!/bin/sh
for a; do case "$a" in *libocamlexit.token=*) t=${{a#*libocamlexit.token=}}; t=${{t%% *}};; esac; done
head -c {FLOOD_BYTES} /dev/zero | tr '\0' 'x'
echo; echo "ocaml-unikraft: exit status 0 boot=$t"
"#
    );
    std::fs::write(&qemu, script)?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&qemu, std::fs::Permissions::from_mode(0o755))?;
    let image = dir.join("image");
    std::fs::write(&image, b"stand-in")?;
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let start = Instant::now();
    let mut child = Command::new(runner)
        .env("PATH", path)
        .args(["--arch", "x86_64", "--backend", "qemu"])
        .arg(&image)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", runner.display()))?;
    // VmHWM, read while it runs: wait4 would count the stand-in's
    // pipeline too.
    let mut peak_kib = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let text =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        if let Some(kib) = text
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        {
            peak_kib = kib;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() || peak_kib == 0 {
        bail!("the runner with a stand-in VMM ended with {status} (peak RSS {peak_kib} KiB read)");
    }
    Ok((peak_kib as f64 / 1024.0, FLOOD_BYTES as f64 / 1e6 / seconds))
}
