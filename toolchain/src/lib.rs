//! The part of the toolchain other crates use: the descriptor format.

pub mod format;
