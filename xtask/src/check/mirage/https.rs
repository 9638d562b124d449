//! The HTTPS example: mirage-skeleton's applications/static_website_tls,
//! a cohttp server over TLS (ocaml-tls) serving its `htdocs` on 443 and
//! redirecting plain HTTP on 80 to it.
//!
//! Its `tls/` directory holds a certificate no current client accepts
//! (X.509 version 1, a 1024-bit RSA key, signed with SHA-1, expired in
//! 2015); its config.ml invites users to put their own there, and so does
//! the test: [`make_certificate`] writes a fresh self-signed one (version
//! 3, RSA 2048, for `localhost` and 127.0.0.1, valid two days) before the
//! build embeds it. The client trusts that certificate alone, so the whole
//! handshake is verified: the chain, the name, the dates and the server's
//! signature.
//!
//! Booted with both ports forwarded, the test checks from the host:
//! `GET /` returns `htdocs/index.html` byte for byte; a path that does not
//! exist gets a 404; plain HTTP gets a redirect to https; a connection
//! that sends an HTTP request instead of a ClientHello does not stop the
//! server: the next `GET /` is served.

use super::boot::{run, tail, Vm};
use crate::check::table::{Run, Verdict};
use crate::util::cmd::Cmd;
use anyhow::{bail, Context as _, Result};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// The certificate and key static_website_tls reads from its `tls/`.
const CERTIFICATE: &str = "tls/server.pem";
const KEY: &str = "tls/server.key";
/// What it serves for `/`.
const INDEX: &str = "htdocs/index.html";
/// The name the certificate is for, which the client asks for.
const HOST: &str = "localhost";
const HTTPS_PORT: u16 = 443;
const HTTP_PORT: u16 = 80;
/// What the app logs once it listens on 443.
const LISTENING: &str = "listening for HTTPS on 443/TCP";

/// Replaces the example's certificate and key in `dir` (its copy) with a
/// fresh self-signed pair, made with `openssl`.
pub(crate) fn make_certificate(dir: &Path, log: &Path, verbose: bool) -> Result<()> {
    Cmd::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={HOST}")])
        .args(["-addext", &format!("subjectAltName=DNS:{HOST},IP:127.0.0.1")])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-keyout", KEY, "-out", CERTIFICATE])
        .dir(dir)
        .run_timed(log, verbose)
        .context("making the test's certificate with openssl\nhelp: install openssl (Debian: apt-get install openssl)")?;
    Ok(())
}

/// Boots the example (the image `dir/dist/https.qemu`) and checks it from
/// the host through forwarded ports.
pub(crate) fn boot(
    runner: &Path,
    dir: &Path,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    let index = std::fs::read(dir.join(INDEX))?;
    let certificate = std::fs::read(dir.join(CERTIFICATE))?;
    let [https, http] = [free_port()?, free_port()?];
    let options = [
        "--net".into(),
        "user".into(),
        "--forward".into(),
        format!("{https}:{HTTPS_PORT}").into(),
        "--forward".into(),
        format!("{http}:{HTTP_PORT}").into(),
    ];
    let mut vm = Vm::start(runner, image, &options, &[], timeout)?;
    let deadline = Instant::now() + timeout;
    while !vm.output().contains(LISTENING) && vm.running()? && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let checked = if vm.output().contains(LISTENING) {
        check(&certificate, &index, https, http)
    } else {
        Err(anyhow::anyhow!("the app never logged `{LISTENING}`"))
    };
    let running = vm.running()?;
    if running {
        vm.stop()?;
    }
    let output = vm.output();
    Ok(match checked {
        Ok(()) if running => (
            Verdict::Pass,
            Some(run("served, then stopped".into())),
            output,
        ),
        Ok(()) => (
            Verdict::Fail(format!("the VM ended while serving:\n{}", tail(&output))),
            Some(run("ended by itself".into())),
            output,
        ),
        Err(err) => (
            Verdict::Fail(format!("{err:#}\n{}", tail(&output))),
            Some(run("stopped".into())),
            output,
        ),
    })
}

/// A port free a moment ago, for QEMU to listen on.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The checks of the module's documentation, in order.
fn check(certificate: &[u8], index: &[u8], https: u16, http: u16) -> Result<()> {
    let client = client(certificate, https)?;
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

/// A client that trusts `certificate` alone and reaches `HOST` at the
/// forwarded port.
fn client(certificate: &[u8], port: u16) -> Result<reqwest::blocking::Client> {
    let trusted = reqwest::Certificate::from_pem(certificate)?;
    Ok(reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(trusted)
        .resolve(HOST, SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// GETs `url`: its status must be `status`, and its body `body` if given.
fn expect(
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
