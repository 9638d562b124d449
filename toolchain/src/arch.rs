//! Target architectures, with the two spellings they have: GNU's (in tool
//! names: `aarch64-unikraft-ocaml-cc`) and Unikraft's (in bundle names:
//! `qemu-arm64`). Shared by the driver and the xtask so the names and the
//! cross-tool prefix rule exist once.

/// A target architecture. On the xtask's command line it is spelled the
/// Unikraft way, and the GNU spelling is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Arch {
    #[cfg_attr(feature = "clap", value(name = "x86_64"))]
    X86_64,
    #[cfg_attr(feature = "clap", value(name = "arm64", alias = "aarch64"))]
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// The arch whose GNU name is `name`.
    pub fn from_gnu(name: &str) -> Option<Arch> {
        match name {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// The GNU name: `x86_64`, `aarch64` (tool names, `std::env::consts::ARCH`).
    pub fn gnu(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        }
    }

    /// Unikraft's name: `x86_64`, `arm64` (bundle names, Kconfig fragments).
    pub fn unikraft(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The arch of the machine this runs on, if it is one of ours.
    pub fn host() -> Option<Arch> {
        Arch::from_gnu(std::env::consts::ARCH)
    }

    /// Whether this is the arch of the machine this runs on.
    pub fn is_host(self) -> bool {
        Arch::host() == Some(self)
    }

    /// Binutils prefix when no descriptor says otherwise: none for a native
    /// target, Debian's cross prefix otherwise.
    pub fn derived_tool_prefix(self) -> &'static str {
        if self.is_host() {
            ""
        } else {
            match self {
                Arch::X86_64 => "x86_64-linux-gnu-",
                Arch::Arm64 => "aarch64-linux-gnu-",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unikraft_arch_names() {
        assert_eq!(Arch::X86_64.unikraft(), "x86_64");
        assert_eq!(Arch::Arm64.unikraft(), "arm64");
        for arch in Arch::ALL {
            assert_eq!(Arch::from_gnu(arch.gnu()), Some(arch));
        }
    }

    #[test]
    fn derived_prefix_depends_on_host() {
        for arch in Arch::ALL {
            let want = if std::env::consts::ARCH == arch.gnu() {
                String::new()
            } else {
                format!("{}-linux-gnu-", arch.gnu())
            };
            assert_eq!(arch.derived_tool_prefix(), want);
        }
    }
}
