//! `sources.toml`: what each input is and how to recognise the right bytes.

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) origin: Origin,
    /// Directory (relative to the repository) of patches applied, in file
    /// name order, after extraction.
    pub(crate) patches: Option<String>,
    /// Directory (relative to the repository) of files of ours copied over
    /// the tree after the patches (build files a source does not ship).
    pub(crate) overlay: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Tarball {
        urls: Vec<String>,
        sha256: String,
        /// False for tarballs another build consumes whole (musl).
        extract: bool,
    },
    Git {
        url: String,
        /// The release tag at `commit`; none when the pinned commit has no
        /// tag (then the server must serve it by id).
        tag: Option<String>,
        commit: String,
    },
}

impl Source {
    /// `ocaml 5.4.1`: how the tool names a source in its output.
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    /// The file name mirrors and the cache use: the last component of the
    /// first upstream URL (`ocaml-5.4.1.tar.xz`, `unikraft.git`).
    pub(crate) fn file_name(&self) -> &str {
        let url = match &self.origin {
            Origin::Tarball { urls, .. } => &urls[0],
            Origin::Git { url, .. } => url,
        };
        url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
    }

    /// `ocaml 5.4.1 tarball ocaml-5.4.1.tar.xz`: what `downloads --list`
    /// prints. [`parse`] makes sure no field holds a space.
    pub(crate) fn list_line(&self) -> String {
        let kind = match self.origin {
            Origin::Tarball { .. } => "tarball",
            Origin::Git { .. } => "git",
        };
        format!("{} {} {kind} {}", self.name, self.version, self.file_name())
    }

    /// The identity a stamp records: the extracted tree is trusted only for it.
    pub(crate) fn identity(&self) -> String {
        match &self.origin {
            Origin::Tarball { sha256, .. } => format!("sha256:{sha256}"),
            Origin::Git { commit, .. } => format!("git:{commit}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinFile {
    sources: BTreeMap<String, RawPin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    sha256: Option<String>,
    extract: Option<bool>,
    git: Option<String>,
    tag: Option<String>,
    commit: Option<String>,
    patches: Option<String>,
    overlay: Option<String>,
}

pub(crate) fn load(path: &Path) -> Result<Vec<Source>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("in pin file {}", path.display()))
}

pub(crate) fn parse(text: &str) -> Result<Vec<Source>> {
    let file: PinFile = toml::from_str(text)?;
    file.sources
        .into_iter()
        .map(|(name, pin)| {
            let origin = origin(&pin).with_context(|| format!("source '{name}'"))?;
            let source = Source {
                name,
                version: pin.version,
                origin,
                patches: pin.patches,
                overlay: pin.overlay,
            };
            // They name directories and files, and are the fields of
            // `downloads --list`.
            for (what, text) in [
                ("name", source.name.as_str()),
                ("version", &source.version),
                ("file name", source.file_name()),
            ] {
                if text.is_empty() || text.contains(char::is_whitespace) {
                    bail!(
                        "source '{}': the {what} '{text}' is empty or holds a space",
                        source.name
                    );
                }
            }
            Ok(source)
        })
        .collect()
}

fn origin(pin: &RawPin) -> Result<Origin> {
    match (&pin.git, &pin.sha256) {
        (Some(url), None) => {
            let Some(commit) = &pin.commit else {
                bail!("a git source needs `commit` (and `tag` when the commit has one)");
            };
            if commit.len() != 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("`commit` must be a full 40-digit commit id, not '{commit}'");
            }
            if !pin.urls.is_empty() || pin.extract.is_some() {
                bail!("a git source takes `git`, `tag` and `commit` only");
            }
            Ok(Origin::Git {
                url: url.clone(),
                tag: pin.tag.clone(),
                commit: commit.to_ascii_lowercase(),
            })
        }
        (None, Some(sha256)) => {
            if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!("`sha256` must be 64 hex digits, not '{sha256}'");
            }
            if pin.urls.is_empty() {
                bail!("a tarball source needs at least one URL in `urls`");
            }
            if pin.tag.is_some() || pin.commit.is_some() {
                bail!("`tag` and `commit` belong to git sources");
            }
            Ok(Origin::Tarball {
                urls: pin.urls.clone(),
                sha256: sha256.to_ascii_lowercase(),
                extract: pin.extract.unwrap_or(true),
            })
        }
        _ => bail!("give either `sha256` and `urls` (a tarball) or `git`, `commit` and `tag`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_pins_parse() {
        let sources = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../sources.toml")).unwrap();
        let names: Vec<_> = sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["dune", "findlib", "lib-musl", "musl", "ocaml", "unikraft"]
        );
        let ocaml = sources.iter().find(|s| s.name == "ocaml").unwrap();
        assert_eq!(ocaml.file_name(), "ocaml-5.4.1.tar.xz");
        assert_eq!(ocaml.list_line(), "ocaml 5.4.1 tarball ocaml-5.4.1.tar.xz");
        let unikraft = sources.iter().find(|s| s.name == "unikraft").unwrap();
        assert_eq!(unikraft.list_line(), "unikraft 0.17.0 git unikraft.git");
        assert_eq!(unikraft.file_name(), "unikraft.git");
        assert_eq!(
            unikraft.identity(),
            "git:484ff209a5265bc4b2366041f149534922d0e5c8"
        );
    }

    #[test]
    fn malformed_pins_are_rejected_with_the_source_named() {
        let short_hash =
            "[sources.x]\nversion = \"1\"\nurls = [\"http://h/x.tar.gz\"]\nsha256 = \"abc\"\n";
        let err = format!("{:#}", parse(short_hash).unwrap_err());
        assert!(
            err.contains("source 'x'") && err.contains("64 hex digits"),
            "{err}"
        );
        let both = "[sources.y]\nversion = \"1\"\ngit = \"u\"\nsha256 = \"a\"\n";
        assert!(parse(both).is_err());
        let short_commit =
            "[sources.z]\nversion = \"1\"\ngit = \"u\"\ntag = \"t\"\ncommit = \"abc\"\n";
        assert!(format!("{:#}", parse(short_commit).unwrap_err()).contains("40-digit"));
        let spaced_version = "[sources.w]\nversion = \"1 beta\"\ngit = \"u\"\ntag = \"t\"\ncommit = \"0123456789012345678901234567890123456789\"\n";
        assert!(format!("{:#}", parse(spaced_version).unwrap_err())
            .contains("the version '1 beta' is empty or holds a space"));
    }
}
