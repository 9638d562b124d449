//! Target architectures, named the ways the toolchain, GNU tools and
//! Unikraft name them. Shared by the driver and the xtask so the names and
//! the cross-tool prefix rule exist once.

/// Target architecture, by its GNU name (the one in the installed names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn from_std(name: &str) -> Option<Arch> {
        match name {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The GNU name: `x86_64`, `aarch64`.
    pub fn std(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Unikraft calls aarch64 `arm64`; bundles are named after this.
    pub fn uk(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// Binutils prefix when no descriptor says otherwise: none for a native
    /// target, Debian's cross prefix otherwise.
    pub fn derived_tool_prefix(self) -> &'static str {
        if std::env::consts::ARCH == self.std() {
            ""
        } else {
            match self {
                Arch::X86_64 => "x86_64-linux-gnu-",
                Arch::Aarch64 => "aarch64-linux-gnu-",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unikraft_arch_names() {
        assert_eq!(Arch::X86_64.uk(), "x86_64");
        assert_eq!(Arch::Aarch64.uk(), "arm64");
    }

    #[test]
    fn derived_prefix_depends_on_host() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let want = if std::env::consts::ARCH == arch.std() {
                String::new()
            } else {
                format!("{}-linux-gnu-", arch.std())
            };
            assert_eq!(arch.derived_tool_prefix(), want);
        }
    }
}
