//! The http example: mirage-skeleton's applications/http ("minipaf"), an
//! HTTP/1.1 and HTTP/2 server over TLS (paf, h1, h2, ocaml-tls), booted
//! with `--tls` and a certificate of the test's (its `certificates/` and
//! `keys/` ship empty) and served from the host through a forwarded port,
//! once with HTTP/2 (chosen by ALPN) and once with HTTP/1.1:
//!
//! - `GET /` answers 200, in the protocol asked for;
//! - `GET /random` with a length and a seed of the run's returns that many
//!   bytes (in base64) that the guest draws from the seed, and `GET /hash`
//!   with the same headers their SHA-256, which the test computes again
//!   from what `/random` sent;
//! - `POST /transmit` sends back the random bytes the test posts.

use super::https;
use super::vm::{free_port, Vm};
use crate::check::table::{Run, Verdict};
use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use reqwest::blocking::Client;
use reqwest::Version;
use sha2::Digest as _;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the app reads its certificates and keys (a pair by file name).
pub(crate) const CERTIFICATE: &str = "certificates/server";
pub(crate) const KEY: &str = "keys/server";
const GUEST_PORT: u16 = 4343;
/// Bytes asked of `/random` and posted to `/transmit`.
const LENGTH: usize = 15_000;

pub(crate) fn boot(
    runner: &Path,
    dir: &Path,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    let certificate = std::fs::read(dir.join(CERTIFICATE))?;
    let port = free_port()?;
    let options = [
        "--net".into(),
        "user".into(),
        "--forward".into(),
        format!("{port}:{GUEST_PORT}").into(),
    ];
    let mut vm = Vm::start(runner, image, &options, &["--tls"], timeout)?;
    let checked = check(&mut vm, &certificate, port, timeout);
    vm.judge_served(checked)
}

fn check(vm: &mut Vm, certificate: &[u8], port: u16, timeout: Duration) -> Result<()> {
    let url = format!("https://{}:{port}", https::HOST);
    let clients = [
        (Version::HTTP_2, client(certificate, port, false)?),
        (Version::HTTP_11, client(certificate, port, true)?),
    ];
    // It logs nothing once it listens: ask until it answers.
    let deadline = Instant::now() + timeout;
    while clients[0].1.get(format!("{url}/")).send().is_err() {
        if !vm.running()? || Instant::now() > deadline {
            bail!("nothing answered on {url}/");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for (version, client) in &clients {
        exchange(client, &url, *version).with_context(|| format!("over {version:?}"))?;
    }
    Ok(())
}

/// The checks of the module's documentation, with one client.
fn exchange(client: &Client, url: &str, version: Version) -> Result<()> {
    let root = client.get(format!("{url}/")).send()?;
    if root.status() != 200 || root.version() != version {
        bail!(
            "GET /: {} in {:?}, expected 200 in {version:?}",
            root.status(),
            root.version()
        );
    }
    let seed = base64::engine::general_purpose::STANDARD.encode(random_bytes(8)?);
    let ask = |path: &str| -> Result<String> {
        let response = client
            .get(format!("{url}{path}"))
            .header("x-length", LENGTH.to_string())
            .header("x-seed", &seed)
            .send()?;
        if response.status() != 200 {
            bail!("GET {path}: {}", response.status());
        }
        Ok(response.text()?)
    };
    let encoded: String = ask("/random")?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let drawn = base64::engine::general_purpose::STANDARD
        .decode(&encoded)
        .context("GET /random: not base64")?;
    if drawn.len() != LENGTH {
        bail!("GET /random: {} bytes, asked for {LENGTH}", drawn.len());
    }
    let expected = crate::util::fs::hex(&sha2::Sha256::digest(&drawn));
    let hash = ask("/hash")?;
    if hash.trim() != expected {
        bail!(
            "GET /hash: {}, the SHA-256 of what /random sent is {expected}",
            hash.trim()
        );
    }
    let sent = random_bytes(LENGTH)?;
    let echoed = client
        .post(format!("{url}/transmit"))
        .body(sent.clone())
        .send()?
        .bytes()?;
    if echoed[..] != sent[..] {
        bail!(
            "POST /transmit: {} bytes came back, not the {LENGTH} sent",
            echoed.len()
        );
    }
    Ok(())
}

/// A client that trusts `certificate` alone; HTTP/2 unless `http1`.
fn client(certificate: &[u8], port: u16, http1: bool) -> Result<Client> {
    let builder = Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(certificate)?)
        .resolve(https::HOST, SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(60));
    let builder = if http1 { builder.http1_only() } else { builder };
    Ok(builder.build()?)
}

/// `len` bytes from the kernel's generator.
fn random_bytes(len: usize) -> Result<Vec<u8>> {
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes)
}
