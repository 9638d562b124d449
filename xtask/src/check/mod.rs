//! Whether the result works, and how well.
//!
//! - [`doctor`]: the host's prerequisites, with package names;
//! - [`localtests`]: examples built and booted on every installed bundle;
//! - [`mirage`]: MirageOS unikernels built with the installed toolchain and
//!   booted;
//! - [`ocaml_tests`]: OCaml's own testsuite programs, built with the
//!   installed cross compilers and booted;
//! - [`bench`]: the figures users choose a toolchain by, against goals.
//!
//! What they share:
//!
//! - [`table`]: the rows of tests and the table they print;
//! - [`smoke`]: the C smoke programs, linked with the installed driver;
//! - [`boots`]: which bundles can boot here, and why not (the KVM probe).

pub(crate) mod bench;
pub(crate) mod boots;
pub(crate) mod doctor;
pub(crate) mod localtests;
pub(crate) mod mirage;
pub(crate) mod ocaml_tests;
pub(crate) mod smoke;
pub(crate) mod table;
