//! The website under load from real clients: ApacheBench (`ab`, Debian's
//! apache2-utils) with 100 clients, once with a new connection per request
//! and once kept alive, then wrk with 200 kept-alive connections for 30 s.
//! Every request must be answered with a 200 and the page, and the site
//! must still serve `GET /` afterwards. It runs through `--forward` (the
//! runner's relay and QEMU's user network) and on a bridge ([`super::site`]).

use super::https::{self, Site};
use super::vm::{free_port, judged, Vm};
use super::{bridge, site};
use crate::check::table::{Run, Verdict};
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::time::Duration;

/// ApacheBench's requests and clients.
const AB_REQUESTS: u32 = 20_000;
const AB_CLIENTS: u32 = 100;
/// Seconds ab waits for an answer before it gives up the whole run.
const AB_PATIENCE: u32 = 10;
/// wrk's connections and seconds.
const WRK_CONNECTIONS: u32 = 200;
const WRK_SECONDS: u32 = 30;
/// Seconds wrk waits for an answer before it counts a timeout.
const WRK_PATIENCE: u32 = 10;

/// What the VM's deadline gets beyond the boot's for the clients' runs
/// (2 to 4 minutes on the software CPU).
pub(crate) const LOAD_TIME: Duration = Duration::from_secs(900);

/// The clients, with the Debian package of each.
const CLIENTS: [(&str, &str); 2] = [("ab", "apache2-utils"), ("wrk", "wrk")];

/// Why the load rows cannot run here, if they cannot.
pub(crate) fn unavailable() -> Option<String> {
    let missing: Vec<(&str, &str)> = CLIENTS
        .into_iter()
        .filter(|(program, _)| ocaml_unikraft_toolchain::which::on_path(program).is_none())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let programs: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
    let packages: Vec<&str> = missing.iter().map(|(_, p)| *p).collect();
    Some(format!(
        "needs {} (Debian: apt-get install {})",
        programs.join(" and "),
        packages.join(" ")
    ))
}

/// What one client run measured.
#[derive(Debug, PartialEq)]
pub(crate) struct Measured {
    pub(crate) answered: u64,
    pub(crate) requests_per_second: f64,
    pub(crate) median_ms: f64,
    /// Requests lost, failed or answered with another status.
    pub(crate) problems: Vec<String>,
}

/// `ab -n requests -c clients` (with `-k`, kept alive) on `url`.
pub(crate) fn ab(url: &str, requests: u32, clients: u32, keep_alive: bool) -> Result<Measured> {
    let mut args = vec!["-q".to_string(), "-s".into(), AB_PATIENCE.to_string()];
    if keep_alive {
        args.push("-k".into());
    }
    args.extend([
        "-n".into(),
        requests.to_string(),
        "-c".into(),
        clients.to_string(),
    ]);
    args.push(url.into());
    let (report, failure) = run_client("ab", &args)?;
    let mut measured = read_ab(&report, requests);
    measured.problems.extend(failure);
    Ok(measured)
}

/// What ab's report says: every request must be complete, none failed and
/// none answered with another status than 2xx.
fn read_ab(report: &str, requests: u32) -> Measured {
    let field = |name: &str| -> Option<f64> {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    let answered = field("Complete requests:").unwrap_or(0.0) as u64;
    let mut problems = Vec::new();
    if answered != u64::from(requests) {
        problems.push(format!("ab: {answered} of {requests} requests complete"));
    }
    if let Some(failed) = field("Failed requests:").filter(|n| *n > 0.0) {
        problems.push(format!("ab: {failed} failed requests"));
    }
    if let Some(other) = field("Non-2xx responses:") {
        problems.push(format!("ab: {other} answers other than 2xx"));
    }
    Measured {
        answered,
        requests_per_second: field("Requests per second:").unwrap_or(0.0),
        median_ms: field("50%").unwrap_or(0.0),
        problems,
    }
}

/// `wrk -c connections -d seconds` on `url`.
pub(crate) fn wrk(url: &str, connections: u32, seconds: u32) -> Result<Measured> {
    let args = [
        "--latency".to_string(),
        "-t".into(),
        "2".into(),
        "-c".into(),
        connections.to_string(),
        "-d".into(),
        format!("{seconds}s"),
        "--timeout".into(),
        format!("{WRK_PATIENCE}s"),
        url.into(),
    ];
    let (report, failure) = run_client("wrk", &args)?;
    let mut measured = read_wrk(&report);
    measured.problems.extend(failure);
    Ok(measured)
}

/// Runs a load client: its report (stdout), and what it said on stderr if
/// it failed.
fn run_client(program: &str, args: &[String]) -> Result<(String, Option<String>)> {
    let output = duct::cmd(program, args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run {program}"))?;
    let failure = (!output.status.success()).then(|| {
        format!(
            "{program} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
    });
    Ok((
        String::from_utf8_lossy(&output.stdout).into_owned(),
        failure,
    ))
}

/// What wrk's report says: no socket error (a connection refused, reset
/// or timed out) and no status other than 2xx or 3xx.
fn read_wrk(report: &str) -> Measured {
    let mut problems = Vec::new();
    let line_after = |mark: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(mark).map(str::trim))
    };
    if let Some(errors) = line_after("Socket errors:") {
        problems.push(format!("wrk: socket errors: {errors}"));
    }
    if let Some(other) = line_after("Non-2xx or 3xx responses:") {
        problems.push(format!("wrk: {other} answers other than 2xx or 3xx"));
    }
    let answered = report
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if answered == 0 {
        problems.push("wrk: no request answered".into());
    }
    let median_ms = line_after("50%").and_then(milliseconds).unwrap_or(0.0);
    Measured {
        answered,
        requests_per_second: line_after("Requests/sec:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0),
        median_ms,
        problems,
    }
}

/// A duration as wrk prints it (`812.00us`, `250.31ms`, `1.02s`).
fn milliseconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(number / 1000.0),
        "ms" => Some(number),
        "s" => Some(number * 1000.0),
        "m" => Some(number * 60_000.0),
        _ => None,
    }
}

/// The three runs on `url` (the site's `/`), then one more `GET /`, which
/// must return `page`: what went wrong, and a summary of the rates.
pub(crate) fn hammer(url: &str, page: &[u8]) -> Result<(Vec<String>, String)> {
    let runs = [
        ("ab", ab(url, AB_REQUESTS, AB_CLIENTS, false)?),
        ("ab -k", ab(url, AB_REQUESTS, AB_CLIENTS, true)?),
        ("wrk", wrk(url, WRK_CONNECTIONS, WRK_SECONDS)?),
    ];
    let mut problems: Vec<String> = runs
        .iter()
        .flat_map(|(_, run)| run.problems.iter().cloned())
        .collect();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    if let Err(err) = https::expect(&client, url, 200, Some(page)) {
        problems.push(format!("GET {url} after the load: {err:#}"));
    }
    let summary: Vec<String> = runs
        .iter()
        .map(|(name, run)| format!("{name} {:.0}/s", run.requests_per_second))
        .collect();
    Ok((problems, summary.join(", ")))
}

/// The website through `--net user --forward`, under [`hammer`]'s load.
pub(crate) fn through_forward(
    runner: &Path,
    image: &Path,
    page: &[u8],
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    let (vm, url) = start_forwarded(runner, image, timeout)?;
    let (problems, summary, output) = load_vm(vm, |_| Ok(url), page, timeout)?;
    let (verdict, run) = judged(&problems, &output, summary);
    Ok((verdict, run, output))
}

/// The website booted with `--net user --forward` from a free port of
/// 127.0.0.1 to its plain HTTP port, for [`LOAD_TIME`] beyond `timeout`:
/// the VM, and the URL of its `/`.
fn start_forwarded(runner: &Path, image: &Path, timeout: Duration) -> Result<(Vm, String)> {
    let port = free_port()?;
    let [_, guest_port] = Site::Ours.ports();
    let options = [
        "--net".into(),
        "user".into(),
        "--forward".into(),
        format!("{port}:{guest_port}").into(),
    ];
    let vm = Vm::start(runner, image, &options, &[], timeout + LOAD_TIME)?;
    Ok((vm, format!("http://127.0.0.1:{port}/")))
}

/// Waits until the website in `vm` serves, reads the URL of its `/` from
/// its console with `url_of`, and loads it ([`hammer`]); then stops it.
/// What went wrong, the summary of the rates, and the console.
pub(crate) fn load_vm(
    vm: Vm,
    url_of: impl FnOnce(&str) -> Result<String>,
    page: &[u8],
    timeout: Duration,
) -> Result<(Vec<String>, String, String)> {
    let (loaded, ran_through, output) =
        while_serving(vm, url_of, timeout, |url| hammer(url, page))?;
    let (mut problems, summary) =
        loaded.unwrap_or_else(|err| (vec![format!("{err:#}")], "not loaded".into()));
    if !ran_through {
        problems.push("the VM ended while serving".into());
    }
    Ok((problems, summary, output))
}

/// Does `work` on the URL of the website's `/` in `vm` (read from its
/// console by `url_of`) once it serves, then stops the VM: what `work`
/// gave, whether the VM ran until then, and its console.
fn while_serving<T>(
    mut vm: Vm,
    url_of: impl FnOnce(&str) -> Result<String>,
    timeout: Duration,
    work: impl FnOnce(&str) -> Result<T>,
) -> Result<(Result<T>, bool, String)> {
    let done = vm
        .wait_for_log(Site::Ours.listening(), timeout)
        .and_then(|()| url_of(&vm.output()))
        .and_then(|url| work(&url));
    let running = vm.running()?;
    if running {
        vm.stop()?;
    }
    Ok((done, running, vm.output()))
}

/// Where bench asks the website from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NetPath {
    /// `--net user --forward`: QEMU's NAT, through the runner's relay.
    Forward,
    /// Its own bridge, its address leased by dnsmasq (see [`super::site`]).
    Bridge,
}

impl NetPath {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            NetPath::Forward => "--net user --forward",
            NetPath::Bridge => "bridge",
        }
    }
}

/// ApacheBench on the website's `/`, booted on `path`: one run for each
/// `(requests, clients)` of `loads`. An error if any request was lost.
pub(crate) fn measure(
    runner: &Path,
    image: &Path,
    path: NetPath,
    loads: &[(u32, u32)],
    timeout: Duration,
) -> Result<Vec<Measured>> {
    let work = |url: &str| -> Result<Vec<Measured>> {
        let measured = loads
            .iter()
            .map(|&(requests, clients)| ab(url, requests, clients, false))
            .collect::<Result<Vec<_>>>()?;
        match measured.iter().flat_map(|m| &m.problems).next() {
            Some(problem) => bail!("{problem}"),
            None => Ok(measured),
        }
    };
    let (measured, _, _) = match path {
        NetPath::Forward => {
            let (vm, url) = start_forwarded(runner, image, timeout)?;
            while_serving(vm, |_| Ok(url), timeout, work)?
        }
        NetPath::Bridge => {
            if let Some(why) = bridge::unavailable() {
                bail!("{why}");
            }
            let site = bridge::Site::start(&[])?;
            let served = Vm::start(runner, image, &site.net_options(), &[], timeout + LOAD_TIME)
                .and_then(|vm| while_serving(vm, site::url_of_leased, timeout, work));
            let left = site.close();
            if !left.is_empty() {
                bail!("left behind: {}", left.join(", "));
            }
            served?
        }
    };
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts of what ab 2.3 printed against the website.
    const AB_ALL: &str = "Complete requests:      20000\nFailed requests:        0\nRequests per second:    366.66 [#/sec] (mean)\n  50%    242\n  66%    275\n";
    const AB_SHORT: &str = "Complete requests:      2967\nFailed requests:        2\n   (Connect: 0, Receive: 0, Length: 2, Exceptions: 0)\nNon-2xx responses:      3\nRequests per second:    134.67 [#/sec] (mean)\n  50%    344\n";

    #[test]
    fn an_ab_report_passes_only_when_every_request_was_answered_well() {
        let all = read_ab(AB_ALL, 20_000);
        assert_eq!(all.answered, 20_000);
        assert!(all.problems.is_empty(), "{:?}", all.problems);
        assert_eq!(all.requests_per_second, 366.66);
        assert_eq!(all.median_ms, 242.0);
        let short = read_ab(AB_SHORT, 3_000);
        assert_eq!(short.problems.len(), 3, "{:?}", short.problems);
        assert!(read_ab("", 10).problems[0].contains("0 of 10"));
    }

    /// Parts of what wrk 4.1 printed against the website.
    const WRK_ALL: &str = "  Latency Distribution\n     50%  250.31ms\n     75%  300.00ms\n  23671 requests in 30.09s, 17.56MB read\nRequests/sec:    786.74\n";
    const WRK_ERRORS: &str = "     50%    1.02s\n  812 requests in 30.00s, 1MB read\n  Socket errors: connect 0, read 3, write 0, timeout 12\n  Non-2xx or 3xx responses: 4\nRequests/sec:     27.00\n";

    #[test]
    fn a_wrk_report_passes_only_without_errors_and_other_statuses() {
        let all = read_wrk(WRK_ALL);
        assert_eq!(all.answered, 23_671);
        assert!(all.problems.is_empty(), "{:?}", all.problems);
        assert_eq!(all.requests_per_second, 786.74);
        assert_eq!(all.median_ms, 250.31);
        let errors = read_wrk(WRK_ERRORS);
        assert_eq!(errors.median_ms, 1020.0);
        assert_eq!(errors.problems.len(), 2, "{:?}", errors.problems);
        assert!(errors.problems[0].contains("timeout 12"));
        assert_eq!(milliseconds("812.00us"), Some(0.812));
    }
}
