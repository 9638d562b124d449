//! The installed backends of the driver's arch in its prefix: which ones,
//! the default one, and their descriptors (where each file lies is
//! [`ocaml_unikraft_toolchain::layout`]).

use crate::error::Error;
use crate::expand::Loaded;
use crate::name::Arch;
use ocaml_unikraft_toolchain::backend::{Backend, BuildOption, Variant};
use ocaml_unikraft_toolchain::layout;
use std::io;
use std::path::{Path, PathBuf};

/// Overrides the prefix found from the executable's location (for tests).
pub const PREFIX_ENV: &str = "OCAML_UNIKRAFT_PREFIX";

#[derive(Debug, Clone)]
pub struct Backends {
    pub prefix: PathBuf,
    pub arch: Arch,
}

/// A backend name is one path component of plain characters, so that a
/// `-z unikraft-backend=../x` cannot reach outside the prefix.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The backends localbuild builds, and how their variants are named.
fn known_backends() -> String {
    format!(
        "{}, and their variants named <backend>-<option>... with options {} in that order (e.g. qemu-9pfs)",
        Backend::ALL.map(Backend::name).join(", "),
        BuildOption::ALL.map(BuildOption::name).join(", ")
    )
}

/// The localbuild options that build `variant` for `arch`.
fn build_command(variant: &Variant, arch: &str) -> String {
    let mut command = format!(
        "cargo xtask localbuild --backend {} --arch {arch}",
        variant.backend.name()
    );
    for option in &variant.options {
        command.push_str(&format!(" --option {}", option.name()));
    }
    command
}

impl Backends {
    /// `$OCAML_UNIKRAFT_PREFIX`, or the parent of the directory holding the
    /// executable, so a moved prefix keeps working.
    pub fn locate(arch: Arch) -> Result<Backends, Error> {
        if let Some(p) = std::env::var_os(PREFIX_ENV).filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            // `${bundle}` must be absolute: the compiler may run elsewhere.
            let prefix = if p.is_absolute() {
                p
            } else {
                std::env::current_dir()
                    .map_err(|e| Error::config(format!("cannot read the current directory: {e}")))?
                    .join(p)
            };
            return Ok(Backends { prefix, arch });
        }
        // On Linux this reads /proc/self/exe, which already has symlinks
        // resolved; a hard link keeps the name it was run by.
        let exe = std::env::current_exe()
            .map_err(|e| Error::config(format!("cannot find the driver's own path: {e}")))?;
        let prefix = exe.parent().and_then(Path::parent).ok_or_else(|| {
            Error::config(format!("cannot find the prefix above {}", exe.display()))
        })?;
        Ok(Backends {
            prefix: prefix.to_owned(),
            arch,
        })
    }

    fn bundle_name(&self, backend: &str) -> String {
        layout::bundle_dir_name(backend, self.arch)
    }

    pub fn bundle_dir(&self, backend: &str) -> PathBuf {
        self.prefix.join("lib").join(self.bundle_name(backend))
    }

    pub fn descriptor_path(&self, backend: &str) -> PathBuf {
        self.prefix
            .join("share")
            .join(self.bundle_name(backend))
            .join(layout::DESCRIPTOR_FILE)
    }

    pub fn default_file(&self) -> PathBuf {
        self.prefix.join(layout::default_backend_file(self.arch))
    }

    /// Backends with a descriptor directory for this arch, sorted.
    pub fn installed(&self) -> Result<Vec<String>, Error> {
        let share = self.prefix.join("share");
        let entries = match std::fs::read_dir(&share) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::config(format!(
                    "cannot read {}: {e}",
                    share.display()
                )))
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| {
                let backend = layout::backend_of_bundle_dir(&n, self.arch)?;
                valid_name(backend).then(|| backend.to_owned())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// What to do about a missing `backend`: build it, when localbuild
    /// knows it (a backend or one of its variants: suggesting `--backend`
    /// with any other name would only fail again); else pick a backend
    /// that exists.
    fn install_help(&self, backend: &str, installed: &[String]) -> String {
        let arch = self.arch.unikraft();
        if let Some(variant) = Variant::from_name(backend) {
            format!(
                "select an installed one with -z unikraft-backend=NAME, or build it with `{}`",
                build_command(&variant, arch)
            )
        } else if installed.is_empty() {
            format!(
                "the backends are {}; build them with `cargo xtask localbuild --arch {arch}`",
                known_backends()
            )
        } else {
            format!(
                "the backends are {}; select an installed one with -z unikraft-backend=NAME",
                known_backends()
            )
        }
    }

    pub fn not_installed(&self, backend: &str, installed: &[String]) -> Error {
        let message = if Variant::from_name(backend).is_some() {
            format!(
                "backend '{backend}' is not installed for {}; installed: {}",
                self.arch.gnu(),
                list(installed)
            )
        } else {
            format!(
                "unknown backend '{backend}'; installed for {}: {}",
                self.arch.gnu(),
                list(installed)
            )
        };
        Error::config(message).with_help(self.install_help(backend, installed))
    }

    /// The backend used when the caller names none: the only one installed,
    /// else the one named in the `default-backend` file.
    pub fn default_backend(&self) -> Result<String, Error> {
        let mut installed = self.installed()?;
        if installed.len() == 1 {
            return Ok(installed.remove(0));
        }
        let file = self.default_file();
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let name = text.trim();
                if installed.iter().any(|b| b == name) {
                    Ok(name.to_owned())
                } else {
                    Err(Error::config(format!(
                        "the default backend '{name}' (from {}) is not installed for {}; \
                         installed: {}",
                        file.display(),
                        self.arch.gnu(),
                        list(&installed)
                    ))
                    .with_help(format!(
                        "write an installed backend's name to {}",
                        file.display()
                    )))
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && installed.is_empty() => {
                Err(Error::config(format!(
                    "no backend is installed for {} under {}",
                    self.arch.gnu(),
                    self.prefix.display()
                ))
                .with_help(format!(
                    "build one with `cargo xtask localbuild --arch {}`",
                    self.arch.unikraft()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::config(format!(
                "no default backend for {}; installed: {}",
                self.arch.gnu(),
                list(&installed)
            ))
            .with_help(format!(
                "select one with -z unikraft-backend=NAME, or write its name to {}",
                file.display()
            ))),
            Err(e) => Err(Error::config(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }

    /// Read a backend's descriptor. A missing descriptor directory means
    /// "not installed"; anything else wrong names the file.
    pub fn load(&self, backend: &str) -> Result<Loaded, Error> {
        if !valid_name(backend) {
            return Err(self.not_installed(backend, &self.installed()?));
        }
        let path = self.descriptor_path(backend);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let installed = self.installed()?;
                if !installed.iter().any(|b| b == backend) {
                    return Err(self.not_installed(backend, &installed));
                }
                return Err(Error::config(format!(
                    "backend descriptor {} is missing",
                    path.display()
                ))
                .with_help(self.install_help(backend, &installed)));
            }
            Err(e) => {
                return Err(Error::config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let bundle = self.bundle_dir(backend);
        let loaded = Loaded::parse(&text, &path, bundle, backend, self.arch.unikraft())?;
        Ok(loaded)
    }

    /// The descriptor binutils take their prefix from: the default backend's
    /// if there is one, else the first installed; `None` if none is.
    pub fn any_backend(&self) -> Result<Option<String>, Error> {
        match self.default_backend() {
            Ok(b) => Ok(Some(b)),
            Err(_) => Ok(self.installed()?.into_iter().next()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names() {
        for ok in ["qemu", "firecracker", "qemu-debug", "x_1.2"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "..", ".hidden", "a/b", "../qemu", "a b", "q$"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn paths() {
        let l = Backends {
            prefix: PathBuf::from("/p"),
            arch: Arch::Arm64,
        };
        assert_eq!(
            l.descriptor_path("qemu"),
            Path::new("/p/share/ocaml-unikraft-backend-qemu-arm64/backend.json")
        );
        assert_eq!(
            l.bundle_dir("qemu"),
            Path::new("/p/lib/ocaml-unikraft-backend-qemu-arm64")
        );
        assert_eq!(
            l.default_file(),
            Path::new("/p/share/ocaml-unikraft-toolchain-arm64/default-backend")
        );
    }
}
