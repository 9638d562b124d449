//! The host side of the site tests ([`super::site`]): a bridge with the
//! host at `.1` of a /24 of its own, and Debian's dnsmasq serving DHCP and
//! DNS on it, removed when the test ends.

use anyhow::{bail, Context as _, Result};
use ocaml_unikraft_toolchain::boot::network::{default_mac, Net};
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why the site tests cannot run here, if they cannot.
pub(crate) fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("making bridges and taps needs root".into());
    }
    if std::fs::metadata("/dev/net/tun").is_err() {
        return Some("this host has no /dev/net/tun (tap devices)".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("dnsmasq", "dnsmasq-base")] {
        if ocaml_unikraft_toolchain::which::on_path(tool).is_none() {
            return Some(format!("{tool} is not installed (Debian: {package})"));
        }
    }
    None
}

/// A bridge with the host at `.1` of a /24 of its own, and dnsmasq on it.
pub(crate) struct Site {
    bridge: String,
    subnet: [u8; 3],
    dir: tempfile::TempDir,
    dnsmasq: Option<Child>,
}

impl Site {
    /// Makes the bridge and starts dnsmasq, which also answers each of
    /// `names` with its address.
    pub(crate) fn start(names: &[(String, Ipv4Addr)]) -> Result<Site> {
        let pid = std::process::id();
        // A /24 of 10.0.0.0/8 from the pid, away from QEMU's 10.0.2.0/24.
        let subnet = [10, 100 + (pid % 100) as u8, (pid / 100 % 250) as u8];
        let mut site = Site {
            bridge: format!("ukbr{}", pid % 100_000),
            subnet,
            dir: tempfile::tempdir()?,
            dnsmasq: None,
        };
        ip(&["link", "add", &site.bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", site.gateway()),
            "dev",
            &site.bridge,
        ])?;
        ip(&["link", "set", &site.bridge, "up"])?;
        let [a, b, c] = subnet;
        let mut dnsmasq = Command::new("dnsmasq");
        dnsmasq
            .arg("--keep-in-foreground")
            .arg("--conf-file=/dev/null")
            .arg("--no-resolv")
            .arg("--no-hosts")
            .arg("--bind-interfaces")
            .arg(format!("--interface={}", site.bridge))
            .arg("--except-interface=lo")
            .arg(format!("--listen-address={}", site.gateway()))
            .arg(format!(
                "--dhcp-range={a}.{b}.{c}.50,{a}.{b}.{c}.150,255.255.255.0,1h"
            ))
            .arg(format!("--dhcp-option=option:router,{}", site.gateway()))
            .arg(format!(
                "--dhcp-option=option:dns-server,{}",
                site.gateway()
            ))
            .arg(format!("--dhcp-leasefile={}", site.lease_file().display()))
            .arg(format!(
                "--pid-file={}",
                site.dir.path().join("pid").display()
            ))
            .arg(format!("--log-facility={}", site.log_file().display()))
            .arg("--log-queries")
            .arg("--log-dhcp")
            .arg("--user=root")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, address) in names {
            dnsmasq.arg(format!("--host-record={name},{address}"));
        }
        let child = dnsmasq.spawn().context("cannot run dnsmasq")?;
        site.dnsmasq = Some(child);
        // dnsmasq writes its lease file once it serves.
        let start = Instant::now();
        while !site.lease_file().exists() {
            if let Some(child) = site.dnsmasq.as_mut() {
                if let Some(status) = child.try_wait()? {
                    let mut said = String::new();
                    if let Some(mut err) = child.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut err, &mut said);
                    }
                    bail!("dnsmasq ended at once ({status}): {said}");
                }
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("dnsmasq did not start serving within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(site)
    }

    /// The host's address on the bridge: the router and DNS server.
    pub(crate) fn gateway(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 1)
    }

    /// The runner's options that put a guest on the bridge.
    pub(crate) fn net_options(&self) -> Vec<OsString> {
        vec!["--net".into(), format!("bridge:{}", self.bridge).into()]
    }

    /// The MAC address the runner gives `image` on this bridge.
    pub(crate) fn mac_of(&self, image: &Path) -> String {
        default_mac(&Net::Bridge(self.bridge.clone()), image).to_string()
    }

    fn lease_file(&self) -> PathBuf {
        self.dir.path().join("leases")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("dnsmasq.log")
    }

    /// dnsmasq's leases as (MAC, address): its lease file's lines are
    /// `expiry MAC address hostname client-id`.
    pub(crate) fn leases(&self) -> Vec<(String, Ipv4Addr)> {
        let text = std::fs::read_to_string(self.lease_file()).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                Some((words.get(1)?.to_string(), words.get(2)?.parse().ok()?))
            })
            .collect()
    }

    /// The names dnsmasq was asked for (its `query[A] NAME from ...` lines).
    pub(crate) fn queries(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        log.lines()
            .filter_map(|line| line.split_once("query[A] ")?.1.split_whitespace().next())
            .map(str::to_string)
            .collect()
    }

    /// Stops dnsmasq and removes the bridge; what is still there after
    /// (the bridge, a tap of the runner's on it, dnsmasq), if anything.
    pub(crate) fn close(mut self) -> Vec<String> {
        self.teardown();
        let mut left = Vec::new();
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            left.push(format!("bridge {}", self.bridge));
        }
        left
    }

    fn teardown(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Runs `ip ARGS`.
fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run ip")?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The runner's taps (`ukrun<N>`) on this host now.
pub(super) fn runner_taps() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| name.starts_with("ukrun"))
                .collect()
        })
        .unwrap_or_default()
}
