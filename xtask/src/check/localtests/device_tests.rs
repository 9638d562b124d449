//! The host side of the device examples (`<example>.devices`): what the
//! guest is given, and what the test checks while and after it runs.
//!
//! - `net` (examples/all/netdev): a network device whose frames are UDP
//!   datagrams on 127.0.0.1 (`run --net udp:LISTEN:SEND`). The test sends a
//!   frame of its own again and again until the guest's reply comes (QEMU
//!   or the guest may drop the first ones), requires the reply to be the
//!   frame with its addresses swapped, byte for byte, then sends a frame
//!   whose payload starts with `done`, which ends the guest.
//! - `disk` (examples/all/blkdev): a 1 MiB raw disk whose byte at offset i
//!   is `(7 i + i / 512) mod 256`; after the VM has ended, sector 8 must
//!   hold the guest's line repeated and every other byte must be unchanged.
//! - `share` (examples/all/share_read): a directory shared over virtio-9p
//!   (`run --share DIR`; on Linux, the program's current directory) holding
//!   `share_read.txt`, a line then 64 KiB whose byte i is
//!   `(13 i + i / 256) mod 256`; after the run, `share_write.txt` must hold
//!   the guest's line 1000 times.

use super::expected::{DeviceTest, Expected};
use super::{Run, Verdict};
use anyhow::{Context as _, Result};
use ocaml_unikraft_toolchain::boot::console::Transcript;
use ocaml_unikraft_toolchain::boot::devices::{Devices, Disk};
use ocaml_unikraft_toolchain::boot::network::{Net, GUEST_MAC};
use ocaml_unikraft_toolchain::boot::vmm;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A boot with the devices `test` needs; what the host side found wrong,
/// if anything.
pub(crate) fn boot(
    test: DeviceTest,
    launch: &vmm::Launch,
    expected: &Expected,
    timeout: Duration,
) -> Result<(vmm::Boot, Transcript, Option<String>)> {
    match test {
        DeviceTest::Net => boot_with_net(launch, expected, timeout),
        DeviceTest::Disk => boot_with_disk(launch, expected, timeout),
        DeviceTest::Share => boot_with_share(launch, expected, timeout),
    }
}

/// Boots `launch` with `devices` instead of its own.
fn boot_with(launch: &vmm::Launch, devices: &Devices, timeout: Duration) -> Result<vmm::Boot> {
    let launch = vmm::Launch { devices, ..*launch };
    vmm::boot(&launch, &vmm::Watch::test(timeout))
}

fn boot_with_net(
    launch: &vmm::Launch,
    expected: &Expected,
    timeout: Duration,
) -> Result<(vmm::Boot, Transcript, Option<String>)> {
    let host = UdpSocket::bind("127.0.0.1:0").context("binding the test's UDP socket")?;
    // A port free a moment ago, for QEMU to listen on.
    let guest_port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    let devices = Devices {
        memory_mib: expected.memory_mib,
        net: Some(Net::Udp {
            listen: guest_port,
            send: host.local_addr()?.port(),
        }),
        mac: None,
        disk: None,
        share: None,
        console: Default::default(),
    };
    let vm_ended = Arc::new(AtomicBool::new(false));
    let exchange = {
        let vm_ended = Arc::clone(&vm_ended);
        std::thread::spawn(move || exchange_frames(&host, guest_port, &vm_ended))
    };
    let boot = boot_with(launch, &devices, timeout);
    vm_ended.store(true, Ordering::Relaxed);
    let problem = exchange
        .join()
        .unwrap_or_else(|_| Err("the frame exchange panicked".into()))
        .err();
    let boot = boot?;
    let transcript = boot.transcript()?;
    Ok((boot, transcript, problem))
}

/// Our test frames' EtherType (IEEE 802 local experimental 1, as netdev.ml).
const TEST_ETHERTYPE: [u8; 2] = [0x88, 0xb5];
const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Ethernet's minimum frame length without its checksum.
const FRAME_LEN: usize = 60;

/// A test frame from us to the guest carrying `payload`, padded with zeros.
fn test_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = [&GUEST_MAC.0[..], &HOST_MAC, &TEST_ETHERTYPE, payload].concat();
    frame.resize(frame.len().max(FRAME_LEN), 0);
    frame
}

/// `frame` with its destination and source addresses swapped.
fn swapped(frame: &[u8]) -> Vec<u8> {
    [&frame[6..12], &frame[..6], &frame[12..]].concat()
}

/// Sends the test frame until the guest's reply comes, then `done` frames
/// until the VM has ended; whether the reply was the echo we wanted.
fn exchange_frames(host: &UdpSocket, guest_port: u16, vm_ended: &AtomicBool) -> Result<(), String> {
    let guest = ("127.0.0.1", guest_port);
    let frame = test_frame(b"ocaml-unikraft netdev test frame");
    let wanted = swapped(&frame);
    host.set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|err| err.to_string())?;
    let mut reply = [0u8; 2048];
    let len = loop {
        if vm_ended.load(Ordering::Relaxed) {
            return Err("the VM ended before the guest echoed the test frame".into());
        }
        // Until QEMU listens, sending fails or is lost: try again.
        let _ = host.send_to(&frame, guest);
        // Any error (a timeout, an ICMP "port unreachable") means no reply yet.
        let Ok(len) = host.recv(&mut reply) else {
            continue;
        };
        if reply[..len].get(12..14) == Some(&TEST_ETHERTYPE[..]) {
            break len;
        }
    };
    let verdict = if &reply[..len] == wanted.as_slice() {
        Ok(())
    } else {
        Err(format!(
            "the guest's reply is not the test frame with its addresses swapped:\n  sent   {}\n  wanted {}\n  got    {}",
            hex(&frame),
            hex(&wanted),
            hex(&reply[..len])
        ))
    };
    // Whatever the reply was, the guest ends on `done`.
    let done = test_frame(b"done");
    while !vm_ended.load(Ordering::Relaxed) {
        let _ = host.send_to(&done, guest);
        std::thread::sleep(Duration::from_millis(200));
    }
    verdict
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const SECTOR: usize = 512;
const DISK_BYTES: usize = 1 << 20;
/// The sector the guest writes, and the line it fills it with.
const WRITTEN_SECTOR: usize = 8;
const WRITTEN_LINE: &[u8] = b"ocaml-unikraft wrote sector 8\n";

/// The test disk's byte at `offset`, as blkdev.ml expects it.
fn disk_pattern(offset: usize) -> u8 {
    ((7 * offset + offset / SECTOR) % 256) as u8
}

fn boot_with_disk(
    launch: &vmm::Launch,
    expected: &Expected,
    timeout: Duration,
) -> Result<(vmm::Boot, Transcript, Option<String>)> {
    let dir = tempfile::tempdir()?;
    let disk = dir.path().join("disk.img");
    let pattern: Vec<u8> = (0..DISK_BYTES).map(disk_pattern).collect();
    std::fs::write(&disk, &pattern).with_context(|| format!("writing {}", disk.display()))?;
    let devices = Devices {
        memory_mib: expected.memory_mib,
        net: None,
        mac: None,
        disk: Some(Disk {
            path: disk.clone(),
            read_only: false,
        }),
        share: None,
        console: Default::default(),
    };
    let boot = boot_with(launch, &devices, timeout)?;
    let transcript = boot.transcript()?;
    let problem = check_disk(&disk, &pattern)?;
    Ok((boot, transcript, problem))
}

/// What is wrong with the disk after the guest wrote its sector, if anything.
fn check_disk(disk: &Path, before: &[u8]) -> Result<Option<String>> {
    let after = std::fs::read(disk).with_context(|| format!("reading {}", disk.display()))?;
    let written = WRITTEN_SECTOR * SECTOR..(WRITTEN_SECTOR + 1) * SECTOR;
    let mut wanted = before.to_vec();
    for (i, byte) in wanted[written.clone()].iter_mut().enumerate() {
        *byte = WRITTEN_LINE[i % WRITTEN_LINE.len()];
    }
    if after.len() != wanted.len() {
        return Ok(Some(format!(
            "the disk image is {} bytes after the boot, {} before",
            after.len(),
            wanted.len()
        )));
    }
    Ok(after
        .iter()
        .zip(&wanted)
        .position(|(a, w)| a != w)
        .map(|at| {
            let what = if written.contains(&at) {
                "in the sector the guest writes"
            } else {
                "outside the sector the guest writes"
            };
            format!(
                "the disk differs from what the guest should have left at byte {at} ({what}): {:#04x}, wanted {:#04x}",
                after[at], wanted[at]
            )
        }))
}

/// The `share` test's directory, filled for the program.
pub(crate) struct SharedDir {
    dir: tempfile::TempDir,
}

const SHARED_FILE: &str = "share_read.txt";
const SHARED_FIRST_LINE: &[u8] = b"ocaml-unikraft share test\n";
const SHARED_PATTERN_BYTES: usize = 64 * 1024;
const WRITTEN_FILE: &str = "share_write.txt";
const WRITTEN_FILE_LINE: &str = "written by the guest\n";

impl SharedDir {
    pub(crate) fn prepare() -> Result<SharedDir> {
        let dir = tempfile::tempdir().context("creating the shared directory")?;
        let pattern = (0..SHARED_PATTERN_BYTES).map(|i| ((13 * i + i / 256) % 256) as u8);
        let content: Vec<u8> = SHARED_FIRST_LINE.iter().copied().chain(pattern).collect();
        let file = dir.path().join(SHARED_FILE);
        std::fs::write(&file, content).with_context(|| format!("writing {}", file.display()))?;
        Ok(SharedDir { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// What is wrong with what the program left, if anything.
    pub(crate) fn check(&self) -> Result<Option<String>> {
        let written: PathBuf = self.path().join(WRITTEN_FILE);
        let Ok(text) = std::fs::read(&written) else {
            return Ok(Some(format!(
                "the program left no {WRITTEN_FILE} in the shared directory"
            )));
        };
        let wanted = WRITTEN_FILE_LINE.repeat(1000);
        Ok((text != wanted.as_bytes()).then(|| {
            format!(
                "{WRITTEN_FILE} holds {} bytes, not the {} of the guest's line repeated 1000 times",
                text.len(),
                wanted.len()
            )
        }))
    }
}

/// Runs `body` in a prepared shared directory, then checks what the
/// program left there: a pass becomes a failure if that is wrong.
pub(crate) fn with_shared_dir(
    body: impl FnOnce(&Path) -> Result<(Verdict, Option<Run>)>,
) -> Result<(Verdict, Option<Run>)> {
    let shared = SharedDir::prepare()?;
    let (mut verdict, run) = body(shared.path())?;
    if let (Verdict::Pass, Some(problem)) = (&verdict, shared.check()?) {
        verdict = Verdict::Fail(problem);
    }
    Ok((verdict, run))
}

fn boot_with_share(
    launch: &vmm::Launch,
    expected: &Expected,
    timeout: Duration,
) -> Result<(vmm::Boot, Transcript, Option<String>)> {
    let shared = SharedDir::prepare()?;
    let devices = Devices {
        memory_mib: expected.memory_mib,
        share: Some(shared.path().to_owned()),
        ..Devices::default()
    };
    let boot = boot_with(launch, &devices, timeout)?;
    let transcript = boot.transcript()?;
    let problem = shared.check()?;
    Ok((boot, transcript, problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_directory_holds_the_file_and_wants_the_guests() {
        let shared = SharedDir::prepare().unwrap();
        let file = std::fs::read(shared.path().join(SHARED_FILE)).unwrap();
        assert_eq!(file.len(), 26 + 65536);
        assert!(file.starts_with(b"ocaml-unikraft share test\n"));
        assert_eq!(&file[26..30], &[0, 13, 26, 39]);
        assert!(shared.check().unwrap().unwrap().contains("left no"));
        let written = shared.path().join(WRITTEN_FILE);
        std::fs::write(&written, "written by the guest\n").unwrap();
        assert!(shared.check().unwrap().unwrap().contains("holds 21 bytes"));
        std::fs::write(&written, WRITTEN_FILE_LINE.repeat(1000)).unwrap();
        assert_eq!(shared.check().unwrap(), None);
    }

    #[test]
    fn the_test_frame_and_its_echo() {
        let frame = test_frame(b"hi");
        assert_eq!(frame.len(), FRAME_LEN);
        assert_eq!(hex(&frame[..14]), "52540012345602000000000188b5");
        assert_eq!(&frame[14..16], b"hi");
        let echo = swapped(&frame);
        assert_eq!(hex(&echo[..14]), "02000000000152540012345688b5");
        assert_eq!(swapped(&echo), frame);
    }

    #[test]
    fn the_disk_check_wants_exactly_sector_8_changed() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk.img");
        let before: Vec<u8> = (0..DISK_BYTES).map(disk_pattern).collect();
        assert_eq!(&before[..4], &[0, 7, 14, 21]);
        assert_eq!(before[SECTOR], 1, "each sector shifts the pattern by one");
        std::fs::write(&disk, &before).unwrap();
        assert!(check_disk(&disk, &before)
            .unwrap()
            .unwrap()
            .contains("in the sector"));
        let mut after = before.clone();
        for (i, byte) in after[4096..4608].iter_mut().enumerate() {
            *byte = WRITTEN_LINE[i % WRITTEN_LINE.len()];
        }
        std::fs::write(&disk, &after).unwrap();
        assert_eq!(check_disk(&disk, &before).unwrap(), None);
        after[0] ^= 1;
        std::fs::write(&disk, &after).unwrap();
        assert!(check_disk(&disk, &before)
            .unwrap()
            .unwrap()
            .contains("outside"));
    }
}
