//! The step cache: what a step built (a host tool's installation, a cross
//! compiler, a bundle), archived under its stamp key, so that a rebuilt
//! tree, a fresh clone or another machine restores it instead of building
//! it again.
//!
//! An entry is two files, laid out the same way in the local directory and
//! in a remote store (a directory, or an HTTP server taking GET and PUT,
//! such as a WebDAV share or bazel-remote):
//! - `ac/<sha256 of the key>`: a small JSON manifest naming the archive,
//!   its size and the paths it was built at;
//! - `cas/<sha256 of the archive>`: the outputs, a gzip'd tar.
//!
//! An archive is used only if its bytes hash to its name: a corrupt or
//! truncated entry is deleted and the step builds. A build whose outputs
//! record absolute paths (OCaml records its prefix) is keyed with those
//! paths replaced by placeholders, and restored elsewhere by rewriting
//! them: in text files, in the `#!` line of bytecode programs and in
//! OCaml's `runtime-launch-info`; compiled programs find their library
//! relative to themselves (`ocaml-patches/5.4.1/0004-*`).

use crate::util::fs;
use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Part of every key: bump it when the archive format or the manifest
/// changes, so that old entries are not read as new ones.
const FORMAT: &str = "step-cache 1";

/// The local directory's size limit; the least recently used archives go
/// first beyond it.
const MAX_LOCAL_BYTES: u64 = 10 << 30;

pub(crate) struct StepCache {
    local: PathBuf,
    remote: Option<Remote>,
    /// Read the remote store, never write it (`URL|read-only`).
    read_only: bool,
    /// What the outputs run on, part of every entry's name: a shared store
    /// must not give one machine's host tools to another kind of machine.
    host: String,
}

/// Where a team shares entries.
enum Remote {
    Dir(PathBuf),
    Http {
        base: String,
        client: reqwest::blocking::Client,
    },
}

/// What a step leaves for the cache.
#[derive(Clone)]
pub(crate) struct Outputs {
    pub(crate) dir: PathBuf,
    pub(crate) kind: OutputKind,
    /// Absolute paths the outputs record, each with the placeholder that
    /// stands for it in the key (`${host}`): a build elsewhere restores
    /// them with its own paths.
    pub(crate) roots: Vec<(&'static str, PathBuf)>,
}

#[derive(Clone, Copy)]
pub(crate) enum OutputKind {
    /// The directory is the step's alone: restoring replaces it.
    Whole,
    /// Other steps install into the directory too: the entry holds what
    /// this step added or changed, and restoring adds it.
    Added,
}

/// The files of a directory before a step ran ([`OutputKind::Added`]).
pub(crate) struct Snapshot(BTreeMap<PathBuf, (u64, SystemTime)>);

#[derive(Serialize, Deserialize)]
struct Manifest {
    step: String,
    archive_sha256: String,
    size: u64,
    /// The paths the outputs were built at, by placeholder.
    roots: BTreeMap<String, PathBuf>,
}

impl StepCache {
    /// `remote` is a directory (`file:DIR`, or a path) or an `http(s)://`
    /// URL, followed by `|read-only` for a store this build must not write.
    pub(crate) fn new(local: PathBuf, remote: Option<&str>) -> Result<StepCache> {
        let (remote, read_only) = match remote.map(|r| r.strip_suffix("|read-only")) {
            Some(Some(url)) => (Some(url), true),
            _ => (remote, false),
        };
        let remote = match remote.filter(|r| !r.is_empty()) {
            None => None,
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                let client = reqwest::blocking::Client::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .timeout(None)
                    .build()
                    .context("setting up the HTTP client of the step cache")?;
                Some(Remote::Http {
                    base: url.trim_end_matches('/').to_owned(),
                    client,
                })
            }
            Some(other) => {
                let path = other
                    .strip_prefix("file://")
                    .or(other.strip_prefix("file:"));
                let path = PathBuf::from(path.unwrap_or(other));
                if !path.is_absolute() {
                    bail!("the step cache's remote store {other} is neither an http(s):// URL nor an absolute directory");
                }
                Some(Remote::Dir(path))
            }
        };
        Ok(StepCache {
            local,
            remote,
            read_only,
            host: host_identity(),
        })
    }

    pub(crate) fn describe(&self) -> String {
        let remote = match &self.remote {
            None => return format!("{}", self.local.display()),
            Some(Remote::Dir(dir)) => dir.display().to_string(),
            Some(Remote::Http { base, .. }) => without_password(base),
        };
        let how = if self.read_only {
            "read-only"
        } else {
            "read and written"
        };
        format!("{}, and {remote} ({how})", self.local.display())
    }

    /// Restores the outputs of `step` built for `key`, if an entry holds
    /// them; false when none does or it was unusable (then the step builds).
    pub(crate) fn restore(&self, step: &str, key: &str, outputs: &Outputs) -> Result<bool> {
        let id = self.entry_id(key, outputs);
        let Some(manifest) = self.manifest(&id)? else {
            return Ok(false);
        };
        let archive = self.local.join("cas").join(&manifest.archive_sha256);
        if !archive.exists() && !self.download(&manifest.archive_sha256, &archive)? {
            return Ok(false);
        }
        if fs::sha256_file(&archive)? != manifest.archive_sha256 {
            crate::util::progress::say(
                step,
                "the step cache's entry is corrupt: removed, building instead",
            );
            fs::remove_if_present(&archive)?;
            fs::remove_if_present(&self.local.join("ac").join(&id))?;
            return Ok(false);
        }
        // Recently used: the last to be evicted.
        let _ = std::fs::File::open(&archive).and_then(|f| f.set_modified(SystemTime::now()));
        let moves: Vec<(Vec<u8>, Vec<u8>)> = outputs
            .roots
            .iter()
            .filter_map(|(placeholder, now)| {
                let then = manifest.roots.get(*placeholder)?;
                (then != now).then(|| (bytes(then), bytes(now)))
            })
            .collect();
        match outputs.kind {
            OutputKind::Whole => {
                fs::install_tree(&outputs.dir, false, |tmp| unpack(&archive, tmp, &moves))?
            }
            OutputKind::Added => {
                std::fs::create_dir_all(&outputs.dir)
                    .with_context(|| format!("creating {}", outputs.dir.display()))?;
                unpack(&archive, &outputs.dir, &moves)?
            }
        }
        Ok(true)
    }

    /// Archives the outputs of `step`, built for `key` (the files added
    /// since `before` for [`OutputKind::Added`]), locally and in the
    /// remote store.
    pub(crate) fn store(
        &self,
        step: &str,
        key: &str,
        outputs: &Outputs,
        before: Option<&Snapshot>,
    ) -> Result<()> {
        let cas = self.local.join("cas");
        std::fs::create_dir_all(&cas).with_context(|| format!("creating {}", cas.display()))?;
        let tmp = tempfile::NamedTempFile::new_in(&cas)
            .with_context(|| format!("creating a file in {}", cas.display()))?;
        let files = match before {
            Some(before) => before.added(&outputs.dir)?,
            None => fs::files_below(&outputs.dir)?,
        };
        let mut hashing = HashingWriter::new(std::io::BufWriter::new(tmp.as_file()));
        {
            let gzip = flate2::write::GzEncoder::new(&mut hashing, flate2::Compression::fast());
            let mut tar = tar::Builder::new(gzip);
            tar.follow_symlinks(false);
            for file in &files {
                tar.append_path_with_name(outputs.dir.join(file), file)
                    .with_context(|| format!("archiving {}", outputs.dir.join(file).display()))?;
            }
            tar.into_inner()?.finish()?;
        }
        let (sha256, size) = hashing.finish()?;
        let archive = cas.join(&sha256);
        tmp.persist(&archive)
            .with_context(|| format!("writing {}", archive.display()))?;
        let manifest = Manifest {
            step: step.to_owned(),
            archive_sha256: sha256,
            size,
            roots: outputs
                .roots
                .iter()
                .map(|(placeholder, path)| (placeholder.to_string(), path.clone()))
                .collect(),
        };
        let id = self.entry_id(key, outputs);
        let text = serde_json::to_vec_pretty(&manifest)?;
        write_atomically(&self.local.join("ac").join(&id), &text)?;
        self.upload(&id, &text, &manifest.archive_sha256, &archive)?;
        self.evict()
    }

    /// The manifest of entry `id`, local or else remote (then kept locally).
    fn manifest(&self, id: &str) -> Result<Option<Manifest>> {
        let local = self.local.join("ac").join(id);
        let text = match std::fs::read(&local) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(text) = self.fetch(&format!("ac/{id}"))? else {
                    return Ok(None);
                };
                write_atomically(&local, &text)?;
                text
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", local.display())),
        };
        // An unreadable manifest is a miss, not an error: the build
        // replaces it.
        Ok(serde_json::from_slice(&text).ok())
    }

    /// The bytes at `path` in the remote store; none when it has none.
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match &self.remote {
            None => Ok(None),
            Some(Remote::Dir(dir)) => match std::fs::read(dir.join(path)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {}", dir.join(path).display())),
            },
            Some(Remote::Http { base, client }) => {
                let url = format!("{base}/{path}");
                let response = client
                    .get(&url)
                    .send()
                    .with_context(|| format!("GET {url}"))?;
                match response.status() {
                    reqwest::StatusCode::NOT_FOUND => Ok(None),
                    status if status.is_success() => Ok(Some(
                        response
                            .bytes()
                            .with_context(|| format!("GET {url}"))?
                            .to_vec(),
                    )),
                    status => bail!("GET {url}: {status}"),
                }
            }
        }
    }

    /// Copies archive `sha256` from the remote store to `dest`; false when
    /// the store does not have it.
    fn download(&self, sha256: &str, dest: &Path) -> Result<bool> {
        let path = format!("cas/{sha256}");
        let parent = dest.parent().context("an archive has a directory")?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        match &self.remote {
            None => return Ok(false),
            Some(Remote::Dir(dir)) => match std::fs::File::open(dir.join(&path)) {
                Ok(mut file) => {
                    std::io::copy(&mut file, &mut tmp)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e).context(format!("reading {}", dir.join(&path).display())),
            },
            Some(Remote::Http { base, client }) => {
                let url = format!("{base}/{path}");
                let mut response = client
                    .get(&url)
                    .send()
                    .with_context(|| format!("GET {url}"))?;
                match response.status() {
                    reqwest::StatusCode::NOT_FOUND => return Ok(false),
                    status if status.is_success() => {
                        response
                            .copy_to(&mut tmp)
                            .with_context(|| format!("GET {url}"))?;
                    }
                    status => bail!("GET {url}: {status}"),
                }
            }
        }
        tmp.persist(dest)
            .with_context(|| format!("writing {}", dest.display()))?;
        Ok(true)
    }

    /// Puts an entry in the remote store: the archive first, so that a
    /// manifest there always has its archive.
    fn upload(&self, id: &str, manifest: &[u8], sha256: &str, archive: &Path) -> Result<()> {
        match &self.remote {
            None => Ok(()),
            Some(_) if self.read_only => Ok(()),
            Some(Remote::Dir(dir)) => {
                let dest = dir.join("cas").join(sha256);
                if !dest.exists() {
                    fs::create_parent(&dest)?;
                    let tmp = tempfile::NamedTempFile::new_in(dest.parent().unwrap_or(dir))?;
                    std::fs::copy(archive, tmp.path())
                        .with_context(|| format!("copying {}", archive.display()))?;
                    tmp.persist(&dest)
                        .with_context(|| format!("writing {}", dest.display()))?;
                }
                write_atomically(&dir.join("ac").join(id), manifest)
            }
            Some(Remote::Http { base, client }) => {
                let put = |path: String, body: reqwest::blocking::Body| -> Result<()> {
                    let url = format!("{base}/{path}");
                    let status = client
                        .put(&url)
                        .body(body)
                        .send()
                        .with_context(|| format!("PUT {url}"))?
                        .status();
                    if !status.is_success() {
                        bail!("PUT {url}: {status}");
                    }
                    Ok(())
                };
                let file = std::fs::File::open(archive)
                    .with_context(|| format!("opening {}", archive.display()))?;
                let len = file.metadata()?.len();
                put(
                    format!("cas/{sha256}"),
                    reqwest::blocking::Body::sized(file, len),
                )?;
                put(format!("ac/{id}"), manifest.to_vec().into())
            }
        }
    }

    /// Removes the least recently used archives while the local directory
    /// holds more than [`MAX_LOCAL_BYTES`]; their manifests then miss.
    fn evict(&self) -> Result<()> {
        let cas = self.local.join("cas");
        let mut archives = Vec::new();
        for entry in
            std::fs::read_dir(&cas).with_context(|| format!("reading {}", cas.display()))?
        {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() {
                archives.push((meta.modified()?, meta.len(), entry.path()));
            }
        }
        archives.sort();
        let mut total: u64 = archives.iter().map(|(_, len, _)| len).sum();
        for (_, len, path) in archives {
            if total <= MAX_LOCAL_BYTES {
                break;
            }
            fs::remove_if_present(&path)?;
            total -= len;
        }
        Ok(())
    }
}

impl Outputs {
    /// What the step's files look like now, for [`StepCache::store`].
    pub(crate) fn snapshot(&self) -> Result<Option<Snapshot>> {
        if !matches!(self.kind, OutputKind::Added) {
            return Ok(None);
        }
        let mut files = BTreeMap::new();
        if self.dir.exists() {
            for file in fs::files_below(&self.dir)? {
                let meta = std::fs::symlink_metadata(self.dir.join(&file))?;
                files.insert(file, (meta.len(), meta.modified()?));
            }
        }
        Ok(Some(Snapshot(files)))
    }
}

impl Snapshot {
    /// The files below `dir` that are new or changed since the snapshot.
    fn added(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut added = Vec::new();
        for file in fs::files_below(dir)? {
            let meta = std::fs::symlink_metadata(dir.join(&file))?;
            if self.0.get(&file) != Some(&(meta.len(), meta.modified()?)) {
                added.push(file);
            }
        }
        Ok(added)
    }
}

impl StepCache {
    /// The entry's name: the key with the outputs' paths as
    /// placeholders, and the host.
    fn entry_id(&self, key: &str, outputs: &Outputs) -> String {
        let mut roots: Vec<&(&str, PathBuf)> = outputs.roots.iter().collect();
        // The longest first: one root may lie inside another.
        roots.sort_by_key(|(_, path)| std::cmp::Reverse(path.as_os_str().len()));
        let mut key = format!("{FORMAT}\n{}\n{key}", self.host);
        for (placeholder, path) in roots {
            key = key.replace(&path.display().to_string(), placeholder);
        }
        fs::sha256_hex(key.as_bytes())
    }
}

/// The machine's architecture and OS, its C library's and C compiler's
/// versions: what the host tools were built for and link against.
fn host_identity() -> String {
    let first_line = |program: &str| {
        std::process::Command::new(program)
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.lines().next().map(str::to_owned)
            })
            .unwrap_or_else(|| format!("{program}: none"))
    };
    format!(
        "host {}-{}\n{}\n{}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        first_line("ldd"),
        first_line("cc")
    )
}

/// `url` as it may be printed: `http://user@host/...` for
/// `http://user:password@host/...`.
pub(crate) fn without_password(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn bytes(path: &Path) -> Vec<u8> {
    path.as_os_str().as_encoded_bytes().to_vec()
}

/// Extracts `archive` into `dir`, each path in `moves` rewritten to its
/// new place where the outputs record it ([`relocate`]).
fn unpack(archive: &Path, dir: &Path, moves: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
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

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// An installation at `prefix` recording it the ways OCaml's does.
    fn install(prefix: &Path) {
        let p = prefix.display();
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::create_dir_all(prefix.join("lib")).unwrap();
        let program = prefix.join("bin/tool.byte");
        let mut bytecode = format!("#!{p}/bin/ocamlrun\n").into_bytes();
        bytecode.extend(b"code\0data naming ");
        bytecode.extend(format!("{p}/lib").as_bytes());
        std::fs::write(&program, bytecode).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("tool.byte", prefix.join("bin/tool")).unwrap();
        std::fs::write(
            prefix.join("lib/ld.conf"),
            format!("{p}/lib/stublibs\n{p}/lib\n"),
        )
        .unwrap();
        let launch = format!("sh\n{p}/bin\0\nlauncher {p}");
        std::fs::write(prefix.join("lib/runtime-launch-info"), launch).unwrap();
        std::fs::write(prefix.join("lib/debug.o"), format!("\x7fELF\0{p}/src")).unwrap();
    }

    fn outputs(prefix: &Path, kind: OutputKind) -> Outputs {
        Outputs {
            dir: prefix.to_path_buf(),
            kind,
            roots: vec![("${host}", prefix.to_path_buf())],
        }
    }

    fn key(prefix: &Path) -> String {
        format!("ocaml 5.4.1\nrun configure --prefix={}\n", prefix.display())
    }

    #[test]
    fn a_tree_restored_elsewhere_names_its_new_place() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(dir.path().join("cache"), None).unwrap();
        let (old, new) = (dir.path().join("one/host"), dir.path().join("two/host"));
        install(&old);
        let old_out = outputs(&old, OutputKind::Whole);
        cache
            .store("host-ocaml", &key(&old), &old_out, None)
            .unwrap();
        assert!(cache
            .restore("host-ocaml", &key(&new), &outputs(&new, OutputKind::Whole))
            .unwrap());
        let read = |path: &str| std::fs::read(new.join(path)).unwrap();
        let (o, n) = (old.display().to_string(), new.display().to_string());
        assert_eq!(
            read("lib/ld.conf"),
            format!("{n}/lib/stublibs\n{n}/lib\n").as_bytes()
        );
        let mut bytecode = format!("#!{n}/bin/ocamlrun\n").into_bytes();
        // Past the header, a bytecode program is left as it is.
        bytecode.extend(format!("code\0data naming {o}/lib").as_bytes());
        assert_eq!(read("bin/tool.byte"), bytecode);
        let launch = format!("sh\n{n}/bin\0\nlauncher {o}");
        assert_eq!(read("lib/runtime-launch-info"), launch.as_bytes());
        assert_eq!(read("lib/debug.o"), format!("\x7fELF\0{o}/src").as_bytes());
        let mode = std::fs::metadata(new.join("bin/tool.byte"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(new.join("bin/tool")).unwrap(),
            Path::new("tool.byte")
        );
        // Restored where it was built, it is the same bytes.
        std::fs::remove_dir_all(&old).unwrap();
        assert!(cache.restore("host-ocaml", &key(&old), &old_out).unwrap());
        assert_eq!(
            std::fs::read(old.join("lib/ld.conf")).unwrap(),
            format!("{o}/lib/stublibs\n{o}/lib\n").as_bytes()
        );
    }

    /// A cache in a fresh directory holding an installation's entry.
    fn stored() -> (tempfile::TempDir, StepCache, PathBuf, Outputs) {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(dir.path().join("cache"), None).unwrap();
        let prefix = dir.path().join("host");
        install(&prefix);
        let out = outputs(&prefix, OutputKind::Whole);
        cache
            .store("host-ocaml", &key(&prefix), &out, None)
            .unwrap();
        (dir, cache, prefix, out)
    }

    #[test]
    fn another_key_misses() {
        let (_dir, cache, prefix, out) = stored();
        let other = format!("{}run make\n", key(&prefix));
        assert!(!cache.restore("host-ocaml", &other, &out).unwrap());
    }

    #[test]
    fn a_corrupt_entry_is_removed_and_the_step_builds() {
        let (dir, cache, prefix, out) = stored();
        let cas = dir.path().join("cache/cas");
        let archive = std::fs::read_dir(&cas)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&archive).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&archive, bytes).unwrap();
        std::fs::write(prefix.join("lib/ld.conf"), "as built\n").unwrap();
        assert!(!cache.restore("host-ocaml", &key(&prefix), &out).unwrap());
        assert!(!archive.exists(), "the corrupt archive is gone");
        let kept = std::fs::read_to_string(prefix.join("lib/ld.conf")).unwrap();
        assert_eq!(kept, "as built\n", "nothing was extracted");
    }

    #[test]
    fn added_outputs_hold_what_the_step_wrote_and_restore_beside_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StepCache::new(dir.path().join("cache"), None).unwrap();
        let prefix = dir.path().join("host");
        install(&prefix);
        let out = outputs(&prefix, OutputKind::Added);
        let before = out.snapshot().unwrap();
        std::fs::write(prefix.join("bin/dune"), "dune").unwrap();
        std::fs::write(prefix.join("lib/ld.conf"), "changed\n").unwrap();
        cache
            .store("host-dune", "dune", &out, before.as_ref())
            .unwrap();

        let fresh = dir.path().join("fresh");
        std::fs::create_dir_all(fresh.join("lib")).unwrap();
        std::fs::write(fresh.join("lib/other"), "kept").unwrap();
        let out = outputs(&fresh, OutputKind::Added);
        assert!(cache.restore("host-dune", "dune", &out).unwrap());
        let mut files = fs::files_below(&fresh).unwrap();
        files.sort();
        let names: Vec<_> = files.iter().map(|f| f.display().to_string()).collect();
        assert_eq!(names, ["bin/dune", "lib/ld.conf", "lib/other"]);
    }

    /// Stores an installation through one local cache sharing `remote`,
    /// and restores it into another prefix through another local cache
    /// sharing it: that one, and the restored prefix.
    fn shared_through(dir: &Path, remote: &str) -> (StepCache, PathBuf) {
        let first = StepCache::new(dir.join("one"), Some(remote)).unwrap();
        let second = StepCache::new(dir.join("two"), Some(remote)).unwrap();
        let (built, fresh) = (dir.join("built/host"), dir.join("fresh/host"));
        install(&built);
        let built_out = outputs(&built, OutputKind::Whole);
        first
            .store("host-ocaml", &key(&built), &built_out, None)
            .unwrap();
        let out = outputs(&fresh, OutputKind::Whole);
        assert!(second.restore("host-ocaml", &key(&fresh), &out).unwrap());
        let text = std::fs::read_to_string(fresh.join("lib/ld.conf")).unwrap();
        assert!(text.starts_with(&fresh.display().to_string()), "{text}");
        (second, fresh)
    }

    #[test]
    fn a_shared_directory_serves_another_local_cache() {
        let dir = tempfile::tempdir().unwrap();
        let shared = format!("file:{}", dir.path().join("shared").display());
        shared_through(dir.path(), &shared);
        let kept = dir.path().join("two/cas").read_dir().unwrap().count();
        assert_eq!(kept, 1, "kept locally too");
    }

    #[test]
    fn a_read_only_store_is_read_and_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        let writer = StepCache::new(
            dir.path().join("one"),
            Some(&format!("file:{}", shared.display())),
        )
        .unwrap();
        let reader_url = format!("file://{}|read-only", shared.display());
        let reader = StepCache::new(dir.path().join("two"), Some(&reader_url)).unwrap();
        assert!(
            reader.describe().ends_with("(read-only)"),
            "{}",
            reader.describe()
        );
        let (a, b) = (dir.path().join("a/host"), dir.path().join("b/host"));
        install(&a);
        install(&b);
        writer
            .store(
                "host-ocaml",
                &key(&a),
                &outputs(&a, OutputKind::Whole),
                None,
            )
            .unwrap();
        reader
            .store("host-dune", "dune", &outputs(&b, OutputKind::Whole), None)
            .unwrap();
        assert_eq!(
            std::fs::read_dir(shared.join("ac")).unwrap().count(),
            1,
            "only the writer's"
        );
        assert!(reader
            .restore("host-ocaml", &key(&b), &outputs(&b, OutputKind::Whole))
            .unwrap());
    }

    #[test]
    fn a_printed_url_has_no_password() {
        let cache = StepCache::new(
            PathBuf::from("/c"),
            Some("https://ci:s3cret@cache.example/steps"),
        )
        .unwrap();
        assert_eq!(
            cache.describe(),
            "/c, and https://ci@cache.example/steps (read and written)"
        );
    }

    /// A store that answers GET and PUT over HTTP/1.1, as a WebDAV share
    /// does; it counts the requests it served.
    fn http_store() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead as _, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/cache", listener.local_addr().unwrap());
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let served = log.clone();
        let files = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::<String, Vec<u8>>::new()));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let stream = stream.unwrap();
                let (files, served) = (files.clone(), served.clone());
                // A connection each: a client keeps its connection open.
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap().to_owned();
                        let path = parts.next().unwrap().to_owned();
                        let mut length = 0;
                        loop {
                            let mut header = String::new();
                            reader.read_line(&mut header).unwrap();
                            if header.trim().is_empty() {
                                break;
                            }
                            let header = header.to_ascii_lowercase();
                            if let Some(value) = header.strip_prefix("content-length:") {
                                length = value.trim().parse().unwrap();
                            }
                        }
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).unwrap();
                        served.lock().unwrap().push(format!("{method} {path}"));
                        let mut files = files.lock().unwrap();
                        let response = match (method.as_str(), files.get(&path)) {
                            ("PUT", _) => {
                                files.insert(path, body);
                                b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n".to_vec()
                            }
                            ("GET", Some(content)) => {
                                let head = "HTTP/1.1 200 OK\r\ncontent-length";
                                let mut r =
                                    format!("{head}: {}\r\n\r\n", content.len()).into_bytes();
                                r.extend(content);
                                r
                            }
                            _ => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec(),
                        };
                        writer.write_all(&response).unwrap();
                    }
                });
            }
        });
        (url, log)
    }

    #[test]
    fn an_http_store_serves_another_local_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (url, served) = http_store();
        let (second, fresh) = shared_through(dir.path(), &url);
        let out = outputs(&fresh, OutputKind::Whole);
        assert!(!second.restore("host-ocaml", "another key", &out).unwrap());
        let served = served.lock().unwrap().clone();
        let methods: Vec<&str> = served.iter().map(|r| &r[..r.find(' ').unwrap()]).collect();
        assert_eq!(methods, ["PUT", "PUT", "GET", "GET", "GET"], "{served:?}");
        assert!(
            served[0].starts_with("PUT /cache/cas/"),
            "archive first: {served:?}"
        );
    }
}
