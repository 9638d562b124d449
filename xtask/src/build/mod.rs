//! The stages of `cargo xtask localbuild`, in the order they run.
//!
//! - [`sources`]: the pinned inputs: download, verify, cache, extract;
//! - [`backends`]: Unikraft bundles, one per backend and arch (beside the host tools);
//! - [`host`]: the host OCaml, ocamlfind and dune;
//! - [`install`]: the C driver and the bundles, staged and moved into the prefix;
//! - [`ocaml`]: the OCaml cross compilers, one per arch;
//! - [`findlib`]: the ocamlfind toolchains `unikraft` and `unikraft_<arch>`;
//! - [`localbuild`]: every stage above, in order.

pub(crate) mod backends;
pub(crate) mod findlib;
pub(crate) mod host;
pub(crate) mod install;
pub(crate) mod localbuild;
pub(crate) mod ocaml;
pub mod sources;
