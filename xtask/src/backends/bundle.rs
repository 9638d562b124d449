//! What a backend bundle is: one platform, one architecture, a set of
//! options, and the Kconfig fragments that compose its configuration.

use anyhow::{bail, Context as _, Result};
use clap::builder::PossibleValue;
use clap::ValueEnum;
use std::path::Path;

/// Named by the toolchain's list of backends (see [`Backend::target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Backend {
    Qemu,
    Firecracker,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    #[value(name = "arm64", alias = "aarch64")]
    Arm64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuildOption {
    /// Debug symbols, no optimisation, Unikraft's debug messages.
    Debug,
    /// A virtio-9p root filesystem shared with the host (QEMU).
    #[value(name = "9pfs")]
    NinePfs,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Qemu, Backend::Firecracker];

    /// The toolchain's description of this backend: the driver and the
    /// xtask name backends the same way.
    fn target(self) -> ocaml_unikraft_toolchain::backend::Backend {
        match self {
            Backend::Qemu => ocaml_unikraft_toolchain::backend::Backend::Qemu,
            Backend::Firecracker => ocaml_unikraft_toolchain::backend::Backend::Firecracker,
        }
    }

    pub fn name(self) -> &'static str {
        self.target().name()
    }

    /// The platform suffix Unikraft gives images: `<name>_<plat>-<arch>`.
    pub fn image_platform(self) -> &'static str {
        match self {
            Backend::Qemu => "qemu",
            Backend::Firecracker => "fc",
        }
    }
}

/// `--backend` takes the toolchain's names.
impl ValueEnum for Backend {
    fn value_variants<'a>() -> &'a [Self] {
        &Backend::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// The toolchain's own description of this arch.
    fn target(self) -> ocaml_unikraft_toolchain::arch::Arch {
        match self {
            Arch::X86_64 => ocaml_unikraft_toolchain::arch::Arch::X86_64,
            Arch::Arm64 => ocaml_unikraft_toolchain::arch::Arch::Aarch64,
        }
    }

    /// Unikraft's name, used in bundle names.
    pub fn name(self) -> &'static str {
        self.target().uk()
    }

    /// The GNU name, used in tool names (`aarch64-unikraft-ocaml-cc`).
    pub fn gnu_name(self) -> &'static str {
        self.target().std()
    }

    /// `CROSS_COMPILE` for Unikraft: empty when the host runs this arch.
    pub fn cross_prefix(self) -> &'static str {
        self.target().derived_tool_prefix()
    }
}

impl BuildOption {
    pub fn name(self) -> &'static str {
        match self {
            BuildOption::Debug => "debug",
            BuildOption::NinePfs => "9pfs",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bundle {
    pub backend: Backend,
    pub arch: Arch,
    /// Sorted and without duplicates, so names are canonical.
    pub options: Vec<BuildOption>,
}

impl Bundle {
    pub fn new(backend: Backend, arch: Arch, options: &[BuildOption]) -> Bundle {
        let mut options = options.to_vec();
        options.sort();
        options.dedup();
        Bundle {
            backend,
            arch,
            options,
        }
    }

    /// `qemu-x86_64`: the name of the bundle in output and in install paths.
    pub fn name(&self) -> String {
        format!("{}-{}", self.backend.name(), self.arch.name())
    }

    /// `qemu-x86_64-debug-9pfs`: the name of its configuration.
    pub fn config_name(&self) -> String {
        let mut name = self.name();
        for option in &self.options {
            name.push('-');
            name.push_str(option.name());
        }
        name
    }

    /// Directory name under `<prefix>/lib` and `<prefix>/share`.
    pub fn install_name(&self) -> String {
        format!("ocaml-unikraft-backend-{}", self.name())
    }

    /// Fragments in composition order: later ones override earlier ones.
    pub fn fragments(&self) -> Vec<String> {
        let mut names = vec![
            "base".to_owned(),
            format!("arch-{}", self.arch.name()),
            format!("plat-{}", self.backend.name()),
            "lib-musl".to_owned(),
        ];
        names.extend(self.options.iter().map(|o| format!("opt-{}", o.name())));
        names
    }

    /// The configuration fragment for this bundle: the user's file from
    /// `--config-dir` when there is one, else the composed fragments.
    pub fn compose(&self, fragments_dir: &Path, config_dir: Option<&Path>) -> Result<String> {
        if let Some(dir) = config_dir {
            let custom = dir.join(format!("{}.config", self.config_name()));
            if custom.exists() {
                return std::fs::read_to_string(&custom)
                    .with_context(|| format!("reading {}", custom.display()));
            }
        }
        let mut config = String::new();
        for name in self.fragments() {
            let path = fragments_dir.join(format!("{name}.config"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading fragment {}", path.display()))?;
            config.push_str(&text);
            if !text.ends_with('\n') {
                config.push('\n');
            }
        }
        Ok(config)
    }
}

/// Every bundle for the chosen backends, arches and options.
pub fn select(backends: &[Backend], arches: &[Arch], options: &[BuildOption]) -> Vec<Bundle> {
    let backends = if backends.is_empty() {
        &Backend::ALL[..]
    } else {
        backends
    };
    let arches = if arches.is_empty() {
        &Arch::ALL[..]
    } else {
        arches
    };
    let mut bundles = Vec::new();
    for &backend in backends {
        for &arch in arches {
            let bundle = Bundle::new(backend, arch, options);
            if !bundles.contains(&bundle) {
                bundles.push(bundle);
            }
        }
    }
    bundles
}

/// Fails on files in `--config-dir` that name no possible bundle, so a typo
/// does not silently fall back to the composed configuration.
pub fn check_config_dir(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading --config-dir {}", dir.display()))?;
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        if parse_config_name(&name).is_none() {
            bail!(
                "{}: not a bundle configuration name\nhelp: use <backend>-<arch>[-<option>...].config, e.g. qemu-x86_64.config or firecracker-arm64-debug.config (backends: qemu, firecracker; arches: x86_64, arm64; options: debug, 9pfs)",
                dir.join(&name).display()
            );
        }
    }
    Ok(())
}

fn parse_config_name(file: &str) -> Option<Bundle> {
    let stem = file.strip_suffix(".config")?;
    let mut parts = stem.splitn(2, '-');
    let backend = Backend::from_str(parts.next()?, false).ok()?;
    let rest = parts.next()?;
    let (arch, options) = Arch::ALL.iter().find_map(|&arch| {
        let tail = rest.strip_prefix(arch.name())?;
        (tail.is_empty() || tail.starts_with('-')).then_some((arch, tail))
    })?;
    let options = options
        .split('-')
        .filter(|o| !o.is_empty())
        .map(|o| BuildOption::from_str(o, false).ok())
        .collect::<Option<Vec<_>>>()?;
    let bundle = Bundle::new(backend, arch, &options);
    (bundle.config_name() == stem).then_some(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_the_toolchains() {
        // A backend the driver knows but localbuild cannot build would be
        // suggested by the driver's help and then refused here.
        assert_eq!(
            Backend::ALL.map(Backend::target),
            ocaml_unikraft_toolchain::backend::Backend::ALL
        );
        for backend in Backend::ALL {
            assert_eq!(Backend::from_str(backend.name(), false), Ok(backend));
        }
    }

    #[test]
    fn default_selection_is_every_backend_and_arch() {
        let names: Vec<_> = select(&[], &[], &[])
            .iter()
            .map(Bundle::config_name)
            .collect();
        assert_eq!(
            names,
            [
                "qemu-x86_64",
                "qemu-arm64",
                "firecracker-x86_64",
                "firecracker-arm64"
            ]
        );
        let debug: Vec<_> = select(
            &[Backend::Qemu],
            &[Arch::Arm64],
            &[BuildOption::NinePfs, BuildOption::Debug],
        )
        .iter()
        .map(Bundle::config_name)
        .collect();
        assert_eq!(debug, ["qemu-arm64-debug-9pfs"]);
    }

    #[test]
    fn fragments_compose_in_order_and_config_dir_replaces_them() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["base", "arch-x86_64", "plat-qemu", "lib-musl", "opt-debug"] {
            std::fs::write(
                dir.path().join(format!("{name}.config")),
                format!("# {name}\n"),
            )
            .unwrap();
        }
        let bundle = Bundle::new(Backend::Qemu, Arch::X86_64, &[BuildOption::Debug]);
        assert_eq!(
            bundle.compose(dir.path(), None).unwrap(),
            "# base\n# arch-x86_64\n# plat-qemu\n# lib-musl\n# opt-debug\n"
        );
        let custom = tempfile::tempdir().unwrap();
        std::fs::write(
            custom.path().join("qemu-x86_64-debug.config"),
            "CONFIG_X=y\n",
        )
        .unwrap();
        assert_eq!(
            bundle.compose(dir.path(), Some(custom.path())).unwrap(),
            "CONFIG_X=y\n"
        );
        check_config_dir(custom.path()).unwrap();
    }

    #[test]
    fn unknown_config_names_are_rejected() {
        for bad in [
            "qemu-x86.config",
            "qemu-x86_64-fast.config",
            "kvm-arm64.config",
            "qemu-x86_64-9pfs-debug.config",
            "notes.txt",
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(bad), "").unwrap();
            let err = check_config_dir(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains("not a bundle configuration name"),
                "{bad}: {err}"
            );
        }
        for good in ["firecracker-arm64.config", "qemu-x86_64-debug-9pfs.config"] {
            assert!(parse_config_name(good).is_some(), "{good}");
        }
    }
}
