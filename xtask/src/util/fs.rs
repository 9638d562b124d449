//! File-tree helpers shared by the stages.

use anyhow::{Context as _, Result};
use std::path::Path;

/// Fills a temporary directory beside `dest` with `fill`, then replaces
/// `dest` with it. With `unwrap`, a lone top-level directory (`ocaml-5.4.1/`)
/// becomes the tree.
pub(crate) fn install_tree(
    dest: &Path,
    unwrap: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let parent = dest
        .parent()
        .with_context(|| format!("{} has no parent directory", dest.display()))?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    fill(tmp.path())?;
    let root = match unwrap {
        true => single_subdirectory(tmp.path())?,
        false => None,
    }
    .unwrap_or_else(|| tmp.path().to_path_buf());
    remove_if_present(dest)?;
    std::fs::rename(&root, dest)
        .with_context(|| format!("moving {} to {}", root.display(), dest.display()))?;
    // `tmp` (now empty, or gone if it was the root) is removed on drop.
    Ok(())
}

/// Temporary trees start with this; any found under the build lock are
/// leftovers of an interrupted run.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

pub(crate) fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => return Ok(()),
    }
    .with_context(|| format!("removing {}", path.display()))
}

fn single_subdirectory(dir: &Path) -> Result<Option<std::path::PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    if entries.len() == 1 && entries[0].file_type()?.is_dir() {
        Ok(Some(entries.remove(0).path()))
    } else {
        Ok(None)
    }
}

/// The newest modification time below `dir` (nanoseconds since the epoch),
/// skipping `.git`: a cheap fingerprint of a tree someone may edit.
pub(crate) fn newest_mtime(dir: &Path) -> Result<u128> {
    let mut newest = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                if entry.file_name() != ".git" {
                    pending.push(entry.path());
                }
            } else if let Ok(modified) = meta.modified() {
                let nanos = modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                newest = newest.max(nanos);
            }
        }
    }
    Ok(newest)
}

/// The files below `dir` (symbolic links too, not followed), as paths
/// relative to it, sorted.
pub(crate) fn files_below(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![std::path::PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let here = dir.join(&relative);
        for entry in
            std::fs::read_dir(&here).with_context(|| format!("reading {}", here.display()))?
        {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            match entry.file_type()?.is_dir() {
                true => pending.push(path),
                false => files.push(path),
            }
        }
    }
    files.sort();
    Ok(files)
}

/// How [`copy_tree`] copies. The default makes real copies of every file
/// and keeps symbolic links as links: a tree a build will write into.
#[derive(Clone, Copy, Default)]
pub(crate) struct CopyOptions<'a> {
    /// Hard links instead of copies: instant, but only for files nobody
    /// modifies in place (staged outputs).
    pub(crate) hard_links: bool,
    /// Copies what symbolic links point to instead of the links, for a copy
    /// that must stand alone.
    pub(crate) follow_links: bool,
    /// Extensions of the files left out.
    pub(crate) skip_extensions: &'a [&'a str],
}

/// Copies the tree `source` to `dest`.
pub(crate) fn copy_tree(source: &Path, dest: &Path, how: &CopyOptions) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    for entry in
        std::fs::read_dir(source).with_context(|| format!("reading {}", source.display()))?
    {
        let entry = entry?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let kind = if how.follow_links {
            std::fs::metadata(&from)
                .with_context(|| format!("reading {}", from.display()))?
                .file_type()
        } else {
            entry.file_type()?
        };
        if kind.is_dir() {
            copy_tree(&from, &to, how)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)
                .with_context(|| format!("copying link {}", from.display()))?;
        } else if !from
            .extension()
            .is_some_and(|e| how.skip_extensions.iter().any(|skip| e == *skip))
        {
            copy_file(&from, &to, how)?;
        }
    }
    Ok(())
}

/// One file of [`copy_tree`]; a followed link is copied from its target,
/// so that a hard link is made to the file and not to the link.
fn copy_file(from: &Path, to: &Path, how: &CopyOptions) -> Result<()> {
    let from = if how.follow_links {
        std::fs::canonicalize(from).with_context(|| format!("resolving {}", from.display()))?
    } else {
        from.to_path_buf()
    };
    if !how.hard_links || std::fs::hard_link(&from, to).is_err() {
        std::fs::copy(&from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

pub(crate) fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

/// The sha256 of a file, as lowercase hex.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest as _;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// The sha256 of some bytes, as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn install_tree_unwraps_the_top_directory_and_replaces_the_old_tree() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("src/pkg-1.0");
        std::fs::create_dir_all(dest.join("stale")).unwrap();
        install_tree(&dest, true, |tmp| {
            std::fs::create_dir_all(tmp.join("pkg-1.0/lib"))?;
            Ok(())
        })
        .unwrap();
        assert!(dest.join("lib").is_dir());
        assert!(!dest.join("stale").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("src")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary directory left behind");
    }

    #[test]
    fn copy_tree_keeps_or_follows_links_and_skips_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        std::fs::create_dir_all(source.join("sub")).unwrap();
        std::fs::write(source.join("sub/a.h"), "header").unwrap();
        std::fs::write(source.join("sub/a.o"), "object").unwrap();
        std::os::unix::fs::symlink("sub", source.join("link")).unwrap();

        let kept = dir.path().join("kept");
        copy_tree(&source, &kept, &CopyOptions::default()).unwrap();
        assert!(kept.join("link").symlink_metadata().unwrap().is_symlink());
        assert!(kept.join("sub/a.o").is_file());

        let followed = dir.path().join("followed");
        let how = CopyOptions {
            hard_links: true,
            follow_links: true,
            skip_extensions: &["o"],
        };
        copy_tree(&source, &followed, &how).unwrap();
        let link = followed.join("link");
        assert!(!link.symlink_metadata().unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(link.join("a.h")).unwrap(), "header");
        assert!(!link.join("a.o").exists() && !followed.join("sub/a.o").exists());
    }

    #[test]
    fn files_below_lists_relative_paths_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/clock")).unwrap();
        for file in ["src/clock/dune", "dune-project", "src/dune"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let files = files_below(dir.path()).unwrap();
        assert_eq!(
            files,
            ["dune-project", "src/clock/dune", "src/dune"].map(std::path::PathBuf::from)
        );
    }

    #[test]
    fn failed_fill_leaves_the_old_tree_alone() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("pkg");
        std::fs::create_dir_all(dest.join("old")).unwrap();
        assert!(install_tree(&dest, true, |_| anyhow::bail!("interrupted")).is_err());
        assert!(dest.join("old").is_dir());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
