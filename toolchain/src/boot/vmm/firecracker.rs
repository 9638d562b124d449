//! Firecracker's command line: a VM configuration file, no API socket.

use super::{kernel_args, Launch};
use crate::arch::Arch;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Firecracker's VM configuration for `launch`, as JSON.
///
/// On x86_64 Unikraft takes the boot arguments as they are for argv, so
/// they start with a program name (the image's file name, as QEMU gives);
/// on arm64 Unikraft puts its own name in front.
pub fn firecracker_config(launch: &Launch, token: &str, own_tap: Option<&str>) -> Result<String> {
    let mut program_name = Vec::new();
    if launch.arch == Arch::X86_64 {
        let name = launch
            .image
            .file_name()
            .map_or("unikernel".into(), |n| n.to_string_lossy());
        program_name.push(name.into_owned());
    }
    let (drives, interfaces) = launch.devices.firecracker_entries(own_tap)?;
    let config = serde_json::json!({
        "boot-source": {
            "kernel_image_path": launch.image,
            "boot_args": kernel_args::kernel_arguments(&program_name, launch, token)?,
        },
        "drives": drives,
        "network-interfaces": interfaces,
        "machine-config": {
            "vcpu_count": 1,
            "mem_size_mib": launch.devices.memory_mib(),
        },
    });
    Ok(serde_json::to_string_pretty(&config)?)
}

/// The Firecracker command line for `launch`; its configuration and log go
/// to `scratch`. The log keeps Firecracker's own messages off the console.
/// `own_tap` names the runner's tap for a bridge.
pub(super) fn command(
    launch: &Launch,
    scratch: &Path,
    token: &str,
    own_tap: Option<&str>,
) -> Result<Command> {
    if launch.gdb.is_some() {
        bail!("--gdb is for QEMU (Firecracker has no gdbstub in its releases)");
    }
    let config = scratch.join("vm.json");
    std::fs::write(&config, firecracker_config(launch, token, own_tap)?)?;
    let mut cmd = Command::new("firecracker");
    cmd.arg("--no-api")
        .arg("--config-file")
        .arg(&config)
        .arg("--log-path")
        .arg(log(scratch));
    Ok(cmd)
}

/// Where Firecracker's own log goes.
pub(super) fn log(scratch: &Path) -> PathBuf {
    scratch.join("firecracker.log")
}
