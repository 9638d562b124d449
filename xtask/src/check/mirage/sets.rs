//! `tests/mirage/sets.toml`: which pinned source goes where, and the
//! duniverses made from them (a directory of links to the extracted trees,
//! which dune builds as vendored code).

use crate::build::sources::Source;
use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sets {
    pub(crate) host: HostSet,
    pub(crate) target: TargetSet,
    pub(crate) examples: Examples,
}

/// What builds the `mirage` tool.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct HostSet {
    pub(crate) sources: Vec<String>,
    /// The dune packages built and installed from them.
    pub(crate) packages: Vec<String>,
}

/// What the example unikernels build with.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetSet {
    pub(crate) sources: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Examples {
    pub(crate) source: String,
}

impl Sets {
    /// Reads `path` and checks it against the pins: every name is pinned,
    /// and every pin is used.
    pub(crate) fn load(path: &Path, pins: &[Source]) -> Result<Sets> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let sets: Sets = toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        sets.check(pins)
            .with_context(|| format!("in {}", path.display()))
    }

    fn check(self, pins: &[Source]) -> Result<Sets> {
        let named: Vec<&String> = self
            .host
            .sources
            .iter()
            .chain(&self.target.sources)
            .chain([&self.examples.source])
            .collect();
        for name in &named {
            if !pins.iter().any(|s| &&s.name == name) {
                bail!("'{name}' is not a source of sources.toml");
            }
        }
        if let Some(unused) = pins.iter().find(|s| !named.contains(&&s.name)) {
            bail!(
                "source '{}' of sources.toml is in no set\nhelp: add it to a set or remove its pin",
                unused.name
            );
        }
        Ok(self)
    }
}

/// Makes `<root>/duniverse` hold a link to each tree of `names` (given by
/// `tree_of`), named after its source, and, when `vendored`, the dune file
/// that marks them so; anything else there is removed. The host tool's
/// packages are not vendored: `dune build -p` must see them as packages.
pub(crate) fn make_duniverse(
    root: &Path,
    names: &[String],
    vendored: bool,
    tree_of: impl Fn(&str) -> PathBuf,
) -> Result<()> {
    let duniverse = root.join("duniverse");
    crate::util::fs::remove_if_present(&duniverse)?;
    std::fs::create_dir_all(&duniverse)
        .with_context(|| format!("creating {}", duniverse.display()))?;
    for name in names {
        std::os::unix::fs::symlink(tree_of(name), duniverse.join(name))
            .with_context(|| format!("linking {name} into {}", duniverse.display()))?;
    }
    if vendored {
        // Their warnings are not errors, their tests are not built.
        std::fs::write(duniverse.join("dune"), "(vendored_dirs *)\n")
            .with_context(|| format!("writing {}/dune", duniverse.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::sources::pins;

    fn tests_mirage() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mirage")
    }

    #[test]
    fn the_pinned_set_and_its_sets_agree() {
        let pins = pins::load(&tests_mirage().join("sources.toml")).unwrap();
        let sets = Sets::load(&tests_mirage().join("sets.toml"), &pins).unwrap();
        assert!(sets.host.packages.contains(&"mirage".to_string()));
        assert_eq!(sets.examples.source, "mirage-skeleton");
        for pin in &pins {
            if let Some(overlay) = &pin.overlay {
                assert!(
                    tests_mirage().join("../..").join(overlay).is_dir(),
                    "{overlay}"
                );
            }
        }
    }

    #[test]
    fn names_must_be_pinned_and_pins_used() {
        let pins = pins::parse(
            "[sources.a]\nversion = \"1\"\ngit = \"https://h/a.git\"\ncommit = \"0123456789012345678901234567890123456789\"\n",
        )
        .unwrap();
        let sets = |host: &str| -> Result<Sets> {
            toml::from_str::<Sets>(&format!(
                "[host]\nsources = [{host}]\npackages = []\n[target]\nsources = []\n[examples]\nsource = \"a\"\n"
            ))?
            .check(&pins)
        };
        assert!(sets("\"a\"").is_ok());
        let err = sets("\"b\"").unwrap_err().to_string();
        assert!(err.contains("'b' is not a source"), "{err}");
        let pins_b = pins::parse(
            "[sources.b]\nversion = \"1\"\ngit = \"https://h/b.git\"\ncommit = \"0123456789012345678901234567890123456789\"\n",
        )
        .unwrap();
        let all: Vec<Source> = pins.into_iter().chain(pins_b).collect();
        let unused = toml::from_str::<Sets>(
            "[host]\nsources = []\npackages = []\n[target]\nsources = []\n[examples]\nsource = \"a\"\n",
        )
        .unwrap()
        .check(&all)
        .unwrap_err();
        assert!(unused.to_string().contains("source 'b'"), "{unused}");
    }

    #[test]
    fn a_duniverse_links_the_trees_and_is_vendored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("duniverse/stale")).unwrap();
        make_duniverse(dir.path(), &["fmt".into()], true, |name| {
            PathBuf::from(format!("/src/{name}-1"))
        })
        .unwrap();
        let duniverse = dir.path().join("duniverse");
        assert_eq!(
            std::fs::read_link(duniverse.join("fmt")).unwrap(),
            Path::new("/src/fmt-1")
        );
        assert!(!duniverse.join("stale").exists());
        assert_eq!(
            std::fs::read_to_string(duniverse.join("dune")).unwrap(),
            "(vendored_dirs *)\n"
        );
    }
}
