//! The vocabulary of targets, shared by every stage: architectures,
//! backends (VMMs), build options, and bundles (one of each).

use clap::ValueEnum;

pub(crate) use ocaml_unikraft_toolchain::arch::Arch;
pub(crate) use ocaml_unikraft_toolchain::backend::Backend;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum BuildOption {
    /// Debug symbols, no optimisation, Unikraft's debug messages.
    Debug,
    /// A virtio-9p root filesystem shared with the host (QEMU).
    #[value(name = "9pfs")]
    NinePfs,
}

impl BuildOption {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BuildOption::Debug => "debug",
            BuildOption::NinePfs => "9pfs",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bundle {
    pub(crate) backend: Backend,
    pub(crate) arch: Arch,
    /// Sorted and without duplicates, so names are canonical.
    pub(crate) options: Vec<BuildOption>,
}

impl Bundle {
    pub(crate) fn new(backend: Backend, arch: Arch, options: &[BuildOption]) -> Bundle {
        let mut options = options.to_vec();
        options.sort();
        options.dedup();
        Bundle {
            backend,
            arch,
            options,
        }
    }

    /// `qemu-x86_64`: the name of the bundle in output and in install paths.
    pub(crate) fn name(&self) -> String {
        format!("{}-{}", self.backend.name(), self.arch.unikraft())
    }

    /// `qemu-x86_64-debug-9pfs`: the name of its configuration.
    pub(crate) fn config_name(&self) -> String {
        let mut name = self.name();
        for option in &self.options {
            name.push('-');
            name.push_str(option.name());
        }
        name
    }

    /// Directory name under `<prefix>/lib` and `<prefix>/share`.
    pub(crate) fn install_name(&self) -> String {
        ocaml_unikraft_toolchain::installed::bundle_dir_name(self.backend.name(), self.arch)
    }
}

/// Every bundle for the chosen backends, arches and options.
pub(crate) fn select(
    backends: &[Backend],
    arches: &[Arch],
    options: &[BuildOption],
) -> Vec<Bundle> {
    let backends = if backends.is_empty() {
        &Backend::ALL[..]
    } else {
        backends
    };
    let arches = if arches.is_empty() {
        &Arch::ALL[..]
    } else {
        arches
    };
    let mut bundles = Vec::new();
    for &backend in backends {
        for &arch in arches {
            let bundle = Bundle::new(backend, arch, options);
            if !bundles.contains(&bundle) {
                bundles.push(bundle);
            }
        }
    }
    bundles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_names_are_the_toolchains() {
        // `--backend` and `--arch` take the names the driver and bundle
        // directories use.
        for arch in Arch::ALL {
            assert_eq!(Arch::from_str(arch.unikraft(), false), Ok(arch));
            assert_eq!(Arch::from_str(arch.gnu(), false), Ok(arch));
        }
        for backend in Backend::ALL {
            assert_eq!(Backend::from_str(backend.name(), false), Ok(backend));
        }
    }

    #[test]
    fn default_selection_is_every_backend_and_arch() {
        let names: Vec<_> = select(&[], &[], &[])
            .iter()
            .map(Bundle::config_name)
            .collect();
        assert_eq!(
            names,
            [
                "qemu-x86_64",
                "qemu-arm64",
                "firecracker-x86_64",
                "firecracker-arm64"
            ]
        );
        let debug: Vec<_> = select(
            &[Backend::Qemu],
            &[Arch::Arm64],
            &[BuildOption::NinePfs, BuildOption::Debug],
        )
        .iter()
        .map(Bundle::config_name)
        .collect();
        assert_eq!(debug, ["qemu-arm64-debug-9pfs"]);
    }
}
