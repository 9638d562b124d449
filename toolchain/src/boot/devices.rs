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
use crate::boot::network::{self, Mac, Net, GUEST_MAC};
use anyhow::{bail, Context as _, Result};
use std::os::fd::RawFd;
use std::path::PathBuf;

/// Guest memory when none is asked for. QEMU backs only the pages the guest
/// touches, so a generous size costs little: OCaml programs of a few tens
/// of MB run without thinking about it.
pub const DEFAULT_MEMORY_MIB: u32 = 512;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Devices {
    /// Guest memory in MiB; [`DEFAULT_MEMORY_MIB`] when not given.
    pub memory_mib: Option<u32>,
    pub net: Option<Net>,
    /// The network device's MAC address; [`GUEST_MAC`] when not given
    /// (the runner gives one of [`network::default_mac`]'s).
    pub mac: Option<Mac>,
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

/// A raw disk image the guest sees as its first block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub path: PathBuf,
    pub read_only: bool,
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
            mac: _,
            disk,
            share,
            console: _,
        } = self;
        net.is_none() && disk.is_none() && share.is_none()
    }

    fn mac(&self) -> Mac {
        self.mac.unwrap_or(GUEST_MAC)
    }

    /// QEMU's options for these devices on `arch`; `own_tap` is the file
    /// descriptor of the tap the runner made for `--net bridge:`.
    pub fn qemu_args(&self, arch: Arch, own_tap: Option<RawFd>) -> Result<Vec<String>> {
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
                // No scripts: the tap is set up already (by its owner, or
                // by the runner for a bridge).
                Net::Tap(name) => format!("tap,id=net0,ifname={name},script=no,downscript=no"),
                Net::Bridge(bridge) => match own_tap {
                    Some(fd) => format!("tap,id=net0,fd={fd}"),
                    None => bail!("no tap device was made for bridge {bridge}"),
                },
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
                format!("virtio-net-{transport},netdev=net0,mac={}{rom}", self.mac()),
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

    /// Firecracker's `drives` and `network-interfaces` entries;
    /// `own_tap` is the name of the tap the runner made for `--net bridge:`.
    pub fn firecracker_entries(
        &self,
        own_tap: Option<&str>,
    ) -> Result<(serde_json::Value, serde_json::Value)> {
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
        let tap = match &self.net {
            None => None,
            Some(Net::Tap(name)) => Some(name.as_str()),
            Some(Net::Bridge(bridge)) => Some(
                own_tap.with_context(|| format!("no tap device was made for bridge {bridge}"))?,
            ),
            Some(net) => {
                network::check(net, Backend::Firecracker)?;
                None
            }
        };
        let interfaces: Vec<_> = tap
            .map(|name| {
                serde_json::json!({
                    "iface_id": "net0",
                    "guest_mac": self.mac().to_string(),
                    "host_dev_name": name,
                })
            })
            .into_iter()
            .collect();
        Ok((drives.into(), interfaces.into()))
    }
}

/// Fails at once on options the backend cannot serve, before any VMM runs.
pub fn check(devices: &Devices, backend: Backend, arch: Arch) -> Result<()> {
    // The network on its own (its tap is made at boot), then the rest.
    let others = Devices {
        net: None,
        ..devices.clone()
    };
    devices
        .net
        .as_ref()
        .map_or(Ok(()), |net| network::check(net, backend))
        .and_then(|()| match backend {
            Backend::Qemu => others.qemu_args(arch, None).map(drop),
            Backend::Firecracker => others.firecracker_entries(None).map(drop),
        })
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
    use crate::boot::network::Forward;

    fn all_devices(net: Net) -> Devices {
        Devices {
            memory_mib: Some(256),
            net: Some(net),
            mac: None,
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
            devices.qemu_args(Arch::X86_64, None).unwrap(),
            [
                "-fsdev",
                "local,id=fs0,path=/srv/a,,b,security_model=none",
                "-device",
                "virtio-9p-pci,fsdev=fs0,mount_tag=fs0",
            ]
        );
        assert_eq!(
            devices.qemu_args(Arch::Arm64, None).unwrap()[3],
            "virtio-9p-device,fsdev=fs0,mount_tag=fs0"
        );
        // Beside the other devices, last.
        let all = Devices {
            share: Some("/srv".into()),
            ..all_devices(Net::User {
                forwards: Vec::new(),
            })
        };
        let args = all.qemu_args(Arch::X86_64, None).unwrap();
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
            devices.qemu_args(Arch::X86_64, None).unwrap(),
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
        .qemu_args(Arch::Arm64, None)
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
            .qemu_args(Arch::Arm64, None)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn taps_and_bridges_reach_both_vmms_with_the_mac_asked_for() {
        let mac: Mac = "02:00:00:00:00:07".parse().unwrap();
        let tap = Devices {
            mac: Some(mac),
            ..all_devices(Net::Tap("tap0".into()))
        };
        let args = tap.qemu_args(Arch::X86_64, None).unwrap();
        assert_eq!(args[1], "tap,id=net0,ifname=tap0,script=no,downscript=no");
        assert_eq!(
            args[3],
            "virtio-net-pci,netdev=net0,mac=02:00:00:00:00:07,romfile="
        );
        let bridge = all_devices(Net::Bridge("br0".into()));
        assert!(bridge.qemu_args(Arch::Arm64, None).is_err());
        let args = bridge.qemu_args(Arch::Arm64, Some(5)).unwrap();
        assert_eq!(args[1], "tap,id=net0,fd=5");
        let (drives, interfaces) = tap.firecracker_entries(None).unwrap();
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
                "guest_mac": "02:00:00:00:00:07",
                "host_dev_name": "tap0",
            }])
        );
        let (_, interfaces) = bridge.firecracker_entries(Some("ukrun3")).unwrap();
        assert_eq!(interfaces[0]["host_dev_name"], "ukrun3");
        assert_eq!(interfaces[0]["guest_mac"], "52:54:00:12:34:56");
        let user = all_devices(Net::User {
            forwards: Vec::new(),
        });
        let err = user.firecracker_entries(None).unwrap_err().to_string();
        assert!(err.contains("tap"), "{err}");
        let err = check(&user, Backend::Firecracker, Arch::X86_64).unwrap_err();
        assert!(format!("{err:#}").contains("firecracker x86_64"), "{err:#}");
    }
}
