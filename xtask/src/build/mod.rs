//! The stages of `cargo xtask localbuild`, in the order they run.
//!
//! - [`sources`]: the pinned inputs: download, verify, cache, extract;
//! - [`ccache`]: the compile cache every C compile goes through, when installed;
//! - [`backends`]: Unikraft bundles, one per backend and arch (beside the host tools);
//! - [`host`]: the host OCaml, ocamlfind and dune;
//! - [`install`]: the C driver and the bundles, staged and moved into the prefix;
//! - [`ocaml`]: the OCaml cross compilers, one per arch;
//! - [`findlib`]: the ocamlfind toolchains `unikraft` and `unikraft_<arch>`;
//! - [`dest`]: where an installation is written (its prefix, or a staging
//!   copy of it);
//! - [`localbuild`]: every stage above, in order;
//! - [`opam`]: `install --opam`, the installation as opam packages of a
//!   switch.

pub(crate) mod backends;
pub(crate) mod ccache;
pub(crate) mod dest;
pub(crate) mod findlib;
pub(crate) mod host;
pub(crate) mod install;
pub(crate) mod localbuild;
pub(crate) mod ocaml;
pub(crate) mod opam;
pub mod sources;
