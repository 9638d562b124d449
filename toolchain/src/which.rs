//! Finding a program as a shell would: the first executable file of that
//! name in the directories of `PATH`. Asking before running lets a caller
//! say why something cannot be done (a VMM that is not installed) instead
//! of failing halfway.

use std::ffi::OsStr;
use std::path::PathBuf;

/// The executable `program` on this process's `PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    find_in(&std::env::var_os("PATH").unwrap_or_default(), program)
}

/// The executable `program` in the directories of a `PATH`-like value.
fn find_in(path: &OsStr, program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn finds_only_executables_on_the_path() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        for (name, mode) in [("tool", 0o755), ("data", 0o644)] {
            let file = dir.path().join(name);
            std::fs::write(&file, "").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let path = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap();
        assert_eq!(find_in(&path, "tool"), Some(dir.path().join("tool")));
        assert_eq!(find_in(&path, "data"), None);
    }
}
