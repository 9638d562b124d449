//! The part of the toolchain other crates use: the descriptor format and
//! the architecture names.

pub mod arch;
pub mod format;
