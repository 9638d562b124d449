//! The installed runner as a service host, against a fake QEMU on `PATH`
//! (a shell script that plays the guest): how it stops on signals, that
//! the VMM never outlives it, that its memory stays bounded whatever the
//! guest prints, and its usage errors. Real guests on both QEMU arches are
//! `cargo xtask localtests`' `runner` rows.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNNER: &str = env!("CARGO_BIN_EXE_ocaml-unikraft-run");

/// Sets `$t` to the boot's token, from QEMU's `-append` argument.
const TOKEN_PRELUDE: &str = r#"for a; do case "$a" in *libocamlexit.token=*)
    t=${a#*libocamlexit.token=}; t=${t%% *};; esac; done"#;

/// A directory with a fake `qemu-system-x86_64` playing `script` (after
/// writing its pid to `vmm.pid`), and an image file for it.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(script: &str) -> Fake {
        let dir = tempfile::Builder::new()
            .prefix("runner-test")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let qemu = dir.path().join("qemu-system-x86_64");
        let pid_file = dir.path().join("vmm.pid");
        fs::write(
            &qemu,
            format!(
                "#!/bin/sh\n{TOKEN_PRELUDE}\necho $$ > '{}.tmp' && mv '{0}.tmp' '{0}'\n{script}\n",
                pid_file.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&qemu, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.path().join("image"), b"not really an image").unwrap();
        Fake { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The runner booting the fake image, its stdout piped or not.
    fn runner(&self, extra: &[&str], stdout: Stdio) -> Command {
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new(RUNNER);
        cmd.env("PATH", path)
            .args(["--arch", "x86_64", "--backend", "qemu"])
            .args(extra)
            .arg(self.path("image"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped());
        cmd
    }

    /// The fake VMM's pid, once it has started.
    fn vmm_pid(&self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = fs::read_to_string(self.path("vmm.pid")) {
                return text.trim().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "the fake VMM did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether a process is still running (a zombie is not).
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

fn send(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

/// A guest that serves forever and says when the VMM is asked to stop.
const SERVER: &str = "trap 'echo asked > \"$(dirname \"$0\")/asked\"; exit 0' TERM
echo serving
while :; do sleep 0.05; done";

#[test]
fn each_stop_signal_stops_the_vm_and_the_runner_exits_128_plus_it() {
    for (signal, name) in [
        (libc::SIGINT, "SIGINT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let fake = Fake::new(SERVER);
        let child = fake.runner(&[], Stdio::piped()).spawn().unwrap();
        let vmm = fake.vmm_pid();
        std::thread::sleep(Duration::from_millis(200));
        send(&child, signal);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(128 + signal), "{name}");
        assert!(fake.path("asked").exists(), "{name}: the VMM was not asked");
        assert!(wait_gone(vmm, Duration::from_secs(2)), "{name}: VMM alive");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("stopped by {name} (status {})", 128 + signal)),
            "{stderr}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("serving"));
    }
}

#[test]
fn a_vmm_that_ignores_the_request_is_killed_after_the_grace() {
    let fake = Fake::new("trap '' TERM\necho stubborn\nwhile :; do sleep 0.05; done");
    let child = fake.runner(&[], Stdio::null()).spawn().unwrap();
    let vmm = fake.vmm_pid();
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    send(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert!(wait_gone(vmm, Duration::from_secs(2)));
}

#[test]
fn the_vmm_dies_with_a_runner_killed_by_sigkill() {
    let fake = Fake::new(SERVER);
    let mut child = fake.runner(&[], Stdio::null()).spawn().unwrap();
    let vmm = fake.vmm_pid();
    assert!(alive(vmm));
    send(&child, libc::SIGKILL);
    child.wait().unwrap();
    assert!(
        wait_gone(vmm, Duration::from_secs(2)),
        "the VMM outlived the runner"
    );
}

#[test]
fn without_timeout_the_guest_runs_until_it_ends() {
    // No --timeout: a guest that takes its time is not stopped.
    let fake = Fake::new(r#"sleep 2; echo done; echo "ocaml-unikraft: exit status 7 boot=$t""#);
    let out = fake.runner(&[], Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    // With one, it is.
    let out = fake
        .runner(&["--timeout", "0.5"], Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
}

#[test]
fn a_timeout_that_is_not_a_positive_finite_number_is_a_usage_error() {
    let fake = Fake::new("exit 0");
    for bad in ["inf", "nan", "1e30", "0", "-5", "soon"] {
        let out = fake
            .runner(&["--timeout", bad], Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--timeout"), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bad}: {stderr}");
        assert!(!fake.path("vmm.pid").exists(), "{bad}: a VMM was started");
    }
}

#[test]
fn environment_variables_reach_the_kernel_command_line_before_the_arguments() {
    let fake = Fake::new(
        r#"for a; do prev=$cur; cur=$a; [ "$prev" = -append ] && printf '%s\n' "$a"; done
echo "ocaml-unikraft: exit status 0 boot=$t""#,
    );
    let out = fake
        .runner(
            &["--env", "GREETING=hello world", "-e", "EMPTY="],
            Stdio::piped(),
        )
        .args(["--", "arg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8_lossy(&out.stdout);
    let (_, after_token) = line.split_once(' ').unwrap();
    assert_eq!(
        after_token.trim_end(),
        "'env.vars=[GREETING=hello world' EMPTY=] -- arg"
    );
    for bad in ["1X=a", "NOEQUALS", "X=ends]"] {
        let out = fake
            .runner(&["--env", bad], Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

/// The runner's own peak resident memory in KiB (its `VmHWM`, read while
/// it runs: wait4's figure would count the fake VMM's pipeline too), and
/// its exit status.
fn watch_peak_rss(mut child: Child) -> (Option<i32>, u64) {
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), peak);
        }
        let status = fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        {
            peak = kib;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_runners_memory_stays_bounded_whatever_the_guest_prints() {
    // 256 MB of output, then the status line: the verdict is still right
    // and the runner holds only a tail of it.
    let megabytes = 256;
    let fake = Fake::new(&format!(
        r#"head -c {megabytes}000000 /dev/zero | tr '\0' 'x'
echo; echo last; echo "ocaml-unikraft: exit status 5 boot=$t""#
    ));
    let child = fake.runner(&[], Stdio::null()).spawn().unwrap();
    let (status, peak_kib) = watch_peak_rss(child);
    assert_eq!(status, Some(5));
    assert!(peak_kib > 0, "no memory figure read");
    assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");
}

#[test]
fn a_console_tail_still_shows_a_crash_after_the_status_line() {
    let fake = Fake::new(
        r#"head -c 3000000 /dev/zero | tr '\0' 'y'
echo "ocaml-unikraft: exit status 0 boot=$t"; echo 'CRIT: page fault'"#,
    );
    let out = fake.runner(&[], Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(134));
}

#[test]
fn an_image_that_does_not_exist_is_an_error_not_a_boot() {
    let fake = Fake::new("exit 0");
    let out = Command::new(RUNNER)
        .arg(Path::new("/nonexistent/image"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(!fake.path("vmm.pid").exists());
}
