//! What a guest gets besides its console: memory, a network device, a
//! disk and a shared host directory, and how each VMM is told.
//!
//! Every bundle has Unikraft's virtio-net and virtio-blk drivers
//! (`backends/fragments/base.config`), 9pfs bundles the virtio-9p one
//! (`opt-9pfs.config`). The transport differs: PCI on QEMU x86_64, MMIO
//! on QEMU arm64 (Unikraft 0.17's arm64 PCI cannot serve virtio-blk, see
//! `arch-arm64.config`) and on Firecracker, which has no other (and no
//! virtio-9p device at all).

use crate::arch::Arch;
use crate::backend::Backend;
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;
use std::str::FromStr;

/// Guest memory when none is asked for. QEMU backs only the pages the guest
/// touches, so a generous size costs little: OCaml programs of a few tens
/// of MB run without thinking about it.
pub const DEFAULT_MEMORY_MIB: u32 = 512;

/// The MAC address of the guest's network device (QEMU's usual first one).
pub const GUEST_MAC: &str = "52:54:00:12:34:56";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Devices {
    /// Guest memory in MiB; [`DEFAULT_MEMORY_MIB`] when not given.
    pub memory_mib: Option<u32>,
    pub net: Option<Net>,
    pub disk: Option<Disk>,
    /// A host directory shared over virtio-9p with tag [`SHARE_TAG`],
    /// which 9pfs bundles mount at `/` during boot (QEMU only).
    pub share: Option<PathBuf>,
    /// Where the guest's console output goes.
    pub console: Console,
}

/// Where the guest's console output goes (QEMU; Firecracker has a serial
/// line only). Images of our bundles send it over a virtio-console device
/// when they get one (`backends/app/console.c`): about a thousand times
/// faster than the serial line, on which QEMU writes every byte with a
/// system call of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Console {
    /// virtio-console where it costs no boot time: always on arm64 (an MMIO
    /// device), on x86_64 when the guest has another device (a PCI device
    /// needs SeaBIOS, which takes 50-70 ms longer than qboot to boot);
    /// the serial line otherwise, and for images without the driver.
    #[default]
    Auto,
    /// The serial line only.
    Serial,
    /// virtio-console, the serial line for what comes before its driver.
    Virtio,
}

/// The 9P mount tag of the shared directory
/// (`CONFIG_LIBVFSCORE_AUTOMOUNT_CI_9PFS_TAG` in `opt-9pfs.config`).
pub const SHARE_TAG: &str = "fs0";

/// Why Firecracker cannot share a directory, and what to do instead.
const NO_SHARE_ON_FIRECRACKER: &str = "Firecracker has no virtio-9p device, so --share is for QEMU only\nhelp: link the image with -z unikraft-backend=qemu-9pfs and boot it on QEMU";

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
    /// A host tap device (Firecracker's only network; needs root to create).
    Tap(String),
}

/// A TCP port of 127.0.0.1 forwarded to a port of the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub guest: u16,
}

/// A raw disk image the guest sees as its first block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    pub read_only: bool,
}

impl FromStr for Net {
    type Err = String;

    /// `user`, `udp:LISTEN:SEND` or `tap:NAME`.
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
            ["tap", name] if !name.is_empty() => Ok(Net::Tap(name.to_string())),
            _ => Err(format!(
                "'{text}' is not a network: use user, udp:LISTEN:SEND or tap:NAME"
            )),
        }
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

impl Devices {
    pub fn memory_mib(&self) -> u32 {
        self.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB)
    }

    /// Whether the guest gets no device besides its memory (on QEMU x86_64
    /// each device is a PCI device).
    pub fn memory_only(&self) -> bool {
        let Devices {
            memory_mib: _,
            net,
            disk,
            share,
            console: _,
        } = self;
        net.is_none() && disk.is_none() && share.is_none()
    }

    /// QEMU's options for these devices on `arch`.
    pub fn qemu_args(&self, arch: Arch) -> Result<Vec<String>> {
        let transport = match arch {
            Arch::X86_64 => "pci",
            Arch::Arm64 => "device",
        };
        let mut args = Vec::new();
        if let Some(net) = &self.net {
            let backend = match net {
                Net::User { forwards } => {
                    let mut backend = "user,id=net0".to_string();
                    for forward in forwards {
                        backend.push_str(&format!(
                            ",hostfwd=tcp:127.0.0.1:{}-:{}",
                            forward.host, forward.guest
                        ));
                    }
                    backend
                }
                Net::Udp { listen, send } => format!(
                    "dgram,id=net0,local.type=inet,local.host=127.0.0.1,local.port={listen},\
                     remote.type=inet,remote.host=127.0.0.1,remote.port={send}"
                ),
                Net::Tap(_) => bail!(
                    "--net tap: is for Firecracker\nhelp: on QEMU use --net user (with --forward) or --net udp:LISTEN:SEND"
                ),
            };
            // `romfile=`: no iPXE option ROM, which the guest never uses.
            let rom = if arch == Arch::X86_64 {
                ",romfile="
            } else {
                ""
            };
            args.extend([
                "-netdev".to_string(),
                backend,
                "-device".to_string(),
                format!("virtio-net-{transport},netdev=net0,mac={GUEST_MAC}{rom}"),
            ]);
        }
        if let Some(disk) = &self.disk {
            let path = disk
                .path
                .to_str()
                .context("the disk image's path is not UTF-8")?;
            let read_only = if disk.read_only { ",readonly=on" } else { "" };
            args.extend([
                "-drive".to_string(),
                // A comma in an option value is written twice.
                format!(
                    "file={},format=raw,if=none,id=disk0{read_only}",
                    path.replace(',', ",,")
                ),
                "-device".to_string(),
                format!("virtio-blk-{transport},drive=disk0"),
            ]);
        }
        if let Some(dir) = &self.share {
            let path = dir
                .to_str()
                .context("the shared directory's path is not UTF-8")?;
            args.extend([
                "-fsdev".to_string(),
                format!(
                    "local,id=fs0,path={},security_model=none",
                    path.replace(',', ",,")
                ),
                "-device".to_string(),
                format!("virtio-9p-{transport},fsdev=fs0,mount_tag={SHARE_TAG}"),
            ]);
        }
        Ok(args)
    }

    /// Firecracker's `drives` and `network-interfaces` entries.
    pub fn firecracker_entries(&self) -> Result<(serde_json::Value, serde_json::Value)> {
        if self.share.is_some() {
            bail!(NO_SHARE_ON_FIRECRACKER);
        }
        let drives: Vec<_> = self
            .disk
            .iter()
            .map(|disk| {
                serde_json::json!({
                    "drive_id": "disk0",
                    "path_on_host": disk.path,
                    "is_root_device": false,
                    "is_read_only": disk.read_only,
                })
            })
            .collect();
        let interfaces = match &self.net {
            None => Vec::new(),
            Some(Net::Tap(name)) => vec![serde_json::json!({
                "iface_id": "net0",
                "guest_mac": GUEST_MAC,
                "host_dev_name": name,
            })],
            Some(_) => bail!(
                "Firecracker networks only through a host tap device\nhelp: use --net tap:NAME after `ip tuntap add NAME mode tap && ip link set NAME up` (as root)"
            ),
        };
        Ok((drives.into(), interfaces.into()))
    }
}

/// Fails at once on options the backend cannot serve, before any VMM runs.
pub fn check(devices: &Devices, backend: Backend, arch: Arch) -> Result<()> {
    match backend {
        Backend::Qemu => devices.qemu_args(arch).map(drop),
        Backend::Firecracker => devices.firecracker_entries().map(drop),
    }
    .with_context(|| {
        format!(
            "the devices asked for cannot be given to a {} {} guest",
            backend.name(),
            arch.unikraft()
        )
    })?;
    if devices.memory_mib == Some(0) {
        bail!("--memory must be at least 1 MiB");
    }
    if backend == Backend::Firecracker && devices.console == Console::Virtio {
        bail!(
            "Firecracker has no virtio-console device\nhelp: boot it with --console auto or serial"
        );
    }
    if let Some(disk) = &devices.disk {
        if !disk.path.is_file() {
            bail!(
                "the disk image {} is not a file\nhelp: make one, e.g. `truncate -s 64M disk.img`",
                disk.path.display()
            );
        }
    }
    if let Some(dir) = &devices.share {
        if !dir.is_dir() {
            bail!(
                "the shared directory {} is not a directory\nhelp: --share takes a directory, which the guest sees as /",
                dir.display()
            );
        }
    }
    Ok(())
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
        for bad in ["", "udp:1", "udp:1:x", "tap:", "bridge"] {
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

    fn all_devices(net: Net) -> Devices {
        Devices {
            memory_mib: Some(256),
            net: Some(net),
            disk: Some(Disk {
                path: "/images/a,b.img".into(),
                read_only: true,
            }),
            share: None,
            console: Console::Auto,
        }
    }

    #[test]
    fn a_shared_directory_is_a_virtio_9p_device_tagged_fs0() {
        let devices = Devices {
            share: Some("/srv/a,b".into()),
            ..Devices::default()
        };
        assert_eq!(
            devices.qemu_args(Arch::X86_64).unwrap(),
            [
                "-fsdev",
                "local,id=fs0,path=/srv/a,,b,security_model=none",
                "-device",
                "virtio-9p-pci,fsdev=fs0,mount_tag=fs0",
            ]
        );
        assert_eq!(
            devices.qemu_args(Arch::Arm64).unwrap()[3],
            "virtio-9p-device,fsdev=fs0,mount_tag=fs0"
        );
        // Beside the other devices, last.
        let all = Devices {
            share: Some("/srv".into()),
            ..all_devices(Net::User {
                forwards: Vec::new(),
            })
        };
        let args = all.qemu_args(Arch::X86_64).unwrap();
        assert_eq!(args.len(), 12);
        assert_eq!(args[8], "-fsdev");
        assert!(args[..8].contains(&"virtio-blk-pci,drive=disk0".to_string()));
    }

    #[test]
    fn firecracker_has_no_shared_directory_and_the_directory_must_exist() {
        let devices = Devices {
            share: Some(std::env::temp_dir()),
            ..Devices::default()
        };
        let err = check(&devices, Backend::Firecracker, Arch::X86_64).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("Firecracker has no virtio-9p device, so --share is for QEMU only"),
            "{text}"
        );
        assert!(check(&devices, Backend::Qemu, Arch::X86_64).is_ok());
        let missing = Devices {
            share: Some("/no/such/dir".into()),
            ..Devices::default()
        };
        let err = check(&missing, Backend::Qemu, Arch::X86_64).unwrap_err();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn qemu_gets_pci_devices_on_x86_64_and_mmio_ones_on_arm64() {
        let devices = all_devices(Net::User {
            forwards: vec![Forward {
                host: 8080,
                guest: 80,
            }],
        });
        assert_eq!(
            devices.qemu_args(Arch::X86_64).unwrap(),
            [
                "-netdev",
                "user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80",
                "-device",
                "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=",
                "-drive",
                "file=/images/a,,b.img,format=raw,if=none,id=disk0,readonly=on",
                "-device",
                "virtio-blk-pci,drive=disk0",
            ]
        );
        let arm = all_devices(Net::Udp {
            listen: 7000,
            send: 7001,
        })
        .qemu_args(Arch::Arm64)
        .unwrap();
        assert_eq!(
            arm[1],
            "dgram,id=net0,local.type=inet,local.host=127.0.0.1,local.port=7000,\
             remote.type=inet,remote.host=127.0.0.1,remote.port=7001"
        );
        assert_eq!(
            arm[3],
            "virtio-net-device,netdev=net0,mac=52:54:00:12:34:56"
        );
        assert_eq!(arm[7], "virtio-blk-device,drive=disk0");
        assert!(Devices::default()
            .qemu_args(Arch::Arm64)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn each_vmm_refuses_the_networks_it_does_not_have() {
        let tap = all_devices(Net::Tap("tap0".into()));
        assert!(tap.qemu_args(Arch::X86_64).is_err());
        let (drives, interfaces) = tap.firecracker_entries().unwrap();
        assert_eq!(
            drives,
            serde_json::json!([{
                "drive_id": "disk0",
                "path_on_host": "/images/a,b.img",
                "is_root_device": false,
                "is_read_only": true,
            }])
        );
        assert_eq!(
            interfaces,
            serde_json::json!([{
                "iface_id": "net0",
                "guest_mac": "52:54:00:12:34:56",
                "host_dev_name": "tap0",
            }])
        );
        let user = all_devices(Net::User {
            forwards: Vec::new(),
        });
        let err = user.firecracker_entries().unwrap_err().to_string();
        assert!(err.contains("tap"), "{err}");
        let err = check(&user, Backend::Firecracker, Arch::X86_64).unwrap_err();
        assert!(format!("{err:#}").contains("firecracker x86_64"), "{err:#}");
    }
}
