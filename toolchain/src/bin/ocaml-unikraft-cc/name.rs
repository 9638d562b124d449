//! What the driver was invoked as: `<stdarch>-unikraft-ocaml-<tool>`.

use crate::error::Error;
use std::ffi::OsStr;
use std::path::Path;

pub use ocaml_unikraft_toolchain::arch::Arch;

pub use ocaml_unikraft_toolchain::layout::BINUTILS;
use ocaml_unikraft_toolchain::layout::{C_COMPILERS, TOOL_INFIX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// The C driver (`cc` and `gcc`).
    Cc,
    /// One of [`BINUTILS`].
    Binutil(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub arch: Arch,
    pub tool: Tool,
    /// The file name we were called by, used as the prefix of messages.
    pub name: String,
}

/// Parse an installed file name such as `aarch64-unikraft-ocaml-ranlib`.
pub fn parse(file_name: &str) -> Option<(Arch, Tool)> {
    let (arch, tool) = file_name.split_once(TOOL_INFIX)?;
    let arch = Arch::from_gnu(arch)?;
    let tool = if C_COMPILERS.contains(&tool) {
        Tool::Cc
    } else {
        Tool::Binutil(BINUTILS.iter().find(|t| **t == tool)?)
    };
    Some((arch, tool))
}

fn file_name(path: &Path) -> Option<&str> {
    path.file_name().and_then(OsStr::to_str)
}

impl Invocation {
    /// Find out what we are from argv[0]'s file name, or from the executable's
    /// own path when argv[0] was set to something else.
    pub fn detect(argv0: &OsStr) -> Result<Invocation, Error> {
        let from_argv0 = file_name(Path::new(argv0)).and_then(|n| Some((n, parse(n)?)));
        if let Some((name, (arch, tool))) = from_argv0 {
            return Ok(Invocation {
                arch,
                tool,
                name: name.to_owned(),
            });
        }
        let exe = std::env::current_exe().ok();
        if let Some(name) = exe.as_deref().and_then(file_name) {
            if let Some((arch, tool)) = parse(name) {
                return Ok(Invocation {
                    arch,
                    tool,
                    name: name.to_owned(),
                });
            }
        }
        let shown = Path::new(argv0).display().to_string();
        Err(Error::config(format!(
            "cannot tell the target from the name '{shown}': expected \
             <x86_64|aarch64>-unikraft-ocaml-<cc|gcc|{}>",
            BINUTILS.join("|")
        ))
        .with_help("run the driver through the names the toolchain installs in <prefix>/bin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_installed_names() {
        let cases: &[(&str, Option<(Arch, Tool)>)] = &[
            ("x86_64-unikraft-ocaml-cc", Some((Arch::X86_64, Tool::Cc))),
            ("x86_64-unikraft-ocaml-gcc", Some((Arch::X86_64, Tool::Cc))),
            ("aarch64-unikraft-ocaml-cc", Some((Arch::Arm64, Tool::Cc))),
            (
                "aarch64-unikraft-ocaml-ranlib",
                Some((Arch::Arm64, Tool::Binutil("ranlib"))),
            ),
            (
                "x86_64-unikraft-ocaml-objcopy",
                Some((Arch::X86_64, Tool::Binutil("objcopy"))),
            ),
            ("arm64-unikraft-ocaml-cc", None),
            ("x86_64-unikraft-ocaml-c++", None),
            ("x86_64-unikraft-ocaml-", None),
            ("ocaml-unikraft-cc", None),
            ("x86_64-linux-gnu-gcc", None),
        ];
        for (name, want) in cases {
            assert_eq!(parse(name), *want, "{name}");
        }
    }
}
