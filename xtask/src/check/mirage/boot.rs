//! Booting the examples with the installed `ocaml-unikraft-run`, as a user
//! does, and what each must show:
//!
//! - hello: its four `hello` log lines, and exit status 0;
//! - network: a static address on the command line and 127.0.0.1:PORT
//!   forwarded to the guest's 8080. The test connects and sends a payload
//!   of its own; the guest must log the connection and (at debug level) the
//!   bytes it read. A connection alone proves nothing: QEMU's user network
//!   accepts it on the host side whether the guest listens or not. The VM
//!   is stopped once both are seen;
//! - network_dhcp: the same, but no address on the command line: the guest
//!   must log the lease QEMU's DHCP server gives it, then the same
//!   connection and payload;
//! - block: a fresh disk image; the skeleton's ten read and write checks
//!   must pass, and the exit status be 0.

use super::unikernel::Example;
use crate::check::table::{Run, Verdict};
use anyhow::{Context as _, Result};
use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Boots `image` with `runner` and judges the run of `example`; what the
/// runner printed goes to `console`.
pub(crate) fn boot(
    runner: &Path,
    example: Example,
    image: &Path,
    timeout: Duration,
    console: &Path,
) -> Result<(Verdict, Option<Run>)> {
    let (verdict, run, output) = boot_and_judge(runner, example, image, timeout)?;
    std::fs::write(console, output).with_context(|| format!("writing {}", console.display()))?;
    Ok((verdict, run))
}

fn boot_and_judge(
    runner: &Path,
    example: Example,
    image: &Path,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>, String)> {
    match example {
        Example::Hello => {
            let vm = Vm::start(runner, image, &[], &[], timeout)?;
            let (status, output) = vm.wait()?;
            let (verdict, run) = judge_exit(status, &output, &["[INFO] [application] hello"], 4);
            Ok((verdict, run, output))
        }
        Example::Block => {
            let dir = tempfile::tempdir().context("creating a directory for the disk")?;
            let disk = dir.path().join("disk.img");
            std::fs::write(&disk, vec![0u8; DISK_BYTES])
                .with_context(|| format!("writing {}", disk.display()))?;
            let disk_option = ["--disk".into(), disk.into_os_string()];
            let vm = Vm::start(runner, image, &disk_option, &[], timeout)?;
            let (status, output) = vm.wait()?;
            let (verdict, run) = judge_exit(status, &output, &BLOCK_LINES, 1);
            Ok((verdict, run, output))
        }
        Example::Network => network(runner, image, timeout, &STATIC_ARGS, None),
        Example::NetworkDhcp => network(runner, image, timeout, &DHCP_ARGS, Some(LEASE_LINE)),
    }
}

/// 4 MiB: room for the skeleton's writes at both ends.
const DISK_BYTES: usize = 4 << 20;

/// What device-usage/block logs when its checks pass.
const BLOCK_LINES: [&str; 3] = [
    "[INFO] [block] Test sequence finished",
    "[INFO] [block] Total tests passed:  10",
    "[INFO] [block] Total tests failed:  0",
];

/// A pass when the runner exited 0 and `output` has each of `lines`
/// `times` times.
fn judge_exit(
    status: Option<i32>,
    output: &str,
    lines: &[&str],
    times: usize,
) -> (Verdict, Option<Run>) {
    let ending = match status {
        Some(code) => format!("exit {code}"),
        None => "killed".to_string(),
    };
    let missing: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| output.lines().filter(|l| l.contains(line)).count() != times)
        .collect();
    let verdict = match (status, missing.is_empty()) {
        (Some(0), true) => Verdict::Pass,
        (_, true) => Verdict::Fail(format!("{ending}, not 0:\n{}", tail(output))),
        (_, false) => Verdict::Fail(format!(
            "the console does not have {} {times} time(s):\n{}",
            missing.join(" | "),
            tail(output)
        )),
    };
    (verdict, Some(run(ending)))
}

/// The skeleton logs the bytes it read at debug level.
const DEBUG_LOGS: &str = "--logs=application:debug";
/// The guest's address and gateway on QEMU's user network.
const STATIC_ARGS: [&str; 3] = ["--ipv4=10.0.2.15/24", "--ipv4-gateway=10.0.2.2", DEBUG_LOGS];
/// No `--ipv4`: the stack asks for a lease.
const DHCP_ARGS: [&str; 1] = [DEBUG_LOGS];
/// What charrua logs (at info level) for the lease QEMU's user network
/// gives its first guest: the address above and QEMU as the router.
const LEASE_LINE: &str = "Lease obtained! IP: 10.0.2.15, routers: 10.0.2.2";
const GUEST_PORT: u16 = 8080;
/// The line the skeleton logs for each connection (from QEMU's gateway).
const CONNECTION_LINE: &str = "new tcp connection from IP 10.0.2.2";
/// What the stack logs once it listens.
const STACK_READY: &str = "TCP layer connected";

/// Boots the network example with `args` and serves it a payload; with
/// `lease_line`, the guest must log that too (before its stack is up).
fn network(
    runner: &Path,
    image: &Path,
    timeout: Duration,
    args: &[&str],
    lease_line: Option<&str>,
) -> Result<(Verdict, Option<Run>, String)> {
    // A port free a moment ago, for QEMU to listen on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
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
            let _ = send(port, &payload);
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

/// Connects, sends `payload` and closes our side.
fn send(port: u16, payload: &str) -> std::io::Result<()> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5))?;
    stream.write_all(payload.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)
}

fn run(ending: String) -> Run {
    Run {
        ending,
        first_output: None,
    }
}

/// The last lines of a console, for a failure's message.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(15)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A runner started in a process group of its own, so that stopping it
/// stops its VMM too; its stdout and stderr are collected as they come.
struct Vm {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Vm {
    fn start(
        runner: &Path,
        image: &Path,
        options: &[std::ffi::OsString],
        args: &[&str],
        timeout: Duration,
    ) -> Result<Vm> {
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new(runner);
        command
            .arg("--timeout")
            .arg(timeout.as_secs_f64().to_string())
            .args(options)
            .arg(image)
            .arg("--")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {}", runner.display()))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().context("no stdout")?),
            Box::new(child.stderr.take().context("no stderr")?),
        ];
        for mut stream in streams {
            let output = Arc::clone(&output);
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut all) = output.lock() {
                        all.extend_from_slice(&buf[..n]);
                    }
                }
            }));
        }
        Ok(Vm {
            child,
            output,
            readers,
        })
    }

    fn output(&self) -> String {
        let bytes = self.output.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn running(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// Stops the runner and its VMM (SIGTERM to their process group).
    fn stop(&mut self) -> Result<()> {
        // The group's id is the runner's pid (`process_group(0)`).
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        self.wait_for_end()?;
        Ok(())
    }

    /// Waits for the runner to end by itself (it stops the VMM at its own
    /// `--timeout`); its status and everything it printed.
    fn wait(mut self) -> Result<(Option<i32>, String)> {
        let status = self.wait_for_end()?;
        Ok((status, self.output()))
    }

    fn wait_for_end(&mut self) -> Result<Option<i32>> {
        let status = self.child.wait()?;
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
        Ok(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_passes_with_every_line_the_right_number_of_times() {
        let hello = "x [INFO] [application] hello\n".repeat(4);
        let lines = ["[INFO] [application] hello"];
        assert_eq!(judge_exit(Some(0), &hello, &lines, 4).0, Verdict::Pass);
        let three = "x [INFO] [application] hello\n".repeat(3);
        assert!(
            matches!(judge_exit(Some(0), &three, &lines, 4).0, Verdict::Fail(why) if why.contains("4 time(s)"))
        );
        assert!(
            matches!(judge_exit(Some(2), &hello, &lines, 4).0, Verdict::Fail(why) if why.starts_with("exit 2, not 0"))
        );
    }

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
