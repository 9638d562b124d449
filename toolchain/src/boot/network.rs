//! The guest's network: what is at the other end of its virtio-net
//! device's cable, its MAC address, and the tap device the runner makes of
//! its own to put a guest on a host bridge.

use crate::backend::Backend;
use anyhow::{bail, Context as _, Result};
use std::fmt;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::str::FromStr;

/// The MAC address of the guest's network device on QEMU's user network
/// and the UDP one (QEMU's usual first one): alone on its network, a guest
/// needs no other.
pub const GUEST_MAC: Mac = Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

/// The guest's network device, and what is at the other end of its cable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Net {
    /// QEMU's user-mode network (NAT, no privileges), with TCP ports of
    /// 127.0.0.1 forwarded to the guest.
    User { forwards: Vec<Forward> },
    /// Raw Ethernet frames as UDP datagrams on 127.0.0.1 (QEMU): a datagram
    /// sent to port `listen` reaches the guest as a frame; the guest's
    /// frames are sent to port `send`.
    Udp { listen: u16, send: u16 },
    /// An existing host tap device.
    Tap(String),
    /// A host bridge: the runner makes a tap device of its own and attaches
    /// it (see [`OwnTap`]).
    Bridge(String),
}

/// A TCP port of 127.0.0.1 forwarded to a port of the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub guest: u16,
}

impl FromStr for Net {
    type Err = String;

    /// `user`, `udp:LISTEN:SEND`, `tap:NAME` or `bridge:NAME`.
    fn from_str(text: &str) -> Result<Net, String> {
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("'{p}' is not a port number"))
        };
        match text.split(':').collect::<Vec<_>>()[..] {
            ["user"] => Ok(Net::User {
                forwards: Vec::new(),
            }),
            ["udp", listen, send] => Ok(Net::Udp {
                listen: port(listen)?,
                send: port(send)?,
            }),
            ["tap", name] => Ok(Net::Tap(interface_name(name)?)),
            ["bridge", name] => Ok(Net::Bridge(interface_name(name)?)),
            _ => Err(format!(
                "'{text}' is not a network: use user, udp:LISTEN:SEND, tap:NAME or bridge:NAME"
            )),
        }
    }
}

/// A host network interface's name as Linux takes it: 1 to 15 bytes, no
/// `/`, no white space.
fn interface_name(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() < IFNAMSIZ
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace);
    match valid {
        true => Ok(name.to_string()),
        false => Err(format!(
            "'{name}' is not a network interface name (1 to 15 characters, no '/', ':' or spaces)"
        )),
    }
}

impl FromStr for Forward {
    type Err = String;

    /// `HOSTPORT:GUESTPORT`.
    fn from_str(text: &str) -> Result<Forward, String> {
        let parsed = text
            .split_once(':')
            .and_then(|(host, guest)| Some((host.parse().ok()?, guest.parse().ok()?)));
        match parsed {
            Some((host, guest)) => Ok(Forward { host, guest }),
            None => Err(format!(
                "'{text}' is not a forward: use HOSTPORT:GUESTPORT, e.g. 8080:80"
            )),
        }
    }
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;

    /// Six hex bytes with `:`, e.g. `02:00:00:00:00:01`; a unicast one.
    fn from_str(text: &str) -> Result<Mac, String> {
        let bytes: Vec<u8> = text
            .split(':')
            .map(|b| match b.len() {
                2 => u8::from_str_radix(b, 16).ok(),
                _ => None,
            })
            .collect::<Option<_>>()
            .unwrap_or_default();
        let Ok(bytes) = <[u8; 6]>::try_from(bytes) else {
            return Err(format!(
                "'{text}' is not a MAC address: use six hex bytes, e.g. 02:00:00:00:00:01"
            ));
        };
        if bytes[0] & 1 != 0 {
            return Err(format!(
                "{text} is a multicast address; a network device needs a unicast one (an even first byte)"
            ));
        }
        Ok(Mac(bytes))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The MAC address a guest gets when none is asked for. On a tap or a
/// bridge, where it meets other machines, one of its own that stays the
/// same for the same image (its absolute path) on the same network, so
/// that a DHCP server leases it the same address again: locally
/// administered and unicast (`x2:`, `x6:`, `xa:` or `xe:` first). Alone on
/// QEMU's networks, [`GUEST_MAC`].
pub fn default_mac(net: &Net, image: &Path) -> Mac {
    let network = match net {
        Net::Tap(name) => format!("tap:{name}"),
        Net::Bridge(name) => format!("bridge:{name}"),
        Net::User { .. } | Net::Udp { .. } => return GUEST_MAC,
    };
    let image = std::path::absolute(image).unwrap_or_else(|_| image.to_path_buf());
    let mut seed = image.into_os_string().into_encoded_bytes();
    seed.push(0);
    seed.extend_from_slice(network.as_bytes());
    let digest = fnv1a(&seed).to_be_bytes();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & 0xfc) | 0x02;
    Mac(mac)
}

/// The 64-bit FNV-1a hash: small, and the same in every version of the
/// runner (std's hasher may change between Rust releases).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Fails at once, before anything boots, when the network asked for cannot
/// be had on `backend`: a VMM that lacks it, an interface that does not
/// exist, no permission to use it.
pub fn check(net: &Net, backend: Backend) -> Result<()> {
    match (net, backend) {
        (Net::User { .. } | Net::Udp { .. }, Backend::Firecracker) => bail!(
            "Firecracker networks only through a host tap device\nhelp: use --net bridge:NAME (the runner makes the tap) or --net tap:NAME"
        ),
        (Net::Tap(name), _) => {
            if !sys_net(name).join("tun_flags").exists() {
                bail!(
                    "there is no tap device named {name}\nhelp: make one (as root): `ip tuntap add {name} mode tap user $USER && ip link set {name} up`, or use --net bridge:BRIDGE and let the runner make it"
                );
            }
            Ok(())
        }
        (Net::Bridge(name), _) => {
            if !sys_net(name).exists() {
                bail!(
                    "there is no network interface named {name}\nhelp: make the bridge (as root): `ip link add {name} type bridge && ip link set {name} up`"
                );
            }
            if !sys_net(name).join("bridge").is_dir() {
                bail!("{name} is a network interface but not a bridge");
            }
            open_tun().map(drop)
        }
        _ => Ok(()),
    }
}

/// Where Linux describes network interface `name`.
fn sys_net(name: &str) -> std::path::PathBuf {
    Path::new("/sys/class/net").join(name)
}

/// Linux's `IFNAMSIZ`: interface names are shorter.
const IFNAMSIZ: usize = 16;
/// `TUNSETIFF` and `TUNSETPERSIST` (`_IOW('T', 202, int)`, `_IOW('T', 203,
/// int)`), and the bridge's `SIOCBRADDIF`, from Linux's uapi headers.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const SIOCBRADDIF: libc::c_ulong = 0x89a2;

/// Linux's `struct ifreq`: a name, then a union of which we use a short
/// (flags) or an int (an interface index).
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> IfReq {
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            data: [0; 24],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        req
    }

    fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    fn set_short(&mut self, value: i16) {
        self.data[..2].copy_from_slice(&value.to_ne_bytes());
    }

    fn short(&self) -> i16 {
        i16::from_ne_bytes([self.data[0], self.data[1]])
    }

    fn set_int(&mut self, value: i32) {
        self.data[..4].copy_from_slice(&value.to_ne_bytes());
    }
}

/// `ioctl(fd, request, &mut req)`.
fn ioctl(fd: RawFd, request: libc::c_ulong, req: &mut IfReq) -> std::io::Result<()> {
    // SAFETY: every request used here reads or writes one `struct ifreq`,
    // which `IfReq` lays out.
    match unsafe { libc::ioctl(fd, request as _, req as *mut IfReq) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn open_tun() -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|err| {
            let help = match err.kind() {
                std::io::ErrorKind::NotFound => {
                    "this kernel offers no tap devices (load the tun module: `modprobe tun`)"
                }
                std::io::ErrorKind::PermissionDenied => {
                    "run as root, or give your user /dev/net/tun and CAP_NET_ADMIN"
                }
                _ => "tap devices need /dev/net/tun",
            };
            anyhow::anyhow!("cannot open /dev/net/tun ({err})\nhelp: {help}")
        })
}

/// A tap device of the runner's own, up and attached to a bridge. QEMU
/// gets its file descriptor: the device lives while one of the two holds
/// it, so it is gone when both have ended, however they ended (SIGKILL
/// included). For Firecracker, which opens a tap by name, it is made
/// persistent instead and removed when dropped.
pub struct OwnTap {
    name: String,
    file: Option<File>,
}

/// The names the kernel gives our taps (`%d`: the first free number).
const TAP_NAMES: &str = "ukrun%d";

impl OwnTap {
    /// Makes a tap and attaches it to `bridge`; `persistent` for a VMM
    /// that opens it by name.
    pub fn attach(bridge: &str, persistent: bool) -> Result<OwnTap> {
        let tun = open_tun()?;
        let mut req = IfReq::new(TAP_NAMES);
        req.set_short((libc::IFF_TAP | libc::IFF_NO_PI) as i16);
        ioctl(tun.as_raw_fd(), TUNSETIFF, &mut req).map_err(|err| {
            anyhow::anyhow!(
                "cannot make a tap device ({err})\nhelp: putting a guest on a bridge needs root (CAP_NET_ADMIN)"
            )
        })?;
        let mut tap = OwnTap {
            name: req.name(),
            file: Some(tun),
        };
        tap.up_on(bridge)?;
        if persistent {
            tap.set_persistent(true)?;
            tap.file = None;
        }
        Ok(tap)
    }

    /// The device's name (`ukrun0`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The descriptor QEMU is to use; `None` for a persistent tap.
    pub fn fd(&self) -> Option<RawFd> {
        self.file.as_ref().map(AsRawFd::as_raw_fd)
    }

    fn up_on(&self, bridge: &str) -> Result<()> {
        // SAFETY: a plain socket, closed below; only ioctls go through it.
        let sock = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) };
        if sock < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let result = (|| {
            let mut req = IfReq::new(&self.name);
            ioctl(sock, libc::SIOCGIFFLAGS, &mut req)?;
            req.set_short(req.short() | libc::IFF_UP as i16);
            ioctl(sock, libc::SIOCSIFFLAGS, &mut req)?;
            let mut req = IfReq::new(&self.name);
            ioctl(sock, libc::SIOCGIFINDEX, &mut req)?;
            let index = i32::from_ne_bytes(req.data[..4].try_into().unwrap_or_default());
            let mut req = IfReq::new(bridge);
            req.set_int(index);
            ioctl(sock, SIOCBRADDIF, &mut req)
        })();
        // SAFETY: `sock` is ours and closed once.
        unsafe { libc::close(sock) };
        result.with_context(|| format!("cannot attach tap device {} to bridge {bridge}", self.name))
    }

    fn set_persistent(&self, persistent: bool) -> Result<()> {
        let tun = match &self.file {
            Some(file) => file.try_clone()?,
            None => {
                let tun = open_tun()?;
                let mut req = IfReq::new(&self.name);
                req.set_short((libc::IFF_TAP | libc::IFF_NO_PI) as i16);
                ioctl(tun.as_raw_fd(), TUNSETIFF, &mut req)?;
                tun
            }
        };
        // SAFETY: TUNSETPERSIST takes its argument by value.
        match unsafe {
            libc::ioctl(
                tun.as_raw_fd(),
                TUNSETPERSIST as _,
                persistent as libc::c_ulong,
            )
        } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot change tap device {}", self.name)),
        }
    }
}

impl Drop for OwnTap {
    fn drop(&mut self) {
        if self.file.is_none() {
            let _ = self.set_persistent(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_and_forward_specs() {
        assert_eq!(
            "user".parse::<Net>(),
            Ok(Net::User {
                forwards: Vec::new()
            })
        );
        assert_eq!(
            "udp:5000:5001".parse::<Net>(),
            Ok(Net::Udp {
                listen: 5000,
                send: 5001
            })
        );
        assert_eq!("tap:tap0".parse::<Net>(), Ok(Net::Tap("tap0".into())));
        assert_eq!("bridge:br0".parse::<Net>(), Ok(Net::Bridge("br0".into())));
        for bad in [
            "",
            "udp:1",
            "udp:1:x",
            "tap:",
            "bridge",
            "bridge:a/b",
            "bridge:sixteen-chars-xx",
        ] {
            assert!(bad.parse::<Net>().is_err(), "{bad}");
        }
        assert_eq!(
            "8080:80".parse::<Forward>(),
            Ok(Forward {
                host: 8080,
                guest: 80
            })
        );
        assert!("8080".parse::<Forward>().is_err());
    }

    #[test]
    fn mac_addresses_read_and_print_alike_and_must_be_unicast() {
        let mac: Mac = "02:ab:00:10:ff:01".parse().unwrap();
        assert_eq!(mac.0, [2, 0xab, 0, 0x10, 0xff, 1]);
        assert_eq!(mac.to_string(), "02:ab:00:10:ff:01");
        assert_eq!(GUEST_MAC.to_string(), "52:54:00:12:34:56");
        for bad in [
            "02:ab:00:10:ff",
            "02:ab:00:10:ff:01:02",
            "2:ab:0:10:ff:1",
            "zz:00:00:00:00:00",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
        let err = "01:00:5e:00:00:01".parse::<Mac>().unwrap_err();
        assert!(err.contains("multicast"), "{err}");
    }

    #[test]
    fn a_guest_keeps_its_mac_on_the_same_network_and_image_only() {
        let br0 = Net::Bridge("br0".into());
        let mac = default_mac(&br0, Path::new("/srv/site.img"));
        assert_eq!(mac, default_mac(&br0, Path::new("/srv/site.img")));
        assert_eq!(mac.0[0] & 0x03, 0x02, "{mac}: locally administered unicast");
        assert_ne!(mac, default_mac(&br0, Path::new("/srv/other.img")));
        let br1 = Net::Bridge("br1".into());
        assert_ne!(mac, default_mac(&br1, Path::new("/srv/site.img")));
        let tap = Net::Tap("br0".into());
        assert_ne!(mac, default_mac(&tap, Path::new("/srv/site.img")));
        let user = Net::User {
            forwards: Vec::new(),
        };
        assert_eq!(default_mac(&user, Path::new("/srv/site.img")), GUEST_MAC);
    }

    #[test]
    fn missing_interfaces_are_named_before_anything_boots() {
        let err = check(&Net::Bridge("nosuchbr0".into()), Backend::Qemu).unwrap_err();
        assert!(
            err.to_string()
                .contains("ip link add nosuchbr0 type bridge"),
            "{err}"
        );
        let err = check(&Net::Tap("nosuchtap0".into()), Backend::Qemu).unwrap_err();
        assert!(
            err.to_string().contains("ip tuntap add nosuchtap0"),
            "{err}"
        );
        // `lo` exists everywhere and is no bridge.
        let err = check(&Net::Bridge("lo".into()), Backend::Qemu).unwrap_err();
        assert!(err.to_string().contains("not a bridge"), "{err}");
        let user = Net::User {
            forwards: Vec::new(),
        };
        assert!(check(&user, Backend::Qemu).is_ok());
        assert!(check(&user, Backend::Firecracker).is_err());
    }

    /// Runs `ip ARGS`; whether it succeeded.
    fn ip(args: &[&str]) -> bool {
        std::process::Command::new("ip")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    #[test]
    fn an_own_tap_is_on_the_bridge_while_held_and_gone_after() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let bridge = format!("uktb{}", std::process::id() % 100_000);
        if !root || !ip(&["link", "add", &bridge, "type", "bridge"]) {
            eprintln!("skipped: making a bridge needs root and iproute2");
            return;
        }
        let result = std::panic::catch_unwind(|| {
            for persistent in [false, true] {
                let tap = OwnTap::attach(&bridge, persistent).unwrap();
                let dev = sys_net(tap.name());
                let master = std::fs::read_link(dev.join("master")).unwrap();
                assert!(master.ends_with(&bridge), "{}", master.display());
                let flags = std::fs::read_to_string(dev.join("flags")).unwrap();
                let flags = i64::from_str_radix(flags.trim().trim_start_matches("0x"), 16);
                assert_eq!(flags.unwrap() & 1, 1, "the tap is up");
                assert_eq!(tap.fd().is_some(), !persistent);
                drop(tap);
                assert!(!dev.exists(), "{} is gone", dev.display());
            }
        });
        ip(&["link", "del", &bridge]);
        result.unwrap();
    }
}
