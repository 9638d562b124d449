//! `cargo xtask bench`: the numbers by which a toolchain is chosen, measured
//! the same way every time and written to `bench/report.md` and
//! `bench/report.json` with the machine they were measured on.
//!
//! Build times come from the timings every step records (the last time
//! each step ran, so a cold build must have happened); the no-op time, the
//! driver overhead, image sizes and boot times are measured now. Where the
//! machine is noisy, figures are medians and are compared as ratios
//! against a baseline measured in the same run, interleaved with it.

use crate::backends::{Arch, Backend};
use crate::cli::BenchOpts;
use crate::cmd::Cmd;
use crate::context::Context;
use crate::{findlib, host, ocaml, progress, vmm};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One figure next to its goal.
struct Goal {
    what: String,
    value: f64,
    limit: f64,
    unit: &'static str,
    /// True when smaller is better.
    below: bool,
}

impl Goal {
    fn met(&self) -> bool {
        if self.below {
            self.value < self.limit
        } else {
            self.value > self.limit
        }
    }
}

pub fn bench(ctx: &Context, opts: &BenchOpts) -> Result<()> {
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    let driver = prefix.join("bin/x86_64-unikraft-ocaml-cc");
    if !driver.exists() {
        bail!(
            "nothing is installed in {}\nhelp: run `cargo xtask localbuild` first",
            prefix.display()
        );
    }
    let work = tempfile::tempdir().context("creating a scratch directory")?;
    let mut report = Report::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    report.machine = json!({ "cores": cores, "cpu": cpu_model(), "kernel": kernel() });

    progress::say("bench", "build times (from the recorded timings)");
    let efficiency = build_times(ctx, &mut report, cores)?;
    progress::say("bench", "no-op localbuild");
    let noop = noop_seconds(ctx, &prefix)?;
    report.add("build", json!({ "noop_localbuild_seconds": noop }));

    progress::say(
        "bench",
        &format!("driver overhead ({} calls each)", opts.driver_runs),
    );
    let driver_ms = driver_overhead(&driver, work.path(), opts.driver_runs, &mut report)?;

    progress::say("bench", "image sizes and boot times");
    let (size_ratio, boot_ratio) =
        images_and_boots(ctx, &prefix, work.path(), opts.boot_runs, &mut report)?;

    let mut goals = vec![
        Goal {
            what: "no-op localbuild".into(),
            value: noop,
            limit: 2.0,
            unit: "s",
            below: true,
        },
        Goal {
            what: "driver added time per compile".into(),
            value: driver_ms,
            limit: 3.0,
            unit: "ms",
            below: true,
        },
    ];
    if let Some(ratio) = size_ratio {
        goals.push(Goal {
            what: "OCaml hello image / C hello image (largest)".into(),
            value: ratio,
            limit: 2.0,
            unit: "×",
            below: true,
        });
    }
    if let Some(ratio) = boot_ratio {
        goals.push(Goal {
            what: "OCaml / C boot to first line (slowest)".into(),
            value: ratio,
            limit: 1.5,
            unit: "×",
            below: true,
        });
    }
    if let Some(e) = efficiency {
        goals.push(Goal {
            what: "bundle stage parallel efficiency".into(),
            value: e,
            limit: 0.85,
            unit: "",
            below: false,
        });
    }
    report.goals = goals
        .iter()
        .map(|g| json!({ "what": g.what, "value": g.value, "goal": format!("{} {} {}", if g.below { "<" } else { ">" }, g.limit, g.unit), "met": g.met() }))
        .collect();

    let dir = ctx.root.join("bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report.json())? + "\n",
    )?;
    std::fs::write(dir.join("report.md"), report.markdown(&goals))?;
    progress::say(
        "bench",
        &format!("wrote {}", dir.join("report.md").display()),
    );
    print!("{}", report.markdown(&goals));
    Ok(())
}

#[derive(Default)]
struct Report {
    machine: Value,
    sections: BTreeMap<&'static str, Vec<Value>>,
    goals: Vec<Value>,
    markdown: Vec<String>,
}

impl Report {
    fn add(&mut self, section: &'static str, value: Value) {
        self.sections.entry(section).or_default().push(value);
    }

    fn text(&mut self, line: String) {
        self.markdown.push(line);
    }

    fn json(&self) -> Value {
        json!({ "machine": self.machine, "sections": self.sections, "goals": self.goals })
    }

    fn markdown(&self, goals: &[Goal]) -> String {
        let mut out = String::from("# ocaml-unikraft benchmark\n\n");
        out.push_str(&format!(
            "Machine: {} cores, {}, Linux {}.\n\n",
            self.machine["cores"],
            self.machine["cpu"].as_str().unwrap_or("?"),
            self.machine["kernel"].as_str().unwrap_or("?")
        ));
        for line in &self.markdown {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("\n## Goals\n\n| figure | value | goal | met |\n|---|---|---|---|\n");
        for g in goals {
            out.push_str(&format!(
                "| {} | {:.2} {} | {} {} {} | {} |\n",
                g.what,
                g.value,
                g.unit,
                if g.below { "<" } else { ">" },
                g.limit,
                g.unit,
                if g.met() { "yes" } else { "**no**" }
            ));
        }
        out
    }
}

/// The last recorded run of every step; returns the bundle stage's
/// parallel efficiency when its bundles were built in one run.
fn build_times(ctx: &Context, report: &mut Report, cores: usize) -> Result<Option<f64>> {
    let path = ctx.log_dir().join("timings.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}\nhelp: run `cargo xtask localbuild` from a clean build tree first",
            path.display()
        )
    })?;
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for line in text.lines() {
        let record: Value =
            serde_json::from_str(line).with_context(|| format!("parsing {}", path.display()))?;
        if let Some(step) = record["step"].as_str() {
            last.insert(step.to_owned(), record);
        }
    }
    report.text("## Build (last run of each step)\n".into());
    report.text("| step | wall s | CPU s |\n|---|---|---|".into());
    for (step, record) in &last {
        let (wall, cpu) = (
            record["wall_seconds"].as_f64().unwrap_or(0.0),
            record["cpu_seconds"].as_f64(),
        );
        report.text(format!(
            "| {step} | {wall:.1} | {} |",
            cpu.map_or("-".into(), |c| format!("{c:.1}"))
        ));
        report.add("build", record.clone());
    }
    // The bundle stage runs from the first bundle's start to the last one's end.
    let bundles: Vec<&Value> = last
        .iter()
        .filter(|(s, _)| s.starts_with("bundle "))
        .map(|(_, r)| r)
        .collect();
    let span = |r: &Value| {
        let end = r["finished_unix"].as_f64().unwrap_or(0.0);
        (end - r["wall_seconds"].as_f64().unwrap_or(0.0), end)
    };
    let start = bundles
        .iter()
        .map(|r| span(r).0)
        .fold(f64::INFINITY, f64::min);
    let end = bundles.iter().map(|r| span(r).1).fold(0.0, f64::max);
    let sum_wall: f64 = bundles
        .iter()
        .map(|r| r["wall_seconds"].as_f64().unwrap_or(0.0))
        .sum();
    let cpu: f64 = bundles
        .iter()
        .filter_map(|r| r["cpu_seconds"].as_f64())
        .sum();
    let stage_wall = end - start;
    // Bundles built in separate runs have no common stage to judge.
    if bundles.is_empty() || cpu == 0.0 || stage_wall > sum_wall + 1.0 {
        report.text("\nBundle stage efficiency: not available (bundles not built in one run with CPU accounting).\n".into());
        return Ok(None);
    }
    // Other steps (the host OCaml) share the job budget while bundles
    // build: count the CPU they spent inside the stage's span, spread
    // evenly over their own run, so the figure is how busy the machine was.
    let others: f64 = last
        .iter()
        .filter(|(s, _)| !s.starts_with("bundle "))
        .map(|(_, r)| {
            let (from, to) = span(r);
            let overlap = (to.min(end) - from.max(start)).max(0.0);
            let wall = r["wall_seconds"].as_f64().unwrap_or(0.0);
            let cpu = r["cpu_seconds"].as_f64().unwrap_or(0.0);
            if wall > 0.0 {
                cpu * overlap / wall
            } else {
                0.0
            }
        })
        .sum();
    let own = cpu / (stage_wall * cores as f64);
    let efficiency = (cpu + others) / (stage_wall * cores as f64);
    report.text(format!(
        "\nBundle stage: {} bundles, {stage_wall:.0} s wall (sum of their walls {sum_wall:.0} s), {cpu:.0} s CPU of their own and {others:.0} s of steps running beside them. Efficiency CPU ÷ (wall × {cores} cores) = {efficiency:.2} ({own:.2} counting the bundles alone).\n",
        bundles.len()
    ));
    report.add(
        "build",
        json!({ "bundle_stage_wall_seconds": stage_wall, "bundle_stage_cpu_seconds": cpu, "concurrent_cpu_seconds": others, "bundle_stage_efficiency": efficiency, "bundles_alone_efficiency": own }),
    );
    Ok(Some(efficiency))
}

/// Wall time of `cargo xtask localbuild` when nothing changed (the same
/// binary, run as the user would run it).
fn noop_seconds(ctx: &Context, prefix: &Path) -> Result<f64> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let start = Instant::now();
    let status = Command::new(exe)
        .arg("--build-dir")
        .arg(&ctx.build_dir)
        .arg("localbuild")
        .arg("--prefix")
        .arg(prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        bail!("the no-op localbuild failed ({status})\nhelp: run `cargo xtask localbuild` and fix it first");
    }
    Ok(seconds)
}

/// Median added milliseconds of a compile-only call through the driver over
/// running its compiler directly with the same arguments (taken from the
/// driver's own `__V=1` echo). Calls alternate so drift hits both alike.
fn driver_overhead(driver: &Path, work: &Path, runs: usize, report: &mut Report) -> Result<f64> {
    let source = work.join("unit.c");
    std::fs::write(&source, "int add_one(int x) { return x + 1; }\n")?;
    let object = work.join("unit.o");
    let echo = Command::new(driver)
        .args(["-O2", "-c", "-o"])
        .arg(&object)
        .arg(&source)
        .env("__V", "1")
        .output()
        .context("running the driver")?;
    let echoed = String::from_utf8_lossy(&echo.stderr);
    let direct = shlex::split(echoed.lines().next().unwrap_or_default())
        .context("parsing the driver's __V=1 echo")?;
    if !echo.status.success() || direct.is_empty() {
        bail!("the driver failed to compile a test file:\n{echoed}");
    }
    let time = |program: &Path, args: &[String]| -> Result<f64> {
        let start = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("{} failed", program.display());
        }
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    };
    let through: Vec<String> = ["-O2", "-c", "-o"]
        .iter()
        .map(|s| s.to_string())
        .chain([object.display().to_string(), source.display().to_string()])
        .collect();
    let (mut with_driver, mut without) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        with_driver.push(time(driver, &through)?);
        without.push(time(Path::new(&direct[0]), &direct[1..])?);
    }
    let (d, g) = (median(&mut with_driver), median(&mut without));
    report.text(format!(
        "\n## Driver\n\nCompile-only call of a one-line C file, median of {runs} runs each, interleaved: through the driver {d:.2} ms, the same compiler command directly {g:.2} ms: {:.2} ms added, ratio {:.3}.\n",
        d - g,
        d / g
    ));
    report.add(
        "driver",
        json!({ "runs": runs, "driver_ms": d, "direct_ms": g, "added_ms": d - g, "ratio": d / g }),
    );
    Ok(d - g)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// For every installed bundle: sizes of the OCaml and C hello images; on
/// QEMU, median time to the first console line of each. Returns the
/// largest size ratio and the largest boot ratio.
fn images_and_boots(
    ctx: &Context,
    prefix: &Path,
    work: &Path,
    runs: usize,
    report: &mut Report,
) -> Result<(Option<f64>, Option<f64>)> {
    let path = host::user_path(ctx, prefix);
    let (mut worst_size, mut worst_boot): (Option<f64>, Option<f64>) = (None, None);
    report.text("\n## Images and boots\n".into());
    report.text(format!("Boot: time from starting the VMM to the first console byte, median of {runs}, QEMU software CPU.\n"));
    report.text("| bundle | C image | OCaml image | size ratio | C boot ms | OCaml boot ms | boot ratio |\n|---|---|---|---|---|---|---|".into());
    for bundle in crate::install::installed_bundles(prefix) {
        let (backend, arch) = (bundle.backend, bundle.arch);
        if !ocaml::compiler_prefix(prefix, arch)
            .join("bin/ocamlopt")
            .exists()
        {
            continue;
        }
        let name = bundle.name();
        let dir = work.join(&name);
        std::fs::create_dir_all(&dir)?;
        let select = format!("unikraft-backend={}", backend.name());
        let c_image = dir.join("c-hello");
        crate::localtests::link_c_hello(ctx, prefix, &bundle, &c_image)?;
        std::fs::copy(
            ctx.root.join("examples/simple/hello.ml"),
            dir.join("hello.ml"),
        )?;
        let ml_image = dir.join("ocaml-hello");
        Cmd::new("ocamlfind")
            .args([
                "-toolchain",
                &ocaml::toolchain_name(arch),
                "ocamlopt",
                "hello.ml",
                "-o",
            ])
            .arg(&ml_image)
            .args(["-cclib", &format!("-z {select}")])
            .dir(&dir)
            .env("PATH", &path)
            .env("OCAMLFIND_CONF", findlib::main_conf(prefix))
            .read(false)
            .with_context(|| format!("linking the OCaml hello for {name}"))?;
        let (c_size, ml_size) = (
            std::fs::metadata(&c_image)?.len(),
            std::fs::metadata(&ml_image)?.len(),
        );
        let size_ratio = ml_size as f64 / c_size as f64;
        worst_size = Some(worst_size.map_or(size_ratio, |w| w.max(size_ratio)));
        let boots = if vmm::unavailable(backend, arch).is_none() {
            let (c, ml) = (
                boot_median(arch, &c_image, runs)?,
                boot_median(arch, &ml_image, runs)?,
            );
            worst_boot = Some(worst_boot.map_or(ml / c, |w| w.max(ml / c)));
            Some((c, ml))
        } else {
            None
        };
        report.text(format!(
            "| {name} | {c_size} | {ml_size} | {size_ratio:.2} | {} |",
            match boots {
                Some((c, ml)) => format!("{c:.0} | {ml:.0} | {:.2}", ml / c),
                None => format!(
                    "- | - | - ({})",
                    vmm::unavailable(backend, arch).unwrap_or_default()
                ),
            }
        ));
        report.add("images", json!({ "bundle": name, "c_bytes": c_size, "ocaml_bytes": ml_size, "size_ratio": size_ratio, "c_boot_ms": boots.map(|b| b.0), "ocaml_boot_ms": boots.map(|b| b.1) }));
    }
    Ok((worst_size, worst_boot))
}

/// Median milliseconds to the first console byte over `runs` boots.
fn boot_median(arch: Arch, image: &Path, runs: usize) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let launch = vmm::Launch {
            backend: Backend::Qemu,
            arch,
            image,
            args: &[],
        };
        let boot = vmm::boot(&launch, Duration::from_secs(60), false)?;
        let first = boot
            .first_output
            .with_context(|| format!("{} printed nothing", image.display()))?;
        times.push(first.as_secs_f64() * 1000.0);
    }
    Ok(median(&mut times))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |s| s.trim().to_owned())
}
