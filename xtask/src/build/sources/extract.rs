//! Unpacking archives without trusting them.
//!
//! Every entry is checked before it is written: no absolute paths, no `..`
//! that climbs out, no link pointing outside the tree, no device files. A tree
//! is unpacked into a temporary directory beside its destination and renamed
//! into place only when complete, so an interrupted run never leaves a half
//! tree under the final name.

use crate::util::fs;
use anyhow::{bail, Context as _, Result};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path};
use tar::EntryType;

/// Unpacks the tarball at `archive` (compression chosen by its name) so that
/// `dest` holds its contents, without the single top-level directory most
/// release tarballs have.
pub(crate) fn unpack_tarball(archive: &Path, dest: &Path) -> Result<()> {
    let name = archive.to_string_lossy();
    let file = BufReader::new(
        File::open(archive).with_context(|| format!("opening {}", archive.display()))?,
    );
    let reader: Box<dyn Read> = if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if name.ends_with(".tar.xz") {
        Box::new(xz2::read::XzDecoder::new(file))
    } else if name.ends_with(".tar") {
        Box::new(file)
    } else {
        bail!(
            "{}: unknown archive format (expected .tar.gz, .tgz, .tar.xz or .tar)",
            archive.display()
        );
    };
    fs::install_tree(dest, true, |tmp| unpack_tar(reader, tmp))
        .with_context(|| format!("unpacking {}", archive.display()))
}

/// Unpacks a tar stream into the existing directory `dest`, refusing any
/// entry that would land outside it.
pub(crate) fn unpack_tar(reader: impl Read, dest: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let path = entry.path().context("reading an entry name")?.into_owned();
        match entry.header().entry_type() {
            // Metadata of the archive itself (git archive writes the commit id here).
            EntryType::XGlobalHeader => continue,
            EntryType::Regular | EntryType::Continuous | EntryType::Directory => {
                check_inside(&path, Path::new(""), &path)?;
            }
            EntryType::Symlink => {
                let target = link_target(&entry, &path)?;
                let base = path.parent().unwrap_or(Path::new(""));
                check_inside(&target, base, &path)?;
            }
            EntryType::Link => {
                let target = link_target(&entry, &path)?;
                check_inside(&target, Path::new(""), &path)?;
            }
            other => bail!("{}: refusing entry of type {other:?}", path.display()),
        }
        check_inside(&path, Path::new(""), &path)?;
        entry
            .unpack_in(dest)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn link_target<R: Read>(entry: &tar::Entry<R>, path: &Path) -> Result<std::path::PathBuf> {
    Ok(entry
        .link_name()
        .with_context(|| format!("reading the link target of {}", path.display()))?
        .with_context(|| format!("{}: link without a target", path.display()))?
        .into_owned())
}

/// Fails unless `path`, taken relative to `base` (itself relative to the
/// archive root), stays inside the archive root.
fn check_inside(path: &Path, base: &Path, entry: &Path) -> Result<()> {
    let mut depth: usize = 0;
    for component in base.components().chain(path.components()) {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth.checked_sub(1).with_context(|| {
                    format!(
                        "{}: refusing entry that escapes the destination",
                        entry.display()
                    )
                })?;
            }
            Component::RootDir | Component::Prefix(_) => {
                bail!("{}: refusing entry with an absolute path", entry.display())
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap()
    }

    fn file(builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_entry_type(EntryType::Regular);
        // set_path refuses `..`; write the raw name to build hostile archives.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    fn link(builder: &mut tar::Builder<Vec<u8>>, kind: EntryType, path: &str, target: &str) {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(kind);
        let old = header.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        old.linkname[..target.len()].copy_from_slice(target.as_bytes());
        header.set_cksum();
        builder.append(&header, &[][..]).unwrap();
    }

    fn unpack(bytes: &[u8]) -> (tempfile::TempDir, Result<()>) {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        let result = unpack_tar(bytes, &dest);
        (dir, result)
    }

    #[test]
    fn ordinary_tree_unpacks_with_modes_and_inner_links() {
        let bytes = tar_with(|b| {
            file(b, "pkg/configure", b"#!/bin/sh\n");
            link(b, EntryType::Symlink, "pkg/sub/cfg", "../configure");
        });
        let (dir, result) = unpack(&bytes);
        result.unwrap();
        let configure = dir.path().join("out/pkg/configure");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&configure).unwrap().permissions().mode() & 0o111,
            0o111
        );
        assert_eq!(
            std::fs::read(dir.path().join("out/pkg/sub/cfg")).unwrap(),
            b"#!/bin/sh\n"
        );
    }

    #[test]
    fn escaping_entries_are_refused() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("dotdot", tar_with(|b| file(b, "pkg/../../evil", b"x"))),
            ("absolute", tar_with(|b| file(b, "/tmp/evil", b"x"))),
            (
                "symlink out",
                tar_with(|b| link(b, EntryType::Symlink, "pkg/l", "../../etc")),
            ),
            (
                "absolute symlink",
                tar_with(|b| link(b, EntryType::Symlink, "pkg/l", "/etc/passwd")),
            ),
            (
                "hard link out",
                tar_with(|b| link(b, EntryType::Link, "pkg/h", "../outside")),
            ),
        ];
        for (what, bytes) in cases {
            let (dir, result) = unpack(&bytes);
            let err = format!("{:#}", result.expect_err(what));
            assert!(err.contains("refusing"), "{what}: {err}");
            assert!(!dir.path().join("evil").exists(), "{what}");
        }
    }
}
