//! What every stage needs to know about this run: where things go.

use crate::cli::GlobalOpts;
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

pub struct Context {
    /// The repository root (where `sources.toml` and `backends/` live).
    pub root: PathBuf,
    /// The build tree: extracted sources, objects, logs, stamps.
    pub build_dir: PathBuf,
    /// Downloads shared across build trees, keyed by content.
    pub cache_dir: PathBuf,
    /// The pin file.
    pub sources_file: PathBuf,
    pub verbose: bool,
}

impl Context {
    pub(crate) fn new(opts: &GlobalOpts) -> Result<Context> {
        let root = repo_root();
        let cwd = std::env::current_dir().context("reading the current directory")?;
        let absolute = |p: &Path| cwd.join(p);
        Ok(Context {
            build_dir: opts
                .build_dir
                .as_deref()
                .map(absolute)
                .unwrap_or_else(|| root.join("_build").join("build")),
            cache_dir: opts
                .cache_dir
                .as_deref()
                .map(absolute)
                .unwrap_or_else(default_cache_dir),
            sources_file: opts
                .sources
                .as_deref()
                .map(absolute)
                .unwrap_or_else(|| root.join("sources.toml")),
            verbose: opts.verbose,
            root,
        })
    }

    /// The install prefix: as given (relative to the current directory), or
    /// `<repo>/_build`.
    pub(crate) fn prefix(&self, given: Option<&Path>) -> Result<PathBuf> {
        Ok(match given {
            Some(p) => std::env::current_dir()
                .context("reading the current directory")?
                .join(p),
            None => self.root.join("_build"),
        })
    }

    /// Where a stage writes the full output of its commands.
    pub(crate) fn log_dir(&self) -> PathBuf {
        self.build_dir.join("logs")
    }
}

/// The workspace root: xtask is always built from `<root>/xtask`.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

fn default_cache_dir() -> PathBuf {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home_dir().join(".cache"),
    };
    base.join("ocaml-unikraft")
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}
