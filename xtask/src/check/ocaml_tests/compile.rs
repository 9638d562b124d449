//! Each selected test built as ocamltest builds it: its files copied into a
//! directory of its own per target, and one `ocamlfind ocamlopt` command
//! there that compiles them in the header's order and links the program,
//! with the header's flags and no others. The compiler then records the
//! bare file names, as the references expect (backtraces, `__FILE__`,
//! assertion messages); a build tool would record paths of its own.
//!
//! A build is kept while its command, its files and what is installed in
//! the prefix stay the same (a stamp in its directory holds their hash);
//! only its program is kept.

use super::selection::Spec;
use crate::check::localtests::dune::installed_state;
use crate::context::Context;
use crate::target::Bundle;
use crate::util::fs::{remove_if_present, sha256_hex};
use anyhow::{Context as _, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The stamp of a finished build, in its directory.
const STAMP: &str = ".built";
/// The compiler's output of a failed build, in its directory.
const LOG: &str = "build.log";

pub(crate) struct Builder {
    /// Where each target's builds go: `<root>/<target>/<test>`.
    root: PathBuf,
    testsuite_lib: PathBuf,
    path: OsString,
    findlib_conf: PathBuf,
    installed: String,
}

impl Builder {
    pub(crate) fn new(
        ctx: &Context,
        prefix: &Path,
        root: &Path,
        testsuite_lib: &Path,
    ) -> Result<Self> {
        Ok(Builder {
            root: root.into(),
            testsuite_lib: testsuite_lib.into(),
            path: crate::build::host::user_path(ctx, prefix),
            findlib_conf: crate::build::findlib::main_conf(prefix),
            installed: installed_state(prefix)?,
        })
    }

    /// Builds `spec` for `bundle` (natively without one, with the target's
    /// name `target`). Gives the program, or what the compiler said.
    pub(crate) fn build(
        &self,
        spec: &Spec,
        target: &str,
        bundle: Option<&Bundle>,
    ) -> Result<std::result::Result<PathBuf, String>> {
        let dir = self.root.join(target).join(test_dir(spec));
        let exe_name = format!("{}.exe", spec.module);
        let args = command(spec, bundle, &exe_name);
        let inputs = self.inputs(spec);
        let mut key = format!("{}\n{}\n", self.installed, args.join("\0"));
        for (name, from) in &inputs {
            let text =
                std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
            key.push_str(&format!("{name} {}\n", sha256_hex(&text)));
        }
        let key = sha256_hex(key.as_bytes());
        let exe = dir.join(&exe_name);
        if exe.is_file() && std::fs::read_to_string(dir.join(STAMP)).ok() == Some(key.clone()) {
            return Ok(Ok(exe));
        }
        remove_if_present(&dir)?;
        std::fs::create_dir_all(&dir)?;
        for (name, from) in &inputs {
            std::fs::copy(from, dir.join(name))
                .with_context(|| format!("copying {} for {}", from.display(), spec.id))?;
        }
        let output = duct::cmd("ocamlfind", &args)
            .dir(&dir)
            .env("PATH", &self.path)
            .env("OCAMLFIND_CONF", &self.findlib_conf)
            .stdin_null()
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked()
            .run()
            .context("running ocamlfind (`cargo xtask localbuild` installs it)")?;
        let said = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() || !exe.is_file() {
            std::fs::write(dir.join(LOG), &said)?;
            return Ok(Err(format!(
                "not built: ocamlfind {} (in {})\n{said}",
                args.join(" "),
                dir.display()
            )));
        }
        keep_only(&dir, &exe_name)?;
        std::fs::write(dir.join(STAMP), key)?;
        Ok(Ok(exe))
    }

    /// The files a build reads, as (name in its directory, where from).
    fn inputs(&self, spec: &Spec) -> Vec<(String, PathBuf)> {
        let from_lib = spec
            .testsuite_modules
            .iter()
            .map(|name| (name.clone(), self.testsuite_lib.join(name)));
        let beside = spec
            .modules
            .iter()
            .chain(std::iter::once(&format!("{}.ml", spec.module)))
            .map(|name| (name.clone(), spec.source_dir.join(name)))
            .collect::<Vec<_>>();
        from_lib.chain(beside).collect()
    }
}

/// Removes from a finished build's directory everything but the program:
/// the sources, objects and the unstripped image (`<exe>.dbg`, the
/// driver's, with every library's debug information). Kept, they come to
/// tens of GB over the testsuite's builds for four targets; a failure is
/// reproduced by the command its row prints.
fn keep_only(dir: &Path, exe_name: &str) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name() != exe_name {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

/// Where a test is built, below its target's directory: its id without
/// `.ml` (`parallel/tak`).
fn test_dir(spec: &Spec) -> PathBuf {
    PathBuf::from(spec.id.trim_end_matches(".ml"))
}

/// The arguments of `ocamlfind` that build `spec` into `exe`.
fn command(spec: &Spec, bundle: Option<&Bundle>, exe: &str) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(bundle) = bundle {
        args.push("-toolchain".into());
        args.push(crate::build::ocaml::toolchain_name(bundle.arch));
    }
    args.push("ocamlopt".into());
    if !spec.packages.is_empty() {
        args.push("-package".into());
        args.push(spec.packages.join(","));
        args.push("-linkpkg".into());
    }
    args.extend(spec.flags.iter().cloned());
    args.extend(spec.ocamlopt_flags.iter().cloned());
    if let Some(bundle) = bundle {
        args.push("-cclib".into());
        args.push(format!("-z unikraft-backend={}", bundle.backend_name()));
    }
    args.push("-o".into());
    args.push(exe.into());
    args.extend(source_order(spec));
    args
}

/// The files in the order they are compiled: C stubs, then each OCaml
/// module (its interface first), the testsuite's before the test's own,
/// and the test last.
fn source_order(spec: &Spec) -> Vec<String> {
    let files: Vec<&String> = spec.testsuite_modules.iter().chain(&spec.modules).collect();
    let mut order: Vec<String> = files
        .iter()
        .filter(|f| f.ends_with(".c"))
        .map(|f| f.to_string())
        .collect();
    for file in &files {
        let Some(stem) = file
            .strip_suffix(".ml")
            .or_else(|| file.strip_suffix(".mli"))
        else {
            continue;
        };
        for name in [format!("{stem}.mli"), format!("{stem}.ml")] {
            if files.iter().any(|f| **f == name) && !order.contains(&name) {
                order.push(name);
            }
        }
    }
    order.push(format!("{}.ml", spec.module));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Backend};

    fn spec() -> Spec {
        Spec {
            id: "lib-threads/stubs.ml".into(),
            module: "stubs".into(),
            modules: vec!["helper.ml".into(), "helper.mli".into(), "prims.c".into()],
            testsuite_modules: vec!["testing.mli".into(), "testing.ml".into()],
            packages: vec!["unix".into(), "threads.posix".into()],
            flags: vec!["-g".into(), "-w".into(), "+A".into()],
            ..Spec::default()
        }
    }

    #[test]
    fn interfaces_come_before_their_implementations_and_the_test_last() {
        assert_eq!(
            source_order(&spec()),
            [
                "prims.c",
                "testing.mli",
                "testing.ml",
                "helper.mli",
                "helper.ml",
                "stubs.ml"
            ]
        );
    }

    #[test]
    fn a_unikernel_build_names_the_toolchain_and_the_backend() {
        let bundle = Bundle::new(Backend::Qemu, Arch::Arm64, &[]);
        let args = command(&spec(), Some(&bundle), "stubs.exe");
        let text = args.join(" ");
        assert!(
            text.starts_with(
                "-toolchain unikraft_arm64 ocamlopt -package unix,threads.posix -linkpkg -g -w +A"
            ),
            "{text}"
        );
        assert!(
            args.contains(&"-z unikraft-backend=qemu".to_string()),
            "{text}"
        );
        assert!(text.ends_with(
            "-o stubs.exe prims.c testing.mli testing.ml helper.mli helper.ml stubs.ml"
        ));
        let native = command(&spec(), None, "stubs.exe").join(" ");
        assert!(
            native.starts_with("ocamlopt ") && !native.contains("unikraft"),
            "{native}"
        );
    }
}
