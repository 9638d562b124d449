//! An entry's archive: a step's output files as a gzip'd tar named by its
//! sha256, and their extraction with the paths they record moved to where
//! they are restored.

use crate::util::fs;
use anyhow::{Context as _, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Archives `files` (relative to `dir`) into directory `cas`, as
/// `cas/<sha256 of the archive>`: that sha256, and the archive's size.
pub(super) fn pack(dir: &Path, files: &[PathBuf], cas: &Path) -> Result<(String, u64)> {
    std::fs::create_dir_all(cas).with_context(|| format!("creating {}", cas.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(cas)
        .with_context(|| format!("creating a file in {}", cas.display()))?;
    let mut hashing = HashingWriter::new(std::io::BufWriter::new(tmp.as_file()));
    {
        let gzip = flate2::write::GzEncoder::new(&mut hashing, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gzip);
        tar.follow_symlinks(false);
        for file in files {
            tar.append_path_with_name(dir.join(file), file)
                .with_context(|| format!("archiving {}", dir.join(file).display()))?;
        }
        tar.into_inner()?.finish()?;
    }
    let (sha256, size) = hashing.finish()?;
    let archive = cas.join(&sha256);
    tmp.persist(&archive)
        .with_context(|| format!("writing {}", archive.display()))?;
    Ok((sha256, size))
}

/// Extracts `archive` into `dir`, each path in `moves` rewritten to its
/// new place where the outputs record it ([`relocate`]).
pub(super) fn unpack(archive: &Path, dir: &Path, moves: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
    let file =
        std::fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    tar.set_preserve_mtime(true);
    tar.set_preserve_permissions(true);
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let dest = dir.join(&path);
        let kind = entry.header().entry_type();
        if moves.is_empty() || !(kind.is_file() || kind.is_symlink()) {
            fs::create_parent(&dest)?;
            entry
                .unpack(&dest)
                .with_context(|| format!("extracting {}", dest.display()))?;
            continue;
        }
        if kind.is_symlink() {
            let target = entry.link_name()?.context("a link without target")?;
            let target = relocate(target.as_os_str().as_encoded_bytes(), moves, false);
            fs::create_parent(&dest)?;
            fs::remove_if_present(&dest)?;
            // SAFETY: the bytes came from an OsStr, with at most a path
            // that came from one replaced in them.
            let target = unsafe { std::ffi::OsStr::from_encoded_bytes_unchecked(&target) };
            std::os::unix::fs::symlink(target, &dest)
                .with_context(|| format!("linking {}", dest.display()))?;
            continue;
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content)?;
        let content = relocate(&content, moves, true);
        fs::create_parent(&dest)?;
        std::fs::write(&dest, &content).with_context(|| format!("writing {}", dest.display()))?;
        use std::os::unix::fs::PermissionsExt as _;
        let mode = entry.header().mode()?;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))?;
        if let Ok(mtime) = entry.header().mtime() {
            let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime);
            std::fs::File::options()
                .write(true)
                .open(&dest)
                .and_then(|f| f.set_modified(mtime))
                .with_context(|| format!("dating {}", dest.display()))?;
        }
    }
    Ok(())
}

/// `content` with each old path of `moves` replaced by its new one, where
/// a restored installation reads it: in the part before the first NUL
/// byte, which is all of a text file and the two lines of OCaml's
/// `runtime-launch-info`, and only the first line of a `#!` program (a
/// bytecode program is read from its end: its header may change length).
/// Binary files (compiled code, archives) are left alone: the paths they
/// hold are debugging information, or found anew at run time.
fn relocate(content: &[u8], moves: &[(Vec<u8>, Vec<u8>)], is_file: bool) -> Vec<u8> {
    let mut end = content
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(content.len());
    if is_file && content.starts_with(b"#!") {
        end = end.min(content.iter().position(|&b| b == b'\n').unwrap_or(end));
    }
    let (head, tail) = content.split_at(end);
    let mut head = head.to_vec();
    for (old, new) in moves {
        head = replace(&head, old, new);
    }
    head.extend_from_slice(tail);
    head
}

fn replace(haystack: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(old.len()).position(|w| w == old) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(new);
        rest = &rest[at + old.len()..];
    }
    out.extend_from_slice(rest);
    out
}

pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::create_parent(path)?;
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    tmp.write_all(bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Counts and hashes what goes through it.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: sha2::Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        use sha2::Digest as _;
        HashingWriter {
            inner,
            hasher: sha2::Sha256::new(),
            size: 0,
        }
    }

    fn finish(mut self) -> Result<(String, u64)> {
        use sha2::Digest as _;
        self.inner.flush()?;
        Ok((fs::hex(&self.hasher.finalize()), self.size))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
