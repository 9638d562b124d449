//! Booting the examples with the installed `ocaml-unikraft-run`, as a user
//! does, and what each must show:
//!
//! - hello: its four `hello` log lines, and exit status 0;
//! - network: a static address on the command line and 127.0.0.1:PORT
//!   forwarded to the guest's 8080. The test connects and sends a payload
//!   of its own; the guest must log the connection and (at debug level) the
//!   bytes it read. A connection alone proves nothing: QEMU's user network
//!   accepts it on the host side whether the guest listens or not. The VM
//!   is stopped once both are seen;
//! - network_dhcp: the same, but no address on the command line: the guest
//!   must log the lease QEMU's DHCP server gives it, then the same
//!   connection and payload;
//! - block: a fresh disk image; the skeleton's ten read and write checks
//!   must pass, and the exit status be 0;
//! - crypto: the known answers of its digests and cipher, and its RSA key
//!   ([`super::crypto`]);
//! - dns: its question answered by a resolver of ours ([`super::dns`]);
//! - https, website: served to a TLS client of ours ([`super::https`]);
//! - http: HTTP/2 and HTTP/1.1 over TLS ([`super::minipaf`]);
//! - entropy: booted twice; each boot must log mirage-crypto-rng's entropy
//!   sources and 32 random bytes in hex, and exit 0. The two draws must
//!   differ (a generator seeded alike at every boot draws alike), and the
//!   sources must name rdrand (the runner's CPU has RDRAND on x86_64 and
//!   FEAT_RNG on arm64, which our mirage-crypto patch puts to use)
//!   ([`super::entropy`]).

use super::https::Site;
use super::network::{network, DHCP_ARGS, LEASE_LINE, STATIC_ARGS};
use super::unikernel::Example;
use super::vm::{ending_of, run, tail, Vm};
use crate::check::table::{Run, Verdict};
use crate::target::Arch;
use anyhow::{Context as _, Result};
use std::path::Path;
use std::time::Duration;

/// Boots `image` (built for `arch` in the case directory `dir`) with
/// `runner` and judges the run of `example`; what the runner printed goes
/// to `console`.
pub(crate) fn boot(
    runner: &Path,
    example: Example,
    arch: Arch,
    dir: &Path,
    image: &Path,
    timeout: Duration,
    console: &Path,
) -> Result<(Verdict, Option<Run>)> {
    let (verdict, run, output) = boot_and_judge(runner, example, arch, dir, image, timeout)?;
    std::fs::write(console, output).with_context(|| format!("writing {}", console.display()))?;
    Ok((verdict, run))
}

fn boot_and_judge(
    runner: &Path,
    example: Example,
    arch: Arch,
    dir: &Path,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    match example {
        Example::Hello => {
            let vm = Vm::start(runner, image, &[], &[], timeout)?;
            let (status, output) = vm.wait()?;
            let (verdict, run) = judge_exit(status, &output, &["[INFO] [application] hello"], 4);
            Ok((verdict, run, output))
        }
        Example::Block => {
            let dir = tempfile::tempdir().context("creating a directory for the disk")?;
            let disk = dir.path().join("disk.img");
            std::fs::write(&disk, vec![0u8; DISK_BYTES])
                .with_context(|| format!("writing {}", disk.display()))?;
            let disk_option = ["--disk".into(), disk.into_os_string()];
            let vm = Vm::start(runner, image, &disk_option, &[], timeout)?;
            let (status, output) = vm.wait()?;
            let (verdict, run) = judge_exit(status, &output, &BLOCK_LINES, 1);
            Ok((verdict, run, output))
        }
        Example::Crypto => {
            let vm = Vm::start(runner, image, &[], &[], timeout)?;
            let (status, output) = vm.wait()?;
            let (verdict, run) = super::crypto::judge(status, &output);
            Ok((verdict, run, output))
        }
        Example::Dns => super::dns::boot(runner, image, timeout),
        Example::Https => super::https::boot(runner, Site::Skeleton, dir, image, timeout),
        Example::Website => super::https::boot(runner, Site::Ours, dir, image, timeout),
        Example::Http => super::minipaf::boot(runner, dir, image, timeout),
        Example::Network => network(runner, image, timeout, &STATIC_ARGS, None),
        Example::NetworkDhcp => network(runner, image, timeout, &DHCP_ARGS, Some(LEASE_LINE)),
        Example::Fetch => anyhow::bail!("fetch is booted beside the website, on a bridge"),
        Example::Entropy => {
            let mut boots = Vec::new();
            for _ in 0..2 {
                boots.push(Vm::start(runner, image, &[], &[], timeout)?.wait()?);
            }
            let (verdict, run) = super::entropy::judge(arch, &boots);
            // Both consoles, each under a line of ours.
            let output = boots
                .iter()
                .enumerate()
                .map(|(n, (_, output))| format!("=== boot {} ===\n{output}", n + 1))
                .collect();
            Ok((verdict, run, output))
        }
    }
}

/// 4 MiB: room for the skeleton's writes at both ends.
const DISK_BYTES: usize = 4 << 20;

/// What device-usage/block logs when its checks pass.
const BLOCK_LINES: [&str; 3] = [
    "[INFO] [block] Test sequence finished",
    "[INFO] [block] Total tests passed:  10",
    "[INFO] [block] Total tests failed:  0",
];

/// A pass when the runner exited 0 and `output` has each of `lines`
/// `times` times.
fn judge_exit(
    status: Option<i32>,
    output: &str,
    lines: &[&str],
    times: usize,
) -> (Verdict, Option<Run>) {
    let ending = ending_of(status);
    let missing: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| output.lines().filter(|l| l.contains(line)).count() != times)
        .collect();
    let verdict = match (status, missing.is_empty()) {
        (Some(0), true) => Verdict::Pass,
        (_, true) => Verdict::Fail(format!("{ending}, not 0:\n{}", tail(output))),
        (_, false) => Verdict::Fail(format!(
            "the console does not have {} {times} time(s):\n{}",
            missing.join(" | "),
            tail(output)
        )),
    };
    (verdict, Some(run(ending)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_passes_with_every_line_the_right_number_of_times() {
        let hello = "x [INFO] [application] hello\n".repeat(4);
        let lines = ["[INFO] [application] hello"];
        assert_eq!(judge_exit(Some(0), &hello, &lines, 4).0, Verdict::Pass);
        let three = "x [INFO] [application] hello\n".repeat(3);
        assert!(
            matches!(judge_exit(Some(0), &three, &lines, 4).0, Verdict::Fail(why) if why.contains("4 time(s)"))
        );
        assert!(
            matches!(judge_exit(Some(2), &hello, &lines, 4).0, Verdict::Fail(why) if why.starts_with("exit 2, not 0"))
        );
    }
}
