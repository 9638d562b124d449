//! A bundle's Kconfig: the fragments of `backends/fragments/` composed in
//! order, or the user's own file from `--config-dir`.

use crate::target::Bundle;
use anyhow::{bail, Context as _, Result};
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
        let custom = dir.join(format!("{}.config", bundle.name()));
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
        if name
            .strip_suffix(".config")
            .and_then(Bundle::from_name)
            .is_none()
        {
            bail!(
                "{}: not a bundle configuration name\nhelp: use <backend>[-<option>...]-<arch>.config, e.g. qemu-x86_64.config or firecracker-debug-arm64.config (backends: qemu, firecracker; options in this order: debug, 9pfs; arches: x86_64, arm64)",
                dir.join(&name).display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{Arch, Backend, BuildOption};

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
            custom.path().join("qemu-debug-x86_64.config"),
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
            "qemu-x86_64-debug.config",
            "qemu-9pfs-debug-x86_64.config",
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
        let dir = tempfile::tempdir().unwrap();
        for good in ["firecracker-arm64.config", "qemu-debug-9pfs-x86_64.config"] {
            std::fs::write(dir.path().join(good), "").unwrap();
        }
        check_config_dir(dir.path()).unwrap();
    }
}
