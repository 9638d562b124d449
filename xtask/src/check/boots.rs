//! Which installed bundles can boot on this machine, and why the others
//! cannot: their VMM is missing, cannot run their arch here, or (for
//! Firecracker) KVM is unusable. Localtests skips those boots with the
//! reason, and the bench reports them as not measured.

use crate::target::{Arch, Backend, Bundle};
use ocaml_unikraft_toolchain::boot::vmm;
use ocaml_unikraft_toolchain::layout;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::Path;

/// Why each installed bundle cannot boot here, for those that cannot, by
/// bundle name. For Firecracker on an x86_64 host with a `/dev/kvm`, KVM
/// itself is tried (with QEMU and the installed KVM probe): some hosts' KVM fails on
/// real guests.
pub(crate) fn blockers(prefix: &Path, installed: &[Bundle]) -> HashMap<String, String> {
    let mut kvm: Option<Option<String>> = None;
    let mut blockers = HashMap::new();
    for bundle in installed {
        let mut reason = vmm::unavailable(bundle.backend, bundle.arch);
        if needs_kvm_probe(bundle, installed) {
            let problem = kvm.get_or_insert_with(|| kvm_problem(prefix));
            reason = match (reason, problem) {
                (Some(reason), Some(problem)) => Some(format!("{reason}; besides, {problem}")),
                (reason, problem) => reason.or(problem.clone()),
            };
        }
        if let Some(reason) = reason {
            blockers.insert(bundle.name(), reason);
        }
    }
    blockers
}

/// The QEMU x86_64 bundle: the KVM probe is one of its images.
fn probe_bundle() -> Bundle {
    Bundle::new(Backend::Qemu, Arch::X86_64, &[])
}

/// Whether KVM is to be probed for `bundle`: an x86_64 Firecracker bundle,
/// on an x86_64 host with a `/dev/kvm` (usable or not), where QEMU and the
/// QEMU x86_64 bundle can boot the probe.
fn needs_kvm_probe(bundle: &Bundle, installed: &[Bundle]) -> bool {
    bundle.backend == Backend::Firecracker
        && bundle.arch == Arch::X86_64
        && Arch::X86_64.is_host()
        && !matches!(vmm::open_kvm(), Err(err) if err.kind() == ErrorKind::NotFound)
        && vmm::unavailable(Backend::Qemu, Arch::X86_64).is_none()
        && installed.contains(&probe_bundle())
}

/// Why KVM cannot run a unikernel here, if it cannot: the runner's probe
/// (the C hello the installation links for QEMU x86_64, see
/// [`layout::kvm_probe`]) booted with QEMU on KVM.
fn kvm_problem(prefix: &Path) -> Option<String> {
    let probe = prefix.join(layout::kvm_probe(Arch::X86_64));
    if !probe.is_file() {
        return Some(format!(
            "{} has no KVM probe (`cargo xtask localbuild` installs it)",
            prefix.display()
        ));
    }
    vmm::kvm_problem(&probe)
}
