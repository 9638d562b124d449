//! `cargo xtask bench`: the numbers by which a toolchain is chosen, measured
//! the same way every time and written to `bench/report.md` and
//! `bench/report.json` with the commit, the machine and the date they were
//! measured on.
//!
//! Build times come from the timings every step records (the last time
//! each step ran, so a cold build must have happened), with the `-j` of the
//! build that recorded them; the no-op time, the driver overhead, image
//! sizes and boot times are measured now. Where the machine is noisy,
//! figures are medians and are compared as ratios against a baseline
//! measured in the same run, interleaved with it. An image boots only on
//! its own bundle's VMM; where that cannot run here, its boot is reported
//! as not measured. The arithmetic is in [`report`].

mod cold;
mod console;
mod memory;
mod network;
mod report;
mod website;

use crate::build::{findlib, host, ocaml};
use crate::check::{boots, smoke};
use crate::cli::BenchOpts;
use crate::context::Context;
use crate::target::{Backend, BuildOption, Bundle};
use crate::util::cmd::Cmd;
use crate::util::probe::{self, cmd};
use crate::util::progress;
use crate::util::step::Timing;
use anyhow::{bail, Context as _, Result};
use ocaml_unikraft_toolchain::boot::vmm;
use report::{median, Boots, Console, Driver, Image, Lean, Memory, Report, Setting};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) fn bench(ctx: &Context, opts: &BenchOpts) -> Result<()> {
    if opts.driver_runs == 0 || opts.boot_runs == 0 {
        bail!("bench: --driver-runs and --boot-runs must be at least 1");
    }
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    let driver = prefix.join("bin/x86_64-unikraft-ocaml-cc");
    if !driver.exists() {
        bail!(
            "nothing is installed in {}\nhelp: run `cargo xtask localbuild` first",
            prefix.display()
        );
    }
    // Named before measuring: the report is about this tree.
    let setting = setting(ctx)?;
    let work = tempfile::tempdir().context("creating a scratch directory")?;

    // First: the cold builds load the machine, the measurements after
    // them want it quiet.
    let cold = if opts.cold {
        if opts.cold_jobs.contains(&0) {
            bail!("bench: --cold-jobs must be at least 1");
        }
        Ok(cold::measure(ctx, &opts.cold_jobs)?)
    } else {
        Err("`cargo xtask bench --cold` measures it (about 45 min on 2 cores)".into())
    };
    progress::say("bench", "build times (from the recorded timings)");
    let steps = recorded_steps(ctx)?;
    progress::say("bench", "no-op localbuild");
    let noop_seconds = noop_seconds(ctx, &prefix)?;
    progress::say(
        "bench",
        &format!("driver overhead ({} calls each)", opts.driver_runs),
    );
    let driver = driver_overhead(&driver, work.path(), opts.driver_runs)?;
    let targets = Targets::of(&prefix);
    progress::say("bench", "image sizes and boot times");
    let images = images_and_boots(ctx, &prefix, &targets, work.path(), opts.boot_runs)?;
    progress::say(
        "bench",
        &format!("console throughput ({} MB)", console::BYTES / 1_000_000),
    );
    let console = console_throughput(ctx, &prefix, &targets, work.path())?;
    progress::say("bench", "guest memory (bisection)");
    let memory = Memory {
        native_rss_mib: memory::PROGRAMS
            .iter()
            .map(|program| {
                let exe = build_native(ctx, &prefix, program, work.path())?;
                memory::native_peak_rss_mib(&exe)
            })
            .collect::<Result<_>>()?,
        guests: guest_memory(ctx, &prefix, &targets, work.path())?,
    };

    progress::say(
        "bench",
        &format!(
            "MirageOS website over HTTP and HTTPS ({} GETs each way)",
            website::REQUESTS
        ),
    );
    let runner = ocaml_unikraft_toolchain::layout::runner(&prefix);
    let website = website::measure(&runner, &ctx.build_dir.join("mirage"));
    progress::say(
        "bench",
        "MirageOS website through --forward and on a bridge (ApacheBench)",
    );
    let network = network::measure(&runner, &ctx.build_dir.join("mirage"));

    let report = Report {
        setting,
        steps,
        noop_seconds,
        cold,
        driver,
        boot_runs: opts.boot_runs,
        images,
        console,
        memory,
        website,
        network,
    };
    write_report(ctx, &report)
}

fn write_report(ctx: &Context, report: &Report) -> Result<()> {
    let dir = ctx.root.join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (json, markdown) = (dir.join("report.json"), dir.join("report.md"));
    std::fs::write(&json, serde_json::to_string_pretty(&report.json())? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    let text = report.markdown();
    std::fs::write(&markdown, &text).with_context(|| format!("writing {}", markdown.display()))?;
    progress::say("bench", &format!("wrote {}", markdown.display()));
    print!("{text}");
    Ok(())
}

/// The commit, the time and the machine.
fn setting(ctx: &Context) -> Result<Setting> {
    Ok(Setting {
        commit: commit(&ctx.root)?,
        measured_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        cpu: cpu_model(),
        kernel: kernel(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}

/// `git rev-parse HEAD`, with `-dirty` when the tree differs from it,
/// untracked files included (a new file in `backends/app` is built in).
/// `bench/` is left out: it holds the reports this command rewrites.
fn commit(root: &Path) -> Result<String> {
    let sh = probe::shell()?;
    let git = |cmd| {
        probe::read(cmd).with_context(|| {
            format!(
                "reading the commit of {}\nhelp: the report names the commit it measured; run the bench in a git checkout",
                root.display()
            )
        })
    };
    let head = git(cmd!(sh, "git -C {root} rev-parse HEAD"))?;
    let changes = git(cmd!(
        sh,
        "git -C {root} status --porcelain -- . :(exclude)bench"
    ))?;
    let dirty = if changes.trim().is_empty() {
        ""
    } else {
        "-dirty"
    };
    Ok(format!("{}{dirty}", head.trim()))
}

/// The last recorded run of every step.
fn recorded_steps(ctx: &Context) -> Result<BTreeMap<String, Timing>> {
    let path = ctx.log_dir().join("timings.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {}\nhelp: run `cargo xtask localbuild` from a clean build tree first",
            path.display()
        )
    })?;
    let records = crate::util::step::parse_timings(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(report::last_of_each_step(records))
}

/// Wall time of `cargo xtask localbuild` when nothing changed (the same
/// binary, run as the user would run it): the median of three runs, the
/// first of which may read its files from disk after the builds before it
/// filled the page cache.
fn noop_seconds(ctx: &Context, prefix: &Path) -> Result<f64> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let status = Command::new(&exe)
            .arg("--build-dir")
            .arg(&ctx.build_dir)
            .arg("localbuild")
            .arg("--prefix")
            .arg(prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        runs.push(start.elapsed().as_secs_f64());
        if !status.success() {
            bail!("the no-op localbuild failed ({status})\nhelp: run `cargo xtask localbuild` and fix it first");
        }
    }
    Ok(median(&mut runs))
}

/// Median milliseconds of a compile-only call through the driver and of
/// its compiler run directly with the same arguments (taken from the
/// driver's own `__V=1` echo). Calls alternate so drift hits both alike.
fn driver_overhead(driver: &Path, work: &Path, runs: usize) -> Result<Driver> {
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
    Ok(Driver {
        runs,
        through_ms: median(&mut with_driver),
        direct_ms: median(&mut without),
    })
}

/// The bundles the bench measures: every installed plain bundle (not the
/// variants, which count only as the `nodevices` baseline) with a cross
/// compiler, and why their VMMs cannot boot here, found once for every
/// measurement.
struct Targets {
    installed: Vec<Bundle>,
    measured: Vec<Bundle>,
    blockers: HashMap<String, String>,
}

impl Targets {
    fn of(prefix: &Path) -> Targets {
        let installed = crate::build::install::installed_bundles(prefix);
        let measured: Vec<Bundle> = installed
            .iter()
            .filter(|b| b.options.is_empty())
            .filter(|b| ocaml_unikraft_toolchain::layout::has_compiler(prefix, b.arch))
            .cloned()
            .collect();
        let blockers = boots::blockers(prefix, &measured);
        Targets {
            installed,
            measured,
            blockers,
        }
    }
}

/// The OCaml hello's image in a bundle's scratch directory.
const OCAML_HELLO: &str = "ocaml-hello";

/// For every measured bundle: sizes of the OCaml and C hello images, and
/// their median boot times through the bundle's own VMM, where it can boot
/// here.
fn images_and_boots(
    ctx: &Context,
    prefix: &Path,
    targets: &Targets,
    work: &Path,
    runs: usize,
) -> Result<Vec<Image>> {
    let (installed, blockers) = (&targets.installed, &targets.blockers);
    let mut images = Vec::new();
    for bundle in &targets.measured {
        let dir = work.join(bundle.name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (c_image, ml_image) = (dir.join("c-hello"), dir.join(OCAML_HELLO));
        smoke::link_hello(ctx, prefix, bundle, &c_image)?;
        link_ocaml(ctx, prefix, bundle, "examples/simple/hello.ml", &ml_image)?;
        // The variants without devices and without the root, linked
        // where they are installed.
        let variant = |option| -> Result<Result<(Bundle, PathBuf), String>> {
            let lean = Bundle::new(bundle.backend, bundle.arch, &[option]);
            if !installed.contains(&lean) {
                return Ok(Err(format!(
                    "no {} bundle: `cargo xtask localbuild --backend {} --arch {} --option {}` builds it",
                    lean.name(),
                    bundle.backend.name(),
                    bundle.arch.unikraft(),
                    option.name()
                )));
            }
            let image = dir.join(format!("{OCAML_HELLO}-{}", option.name()));
            link_ocaml(ctx, prefix, &lean, "examples/simple/hello.ml", &image)?;
            Ok(Ok((lean, image)))
        };
        let variants = [
            variant(BuildOption::NoDevices)?,
            variant(BuildOption::NoRoot)?,
        ];
        // All of a bundle's images boot in turn, round after round, so that
        // the machine's drifts weigh on each alike.
        let medians = match blockers.get(&bundle.name()) {
            Some(why) => Err(why.clone()),
            None => {
                let mut launches = vec![
                    (bundle.clone(), c_image.clone()),
                    (bundle.clone(), ml_image.clone()),
                ];
                launches.extend(variants.iter().flatten().cloned());
                Ok(boot_medians(&launches, runs)?)
            }
        };
        let boots = medians.as_ref().map_err(Clone::clone).map(|ms| Boots {
            c_ms: ms[0],
            ocaml_ms: ms[1],
        });
        let mut variant_ms = medians.iter().flat_map(|ms| ms[2..].iter().copied());
        let mut lean =
            |variant: &Result<(Bundle, PathBuf), String>| -> Result<Result<Lean, String>> {
                let (_, image) = match variant {
                    Ok(linked) => linked,
                    Err(why) => return Ok(Err(why.clone())),
                };
                Ok(Ok(Lean {
                    ocaml_bytes: file_size(image)?,
                    boot_ms: match &medians {
                        Ok(_) => Ok(variant_ms.next().context("a boot median per image")?),
                        Err(why) => Err(why.clone()),
                    },
                }))
            };
        let without_devices = lean(&variants[0])?;
        let without_root = lean(&variants[1])?;
        images.push(Image {
            bundle: bundle.name(),
            c_bytes: file_size(&c_image)?,
            ocaml_bytes: file_size(&ml_image)?,
            boots,
            without_devices,
            without_root,
        });
    }
    Ok(images)
}

/// The console program's rate as a Linux program, and through the
/// installed runner on every measured QEMU bundle (why not, for those
/// that cannot boot here).
fn console_throughput(
    ctx: &Context,
    prefix: &Path,
    targets: &Targets,
    work: &Path,
) -> Result<Console> {
    let native = build_native(ctx, prefix, console::PROGRAM, work)?;
    let mut command = Command::new(&native);
    command.arg(console::LINES.to_string());
    let native_mb_s = console::rate(command)?;
    let runner = ocaml_unikraft_toolchain::layout::runner(prefix);
    let (runner_peak_mib, runner_mb_s) = console::runner_alone(&runner, work)?;
    let mut guests = Vec::new();
    for bundle in targets
        .measured
        .iter()
        .filter(|b| b.backend == Backend::Qemu)
    {
        let image = work.join(bundle.name()).join("console.exe");
        if !targets.blockers.contains_key(&bundle.name()) {
            link_ocaml(ctx, prefix, bundle, console::PROGRAM, &image)?;
        }
        for device in ["serial", "virtio"] {
            let rate = match targets.blockers.get(&bundle.name()) {
                Some(why) => Err(why.clone()),
                None => {
                    let mut command = Command::new(&runner);
                    command
                        .arg(&image)
                        .args(["--console", device, "--timeout", "600", "--"])
                        .arg(console::LINES.to_string());
                    Ok(console::rate(command).with_context(|| {
                        format!("console throughput on {} ({device})", bundle.name())
                    })?)
                }
            };
            guests.push(report::ConsoleRun {
                bundle: bundle.name(),
                console: device,
                rate,
            });
        }
    }
    Ok(Console {
        native_mb_s,
        runner_peak_mib,
        runner_mb_s,
        guests,
    })
}

/// For every measured bundle whose VMM can boot here: the smallest guests
/// that run the OCaml hello [`images_and_boots`] linked and each of
/// [`memory::PROGRAMS`]; why not, for the others.
fn guest_memory(
    ctx: &Context,
    prefix: &Path,
    targets: &Targets,
    work: &Path,
) -> Result<Vec<(String, Result<report::GuestMemory, String>)>> {
    let mut guests = Vec::new();
    for bundle in &targets.measured {
        let measured = match targets.blockers.get(&bundle.name()) {
            Some(why) => Err(why.clone()),
            None => {
                let dir = work.join(bundle.name());
                let mut programs = Vec::new();
                for source in memory::PROGRAMS {
                    let image = dir.join(
                        Path::new(source)
                            .with_extension("exe")
                            .file_name()
                            .context("a program path names a file")?,
                    );
                    link_ocaml(ctx, prefix, bundle, source, &image)?;
                    programs.push(image);
                }
                Ok(memory::measure(bundle, &dir.join(OCAML_HELLO), &programs)?)
            }
        };
        guests.push((bundle.name(), measured));
    }
    Ok(guests)
}

/// Builds the OCaml program `source` (relative to the repository) for
/// the host in `work`, with the host tools of `prefix`: the executable,
/// `<name>.native`.
fn build_native(ctx: &Context, prefix: &Path, source: &str, work: &Path) -> Result<PathBuf> {
    let name = Path::new(source)
        .file_name()
        .context("a source path names a file")?;
    std::fs::copy(ctx.root.join(source), work.join(name))
        .with_context(|| format!("copying {source}"))?;
    let exe = work.join(Path::new(name).with_extension("native"));
    Cmd::new("ocamlfind")
        .args(["ocamlopt", "-package", "unix", "-linkpkg"])
        .arg(name)
        .arg("-o")
        .arg(&exe)
        .dir(work)
        .env("PATH", host::user_path(ctx, prefix))
        .env("OCAMLFIND_CONF", findlib::main_conf(prefix))
        .read(false)
        .with_context(|| format!("building {source} for the host"))?;
    Ok(exe)
}

/// Links the OCaml program `source` (relative to the repository) for
/// `bundle` into `image`, as a user would with ocamlfind.
fn link_ocaml(
    ctx: &Context,
    prefix: &Path,
    bundle: &Bundle,
    source: &str,
    image: &Path,
) -> Result<()> {
    let dir = image.parent().context("an image path has a directory")?;
    let name = Path::new(source)
        .file_name()
        .context("a source path names a file")?;
    std::fs::copy(ctx.root.join(source), dir.join(name))
        .with_context(|| format!("copying {source}"))?;
    let select = format!("unikraft-backend={}", bundle.backend_name());
    Cmd::new("ocamlfind")
        .args([
            "-toolchain",
            &ocaml::toolchain_name(bundle.arch),
            "ocamlopt",
        ])
        .arg(name)
        .arg("-o")
        .arg(image)
        .args(["-cclib", &format!("-z {select}")])
        .dir(dir)
        .env("PATH", host::user_path(ctx, prefix))
        .env("OCAMLFIND_CONF", findlib::main_conf(prefix))
        .read(false)
        .with_context(|| format!("linking {source} for {}", bundle.name()))?;
    Ok(())
}

fn file_size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

/// Median milliseconds to the first console byte over `runs` boots of
/// `image` by `bundle`'s own VMM: a Firecracker image is never timed on
/// QEMU.
/// The median milliseconds to the first console byte of each image booted
/// on its bundle, `runs` rounds in which each boots once in turn.
fn boot_medians(launches: &[(Bundle, PathBuf)], runs: usize) -> Result<Vec<f64>> {
    let mut times = vec![Vec::new(); launches.len()];
    for _ in 0..runs {
        for ((bundle, image), times) in launches.iter().zip(&mut times) {
            times.push(first_output_ms(bundle, image)?);
        }
    }
    Ok(times.iter_mut().map(|t| median(t)).collect())
}

fn first_output_ms(bundle: &Bundle, image: &Path) -> Result<f64> {
    let launch = vmm::Launch {
        backend: bundle.backend,
        arch: bundle.arch,
        image,
        args: &[],
        env: &[],
        devices: &Default::default(),
        accel: vmm::Accel::Tcg,
        gdb: None,
    };
    let boot = vmm::boot(&launch, &vmm::Watch::test(Duration::from_secs(60)))?;
    let first = boot.first_output.with_context(|| {
        format!(
            "{} printed nothing on {}{}",
            image.display(),
            boot.program,
            match boot.vmm_stderr.trim() {
                "" => String::new(),
                text => format!(":\n{text}"),
            }
        )
    })?;
    Ok(first.as_secs_f64() * 1000.0)
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
