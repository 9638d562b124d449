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
//!
//! - [`key`]: an entry's name;
//! - [`archive`]: its archive, packed and unpacked with paths moved;
//! - [`remote`]: the stores a team shares.

mod archive;
mod key;
mod remote;

use crate::util::fs;
use anyhow::{Context as _, Result};
use archive::{pack, unpack, write_atomically};
pub(crate) use remote::without_password;
use remote::Remote;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
        Ok(StepCache {
            local,
            remote: remote
                .filter(|r| !r.is_empty())
                .map(Remote::parse)
                .transpose()?,
            read_only,
            host: key::host_identity(),
        })
    }

    pub(crate) fn describe(&self) -> String {
        let Some(remote) = &self.remote else {
            return format!("{}", self.local.display());
        };
        let how = if self.read_only {
            "read-only"
        } else {
            "read and written"
        };
        format!(
            "{}, and {} ({how})",
            self.local.display(),
            remote.describe()
        )
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
        let files = match before {
            Some(before) => before.added(&outputs.dir)?,
            None => fs::files_below(&outputs.dir)?,
        };
        let cas = self.local.join("cas");
        let (sha256, size) = pack(&outputs.dir, &files, &cas)?;
        let archive = cas.join(&sha256);
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
        if let (Some(remote), false) = (&self.remote, self.read_only) {
            remote.upload(&id, &text, &manifest.archive_sha256, &archive)?;
        }
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
            Some(remote) => remote.fetch(path),
        }
    }

    /// Copies archive `sha256` from the remote store to `dest`; false when
    /// the store does not have it.
    fn download(&self, sha256: &str, dest: &Path) -> Result<bool> {
        let Some(remote) = &self.remote else {
            return Ok(false);
        };
        let parent = dest.parent().context("an archive has a directory")?;
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
        if !remote.copy_to(&format!("cas/{sha256}"), &mut tmp)? {
            return Ok(false);
        }
        tmp.persist(dest)
            .with_context(|| format!("writing {}", dest.display()))?;
        Ok(true)
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
    /// The entry's name (see [`key::entry_id`]).
    fn entry_id(&self, key: &str, outputs: &Outputs) -> String {
        key::entry_id(&self.host, key, &outputs.roots)
    }
}

/// A path's bytes, as the outputs record it.
fn bytes(path: &Path) -> Vec<u8> {
    path.as_os_str().as_encoded_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
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
