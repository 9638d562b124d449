//! The examples on a real network, as a site runs them: a host bridge with
//! an address, Debian's dnsmasq serving DHCP and DNS on it, and each
//! unikernel on the bridge through a tap the runner makes (`--net
//! bridge:NAME`), reached by the address dnsmasq leased it, no forwarding.
//!
//! - network_dhcp: its lease comes from dnsmasq (the address it logs is
//!   the one in dnsmasq's lease file, for the MAC the runner gave it), and
//!   the host connects to that address and sends a payload the guest logs;
//! - dns: resolves, through dnsmasq, a name the test defines in dnsmasq;
//! - fetch (ours): a client unikernel fetches the website unikernel's page
//!   by its leased address, and prints what it got, which must be the page;
//! - the website under load ([`load`]), asked at its leased address.
//!
//! Each test makes its own bridge and dnsmasq and removes them, having
//! waited for its runners (and so their VMMs) and for dnsmasq to end; it
//! then checks that neither the bridge nor a tap of the runner's is left.

use super::bridge::{runner_taps, Site};
use super::dns;
use super::https;
use super::load;
use super::network::{send, CONNECTION_PREFIX, DHCP_ARGS, GUEST_PORT, STACK_READY};
use super::vm::{ending_of, judged, Vm};
use crate::check::table::{Run, Verdict};
use anyhow::{Context as _, Result};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

/// A site test: the runner, an image and the deadline give a verdict, a
/// run and the console(s).
pub(crate) type Test<'a> =
    &'a dyn Fn(&Path, &Path, Duration) -> Result<(Verdict, Option<Run>, String)>;

/// What charrua logs for its lease: `Lease obtained! IP: A, routers: ...`.
const LEASE_MARK: &str = "Lease obtained! IP: ";

/// The address the guest logged as its lease, if it did.
fn leased_address(output: &str) -> Option<Ipv4Addr> {
    let rest = output.split_once(LEASE_MARK)?.1;
    let end = rest.find(|c: char| c != '.' && !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// What a site test saw on its bridge: what was wrong, how the run ended,
/// the console a failure shows the end of, and the console(s) kept.
struct Seen {
    problems: Vec<String>,
    ending: String,
    output: String,
    consoles: String,
}

/// Runs `test` on a bridge of its own with dnsmasq (answering `names`),
/// then removes both; the verdict counts what `test` saw and anything left
/// behind (the bridge, a tap of the runner's).
fn on_bridge(
    names: &[(String, Ipv4Addr)],
    test: impl FnOnce(&Site) -> Result<Seen>,
) -> Result<(Verdict, Option<Run>, String)> {
    let taps_before = runner_taps();
    let site = Site::start(names)?;
    let seen = test(&site);
    let left = site.close();
    let mut seen = seen?;
    let new_taps = runner_taps()
        .into_iter()
        .filter(|t| !taps_before.contains(t));
    let left: Vec<String> = left.into_iter().chain(new_taps).collect();
    if !left.is_empty() {
        seen.problems
            .push(format!("left behind: {}", left.join(", ")));
    }
    let (verdict, run) = judged(&seen.problems, &seen.output, seen.ending);
    Ok((verdict, run, seen.consoles))
}

/// network_dhcp on a bridge: the lease from dnsmasq, and the host's
/// payload sent to the leased address.
pub(crate) fn network(
    runner: &Path,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    on_bridge(&[], |site| {
        let mut vm = Vm::start(runner, image, &site.net_options(), &DHCP_ARGS, timeout)?;
        let payload = format!("ocaml-unikraft site payload {}", std::process::id());
        let connection = format!("{CONNECTION_PREFIX}{}", site.gateway());
        let deadline = Instant::now() + timeout;
        let mut last_try: Option<Instant> = None;
        let mut served = false;
        while Instant::now() < deadline && vm.running()? {
            let output = vm.output();
            if output.contains(&connection) && output.contains(&payload) {
                served = true;
                break;
            }
            let due = last_try.is_none_or(|at| at.elapsed() > Duration::from_secs(5));
            if let (Some(address), true, true) =
                (leased_address(&output), output.contains(STACK_READY), due)
            {
                last_try = Some(Instant::now());
                let _ = send((address, GUEST_PORT).into(), &payload);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let running = vm.running()?;
        if running {
            vm.stop()?;
        }
        let output = vm.output();
        let mut problems = Vec::new();
        let mac = site.mac_of(image);
        let leases = site.leases();
        match leased_address(&output) {
            None => problems.push(format!("no `{LEASE_MARK}` line: no lease from dnsmasq")),
            Some(address) if !leases.contains(&(mac.clone(), address)) => problems.push(format!(
                "the guest logged {address}, but dnsmasq's leases are {leases:?}, not {mac} at {address}"
            )),
            Some(_) => {}
        }
        if !served {
            problems.push(format!(
                "the guest did not log `{connection}` and the payload `{payload}` (sent to its leased address, port {GUEST_PORT})"
            ));
        }
        let ending = match (served, running) {
            (true, true) => "served on its lease, then stopped",
            (_, false) => "ended by itself",
            (false, true) => "stopped at the deadline",
        };
        Ok(Seen {
            problems,
            ending: ending.into(),
            consoles: output.clone(),
            output,
        })
    })
}

/// dns on a bridge: a name defined in dnsmasq, resolved through it.
pub(crate) fn dns(
    runner: &Path,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    let (name, address) = dns::made_up_name();
    on_bridge(&[(name.clone(), address)], |site| {
        let args = [
            format!("--dns-servers=udp:{}:53", site.gateway()),
            format!("--domain-name={name}"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let vm = Vm::start(runner, image, &site.net_options(), &args, timeout)?;
        let (status, output) = vm.wait()?;
        Ok(Seen {
            problems: dns::problems(status, &output, &site.queries(), &name, address),
            ending: ending_of(status),
            consoles: output.clone(),
            output,
        })
    })
}

/// The website on a bridge under [`load::hammer`]'s load, asked at the
/// address dnsmasq leased it.
pub(crate) fn load(
    runner: &Path,
    image: &Path,
    page: &[u8],
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    on_bridge(&[], |site| {
        let vm = Vm::start(
            runner,
            image,
            &site.net_options(),
            &[],
            timeout + load::LOAD_TIME,
        )?;
        let (problems, ending, output) = load::load_vm(vm, url_of_leased, page, timeout)?;
        Ok(Seen {
            problems,
            ending,
            consoles: output.clone(),
            output,
        })
    })
}

/// The URL of the website's `/` at the address it logged as its lease.
pub(super) fn url_of_leased(console: &str) -> Result<String> {
    let address = leased_address(console).context("the website logged no lease from dnsmasq")?;
    let [_, port] = https::Site::Ours.ports();
    Ok(format!("http://{address}:{port}/"))
}

/// Where fetch prints the response, between these lines.
const FIRST_MARK: &str = "--- response begins ---";
const LAST_MARK: &str = "--- response ends ---";

/// fetch and the website on one bridge: fetch asks the website's leased
/// address for `/` and must print `page` as the body of a 200.
pub(crate) fn fetch(
    runner: &Path,
    image: &Path,
    website: &Path,
    page: &[u8],
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    on_bridge(&[], |site| {
        let mut server = Vm::start(runner, website, &site.net_options(), &[], timeout)?;
        let deadline = Instant::now() + timeout;
        let mut address = None;
        while Instant::now() < deadline && server.running()? {
            let output = server.output();
            if output.contains("serving on") {
                address = leased_address(&output);
                if address.is_some() {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some(address) = address else {
            let _ = server.stop();
            let output = server.output();
            return Ok(Seen {
                problems: vec!["the website got no lease or did not serve".into()],
                ending: "website not up".into(),
                consoles: output.clone(),
                output,
            });
        };
        let args = [format!("--server={address}"), "--port=8080".to_string()];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let client = Vm::start(runner, image, &site.net_options(), &args, timeout)?;
        let (status, output) = client.wait()?;
        server.stop()?;
        let mut problems = Vec::new();
        if status != Some(0) {
            problems.push(format!("{}, not 0", ending_of(status)));
        }
        problems.extend(response_problems(&output, page));
        let leased: Vec<Ipv4Addr> = site.leases().into_iter().map(|(_, a)| a).collect();
        if leased.len() != 2 {
            problems.push(format!(
                "dnsmasq leased {leased:?}, not one address to each unikernel"
            ));
        }
        Ok(Seen {
            problems,
            ending: format!("{}; website at {address}", ending_of(status)),
            consoles: format!(
                "=== website ===\n{}=== fetch ===\n{output}",
                server.output()
            ),
            output,
        })
    })
}

/// What is wrong with the response fetch printed in `output`: it must be a
/// 200 whose body is `page`.
fn response_problems(output: &str, page: &[u8]) -> Vec<String> {
    let Some(response) = response(output) else {
        return vec![format!(
            "no response between `{FIRST_MARK}` and `{LAST_MARK}`"
        )];
    };
    let mut problems = Vec::new();
    let (head, body) = response
        .split_once("\n\n")
        .unwrap_or((response.as_str(), ""));
    if !head.starts_with("HTTP/1.1 200 OK") {
        problems.push(format!(
            "the response is not a 200: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    if body != unix_lines(&String::from_utf8_lossy(page)) {
        problems.push(format!(
            "the body ({} bytes) is not the website's index.html ({} bytes)",
            body.len(),
            page.len()
        ));
    }
    problems
}

/// What fetch printed between its marks, with every line ending as `\n`
/// (HTTP's head ends its lines with `\r\n`, and a serial console may add
/// `\r` of its own).
fn response(output: &str) -> Option<String> {
    let output = unix_lines(output);
    let start = output.find(FIRST_MARK)? + FIRST_MARK.len() + 1;
    let end = output[start..].rfind(LAST_MARK)? + start;
    Some(output[start..end].strip_suffix('\n')?.to_string())
}

fn unix_lines(text: &str) -> String {
    text.replace('\r', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leased_address_is_read_from_charruas_line() {
        let output = "x [dhcp_client_lwt] Lease obtained! IP: 10.1.2.57, routers: 10.1.2.1\n";
        assert_eq!(leased_address(output), Some(Ipv4Addr::new(10, 1, 2, 57)));
        assert_eq!(leased_address("no lease\n"), None);
    }

    #[test]
    fn the_response_is_what_comes_between_the_marks() {
        let output =
            format!("log\n{FIRST_MARK}\nHTTP/1.1 200 OK\r\n\r\n<p>hi</p>\n\n{LAST_MARK}\nend\n");
        assert_eq!(response(&output).unwrap(), "HTTP/1.1 200 OK\n\n<p>hi</p>\n");
        assert_eq!(response("nothing"), None);
    }
}
