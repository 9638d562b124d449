//! `cargo xtask localtests`: end-to-end checks of an installed prefix.
//!
//! - `c-hello`: for every installed bundle, `backends/smoke/hello.c` linked
//!   with the installed C driver and booted.
//! - `c-crash`: `backends/smoke/crash.c` (a null pointer write) likewise; it
//!   must come out as a crash, whatever it printed.
//! - `simple`: for every cross compiler, `examples/simple` built with dune
//!   as its README says, and booted on QEMU.
//! - `examples/all`: built once by dune, with one context per installed
//!   bundle (toolchain `unikraft_<arch>`, link flags naming the backend) and
//!   one native `linux` context; every example runs on each. The Linux run
//!   shows that the expected files are what the program does on Linux.
//!   Examples with a `<example>.devices` file (`netdev`, `blkdev`,
//!   `share_read`) boot with a network device, a disk or a shared
//!   directory and the host side of their test; the first two have no
//!   Linux run. Bundles built with options (variants: those of
//!   `target::TEST_VARIANTS` come from `localbuild --test-variants`) are
//!   targets too: a
//!   9pfs bundle boots the examples that use a shared directory and no
//!   other, and those boot on 9pfs bundles only (not-applicable rows, `n/a`,
//!   are listed together under the table); on a debug bundle Unikraft's
//!   `Info:` and `Warn:` kernel messages are cut out of the console before
//!   it is compared.
//! - `runner`: the installed `ocaml-unikraft-run` boots the `args` example
//!   (`share_read` with `--share` on a 9pfs bundle) on every QEMU bundle
//!   but the debug ones, as a user outside this repository would.
//! - `runner_stop`: on each plain QEMU bundle, the installed runner boots
//!   `forged_hang`, a program that never ends, with no deadline, and is
//!   stopped by SIGINT, SIGTERM and SIGHUP (it must exit 128 + the signal)
//!   and killed by SIGKILL; no QEMU may be left after any of them.
//!
//! Each run's console, less Unikraft's banner and our status line, must
//! equal `<example>.expected`, and its exit status `<example>.status`
//! (`<example>.args`, if present, holds the arguments, one per line).
//! Where a backend cannot boot here the image is still built (a Firecracker
//! x86_64 image's format is checked) and the boot is a skip with the reason.
//!
//! The files, in the order a run goes:
//!
//! - `mod.rs`: the run, `--require`, and the table of rows;
//! - [`c_smoke`]: the `c-hello` and `c-crash` rows;
//! - [`dune`]: `simple` and `examples/all`, built with dune;
//! - [`expected`]: what each program must print and exit with;
//! - [`boot_check`]: booting an image, or checking its format where it
//!   cannot boot here;
//! - [`device_tests`]: the host side of the examples that need a network
//!   device or a disk;
//! - [`native`]: the `linux` and `runner` rows, programs run on this machine;
//! - [`runner_stop`]: the `runner_stop` rows, the runner stopped by signals;
//! - [`compare`]: a run against what was expected, and a line diff.

pub(crate) mod boot_check;
mod c_smoke;
mod compare;
mod debugger;
mod device_tests;
pub(crate) mod dune;
pub(crate) mod expected;
pub(crate) mod native;
mod runner_stop;

use crate::check::boots;
use crate::check::table::{not_applicable_row, print_table, run_row, Row, Run, Verdict};
use crate::cli::LocaltestsOpts;
use crate::context::Context;
use crate::target::{Arch, Backend, BuildOption, Bundle, TEST_VARIANTS};
use crate::util::progress;
use anyhow::{bail, Result};
use boot_check::Boots;
use ocaml_unikraft_toolchain::layout;
use std::time::Duration;

/// The name of the native context and of its rows.
pub(crate) const LINUX: &str = "linux";

pub(crate) fn localtests(ctx: &Context, opts: &LocaltestsOpts) -> Result<()> {
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    // A nodevices bundle cannot link the device examples, which dune builds
    // in every cross context; `bench` is what uses it.
    let (lean, installed): (Vec<Bundle>, Vec<Bundle>) =
        crate::build::install::installed_bundles(&prefix)
            .into_iter()
            .partition(|b| b.has(BuildOption::NoDevices));
    for bundle in &lean {
        progress::say(
            "localtests",
            &format!(
                "{}: not tested (a nodevices bundle: bench measures it)",
                bundle.name()
            ),
        );
    }
    if installed.is_empty() {
        bail!(
            "no backend bundle is installed in {}\nhelp: run `cargo xtask localbuild` first",
            prefix.display()
        );
    }
    let missing = missing_test_variants(&installed);
    for bundle in &missing {
        progress::say(
            "localtests",
            &format!(
                "{} is not installed: what it boots is not tested \
                 (`cargo xtask localbuild --test-variants` builds it)",
                bundle.name()
            ),
        );
    }
    let boots = Boots {
        timeout: Duration::from_secs_f64(opts.timeout),
        blockers: boots::blockers(&prefix, &installed),
    };
    check_required(&opts.require, &installed, &missing, &boots)?;
    let mut rows = Vec::new();
    for bundle in &installed {
        rows.push(run_row("c-hello", &bundle.name(), || {
            c_smoke::hello(ctx, &prefix, bundle, &boots)
        }));
        rows.push(run_row("c-crash", &bundle.name(), || {
            c_smoke::crash(ctx, &prefix, bundle, &boots)
        }));
    }
    let with_compiler: Vec<&Bundle> = installed
        .iter()
        .filter(|b| layout::has_compiler(&prefix, b.arch))
        .collect();
    for &arch in &Arch::ALL {
        if layout::has_compiler(&prefix, arch) {
            let target = Bundle::new(Backend::Qemu, arch, &[]).name();
            rows.push(run_row("simple", &target, || {
                dune::simple(ctx, &prefix, arch, &boots)
            }));
            rows.push(run_row("gdb", &target, || {
                debugger::gdb(ctx, &prefix, arch, &boots)
            }));
        }
    }
    if with_compiler.is_empty() {
        crate::util::progress::say(
            "localtests",
            "no cross compiler installed: examples/all skipped",
        );
    } else {
        rows.extend(dune::all_examples(ctx, &prefix, &with_compiler, &boots)?);
    }
    print_table(&rows);
    let failed = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
        .count();
    if failed > 0 {
        bail!("{failed} test(s) failed");
    }
    Ok(())
}

/// The test variants whose plain bundle is installed but which are not.
fn missing_test_variants(installed: &[Bundle]) -> Vec<Bundle> {
    TEST_VARIANTS
        .iter()
        .filter(|(backend, arch, _)| installed.contains(&Bundle::new(*backend, *arch, &[])))
        .map(|(backend, arch, options)| Bundle::new(*backend, *arch, options))
        .filter(|variant| !installed.contains(variant))
        .collect()
}

/// Fails unless every installed bundle of each `required` backend can boot
/// here and its test variants are installed: a skipped boot must not pass
/// for a test run where it was wanted.
fn check_required(
    required: &[Backend],
    installed: &[Bundle],
    missing_variants: &[Bundle],
    boots: &Boots,
) -> Result<()> {
    let mut problems = Vec::new();
    for &backend in required {
        let of_backend: Vec<&Bundle> = installed.iter().filter(|b| b.backend == backend).collect();
        if of_backend.is_empty() {
            problems.push(format!("no {} bundle is installed", backend.name()));
        }
        for variant in missing_variants.iter().filter(|b| b.backend == backend) {
            problems.push(format!(
                "{} is not installed (`cargo xtask localbuild --test-variants`)",
                variant.name()
            ));
        }
        for bundle in of_backend {
            if let Some(reason) = boots.blocker(bundle) {
                problems.push(format!("{} cannot boot here: {reason}", bundle.name()));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "boots required by --require would be skipped:\n  {}\nhelp: `cargo xtask doctor` lists what to install; `cargo xtask localbuild` builds the bundles",
            problems.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn required_backends_must_be_installed_and_bootable() {
        let qemu = Bundle::new(Backend::Qemu, Arch::X86_64, &[]);
        let fc = Bundle::new(Backend::Firecracker, Arch::X86_64, &[]);
        let mut boots = Boots {
            timeout: Duration::from_secs(1),
            blockers: HashMap::from([(fc.name(), "no KVM".to_string())]),
        };
        let installed = [qemu.clone(), fc.clone()];
        assert!(check_required(&[Backend::Qemu], &installed, &[], &boots).is_ok());
        let err = check_required(&[Backend::Firecracker], &installed, &[], &boots).unwrap_err();
        assert!(err
            .to_string()
            .contains("firecracker-x86_64 cannot boot here: no KVM"));
        let err =
            check_required(&[Backend::Qemu], std::slice::from_ref(&fc), &[], &boots).unwrap_err();
        assert!(err.to_string().contains("no qemu bundle is installed"));
        // A missing test variant of a required backend fails too.
        let missing = missing_test_variants(&installed);
        assert_eq!(
            missing.iter().map(Bundle::name).collect::<Vec<_>>(),
            ["qemu-9pfs-x86_64", "qemu-debug-x86_64"]
        );
        let err = check_required(&[Backend::Qemu], &installed, &missing, &boots).unwrap_err();
        assert!(err
            .to_string()
            .contains("qemu-9pfs-x86_64 is not installed"));
        // ...of that backend only.
        let err = check_required(&[Backend::Firecracker], &[fc], &missing, &boots).unwrap_err();
        assert!(!err.to_string().contains("9pfs"), "{err}");
        let with_variants: Vec<Bundle> = installed.iter().cloned().chain(missing).collect();
        assert!(missing_test_variants(&with_variants).is_empty());
        boots
            .blockers
            .insert(qemu.name(), "qemu-system-x86_64 is not installed".into());
        assert!(check_required(&[Backend::Qemu], &installed, &[], &boots).is_err());
    }
}
