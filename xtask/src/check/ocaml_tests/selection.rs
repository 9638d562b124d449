//! Which testsuite programs run on a unikernel, read from their ocamltest
//! headers through the rules of `tests/ocaml-testsuite/selection.toml`:
//! what each predicate, action, library and variable of a header means
//! here, and the tests left out one by one, each with its reason.
//!
//! A name the rules do not classify is an error, not a silent skip: a new
//! OCaml release that brings one makes someone decide what it means.

use super::header::{self, Statement};
use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rules {
    predicates: Predicates,
    actions: Actions,
    libraries: Libraries,
    variables: Variables,
    /// Test id (`<dir>/<file>.ml` under testsuite/tests) -> why it is left
    /// out though its header asks for nothing we lack.
    excluded: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Predicates {
    /// True for a native program on Unikraft: the path goes on.
    holds: Vec<String>,
    /// False here: the path does not run, for this reason.
    fails: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Actions {
    /// Build with ocamlopt, run, compare with the reference: what we do.
    native: Vec<String>,
    /// The action of another path (bytecode): not ours to run.
    other_path: Vec<String>,
    /// Actions a unikernel program cannot stand in for, with the reason.
    not_applicable: BTreeMap<String, String>,
    /// The actions of a native run that ocamltest replaces with a script
    /// beside the test (`<test>.<action>`, a hook) when there is one.
    hooked: Vec<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Libraries {
    /// `include NAME` -> the findlib packages it means.
    packages: BTreeMap<String, Vec<String>>,
    /// `include NAME` -> modules of testsuite/lib compiled in with the test.
    testsuite_modules: BTreeMap<String, Vec<String>>,
    not_applicable: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Variables {
    /// Variables that change nothing for a native run (comments, bytecode
    /// settings).
    ignored: Vec<String>,
    not_applicable: BTreeMap<String, String>,
}

/// A test to build and run: what its header asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spec {
    /// `<dir>/<file>.ml`, relative to testsuite/tests.
    pub(crate) id: String,
    pub(crate) source_dir: PathBuf,
    /// The test's module name (its file name without `.ml`).
    pub(crate) module: String,
    pub(crate) packages: Vec<String>,
    /// Files of testsuite/lib compiled in (`include testing`).
    pub(crate) testsuite_modules: Vec<String>,
    /// `modules`: further `.ml`, `.mli` and `.c` files beside the test.
    pub(crate) modules: Vec<String>,
    pub(crate) flags: Vec<String>,
    pub(crate) ocamlopt_flags: Vec<String>,
    pub(crate) arguments: Vec<String>,
    /// The program's environment (`set`, and `ocamlrunparam` as
    /// OCAMLRUNPARAM).
    pub(crate) env: Vec<(String, String)>,
    pub(crate) exit_status: u8,
    /// Its expected output; none means none (as ocamltest reads a missing
    /// reference file).
    pub(crate) reference: Option<PathBuf>,
}

/// What the rules make of one test file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    Run(Box<Spec>),
    NotApplicable(String),
}

impl Rules {
    pub(crate) fn load(path: &Path) -> Result<Rules> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Every test of `tests_dir` (testsuite/tests) with a header, in id
    /// order, and what the rules make of it. Fails on a header the rules
    /// cannot classify, and on an `excluded` entry naming no test.
    pub(crate) fn choose_all(&self, tests_dir: &Path) -> Result<Vec<(String, Choice)>> {
        let mut files = Vec::new();
        for dir in sorted_entries(tests_dir)? {
            if !dir.is_dir() {
                continue;
            }
            for entry in sorted_entries(&dir)? {
                if entry.is_dir() {
                    files.extend(sorted_entries(&entry)?);
                } else {
                    files.push(entry);
                }
            }
        }
        let mut chosen = Vec::new();
        let mut problems = Vec::new();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "ml"))
        {
            let id = file.strip_prefix(tests_dir)?.to_string_lossy().into_owned();
            // Some tests are deliberately not UTF-8 (the lexer's tests).
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            match header::parse_file(&text) {
                Ok(None) => {}
                Ok(Some(block)) => match self.choose(&id, file, &block) {
                    Ok(choice) => chosen.push((id, choice)),
                    Err(err) => problems.push(format!("{id}: {err:#}")),
                },
                Err(err) => problems.push(format!("{id}: {err:#}")),
            }
        }
        for id in self.excluded.keys() {
            if !chosen.iter().any(|(chosen_id, _)| chosen_id == id) {
                problems.push(format!("`excluded` names {id}, which has no test header"));
            }
        }
        if !problems.is_empty() {
            bail!(
                "the selection rules do not cover these tests:\n  {}\nhelp: classify the names in tests/ocaml-testsuite/selection.toml",
                problems.join("\n  ")
            );
        }
        Ok(chosen)
    }

    fn choose(&self, id: &str, file: &Path, block: &header::Block) -> Result<Choice> {
        let mut first_reason = None;
        for path in block.paths() {
            match self.read_path(id, file, &path)? {
                PathChoice::Run(spec) => {
                    if let Some(reason) = self.excluded.get(id) {
                        return Ok(Choice::NotApplicable(reason.clone()));
                    }
                    return Ok(Choice::Run(spec));
                }
                PathChoice::NotApplicable(reason) => {
                    first_reason.get_or_insert(reason);
                }
                PathChoice::OtherPath => {}
            }
        }
        Ok(Choice::NotApplicable(first_reason.unwrap_or_else(|| {
            "bytecode only (no native path in its header)".into()
        })))
    }

    fn read_path(&self, id: &str, file: &Path, path: &[&Statement]) -> Result<PathChoice> {
        let source_dir = file.parent().context("a test file without a directory")?;
        let module = file
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a test file name that is not UTF-8")?;
        // ocamltest's default for a program's output, whatever the
        // backend (`.native.reference` files hold the compiler's output).
        let default_reference = source_dir.join(format!("{module}.reference"));
        if let Some(hook) = self
            .actions
            .hooked
            .iter()
            .find(|action| source_dir.join(format!("{module}.{action}")).exists())
        {
            return Ok(PathChoice::NotApplicable(format!(
                "a script beside it (<test>.{hook}), run on the host, replaces ocamltest's `{hook}`"
            )));
        }
        let mut spec = Spec {
            id: id.into(),
            source_dir: source_dir.to_owned(),
            module: module.into(),
            reference: Some(default_reference),
            ..Spec::default()
        };
        let mut ocamlrunparam = String::new();
        for statement in path {
            match statement {
                Statement::Action(name) => {
                    if self.actions.native.contains(name) || self.predicates.holds.contains(name) {
                        continue;
                    }
                    if self.actions.other_path.contains(name) {
                        return Ok(PathChoice::OtherPath);
                    }
                    if let Some(reason) = self
                        .predicates
                        .fails
                        .get(name)
                        .or_else(|| self.actions.not_applicable.get(name))
                    {
                        return Ok(PathChoice::NotApplicable(reason.clone()));
                    }
                    bail!("action or predicate `{name}` is not classified");
                }
                Statement::Include(lib) => {
                    if let Some(packages) = self.libraries.packages.get(lib) {
                        spec.packages.extend(packages.iter().cloned());
                    } else if let Some(modules) = self.libraries.testsuite_modules.get(lib) {
                        spec.testsuite_modules.extend(modules.iter().cloned());
                    } else if let Some(reason) = self.libraries.not_applicable.get(lib) {
                        return Ok(PathChoice::NotApplicable(reason.clone()));
                    } else {
                        bail!("library `{lib}` is not classified");
                    }
                }
                Statement::SetEnv(name, value) => {
                    spec.env.retain(|(n, _)| n != name);
                    spec.env.push((name.clone(), value.clone()));
                }
                Statement::UnsetEnv(name) => spec.env.retain(|(n, _)| n != name),
                Statement::Assign {
                    name,
                    value,
                    append,
                } => {
                    if self.variables.ignored.contains(name) {
                        continue;
                    }
                    if let Some(reason) = self.variables.not_applicable.get(name) {
                        return Ok(PathChoice::NotApplicable(reason.clone()));
                    }
                    if value.contains('$') && name != "reference" {
                        return Ok(PathChoice::NotApplicable(format!(
                            "`{name}` uses ocamltest variables"
                        )));
                    }
                    let words = || value.split_whitespace().map(String::from);
                    let set = |list: &mut Vec<String>| {
                        if !append {
                            list.clear();
                        }
                        list.extend(words());
                    };
                    match name.as_str() {
                        "flags" => set(&mut spec.flags),
                        "ocamlopt_flags" => set(&mut spec.ocamlopt_flags),
                        "modules" => set(&mut spec.modules),
                        "arguments" => set(&mut spec.arguments),
                        "ocamlrunparam" => {
                            if !append {
                                ocamlrunparam.clear();
                            }
                            ocamlrunparam.push_str(value);
                        }
                        "exit_status" => {
                            spec.exit_status = value
                                .trim()
                                .parse()
                                .with_context(|| format!("exit_status {value:?}"))?;
                        }
                        "reference" => {
                            let Some(rest) = value.strip_prefix("${test_source_directory}/") else {
                                return Ok(PathChoice::NotApplicable(
                                    "its reference is not beside it".into(),
                                ));
                            };
                            spec.reference = Some(source_dir.join(rest));
                        }
                        _ => bail!("variable `{name}` is not classified"),
                    }
                }
            }
        }
        spec.reference = spec.reference.filter(|file| file.exists());
        if let Some(other) = spec
            .modules
            .iter()
            .find(|m| ![".ml", ".mli", ".c"].iter().any(|ext| m.ends_with(ext)))
        {
            return Ok(PathChoice::NotApplicable(format!(
                "builds a file of another kind ({other})"
            )));
        }
        if !is_module_name(module) {
            return Ok(PathChoice::NotApplicable(
                "its file name is not a module name".into(),
            ));
        }
        if !ocamlrunparam.is_empty() {
            spec.env.push(("OCAMLRUNPARAM".into(), ocamlrunparam));
        }
        Ok(PathChoice::Run(Box::new(spec)))
    }
}

enum PathChoice {
    Run(Box<Spec>),
    NotApplicable(String),
    OtherPath,
}

fn is_module_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
excluded = { "b/excluded.ml" = "needs fork" }
[predicates]
holds = ["hasunix"]
fails = { tsan = "needs a ThreadSanitizer build" }
[actions]
native = ["native"]
other_path = ["bytecode"]
hooked = ["run"]
not_applicable = { toplevel = "runs the toplevel" }
[libraries]
packages = { unix = ["unix"] }
testsuite_modules = { testing = ["testing.ml"] }
not_applicable = { dynlink = "loads code at run time" }
[variables]
ignored = ["reason"]
not_applicable = { readonly_files = "reads files shipped beside it" }
"#;

    fn testsuite(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn headers_become_specs_or_reasons() {
        let rules: Rules = toml::from_str(RULES).unwrap();
        let dir = testsuite(&[
            ("a/plain.ml", "(* TEST *)\n"),
            ("a/plain.reference", "ok\n"),
            (
                "a/unix.ml",
                "(* TEST\n include unix; hasunix; flags = \"-g\"; ocamlrunparam += \",b=1\";\n set X = \"1\"; arguments = \"a b\";\n { bytecode; } { native; }\n*)\n",
            ),
            ("a/unix.reference", ""),
            ("a/unix.native.reference", ""),
            ("a/top.ml", "(* TEST\n toplevel;\n*)\n"),
            ("a/tsan.ml", "(* TEST\n tsan; native;\n*)\n"),
            ("a/byte.ml", "(* TEST\n bytecode;\n*)\n"),
            ("a/noref.ml", "(* TEST *)\n"),
            ("a/hooked.ml", "(* TEST *)\n"),
            ("a/hooked.run", "#!/bin/sh\n"),
            ("a/nohead.ml", "let () = ()\n"),
            ("b/excluded.ml", "(* TEST *)\n"),
            ("b/excluded.reference", ""),
            ("b/sub/files.ml", "(* TEST\n readonly_files = \"x\";\n*)\n"),
        ]);
        let chosen: BTreeMap<String, Choice> =
            rules.choose_all(dir.path()).unwrap().into_iter().collect();
        assert_eq!(chosen.len(), 9, "{chosen:?}");
        let Choice::Run(plain) = &chosen["a/plain.ml"] else {
            panic!("{:?}", chosen["a/plain.ml"]);
        };
        assert_eq!(plain.module, "plain");
        assert!(plain.packages.is_empty() && plain.env.is_empty());
        let Choice::Run(unix) = &chosen["a/unix.ml"] else {
            panic!();
        };
        assert_eq!(unix.packages, ["unix"]);
        assert_eq!(unix.flags, ["-g"]);
        assert_eq!(unix.arguments, ["a", "b"]);
        assert_eq!(
            unix.env,
            [
                ("X".to_string(), "1".to_string()),
                ("OCAMLRUNPARAM".into(), ",b=1".into())
            ]
        );
        assert!(unix
            .reference
            .as_ref()
            .is_some_and(|file| file.ends_with("a/unix.reference")));
        let reason = |id: &str| match &chosen[id] {
            Choice::NotApplicable(reason) => reason.clone(),
            other => panic!("{id}: {other:?}"),
        };
        assert_eq!(reason("a/top.ml"), "runs the toplevel");
        assert_eq!(reason("a/tsan.ml"), "needs a ThreadSanitizer build");
        assert!(reason("a/byte.ml").starts_with("bytecode only"));
        let Choice::Run(noref) = &chosen["a/noref.ml"] else {
            panic!();
        };
        assert_eq!(noref.reference, None);
        assert_eq!(reason("b/excluded.ml"), "needs fork");
        assert_eq!(
            reason("a/hooked.ml"),
            "a script beside it (<test>.run), run on the host, replaces ocamltest's `run`"
        );
        assert_eq!(reason("b/sub/files.ml"), "reads files shipped beside it");
    }

    #[test]
    fn the_project_s_rules_load() {
        let file =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ocaml-testsuite/selection.toml");
        let rules = Rules::load(&file).unwrap();
        assert!(rules.actions.native.contains(&"native".to_string()));
        assert!(rules.excluded.values().all(|reason| !reason.is_empty()));
    }

    #[test]
    fn unclassified_names_and_stale_exclusions_are_errors() {
        let rules: Rules = toml::from_str(RULES).unwrap();
        let dir = testsuite(&[("a/new.ml", "(* TEST\n frobnicate;\n*)\n")]);
        let err = format!("{:#}", rules.choose_all(dir.path()).unwrap_err());
        assert!(
            err.contains("a/new.ml: action or predicate `frobnicate`"),
            "{err}"
        );
        assert!(err.contains("`excluded` names b/excluded.ml"), "{err}");
    }
}
