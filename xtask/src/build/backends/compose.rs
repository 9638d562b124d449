//! A bundle's Kconfig: the fragments of `backends/fragments/` composed in
//! order, or the user's own file from `--config-dir`.

use crate::target::{Arch, Backend, BuildOption, Bundle};
use anyhow::{bail, Context as _, Result};
use clap::ValueEnum;
use std::path::Path;

/// Fragments in composition order: later ones override earlier ones.
pub(crate) fn fragments(bundle: &Bundle) -> Vec<String> {
    let mut names = vec![
        "base".to_owned(),
        format!("arch-{}", bundle.arch.unikraft()),
        format!("plat-{}", bundle.backend.name()),
        "lib-musl".to_owned(),
    ];
    names.extend(bundle.options.iter().map(|o| format!("opt-{}", o.name())));
    names
}

/// The configuration of `bundle`: the user's file from `--config-dir` when
/// there is one, else the composed fragments.
pub(crate) fn compose(
    bundle: &Bundle,
    fragments_dir: &Path,
    config_dir: Option<&Path>,
) -> Result<String> {
    if let Some(dir) = config_dir {
        let custom = dir.join(format!("{}.config", bundle.config_name()));
        if custom.exists() {
            return std::fs::read_to_string(&custom)
                .with_context(|| format!("reading {}", custom.display()));
        }
    }
    let mut config = String::new();
    for name in fragments(bundle) {
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

/// Fails on files in `--config-dir` that name no possible bundle, so a typo
/// does not silently fall back to the composed configuration.
pub(crate) fn check_config_dir(dir: &Path) -> Result<()> {
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
        let tail = rest.strip_prefix(arch.unikraft())?;
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
            compose(&bundle, dir.path(), None).unwrap(),
            "# base\n# arch-x86_64\n# plat-qemu\n# lib-musl\n# opt-debug\n"
        );
        let custom = tempfile::tempdir().unwrap();
        std::fs::write(
            custom.path().join("qemu-x86_64-debug.config"),
            "CONFIG_X=y\n",
        )
        .unwrap();
        assert_eq!(
            compose(&bundle, dir.path(), Some(custom.path())).unwrap(),
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
