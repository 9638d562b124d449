//! The remote store a team shares entries through: a directory, or an
//! HTTP server taking GET and PUT (a WebDAV share, bazel-remote). Entries
//! are laid out there as in the local directory.

use super::archive::write_atomically;
use crate::util::fs;
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a team shares entries.
pub(super) enum Remote {
    Dir(PathBuf),
    Http {
        base: String,
        client: reqwest::blocking::Client,
    },
}

impl Remote {
    /// `url`: a directory (`file:DIR`, or an absolute path) or an
    /// `http(s)://` URL.
    pub(super) fn parse(url: &str) -> Result<Remote> {
        if url.starts_with("http://") || url.starts_with("https://") {
            let client = reqwest::blocking::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(None)
                .build()
                .context("setting up the HTTP client of the step cache")?;
            return Ok(Remote::Http {
                base: url.trim_end_matches('/').to_owned(),
                client,
            });
        }
        let path = url.strip_prefix("file://").or(url.strip_prefix("file:"));
        let path = PathBuf::from(path.unwrap_or(url));
        if !path.is_absolute() {
            bail!("the step cache's remote store {url} is neither an http(s):// URL nor an absolute directory");
        }
        Ok(Remote::Dir(path))
    }

    /// Where it is, as it may be printed.
    pub(super) fn describe(&self) -> String {
        match self {
            Remote::Dir(dir) => dir.display().to_string(),
            Remote::Http { base, .. } => without_password(base),
        }
    }

    /// The bytes at `path` in the store; none when it has none.
    pub(super) fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Remote::Dir(dir) => match std::fs::read(dir.join(path)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("reading {}", dir.join(path).display())),
            },
            Remote::Http { base, client } => {
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

    /// Copies the file at `path` in the store into `out`; false when the
    /// store does not have it.
    pub(super) fn copy_to(&self, path: &str, out: &mut impl std::io::Write) -> Result<bool> {
        match self {
            Remote::Dir(dir) => match std::fs::File::open(dir.join(path)) {
                Ok(mut file) => {
                    std::io::copy(&mut file, out)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e).context(format!("reading {}", dir.join(path).display())),
            },
            Remote::Http { base, client } => {
                let url = format!("{base}/{path}");
                let mut response = client
                    .get(&url)
                    .send()
                    .with_context(|| format!("GET {url}"))?;
                match response.status() {
                    reqwest::StatusCode::NOT_FOUND => return Ok(false),
                    status if status.is_success() => {
                        response
                            .copy_to(out)
                            .with_context(|| format!("GET {url}"))?;
                    }
                    status => bail!("GET {url}: {status}"),
                }
            }
        }
        Ok(true)
    }

    /// Puts an entry in the store: the archive first, so that a manifest
    /// there always has its archive.
    pub(super) fn upload(
        &self,
        id: &str,
        manifest: &[u8],
        sha256: &str,
        archive: &Path,
    ) -> Result<()> {
        match self {
            Remote::Dir(dir) => {
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
            Remote::Http { base, client } => {
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
