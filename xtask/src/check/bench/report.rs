//! What a bench found and the arithmetic from it to the verdicts, apart
//! from measuring: nothing here reads the machine, so it is tested on
//! recorded figures, and the markdown and JSON reports render one
//! [`Report`].

use crate::util::step::{Run, Timing};
use anyhow::{Context as _, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What was measured, where and when.
pub struct Setting {
    /// `git rev-parse HEAD`, with `-dirty` when the tree has changes.
    pub commit: String,
    pub measured_unix: u64,
    pub cpu: String,
    pub kernel: String,
    pub cores: usize,
}

/// Median milliseconds of one compile-only call through the driver and of
/// the compiler command it runs, called directly.
pub struct Driver {
    pub runs: usize,
    pub through_ms: f64,
    pub direct_ms: f64,
}

impl Driver {
    fn added_ms(&self) -> f64 {
        self.through_ms - self.direct_ms
    }
}

/// The C and OCaml hellos linked for one bundle.
pub struct Image {
    pub bundle: String,
    pub c_bytes: u64,
    pub ocaml_bytes: u64,
    /// Median boots of both through the bundle's own VMM, or why that VMM
    /// cannot boot here.
    pub boots: Result<Boots, String>,
}

impl Image {
    fn size_ratio(&self) -> f64 {
        self.ocaml_bytes as f64 / self.c_bytes as f64
    }
}

/// Median milliseconds from starting the VMM to the first console byte.
pub struct Boots {
    pub c_ms: f64,
    pub ocaml_ms: f64,
}

impl Boots {
    fn ratio(&self) -> f64 {
        self.ocaml_ms / self.c_ms
    }
}

/// Everything a bench found: both reports are rendered from it.
pub struct Report {
    pub setting: Setting,
    /// The last record of each step, by name (see [`last_of_each_step`]).
    pub steps: BTreeMap<String, Timing>,
    pub noop_seconds: f64,
    pub driver: Driver,
    pub boot_runs: usize,
    pub images: Vec<Image>,
}

/// One figure next to its goal.
struct Goal {
    what: &'static str,
    /// The figure, or why it was not measured.
    value: Result<f64, String>,
    limit: f64,
    unit: &'static str,
    /// True when smaller is better.
    below: bool,
}

impl Goal {
    /// `None` when the figure was not measured: no verdict then.
    fn met(&self) -> Option<bool> {
        let value = *self.value.as_ref().ok()?;
        Some(if self.below {
            value < self.limit
        } else {
            value > self.limit
        })
    }

    fn target(&self) -> String {
        let sign = if self.below { "<" } else { ">" };
        with_unit(format!("{sign} {}", self.limit), self.unit)
    }
}

fn with_unit(number: String, unit: &str) -> String {
    if unit.is_empty() {
        number
    } else {
        format!("{number} {unit}")
    }
}

/// The bundles of one localbuild, from the first one's start to the last
/// one's end.
#[derive(Debug)]
struct BundleStage {
    bundles: usize,
    run: Run,
    cores: usize,
    wall_seconds: f64,
    sum_of_walls: f64,
    cpu_seconds: f64,
    /// CPU of the build's other steps inside the stage (each spread evenly
    /// over its own run): what held the rest of the budget.
    beside_cpu_seconds: f64,
}

impl BundleStage {
    /// Jobs that could run at once: the build's `-j`, at most the cores.
    fn slots(&self) -> usize {
        self.run.jobs.min(self.cores)
    }

    /// The goal's figure: the bundles' own CPU over every slot for the
    /// stage's span. Steps beside them do not count: the goal is about the
    /// bundles building in parallel, not about the machine being busy.
    fn efficiency(&self) -> f64 {
        self.cpu_seconds / (self.wall_seconds * self.slots() as f64)
    }

    /// How many bundles were building at once, on average.
    fn concurrency(&self) -> f64 {
        self.sum_of_walls / self.wall_seconds
    }

    /// The share of the slots used by the bundles and the steps beside them.
    fn budget_use(&self) -> f64 {
        (self.cpu_seconds + self.beside_cpu_seconds) / (self.wall_seconds * self.slots() as f64)
    }
}

/// The records of a `timings.jsonl`, in the order they were written.
pub fn parse_timings(text: &str) -> Result<Vec<Timing>> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line).with_context(|| format!("line {}", index + 1))
        })
        .collect()
}

/// The last record of each step: the figures of the build that last did
/// its work (a cold build, when nothing has changed since).
pub fn last_of_each_step(records: impl IntoIterator<Item = Timing>) -> BTreeMap<String, Timing> {
    records
        .into_iter()
        .map(|record| (record.step.clone(), record))
        .collect()
}

fn is_bundle(timing: &Timing) -> bool {
    timing.step.starts_with("bundle ")
}

/// The bundle stage of `steps`, or why it cannot be judged: the bundles
/// must all come from one localbuild that recorded its run.
fn bundle_stage(steps: &BTreeMap<String, Timing>, cores: usize) -> Result<BundleStage, String> {
    let bundles: Vec<&Timing> = steps.values().filter(|t| is_bundle(t)).collect();
    let first = bundles.first().ok_or("no bundle build was recorded")?;
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

/// The middle value (the upper one of an even count); `values` is not empty.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The largest of `values`, or `why_none` when there is none.
fn largest(values: impl Iterator<Item = f64>, why_none: String) -> Result<f64, String> {
    values.reduce(f64::max).ok_or(why_none)
}

/// `2026-11-28 10:02:16 UTC` (proleptic Gregorian calendar).
fn utc(unix: u64) -> String {
    let (days, seconds) = (unix / 86_400, unix % 86_400);
    // Counted from 0000-03-01, so that a leap day ends its year.
    let since_march_0000 = days + 719_468;
    let era = since_march_0000 / 146_097;
    let day_of_era = since_march_0000 % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

impl Report {
    /// The localbuilds the steps read come from, oldest first.
    fn runs(&self) -> BTreeSet<Run> {
        self.steps.values().filter_map(|t| t.run).collect()
    }

    fn bundle_stage(&self) -> Result<BundleStage, String> {
        bundle_stage(&self.steps, self.setting.cores)
    }

    fn goals(&self) -> Vec<Goal> {
        let no_images = || "no bundle with a cross compiler is installed".to_owned();
        let unbooted = || {
            if self.images.is_empty() {
                no_images()
            } else {
                "no bundle's VMM can boot here".to_owned()
            }
        };
        vec![
            Goal {
                what: "no-op localbuild",
                value: Ok(self.noop_seconds),
                limit: 2.0,
                unit: "s",
                below: true,
            },
            Goal {
                what: "driver added time per compile",
                value: Ok(self.driver.added_ms()),
                limit: 3.0,
                unit: "ms",
                below: true,
            },
            Goal {
                what: "OCaml hello image / C hello image (largest)",
                value: largest(self.images.iter().map(Image::size_ratio), no_images()),
                limit: 2.0,
                unit: "×",
                below: true,
            },
            Goal {
                what: "OCaml / C boot to first line (slowest of the bundles booted)",
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
                what: "bundle stage parallel efficiency",
                value: self.bundle_stage().map(|s| s.efficiency()),
                limit: 0.85,
                unit: "",
                below: false,
            },
        ]
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("# ocaml-unikraft benchmark\n\n");
        out.push_str(&self.setting_markdown());
        out.push_str(&self.build_markdown());
        out.push_str(&self.driver_markdown());
        out.push_str(&self.images_markdown());
        out.push_str(&goals_markdown(&self.goals()));
        out
    }

    fn setting_markdown(&self) -> String {
        let s = &self.setting;
        format!(
            "Commit {}, measured {}.\n\nMachine: {}, {} cores, Linux {}.\n\nBuild times from {}.\n\n",
            s.commit,
            utc(s.measured_unix),
            s.cpu,
            s.cores,
            s.kernel,
            self.builds_read()
        )
    }

    /// Which localbuilds the step timings come from, with their `-j`.
    fn builds_read(&self) -> String {
        let runs: Vec<String> = self
            .runs()
            .iter()
            .map(|r| format!("-j{} (started {})", r.jobs, utc(r.started_unix)))
            .collect();
        let unrecorded = self.steps.values().filter(|t| t.run.is_none()).count();
        let recorded = match runs.len() {
            0 => return "a localbuild that did not record its -j (an older version)".into(),
            1 => format!("the localbuild with {}", runs[0]),
            n => format!("{n} localbuilds: {}", runs.join(", ")),
        };
        match unrecorded {
            0 => recorded,
            n => format!(
                "{recorded}, and {n} steps from older localbuilds that did not record their -j"
            ),
        }
    }

    fn build_markdown(&self) -> String {
        let mut out = String::from(
            "## Build (last run of each step)\n\n| step | wall s | CPU s |\n|---|---|---|\n",
        );
        for timing in self.steps.values() {
            out.push_str(&format!(
                "| {} | {:.1} | {} |\n",
                timing.step,
                timing.wall_seconds,
                timing.cpu_seconds.map_or("-".into(), |c| format!("{c:.1}"))
            ));
        }
        out.push_str(&match self.bundle_stage() {
            Ok(stage) => stage_markdown(&stage),
            Err(why) => format!("\nBundle stage efficiency: not measured: {why}.\n"),
        });
        out.push_str(&format!(
            "\nNo-op localbuild: {:.2} s.\n",
            self.noop_seconds
        ));
        out
    }

    fn driver_markdown(&self) -> String {
        let d = &self.driver;
        format!(
            "\n## Driver\n\nCompile-only call of a one-line C file, median of {} runs each, interleaved: through the driver {:.2} ms, the same compiler command directly {:.2} ms: {:.2} ms added, ratio {:.3}.\n",
            d.runs,
            d.through_ms,
            d.direct_ms,
            d.added_ms(),
            d.through_ms / d.direct_ms
        )
    }

    fn images_markdown(&self) -> String {
        let mut out = format!(
            "\n## Images and boots\n\nBoot: from starting the bundle's own VMM (QEMU with its software CPU, Firecracker on KVM) to the first console byte, median of {}.\n\n| bundle | C image | OCaml image | size ratio | C boot ms | OCaml boot ms | boot ratio |\n|---|---|---|---|---|---|---|\n",
            self.boot_runs
        );
        for image in &self.images {
            let boots = match &image.boots {
                Ok(b) => format!("{:.0} | {:.0} | {:.2}", b.c_ms, b.ocaml_ms, b.ratio()),
                Err(why) => format!("- | - | not measured: {why}"),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {:.2} | {boots} |\n",
                image.bundle,
                image.c_bytes,
                image.ocaml_bytes,
                image.size_ratio()
            ));
        }
        out
    }

    pub fn json(&self) -> Value {
        let s = &self.setting;
        json!({
            "commit": s.commit,
            "measured_unix": s.measured_unix,
            "measured": utc(s.measured_unix),
            "machine": { "cpu": s.cpu, "kernel": s.kernel, "cores": s.cores },
            "build": {
                "runs": self.runs().iter().map(|r| json!({ "started_unix": r.started_unix, "started": utc(r.started_unix), "jobs": r.jobs })).collect::<Vec<_>>(),
                "steps": self.steps.values().collect::<Vec<_>>(),
                "bundle_stage": match self.bundle_stage() {
                    Ok(stage) => stage_json(&stage),
                    Err(why) => json!({ "not_measured": why }),
                },
                "noop_localbuild_seconds": self.noop_seconds,
            },
            "driver": {
                "runs": self.driver.runs,
                "driver_ms": self.driver.through_ms,
                "direct_ms": self.driver.direct_ms,
                "added_ms": self.driver.added_ms(),
                "ratio": self.driver.through_ms / self.driver.direct_ms,
            },
            "boot_runs": self.boot_runs,
            "images": self.images.iter().map(image_json).collect::<Vec<_>>(),
            "goals": self.goals().iter().map(goal_json).collect::<Vec<_>>(),
        })
    }
}

fn stage_markdown(stage: &BundleStage) -> String {
    format!(
        "\nBundle stage: {} bundles, {:.0} s from the first one's start to the last one's end (sum of their walls {:.0} s: {:.2} building at once on average), {:.0} s CPU of their own. Efficiency = their CPU ÷ (stage wall × {} job slots: -j{} within {} cores) = {:.2}. Steps beside them used {:.0} s CPU in that span: the whole build used {:.2} of the slots.\n",
        stage.bundles,
        stage.wall_seconds,
        stage.sum_of_walls,
        stage.concurrency(),
        stage.cpu_seconds,
        stage.slots(),
        stage.run.jobs,
        stage.cores,
        stage.efficiency(),
        stage.beside_cpu_seconds,
        stage.budget_use()
    )
}

fn stage_json(stage: &BundleStage) -> Value {
    json!({
        "bundles": stage.bundles,
        "jobs": stage.run.jobs,
        "slots": stage.slots(),
        "wall_seconds": stage.wall_seconds,
        "sum_of_walls_seconds": stage.sum_of_walls,
        "cpu_seconds": stage.cpu_seconds,
        "beside_cpu_seconds": stage.beside_cpu_seconds,
        "efficiency": stage.efficiency(),
        "budget_use": stage.budget_use(),
    })
}

fn image_json(image: &Image) -> Value {
    let boots = image.boots.as_ref();
    json!({
        "bundle": image.bundle,
        "c_bytes": image.c_bytes,
        "ocaml_bytes": image.ocaml_bytes,
        "size_ratio": image.size_ratio(),
        "c_boot_ms": boots.ok().map(|b| b.c_ms),
        "ocaml_boot_ms": boots.ok().map(|b| b.ocaml_ms),
        "boot_ratio": boots.ok().map(Boots::ratio),
        "boot_not_measured": boots.err(),
    })
}

fn goal_json(goal: &Goal) -> Value {
    json!({
        "what": goal.what,
        "value": goal.value.as_ref().ok(),
        "not_measured": goal.value.as_ref().err(),
        "goal": goal.target(),
        "met": goal.met(),
    })
}

fn goals_markdown(goals: &[Goal]) -> String {
    let mut out =
        String::from("\n## Goals\n\n| figure | value | goal | met |\n|---|---|---|---|\n");
    for goal in goals {
        let value = match &goal.value {
            Ok(v) => with_unit(format!("{v:.2}"), goal.unit),
            Err(why) => format!("not measured: {why}"),
        };
        let met = match goal.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        out.push_str(&format!(
            "| {} | {value} | {} | {met} |\n",
            goal.what,
            goal.target()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cold localbuild at `-j2` on 2 cores (the figures of the first
    /// bench report), after an older build's record of one bundle.
    const COLD_J2: &str = include_str!("../../../tests/data/timings-cold-j2.jsonl");

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
        }
    }

    fn report(steps: BTreeMap<String, Timing>, images: Vec<Image>) -> Report {
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
            driver: Driver {
                runs: 200,
                through_ms: 31.72,
                direct_ms: 29.75,
            },
            boot_runs: 10,
            images,
        }
    }

    fn image(bundle: &str, c_bytes: u64, ocaml_bytes: u64, boots: Result<Boots, String>) -> Image {
        Image {
            bundle: bundle.into(),
            c_bytes,
            ocaml_bytes,
            boots,
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
        let efficiency = goals.last().unwrap();
        assert_eq!(efficiency.what, "bundle stage parallel efficiency");
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
        assert_eq!(
            goals.iter().map(Goal::met).collect::<Vec<_>>(),
            [Some(true), Some(true), Some(true), Some(true), None]
        );

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

    #[test]
    fn markdown_and_json_carry_the_same_figures() {
        let steps = last_of_each_step(parse_timings(COLD_J2).unwrap());
        let images = vec![image(
            "firecracker-x86_64",
            1000,
            1690,
            Err("firecracker is not installed".into()),
        )];
        let report = report(steps, images);
        let (markdown, json) = (report.markdown(), report.json());
        assert!(markdown.contains("Commit 0123abcd-dirty, measured 2026-11-28 10:02:16 UTC."));
        assert!(markdown.contains("Machine: AMD EPYC, 2 cores, Linux 6.18.44."));
        assert!(markdown.contains("the localbuild with -j2 (started 2026-11-28 09:52:10 UTC)"));
        assert!(markdown.contains("× 2 job slots: -j2 within 2 cores) = 0.48."));
        assert!(markdown.contains("| bundle stage parallel efficiency | 0.48 | > 0.85 | **no** |"));
        assert!(markdown.contains("| - | - | not measured: firecracker is not installed |"));
        assert_eq!(json["commit"], "0123abcd-dirty");
        assert_eq!(json["machine"]["cores"], 2);
        assert_eq!(json["build"]["runs"][0]["jobs"], 2);
        assert_eq!(json["build"]["steps"].as_array().unwrap().len(), 15);
        assert_eq!(json["build"]["bundle_stage"]["slots"], 2);
        let goal = &json["goals"][4];
        assert_eq!(goal["goal"], "> 0.85");
        assert_eq!(goal["met"], false);
        assert!((goal["value"].as_f64().unwrap() - 0.4777).abs() < 0.0001);
        assert_eq!(
            json["images"][0]["boot_not_measured"],
            "firecracker is not installed"
        );
        assert_eq!(json["goals"][3]["met"], Value::Null);
    }

    #[test]
    fn medians_and_dates() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_860_136), "2026-11-28 10:02:16 UTC");
    }
}
