//! The vocabulary of targets, shared by every stage: architectures,
//! backends (VMMs), build options, and bundles (one of each), with the
//! variants localtests boots.

pub(crate) use ocaml_unikraft_toolchain::arch::Arch;
pub(crate) use ocaml_unikraft_toolchain::backend::{Backend, BuildOption, Variant};

use anyhow::{bail, Result};

/// The variants localtests boots besides the plain bundles: `share_read`
/// on 9pfs (x86_64 over PCI, arm64 over MMIO), every other example on
/// debug. localbuild builds them with `--test-variants` only: each is one
/// more Unikraft build (together about 200 CPU-s; a cold build of the rest
/// takes about 1,050), and a user who links for one is told how to build
/// it.
pub(crate) const TEST_VARIANTS: &[(Backend, Arch, &[BuildOption])] = &[
    (Backend::Qemu, Arch::X86_64, &[BuildOption::NinePfs]),
    (Backend::Qemu, Arch::X86_64, &[BuildOption::Debug]),
    (Backend::Qemu, Arch::Arm64, &[BuildOption::NinePfs]),
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Bundle {
    pub(crate) backend: Backend,
    pub(crate) arch: Arch,
    /// Sorted and without duplicates, so names are canonical.
    pub(crate) options: Vec<BuildOption>,
}

impl Bundle {
    pub(crate) fn new(backend: Backend, arch: Arch, options: &[BuildOption]) -> Bundle {
        Bundle::of(&Variant::new(backend, options), arch)
    }

    pub(crate) fn of(variant: &Variant, arch: Arch) -> Bundle {
        Bundle {
            backend: variant.backend,
            arch,
            options: variant.options.clone(),
        }
    }

    /// The backend and options: what `-z unikraft-backend=` names.
    pub(crate) fn variant(&self) -> Variant {
        Variant::new(self.backend, &self.options)
    }

    pub(crate) fn has(&self, option: BuildOption) -> bool {
        self.options.contains(&option)
    }

    /// `qemu`, `qemu-9pfs`: the backend name it is installed and selected
    /// under.
    pub(crate) fn backend_name(&self) -> String {
        self.variant().name()
    }

    /// `qemu-x86_64`, `qemu-9pfs-x86_64`: the name of the bundle in output,
    /// logs, stamps, `--config-dir` files and localtests' targets.
    pub(crate) fn name(&self) -> String {
        format!("{}-{}", self.backend_name(), self.arch.unikraft())
    }

    /// Directory name under `<prefix>/lib` and `<prefix>/share`.
    pub(crate) fn install_name(&self) -> String {
        ocaml_unikraft_toolchain::layout::bundle_dir_name(&self.backend_name(), self.arch)
    }

    /// The bundle a [`Bundle::name`] names.
    pub(crate) fn from_name(name: &str) -> Option<Bundle> {
        let (variant, arch) = Arch::ALL.iter().find_map(|&arch| {
            let variant = name.strip_suffix(arch.unikraft())?.strip_suffix('-')?;
            Some((Variant::from_name(variant)?, arch))
        })?;
        Some(Bundle::of(&variant, arch))
    }
}

/// What localbuild's `--backend`, `--arch`, `--option` and
/// `--test-variants` ask for.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Selection<'a> {
    /// Empty: every backend.
    pub(crate) backends: &'a [Backend],
    /// Empty: every arch.
    pub(crate) arches: &'a [Arch],
    /// Empty: the plain bundles; else the variant with these options of
    /// each backend and arch.
    pub(crate) options: &'a [BuildOption],
    /// Add the [`TEST_VARIANTS`] of the selected backends and arches.
    pub(crate) test_variants: bool,
}

/// The bundles a selection stands for. Options a backend cannot have are
/// an error when that backend was named, and leave it out otherwise.
pub(crate) fn select(selection: &Selection) -> Result<Vec<Bundle>> {
    let backends = if selection.backends.is_empty() {
        &Backend::ALL[..]
    } else {
        selection.backends
    };
    let arches = if selection.arches.is_empty() {
        &Arch::ALL[..]
    } else {
        selection.arches
    };
    let mut bundles = Vec::new();
    for &backend in backends {
        let variant = Variant::new(backend, selection.options);
        if let Some(reason) = variant.unsupported() {
            if selection.backends.is_empty() {
                continue;
            }
            bail!(
                "cannot build {}: {reason}\nhelp: build it for QEMU: `--backend qemu{}`",
                variant.name(),
                selection
                    .options
                    .iter()
                    .map(|o| format!(" --option {}", o.name()))
                    .collect::<String>()
            );
        }
        for &arch in arches {
            bundles.push(Bundle::of(&variant, arch));
        }
    }
    if selection.test_variants {
        for &(backend, arch, options) in TEST_VARIANTS {
            if backends.contains(&backend) && arches.contains(&arch) {
                bundles.push(Bundle::new(backend, arch, options));
            }
        }
    }
    let mut unique = Vec::new();
    for bundle in bundles {
        if !unique.contains(&bundle) {
            unique.push(bundle);
        }
    }
    Ok(unique)
}

/// One bundle per arch of `bundles`, the one the cross compiler of that
/// arch is built with: the plain QEMU bundle when there is one (what the
/// toolchain uses by default), else the first plain one, else the first.
pub(crate) fn leaders(bundles: &[Bundle]) -> Vec<Bundle> {
    let mut leaders: Vec<Bundle> = Vec::new();
    for arch in Arch::ALL {
        let of_arch: Vec<&Bundle> = bundles.iter().filter(|b| b.arch == arch).collect();
        let plain = |b: &&&Bundle| b.options.is_empty();
        let leader = of_arch
            .iter()
            .filter(plain)
            .find(|b| b.backend == Backend::Qemu)
            .or_else(|| of_arch.iter().find(plain))
            .or_else(|| of_arch.first());
        leaders.extend(leader.map(|b| (*b).clone()));
    }
    leaders
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    fn names(selection: Selection) -> Vec<String> {
        select(&selection)
            .unwrap()
            .iter()
            .map(Bundle::name)
            .collect()
    }

    #[test]
    fn command_line_names_are_the_toolchains() {
        // `--backend`, `--arch` and `--option` take the names the driver
        // and bundle directories use.
        for arch in Arch::ALL {
            assert_eq!(Arch::from_str(arch.unikraft(), false), Ok(arch));
            assert_eq!(Arch::from_str(arch.gnu(), false), Ok(arch));
        }
        for backend in Backend::ALL {
            assert_eq!(Backend::from_str(backend.name(), false), Ok(backend));
        }
        for option in BuildOption::ALL {
            assert_eq!(BuildOption::from_str(option.name(), false), Ok(option));
        }
    }

    #[test]
    fn leaders_are_plain_qemu_else_plain_else_first() {
        let leaders = |selection| -> Vec<String> {
            leaders(&select(&selection).unwrap())
                .iter()
                .map(Bundle::name)
                .collect()
        };
        assert_eq!(leaders(Selection::default()), ["qemu-x86_64", "qemu-arm64"]);
        let firecracker = [Backend::Firecracker];
        let arm64 = [Arch::Arm64];
        assert_eq!(
            leaders(Selection {
                backends: &firecracker,
                ..Default::default()
            }),
            ["firecracker-x86_64", "firecracker-arm64"]
        );
        let debug = [BuildOption::Debug];
        assert_eq!(
            leaders(Selection {
                arches: &arm64,
                options: &debug,
                ..Default::default()
            }),
            ["qemu-debug-arm64"]
        );
    }

    #[test]
    fn default_selection_is_every_backend_and_arch_test_variants_on_request() {
        assert_eq!(
            names(Selection::default()),
            [
                "qemu-x86_64",
                "qemu-arm64",
                "firecracker-x86_64",
                "firecracker-arm64"
            ]
        );
        assert_eq!(
            names(Selection {
                test_variants: true,
                ..Selection::default()
            }),
            [
                "qemu-x86_64",
                "qemu-arm64",
                "firecracker-x86_64",
                "firecracker-arm64",
                "qemu-9pfs-x86_64",
                "qemu-debug-x86_64",
                "qemu-9pfs-arm64",
            ]
        );
        // The test variants of what is selected only.
        assert_eq!(
            names(Selection {
                backends: &[Backend::Firecracker],
                test_variants: true,
                ..Selection::default()
            }),
            ["firecracker-x86_64", "firecracker-arm64"]
        );
        assert_eq!(
            names(Selection {
                arches: &[Arch::Arm64],
                test_variants: true,
                ..Selection::default()
            }),
            ["qemu-arm64", "firecracker-arm64", "qemu-9pfs-arm64"]
        );
    }

    #[test]
    fn options_select_the_variant_alone() {
        assert_eq!(
            names(Selection {
                backends: &[Backend::Qemu],
                arches: &[Arch::Arm64],
                options: &[BuildOption::NinePfs, BuildOption::Debug],
                ..Selection::default()
            }),
            ["qemu-debug-9pfs-arm64"]
        );
        // Without --backend, 9pfs leaves out Firecracker...
        assert_eq!(
            names(Selection {
                arches: &[Arch::X86_64],
                options: &[BuildOption::NinePfs],
                ..Selection::default()
            }),
            ["qemu-9pfs-x86_64"]
        );
        // ...and naming it is an error that says why.
        let err = select(&Selection {
            backends: &[Backend::Firecracker],
            options: &[BuildOption::NinePfs],
            ..Selection::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("cannot build firecracker-9pfs: option 9pfs is not for firecracker: Firecracker has no virtio-9p device\nhelp: build it for QEMU: `--backend qemu --option 9pfs`"),
            "{err}"
        );
    }

    #[test]
    fn the_test_variants_can_be_built() {
        for (backend, arch, options) in TEST_VARIANTS {
            let bundle = Bundle::new(*backend, *arch, options);
            assert!(!options.is_empty(), "{}", bundle.name());
            assert_eq!(bundle.variant().unsupported(), None, "{}", bundle.name());
        }
    }

    #[test]
    fn bundle_names_read_back() {
        for bundle in [
            Bundle::new(Backend::Qemu, Arch::X86_64, &[]),
            Bundle::new(Backend::Firecracker, Arch::Arm64, &[BuildOption::Debug]),
            Bundle::new(
                Backend::Qemu,
                Arch::Arm64,
                &[BuildOption::Debug, BuildOption::NinePfs],
            ),
        ] {
            assert_eq!(Bundle::from_name(&bundle.name()), Some(bundle.clone()));
        }
        assert_eq!(
            Bundle::new(Backend::Qemu, Arch::X86_64, &[BuildOption::NinePfs]).install_name(),
            "ocaml-unikraft-backend-qemu-9pfs-x86_64"
        );
        for not_one in ["qemu-x86_64-9pfs", "qemu-9pfs", "qemu-riscv64"] {
            assert_eq!(Bundle::from_name(not_one), None, "{not_one}");
        }
    }
}
