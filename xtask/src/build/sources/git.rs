//! Git sources: a bare repository per source in the cache holding the pinned
//! commit, exported into the build tree with `git archive`.
//!
//! The commit id is the verification: whatever a server or mirror sends, only
//! the exact pinned commit is ever checked out.

use super::extract;
use crate::util::cmd::Cmd;
use crate::util::probe::{self, cmd};
use anyhow::{bail, Context as _, Result};
use std::path::Path;

pub(crate) fn has_commit(repo: &Path, commit: &str) -> bool {
    let object = format!("{commit}^{{commit}}");
    repo.join("HEAD").exists()
        && probe::shell()
            .and_then(|sh| probe::read(cmd!(sh, "git --git-dir {repo} cat-file -e {object}")))
            .is_ok()
}

fn git(repo: &Path) -> Cmd {
    Cmd::new("git").arg("--git-dir").arg(repo)
}

/// Brings `commit` into the bare repository `repo` from the first location
/// that has it: by commit id (shallow) where the server allows, else through
/// the pinned tag, if any, which must point at the pinned commit.
pub(crate) fn fetch(
    repo: &Path,
    locations: &[String],
    tag: Option<&str>,
    commit: &str,
    verbose: bool,
) -> Result<()> {
    if !repo.join("HEAD").exists() {
        Cmd::new("git")
            .args(["init", "--quiet", "--bare"])
            .arg(repo)
            .read(verbose)
            .with_context(|| format!("creating the cache repository {}", repo.display()))?;
    }
    let mut tried = Vec::new();
    let shallow_fetch = |location: &str, refspec: &str| {
        git(repo)
            .args([
                "fetch",
                "--quiet",
                "--no-tags",
                "--depth",
                "1",
                location,
                refspec,
            ])
            .read(verbose)
    };
    for location in locations {
        let by_id = shallow_fetch(location, commit);
        if by_id.is_ok() && has_commit(repo, commit) {
            return Ok(());
        }
        let Some(tag) = tag else {
            let why = by_id.err().map_or("no such commit".into(), |err| {
                last_line(&err.to_string()).to_owned()
            });
            tried.push(format!("{location}: {why}"));
            continue;
        };
        let tag_ref = format!("+refs/tags/{tag}:refs/tags/{tag}");
        match shallow_fetch(location, &tag_ref) {
            Ok(_) if has_commit(repo, commit) => return Ok(()),
            Ok(_) => {
                let tagged = format!("refs/tags/{tag}^{{commit}}");
                let found = probe::shell()
                    .and_then(|sh| probe::read(cmd!(sh, "git --git-dir {repo} rev-parse {tagged}")))
                    .unwrap_or_default();
                tried.push(format!(
                    "{location}: tag {tag} is commit {}, but the pin is {commit}",
                    found.trim()
                ));
            }
            Err(err) => tried.push(format!("{location}: {}", last_line(&err.to_string()))),
        }
    }
    let tagged = tag.map_or(String::new(), |tag| format!(" (tag {tag})"));
    bail!(
        "could not fetch commit {commit}{tagged}; tried:\n  {}\nhelp: pass --mirror with a directory holding a clone, or point git at a local copy with `git config --global url.<copy>.insteadOf <url>`",
        tried.join("\n  ")
    )
}

/// Replaces `dest` with the tree of `commit`.
pub(crate) fn export(repo: &Path, commit: &str, dest: &Path, verbose: bool) -> Result<()> {
    crate::util::fs::install_tree(dest, false, |tmp| {
        let archive = git(repo)
            .args(["archive", "--format=tar", commit])
            .reader(verbose)?;
        extract::unpack_tar(archive, tmp)
    })
    .with_context(|| format!("exporting commit {commit} into {}", dest.display()))
}

/// Git's own explanation is the last thing it printed.
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
}
