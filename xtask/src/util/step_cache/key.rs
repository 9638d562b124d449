//! An entry's name: the step's key with the paths its outputs were built at
//! replaced by placeholders (so that a build elsewhere finds it), the
//! format of entries, and what the outputs run on.

use crate::util::fs;
use std::path::PathBuf;

/// Part of every key: bump it when the archive format or the manifest
/// changes, so that old entries are not read as new ones.
const FORMAT: &str = "step-cache 1";

/// The entry's name: the key with the outputs' paths (`roots`) as
/// placeholders, and the host (see [`host_identity`]).
pub(super) fn entry_id(host: &str, key: &str, roots: &[(&'static str, PathBuf)]) -> String {
    let mut roots: Vec<&(&str, PathBuf)> = roots.iter().collect();
    // The longest first: one root may lie inside another.
    roots.sort_by_key(|(_, path)| std::cmp::Reverse(path.as_os_str().len()));
    let mut key = format!("{FORMAT}\n{host}\n{key}");
    for (placeholder, path) in roots {
        key = key.replace(&path.display().to_string(), placeholder);
    }
    fs::sha256_hex(key.as_bytes())
}

/// The machine's architecture and OS, its C library's and C compiler's
/// versions: what the host tools were built for and link against.
pub(super) fn host_identity() -> String {
    let first_line = |program: &str| {
        std::process::Command::new(program)
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.lines().next().map(str::to_owned)
            })
            .unwrap_or_else(|| format!("{program}: none"))
    };
    format!(
        "host {}-{}\n{}\n{}",
        std::env::consts::ARCH,
        std::env::consts::OS,
        first_line("ldd"),
        first_line("cc")
    )
}
