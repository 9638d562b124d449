//! The descriptor format (`backend.json`): what the xtask writes for each
//! backend bundle and the C driver reads. One definition serves both, so
//! they cannot drift apart.

use serde::{Deserialize, Serialize};

/// The descriptor format version written and read.
pub const FORMAT: u64 = 1;

/// `backend.json`, format 1. Unknown fields are rejected: a descriptor this
/// driver does not fully understand must not be half-applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    pub format: u64,
    /// Backend name, e.g. `qemu`.
    pub backend: String,
    /// Unikraft arch: `x86_64` or `arm64`.
    pub arch: String,
    /// The C compiler to run, e.g. `gcc` or `aarch64-linux-gnu-gcc`.
    pub cc: String,
    /// Binutils prefix, `""` or e.g. `aarch64-linux-gnu-`.
    pub tool_prefix: String,
    pub compile_flags: Vec<String>,
    /// Link-only flags, placed before the objects.
    pub link_flags: Vec<String>,
    pub link_objects_before: Vec<String>,
    /// Placed after the caller's objects and libraries.
    pub link_objects_after: Vec<String>,
    /// Commands (argv lists) run in order after an explicit-backend link.
    pub post_link: Vec<Vec<String>>,
}
