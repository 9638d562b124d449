//! The part of the toolchain other crates use: the descriptor format, the
//! architecture names and the backend names.

pub mod arch;
pub mod backend;
pub mod format;
