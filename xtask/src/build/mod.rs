//! The stages of `cargo xtask localbuild`, in the order they run.
//!
//! - [`sources`]: the pinned inputs: download, verify, cache, extract;
//! - [`backends`]: Unikraft bundles, one per backend and arch (beside the host tools);
//! - [`host`]: the host OCaml, ocamlfind and dune;
//! - [`install`]: the C driver and the bundles, staged and moved into the prefix;
//! - [`ocaml`]: the OCaml cross compilers, one per arch;
//! - [`findlib`]: the ocamlfind toolchains `unikraft` and `unikraft_<arch>`;
//! - [`localbuild`]: every stage above, in order.

pub mod backends;
pub mod findlib;
pub mod host;
pub mod install;
pub mod localbuild;
pub mod ocaml;
pub mod sources;
