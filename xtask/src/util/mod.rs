//! Machinery the stages share. Nothing here knows about Unikraft or OCaml.
//!
//! - [`cmd`]: long builds: logged, jobserver-aware, timed;
//! - [`probe`]: one-line commands whose output we read (xshell);
//! - [`step`]: stamps keyed by inputs, so a second run only redoes what changed;
//! - [`step_cache`]: steps' outputs kept under their keys, restored instead of rebuilt;
//! - [`fs`]: trees replaced whole, never left half-written;
//! - [`place`]: moving staged pieces into a prefix, all or none;
//! - [`lock`]: serialising concurrent runs on one cache or build directory;
//! - [`progress`]: what the user sees while work runs;
//! - [`ready`]: results posted by one thread and awaited by others.

pub(crate) mod cmd;
pub(crate) mod fs;
pub mod lock;
pub(crate) mod place;
pub(crate) mod probe;
pub(crate) mod progress;
pub(crate) mod ready;
pub(crate) mod step;
pub(crate) mod step_cache;
