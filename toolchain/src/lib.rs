//! The library of the toolchain crate, shared by its two programs and the
//! xtask: the backend descriptor format (`descriptor`), the architecture
//! and backend names, the layout of an installed prefix (`layout`), shell
//! quoting, ELF headers, PATH lookups and (feature `boot`) booting an image.
//!
//! The programs live under `src/bin/`: `ocaml-unikraft-cc`, the C driver
//! and binutils dispatcher installed as `<arch>-unikraft-ocaml-<tool>`, and
//! `ocaml-unikraft-run`, the runner (`boot::runner`, which `cargo xtask run`
//! shares).

pub mod arch;
pub mod backend;
#[cfg(feature = "boot")]
pub mod boot;
pub mod descriptor;
pub mod elf;
pub mod layout;
pub mod quote;
pub mod which;
