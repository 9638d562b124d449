//! The network example (mirage-skeleton's device-usage/network) on
//! QEMU's user network: a TCP port of 127.0.0.1 forwarded to the guest's
//! 8080, a static address or a lease from QEMU's DHCP server.

use super::vm::{free_port, run, tail, Vm};
use crate::check::table::{Run, Verdict};
use anyhow::Result;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// The skeleton logs the bytes it read at debug level.
const DEBUG_LOGS: &str = "--logs=application:debug";
/// The guest's address and gateway on QEMU's user network.
pub(super) const STATIC_ARGS: [&str; 3] =
    ["--ipv4=10.0.2.15/24", "--ipv4-gateway=10.0.2.2", DEBUG_LOGS];
/// No `--ipv4`: the stack asks for a lease.
pub(super) const DHCP_ARGS: [&str; 1] = [DEBUG_LOGS];
/// What charrua logs (at info level) for the lease QEMU's user network
/// gives its first guest: the address above and QEMU as the router.
pub(super) const LEASE_LINE: &str = "Lease obtained! IP: 10.0.2.15, routers: 10.0.2.2";
pub(super) const GUEST_PORT: u16 = 8080;
/// What the skeleton logs for each connection, before the peer's address.
pub(super) const CONNECTION_PREFIX: &str = "new tcp connection from IP ";
/// Its line for a connection from QEMU's gateway.
const CONNECTION_LINE: &str = "new tcp connection from IP 10.0.2.2";
/// What the stack logs once it listens.
pub(super) const STACK_READY: &str = "TCP layer connected";

/// Boots the network example with `args` and serves it a payload; with
/// `lease_line`, the guest must log that too (before its stack is up).
pub(super) fn network(
    runner: &Path,
    image: &Path,
    timeout: Duration,
    args: &[&str],
    lease_line: Option<&str>,
) -> Result<(Verdict, Option<Run>, String)> {
    let port = free_port()?;
    let forward = [
        "--net".into(),
        "user".into(),
        "--forward".into(),
        format!("{port}:{GUEST_PORT}").into(),
    ];
    let mut vm = Vm::start(runner, image, &forward, args, timeout)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let payload = format!(
        "ocaml-unikraft mirage-tests payload {}-{nanos}",
        std::process::id()
    );
    let deadline = Instant::now() + timeout;
    let mut last_try: Option<Instant> = None;
    while Instant::now() < deadline && vm.running()? {
        let output = vm.output();
        if not_yet_seen(&output, lease_line, &payload).is_none() {
            vm.stop()?;
            let run = run("served, then stopped".into());
            return Ok((Verdict::Pass, Some(run), vm.output()));
        }
        // Once the stack is up, a connection every few seconds until the
        // guest logs one (its first SYN may come before its ARP reply).
        let due = last_try.is_none_or(|at| at.elapsed() > Duration::from_secs(5));
        if output.contains(STACK_READY) && due {
            last_try = Some(Instant::now());
            let _ = send(([127, 0, 0, 1], port).into(), &payload);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let running = vm.running()?;
    if running {
        vm.stop()?;
    }
    let output = vm.output();
    // Everything may have come between the last look and the end.
    let seen = not_yet_seen(&output, lease_line, &payload)
        .unwrap_or_else(|| "everything, but only as the VM ended".into());
    let ending = if running {
        "stopped at the deadline"
    } else {
        "ended by itself"
    };
    Ok((
        Verdict::Fail(format!(
            "the guest logged {seen} (payload `{payload}` sent to 127.0.0.1:{port}):\n{}",
            tail(&output)
        )),
        Some(run(ending.into())),
        output,
    ))
}

/// What of the network test's lines `output` lacks, the first missing in
/// the order the guest logs them (its lease, if any, comes before its
/// stack listens); `None` once it has them all.
fn not_yet_seen(output: &str, lease_line: Option<&str>, payload: &str) -> Option<String> {
    if let Some(line) = lease_line.filter(|line| !output.contains(line)) {
        return Some(format!(
            "no `{line}` line (no lease from QEMU's DHCP server)"
        ));
    }
    match (output.contains(CONNECTION_LINE), output.contains(payload)) {
        (false, _) => Some(format!("no `{CONNECTION_LINE}` line")),
        (true, false) => Some("the connection, but not the payload".into()),
        (true, true) => None,
    }
}

/// Connects to `address`, sends `payload` and closes our side.
pub(super) fn send(address: SocketAddr, payload: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.write_all(payload.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dhcp_test_needs_the_lease_besides_the_connection_and_payload() {
        let served = format!("[INFO] [application] {CONNECTION_LINE} on port 4\nread: x\nP\n");
        assert_eq!(not_yet_seen(&served, None, "P"), None);
        let lease = Some(LEASE_LINE);
        assert!(not_yet_seen(&served, lease, "P").is_some_and(|why| why.contains("no lease")));
        let leased = format!("[INFO] [dhcp_client_lwt] {LEASE_LINE}\n{served}");
        assert_eq!(not_yet_seen(&leased, lease, "P"), None);
        assert!(
            not_yet_seen(&leased, lease, "Q").is_some_and(|why| why.contains("not the payload"))
        );
    }
}
