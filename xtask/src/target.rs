//! The vocabulary of targets, shared by every stage: architectures,
//! backends (VMMs), build options, and bundles (one of each).

use clap::builder::PossibleValue;
use clap::ValueEnum;

/// Named by the toolchain's list of backends (see [`Backend::target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    Qemu,
    Firecracker,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64", alias = "aarch64")]
    Arm64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuildOption {
    /// Debug symbols, no optimisation, Unikraft's debug messages.
    Debug,
    /// A virtio-9p root filesystem shared with the host (QEMU).
    #[value(name = "9pfs")]
    NinePfs,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Qemu, Backend::Firecracker];

    /// The toolchain's description of this backend: the driver and the
    /// xtask name backends the same way.
    fn target(self) -> ocaml_unikraft_toolchain::backend::Backend {
        match self {
            Backend::Qemu => ocaml_unikraft_toolchain::backend::Backend::Qemu,
            Backend::Firecracker => ocaml_unikraft_toolchain::backend::Backend::Firecracker,
        }
    }

    pub fn name(self) -> &'static str {
        self.target().name()
    }

    /// The platform suffix Unikraft gives images: `<name>_<plat>-<arch>`.
    pub fn image_platform(self) -> &'static str {
        match self {
            Backend::Qemu => "qemu",
            Backend::Firecracker => "fc",
        }
    }
}

/// `--backend` takes the toolchain's names.
impl ValueEnum for Backend {
    fn value_variants<'a>() -> &'a [Self] {
        &Backend::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// The toolchain's own description of this arch.
    fn target(self) -> ocaml_unikraft_toolchain::arch::Arch {
        match self {
            Arch::X86_64 => ocaml_unikraft_toolchain::arch::Arch::X86_64,
            Arch::Arm64 => ocaml_unikraft_toolchain::arch::Arch::Aarch64,
        }
    }

    /// Unikraft's name, used in bundle names.
    pub fn name(self) -> &'static str {
        self.target().uk()
    }

    /// The GNU name, used in tool names (`aarch64-unikraft-ocaml-cc`).
    pub fn gnu_name(self) -> &'static str {
        self.target().std()
    }

    /// `CROSS_COMPILE` for Unikraft: empty when the host runs this arch.
    pub fn cross_prefix(self) -> &'static str {
        self.target().derived_tool_prefix()
    }
}

impl BuildOption {
    pub fn name(self) -> &'static str {
        match self {
            BuildOption::Debug => "debug",
            BuildOption::NinePfs => "9pfs",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bundle {
    pub backend: Backend,
    pub arch: Arch,
    /// Sorted and without duplicates, so names are canonical.
    pub options: Vec<BuildOption>,
}

impl Bundle {
    pub fn new(backend: Backend, arch: Arch, options: &[BuildOption]) -> Bundle {
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
    pub fn name(&self) -> String {
        format!("{}-{}", self.backend.name(), self.arch.name())
    }

    /// `qemu-x86_64-debug-9pfs`: the name of its configuration.
    pub fn config_name(&self) -> String {
        let mut name = self.name();
        for option in &self.options {
            name.push('-');
            name.push_str(option.name());
        }
        name
    }

    /// Directory name under `<prefix>/lib` and `<prefix>/share`.
    pub fn install_name(&self) -> String {
        format!("ocaml-unikraft-backend-{}", self.name())
    }
}

/// Every bundle for the chosen backends, arches and options.
pub fn select(backends: &[Backend], arches: &[Arch], options: &[BuildOption]) -> Vec<Bundle> {
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
    fn backends_are_the_toolchains() {
        // A backend the driver knows but localbuild cannot build would be
        // suggested by the driver's help and then refused here.
        assert_eq!(
            Backend::ALL.map(Backend::target),
            ocaml_unikraft_toolchain::backend::Backend::ALL
        );
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
