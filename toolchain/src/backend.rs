//! The backends `cargo xtask localbuild` can build bundles for. Shared by
//! the driver, which suggests building a missing backend only when it is
//! one of these, and the xtask, whose `--backend` values they are, so the
//! names exist once.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for backend in Backend::ALL {
            assert_eq!(Backend::from_name(backend.name()), Some(backend));
        }
        assert_eq!(Backend::from_name("nope"), None);
    }
}
