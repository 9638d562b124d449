//! `cargo xtask localtests`: end-to-end checks of an installed prefix.
//!
//! - `c-hello`: for every installed bundle, `backends/smoke/hello.c` linked
//!   with the installed C driver and booted.
//! - `c-crash`: `backends/smoke/crash.c` (a null pointer write) likewise; it
//!   must come out as a crash, whatever it printed.
//! - `simple`: for every cross compiler, `examples/simple` built with dune
//!   as its README says, and booted on QEMU.
//! - `examples/all`: built once by dune, with one context per installed
//!   bundle (toolchain `unikraft_<arch>`, link flags naming the backend) and
//!   one native `linux` context; every example runs on each. The Linux run
//!   shows that the expected files are what the program does on Linux.
//!
//! Each run's console, less Unikraft's banner and our status line, must
//! equal `<example>.expected`, and its exit status `<example>.status`
//! (`<example>.args`, if present, holds the arguments, one per line).
//! Where a backend cannot boot here the image is still built (a Firecracker
//! x86_64 image's format is checked) and the boot is a skip with the reason.

use crate::boot::console::{self, Transcript};
use crate::boot::vmm;
use crate::build::backends::{Arch, Backend, Bundle};
use crate::check::{boots, smoke};
use crate::cli::LocaltestsOpts;
use crate::context::Context;
use crate::util::cmd::Cmd;
use crate::util::elf;
use anyhow::{bail, Context as _, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

struct Row {
    test: String,
    target: String,
    verdict: Verdict,
    /// How the program ended, when it ran.
    ending: Option<String>,
    first_output: Option<Duration>,
    time: Duration,
}

/// What a program must do.
struct Expected {
    output: String,
    status: u8,
    args: Vec<String>,
    /// How long it may run, when not `--timeout` (`<example>.timeout`, for
    /// an example that must time out).
    timeout: Option<Duration>,
}

/// The name of the native context and of its rows.
const LINUX: &str = "linux";

pub fn localtests(ctx: &Context, opts: &LocaltestsOpts) -> Result<()> {
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    let installed = crate::build::install::installed_bundles(&prefix);
    if installed.is_empty() {
        bail!(
            "no backend bundle is installed in {}\nhelp: run `cargo xtask localbuild` first",
            prefix.display()
        );
    }
    let boots = Boots {
        timeout: Duration::from_secs_f64(opts.timeout),
        blockers: boots::blockers(ctx, &prefix, &installed),
    };
    check_required(&opts.require, &installed, &boots)?;
    let mut rows = Vec::new();
    for bundle in &installed {
        rows.push(run_row("c-hello", &bundle.name(), || {
            c_hello(ctx, &prefix, bundle, &boots)
        }));
        rows.push(run_row("c-crash", &bundle.name(), || {
            c_crash(ctx, &prefix, bundle, &boots)
        }));
    }
    let with_compiler: Vec<&Bundle> = installed
        .iter()
        .filter(|b| has_compiler(&prefix, b.arch))
        .collect();
    for &arch in &Arch::ALL {
        if has_compiler(&prefix, arch) {
            let target = Bundle::new(Backend::Qemu, arch, &[]).name();
            rows.push(run_row("simple", &target, || {
                simple(ctx, &prefix, arch, &boots)
            }));
        }
    }
    if with_compiler.is_empty() {
        crate::util::progress::say(
            "localtests",
            "no cross compiler installed: examples/all skipped",
        );
    } else {
        rows.extend(all_examples(ctx, &prefix, &with_compiler, &boots)?);
    }
    print_table(&rows);
    let failed = rows
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail(_)))
        .count();
    if failed > 0 {
        bail!("{failed} test(s) failed");
    }
    Ok(())
}

/// How to boot: the deadline, and why some bundles cannot boot here.
struct Boots {
    timeout: Duration,
    /// Bundle name -> the reason it cannot boot here.
    blockers: HashMap<String, String>,
}

impl Boots {
    fn blocker(&self, bundle: &Bundle) -> Option<&str> {
        self.blockers.get(&bundle.name()).map(String::as_str)
    }

    fn timeout(&self, expected: &Expected) -> Duration {
        expected.timeout.unwrap_or(self.timeout)
    }
}

/// Fails unless every installed bundle of each `required` backend can boot
/// here: a skipped boot must not pass for a test run where it was wanted.
fn check_required(required: &[Backend], installed: &[Bundle], boots: &Boots) -> Result<()> {
    let mut problems = Vec::new();
    for &backend in required {
        let of_backend: Vec<&Bundle> = installed.iter().filter(|b| b.backend == backend).collect();
        if of_backend.is_empty() {
            problems.push(format!("no {} bundle is installed", backend.name()));
        }
        for bundle in of_backend {
            if let Some(reason) = boots.blocker(bundle) {
                problems.push(format!("{} cannot boot here: {reason}", bundle.name()));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "boots required by --require would be skipped:\n  {}\nhelp: `cargo xtask doctor` lists what to install; `cargo xtask localbuild` builds the bundles",
            problems.join("\n  ")
        );
    }
    Ok(())
}

fn has_compiler(prefix: &Path, arch: Arch) -> bool {
    crate::build::ocaml::compiler_prefix(prefix, arch)
        .join("bin/ocamlopt")
        .exists()
}

/// A row for a test that either completes (pass, fail or skip, and how the
/// program ended) or cannot be carried out (a failure, with the reason).
fn run_row(test: &str, target: &str, body: impl FnOnce() -> Result<(Verdict, Option<Run>)>) -> Row {
    let start = Instant::now();
    let (verdict, run) = body().unwrap_or_else(|err| (Verdict::Fail(format!("{err:#}")), None));
    Row {
        test: test.into(),
        target: target.into(),
        verdict,
        ending: run.as_ref().map(|r| r.ending.clone()),
        first_output: run.and_then(|r| r.first_output),
        time: start.elapsed(),
    }
}

/// What one run of a program showed, besides pass or fail.
struct Run {
    ending: String,
    first_output: Option<Duration>,
}

impl Run {
    fn of(boot: &vmm::Boot, transcript: &Transcript) -> Run {
        Run {
            ending: transcript.ending.describe(),
            first_output: boot.first_output,
        }
    }
}

/// Links `backends/smoke/<name>.c` for `bundle` into the build tree.
fn smoke_image(ctx: &Context, prefix: &Path, bundle: &Bundle, name: &str) -> Result<PathBuf> {
    let image = ctx
        .build_dir
        .join("tests")
        .join(format!("c-{name}"))
        .join(bundle.name())
        .join(name);
    smoke::link(ctx, prefix, bundle, &format!("{name}.c"), &image)?;
    Ok(image)
}

fn c_hello(
    ctx: &Context,
    prefix: &Path,
    bundle: &Bundle,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    let image = smoke_image(ctx, prefix, bundle, "hello")?;
    let expected = Expected {
        output: read_text(&ctx.root.join("backends/smoke/hello.expected"))?,
        status: 0,
        args: Vec::new(),
        timeout: None,
    };
    boot_and_check(bundle, &image, &expected, boots)
}

fn c_crash(
    ctx: &Context,
    prefix: &Path,
    bundle: &Bundle,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    let image = smoke_image(ctx, prefix, bundle, "crash")?;
    if let Some(reason) = boots.blocker(bundle) {
        return Ok((Verdict::Skip(format!("boot skipped: {reason}")), None));
    }
    let (boot, transcript) = boot_bundle(bundle, &image, &[], boots.timeout)?;
    let verdict = if transcript.ending == console::Ending::Crash {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "a null pointer write came out as {}; console:\n{}",
            transcript.ending.describe(),
            transcript.output
        ))
    };
    Ok((verdict, Some(Run::of(&boot, &transcript))))
}

/// Checks that ocamlfind's `unikraft_<arch>` toolchain is the freestanding
/// cross compiler, then builds `examples/simple` with dune for `arch` (with
/// a workspace naming toolchain `unikraft_<arch>`, so the user's default
/// arch is left alone) and boots it on QEMU.
fn simple(
    ctx: &Context,
    prefix: &Path,
    arch: Arch,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    let toolchain = crate::build::ocaml::toolchain_name(arch);
    let config = Cmd::new("ocamlfind")
        .args(["-toolchain", &toolchain, "ocamlopt", "-config"])
        .env("PATH", crate::build::host::user_path(ctx, prefix))
        .env("OCAMLFIND_CONF", crate::build::findlib::main_conf(prefix))
        .read(ctx.verbose)?;
    let c_compiler = format!("c_compiler: {}-unikraft-ocaml-gcc", arch.gnu_name());
    for wanted in ["system: none", c_compiler.as_str()] {
        if !config.lines().any(|line| line == wanted) {
            return Ok((
                Verdict::Fail(format!(
                    "`ocamlfind -toolchain {toolchain} ocamlopt -config` lacks `{wanted}`"
                )),
                None,
            ));
        }
    }
    let example = ctx.root.join("examples/simple");
    let build = ctx.build_dir.join("tests/simple").join(arch.name());
    let workspace =
        format!("(lang dune 3.18)\n(context (default (name unikraft) (toolchain {toolchain})))\n");
    dune_build(ctx, prefix, &example, &build, &workspace)?;
    let expected = Expected {
        output: read_text(&example.join("hello.expected"))?,
        status: 0,
        args: Vec::new(),
        timeout: None,
    };
    let bundle = Bundle::new(Backend::Qemu, arch, &[]);
    boot_and_check(&bundle, &build.join("unikraft/hello.exe"), &expected, boots)
}

/// Builds `examples/all` for every bundle and Linux, then runs each example
/// on each.
fn all_examples(
    ctx: &Context,
    prefix: &Path,
    bundles: &[&Bundle],
    boots: &Boots,
) -> Result<Vec<Row>> {
    let source = ctx.root.join("examples/all");
    let examples = examples(&source)?;
    let build = ctx.build_dir.join("tests/examples-all");
    let start = Instant::now();
    dune_build(ctx, prefix, &source, &build, &all_workspace(bundles))
        .context("building examples/all")?;
    crate::util::progress::say(
        "localtests",
        &format!(
            "built examples/all for {} and {} bundle(s) in {:.1} s",
            LINUX,
            bundles.len(),
            start.elapsed().as_secs_f64()
        ),
    );
    let mut rows = Vec::new();
    for (name, expected) in &examples {
        rows.push(run_row(name, LINUX, || {
            run_native(
                &build.join(LINUX).join(format!("{name}.exe")),
                expected,
                boots.timeout(expected),
            )
        }));
        for bundle in bundles {
            let image = build.join(bundle.name()).join(format!("{name}.exe"));
            rows.push(run_row(name, &bundle.name(), || {
                boot_and_check(bundle, &image, expected, boots)
            }));
        }
    }
    Ok(rows)
}

/// A dune workspace with the native `linux` context and one cross context
/// per bundle, named after it.
fn all_workspace(bundles: &[&Bundle]) -> String {
    let mut text = format!("(lang dune 3.18)\n(context (default (name {LINUX})))\n");
    for bundle in bundles {
        text.push_str(&format!(
            "(context (default (name {}) (toolchain {})\n  (env (_ (link_flags (:standard -cclib \"-z unikraft-backend={}\"))))))\n",
            bundle.name(),
            crate::build::ocaml::toolchain_name(bundle.arch),
            bundle.backend.name()
        ));
    }
    text
}

/// `dune build` of the project in `source`, with `workspace` as its
/// workspace file and its results under `build`.
fn dune_build(
    ctx: &Context,
    prefix: &Path,
    source: &Path,
    build: &Path,
    workspace: &str,
) -> Result<()> {
    forget_stale_build(prefix, build)?;
    std::fs::create_dir_all(build)?;
    let workspace_file = build.join("dune-workspace.generated");
    std::fs::write(&workspace_file, workspace)?;
    Cmd::new("dune")
        .args(["build", "--root"])
        .arg(source)
        .arg("--workspace")
        .arg(&workspace_file)
        .arg("--build-dir")
        .arg(build)
        .env("PATH", crate::build::host::user_path(ctx, prefix))
        .env("OCAMLFIND_CONF", crate::build::findlib::main_conf(prefix))
        .read(ctx.verbose)?;
    Ok(())
}

/// Dune does not know that a link depends on the installed bundles and
/// driver, so it would keep images linked against old ones: the build
/// starts over when anything installed changed since the last run.
fn forget_stale_build(prefix: &Path, build: &Path) -> Result<()> {
    let mut installed = String::new();
    for dir in ["bin", "lib", "share"] {
        let dir = prefix.join(dir);
        if dir.is_dir() {
            installed.push_str(&format!(
                "{} {}\n",
                dir.display(),
                crate::util::fs::newest_mtime(&dir)?
            ));
        }
    }
    // Beside the build directory: dune deletes files it did not make.
    let record = build.with_extension("installed");
    if std::fs::read_to_string(&record).ok().as_deref() != Some(installed.as_str()) {
        crate::util::fs::remove_if_present(build)?;
        crate::util::fs::create_parent(&record)?;
        std::fs::write(&record, installed)?;
    }
    Ok(())
}

/// The examples of `dir`: every `<name>.expected`, with its `.status` and
/// optional `.args` and `.timeout`, sorted by name.
fn examples(dir: &Path) -> Result<Vec<(String, Expected)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let (Some(name), Some("expected")) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let status_file = dir.join(format!("{name}.status"));
        let status = read_text(&status_file)?;
        let status = status.trim().parse::<u8>().with_context(|| {
            format!(
                "{} must hold an exit status (0-255), not {status:?}",
                status_file.display()
            )
        })?;
        let args_file = dir.join(format!("{name}.args"));
        let args = if args_file.exists() {
            read_text(&args_file)?.lines().map(String::from).collect()
        } else {
            Vec::new()
        };
        let timeout_file = dir.join(format!("{name}.timeout"));
        let timeout = if timeout_file.exists() {
            let text = read_text(&timeout_file)?;
            let seconds = text.trim().parse::<f64>().ok().filter(|s| *s > 0.0);
            Some(Duration::from_secs_f64(seconds.with_context(|| {
                format!(
                    "{} must hold a number of seconds, not {text:?}",
                    timeout_file.display()
                )
            })?))
        } else {
            None
        };
        found.push((
            name.to_string(),
            Expected {
                output: read_text(&path)?,
                status,
                args,
                timeout,
            },
        ));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.is_empty() {
        bail!("no <example>.expected file in {}", dir.display());
    }
    Ok(found)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Boots `image` for `bundle` and compares what it did with `expected`; a
/// skip (after checking what can be checked) where the bundle's VMM cannot
/// run here.
fn boot_and_check(
    bundle: &Bundle,
    image: &Path,
    expected: &Expected,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    if let Some(reason) = boots.blocker(bundle) {
        return Ok((
            match check_image_format(image, bundle)? {
                Some(problem) => Verdict::Fail(problem),
                None => Verdict::Skip(format!("image built and checked; boot skipped: {reason}")),
            },
            None,
        ));
    }
    let (boot, transcript) = boot_bundle(bundle, image, &expected.args, boots.timeout(expected))?;
    let mut verdict = compare(&transcript, expected);
    if let (Verdict::Pass, stderr) = (&verdict, boot.vmm_stderr.trim()) {
        if !stderr.is_empty() {
            verdict = Verdict::Fail(format!("the VMM reported: {stderr}"));
        }
    }
    Ok((verdict, Some(Run::of(&boot, &transcript))))
}

/// Boots `image` for `bundle` with `args`: the boot, and what the guest
/// reported.
fn boot_bundle(
    bundle: &Bundle,
    image: &Path,
    args: &[String],
    timeout: Duration,
) -> Result<(vmm::Boot, Transcript)> {
    let launch = vmm::Launch {
        backend: bundle.backend,
        arch: bundle.arch,
        image,
        args,
    };
    let boot = vmm::boot(&launch, timeout, false)?;
    let transcript = boot.transcript()?;
    Ok((boot, transcript))
}

/// Runs a native build of an example on this machine; killed at `timeout`,
/// it timed out, as a unikernel would.
fn run_native(
    exe: &Path,
    expected: &Expected,
    timeout: Duration,
) -> Result<(Verdict, Option<Run>)> {
    let start = Instant::now();
    let handle = duct::cmd(exe, &expected.args)
        .stdin_null()
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .start()
        .with_context(|| format!("cannot run {}", exe.display()))?;
    let mut timed_out = false;
    let output = loop {
        if let Some(output) = handle.try_wait()? {
            break output.clone();
        }
        if start.elapsed() > timeout {
            handle.kill()?;
            timed_out = true;
            break handle.wait()?.clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let ending = match output.status.code() {
        _ if timed_out => console::Ending::Timeout(timeout),
        Some(code) => console::ending_of_exit(code as u8, &text),
        None => bail!(
            "{} was killed by a signal ({})",
            exe.display(),
            output.status
        ),
    };
    let transcript = Transcript {
        ending,
        output: text,
    };
    Ok((
        compare(&transcript, expected),
        Some(Run {
            ending: transcript.ending.describe(),
            first_output: None,
        }),
    ))
}

fn compare(transcript: &Transcript, expected: &Expected) -> Verdict {
    let mut problems = Vec::new();
    if transcript.ending.status() != expected.status {
        problems.push(format!(
            "{}, expected status {}",
            transcript.ending.describe(),
            expected.status
        ));
    }
    if transcript.output != expected.output {
        problems.push(format!(
            "console output differs (- expected, + actual):\n{}",
            diff(&expected.output, &transcript.output)
        ));
    }
    if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(problems.join("\n"))
    }
}

/// Checks what can be checked without booting: a Firecracker x86_64 image
/// is an x86_64 ELF64 whose entry point lies in an executable segment and,
/// when the unstripped `<image>.dbg` is at hand (dune deletes it, not being
/// a target it knows), is the Linux boot entry. Returns a problem, if any.
fn check_image_format(image: &Path, bundle: &Bundle) -> Result<Option<String>> {
    let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    if bundle.backend != Backend::Firecracker || bundle.arch != Arch::X86_64 {
        return Ok((bytes.is_empty()).then(|| "empty image".into()));
    }
    let Some(entry) = x86_64_executable_entry(&bytes) else {
        return Ok(Some(
            "not an x86_64 ELF64 image entered in an executable segment".into(),
        ));
    };
    let debug = PathBuf::from(format!("{}.dbg", image.display()));
    if !debug.exists() {
        return Ok(None);
    }
    let symbols = Cmd::new("nm").arg(&debug).read(false)?;
    let lxboot = symbols
        .lines()
        .find(|l| l.ends_with(" _lxboot_entry"))
        .and_then(|l| u64::from_str_radix(l.split_whitespace().next()?, 16).ok());
    Ok(match lxboot {
        Some(address) if address == entry => None,
        Some(address) => Some(format!(
            "entry {entry:#x} is not _lxboot_entry ({address:#x})"
        )),
        None => Some("no _lxboot_entry symbol in the image".into()),
    })
}

/// The entry point of an x86_64 ELF64 file, if it lies inside a loadable,
/// executable segment.
fn x86_64_executable_entry(bytes: &[u8]) -> Option<u64> {
    if elf::machine(bytes) != Some(elf::MACHINE_X86_64) {
        return None;
    }
    // Read from ELF64 files only.
    let entry = elf::entry(bytes)?;
    elf::in_executable_segment(bytes, entry).then_some(entry)
}

/// A line diff good enough to see what differs: `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = Vec::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push(format!("  {x}")),
            (x, y) => {
                if let Some(x) = x {
                    out.push(format!("- {x}"));
                }
                if let Some(y) = y {
                    out.push(format!("+ {y}"));
                }
            }
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push("(the two differ in their final newline)".into());
    }
    out.join("\n")
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<13} {:<19} {:<6} {:<32} {:>8} {:>7}",
        "test", "target", "result", "outcome", "1st out", "time"
    );
    // Skips of one target share their reason: it is printed once.
    let mut skip_reasons_shown: Vec<(&str, &str)> = Vec::new();
    for row in rows {
        let (word, detail) = match &row.verdict {
            Verdict::Pass => ("pass", None),
            Verdict::Fail(why) => ("FAIL", Some(why)),
            Verdict::Skip(why) => {
                let seen = (row.target.as_str(), why.as_str());
                if skip_reasons_shown.contains(&seen) {
                    ("skip", None)
                } else {
                    skip_reasons_shown.push(seen);
                    ("skip", Some(why))
                }
            }
        };
        println!(
            "{:<13} {:<19} {:<6} {:<32} {:>8} {:>6.2}s",
            row.test,
            row.target,
            word,
            row.ending.as_deref().unwrap_or("-"),
            row.first_output
                .map_or("-".into(), |t| format!("{:.0}ms", t.as_secs_f64() * 1000.0)),
            row.time.as_secs_f64()
        );
        if let Some(detail) = detail {
            for line in detail.lines() {
                println!("    {line}");
            }
        }
    }
    println!();
    let mut targets: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
    targets.sort();
    targets.dedup();
    for target in targets {
        let of_target: Vec<&Row> = rows.iter().filter(|r| r.target == target).collect();
        let count =
            |kind: fn(&Verdict) -> bool| of_target.iter().filter(|r| kind(&r.verdict)).count();
        println!(
            "{target:<19} {:>3} pass {:>3} fail {:>3} skip   total {:>6.2}s",
            count(|v| *v == Verdict::Pass),
            count(|v| matches!(v, Verdict::Fail(_))),
            count(|v| matches!(v, Verdict::Skip(_))),
            of_target.iter().map(|r| r.time.as_secs_f64()).sum::<f64>()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changed_and_missing_lines() {
        assert_eq!(diff("a\nb\nc\n", "a\nx\n"), "  a\n- b\n+ x\n- c");
        assert_eq!(
            diff("a\n", "a"),
            "  a\n(the two differ in their final newline)"
        );
    }

    #[test]
    fn compare_needs_both_output_and_status() {
        let expected = Expected {
            output: "about to raise\n".into(),
            status: 2,
            args: Vec::new(),
            timeout: None,
        };
        let transcript = |output: &str, ending| Transcript {
            output: output.into(),
            ending,
        };
        use console::Ending;
        assert_eq!(
            compare(&transcript("about to raise\n", Ending::Exit(2)), &expected),
            Verdict::Pass
        );
        assert!(matches!(
            compare(&transcript("about to raise\n", Ending::Exit(0)), &expected),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            compare(&transcript("about to raise\n", Ending::Crash), &expected),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            compare(&transcript("about to rise\n", Ending::Exit(2)), &expected),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn every_example_has_a_status_and_the_examples_are_all_there() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/all");
        let names: Vec<String> = examples(&dir).unwrap().into_iter().map(|e| e.0).collect();
        for wanted in ["hello", "args", "fail", "exit", "threader", "domain_spawn"] {
            assert!(names.iter().any(|n| n == wanted), "{wanted} in {names:?}");
        }
    }

    #[test]
    fn required_backends_must_be_installed_and_bootable() {
        let qemu = Bundle::new(Backend::Qemu, Arch::X86_64, &[]);
        let fc = Bundle::new(Backend::Firecracker, Arch::X86_64, &[]);
        let mut boots = Boots {
            timeout: Duration::from_secs(1),
            blockers: HashMap::from([(fc.name(), "no KVM".to_string())]),
        };
        let installed = [qemu.clone(), fc.clone()];
        assert!(check_required(&[Backend::Qemu], &installed, &boots).is_ok());
        let err = check_required(&[Backend::Firecracker], &installed, &boots).unwrap_err();
        assert!(err
            .to_string()
            .contains("firecracker-x86_64 cannot boot here: no KVM"));
        let err = check_required(&[Backend::Qemu], &[fc], &boots).unwrap_err();
        assert!(err.to_string().contains("no qemu bundle is installed"));
        boots
            .blockers
            .insert(qemu.name(), "qemu-system-x86_64 is not installed".into());
        assert!(check_required(&[Backend::Qemu], &installed, &boots).is_err());
    }

    #[test]
    fn the_workspace_has_linux_and_one_context_per_bundle() {
        let fc = Bundle::new(Backend::Firecracker, Arch::Arm64, &[]);
        let text = all_workspace(&[&fc]);
        assert!(text.contains("(context (default (name linux)))"));
        assert!(text.contains("(name firecracker-arm64) (toolchain unikraft_arm64)"));
        assert!(text.contains("-z unikraft-backend=firecracker"));
    }
}
