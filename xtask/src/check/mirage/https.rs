//! The HTTPS examples, served from the host's side through forwarded
//! ports:
//!
//! - https: mirage-skeleton's applications/static_website_tls, a cohttp
//!   server over TLS (ocaml-tls) serving its `htdocs` on 443 and
//!   redirecting plain HTTP on 80 to it. `GET /` must return
//!   `htdocs/index.html` byte for byte; a path that does not exist gets a
//!   404; plain HTTP gets a redirect to https; a connection that sends an
//!   HTTP request instead of a ClientHello does not stop the server: the
//!   next `GET /` is served.
//! - website: ours (`tests/mirage/unikernels/website`), one request handler
//!   behind plain HTTP on 8080 and HTTPS on 8443, so that `bench` can tell
//!   what TLS costs. `GET /` over each must return its `htdocs/index.html`,
//!   and a missing page a 404.
//!
//! The skeleton's `tls/` holds a certificate no current client accepts
//! (X.509 version 1, a 1024-bit RSA key, signed with SHA-1, expired in
//! 2015); its config.ml invites users to put their own there, and so does
//! the test: [`make_certificate`] writes a fresh self-signed one (version
//! 3, RSA 2048, for `localhost` and 127.0.0.1, valid two days) before the
//! build embeds it. The client trusts that certificate alone, so the whole
//! handshake is verified: the chain, the name, the dates and the server's
//! signature.

use super::vm::{free_port, Vm};
use crate::check::table::{Run, Verdict};
use crate::util::cmd::Cmd;
use anyhow::{bail, Context as _, Result};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The certificate and key the examples read from their `tls/`.
pub(crate) const CERTIFICATE: &str = "tls/server.pem";
pub(crate) const KEY: &str = "tls/server.key";
/// What they serve for `/`.
const INDEX: &str = "htdocs/index.html";
/// The name the certificate is for, which the client asks for.
pub(crate) const HOST: &str = "localhost";

/// Which of the two examples, with its ports in the guest and the line it
/// logs once it listens.
#[derive(Clone, Copy)]
pub(crate) enum Site {
    Skeleton,
    Ours,
}

impl Site {
    /// The guest's HTTPS and plain HTTP ports.
    pub(crate) fn ports(self) -> [u16; 2] {
        match self {
            Site::Skeleton => [443, 80],
            Site::Ours => [8443, 8080],
        }
    }

    pub(crate) fn listening(self) -> &'static str {
        match self {
            Site::Skeleton => "listening for HTTPS on 443/TCP",
            Site::Ours => "serving on 8080/TCP (HTTP) and 8443/TCP (HTTPS)",
        }
    }
}

/// Writes a fresh self-signed certificate and its key, made with
/// `openssl`, to `certificate` and `key` in `dir` (an example's copy),
/// replacing what is there.
pub(crate) fn make_certificate(
    dir: &Path,
    [certificate, key]: [&str; 2],
    log: &Path,
    verbose: bool,
) -> Result<()> {
    for file in [certificate, key] {
        if let Some(parent) = dir.join(file).parent() {
            std::fs::create_dir_all(parent)?;
        }
    }
    Cmd::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={HOST}")])
        .args(["-addext", &format!("subjectAltName=DNS:{HOST},IP:127.0.0.1")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-keyout", key, "-out", certificate])
        .dir(dir)
        .run_timed(log, verbose)
        .context("making the test's certificate with openssl\nhelp: install openssl (Debian: apt-get install openssl)")?;
    Ok(())
}

/// Boots `site` (the image `image` built in `dir`) and checks it from the
/// host through forwarded ports.
pub(crate) fn boot(
    runner: &Path,
    site: Site,
    dir: &Path,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    let index = std::fs::read(dir.join(INDEX))?;
    let certificate = std::fs::read(dir.join(CERTIFICATE))?;
    let mut served = Served::start(runner, site, image, timeout)?;
    let checked = served
        .ready(site, timeout)
        .and_then(|[https, http]| match site {
            Site::Skeleton => check_skeleton(&certificate, &index, https, http),
            Site::Ours => check_ours(&certificate, &index, https, http),
        });
    served.vm.judge_served(checked)
}

/// A site booted with its HTTPS and plain HTTP ports forwarded from free
/// ports of 127.0.0.1.
pub(crate) struct Served {
    pub(crate) vm: Vm,
    /// The host's ends of the HTTPS and HTTP ports.
    ports: [u16; 2],
}

impl Served {
    pub(crate) fn start(
        runner: &Path,
        site: Site,
        image: &Path,
        timeout: Duration,
    ) -> Result<Served> {
        let ports = [free_port()?, free_port()?];
        let mut options = vec!["--net".into(), "user".into()];
        for (host, guest) in ports.iter().zip(site.ports()) {
            options.extend(["--forward".into(), format!("{host}:{guest}").into()]);
        }
        let vm = Vm::start(runner, image, &options, &[], timeout)?;
        Ok(Served { vm, ports })
    }

    /// Waits until the guest logs that it listens; then the host's HTTPS
    /// and HTTP ports.
    pub(crate) fn ready(&mut self, site: Site, timeout: Duration) -> Result<[u16; 2]> {
        self.vm.wait_for_log(site.listening(), timeout)?;
        Ok(self.ports)
    }
}

/// The skeleton's checks of the module's documentation, in order.
fn check_skeleton(certificate: &[u8], index: &[u8], https: u16, http: u16) -> Result<()> {
    let client = client(certificate, https, false)?;
    let url = format!("https://{HOST}:{https}");
    expect(&client, &format!("{url}/"), 200, Some(index)).context("GET /")?;
    expect(&client, &format!("{url}/no-such-page.html"), 404, None)
        .context("GET /no-such-page.html")?;
    let plain = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = plain
        .get(format!("http://127.0.0.1:{http}/"))
        .send()
        .context("GET / over plain HTTP")?;
    let location = response.headers().get("location").cloned();
    if response.status() != 301 || !location.is_some_and(|l| l.as_bytes().starts_with(b"https://"))
    {
        bail!(
            "plain HTTP: {} with location {:?}, expected 301 to https://",
            response.status(),
            response.headers().get("location")
        );
    }
    not_a_client_hello(https)?;
    expect(&client, &format!("{url}/"), 200, Some(index))
        .context("GET / after a connection that sent no ClientHello")
}

/// Our site's: the same page over each protocol, and a 404 over each.
fn check_ours(certificate: &[u8], index: &[u8], https: u16, http: u16) -> Result<()> {
    let client = client(certificate, https, false)?;
    for url in [
        format!("https://{HOST}:{https}"),
        format!("http://127.0.0.1:{http}"),
    ] {
        expect(&client, &format!("{url}/"), 200, Some(index))
            .with_context(|| format!("GET {url}/"))?;
        expect(&client, &format!("{url}/no-such-page.html"), 404, None)
            .with_context(|| format!("GET {url}/no-such-page.html"))?;
    }
    Ok(())
}

/// A client that trusts `certificate` alone and reaches `HOST` at the
/// forwarded `port`; with `fresh`, a new connection for every request.
pub(crate) fn client(
    certificate: &[u8],
    port: u16,
    fresh: bool,
) -> Result<reqwest::blocking::Client> {
    let trusted = reqwest::Certificate::from_pem(certificate)?;
    let idle = if fresh { 0 } else { usize::MAX };
    Ok(reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(idle)
        .tls_built_in_root_certs(false)
        .add_root_certificate(trusted)
        .resolve(HOST, SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// GETs `url`: its status must be `status`, and its body `body` if given.
pub(crate) fn expect(
    client: &reqwest::blocking::Client,
    url: &str,
    status: u16,
    body: Option<&[u8]>,
) -> Result<()> {
    let response = client.get(url).send()?;
    let got = response.status();
    let bytes = response.bytes()?;
    if got != status {
        bail!("status {got}, expected {status}");
    }
    if let Some(body) = body.filter(|body| bytes[..] != body[..]) {
        bail!(
            "the body ({} bytes) is not {INDEX} ({} bytes)",
            bytes.len(),
            body.len()
        );
    }
    Ok(())
}

/// Sends a plain HTTP request to the TLS port and reads until the server
/// closes (or 10 s pass): the TLS layer must refuse it, not fall over.
fn not_a_client_hello(port: u16) -> Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut sink = Vec::new();
    let _ = stream.read_to_end(&mut sink);
    Ok(())
}
