//! The rows of OCaml programs built with dune as a user builds them:
//! `simple` (`examples/simple` for one arch, booted on QEMU) and every
//! example of `examples/all`, built once with one dune context per bundle
//! and one for Linux, then run on each.

use super::boot_check::{boot_and_check, Boots};
use super::device_tests;
use super::expected::{examples, DeviceTest, Expected};
use super::native;
use super::runner_stop;
use super::{not_applicable_row, run_row, Row, Run, Verdict, LINUX};
use crate::context::Context;
use crate::target::{Arch, Backend, BuildOption, Bundle};
use crate::util::cmd::Cmd;
use anyhow::{Context as _, Result};
use std::path::Path;
use std::time::Instant;

/// Checks that ocamlfind's `unikraft_<arch>` toolchain is the freestanding
/// cross compiler, then builds `examples/simple` with dune for `arch` (with
/// a workspace naming toolchain `unikraft_<arch>`, so the user's default
/// arch is left alone) and boots it on QEMU.
pub(crate) fn simple(
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
    let c_compiler = format!("c_compiler: {}-unikraft-ocaml-gcc", arch.gnu());
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
    let build = ctx.build_dir.join("tests/simple").join(arch.unikraft());
    let workspace =
        format!("(lang dune 3.18)\n(context (default (name unikraft) (toolchain {toolchain})))\n");
    dune_build(ctx, prefix, &example, &build, &workspace)?;
    let expected = Expected::hello(&example.join("hello.expected"))?;
    let bundle = Bundle::new(Backend::Qemu, arch, &[]);
    boot_and_check(&bundle, &build.join("unikraft/hello.exe"), &expected, boots)
}

/// Builds `examples/all` for every bundle and Linux, then runs each example
/// on each.
pub(crate) fn all_examples(
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
    let mut rows = runner_rows(prefix, &build, &examples, bundles, boots);
    rows.extend(runner_stop_rows(prefix, &build, bundles, boots));
    for (name, expected) in &examples {
        // The netdev and blkdev examples exist on Unikraft only (dune's
        // `enabled_if`); share_read runs in its shared directory.
        if expected.device_test.is_none_or(DeviceTest::runs_on_linux) {
            let exe = build.join(LINUX).join(format!("{name}.exe"));
            let timeout = boots.timeout(expected);
            rows.push(run_row(name, LINUX, || match expected.device_test {
                Some(DeviceTest::Share) => device_tests::with_shared_dir(|dir| {
                    native::run(&exe, expected, timeout, Some(dir))
                }),
                _ => native::run(&exe, expected, timeout, None),
            }));
        }
        for bundle in bundles {
            if let Some(reason) = expected.not_for(bundle) {
                rows.push(not_applicable_row(name, &bundle.name(), reason));
                continue;
            }
            let image = build.join(bundle.name()).join(format!("{name}.exe"));
            rows.push(run_row(name, &bundle.name(), || {
                boot_and_check(bundle, &image, expected, boots)
            }));
        }
    }
    Ok(rows)
}

/// The installed `ocaml-unikraft-run`, called as a user outside this
/// repository would, on every QEMU bundle but the debug ones (whose
/// kernel messages the runner passes on): the `args` example with its
/// arguments, or on a 9pfs bundle `share_read` with `--share` (such a
/// bundle boots nothing else). Output and status must be the example's.
fn runner_rows(
    prefix: &Path,
    build: &Path,
    examples: &[(String, Expected)],
    bundles: &[&Bundle],
    boots: &Boots,
) -> Vec<Row> {
    let runner = ocaml_unikraft_toolchain::layout::runner(prefix);
    let qemu_bundles = bundles
        .iter()
        .filter(|b| b.backend == Backend::Qemu && !b.has(BuildOption::Debug));
    qemu_bundles
        .filter_map(|bundle| {
            let name = if bundle.has(BuildOption::NinePfs) {
                "share_read"
            } else {
                "args"
            };
            let (_, expected) = examples.iter().find(|(n, _)| n == name)?;
            let runner = &runner;
            Some(run_row("runner", &bundle.name(), move || {
                if let Some(reason) = boots.blocker(bundle) {
                    return Ok((Verdict::Skip(format!("boot skipped: {reason}")), None));
                }
                let image = build.join(bundle.name()).join(format!("{name}.exe"));
                let run = |share: Option<&Path>| {
                    let mut words = vec![image.clone().into_os_string()];
                    if let Some(dir) = share {
                        words.extend(["--share".into(), dir.as_os_str().to_owned()]);
                    }
                    words.push("--".into());
                    words.extend(expected.args.iter().map(Into::into));
                    native::run_program(runner, &words, expected, boots.timeout(expected), None)
                };
                match expected.device_test {
                    Some(DeviceTest::Share) => device_tests::with_shared_dir(|dir| run(Some(dir))),
                    _ => run(None),
                }
            }))
        })
        .collect()
}

/// The installed runner stopped by each signal on every plain QEMU bundle
/// (see [`runner_stop`]).
fn runner_stop_rows(prefix: &Path, build: &Path, bundles: &[&Bundle], boots: &Boots) -> Vec<Row> {
    let runner = ocaml_unikraft_toolchain::layout::runner(prefix);
    bundles
        .iter()
        .filter(|b| b.backend == Backend::Qemu && b.options.is_empty())
        .map(|bundle| {
            run_row("runner_stop", &bundle.name(), || {
                if let Some(reason) = boots.blocker(bundle) {
                    return Ok((Verdict::Skip(format!("boot skipped: {reason}")), None));
                }
                let image = build
                    .join(bundle.name())
                    .join(format!("{}.exe", runner_stop::EXAMPLE));
                runner_stop::check(&runner, &image, boots.timeout)
            })
        })
        .collect()
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
            bundle.backend_name()
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

/// What is installed in `prefix`, as the newest modification time of each
/// of its directories: links depend on it, and no build tool tracks it.
pub(crate) fn installed_state(prefix: &Path) -> Result<String> {
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
    Ok(installed)
}

/// Dune does not know that a link depends on the installed bundles and
/// driver, so it would keep images linked against old ones: the build
/// starts over when anything installed changed since the last run.
fn forget_stale_build(prefix: &Path, build: &Path) -> Result<()> {
    let installed = installed_state(prefix)?;
    // Beside the build directory: dune deletes files it did not make.
    let record = build.with_extension("installed");
    if std::fs::read_to_string(&record).ok().as_deref() != Some(installed.as_str()) {
        crate::util::fs::remove_if_present(build)?;
        crate::util::fs::create_parent(&record)?;
        std::fs::write(&record, installed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_has_linux_and_one_context_per_bundle() {
        let fc = Bundle::new(Backend::Firecracker, Arch::Arm64, &[]);
        let text = all_workspace(&[&fc]);
        assert!(text.contains("(context (default (name linux)))"));
        assert!(text.contains("(name firecracker-arm64) (toolchain unikraft_arm64)"));
        assert!(text.contains("-z unikraft-backend=firecracker"));
    }
}
