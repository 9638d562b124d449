//! The backends `cargo xtask localbuild` can build bundles for, and the
//! options a bundle can be built with. Shared by the driver, which suggests
//! building a missing backend only when it is one of these, and the xtask,
//! whose `--backend` and `--option` values they are, so the names exist
//! once.
//!
//! A bundle built with options is a *variant*: it is installed beside the
//! plain bundle of its backend under a backend name of its own, the
//! backend's name followed by its options in a fixed order (`qemu-9pfs`,
//! `qemu-debug`, `qemu-debug-9pfs`), and a link selects it with
//! `-z unikraft-backend=qemu-9pfs`.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Backend {
    Qemu,
    Firecracker,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Qemu, Backend::Firecracker];

    /// The name in `--backend`, `-z unikraft-backend=` and bundle names.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Qemu => "qemu",
            Backend::Firecracker => "firecracker",
        }
    }

    /// The platform suffix Unikraft gives images: `<name>_<plat>-<arch>`.
    pub fn image_platform(self) -> &'static str {
        match self {
            Backend::Qemu => "qemu",
            Backend::Firecracker => "fc",
        }
    }

    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// An option a bundle is built with (a Kconfig fragment
/// `backends/fragments/opt-<name>.config`). The order of the variants is
/// the order of the options in variant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum BuildOption {
    /// Debug symbols, no optimisation, Unikraft's informational messages
    /// on the console.
    Debug,
    /// Without the network and block devices: a smaller image for programs
    /// that need neither (and the bench's measure of what they cost).
    #[cfg_attr(feature = "clap", value(name = "nodevices"))]
    NoDevices,
    /// Without the in-memory root filesystem (`/`, `/tmp`) and `/dev`: the
    /// bench's measure of what they cost.
    #[cfg_attr(feature = "clap", value(name = "noroot"))]
    NoRoot,
    /// A host directory shared over virtio-9p, mounted at `/` (QEMU).
    /// After `NoDevices`, so its fragment turns virtio's PCI transport
    /// back on.
    #[cfg_attr(feature = "clap", value(name = "9pfs"))]
    NinePfs,
}

impl BuildOption {
    pub const ALL: [BuildOption; 4] = [
        BuildOption::Debug,
        BuildOption::NoDevices,
        BuildOption::NoRoot,
        BuildOption::NinePfs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BuildOption::Debug => "debug",
            BuildOption::NoDevices => "nodevices",
            BuildOption::NoRoot => "noroot",
            BuildOption::NinePfs => "9pfs",
        }
    }

    pub fn from_name(name: &str) -> Option<BuildOption> {
        BuildOption::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Why a bundle of `backend` cannot have this option, if it cannot.
    pub fn unsupported_on(self, backend: Backend) -> Option<&'static str> {
        match (self, backend) {
            (BuildOption::NinePfs, Backend::Firecracker) => {
                Some("Firecracker has no virtio-9p device")
            }
            _ => None,
        }
    }
}

/// What `-z unikraft-backend=NAME` selects: a backend (the VMM) and the
/// options its bundle was built with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variant {
    pub backend: Backend,
    /// Sorted and without duplicates, so that names are canonical.
    pub options: Vec<BuildOption>,
}

impl Variant {
    pub fn new(backend: Backend, options: &[BuildOption]) -> Variant {
        let mut options = options.to_vec();
        options.sort();
        options.dedup();
        Variant { backend, options }
    }

    /// The backend alone, without options.
    pub fn plain(backend: Backend) -> Variant {
        Variant::new(backend, &[])
    }

    pub fn is_plain(&self) -> bool {
        self.options.is_empty()
    }

    pub fn has(&self, option: BuildOption) -> bool {
        self.options.contains(&option)
    }

    /// `qemu`, `qemu-9pfs`, `qemu-debug-9pfs`: the backend name it is
    /// installed and selected under.
    pub fn name(&self) -> String {
        let mut name = self.backend.name().to_owned();
        for option in &self.options {
            name.push('-');
            name.push_str(option.name());
        }
        name
    }

    /// The variant a backend name stands for, when it is one localbuild
    /// builds (canonical spelling only: `qemu-9pfs-debug` is not one).
    pub fn from_name(name: &str) -> Option<Variant> {
        let mut parts = name.split('-');
        let backend = Backend::from_name(parts.next()?)?;
        let options = parts
            .map(BuildOption::from_name)
            .collect::<Option<Vec<_>>>()?;
        let variant = Variant::new(backend, &options);
        (variant.name() == name).then_some(variant)
    }

    /// Why this variant cannot be built, if it cannot.
    pub fn unsupported(&self) -> Option<String> {
        self.options.iter().find_map(|option| {
            let reason = option.unsupported_on(self.backend)?;
            Some(format!(
                "option {} is not for {}: {reason}",
                option.name(),
                self.backend.name()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in Backend::ALL {
            assert_eq!(Backend::from_name(backend.name()), Some(backend));
        }
        assert_eq!(Backend::from_name("nope"), None);
        for option in BuildOption::ALL {
            assert_eq!(BuildOption::from_name(option.name()), Some(option));
        }
    }

    #[test]
    fn variant_names_are_the_backend_then_the_options_in_order() {
        let both = Variant::new(
            Backend::Qemu,
            &[
                BuildOption::NinePfs,
                BuildOption::Debug,
                BuildOption::NinePfs,
            ],
        );
        assert_eq!(both.name(), "qemu-debug-9pfs");
        assert_eq!(Variant::from_name("qemu-debug-9pfs"), Some(both));
        assert_eq!(Variant::plain(Backend::Firecracker).name(), "firecracker");
        assert_eq!(
            Variant::from_name("qemu-9pfs"),
            Some(Variant::new(Backend::Qemu, &[BuildOption::NinePfs]))
        );
        for not_one in [
            "qemu-9pfs-debug",
            "qemu-9pfs-9pfs",
            "qemu-",
            "kvm-9pfs",
            "qemu-fast",
        ] {
            assert_eq!(Variant::from_name(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn firecracker_has_no_9pfs() {
        let fc = Variant::new(Backend::Firecracker, &[BuildOption::NinePfs]);
        assert_eq!(
            fc.unsupported().as_deref(),
            Some("option 9pfs is not for firecracker: Firecracker has no virtio-9p device")
        );
        assert_eq!(
            Variant::new(Backend::Qemu, &[BuildOption::NinePfs]).unsupported(),
            None
        );
        assert_eq!(
            Variant::new(Backend::Firecracker, &[BuildOption::Debug]).unsupported(),
            None
        );
    }
}
