//! The dune project the selected tests are built in: one directory per
//! test, holding copies of its files and a `dune` file that builds it as
//! ocamltest would (its flags, libraries, C stubs; no flag of dune's own,
//! and modules under their own names, as `__MODULE__` and backtraces show).

use super::selection::Spec;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// Where a test's files and executable go, relative to the project:
/// its id without `.ml` (`parallel/tak`).
pub(crate) fn test_dir(spec: &Spec) -> PathBuf {
    PathBuf::from(spec.id.trim_end_matches(".ml"))
}

/// Writes the project for `specs` into `project` (emptied first);
/// `testsuite_lib` is testsuite/lib of the OCaml source.
pub(crate) fn write(project: &Path, specs: &[&Spec], testsuite_lib: &Path) -> Result<()> {
    crate::util::fs::remove_if_present(project)?;
    std::fs::create_dir_all(project)?;
    std::fs::write(
        project.join("dune-project"),
        "(lang dune 3.18)\n(wrapped_executables false)\n",
    )?;
    for spec in specs {
        let dir = project.join(test_dir(spec));
        std::fs::create_dir_all(&dir)?;
        let copy = |from: &Path, name: &str| {
            std::fs::copy(from.join(name), dir.join(name))
                .with_context(|| format!("copying {name} of {}", spec.id))
                .map(drop)
        };
        copy(&spec.source_dir, &format!("{}.ml", spec.module))?;
        for file in &spec.modules {
            copy(&spec.source_dir, file)?;
        }
        for file in &spec.testsuite_modules {
            copy(testsuite_lib, file)?;
        }
        std::fs::write(dir.join("dune"), stanza(spec))?;
    }
    Ok(())
}

/// The `executable` stanza of one test.
fn stanza(spec: &Spec) -> String {
    let stem = |file: &String| {
        file.rsplit_once('.')
            .map_or(file.clone(), |(s, _)| s.into())
    };
    let with_ext = |ext: &str| -> Vec<String> {
        spec.modules
            .iter()
            .chain(&spec.testsuite_modules)
            .filter(|f| f.ends_with(ext))
            .map(stem)
            .collect()
    };
    let mut modules = vec![spec.module.clone()];
    for module in with_ext(".ml").into_iter().chain(with_ext(".mli")) {
        if !modules.contains(&module) {
            modules.push(module);
        }
    }
    let mut text = format!(
        "(executable\n (name {})\n (modules {})\n (flags ({}))\n (ocamlopt_flags ({}))",
        spec.module,
        modules.join(" "),
        quoted(&spec.flags),
        quoted(&spec.ocamlopt_flags)
    );
    if !spec.packages.is_empty() {
        text.push_str(&format!("\n (libraries {})", spec.packages.join(" ")));
    }
    let stubs = with_ext(".c");
    if !stubs.is_empty() {
        text.push_str(&format!(
            "\n (foreign_stubs (language c) (names {}))",
            stubs.join(" ")
        ));
    }
    text.push_str(")\n");
    text
}

/// Dune string atoms, escaped.
fn quoted(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stanza_builds_the_test_as_its_header_says() {
        let spec = Spec {
            id: "lib-threads/stubs.ml".into(),
            module: "stubs".into(),
            modules: vec!["helper.ml".into(), "helper.mli".into(), "prims.c".into()],
            testsuite_modules: vec!["testing.mli".into(), "testing.ml".into()],
            packages: vec!["threads.posix".into()],
            flags: vec!["-g".into(), "-w".into(), "+A".into()],
            ..Spec::default()
        };
        assert_eq!(test_dir(&spec), Path::new("lib-threads/stubs"));
        assert_eq!(
            stanza(&spec),
            "(executable\n (name stubs)\n (modules stubs helper testing)\n \
             (flags (\"-g\" \"-w\" \"+A\"))\n (ocamlopt_flags ())\n \
             (libraries threads.posix)\n (foreign_stubs (language c) (names prims)))\n"
        );
    }

    #[test]
    fn the_project_holds_copies_of_each_test_s_files() {
        let source = tempfile::tempdir().unwrap();
        std::fs::write(source.path().join("t.ml"), "let () = print_string \"x\"").unwrap();
        std::fs::write(source.path().join("m.ml"), "").unwrap();
        let spec = Spec {
            id: "basic/t.ml".into(),
            source_dir: source.path().into(),
            module: "t".into(),
            modules: vec!["m.ml".into()],
            ..Spec::default()
        };
        let project = tempfile::tempdir().unwrap();
        let root = project.path().join("p");
        write(&root, &[&spec], source.path()).unwrap();
        assert!(std::fs::read_to_string(root.join("dune-project"))
            .unwrap()
            .contains("(wrapped_executables false)"));
        for file in ["t.ml", "m.ml", "dune"] {
            assert!(root.join("basic/t").join(file).is_file(), "{file}");
        }
    }
}
