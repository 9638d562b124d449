//! What TLS costs a MirageOS website: our website example (one cohttp
//! request handler behind plain HTTP and HTTPS, `tests/mirage/unikernels/
//! website`, built by `cargo xtask mirage-tests`) booted on each QEMU arch
//! with both ports forwarded, and `GET /` timed from the host over each
//! protocol: on one kept-alive connection, and with a new connection for
//! every request (for HTTPS, a whole handshake each: the guest signs with
//! its RSA-2048 key every time).

use crate::check::mirage::https::{self, Served, Site};
use crate::target::{Arch, Backend, Bundle};
use anyhow::{bail, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// Requests timed per protocol and connection reuse, after [`WARM_UP`].
pub(crate) const REQUESTS: usize = 200;
const WARM_UP: usize = 10;

/// The figures of one way of asking.
pub(crate) struct Rate {
    pub(crate) requests_per_second: f64,
    pub(crate) median_ms: f64,
}

/// One arch's figures: HTTP and HTTPS, each kept alive and fresh; or why
/// they were not measured.
pub(crate) struct WebsiteRun {
    pub(crate) bundle: String,
    pub(crate) rates: Result<[Rate; 4], String>,
}

/// The order of [`WebsiteRun::rates`].
pub(crate) const WAYS: [(&str, &str); 4] = [
    ("HTTP", "one connection"),
    ("HTTPS", "one connection"),
    ("HTTP", "a connection per request"),
    ("HTTPS", "a connection per request"),
];

/// Boots the website mirage-tests built in `mirage` (its build directory)
/// for each QEMU arch and times it.
pub(crate) fn measure(runner: &Path, mirage: &Path) -> Vec<WebsiteRun> {
    [Arch::X86_64, Arch::Arm64]
        .into_iter()
        .map(|arch| {
            let bundle = Bundle::new(Backend::Qemu, arch, &[]).name();
            let dir = mirage.join(format!("website-{bundle}"));
            let rates = time_site(runner, &dir).map_err(|err| format!("{err:#}"));
            WebsiteRun { bundle, rates }
        })
        .collect()
}

fn time_site(runner: &Path, dir: &Path) -> Result<[Rate; 4]> {
    let image = dir.join("dist/website.qemu");
    if !image.exists() {
        bail!(
            "no {}: `cargo xtask mirage-tests` builds it",
            image.display()
        );
    }
    let certificate = std::fs::read(dir.join("tls/server.pem"))?;
    let timeout = Duration::from_secs(600);
    let mut served = Served::start(runner, Site::Ours, &image, timeout)?;
    let timed = served.ready(Site::Ours, timeout).and_then(|[https, http]| {
        let urls = [
            format!("http://127.0.0.1:{http}/"),
            format!("https://{}:{https}/", https::HOST),
        ];
        let mut rates = Vec::new();
        for fresh in [false, true] {
            for url in &urls {
                let client = https::client(&certificate, https, fresh)?;
                rates.push(time_gets(&client, url)?);
            }
        }
        Ok(rates)
    });
    served.vm.stop()?;
    timed?
        .try_into()
        .map_err(|_| anyhow::anyhow!("not four rates"))
}

/// [`REQUESTS`] GETs of `url` one after the other: their rate and median.
fn time_gets(client: &reqwest::blocking::Client, url: &str) -> Result<Rate> {
    let get = || -> Result<Duration> {
        let start = Instant::now();
        let response = client.get(url).send()?;
        let status = response.status();
        response.bytes()?;
        if status != 200 {
            bail!("GET {url}: status {status}");
        }
        Ok(start.elapsed())
    };
    for _ in 0..WARM_UP {
        get()?;
    }
    let start = Instant::now();
    let mut latencies = (0..REQUESTS).map(|_| get()).collect::<Result<Vec<_>>>()?;
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    Ok(Rate {
        requests_per_second: REQUESTS as f64 / elapsed,
        median_ms: latencies[REQUESTS / 2].as_secs_f64() * 1000.0,
    })
}
