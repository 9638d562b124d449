//! Guest memory: the smallest guest, found by bisection, that runs the
//! OCaml hello and each of [`PROGRAMS`], next to each program's peak RSS
//! as a Linux program. The difference is what a unikernel costs beyond the
//! program's own memory.

use super::report::GuestMemory;
use crate::target::Bundle;
use anyhow::{bail, Context as _, Result};
use ocaml_unikraft_toolchain::boot::console::Ending;
use ocaml_unikraft_toolchain::boot::devices::Devices;
use ocaml_unikraft_toolchain::boot::vmm;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The programs whose memory is measured, relative to the repository: many
/// small blocks, and a few large ones (which the allocator rounds up to a
/// power of two).
pub(crate) const PROGRAMS: [&str; 2] = ["examples/all/memory.ml", "examples/all/bigalloc.ml"];

/// Bisection bounds in MiB: no guest boots in 1 MiB, and a guest that
/// needs more than the runner's default is a failure in itself.
const BOUNDS_MIB: (u32, u32) = (1, 512);

/// Peak RSS in MiB of `exe`, one of [`PROGRAMS`] built for the host, run
/// on it.
pub(crate) fn native_peak_rss_mib(exe: &Path) -> Result<f64> {
    let child = Command::new(exe)
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("running {}", exe.display()))?;
    let (status, max_rss_kib) = wait_with_peak_rss(child.id())?;
    if status != 0 {
        bail!(
            "{} failed on the host (wait status {status})",
            exe.display()
        );
    }
    Ok(max_rss_kib as f64 / 1024.0)
}

/// Waits for child `pid`; its wait status and its peak RSS in KiB (what
/// `wait4` reports for that one process, unlike `getrusage`, which mixes
/// every child waited for).
fn wait_with_peak_rss(pid: u32) -> Result<(i32, i64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 only writes
    // through the two pointers, which outlive the call.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if waited < 0 {
        return Err(std::io::Error::last_os_error()).context("waiting for the native run");
    }
    Ok((status, usage.ru_maxrss))
}

/// The smallest guest memory (MiB) at which `image` runs to exit status 0
/// on `bundle`'s VMM.
pub(crate) fn smallest_guest_mib(bundle: &Bundle, image: &Path) -> Result<u32> {
    let runs = |memory_mib| -> Result<bool> {
        let devices = Devices {
            memory_mib: Some(memory_mib),
            ..Default::default()
        };
        let launch = vmm::Launch {
            backend: bundle.backend,
            arch: bundle.arch,
            image,
            args: &[],
            env: &[],
            devices: &devices,
            accel: vmm::Accel::Tcg,
            gdb: None,
        };
        let boot = vmm::boot(&launch, &vmm::Watch::test(Duration::from_secs(60)))?;
        Ok(boot.transcript()?.ending == Ending::Exit(0))
    };
    smallest(BOUNDS_MIB, runs)
        .with_context(|| format!("bisecting the memory of {}", image.display()))
}

/// The smallest `n` in `(low, high]` for which `fits(n)`, assuming that
/// whatever fits in `n` also fits in more; an error when `high` does not fit.
/// Below `high` a failure to boot at all counts as not fitting: QEMU itself
/// refuses some small sizes (arm64: "Not enough space for DTB").
fn smallest(bounds: (u32, u32), mut fits: impl FnMut(u32) -> Result<bool>) -> Result<u32> {
    let (mut low, mut high) = bounds;
    if !fits(high)? {
        bail!("it does not run even with {high} MiB");
    }
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if fits(middle).unwrap_or(false) {
            high = middle;
        } else {
            low = middle;
        }
    }
    Ok(high)
}

/// The figures of one bundle: the hello's, then each program's.
pub(crate) fn measure(bundle: &Bundle, hello: &Path, programs: &[PathBuf]) -> Result<GuestMemory> {
    Ok(GuestMemory {
        hello_mib: smallest_guest_mib(bundle, hello)?,
        programs_mib: programs
            .iter()
            .map(|program| smallest_guest_mib(bundle, program))
            .collect::<Result<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bisection_finds_the_threshold() {
        for threshold in [2, 3, 37, 64, 511, 512] {
            let mut boots = 0;
            let found = smallest((1, 512), |n| {
                boots += 1;
                Ok(n >= threshold)
            })
            .unwrap();
            assert_eq!(found, threshold);
            assert!(boots <= 10, "{boots} boots for {threshold}");
        }
        let refuses_small = smallest((1, 512), |n| {
            if n < 20 {
                bail!("the VMM failed")
            }
            Ok(true)
        });
        assert_eq!(refuses_small.unwrap(), 20);
        let err = smallest((1, 512), |_| Ok(false)).unwrap_err();
        assert!(err.to_string().contains("512 MiB"), "{err}");
    }
}
