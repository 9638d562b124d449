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
//!   must pass, and the exit status be 0;
//! - crypto: the known answers of its digests and cipher, and its RSA key
//!   ([`super::crypto`]);
//! - dns: its question answered by a resolver of ours ([`super::dns`]);
//! - https, website: served to a TLS client of ours ([`super::https`]);
//! - http: HTTP/2 and HTTP/1.1 over TLS ([`super::minipaf`]);
//! - entropy: booted twice; each boot must log mirage-crypto-rng's entropy
//!   sources and 32 random bytes in hex, and exit 0. The two draws must
//!   differ (a generator seeded alike at every boot draws alike), and the
//!   sources must name rdrand (the runner's CPU has RDRAND on x86_64 and
//!   FEAT_RNG on arm64, which our mirage-crypto patch puts to use).

use super::https::Site;
use super::unikernel::Example;
use crate::check::table::{Run, Verdict};
use crate::target::Arch;
use anyhow::{Context as _, Result};
use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Boots `image` (built for `arch` in the case directory `dir`) with
/// `runner` and judges the run of `example`; what the runner printed goes
/// to `console`.
pub(crate) fn boot(
    runner: &Path,
    example: Example,
    arch: Arch,
    dir: &Path,
    image: &Path,
    timeout: Duration,
    console: &Path,
) -> Result<(Verdict, Option<Run>)> {
    let (verdict, run, output) = boot_and_judge(runner, example, arch, dir, image, timeout)?;
    std::fs::write(console, output).with_context(|| format!("writing {}", console.display()))?;
    Ok((verdict, run))
}

fn boot_and_judge(
    runner: &Path,
    example: Example,
    arch: Arch,
    dir: &Path,
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
        Example::Crypto => {
            let vm = Vm::start(runner, image, &[], &[], timeout)?;
            let (status, output) = vm.wait()?;
            let (verdict, run) = super::crypto::judge(status, &output);
            Ok((verdict, run, output))
        }
        Example::Dns => super::dns::boot(runner, image, timeout),
        Example::Https => super::https::boot(runner, Site::Skeleton, dir, image, timeout),
        Example::Website => super::https::boot(runner, Site::Ours, dir, image, timeout),
        Example::Http => super::minipaf::boot(runner, dir, image, timeout),
        Example::Network => network(runner, image, timeout, &STATIC_ARGS, None),
        Example::NetworkDhcp => network(runner, image, timeout, &DHCP_ARGS, Some(LEASE_LINE)),
        Example::Entropy => {
            let mut boots = Vec::new();
            for _ in 0..2 {
                boots.push(Vm::start(runner, image, &[], &[], timeout)?.wait()?);
            }
            let (verdict, run) = judge_entropy(arch, &boots);
            // Both consoles, each under a line of ours.
            let output = boots
                .iter()
                .enumerate()
                .map(|(n, (_, output))| format!("=== boot {} ===\n{output}", n + 1))
                .collect();
            Ok((verdict, run, output))
        }
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
    let ending = ending_of(status);
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

/// A pass when nothing is wrong; else a fail listing `problems` above the
/// end of the console. The row's outcome is `ending`.
pub(super) fn judged(problems: &[String], output: &str, ending: String) -> (Verdict, Option<Run>) {
    let verdict = if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!("{}\n{}", problems.join("\n"), tail(output)))
    };
    (verdict, Some(run(ending)))
}

pub(super) fn ending_of(status: Option<i32>) -> String {
    match status {
        Some(code) => format!("exit {code}"),
        None => "killed".to_string(),
    }
}

/// What the entropy example logs: the sources as mirage-crypto-rng prints
/// them (`[0] rdrand, [1] timer`), then its draw in hex.
const SOURCES_LINE: &str = "[INFO] [application] entropy sources: ";
const DRAW_LINE: &str = "[INFO] [application] random bytes: ";
/// 32 bytes.
const DRAW_DIGITS: usize = 64;

/// A pass when each of `boots` (status and console) exited 0 and logged
/// its sources and a draw, the draws differ, and on x86_64 the sources
/// name rdrand. The outcome records the sources.
fn judge_entropy(arch: Arch, boots: &[(Option<i32>, String)]) -> (Verdict, Option<Run>) {
    let mut problems = Vec::new();
    let mut sources = Vec::new();
    let mut draws = Vec::new();
    for (n, (status, output)) in boots.iter().enumerate() {
        let boot = n + 1;
        if *status != Some(0) {
            problems.push(format!("boot {boot}: {}, not 0", ending_of(*status)));
        }
        match logged_once(output, SOURCES_LINE) {
            Some(names) => sources.push(names),
            None => problems.push(format!("boot {boot}: not one `{SOURCES_LINE}` line")),
        }
        let hex = |d: &&str| d.len() == DRAW_DIGITS && d.bytes().all(|b| b.is_ascii_hexdigit());
        match logged_once(output, DRAW_LINE).filter(hex) {
            Some(draw) => draws.push(draw),
            None => problems.push(format!(
                "boot {boot}: not one `{DRAW_LINE}` line with {DRAW_DIGITS} hex digits"
            )),
        }
    }
    if let [first, second] = draws[..] {
        if first == second {
            problems.push(format!(
                "both boots drew {first}: the generator was seeded alike"
            ));
        }
    }
    // The runner gives QEMU guests a CPU with a random number generator
    // (x86_64: RDRAND; arm64: FEAT_RNG's RNDR, which our mirage-crypto
    // patch lets it use under the same name).
    let has_rdrand = |names: &&str| names.split(", ").any(|s| s.ends_with("] rdrand"));
    if !sources.iter().all(has_rdrand) {
        let cpu = match arch {
            Arch::X86_64 => "QEMU x86_64 CPU must have RDRAND (`-cpu ...,+rdrand`)",
            Arch::Arm64 => "QEMU arm64 CPU must have FEAT_RNG (`-cpu max`), and mirage-crypto our patch (tests/mirage/patches/mirage-crypto)",
        };
        problems.push(format!(
            "the sources ({}) do not name rdrand\nhelp: the runner's {cpu}; mirage-crypto seeds from the timer alone without it",
            sources.join(" | ")
        ));
    }
    let endings: Vec<String> = boots.iter().map(|(s, _)| ending_of(*s)).collect();
    if problems.is_empty() {
        let ending = format!("exit 0 ×{}; {}", boots.len(), sources[0]);
        return (Verdict::Pass, Some(run(ending)));
    }
    let consoles: Vec<String> = boots
        .iter()
        .enumerate()
        .map(|(n, (_, output))| format!("boot {}:\n{}", n + 1, tail(output)))
        .collect();
    let why = format!("{}\n{}", problems.join("\n"), consoles.join("\n"));
    (Verdict::Fail(why), Some(run(endings.join(", "))))
}

/// The rest of the one line of `output` that has `mark`; `None` when none
/// or several have it.
fn logged_once<'a>(output: &'a str, mark: &str) -> Option<&'a str> {
    let mut found = output
        .lines()
        .filter_map(|line| line.split_once(mark).map(|(_, rest)| rest.trim()));
    match (found.next(), found.next()) {
        (Some(rest), None) => Some(rest),
        _ => None,
    }
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

/// A port of 127.0.0.1 free a moment ago, for QEMU to listen on.
pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Connects, sends `payload` and closes our side.
fn send(port: u16, payload: &str) -> std::io::Result<()> {
    let mut stream =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5))?;
    stream.write_all(payload.as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)
}

pub(super) fn run(ending: String) -> Run {
    Run {
        ending,
        first_output: None,
    }
}

/// The last lines of a console, for a failure's message.
pub(super) fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(15)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A runner started in a process group of its own, so that stopping it
/// stops its VMM too; its stdout and stderr are collected as they come.
pub(crate) struct Vm {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Vm {
    pub(crate) fn start(
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

    pub(crate) fn output(&self) -> String {
        let bytes = self.output.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub(crate) fn running(&mut self) -> Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// The row of a server checked from the host: `checked` is what the
    /// checks found while the VM served. The VM is stopped if it still
    /// runs; a pass needs it to have run until then.
    pub(super) fn judge_served(
        mut self,
        checked: Result<()>,
    ) -> Result<(Verdict, Option<Run>, String)> {
        let running = self.running()?;
        if running {
            self.stop()?;
        }
        let output = self.output();
        let (verdict, ending) = match checked {
            Ok(()) if running => (Verdict::Pass, "served, then stopped"),
            Ok(()) => (
                Verdict::Fail(format!("the VM ended while serving:\n{}", tail(&output))),
                "ended by itself",
            ),
            Err(err) => (
                Verdict::Fail(format!("{err:#}\n{}", tail(&output))),
                "stopped",
            ),
        };
        Ok((verdict, Some(run(ending.into())), output))
    }

    /// Stops the runner and its VMM (SIGTERM to their process group).
    pub(crate) fn stop(&mut self) -> Result<()> {
        // The group's id is the runner's pid (`process_group(0)`).
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals that process group only.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        self.wait_for_end()?;
        Ok(())
    }

    /// Waits for the runner to end by itself (it stops the VMM at its own
    /// `--timeout`); its status and everything it printed.
    pub(crate) fn wait(mut self) -> Result<(Option<i32>, String)> {
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
    fn entropy_needs_two_different_draws_and_the_cpu_rng() {
        let boot = |sources: &str, draw: &str| {
            (
                Some(0),
                format!(
                    "no CPU RNG bootstrap\nT: {SOURCES_LINE}{sources}\r\nT: {DRAW_LINE}{draw}\n"
                ),
            )
        };
        let (a, b) = ("ab".repeat(32), "cd".repeat(32));
        let both = "[0] rdrand, [1] timer";
        let passed = judge_entropy(Arch::X86_64, &[boot(both, &a), boot(both, &b)]);
        assert_eq!(passed.0, Verdict::Pass);
        assert_eq!(passed.1.unwrap().ending, "exit 0 ×2; [0] rdrand, [1] timer");
        let fails = |arch, boots: &[(Option<i32>, String)], why: &str| {
            let verdict = judge_entropy(arch, boots).0;
            assert!(
                matches!(&verdict, Verdict::Fail(w) if w.contains(why)),
                "{verdict:?}"
            );
        };
        assert_eq!(
            judge_entropy(Arch::Arm64, &[boot(both, &a), boot(both, &b)]).0,
            Verdict::Pass
        );
        let timer = "[0] timer";
        for arch in [Arch::X86_64, Arch::Arm64] {
            fails(
                arch,
                &[boot(timer, &a), boot(timer, &b)],
                "do not name rdrand",
            );
        }
        fails(
            Arch::Arm64,
            &[boot(both, &a), boot(both, &a)],
            "seeded alike",
        );
        fails(
            Arch::Arm64,
            &[boot(both, &a), boot(both, "ab")],
            "boot 2: not one",
        );
        let mut exit1 = boot(both, &b);
        exit1.0 = Some(1);
        fails(
            Arch::Arm64,
            &[boot(both, &a), exit1],
            "boot 2: exit 1, not 0",
        );
        let twice = (Some(0), format!("{}{}", boot(both, &a).1, boot(both, &b).1));
        fails(Arch::Arm64, &[twice, boot(both, &b)], "boot 1: not one");
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
