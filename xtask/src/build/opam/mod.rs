//! `cargo xtask install --prefix DIR --opam`: the toolchain installed into
//! the opam switch whose prefix is DIR, as opam packages of that switch.
//!
//! MirageOS's unikraft targets make `make depend` ask the switch for opam
//! packages (`ocaml-unikraft`, `ocaml-unikraft-backend-qemu`, FACTS §9).
//! Here opam itself installs our files, so that it knows which package owns
//! each and `opam remove` takes them away:
//!
//! 1. localbuild installs into a staging copy of the prefix in the build
//!    tree, `<build>/opam/<id>/prefix` ([`Dest::staged`]), the files
//!    naming the switch's prefix (`<id>` is a digest of that prefix);
//! 2. a local opam repository beside it, `<build>/opam/<id>/repo`, holds
//!    one package per installed part ([`packages`]), whose `install:` copies
//!    that part from the staging copy into the switch; opam records what an
//!    `install:` adds to the prefix (`opam show --list-files`) and `opam
//!    remove` deletes exactly that;
//! 3. the repository is added to that switch only (named
//!    `ocaml-unikraft-<id>`), and `opam install` installs every package at
//!    the version its files' digest gives it: a run where nothing changed
//!    finds them installed and asks opam nothing; a rebuilt part gets a new
//!    version, and opam replaces it (and what depends on it).
//!
//! The switch's own files are never written by us: not its
//! `lib/findlib.conf` (the toolchains go into `lib/findlib.conf.d/`), not
//! its packages. Files of ours that an install without `--opam` left in the
//! prefix, which opam does not know, are deleted before opam copies its
//! own. The switch's OCaml must be of the cross compilers' series (an
//! empty switch will do): checked before anything is built, and declared
//! as a conflict of `ocaml-unikraft` for opam to keep it so.

mod packages;

use crate::build::dest::Dest;
use crate::build::findlib::{self, MainConf};
use crate::build::localbuild;
use crate::cli::InstallOpts;
use crate::context::Context;
use crate::util::cmd::Cmd;
use crate::util::fs;
use crate::util::progress;
use anyhow::{bail, Context as _, Result};
use packages::Package;
use std::path::{Path, PathBuf};

pub(crate) fn install(ctx: &Context, opts: &InstallOpts) -> Result<()> {
    let given = ctx.prefix(opts.build.prefix.as_deref())?;
    let prefix = std::fs::canonicalize(&given).with_context(|| {
        format!(
            "reading the opam switch prefix {}\nhelp: create the switch first (`opam switch create NAME --empty`)",
            given.display()
        )
    })?;
    let opam = Opam::of_prefix(ctx, &prefix)?;
    let ocaml = ocaml_release(ctx)?;
    let installed = opam.installed()?;
    packages::check_switch_ocaml(&opam.switch, installed_version(&installed, "ocaml"), &ocaml)?;
    progress::say(
        "opam",
        &format!(
            "installing into opam switch {} ({})",
            opam.switch,
            prefix.display()
        ),
    );

    let work = opam_dir(ctx, &prefix);
    let dest = Dest::staged(&prefix, &work.join("prefix"));
    let built = localbuild::build(ctx, &opts.build, &dest)?;

    let default = findlib::current_default(&dest);
    let packages = packages::plan(dest.root(), default)?;
    packages::check_covered(dest.root(), &packages)?;
    let mut wanted = Vec::new();
    for package in &packages {
        wanted.push((
            package.name.clone(),
            packages::version(&packages::digest(dest.root(), package)?),
        ));
    }
    let origin = packages::Origin {
        root: dest.root(),
        repo: &ctx.root,
        ocaml: &ocaml,
    };
    let repo = work.join("repo");
    write_repository(&repo, &packages, &wanted, &origin)?;

    let plan = Plan::new(&installed, &wanted);
    if plan.is_empty() {
        progress::say(
            "opam",
            &format!("the packages of switch {} are up to date", opam.switch),
        );
    } else {
        opam.register(&repository_name(&prefix), &repo)?;
        if !plan.stale.is_empty() {
            opam.run(&["remove", "--yes"], &plan.stale)?;
        }
        remove_untracked(&prefix, &packages, &installed)?;
        let specs: Vec<String> = plan
            .install
            .iter()
            .map(|(n, v)| format!("{n}.{v}"))
            .collect();
        opam.run(&["install", "--yes"], &specs)?;
        let now = opam.installed()?;
        if !Plan::new(&now, &wanted).is_empty() {
            bail!(
                "opam switch {} does not have the packages just installed\nhelp: the log is {}",
                opam.switch,
                opam.log.display()
            );
        }
        progress::say(
            "opam",
            &format!(
                "switch {} has {} packages of ours: {}",
                opam.switch,
                wanted.len(),
                wanted
                    .iter()
                    .map(|(n, v)| format!("{n} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    progress::say(
        "opam",
        &format!(
            "`opam remove --switch {} {}` removes them all; to use the toolchain:",
            opam.switch,
            packages::BASE
        ),
    );
    for line in findlib::usage(&prefix, MainConf::Foreign, built.host_bin.as_deref()) {
        println!("{line}");
    }
    Ok(())
}

/// Where files for `prefix` are written: its staging copy when `install
/// --opam` made one for it (an opam switch's), else the prefix.
pub(crate) fn dest_of(ctx: &Context, prefix: &Path) -> Dest {
    if let Ok(prefix) = std::fs::canonicalize(prefix) {
        let root = opam_dir(ctx, &prefix).join("prefix");
        if root.is_dir() && prefix.join(".opam-switch").is_dir() {
            return Dest::staged(&prefix, &root);
        }
    }
    Dest::direct(prefix)
}

/// `<build>/opam/<id>`: the staging copy and the repository of one prefix.
fn opam_dir(ctx: &Context, prefix: &Path) -> PathBuf {
    ctx.build_dir.join("opam").join(prefix_id(prefix))
}

fn prefix_id(prefix: &Path) -> String {
    fs::sha256_hex(prefix.as_os_str().as_encoded_bytes())[..12].to_string()
}

/// The repository's name in the opam root: one per prefix.
fn repository_name(prefix: &Path) -> String {
    format!("ocaml-unikraft-{}", prefix_id(prefix))
}

/// The OCaml release of the cross compilers: the pinned one.
fn ocaml_release(ctx: &Context) -> Result<String> {
    let sources = crate::build::sources::selected(ctx, &Default::default())?;
    sources
        .iter()
        .find(|s| s.name == "ocaml")
        .map(|s| s.version.clone())
        .context("sources.toml has no 'ocaml'")
}

fn installed_version<'a>(installed: &'a [(String, String)], name: &str) -> Option<&'a str> {
    installed
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// What opam must do to go from the packages installed to the ones wanted.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    /// Installed packages of ours no longer wanted (the default arch of
    /// before).
    stale: Vec<String>,
    /// Wanted packages not installed at their version.
    install: Vec<(String, String)>,
}

impl Plan {
    fn new(installed: &[(String, String)], wanted: &[(String, String)]) -> Plan {
        let ours = |(name, version): &(String, String)| {
            name.starts_with(packages::BASE) && version.contains(packages::VERSION_MARK)
        };
        Plan {
            stale: installed
                .iter()
                .filter(|p| ours(p) && !wanted.iter().any(|(n, _)| *n == p.0))
                .map(|(n, _)| n.clone())
                .collect(),
            install: wanted
                .iter()
                .filter(|p| !installed.contains(p))
                .cloned()
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.stale.is_empty() && self.install.is_empty()
    }
}

/// Writes the repository afresh: the current version of every package.
fn write_repository(
    repo: &Path,
    packages: &[Package],
    wanted: &[(String, String)],
    origin: &packages::Origin,
) -> Result<()> {
    let tmp = repo.with_extension("tmp");
    fs::remove_if_present(&tmp)?;
    for (package, (name, version)) in packages.iter().zip(wanted) {
        let file = tmp
            .join("packages")
            .join(name)
            .join(format!("{name}.{version}"))
            .join("opam");
        fs::create_parent(&file)?;
        std::fs::write(&file, packages::opam_file(package, origin)?)
            .with_context(|| format!("writing {}", file.display()))?;
    }
    std::fs::write(tmp.join("repo"), "opam-version: \"2.0\"\n")
        .with_context(|| format!("writing {}", tmp.join("repo").display()))?;
    fs::remove_if_present(repo)?;
    std::fs::rename(&tmp, repo).with_context(|| format!("writing {}", repo.display()))
}

/// Deletes the files of our packages that opam does not know: those an
/// install without `--opam` put there, which opam's copy would otherwise
/// overwrite without owning them.
fn remove_untracked(
    prefix: &Path,
    packages: &[Package],
    installed: &[(String, String)],
) -> Result<()> {
    for package in packages {
        if installed_version(installed, &package.name).is_some() {
            continue;
        }
        for owned in &package.owns {
            let path = prefix.join(owned);
            if std::fs::symlink_metadata(&path).is_ok() {
                progress::say(
                    "opam",
                    &format!(
                        "removing {}: an install without --opam left it, and opam will own it",
                        path.display()
                    ),
                );
                fs::remove_if_present(&path)?;
            }
        }
    }
    Ok(())
}

/// The opam on `PATH`, acting on one switch (`OPAMROOT` as the user set it).
struct Opam {
    switch: String,
    verbose: bool,
    /// Where the output of the commands that change the switch goes.
    log: PathBuf,
}

impl Opam {
    /// The switch whose prefix is `prefix`.
    fn of_prefix(ctx: &Context, prefix: &Path) -> Result<Opam> {
        if ocaml_unikraft_toolchain::which::on_path("opam").is_none() {
            bail!("opam is not on PATH\nhelp: install opam 2.1 or later (`apt-get install opam`), or leave out --opam");
        }
        let read = |args: &[&str]| Cmd::new("opam").args(args).read(ctx.verbose);
        let switches = read(&["switch", "list", "--short"])?;
        let found = switch_names(prefix)
            .into_iter()
            .filter(|name| switches.lines().any(|line| line.trim() == name))
            .find(|name| {
                read(&["var", "prefix", "--switch", name])
                    .is_ok_and(|p| std::fs::canonicalize(p.trim()).is_ok_and(|p| p == prefix))
            });
        let Some(switch) = found else {
            bail!(
                "{} is the prefix of no opam switch (opam root: $OPAMROOT, else ~/.opam)\nhelp: create one (`opam switch create NAME --empty`) and give its prefix (`opam var prefix --switch NAME`)",
                prefix.display()
            );
        };
        Ok(Opam {
            switch: switch.to_string(),
            verbose: ctx.verbose,
            log: ctx.log_dir().join("opam.log"),
        })
    }

    fn command(&self, args: &[&str]) -> Cmd {
        Cmd::new("opam")
            .args(args)
            .args(["--switch", &self.switch, "--color=never"])
    }

    /// The switch's installed packages, as (name, version).
    fn installed(&self) -> Result<Vec<(String, String)>> {
        let text = self
            .command(&["list", "--installed", "--short", "--columns=name,version"])
            .read(self.verbose)
            .with_context(|| format!("listing the packages of opam switch {}", self.switch))?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                Some((words.next()?.to_string(), words.next()?.to_string()))
            })
            .collect())
    }

    /// Adds the repository `repo` under `name` to the switch, or has opam
    /// read it again.
    fn register(&self, name: &str, repo: &Path) -> Result<()> {
        let repos = self
            .command(&["repository", "list", "--short"])
            .read(self.verbose)
            .with_context(|| format!("listing the repositories of opam switch {}", self.switch))?;
        if repos.lines().any(|line| line.trim() == name) {
            self.run(&["update"], &[name.to_string()])
        } else {
            let repo = repo.display().to_string();
            self.run(
                &["repository", "add", "--this-switch", "--yes"],
                &[name.to_string(), repo],
            )
        }
    }

    /// Runs an opam command that changes the switch, its output in the log.
    fn run(&self, args: &[&str], operands: &[String]) -> Result<()> {
        let cmd = self.command(args).args(operands);
        progress::say("opam", &cmd.display());
        cmd.run_timed(&self.log, self.verbose)
            .map(drop)
            .with_context(|| format!("changing opam switch {}", self.switch))
    }
}

/// The names a switch whose prefix is `prefix` can have: a local switch
/// (a directory's, named by its path) has its prefix in `<dir>/_opam`, a
/// switch of the opam root in `<root>/<name>`.
fn switch_names(prefix: &Path) -> Vec<String> {
    let mut names = Vec::new();
    if prefix.file_name().is_some_and(|name| name == "_opam") {
        names.extend(prefix.parent().map(|dir| dir.display().to_string()));
    }
    names.extend(
        prefix
            .file_name()
            .map(|name| name.to_string_lossy().into_owned()),
    );
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn switches_live_in_the_root_or_in_a_projects_opam_directory() {
        assert_eq!(switch_names(Path::new("/r/default")), ["default"]);
        assert_eq!(
            switch_names(Path::new("/src/app/_opam")),
            ["/src/app", "_opam"]
        );
    }

    #[test]
    fn the_plan_installs_what_changed_and_removes_only_our_stale_packages() {
        let installed = pairs(&[
            ("ocaml", "5.4.1"),
            ("ocaml-unikraft", "1.0.0+xtask.aaa"),
            ("ocaml-unikraft-x86_64", "1.0.0+xtask.bbb"),
            ("ocaml-unikraft-default-x86_64", "1.0.0+xtask.ccc"),
            ("ocaml-unikraft-solo5", "1.0.0"),
        ]);
        let wanted = pairs(&[
            ("ocaml-unikraft", "1.0.0+xtask.aaa"),
            ("ocaml-unikraft-x86_64", "1.0.0+xtask.ddd"),
            ("ocaml-unikraft-default-arm64", "1.0.0+xtask.eee"),
        ]);
        let plan = Plan::new(&installed, &wanted);
        assert_eq!(plan.stale, ["ocaml-unikraft-default-x86_64"]);
        assert_eq!(plan.install, wanted[1..]);
        assert!(Plan::new(&installed[..3], &installed[1..3]).is_empty());
    }

    #[test]
    fn a_repository_holds_one_opam_file_per_package_version() {
        let dir = tempfile::tempdir().unwrap();
        let packages = vec![Package {
            name: "ocaml-unikraft".into(),
            synopsis: "s".into(),
            owns: vec![PathBuf::from("bin/ocaml-unikraft-run")],
            creates: Vec::new(),
            depends: Vec::new(),
            conflict_class: None,
        }];
        let origin = packages::Origin {
            root: Path::new("/stage"),
            repo: Path::new("/src"),
            ocaml: "5.4.1",
        };
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join("packages/stale")).unwrap();
        write_repository(
            &repo,
            &packages,
            &pairs(&[("ocaml-unikraft", "1.0.0+xtask.a")]),
            &origin,
        )
        .unwrap();
        let files = fs::files_below(&repo).unwrap();
        assert_eq!(
            files,
            [
                "packages/ocaml-unikraft/ocaml-unikraft.1.0.0+xtask.a/opam",
                "repo"
            ]
            .map(PathBuf::from)
        );
    }
}
