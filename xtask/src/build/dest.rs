//! Where an installation is written.
//!
//! Its files name the prefix they are for (the cross compilers record
//! their library directory, the ocamlfind toolchains their paths), but they
//! need not be written there: `cargo xtask install --opam` writes them into
//! a staging copy of the prefix in the build tree, from which opam packages
//! copy them into the switch, so that opam knows every file it holds.

use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dest {
    prefix: PathBuf,
    root: PathBuf,
}

impl Dest {
    /// Written into the prefix itself.
    pub(crate) fn direct(prefix: &Path) -> Dest {
        Dest {
            prefix: prefix.to_path_buf(),
            root: prefix.to_path_buf(),
        }
    }

    /// Written into `root`, which stands for `prefix` (`root/bin` is to
    /// become `prefix/bin`).
    pub(crate) fn staged(prefix: &Path, root: &Path) -> Dest {
        Dest {
            prefix: prefix.to_path_buf(),
            root: root.to_path_buf(),
        }
    }

    /// The prefix the files are for: the paths written inside them.
    pub(crate) fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The directory the files are written into, laid out as the prefix.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn is_staged(&self) -> bool {
        self.prefix != self.root
    }

    /// Where `path`, a path in the prefix, is written.
    pub(crate) fn written(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.prefix) {
            Ok(relative) => self.root.join(relative),
            Err(_) => path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_destination_maps_prefix_paths_into_its_root() {
        let dest = Dest::staged(Path::new("/sw"), Path::new("/b/opam/root"));
        assert!(dest.is_staged());
        assert_eq!(
            dest.written(Path::new("/sw/lib/ocaml-unikraft-x86_64")),
            Path::new("/b/opam/root/lib/ocaml-unikraft-x86_64")
        );
        let direct = Dest::direct(Path::new("/sw"));
        assert!(!direct.is_staged());
        assert_eq!(direct.written(Path::new("/sw/bin")), Path::new("/sw/bin"));
    }
}
