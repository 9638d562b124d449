//! What a program must do, as the files beside an example say:
//! `<example>.expected` (its console, less Unikraft's banner and our status
//! line), `<example>.status`, and optionally `<example>.args` (one
//! argument a line), `<example>.timeout` (seconds, for an example that
//! must time out), `<example>.memory` (MiB of guest memory) and
//! `<example>.devices` (`net`, `disk` or `share`: the device test it
//! needs, see [`super::device_tests`]; `net` and `disk` examples exist on
//! Unikraft only, `share` ones boot on 9pfs bundles only) and
//! `<example>.env` (`NAME=VALUE` a line: its environment, in a unikernel
//! through the runner's `--env`; `{host_time}` in a value becomes the
//! host's clock, in seconds since the epoch, at the launch).

use crate::target::{BuildOption, Bundle};
use anyhow::{bail, Context as _, Result};
use ocaml_unikraft_toolchain::boot::vmm;
use std::path::Path;
use std::time::Duration;

/// What a program must do.
#[derive(Default)]
pub(crate) struct Expected {
    pub(crate) output: String,
    pub(crate) status: u8,
    pub(crate) args: Vec<String>,
    /// How long it may run, when not `--timeout` (`<example>.timeout`, for
    /// an example that must time out).
    pub(crate) timeout: Option<Duration>,
    /// Guest memory in MiB, when not the default (`<example>.memory`).
    pub(crate) memory_mib: Option<u32>,
    /// The device test it needs (`<example>.devices`).
    pub(crate) device_test: Option<DeviceTest>,
    /// Its environment (`<example>.env`), before [`Expected::env_now`].
    pub(crate) env: Vec<String>,
    /// Compare as ocamltest compares text: `\r\n` is a line end like `\n`.
    pub(crate) crlf_is_newline: bool,
}

/// In an `<example>.env` value: the host's clock at the launch.
const HOST_TIME: &str = "{host_time}";

/// A device an example needs, and the host side of its test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceTest {
    /// A network device whose frames the test exchanges.
    Net,
    /// A disk the test writes before the boot and reads after it.
    Disk,
    /// A shared directory (a 9pfs bundle's, or the current directory on
    /// Linux) the test fills before the run and reads after it.
    Share,
}

impl DeviceTest {
    /// Whether the example is built and run natively too: the device
    /// APIs exist on Unikraft only, files everywhere.
    pub(crate) fn runs_on_linux(self) -> bool {
        self == DeviceTest::Share
    }
}

impl Expected {
    /// Its environment for a launch now: `{host_time}` replaced by the
    /// host's clock, in seconds since the epoch (to the millisecond).
    pub(crate) fn env_now(&self) -> Vec<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.env
            .iter()
            .map(|var| var.replace(HOST_TIME, &format!("{now:.3}")))
            .collect()
    }

    /// Why the example does not boot on `bundle`, if it does not. A 9pfs
    /// bundle mounts the shared directory during boot and stops without
    /// one, so it boots exactly the examples that use one (`share`), which
    /// need it: the rule goes both ways.
    pub(crate) fn not_for(&self, bundle: &Bundle) -> Option<&'static str> {
        if matches!(self.device_test, Some(DeviceTest::Net | DeviceTest::Disk))
            && bundle.has(BuildOption::NoDevices)
        {
            return Some("a nodevices bundle has no network or block device");
        }
        let uses_share = self.device_test == Some(DeviceTest::Share);
        match (uses_share, bundle.has(BuildOption::NinePfs)) {
            (true, false) => Some("needs a 9pfs bundle (it reads a shared directory)"),
            (false, true) => {
                Some("a 9pfs bundle boots only the examples that use a shared directory")
            }
            _ => None,
        }
    }

    /// What a hello must do: take no arguments, print what `file` holds and
    /// exit 0.
    pub(crate) fn hello(file: &Path) -> Result<Expected> {
        Ok(Expected {
            output: read_text(file)?,
            status: 0,
            args: Vec::new(),
            timeout: None,
            memory_mib: None,
            device_test: None,
            env: Vec::new(),
            crlf_is_newline: false,
        })
    }
}

/// The examples of `dir`: every `<name>.expected`, with its `.status` and
/// optional `.args` and `.timeout`, sorted by name.
pub(crate) fn examples(dir: &Path) -> Result<Vec<(String, Expected)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let (Some(name), Some("expected")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        found.push((name.to_string(), example(dir, name)?));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.is_empty() {
        bail!("no <example>.expected file in {}", dir.display());
    }
    Ok(found)
}

/// What the files of example `name` in `dir` say it must do.
fn example(dir: &Path, name: &str) -> Result<Expected> {
    let file = |extension: &str| dir.join(format!("{name}.{extension}"));
    let status_file = file("status");
    let status = read_text(&status_file)?;
    let status = status.trim().parse::<u8>().with_context(|| {
        format!(
            "{} must hold an exit status (0-255), not {status:?}",
            status_file.display()
        )
    })?;
    let args = match read_if_present(&file("args"))? {
        Some(text) => text.lines().map(String::from).collect(),
        None => Vec::new(),
    };
    let timeout_file = file("timeout");
    let timeout = match read_if_present(&timeout_file)? {
        Some(text) => Some(seconds(&timeout_file, &text)?),
        None => None,
    };
    let memory_file = file("memory");
    let memory_mib = match read_if_present(&memory_file)? {
        Some(text) => Some(
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|m| *m > 0)
                .with_context(|| {
                    format!(
                        "{} must hold MiB of memory, not {text:?}",
                        memory_file.display()
                    )
                })?,
        ),
        None => None,
    };
    let devices_file = file("devices");
    let device_test = match read_if_present(&devices_file)?.as_deref().map(str::trim) {
        None => None,
        Some("net") => Some(DeviceTest::Net),
        Some("disk") => Some(DeviceTest::Disk),
        Some("share") => Some(DeviceTest::Share),
        Some(other) => bail!(
            "{} must say net, disk or share, not {other:?}",
            devices_file.display()
        ),
    };
    let env_file = file("env");
    let env = match read_if_present(&env_file)? {
        Some(text) => text
            .lines()
            .map(|line| {
                vmm::env_var(line).map_err(|why| anyhow::anyhow!("{}: {why}", env_file.display()))
            })
            .collect::<Result<_>>()?,
        None => Vec::new(),
    };
    Ok(Expected {
        output: read_text(&file("expected"))?,
        status,
        args,
        timeout,
        memory_mib,
        device_test,
        env,
        crlf_is_newline: false,
    })
}

/// The positive number of seconds that `file` holds (`text`).
fn seconds(file: &Path, text: &str) -> Result<Duration> {
    let seconds = text.trim().parse::<f64>().ok().filter(|s| *s > 0.0);
    Ok(Duration::from_secs_f64(seconds.with_context(|| {
        format!(
            "{} must hold a number of seconds, not {text:?}",
            file.display()
        )
    })?))
}

fn read_if_present(path: &Path) -> Result<Option<String>> {
    path.exists().then(|| read_text(path)).transpose()
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Backend};

    #[test]
    fn a_nodevices_bundle_boots_no_device_example() {
        let lean = Bundle::new(Backend::Qemu, Arch::Arm64, &[BuildOption::NoDevices]);
        for device in [DeviceTest::Net, DeviceTest::Disk] {
            let example = Expected {
                device_test: Some(device),
                ..Expected::default()
            };
            assert!(example.not_for(&lean).is_some());
            assert_eq!(
                example.not_for(&Bundle::new(Backend::Qemu, Arch::Arm64, &[])),
                None
            );
        }
        assert_eq!(Expected::default().not_for(&lean), None);
    }

    #[test]
    fn share_examples_and_9pfs_bundles_go_together() {
        let plain = Bundle::new(Backend::Qemu, Arch::X86_64, &[]);
        let debug = Bundle::new(Backend::Qemu, Arch::X86_64, &[BuildOption::Debug]);
        let ninep = Bundle::new(Backend::Qemu, Arch::X86_64, &[BuildOption::NinePfs]);
        let both = Bundle::new(
            Backend::Qemu,
            Arch::Arm64,
            &[BuildOption::Debug, BuildOption::NinePfs],
        );
        let hello = Expected::default();
        let share = Expected {
            device_test: Some(DeviceTest::Share),
            ..Expected::default()
        };
        let disk = Expected {
            device_test: Some(DeviceTest::Disk),
            ..Expected::default()
        };
        for bundle in [&plain, &debug] {
            assert_eq!(hello.not_for(bundle), None);
            assert_eq!(disk.not_for(bundle), None);
            assert!(share
                .not_for(bundle)
                .unwrap()
                .contains("needs a 9pfs bundle"));
        }
        for bundle in [&ninep, &both] {
            assert_eq!(share.not_for(bundle), None);
            assert!(hello.not_for(bundle).is_some());
            assert!(disk.not_for(bundle).is_some());
        }
    }

    #[test]
    fn the_host_time_placeholder_becomes_the_clock_at_the_launch() {
        let example = Expected {
            env: vec!["HOST_TIME={host_time}".into(), "KEPT=as is".into()],
            ..Expected::default()
        };
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let env = example.env_now();
        let host_time: f64 = env[0].strip_prefix("HOST_TIME=").unwrap().parse().unwrap();
        assert!((host_time - before).abs() < 1.0, "{host_time} {before}");
        assert_eq!(env[1], "KEPT=as is");
    }

    #[test]
    fn every_example_has_a_status_and_the_examples_are_all_there() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/all");
        let names: Vec<String> = examples(&dir).unwrap().into_iter().map(|e| e.0).collect();
        for wanted in [
            "hello",
            "args",
            "fail",
            "exit",
            "threader",
            "domain_spawn",
            "share_read",
            "clock",
            "environment",
        ] {
            assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
        }
    }
}
