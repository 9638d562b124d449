//! `cargo xtask localtests`: end-to-end checks of an installed prefix.
//!
//! Bundle smoke test: for every installed backend bundle, link
//! `backends/smoke/hello.c` with the installed C driver and the bundle's
//! descriptor, then boot it and compare the whole console output and the
//! VMM's exit status with `backends/smoke/hello.expected`. Where a backend
//! cannot boot here, the test checks the image's format instead and the
//! boot is reported as skipped, with the reason.
//!
//! OCaml: for every installed cross compiler, `examples/simple` is built
//! with dune and booted on QEMU, its output compared with
//! `examples/simple/hello.expected`.

use crate::backends::{Arch, Backend};
use crate::cli::LocaltestsOpts;
use crate::cmd::Cmd;
use crate::context::Context;
use crate::vmm;
use anyhow::{bail, Context as _, Result};
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
    bundle: String,
    verdict: Verdict,
    time: Duration,
}

pub fn localtests(ctx: &Context, opts: &LocaltestsOpts) -> Result<()> {
    let prefix = ctx.prefix(opts.prefix.as_deref())?;
    let installed = installed_bundles(&prefix)?;
    if installed.is_empty() {
        bail!(
            "no backend bundle is installed in {}\nhelp: run `cargo xtask localbuild` first",
            prefix.display()
        );
    }
    let timeout = Duration::from_secs_f64(opts.timeout);
    let mut rows = Vec::new();
    for &arch in &Arch::ALL {
        if !crate::ocaml::compiler_prefix(&prefix, arch)
            .join("bin/ocamlopt")
            .exists()
        {
            continue;
        }
        let start = Instant::now();
        let verdict = ocaml_simple(ctx, &prefix, arch, timeout)
            .unwrap_or_else(|err| Verdict::Fail(format!("{err:#}")));
        rows.push(Row {
            test: "ocaml-simple".into(),
            bundle: format!("qemu-{}", arch.name()),
            verdict,
            time: start.elapsed(),
        });
    }
    for (backend, arch) in installed {
        let start = Instant::now();
        let verdict = smoke(ctx, &prefix, backend, arch, timeout)
            .unwrap_or_else(|err| Verdict::Fail(format!("{err:#}")));
        rows.push(Row {
            test: "c-hello".into(),
            bundle: format!("{}-{}", backend.name(), arch.name()),
            verdict,
            time: start.elapsed(),
        });
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

/// `(backend, arch)` of every descriptor under `<prefix>/share`.
fn installed_bundles(prefix: &Path) -> Result<Vec<(Backend, Arch)>> {
    let mut found = Vec::new();
    for backend in Backend::ALL {
        for arch in Arch::ALL {
            let descriptor = prefix
                .join("share")
                .join(format!(
                    "ocaml-unikraft-backend-{}-{}",
                    backend.name(),
                    arch.name()
                ))
                .join("backend.json");
            if descriptor.is_file() {
                found.push((backend, arch));
            }
        }
    }
    Ok(found)
}

fn smoke(
    ctx: &Context,
    prefix: &Path,
    backend: Backend,
    arch: Arch,
    timeout: Duration,
) -> Result<Verdict> {
    let dir =
        ctx.build_dir
            .join("tests/c-hello")
            .join(format!("{}-{}", backend.name(), arch.name()));
    std::fs::create_dir_all(&dir)?;
    let image = dir.join("hello");
    let source = ctx.root.join("backends/smoke/hello.c");
    Cmd::new(
        prefix
            .join("bin")
            .join(format!("{}-unikraft-ocaml-cc", arch.gnu_name())),
    )
    .args([
        "-O2",
        "-z",
        &format!("unikraft-backend={}", backend.name()),
        "-o",
    ])
    .arg(&image)
    .arg(&source)
    .read(ctx.verbose)
    .context("linking backends/smoke/hello.c")?;

    if let Some(reason) = vmm::unavailable(backend, arch) {
        return Ok(match check_image_format(&image, backend, arch)? {
            Some(problem) => Verdict::Fail(problem),
            None => Verdict::Skip(format!("image format checked; boot skipped: {reason}")),
        });
    }
    let boot = vmm::boot(vmm::qemu(arch, &image, &[]), timeout)?;
    let expected = std::fs::read_to_string(ctx.root.join("backends/smoke/hello.expected"))?;
    check_boot(&boot, &expected, timeout)
}

/// Checks that ocamlfind's `unikraft_<arch>` toolchain is the freestanding
/// cross compiler, then builds `examples/simple` with dune for `arch` (in a copy whose
/// dune-workspace names toolchain `unikraft_<arch>`, so the user's default
/// arch is left alone) and boots it on QEMU.
fn ocaml_simple(ctx: &Context, prefix: &Path, arch: Arch, timeout: Duration) -> Result<Verdict> {
    let example = ctx.root.join("examples/simple");
    let dir = ctx.build_dir.join("tests/ocaml-simple").join(arch.name());
    crate::fs::remove_if_present(&dir)?;
    for file in ["dune-project", "dune", "hello.ml"] {
        crate::fs::create_parent(&dir.join(file))?;
        std::fs::copy(example.join(file), dir.join(file))?;
    }
    std::fs::write(
        dir.join("dune-workspace"),
        format!(
            "(lang dune 3.18)\n(context (default (name unikraft) (toolchain {})))\n",
            crate::ocaml::toolchain_name(arch)
        ),
    )?;
    let path = crate::host::user_path(ctx, prefix);
    let conf = crate::findlib::main_conf(prefix);
    // The cross compiler, as ocamlfind's toolchain presents it.
    let toolchain = crate::ocaml::toolchain_name(arch);
    let config = Cmd::new("ocamlfind")
        .args(["-toolchain", &toolchain, "ocamlopt", "-config"])
        .env("PATH", &path)
        .env("OCAMLFIND_CONF", &conf)
        .read(ctx.verbose)?;
    let c_compiler = format!("c_compiler: {}-unikraft-ocaml-gcc", arch.gnu_name());
    for wanted in ["system: none", c_compiler.as_str()] {
        if !config.lines().any(|line| line == wanted) {
            return Ok(Verdict::Fail(format!(
                "`ocamlfind -toolchain {toolchain} ocamlopt -config` lacks `{wanted}`"
            )));
        }
    }
    Cmd::new("dune")
        .args(["build", "--root", "."])
        .dir(&dir)
        .env("PATH", &path)
        .env("OCAMLFIND_CONF", &conf)
        .read(ctx.verbose)
        .context("building examples/simple with dune")?;
    let image = dir.join("_build/unikraft/hello.exe");
    let expected = std::fs::read_to_string(example.join("hello.expected"))?;
    check_boot(
        &vmm::boot(vmm::qemu(arch, &image, &[]), timeout)?,
        &expected,
        timeout,
    )
}

/// Compares a boot with the expected console output and a clean exit.
fn check_boot(boot: &vmm::Boot, expected: &str, timeout: Duration) -> Result<Verdict> {
    let mut problems = Vec::new();
    if boot.status.is_none() {
        problems.push(format!("timed out after {:.0} s", timeout.as_secs_f64()));
    } else if boot.status != Some(0) {
        problems.push(format!("exit status {:?}, expected 0", boot.status));
    }
    if boot.console != expected {
        problems.push(format!(
            "console output differs:\n{}",
            diff(expected, &boot.console)
        ));
    }
    if !boot.vmm_stderr.trim().is_empty() {
        problems.push(format!("the VMM reported: {}", boot.vmm_stderr.trim()));
    }
    if problems.is_empty() {
        Ok(Verdict::Pass)
    } else {
        Ok(Verdict::Fail(problems.join("\n")))
    }
}

/// Checks what can be checked without booting: a Firecracker x86_64 image
/// is an ELF64 entered at the Linux boot entry. Returns a problem, if any.
fn check_image_format(image: &Path, backend: Backend, arch: Arch) -> Result<Option<String>> {
    let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    if backend != Backend::Firecracker || arch != Arch::X86_64 {
        return Ok((bytes.is_empty()).then(|| "empty image".into()));
    }
    if bytes.len() < 0x20 || !bytes.starts_with(b"\x7fELF") || bytes[4] != 2 {
        return Ok(Some("not an ELF64 image".into()));
    }
    let entry = u64::from_le_bytes(bytes[0x18..0x20].try_into()?);
    let debug = PathBuf::from(format!("{}.dbg", image.display()));
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
    out.join("\n")
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<10} {:<20} {:<6} {:>7}",
        "test", "bundle", "result", "time"
    );
    for row in rows {
        let (word, detail) = match &row.verdict {
            Verdict::Pass => ("pass", None),
            Verdict::Fail(why) => ("FAIL", Some(why)),
            Verdict::Skip(why) => ("skip", Some(why)),
        };
        println!(
            "{:<10} {:<20} {:<6} {:>6.2}s",
            row.test,
            row.bundle,
            word,
            row.time.as_secs_f64()
        );
        if let Some(detail) = detail {
            for line in detail.lines() {
                println!("    {line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changed_and_missing_lines() {
        assert_eq!(diff("a\nb\nc\n", "a\nx\n"), "  a\n- b\n+ x\n- c");
    }
}
