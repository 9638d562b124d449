//! The `mirage` tool, built from the host duniverse with the host OCaml and
//! dune and installed with its libraries into `<mirage>/host/prefix`: its
//! generated `config.exe` links the `mirage` library, so `mirage
//! configure` needs them on `OCAMLPATH`.

use super::Tools;
use crate::util::cmd::Cmd;
use crate::util::step::{BuildStep, Stamp, StepResult, Urgency};
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// Where the tool is installed.
pub(crate) fn prefix(root: &Path) -> PathBuf {
    root.join("prefix")
}

/// Builds and installs the tool from the dune project `root` (its
/// `duniverse` made beforehand), unless the stamp says the installed one
/// was built from `inputs` (the host sources' pins and overlays, and the
/// host compiler and dune versions) with the same commands.
pub(crate) fn ensure(
    root: &Path,
    log_dir: &Path,
    packages: &[String],
    inputs: String,
    tools: &Tools,
) -> Result<StepResult> {
    let prefix = prefix(root);
    let packages = packages.join(",");
    // -p: the release build of these packages, rooted in the directory.
    let dune = |verb: &str| Cmd::new("dune").arg(verb).args(["-p", &packages]).dir(root);
    let recipe = [
        dune("build").arg("@install"),
        dune("install").arg("--prefix").arg(&prefix),
    ];
    let step = BuildStep {
        name: "mirage-tool".into(),
        stamp: Stamp::new(root.join("stamp")),
        log: log_dir.join("mirage-tool.log"),
        inputs,
        recipe: &recipe,
        output: Some(prefix.join("bin/mirage")),
        // The only step of its run.
        urgency: Urgency::Normal,
        cache: None,
    };
    let jobserver = jobserver::Client::new(1).context("creating a jobserver")?;
    step.run(log_dir, &jobserver, None, |log| {
        crate::util::fs::remove_if_present(&prefix)?;
        let [build, install] = &recipe;
        // -j is not in the recipe: it changes no output.
        for cmd in [
            build.clone().arg(format!("-j{}", tools.jobs)),
            install.clone(),
        ] {
            tools
                .env(cmd)
                .run_build(log, tools.verbose, &jobserver, None)?;
        }
        Ok(())
    })
    .context("building the mirage tool")
}
