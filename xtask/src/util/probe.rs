//! One-line commands whose output we read: tool versions, git queries,
//! probes of the host. They are written with xshell's `cmd!`, which reads
//! as the command line itself, and run quietly with both outputs captured.
//!
//! The boundary: anything that builds (make, configure, dune, cargo) goes
//! through [`super::cmd::Cmd`] instead, which logs to a file, shares the
//! make jobserver, records CPU time and can be cancelled. A probe does none
//! of that: it is quick, and its stdout is its result.

use anyhow::{bail, Context as _, Result};

pub(crate) use xshell::{cmd, Shell};

/// A shell for probes, in the current directory.
pub(crate) fn shell() -> Result<Shell> {
    Shell::new().context("starting a shell for probes")
}

/// Runs `cmd` and returns its stdout without the final newline; a failure
/// names the command and carries what it printed on stderr.
pub(crate) fn read(cmd: xshell::Cmd<'_>) -> Result<String> {
    let shown = cmd.to_string();
    let output = cmd.quiet().ignore_status().output().with_context(|| {
        format!("cannot run `{shown}`\nhelp: `cargo xtask doctor` lists what to install")
    })?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .trim_end_matches('\n')
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_errors_and_missing_programs() {
        let sh = shell().unwrap();
        let word = "two words";
        assert_eq!(read(cmd!(sh, "echo {word}")).unwrap(), "two words");
        let err = read(cmd!(sh, "sh -c 'echo oops >&2; exit 3'")).unwrap_err();
        assert!(err.to_string().contains("oops"), "{err}");
        let err = read(cmd!(sh, "no-such-program-here")).unwrap_err();
        assert!(
            format!("{err:#}").contains("no-such-program-here"),
            "{err:#}"
        );
    }
}
