//! Getting a tarball's bytes into the cache, verified.
//!
//! Bytes are streamed into a temporary file in the cache directory while
//! being hashed, and renamed to their final name only when the sha256 matches
//! the pin: the cache never holds a file that was not verified.

use crate::util::progress;
use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a tarball may be found: mirrors first, then upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Url(String),
    File(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Url(url) => f.write_str(url),
            Location::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Location {
    /// `name` inside a mirror given as a URL or a directory.
    pub(crate) fn in_mirror(mirror: &str, name: &str) -> Location {
        if mirror.starts_with("http://") || mirror.starts_with("https://") {
            Location::Url(format!("{}/{name}", mirror.trim_end_matches('/')))
        } else {
            let dir = mirror.strip_prefix("file://").unwrap_or(mirror);
            Location::File(Path::new(dir).join(name))
        }
    }

    pub(crate) fn is_network(&self) -> bool {
        matches!(self, Location::Url(_))
    }
}

/// How many times one URL is tried when the transfer breaks.
const ATTEMPTS: u32 = 3;

pub struct Fetcher {
    client: reqwest::blocking::Client,
    retry_pause: Duration,
}

/// Why one location failed. Broken transfers, timeouts and server errors
/// are worth retrying; a name that does not resolve or a refused connection
/// fails the same way a second later, and retrying it only delays the next
/// location (a machine without internet waited on every upstream URL).
enum Failure {
    Transient(String),
    Final(String),
}

impl Fetcher {
    pub fn new() -> Result<Fetcher> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(None)
            .user_agent(concat!("ocaml-unikraft-xtask/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Fetcher {
            client,
            retry_pause: Duration::from_millis(500),
        })
    }

    /// Shorter pauses between retries, for tests.
    pub fn with_retry_pause(mut self, pause: Duration) -> Fetcher {
        self.retry_pause = pause;
        self
    }

    /// Tries each location in order until one yields bytes with `sha256`,
    /// which then land at `dest`.
    pub(crate) fn fetch(
        &self,
        object: &str,
        locations: &[Location],
        sha256: &str,
        dest: &Path,
    ) -> Result<()> {
        let mut tried = Vec::new();
        for location in locations {
            match location {
                Location::File(path) if !path.exists() => {
                    tried.push(format!("{location}: no such file"));
                }
                Location::File(path) => {
                    progress::say(object, &format!("copying from {location}"));
                    match copy_verified(path, sha256, dest) {
                        Ok(()) => return Ok(()),
                        Err(why) => {
                            progress::say(object, &why);
                            tried.push(format!("{location}: {why}"));
                        }
                    }
                }
                Location::Url(url) => match self.download_with_retries(object, url, sha256, dest) {
                    Ok(()) => return Ok(()),
                    Err(why) => tried.push(format!("{location}: {why}")),
                },
            }
        }
        bail!(
            "could not fetch {object}; tried:\n  {}\nhelp: pass --mirror DIR|URL holding {}, or add a copy with --import FILE",
            tried.join("\n  "),
            dest.file_name().unwrap_or_default().to_string_lossy()
        )
    }

    fn download_with_retries(
        &self,
        object: &str,
        url: &str,
        sha256: &str,
        dest: &Path,
    ) -> std::result::Result<(), String> {
        let mut attempt = 1;
        loop {
            progress::say(object, &format!("downloading {url}"));
            match self.download(object, url, sha256, dest) {
                Ok(()) => return Ok(()),
                Err(Failure::Final(why)) => {
                    progress::say(object, &why);
                    return Err(why);
                }
                Err(Failure::Transient(why)) if attempt == ATTEMPTS => {
                    return Err(format!("{why} (gave up after {ATTEMPTS} attempts)"));
                }
                Err(Failure::Transient(why)) => {
                    progress::say(object, &format!("{why}; retrying ({attempt}/{ATTEMPTS})"));
                    std::thread::sleep(self.retry_pause * attempt);
                    attempt += 1;
                }
            }
        }
    }

    fn download(
        &self,
        object: &str,
        url: &str,
        sha256: &str,
        dest: &Path,
    ) -> std::result::Result<(), Failure> {
        let response = self.client.get(url).send().map_err(|err| {
            if err.is_connect() && !err.is_timeout() {
                Failure::Final(format!("cannot connect: {}", causes(&err)))
            } else {
                Failure::Transient(format!("request failed: {}", causes(&err)))
            }
        })?;
        let status = response.status();
        if status.is_server_error() {
            return Err(Failure::Transient(format!("server answered {status}")));
        }
        if !status.is_success() {
            return Err(Failure::Final(format!("server answered {status}")));
        }
        let bar = progress::bytes_bar(object, response.content_length());
        let result = store_verified(bar.wrap_read(response), sha256, dest);
        bar.finish_and_clear();
        result
    }
}

/// What went wrong under a request error (`dns error: failed to lookup
/// address information: ...`): the error itself only repeats the URL.
fn causes(err: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(err);
    while let Some(err) = cause {
        causes.push(err.to_string());
        cause = err.source();
    }
    if causes.is_empty() {
        err.to_string()
    } else {
        causes.join(": ")
    }
}

/// Copies the local file `path` into the cache at `dest` if its sha256 is
/// `expected` (mirror directories, `--import`).
pub(crate) fn copy_verified(
    path: &Path,
    expected: &str,
    dest: &Path,
) -> std::result::Result<(), String> {
    let file = std::fs::File::open(path).map_err(|err| format!("cannot open: {err}"))?;
    store_verified(file, expected, dest)
        .map_err(|(Failure::Transient(why) | Failure::Final(why))| why)
}

/// Streams `reader` into a temporary file beside `dest` while hashing, and
/// moves it to `dest` only if its sha256 is `expected`.
fn store_verified(
    mut reader: impl Read,
    expected: &str,
    dest: &Path,
) -> std::result::Result<(), Failure> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let io_error = |what: &str, err: std::io::Error| {
        Failure::Final(format!("{what} in {}: {err}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io_error("cannot create the cache", e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(dir)
        .map_err(|e| io_error("cannot create a temporary file", e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Failure::Transient(format!("transfer broke: {err}"))),
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| io_error("cannot write", e))?;
    }
    let actual = hex(&hasher.finalize());
    if actual != expected {
        // Dropping `tmp` deletes it: nothing unverified stays in the cache.
        return Err(Failure::Final(format!(
            "sha256 mismatch: expected {expected}, got {actual}"
        )));
    }
    tmp.persist(dest)
        .map_err(|e| io_error("cannot store the download", e.error))?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    crate::util::fs::hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connection_is_not_retried() {
        // A port nobody listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/pkg.tar.gz");
        let pause = Duration::from_secs(60);
        let fetcher = Fetcher::new().unwrap().with_retry_pause(pause);
        let cache = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let err = fetcher
            .download_with_retries(
                "pkg",
                &url,
                &"0".repeat(64),
                &cache.path().join("pkg.tar.gz"),
            )
            .unwrap_err();
        assert!(started.elapsed() < pause, "retried after: {err}");
        assert!(err.starts_with("cannot connect: "), "{err}");
        assert!(err.contains("Connection refused"), "{err}");
        assert!(!err.contains("attempts"), "{err}");
    }

    #[test]
    fn mirror_locations() {
        assert_eq!(
            Location::in_mirror("https://m.example/pub/", "a.tar.gz"),
            Location::Url("https://m.example/pub/a.tar.gz".into())
        );
        assert_eq!(
            Location::in_mirror("file:///srv/m", "a.tar.gz"),
            Location::File("/srv/m/a.tar.gz".into())
        );
        assert_eq!(
            Location::in_mirror("/srv/m", "u.git"),
            Location::File("/srv/m/u.git".into())
        );
    }
}
