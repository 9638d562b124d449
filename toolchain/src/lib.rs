//! The part of the toolchain other crates use: the descriptor format, the
//! architecture and backend names, the layout of an installed prefix and
//! shell quoting.

pub mod arch;
pub mod backend;
pub mod format;
pub mod installed;
pub mod quote;
