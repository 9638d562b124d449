//! Booting unikernels (`cargo xtask run`).
//!
//! - [`vmm`]: the QEMU and Firecracker command lines, and a run with a deadline;
//! - [`console`]: what a guest's console tells: its output and exit status;
//! - [`devices`]: memory, network and disk, for each VMM;
//! - [`run`]: booting one image, its program's status as ours.

pub mod console;
pub mod devices;
pub mod run;
pub mod vmm;
