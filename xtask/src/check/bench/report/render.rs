//! A bench's report as markdown, for people, and as JSON, for tools: both
//! from the one [`Report`], section by section, so they carry the same
//! figures.

use super::goals::{with_unit, BundleStage, Goal};
use super::{Boots, CloneSetup, Cold, ColdRun, Image, Lean, Report};
use crate::util::step::{Run, Timing};
use serde_json::{json, Value};
use std::collections::BTreeSet;

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

    pub(crate) fn markdown(&self) -> String {
        let mut out = String::from("# ocaml-unikraft benchmark\n\n");
        out.push_str(&self.setting_markdown());
        out.push_str(&self.build_markdown());
        out.push_str(&self.cold_markdown());
        out.push_str(&self.driver_markdown());
        out.push_str(&self.images_markdown());
        out.push_str(&self.devices_markdown());
        out.push_str(&self.root_markdown());
        out.push_str(&self.console_markdown());
        out.push_str(&self.memory_markdown());
        out.push_str(&self.website_markdown());
        out.push_str(&super::super::network::markdown(&self.network));
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
        let mut out = String::from("## Build (last run of each step)\n\n");
        out.push_str(&steps_table(self.steps.values()));
        out.push_str(&match self.bundle_stage() {
            Ok(stage) => stage_markdown(&stage),
            Err(why) => format!("\nBundle stage efficiency: not measured: {why}.\n"),
        });
        out.push_str(&format!(
            "\nNo-op localbuild: {:.2} s (median of 3).\n",
            self.noop_seconds
        ));
        out
    }

    fn cold_markdown(&self) -> String {
        let c = match &self.cold {
            Ok(c) => c,
            Err(why) => return format!("\n## Cold build\n\nNot measured: {why}.\n"),
        };
        let cores = self.setting.cores as f64;
        let stats = |run: &ColdRun| match &run.ccache {
            Some(stats) => stats.summary(false),
            None => "no ccache".into(),
        };
        let mut out = String::from("\n## Cold build\n");
        for build in &c.cold {
            let run = &build.run;
            out.push_str(&format!(
                "\n`cargo xtask localbuild -j{}` from an empty build tree, prefix, ccache and step cache (a scratch directory beside the user's): {:.0} s wall, {:.0} CPU-s for the whole process tree; on {} cores the CPU alone needs {:.0} s, so the wall time is {:.2} × that bound. Critical path: {}. ccache: {}.\n\n",
                build.jobs,
                run.wall_seconds,
                run.cpu_seconds,
                self.setting.cores,
                run.cpu_seconds / cores,
                run.wall_seconds / (run.cpu_seconds / cores),
                build.critical_path.as_deref().unwrap_or("no step ran"),
                stats(run),
            ));
            out.push_str(&steps_table(&run.steps));
        }
        let clone = &c.fresh_clone;
        let setup = |s: &CloneSetup| {
            format!(
                "{:.0} s in all: `git clone` {:.1} s, compiling its xtask {:.0} s, localbuild {:.0} s ({:.0} CPU-s)",
                s.total_seconds(),
                s.clone_seconds,
                s.xtask_seconds,
                s.localbuild.wall_seconds,
                s.localbuild.cpu_seconds
            )
        };
        let localtests = match &clone.localtests {
            Ok(seconds) => format!("passed ({seconds:.0} s)"),
            Err(why) => format!("**failed**: {why}"),
        };
        out.push_str(&format!(
            "\nThen `rm -rf` of the build tree and the prefix, and localbuild again with the caches warm: {:.0} s wall, {:.0} CPU-s; ccache: {}.\n\n",
            c.warm.wall_seconds,
            c.warm.cpu_seconds,
            stats(&c.warm),
        ));
        out.push_str(&steps_table(&c.warm.steps));
        out.push_str(&format!(
            "\nThen a no-op localbuild: {:.2} s.\n\nThen a fresh clone of HEAD in another directory, set up with those caches: {}. A second fresh clone, its xtask compiled with the cargo target directory the first left (shared as the step cache is): {}. On the second clone, `cargo xtask localbuild --test-variants` (the variants localtests boots) and then `cargo xtask localtests --require qemu`: {localtests}.\n",
            c.noop_seconds,
            setup(&clone.first),
            setup(&clone.second),
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

    fn devices_markdown(&self) -> String {
        self.cost_markdown(
            "\n## What the devices cost\n\nThe OCaml hello on each bundle and on its `nodevices` variant (the same bundle without the network and block APIs and virtio drivers); boots as above.\n\n| bundle | image with devices | without | size | boot ms with | without |\n|---|---|---|---|---|---|\n",
            |image| &image.without_devices,
        )
    }

    fn root_markdown(&self) -> String {
        self.cost_markdown(
            "\n## What the root filesystem costs\n\nThe OCaml hello on each bundle and on its `noroot` variant (the same bundle without the in-memory root filesystem at `/` and `/tmp` and without devfs at `/dev`, as bundles were before they had them); boots as above.\n\n| bundle | image with the root | without | size | boot ms with | without |\n|---|---|---|---|---|---|\n",
            |image| &image.without_root,
        )
    }

    /// A table of what the part a variant leaves out costs, under `head`.
    fn cost_markdown(&self, head: &str, without: fn(&Image) -> &Result<Lean, String>) -> String {
        let mut out = String::from(head);
        for image in &self.images {
            let row = match without(image) {
                Err(why) => format!("{} | - | - | - | not measured: {why}", image.ocaml_bytes),
                Ok(lean) => {
                    let boots = match (&image.boots, &lean.boot_ms) {
                        (Ok(with), Ok(without)) => format!("{:.0} | {without:.0}", with.ocaml_ms),
                        (Err(why), _) | (_, Err(why)) => format!("- | not measured: {why}"),
                    };
                    format!(
                        "{} | {} | {:+.1} % | {boots}",
                        image.ocaml_bytes,
                        lean.ocaml_bytes,
                        (image.ocaml_bytes as f64 / lean.ocaml_bytes as f64 - 1.0) * 100.0
                    )
                }
            };
            out.push_str(&format!("| {} | {row} |\n", image.bundle));
        }
        out
    }

    fn console_markdown(&self) -> String {
        let console = &self.console;
        let mut out = format!(
            "\n## Console throughput\n\n`{}` prints {} MB in 100-byte lines with `print_string`; the rate (MB/s, 10^6 bytes) is counted from the first byte to the last that the runner writes to a pipe, with each console device (`--console serial`: the UART; `--console virtio`: virtio-console). As a Linux program, into a pipe: {:.1} MB/s. The runner alone, with a stand-in QEMU writing 1 GB as fast as it can: {:.0} MB/s, peak RSS {:.1} MiB.\n\n| bundle | console | MB/s | of the Linux rate |\n|---|---|---|---|\n",
            super::super::console::PROGRAM,
            super::super::console::BYTES / 1_000_000,
            console.native_mb_s,
            console.runner_mb_s,
            console.runner_peak_mib
        );
        for run in &console.guests {
            let figures = match &run.rate {
                Ok(rate) => format!("{rate:.2} | {:.4}", rate / console.native_mb_s),
                Err(why) => format!("- | not measured: {why}"),
            };
            out.push_str(&format!(
                "| {} | {} | {figures} |\n",
                run.bundle, run.console
            ));
        }
        out
    }

    fn website_markdown(&self) -> String {
        use super::super::website::{REQUESTS, WAYS};
        let mut out = format!(
            "\n## A MirageOS website: HTTP and HTTPS\n\nOur website example (`tests/mirage/unikernels/website`: one cohttp request handler behind plain HTTP and HTTPS with an RSA-2048 certificate, built by `cargo xtask mirage-tests`), booted on QEMU's software CPU with both ports forwarded; {REQUESTS} GETs of `/` one after another from the host, on one kept-alive connection, then with a new connection (for HTTPS a whole handshake) per request. Requests per second, and the median time of one.\n\n| bundle | protocol | connection | requests/s | median ms | of HTTP's rate |\n|---|---|---|---|---|---|\n"
        );
        for run in &self.website {
            match &run.rates {
                Ok(rates) => {
                    for (n, ((protocol, connection), rate)) in WAYS.iter().zip(rates).enumerate() {
                        // Rates come in HTTP, HTTPS pairs.
                        let http = &rates[n - n % 2];
                        out.push_str(&format!(
                            "| {} | {protocol} | {connection} | {:.1} | {:.1} | {:.2} |\n",
                            run.bundle,
                            rate.requests_per_second,
                            rate.median_ms,
                            rate.requests_per_second / http.requests_per_second
                        ));
                    }
                }
                Err(why) => out.push_str(&format!(
                    "| {} | - | - | - | - | not measured: {} |\n",
                    run.bundle,
                    why.replace('\n', " ")
                )),
            }
        }
        out
    }

    fn memory_markdown(&self) -> String {
        let memory = &self.memory;
        let programs = super::super::memory::PROGRAMS;
        let mut out = String::from(
            "\n## Guest memory\n\nThe smallest `--memory` (MiB, by bisection) at which a guest runs to exit status 0, for the OCaml hello and for each program below; a program's overhead is the guest it needs beyond its peak RSS as a Linux program.\n\n| program | native peak RSS MiB |\n|---|---|\n",
        );
        for (program, rss) in programs.iter().zip(&memory.native_rss_mib) {
            out.push_str(&format!("| `{program}` | {rss:.1} |\n"));
        }
        out.push_str("\n| bundle | hello |");
        for program in programs {
            let name = program.rsplit('/').next().unwrap_or(program);
            out.push_str(&format!(" {name} | overhead MiB |"));
        }
        out.push_str(&format!(
            "\n|---|---|{}\n",
            "---|---|".repeat(programs.len())
        ));
        for (bundle, guest) in &memory.guests {
            let figures = match guest {
                Ok(g) => {
                    let mut cells = g.hello_mib.to_string();
                    for (mib, overhead) in g.programs_mib.iter().zip(memory.overheads_mib(g)) {
                        cells.push_str(&format!(" | {mib} | {overhead:.1}"));
                    }
                    cells
                }
                Err(why) => format!(
                    "-{} | not measured: {why}",
                    " | -".repeat(2 * programs.len() - 1)
                ),
            };
            out.push_str(&format!("| {bundle} | {figures} |\n"));
        }
        out
    }

    pub(crate) fn json(&self) -> Value {
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
            "cold": match &self.cold {
                Ok(c) => cold_json(c),
                Err(why) => json!({ "not_measured": why }),
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
            "console": {
                "program": super::super::console::PROGRAM,
                "bytes": super::super::console::BYTES,
                "native_mb_s": self.console.native_mb_s,
                "runner_alone": { "bytes": super::super::console::FLOOD_BYTES, "mb_s": self.console.runner_mb_s, "peak_rss_mib": self.console.runner_peak_mib },
                "guests": self.console.guests.iter().map(|run| match &run.rate {
                    Ok(rate) => json!({ "bundle": run.bundle, "console": run.console, "mb_s": rate }),
                    Err(why) => json!({ "bundle": run.bundle, "console": run.console, "not_measured": why }),
                }).collect::<Vec<_>>(),
            },
            "website": self.website.iter().map(|run| match &run.rates {
                Ok(rates) => json!({
                    "bundle": run.bundle,
                    "requests": super::super::website::REQUESTS,
                    "ways": super::super::website::WAYS.iter().zip(rates).map(|((protocol, connection), rate)| json!({
                        "protocol": protocol,
                        "connection": connection,
                        "requests_per_second": rate.requests_per_second,
                        "median_ms": rate.median_ms,
                    })).collect::<Vec<_>>(),
                }),
                Err(why) => json!({ "bundle": run.bundle, "not_measured": why }),
            }).collect::<Vec<_>>(),
            "network": super::super::network::json(&self.network),
            "memory": {
                "programs": super::super::memory::PROGRAMS.iter().zip(&self.memory.native_rss_mib).map(|(program, rss)| json!({ "program": program, "native_peak_rss_mib": rss })).collect::<Vec<_>>(),
                "guests": self.memory.guests.iter().map(|(bundle, guest)| match guest {
                    Ok(g) => json!({
                        "bundle": bundle,
                        "hello_mib": g.hello_mib,
                        "programs_mib": g.programs_mib,
                        "overheads_mib": self.memory.overheads_mib(g).collect::<Vec<_>>(),
                    }),
                    Err(why) => json!({ "bundle": bundle, "not_measured": why }),
                }).collect::<Vec<_>>(),
            },
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

/// Each step's wall and CPU seconds, a row each.
fn steps_table<'a>(timings: impl IntoIterator<Item = &'a Timing>) -> String {
    let mut out = String::from("| step | wall s | CPU s |\n|---|---|---|\n");
    for timing in timings {
        let restored = if timing.restored { " (restored)" } else { "" };
        out.push_str(&format!(
            "| {}{restored} | {:.1} | {} |\n",
            timing.step,
            timing.wall_seconds,
            timing.cpu_seconds.map_or("-".into(), |c| format!("{c:.1}"))
        ));
    }
    out
}

fn cold_json(cold: &Cold) -> Value {
    let run = |run: &ColdRun| {
        json!({
            "wall_seconds": run.wall_seconds,
            "cpu_seconds": run.cpu_seconds,
            "steps": run.steps,
            "ccache": run.ccache.as_ref().map(|s| json!({
                "direct_hits": s.direct_hits,
                "preprocessed_hits": s.preprocessed_hits,
                "misses": s.misses,
            })),
        })
    };
    let setup = |s: &CloneSetup| {
        json!({
            "total_seconds": s.total_seconds(),
            "clone_seconds": s.clone_seconds,
            "xtask_seconds": s.xtask_seconds,
            "localbuild": run(&s.localbuild),
        })
    };
    json!({
        "cold": cold.cold.iter().map(|build| json!({
            "jobs": build.jobs,
            "run": run(&build.run),
            "critical_path": build.critical_path,
        })).collect::<Vec<_>>(),
        "rm_rf_then_warm_caches": run(&cold.warm),
        "noop_seconds": cold.noop_seconds,
        "fresh_clone": {
            "first": setup(&cold.fresh_clone.first),
            "second_shared_cargo_target": setup(&cold.fresh_clone.second),
            "localtests_seconds": cold.fresh_clone.localtests.as_ref().ok(),
            "localtests_failure": cold.fresh_clone.localtests.as_ref().err(),
        },
    })
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
        "without_devices": lean_json(&image.without_devices),
        "without_root": lean_json(&image.without_root),
    })
}

fn lean_json(lean: &Result<Lean, String>) -> Value {
    match lean {
        Ok(lean) => json!({
            "ocaml_bytes": lean.ocaml_bytes,
            "ocaml_boot_ms": lean.boot_ms.as_ref().ok(),
            "boot_not_measured": lean.boot_ms.as_ref().err(),
        }),
        Err(why) => json!({ "not_measured": why }),
    }
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
    use super::super::fixtures::{image, report, COLD_J2};
    use super::super::last_of_each_step;
    use super::*;
    use crate::util::step::parse_timings;

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
        let goal = &json["goals"][7];
        assert_eq!(goal["goal"], "> 0.85");
        assert_eq!(goal["met"], false);
        assert!((goal["value"].as_f64().unwrap() - 0.4777).abs() < 0.0001);
        assert_eq!(
            json["images"][0]["boot_not_measured"],
            "firecracker is not installed"
        );
        assert_eq!(json["goals"][3]["met"], Value::Null);
        assert!(markdown.contains("| qemu-x86_64 | 6 | 29 | 2.5 | 262 | 4.0 |"));
        assert!(markdown.contains("| qemu-x86_64 | serial | 0.90 | 0.0020 |"));
        assert!(markdown.contains("| qemu-x86_64 | virtio | 25.00 | 0.0556 |"));
        assert!(markdown.contains(
            "| qemu-arm64 | virtio | - | not measured: qemu-system-aarch64 is not installed |"
        ));
        assert_eq!(json["console"]["guests"][0]["mb_s"], 0.9);
        assert!(markdown.contains(
            "| firecracker-x86_64 | 1690 | - | - | - | not measured: no nodevices bundle |"
        ));
        assert!(markdown.contains(
            "| firecracker-x86_64 | - | - | - | - | not measured: firecracker is not installed |"
        ));
        assert!(markdown.contains(
            "| guest memory beyond a program's native peak RSS (largest) | 4.00 MiB | < 16 MiB | yes |"
        ));
        assert_eq!(json["memory"]["guests"][0]["overheads_mib"][1], 4.0);
        assert_eq!(json["goals"][6]["met"], true);
        assert_eq!(json["goals"][5]["met"], true);
        assert_eq!(
            json["goals"][4]["met"], true,
            "the virtio console's 25 MB/s"
        );
        assert!(markdown
            .contains("stand-in QEMU writing 1 GB as fast as it can: 310 MB/s, peak RSS 4.2 MiB"));
        assert!(markdown.contains("| qemu-x86_64 | HTTPS | one connection | 200.0 | 4.8 | 0.50 |"));
        assert!(markdown
            .contains("| qemu-x86_64 | HTTPS | a connection per request | 10.0 | 99.0 | 0.10 |"));
        assert!(markdown.contains(
            "| qemu-arm64 | - | - | - | - | not measured: no dist/website.qemu: `cargo xtask mirage-tests` builds it |"
        ));
        assert_eq!(json["website"][0]["ways"][3]["median_ms"], 99.0);
        assert_eq!(
            json["website"][0]["ways"][2]["connection"],
            "a connection per request"
        );
    }

    #[test]
    fn the_cold_section_judges_the_cold_warm_and_fresh_clone_builds() {
        use super::super::{CloneSetup, ColdBuild, FreshClone};
        let step = |name: &str, wall, cpu| Timing {
            step: name.into(),
            wall_seconds: wall,
            cpu_seconds: Some(cpu),
            finished_unix: 1000.0,
            run: None,
            restored: false,
        };
        let stats = |hits, misses| crate::build::ccache::Stats {
            direct_hits: hits,
            misses,
            ..Default::default()
        };
        let run = |wall, cpu, steps| ColdRun {
            wall_seconds: wall,
            cpu_seconds: cpu,
            steps,
            ccache: Some(stats(600, 1400)),
        };
        let mut report = report(std::collections::BTreeMap::new(), Vec::new());
        let missing = report.markdown();
        assert!(missing
            .contains("## Cold build\n\nNot measured: `cargo xtask bench --cold` measures it."));
        assert!(missing.contains("| cold localbuild -j8, every cache empty (wall) | not measured: `cargo xtask bench --cold` measures it | < 600 s | - |"));
        let setup = |xtask, localbuild| CloneSetup {
            clone_seconds: 1.0,
            xtask_seconds: xtask,
            localbuild: run(localbuild, 50.0, Vec::new()),
        };
        report.cold = Ok(Cold {
            cold: vec![
                ColdBuild {
                    jobs: 8,
                    run: run(630.0, 1150.0, Vec::new()),
                    critical_path: None,
                },
                ColdBuild {
                    jobs: 2,
                    run: run(
                        600.0,
                        1000.0,
                        vec![
                            step("host-ocaml", 300.0, 290.0),
                            step("ocaml-x86_64", 250.0, 240.0),
                        ],
                    ),
                    critical_path: Some("host-ocaml 300 s -> ocaml-x86_64 250 s".into()),
                },
            ],
            warm: run(
                100.0,
                80.0,
                vec![Timing {
                    restored: true,
                    cpu_seconds: None,
                    ..step("host-ocaml", 9.0, 0.0)
                }],
            ),
            noop_seconds: 0.2,
            fresh_clone: FreshClone {
                first: setup(150.0, 40.0),
                second: setup(30.0, 40.0),
                localtests: Err("1 failure".into()),
            },
        });
        let (markdown, json) = (report.markdown(), report.json());
        assert!(markdown.contains("`cargo xtask localbuild -j2` from an empty build tree, prefix, ccache and step cache (a scratch directory beside the user's): 600 s wall, 1000 CPU-s for the whole process tree; on 2 cores the CPU alone needs 500 s, so the wall time is 1.20 × that bound. Critical path: host-ocaml 300 s -> ocaml-x86_64 250 s."), "{markdown}");
        assert!(markdown.contains("| host-ocaml | 300.0 | 290.0 |"));
        assert!(markdown.contains("with the caches warm: 100 s wall, 80 CPU-s"));
        assert!(
            markdown.contains("| host-ocaml (restored) | 9.0 | - |"),
            "the warm run's steps"
        );
        assert!(markdown.contains("compiling its xtask 150 s"), "{markdown}");
        assert!(markdown
            .contains("and then `cargo xtask localtests --require qemu`: **failed**: 1 failure."));
        for line in [
            "| cold localbuild -j8, every cache empty (wall) | 630.00 s | < 600 s | **no** |",
            "| cold localbuild -j8, every cache empty (CPU) | 1150.00 CPU-s | < 1100 CPU-s | **no** |",
            "| cold localbuild -j2, every cache empty (wall) | 600.00 s | < 600 s | **no** |",
            "| cold localbuild -j2, every cache empty (CPU) | 1000.00 CPU-s | < 1100 CPU-s | yes |",
            "| cold localbuild, -j8 wall / -j2 wall | 1.05 × | < 1.05 × | **no** |",
            "then localbuild with the caches warm | 100.00 s | < 120 s | yes |",
            "git clone + xtask build + localbuild | 71.00 s | < 90 s | yes |",
        ] {
            assert!(markdown.contains(line), "{line}\n{markdown}");
        }
        assert_eq!(
            json["cold"]["cold"][1]["run"]["steps"][1]["step"],
            "ocaml-x86_64"
        );
        assert_eq!(
            json["cold"]["fresh_clone"]["second_shared_cargo_target"]["total_seconds"],
            71.0
        );
        assert_eq!(
            json["cold"]["fresh_clone"]["localtests_failure"],
            "1 failure"
        );
    }

    #[test]
    fn the_costs_compare_a_bundle_with_its_nodevices_and_noroot_variants() {
        let mut booted = image(
            "qemu-arm64",
            1000,
            2019,
            Ok(Boots {
                c_ms: 100.0,
                ocaml_ms: 126.0,
            }),
        );
        booted.without_devices = Ok(Lean {
            ocaml_bytes: 1900,
            boot_ms: Ok(112.0),
        });
        booted.without_root = Ok(Lean {
            ocaml_bytes: 2000,
            boot_ms: Ok(125.0),
        });
        let markdown = report(std::collections::BTreeMap::new(), vec![booted]).markdown();
        assert!(
            markdown.contains("| qemu-arm64 | 2019 | 1900 | +6.3 % | 126 | 112 |"),
            "{markdown}"
        );
        let root = &markdown[markdown.find("## What the root filesystem costs").unwrap()..];
        assert!(
            root.contains("| qemu-arm64 | 2019 | 2000 | +1.0 % | 126 | 125 |"),
            "{markdown}"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_860_136), "2026-11-28 10:02:16 UTC");
    }
}
