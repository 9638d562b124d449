//! The part of the toolchain other crates use: the descriptor format, the
//! architecture and backend names, the layout of an installed prefix,
//! shell quoting, ELF headers, PATH lookups and (feature `boot`) booting an
//! image: `ocaml-unikraft-run`, which `cargo xtask run` shares.

pub mod arch;
pub mod backend;
#[cfg(feature = "boot")]
pub mod boot;
pub mod elf;
pub mod format;
pub mod installed;
pub mod quote;
pub mod which;
