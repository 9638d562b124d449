//! Whether the result works, and how well.
//!
//! - [`doctor`]: the host's prerequisites, with package names;
//! - [`localtests`]: examples built and booted on every installed bundle;
//! - [`bench`]: the figures users choose a toolchain by, against goals.

pub mod bench;
pub mod doctor;
pub mod localtests;
