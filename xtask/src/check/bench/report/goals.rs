//! The arithmetic from a bench's figures to its verdicts: each figure
//! against its goal, and how well the bundles of one localbuild shared the
//! machine.

use super::{Boots, ColdRun, Image, Report};
use crate::util::step::{Run, Timing};
use std::collections::BTreeMap;

/// One figure next to its goal.
pub(crate) struct Goal {
    pub(crate) what: String,
    /// The figure, or why it was not measured.
    pub(crate) value: Result<f64, String>,
    pub(crate) limit: f64,
    pub(crate) unit: &'static str,
    /// True when smaller is better.
    pub(crate) below: bool,
}

impl Goal {
    /// `None` when the figure was not measured: no verdict then.
    pub(crate) fn met(&self) -> Option<bool> {
        let value = *self.value.as_ref().ok()?;
        Some(if self.below {
            value < self.limit
        } else {
            value > self.limit
        })
    }

    pub(crate) fn target(&self) -> String {
        let sign = if self.below { "<" } else { ">" };
        with_unit(format!("{sign} {}", self.limit), self.unit)
    }
}

pub(crate) fn with_unit(number: String, unit: &str) -> String {
    if unit.is_empty() {
        number
    } else {
        format!("{number} {unit}")
    }
}

/// The bundles of one localbuild, from the first one's start to the last
/// one's end.
#[derive(Debug)]
pub(crate) struct BundleStage {
    pub(crate) bundles: usize,
    pub(crate) run: Run,
    pub(crate) cores: usize,
    pub(crate) wall_seconds: f64,
    pub(crate) sum_of_walls: f64,
    pub(crate) cpu_seconds: f64,
    /// CPU of the build's other steps inside the stage (each spread evenly
    /// over its own run): what held the rest of the budget.
    pub(crate) beside_cpu_seconds: f64,
}

impl BundleStage {
    /// Jobs that could run at once: the build's `-j`, at most the cores.
    pub(crate) fn slots(&self) -> usize {
        self.run.jobs.min(self.cores)
    }

    /// The goal's figure: the bundles' own CPU over every slot for the
    /// stage's span. Steps beside them do not count: the goal is about the
    /// bundles building in parallel, not about the machine being busy.
    pub(crate) fn efficiency(&self) -> f64 {
        self.cpu_seconds / (self.wall_seconds * self.slots() as f64)
    }

    /// How many bundles were building at once, on average.
    pub(crate) fn concurrency(&self) -> f64 {
        self.sum_of_walls / self.wall_seconds
    }

    /// The share of the slots used by the bundles and the steps beside them.
    pub(crate) fn budget_use(&self) -> f64 {
        (self.cpu_seconds + self.beside_cpu_seconds) / (self.wall_seconds * self.slots() as f64)
    }
}

fn is_bundle(timing: &Timing) -> bool {
    timing.step.starts_with("bundle ")
}

/// The bundle stage of `steps`, or why it cannot be judged: the bundles
/// must all come from one localbuild that recorded its run.
fn bundle_stage(steps: &BTreeMap<String, Timing>, cores: usize) -> Result<BundleStage, String> {
    let bundles: Vec<&Timing> = steps.values().filter(|t| is_bundle(t)).collect();
    let first = bundles.first().ok_or("no bundle build was recorded")?;
    if bundles.iter().any(|t| t.restored) {
        return Err(
            "the last localbuild restored bundles from the step cache instead of \
                    building them (the cold builds below did build them)"
                .into(),
        );
    }
    let run = first.run.ok_or(
        "the bundles' timings do not name their build and its -j (written by an older \
         localbuild); a cold `cargo xtask localbuild` records them",
    )?;
    if bundles.iter().any(|t| t.run != Some(run)) {
        return Err("the bundles were built by different localbuilds; a cold \
                    `cargo xtask localbuild` builds them in one"
            .into());
    }
    let start = bundles
        .iter()
        .map(|t| t.started_unix())
        .fold(f64::INFINITY, f64::min);
    let end = bundles
        .iter()
        .map(|t| t.finished_unix)
        .fold(f64::NEG_INFINITY, f64::max);
    if end <= start {
        return Err("the bundle stage took no time".into());
    }
    let beside_cpu_seconds = steps
        .values()
        .filter(|t| !is_bundle(t))
        .map(|t| cpu_within(t, start, end))
        .sum();
    Ok(BundleStage {
        bundles: bundles.len(),
        run,
        cores,
        wall_seconds: end - start,
        sum_of_walls: bundles.iter().map(|t| t.wall_seconds).sum(),
        cpu_seconds: bundles.iter().filter_map(|t| t.cpu_seconds).sum(),
        beside_cpu_seconds,
    })
}

/// The CPU `timing` spent between `start` and `end`, assuming it spent it
/// evenly over its run.
fn cpu_within(timing: &Timing, start: f64, end: f64) -> f64 {
    let overlap = (timing.finished_unix.min(end) - timing.started_unix().max(start)).max(0.0);
    match timing.cpu_seconds {
        Some(cpu) if timing.wall_seconds > 0.0 => cpu * overlap / timing.wall_seconds,
        _ => 0.0,
    }
}

/// The largest of `values`, or `why_none` when there is none.
fn largest(values: impl Iterator<Item = f64>, why_none: String) -> Result<f64, String> {
    values.reduce(f64::max).ok_or(why_none)
}

fn smallest(values: impl Iterator<Item = f64>, why_none: String) -> Result<f64, String> {
    values.reduce(f64::min).ok_or(why_none)
}

impl Report {
    pub(crate) fn bundle_stage(&self) -> Result<BundleStage, String> {
        bundle_stage(&self.steps, self.setting.cores)
    }

    pub(crate) fn goals(&self) -> Vec<Goal> {
        let no_images = || "no bundle with a cross compiler is installed".to_owned();
        let unbooted = || {
            if self.images.is_empty() {
                no_images()
            } else {
                "no bundle's VMM can boot here".to_owned()
            }
        };
        let cold = self.cold.as_ref().map_err(Clone::clone);
        let cold_at = |jobs: usize, figure: fn(&ColdRun) -> f64| {
            let runs = &cold.as_ref().map_err(Clone::clone)?.cold;
            runs.iter()
                .find(|build| build.jobs == jobs)
                .map(|build| figure(&build.run))
                .ok_or_else(|| format!("no cold localbuild at -j{jobs} (--cold-jobs)"))
        };
        let wall = |run: &ColdRun| run.wall_seconds;
        let cpu = |run: &ColdRun| run.cpu_seconds;
        let mut cold_goals = Vec::new();
        for jobs in [8, 2] {
            cold_goals.push(Goal {
                what: format!("cold localbuild -j{jobs}, every cache empty (wall)"),
                value: cold_at(jobs, wall),
                limit: 600.0,
                unit: "s",
                below: true,
            });
            cold_goals.push(Goal {
                what: format!("cold localbuild -j{jobs}, every cache empty (CPU)"),
                value: cold_at(jobs, cpu),
                limit: 1100.0,
                unit: "CPU-s",
                below: true,
            });
        }
        cold_goals.push(Goal {
            what: "cold localbuild, -j8 wall / -j2 wall".into(),
            value: cold_at(8, wall).and_then(|j8| Ok(j8 / cold_at(2, wall)?)),
            limit: 1.05,
            unit: "×",
            below: true,
        });
        cold_goals.push(Goal {
            what: "`rm -rf` of the build tree and prefix, then localbuild with the caches warm"
                .into(),
            value: cold
                .as_ref()
                .map(|c| c.warm.wall_seconds)
                .map_err(Clone::clone),
            limit: 120.0,
            unit: "s",
            below: true,
        });
        cold_goals.push(Goal {
            what: "fresh clone elsewhere, caches warm: git clone + xtask build + localbuild".into(),
            value: cold
                .as_ref()
                .map(|c| c.fresh_clone.second.total_seconds())
                .map_err(Clone::clone),
            limit: 90.0,
            unit: "s",
            below: true,
        });
        let mut goals = vec![
            Goal {
                what: "no-op localbuild".into(),
                value: Ok(self.noop_seconds),
                limit: 0.3,
                unit: "s",
                below: true,
            },
            Goal {
                what: "driver added time per compile".into(),
                value: Ok(self.driver.added_ms()),
                limit: 3.0,
                unit: "ms",
                below: true,
            },
            Goal {
                what: "OCaml hello image / C hello image (largest)".into(),
                value: largest(self.images.iter().map(Image::size_ratio), no_images()),
                limit: 2.0,
                unit: "×",
                below: true,
            },
            Goal {
                what: "OCaml / C boot to first line (slowest of the bundles booted)".into(),
                value: largest(
                    self.images
                        .iter()
                        .filter_map(|i| i.boots.as_ref().ok().map(Boots::ratio)),
                    unbooted(),
                ),
                limit: 1.5,
                unit: "×",
                below: true,
            },
            Goal {
                what: "console throughput through the runner, virtio console (slowest QEMU bundle)"
                    .into(),
                value: smallest(
                    self.console
                        .guests
                        .iter()
                        .filter(|run| run.console == "virtio")
                        .filter_map(|run| run.rate.as_ref().ok().copied()),
                    unbooted(),
                ),
                limit: 20.0,
                unit: "MB/s",
                below: false,
            },
            Goal {
                what: "runner peak RSS, 1 GB of console".into(),
                value: Ok(self.console.runner_peak_mib),
                limit: 32.0,
                unit: "MiB",
                below: true,
            },
            Goal {
                what: "guest memory beyond a program's native peak RSS (largest)".into(),
                value: largest(
                    self.memory
                        .guests
                        .iter()
                        .filter_map(|(_, g)| g.as_ref().ok())
                        .flat_map(|g| self.memory.overheads_mib(g)),
                    unbooted(),
                ),
                limit: 16.0,
                unit: "MiB",
                below: true,
            },
            Goal {
                what: "bundle stage parallel efficiency".into(),
                value: self.bundle_stage().map(|s| s.efficiency()),
                limit: 0.85,
                unit: "",
                below: false,
            },
            Goal {
                what: "QEMU x86_64 boot to first output (OCaml hello)".into(),
                value: self
                    .images
                    .iter()
                    .find(|i| i.bundle == "qemu-x86_64")
                    .ok_or_else(|| "no qemu-x86_64 bundle is installed".to_owned())
                    .and_then(|i| i.boots.as_ref().map(|b| b.ocaml_ms).map_err(Clone::clone)),
                limit: 120.0,
                unit: "ms",
                below: true,
            },
        ];
        goals.extend(cold_goals);
        goals
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{image, report, COLD_J2};
    use super::super::last_of_each_step;
    use super::*;
    use crate::util::step::parse_timings;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 1e-6
    }

    fn timing(step: &str, wall: f64, cpu: f64, finished: f64, run: Option<Run>) -> Timing {
        Timing {
            step: step.into(),
            wall_seconds: wall,
            cpu_seconds: Some(cpu),
            finished_unix: finished,
            run,
            restored: false,
        }
    }

    #[test]
    fn bundles_built_one_after_another_miss_the_efficiency_goal() {
        let steps = last_of_each_step(parse_timings(COLD_J2).unwrap());
        assert_eq!(steps.len(), 15);
        // The older build's record of qemu-x86_64 is superseded.
        assert_eq!(steps["bundle qemu-x86_64"].cpu_seconds, Some(151.443701));
        let stage = bundle_stage(&steps, 2).unwrap();
        assert_eq!(stage.bundles, 4);
        assert_eq!(stage.slots(), 2);
        // From firecracker-x86_64's start to firecracker-arm64's end.
        assert!(close(
            stage.wall_seconds,
            1_795_860_136.0 - (1_795_859_680.0 - 139.713887882)
        ));
        assert!(close(stage.cpu_seconds, 569.106068));
        assert!(close(stage.sum_of_walls, 595.322986416));
        assert!((stage.concurrency() - 1.0).abs() < 0.001, "one at a time");
        assert!((stage.efficiency() - 0.4777).abs() < 0.0001);
        // host-ocaml and host-findlib whole, host-dune's first 41 of 70 s.
        let dune = 102.800525 * (1_795_860_136.0 - (1_795_860_165.0 - 69.871154214)) / 69.871154214;
        assert!(close(
            stage.beside_cpu_seconds,
            538.787858 + 2.9406710000000658 + dune
        ));
        assert!((stage.budget_use() - 0.9828).abs() < 0.0001);

        let goals = report(steps, Vec::new()).goals();
        let efficiency = goals
            .iter()
            .find(|g| g.what == "bundle stage parallel efficiency")
            .unwrap();
        assert_eq!(efficiency.met(), Some(false));
    }

    #[test]
    fn slots_are_the_jobs_within_the_cores() {
        let run = |jobs| {
            Some(Run {
                started_unix: 100,
                jobs,
            })
        };
        let together = |jobs| {
            last_of_each_step([
                timing("bundle a", 100.0, 90.0, 200.0, run(jobs)),
                timing("bundle b", 80.0, 80.0, 190.0, run(jobs)),
            ])
        };
        let wide = bundle_stage(&together(2), 8).unwrap();
        assert_eq!(wide.slots(), 2);
        assert!(close(wide.efficiency(), 170.0 / (100.0 * 2.0)));
        assert!(close(wide.concurrency(), 1.8));
        let narrow = bundle_stage(&together(8), 4).unwrap();
        assert_eq!(narrow.slots(), 4);
        assert!(close(narrow.efficiency(), 170.0 / (100.0 * 4.0)));
    }

    #[test]
    fn restored_bundles_are_not_judged() {
        let run = Some(Run {
            started_unix: 100,
            jobs: 2,
        });
        let mut restored = timing("bundle b", 0.1, 0.0, 190.0, run);
        restored.restored = true;
        let steps = last_of_each_step([timing("bundle a", 100.0, 90.0, 200.0, run), restored]);
        let why = bundle_stage(&steps, 2).unwrap_err();
        assert!(
            why.contains("restored bundles from the step cache"),
            "{why}"
        );
    }

    #[test]
    fn bundles_of_other_or_unrecorded_builds_are_not_judged() {
        let run = |started_unix| {
            Some(Run {
                started_unix,
                jobs: 2,
            })
        };
        let two_builds = last_of_each_step([
            timing("bundle a", 10.0, 10.0, 110.0, run(90)),
            timing("bundle b", 10.0, 10.0, 510.0, run(490)),
        ]);
        let why = bundle_stage(&two_builds, 2).unwrap_err();
        assert!(why.contains("different localbuilds"), "{why}");
        let old = parse_timings(r#"{"step":"bundle a","wall_seconds":5.0,"finished_unix":100}"#);
        let why = bundle_stage(&last_of_each_step(old.unwrap()), 2).unwrap_err();
        assert!(why.contains("older localbuild"), "{why}");
        assert!(bundle_stage(&BTreeMap::new(), 2).is_err());
    }

    #[test]
    fn goals_compare_the_worst_ratio_and_skip_what_was_not_measured() {
        let booted = |c_ms, ocaml_ms| Ok(Boots { c_ms, ocaml_ms });
        let images = vec![
            image("qemu-x86_64", 1000, 1670, booted(246.0, 265.0)),
            image(
                "firecracker-x86_64",
                1000,
                1690,
                Err("firecracker is not installed".into()),
            ),
            image("qemu-arm64", 1000, 1720, booted(94.0, 111.0)),
        ];
        let goals = report(BTreeMap::new(), images).goals();
        let value = |i: usize| *goals[i].value.as_ref().unwrap();
        assert!(close(value(0), 0.18));
        assert!(close(value(1), 31.72 - 29.75));
        assert!(close(value(2), 1.72), "the largest size ratio");
        assert!(close(value(3), 111.0 / 94.0), "the slowest booted bundle");
        assert!(close(value(4), 25.0), "the one virtio console measured");
        assert!(close(value(5), 4.2), "the runner's peak");
        assert!(close(value(6), 262.0 - 258.0), "the larger of two programs");
        assert_eq!(
            goals.iter().map(Goal::met).collect::<Vec<_>>(),
            [
                Some(true),
                Some(true),
                Some(true),
                Some(true),
                Some(true),
                Some(true),
                Some(true),
                None,
                Some(false),
                // The cold builds: not measured without --cold.
                None,
                None,
                None,
                None,
                None,
                None,
                None,
            ]
        );
        assert!(close(value(8), 265.0), "QEMU x86_64's OCaml boot");

        let unbootable = vec![image(
            "firecracker-x86_64",
            1000,
            2100,
            Err("no KVM".into()),
        )];
        let goals = report(BTreeMap::new(), unbootable).goals();
        assert_eq!(goals[2].met(), Some(false), "2.1 × is over the 2 × goal");
        assert_eq!(goals[3].met(), None);
        assert!(goals[3]
            .value
            .as_ref()
            .is_err_and(|why| why.contains("boot here")));
    }
}
