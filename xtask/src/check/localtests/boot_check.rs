//! Booting an image on its bundle's VMM and judging the run, or, where the
//! bundle cannot boot here, checking what can be checked without booting
//! (a Firecracker x86_64 image's format) and skipping with the reason.

use super::compare::compare;
use super::expected::Expected;
use super::{Run, Verdict};
use crate::target::{Arch, Backend, BuildOption, Bundle};
use crate::util::cmd::Cmd;
use anyhow::{Context as _, Result};
use ocaml_unikraft_toolchain::boot::console::{self, Transcript};
use ocaml_unikraft_toolchain::boot::devices::Devices;
use ocaml_unikraft_toolchain::boot::vmm;
use ocaml_unikraft_toolchain::elf;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to boot: the deadline, and why some bundles cannot boot here.
pub(crate) struct Boots {
    pub(crate) timeout: Duration,
    /// Bundle name -> the reason it cannot boot here.
    pub(crate) blockers: HashMap<String, String>,
}

impl Boots {
    pub(crate) fn blocker(&self, bundle: &Bundle) -> Option<&str> {
        self.blockers.get(&bundle.name()).map(String::as_str)
    }

    pub(crate) fn timeout(&self, expected: &Expected) -> Duration {
        expected.timeout.unwrap_or(self.timeout)
    }
}

/// Boots `image` for `bundle` and compares what it did with `expected`; a
/// skip (after checking what can be checked) where the bundle's VMM cannot
/// run here.
pub(crate) fn boot_and_check(
    bundle: &Bundle,
    image: &Path,
    expected: &Expected,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    if let Some(reason) = boots.blocker(bundle) {
        return Ok((
            match check_image_format(image, bundle)? {
                Some(problem) => Verdict::Fail(problem),
                None => Verdict::Skip(format!("image built and checked; boot skipped: {reason}")),
            },
            None,
        ));
    }
    let timeout = boots.timeout(expected);
    let (boot, mut transcript, device_problem) = match expected.device_test {
        None => {
            let (boot, transcript) = boot_bundle(
                bundle,
                image,
                &expected.args,
                &expected.env_now(),
                expected.memory_mib,
                timeout,
            )?;
            (boot, transcript, None)
        }
        Some(test) => {
            let no_devices = Devices::default();
            let env = expected.env_now();
            let launch = launch(bundle, image, &expected.args, &env, &no_devices);
            super::device_tests::boot(test, &launch, expected, timeout)?
        }
    };
    if bundle.has(BuildOption::Debug) {
        transcript.output = console::strip_kernel_messages(&transcript.output);
    }
    let mut verdict = compare(&transcript, expected);
    if let (Verdict::Pass, Some(problem)) = (&verdict, device_problem) {
        verdict = Verdict::Fail(problem);
    }
    if let (Verdict::Pass, stderr) = (&verdict, boot.vmm_stderr.trim()) {
        if !stderr.is_empty() {
            verdict = Verdict::Fail(format!("the VMM reported: {stderr}"));
        }
    }
    Ok((verdict, Some(Run::of(&boot, &transcript))))
}

/// What booting `image` for `bundle` takes.
fn launch<'a>(
    bundle: &Bundle,
    image: &'a Path,
    args: &'a [String],
    env: &'a [String],
    devices: &'a Devices,
) -> vmm::Launch<'a> {
    vmm::Launch {
        backend: bundle.backend,
        arch: bundle.arch,
        image,
        args,
        env,
        devices,
        // What the tests measure and compare is the guest on the software
        // CPU, the same on every host.
        accel: vmm::Accel::Tcg,
        gdb: None,
    }
}

/// Boots `image` for `bundle` with `args`, `env` and `memory_mib` (the
/// default when `None`) and no device the program uses: the boot, and what the
/// guest reported. A 9pfs bundle stops at boot without a shared
/// directory: it gets an empty one.
pub(crate) fn boot_bundle(
    bundle: &Bundle,
    image: &Path,
    args: &[String],
    env: &[String],
    memory_mib: Option<u32>,
    timeout: Duration,
) -> Result<(vmm::Boot, Transcript)> {
    let empty = match bundle.has(BuildOption::NinePfs) {
        true => Some(tempfile::tempdir().context("creating an empty shared directory")?),
        false => None,
    };
    let devices = Devices {
        memory_mib,
        share: empty.as_ref().map(|dir| dir.path().to_owned()),
        ..Devices::default()
    };
    let boot = vmm::boot(
        &launch(bundle, image, args, env, &devices),
        &vmm::Watch::test(timeout),
    )?;
    let transcript = boot.transcript()?;
    Ok((boot, transcript))
}

/// Checks what can be checked without booting: a Firecracker x86_64 image
/// is an x86_64 ELF64 whose entry point lies in an executable segment and,
/// when the unstripped `<image>.dbg` is at hand (dune deletes it, not being
/// a target it knows), is the Linux boot entry. Returns a problem, if any.
fn check_image_format(image: &Path, bundle: &Bundle) -> Result<Option<String>> {
    let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    if bundle.backend != Backend::Firecracker || bundle.arch != Arch::X86_64 {
        return Ok((bytes.is_empty()).then(|| "empty image".into()));
    }
    let Some(entry) = x86_64_executable_entry(&bytes) else {
        return Ok(Some(
            "not an x86_64 ELF64 image entered in an executable segment".into(),
        ));
    };
    let debug = PathBuf::from(format!("{}.dbg", image.display()));
    if !debug.exists() {
        return Ok(None);
    }
    let symbols = Cmd::new("nm").arg(&debug).read(false)?;
    let lxboot = symbols
        .lines()
        .find(|l| l.ends_with(" _lxboot_entry"))
        .and_then(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok());
    Ok(match lxboot {
        Some(address) if address == entry => None,
        Some(address) => Some(format!(
            "entry {entry:#x} is not _lxboot_entry ({address:#x})"
        )),
        None => Some("no _lxboot_entry symbol in the image".into()),
    })
}

/// The entry point of an x86_64 ELF64 file, if it lies inside a loadable,
/// executable segment.
fn x86_64_executable_entry(bytes: &[u8]) -> Option<u64> {
    if elf::machine(bytes) != Some(elf::MACHINE_X86_64) {
        return None;
    }
    // Read from ELF64 files only.
    let entry = elf::entry(bytes)?;
    elf::in_executable_segment(bytes, entry).then_some(entry)
}
