//! What a bench found, apart from measuring it: nothing here reads the
//! machine, so it is tested on recorded figures. [`Report`] holds the
//! figures in typed sections; [`goals`] is the arithmetic from them to the
//! verdicts, and [`render`] writes the one report as markdown and as JSON.

mod goals;
mod render;

use crate::util::step::Timing;
use anyhow::Result;
use std::collections::BTreeMap;

/// What was measured, where and when.
pub(crate) struct Setting {
    /// `git rev-parse HEAD`, with `-dirty` when the tree has changes.
    pub(crate) commit: String,
    pub(crate) measured_unix: u64,
    pub(crate) cpu: String,
    pub(crate) kernel: String,
    pub(crate) cores: usize,
}

/// Median milliseconds of one compile-only call through the driver and of
/// the compiler command it runs, called directly.
pub(crate) struct Driver {
    pub(crate) runs: usize,
    pub(crate) through_ms: f64,
    pub(crate) direct_ms: f64,
}

impl Driver {
    fn added_ms(&self) -> f64 {
        self.through_ms - self.direct_ms
    }
}

/// The C and OCaml hellos linked for one bundle.
pub(crate) struct Image {
    pub(crate) bundle: String,
    pub(crate) c_bytes: u64,
    pub(crate) ocaml_bytes: u64,
    /// Median boots of both through the bundle's own VMM, or why that VMM
    /// cannot boot here.
    pub(crate) boots: Result<Boots, String>,
    /// The OCaml hello on the bundle's `nodevices` variant: what the
    /// network and block devices cost, or why it was not measured.
    pub(crate) without_devices: Result<Lean, String>,
    /// The same on its `noroot` variant: what the root filesystem costs.
    pub(crate) without_root: Result<Lean, String>,
}

/// The OCaml hello linked for a variant without something.
pub(crate) struct Lean {
    pub(crate) ocaml_bytes: u64,
    /// Median boot to the first console byte, or why not booted.
    pub(crate) boot_ms: Result<f64, String>,
}

impl Image {
    fn size_ratio(&self) -> f64 {
        self.ocaml_bytes as f64 / self.c_bytes as f64
    }
}

/// Median milliseconds from starting the VMM to the first console byte.
pub(crate) struct Boots {
    pub(crate) c_ms: f64,
    pub(crate) ocaml_ms: f64,
}

impl Boots {
    fn ratio(&self) -> f64 {
        self.ocaml_ms / self.c_ms
    }
}

/// Console throughput in MB/s (`bench/console.rs`).
pub(crate) struct Console {
    /// The program on Linux, writing to a pipe.
    pub(crate) native_mb_s: f64,
    /// The runner's peak RSS (MiB) and rate with a stand-in VMM writing
    /// 1 GB.
    pub(crate) runner_peak_mib: f64,
    pub(crate) runner_mb_s: f64,
    /// Through the installed runner, by QEMU bundle and console device.
    pub(crate) guests: Vec<ConsoleRun>,
}

/// One bundle's console rate with one console device (`--console`).
pub(crate) struct ConsoleRun {
    pub(crate) bundle: String,
    /// `serial` or `virtio`.
    pub(crate) console: &'static str,
    /// MB/s, or why not measured.
    pub(crate) rate: Result<f64, String>,
}

/// The smallest guests, in MiB, that run the OCaml hello and each memory
/// program (`memory::PROGRAMS`, in order) on one bundle.
pub(crate) struct GuestMemory {
    pub(crate) hello_mib: u32,
    pub(crate) programs_mib: Vec<u32>,
}

/// Guest memory against the memory programs' own needs.
pub(crate) struct Memory {
    /// Each program's peak RSS as a Linux program.
    pub(crate) native_rss_mib: Vec<f64>,
    /// By bundle name: its smallest guests, or why they were not measured.
    pub(crate) guests: Vec<(String, Result<GuestMemory, String>)>,
}

impl Memory {
    /// What a bundle's guest needs beyond each program's native peak RSS.
    fn overheads_mib<'a>(&'a self, guest: &'a GuestMemory) -> impl Iterator<Item = f64> + 'a {
        guest
            .programs_mib
            .iter()
            .zip(&self.native_rss_mib)
            .map(|(guest, native)| f64::from(*guest) - native)
    }
}

/// One localbuild run by `bench --cold`.
pub(crate) struct ColdRun {
    pub(crate) wall_seconds: f64,
    /// The whole process tree's, from `wait4`.
    pub(crate) cpu_seconds: f64,
    /// The steps that did their work, in the order they ended.
    pub(crate) steps: Vec<Timing>,
    /// None when the run had no ccache.
    pub(crate) ccache: Option<crate::build::ccache::Stats>,
}

/// Localbuilds from nothing at each `-j`, again after `rm -rf` with the
/// caches warm, a no-op, and fresh clones elsewhere (see `bench/cold.rs`).
pub(crate) struct Cold {
    /// In the order they ran; each started with every cache empty.
    pub(crate) cold: Vec<ColdBuild>,
    /// After `rm -rf` of the build tree and prefix, the compile and step
    /// caches as the last cold build left them.
    pub(crate) warm: ColdRun,
    pub(crate) noop_seconds: f64,
    pub(crate) fresh_clone: FreshClone,
}

/// One cold localbuild.
pub(crate) struct ColdBuild {
    pub(crate) jobs: usize,
    pub(crate) run: ColdRun,
    /// As localbuild names it.
    pub(crate) critical_path: Option<String>,
}

/// A clone of the repository in another directory set up with the caches
/// warm: the first compiles its xtask with an empty cargo target
/// directory, the second with the one the first left (shared, as the
/// step cache is).
pub(crate) struct FreshClone {
    pub(crate) first: CloneSetup,
    pub(crate) second: CloneSetup,
    /// `localbuild --test-variants` then `localtests --require qemu` on the
    /// second clone's toolchain: their wall time, or how they failed.
    pub(crate) localtests: Result<f64, String>,
}

pub(crate) struct CloneSetup {
    /// `git clone`.
    pub(crate) clone_seconds: f64,
    /// `cargo build -p xtask`.
    pub(crate) xtask_seconds: f64,
    pub(crate) localbuild: ColdRun,
}

impl CloneSetup {
    /// From `git clone` to an installed toolchain.
    pub(crate) fn total_seconds(&self) -> f64 {
        self.clone_seconds + self.xtask_seconds + self.localbuild.wall_seconds
    }
}

/// Everything a bench found: both reports are rendered from it.
pub(crate) struct Report {
    pub(crate) setting: Setting,
    /// The last record of each step, by name (see [`last_of_each_step`]).
    pub(crate) steps: BTreeMap<String, Timing>,
    pub(crate) noop_seconds: f64,
    /// Or why it was not measured (`--cold` not given).
    pub(crate) cold: Result<Cold, String>,
    pub(crate) driver: Driver,
    pub(crate) boot_runs: usize,
    pub(crate) images: Vec<Image>,
    pub(crate) console: Console,
    pub(crate) memory: Memory,
    /// By QEMU bundle (`bench/website.rs`).
    pub(crate) website: Vec<super::website::WebsiteRun>,
    /// By QEMU bundle (`bench/network.rs`).
    pub(crate) network: Vec<super::network::PathsRun>,
}

/// The last record of each step: the figures of the build that last did
/// its work (a cold build, when nothing has changed since).
pub(crate) fn last_of_each_step(
    records: impl IntoIterator<Item = Timing>,
) -> BTreeMap<String, Timing> {
    records
        .into_iter()
        .map(|record| (record.step.clone(), record))
        .collect()
}

/// The middle value (the upper one of an even count); `values` is not empty.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}

/// Recorded figures for the tests of the arithmetic and of the rendering.
#[cfg(test)]
mod fixtures {
    use super::super::website::{Rate, WebsiteRun};
    use super::*;

    /// A cold localbuild at `-j2` on 2 cores (the figures of the first
    /// bench report), after an older build's record of one bundle.
    pub(crate) const COLD_J2: &str = include_str!("../../../../tests/data/timings-cold-j2.jsonl");

    pub(crate) fn report(steps: BTreeMap<String, Timing>, images: Vec<Image>) -> Report {
        Report {
            setting: Setting {
                commit: "0123abcd-dirty".into(),
                measured_unix: 1_795_860_136,
                cpu: "AMD EPYC".into(),
                kernel: "6.18.44".into(),
                cores: 2,
            },
            steps,
            noop_seconds: 0.18,
            cold: Err("`cargo xtask bench --cold` measures it".into()),
            driver: Driver {
                runs: 200,
                through_ms: 31.72,
                direct_ms: 29.75,
            },
            boot_runs: 10,
            images,
            console: Console {
                native_mb_s: 450.0,
                runner_peak_mib: 4.2,
                runner_mb_s: 310.0,
                guests: vec![
                    ConsoleRun {
                        bundle: "qemu-x86_64".into(),
                        console: "serial",
                        rate: Ok(0.9),
                    },
                    ConsoleRun {
                        bundle: "qemu-x86_64".into(),
                        console: "virtio",
                        rate: Ok(25.0),
                    },
                    ConsoleRun {
                        bundle: "qemu-arm64".into(),
                        console: "virtio",
                        rate: Err("qemu-system-aarch64 is not installed".into()),
                    },
                ],
            },
            memory: Memory {
                native_rss_mib: vec![26.5, 258.0],
                guests: vec![
                    (
                        "qemu-x86_64".into(),
                        Ok(GuestMemory {
                            hello_mib: 6,
                            programs_mib: vec![29, 262],
                        }),
                    ),
                    (
                        "firecracker-x86_64".into(),
                        Err("firecracker is not installed".into()),
                    ),
                ],
            },
            website: vec![
                WebsiteRun {
                    bundle: "qemu-x86_64".into(),
                    rates: Ok(
                        [(400.0, 2.4), (200.0, 4.8), (100.0, 9.9), (10.0, 99.0)].map(
                            |(requests_per_second, median_ms)| Rate {
                                requests_per_second,
                                median_ms,
                            },
                        ),
                    ),
                },
                WebsiteRun {
                    bundle: "qemu-arm64".into(),
                    rates: Err(
                        "no dist/website.qemu:\n`cargo xtask mirage-tests` builds it".into(),
                    ),
                },
            ],
            network: Vec::new(),
        }
    }

    pub(crate) fn image(
        bundle: &str,
        c_bytes: u64,
        ocaml_bytes: u64,
        boots: Result<Boots, String>,
    ) -> Image {
        Image {
            bundle: bundle.into(),
            c_bytes,
            ocaml_bytes,
            boots,
            without_devices: Err("no nodevices bundle".into()),
            without_root: Err("no noroot bundle".into()),
        }
    }
}
