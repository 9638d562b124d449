//! Booting unikernels (`cargo xtask run`).
//!
//! - [`vmm`]: the QEMU and Firecracker command lines, and a run with a deadline;
//! - [`console`]: what a guest's console tells: its output and exit status;
//! - [`devices`]: memory, network, disk and a shared directory, for each VMM;
//! - [`network`]: the network device's cable (QEMU's NAT, a tap, a bridge)
//!   and MAC address;
//! - [`relay`]: the host's end of `--forward`;
//! - [`image`]: what an image says about itself (arch, VMM, the features
//!   of its bundle);
//! - [`runner`]: booting one image, its program's status as ours.

pub mod console;
pub mod devices;
pub mod image;
pub mod network;
mod relay;
pub mod runner;
pub mod vmm;
