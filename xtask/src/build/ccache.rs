//! ccache for the C compiles of the bundles, of the cross compilers'
//! runtimes and of the host OCaml, when ccache (4.4 or later) is on `PATH`; `cargo xtask doctor`
//! says whether it is, `--no-ccache` leaves it out.
//!
//! The compilers are reached through a masquerade directory,
//! `<build>/ccache/bin`, put first on the `PATH` of those builds: `gcc` and
//! `aarch64-linux-gnu-gcc` there are links to ccache, which runs the next
//! compiler of that name on `PATH`. No command changes, so no stamp key
//! does: with or without ccache the same commands build the same code.
//! (ccache hands the compiler relative paths, so the paths in the debug
//! information differ: relative to the compile's directory, and those of a
//! hit name the directory of the compile that filled the cache.)
//!
//! Settings, as environment variables (they override only these keys of the
//! user's own ccache configuration, whose cache directory and size stay):
//! - `base_dir`: the directory holding both the build tree and the prefix;
//!   paths under it become relative to the compile's directory. Unikraft
//!   compiles in the bundle's own build directory (`backends/app/Makefile`),
//!   so a bundle's files (musl's extracted tree, the generated headers) have
//!   the same relative paths in every bundle: the second bundle of an arch
//!   hits, and so does a rebuild after `rm -rf` of the build tree.
//! - `hash_dir` off: Unikraft compiles with `-g`, and the directory hashed
//!   would be each bundle's own.
//! - `stats_log`: `<build>/logs/ccache-stats.log`, started afresh by every
//!   run: this run's hits and misses, whatever else shares the cache.
//! - `remote_storage`: `--ccache-remote-storage` or `CCACHE_REMOTE_STORAGE`,
//!   passed through as is (a team's or CI's shared cache).

use crate::context::Context;
use crate::target::Arch;
use crate::util::cmd::Cmd;
use anyhow::{Context as _, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The first ccache with `remote_storage` (4.2 and 4.3 named it
/// `secondary_storage`) and the stats log read here.
const MIN_VERSION: (u32, u32) = (4, 4);

pub(crate) struct Ccache {
    /// The masquerade directory.
    bin_dir: PathBuf,
    base_dir: PathBuf,
    stats_log: PathBuf,
    remote_storage: Option<String>,
}

/// What localbuild asked for.
pub(crate) struct Request<'a> {
    pub(crate) disabled: bool,
    pub(crate) remote_storage: Option<&'a str>,
}

impl Ccache {
    /// Sets up ccache for this run, or says why the compiles go without it.
    pub(crate) fn setup(ctx: &Context, prefix: &Path, request: &Request) -> Result<Option<Ccache>> {
        let stats_log = stats_log(&ctx.log_dir());
        // A run without ccache has no statistics, not an older run's.
        crate::util::fs::remove_if_present(&stats_log)?;
        let without = |why: &str| {
            let remote = match request.remote_storage {
                Some(_) => " (its remote storage is unused)",
                None => "",
            };
            crate::util::progress::say("ccache", &format!("{why}: compiling without it{remote}"));
            Ok(None)
        };
        if request.disabled {
            return without("--no-ccache");
        }
        let Some(program) = ocaml_unikraft_toolchain::which::on_path("ccache") else {
            return without("not found on PATH (see `cargo xtask doctor`)");
        };
        let version = Cmd::new(&program).arg("--version").read(false)?;
        let version = version.lines().next().unwrap_or_default();
        match parse_version(version) {
            Some(v) if v >= MIN_VERSION => {}
            _ => {
                let (major, minor) = MIN_VERSION;
                return without(&format!("{version} is older than {major}.{minor}"));
            }
        }
        let ccache = Ccache::new(
            &program,
            &ctx.build_dir.join("ccache/bin"),
            common_ancestor(&ctx.build_dir, prefix),
            stats_log,
            request.remote_storage.map(str::to_owned),
        )?;
        let remote = match &ccache.remote_storage {
            Some(url) => format!(", remote storage {}", redacted(url)),
            None => String::new(),
        };
        crate::util::progress::say(
            "ccache",
            &format!(
                "{version} at {}, base directory {}{remote}",
                program.display(),
                ccache.base_dir.display()
            ),
        );
        Ok(Some(ccache))
    }

    /// Makes the masquerade directory for `program` and starts the stats log.
    fn new(
        program: &Path,
        bin_dir: &Path,
        base_dir: PathBuf,
        stats_log: PathBuf,
        remote_storage: Option<String>,
    ) -> Result<Ccache> {
        std::fs::create_dir_all(bin_dir)
            .with_context(|| format!("creating {}", bin_dir.display()))?;
        let mut compilers: Vec<String> = Arch::ALL
            .iter()
            .map(|arch| format!("{}gcc", arch.derived_tool_prefix()))
            .chain(["gcc".to_owned()])
            .collect();
        compilers.sort();
        compilers.dedup();
        for compiler in compilers {
            let link = bin_dir.join(compiler);
            crate::util::fs::remove_if_present(&link)?;
            std::os::unix::fs::symlink(program, &link)
                .with_context(|| format!("linking {} to ccache", link.display()))?;
        }
        crate::util::fs::remove_if_present(&stats_log)?;
        crate::util::fs::create_parent(&stats_log)?;
        Ok(Ccache {
            bin_dir: bin_dir.to_owned(),
            base_dir,
            stats_log,
            remote_storage,
        })
    }

    /// `cmd` with its compiles through ccache: the masquerade directory
    /// before `path` (the `PATH` it would have had) and ccache's settings.
    fn apply(&self, cmd: Cmd, path: &OsStr) -> Cmd {
        let path = std::iter::once(self.bin_dir.clone()).chain(std::env::split_paths(path));
        let mut cmd = cmd
            .env("PATH", std::env::join_paths(path).unwrap_or_default())
            .env("CCACHE_BASEDIR", &self.base_dir)
            .env("CCACHE_NOHASHDIR", "1")
            .env("CCACHE_STATSLOG", &self.stats_log);
        if let Some(url) = &self.remote_storage {
            cmd = cmd.env("CCACHE_REMOTE_STORAGE", url);
        }
        cmd
    }

    /// This run's statistics so far, for the summary.
    pub(crate) fn stats(&self) -> Result<Stats> {
        Ok(Stats::read(&self.stats_log)?.unwrap_or_default())
    }

    pub(crate) fn has_remote_storage(&self) -> bool {
        self.remote_storage.is_some()
    }
}

/// `cmd` run with `PATH` set to `path`, through ccache when there is one.
pub(crate) fn wrap(ccache: Option<&Ccache>, cmd: Cmd, path: &OsStr) -> Cmd {
    match ccache {
        Some(ccache) => ccache.apply(cmd, path),
        None => cmd.env("PATH", path),
    }
}

/// The counters of a stats log that the summary shows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub(crate) direct_hits: u64,
    pub(crate) preprocessed_hits: u64,
    pub(crate) misses: u64,
    pub(crate) remote_hits: u64,
}

/// The stats log of the localbuild whose logs are in `log_dir`.
pub(crate) fn stats_log(log_dir: &Path) -> PathBuf {
    log_dir.join("ccache-stats.log")
}

impl Stats {
    /// The statistics in a stats log; none without the log (no compile
    /// went through ccache, or the run had no ccache).
    pub(crate) fn read(log: &Path) -> Result<Option<Stats>> {
        match std::fs::read_to_string(log) {
            Ok(text) => Ok(Some(Stats::parse(&text))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err).with_context(|| format!("reading {}", log.display())),
        }
    }

    /// Reads ccache's stats log: for every call, a `# <source>` line then
    /// one line per counter it bumped.
    fn parse(text: &str) -> Stats {
        let mut stats = Stats::default();
        for line in text.lines() {
            match line.trim() {
                "direct_cache_hit" => stats.direct_hits += 1,
                "preprocessed_cache_hit" => stats.preprocessed_hits += 1,
                "cache_miss" => stats.misses += 1,
                "remote_storage_hit" => stats.remote_hits += 1,
                _ => {}
            }
        }
        stats
    }

    pub(crate) fn hits(&self) -> u64 {
        self.direct_hits + self.preprocessed_hits
    }

    /// One line: `1403 of 1413 compiles hit (99.3 %: 28 direct, ...)`.
    pub(crate) fn summary(&self, remote: bool) -> String {
        let total = self.hits() + self.misses;
        if total == 0 {
            return "no compile went through it".into();
        }
        let remote = if remote {
            format!(", {} from remote storage", self.remote_hits)
        } else {
            String::new()
        };
        format!(
            "{} of {total} compiles hit ({:.1} %: {} direct, {} preprocessed{remote}), {} compiled",
            self.hits(),
            100.0 * self.hits() as f64 / total as f64,
            self.direct_hits,
            self.preprocessed_hits,
            self.misses
        )
    }
}

/// A remote storage URL fit for a log: without the password of
/// `scheme://user:password@host...`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '|']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `ccache version 4.7.5` → (4, 7).
fn parse_version(line: &str) -> Option<(u32, u32)> {
    let version = line.strip_prefix("ccache version ")?;
    let mut parts = version.split('.').map(|p| p.trim().parse::<u32>());
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

/// The deepest directory holding both `a` and `b` (absolute paths).
fn common_ancestor(a: &Path, b: &Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_ancestors() {
        assert_eq!(parse_version("ccache version 4.7.5"), Some((4, 7)));
        assert_eq!(parse_version("ccache version 3.7"), Some((3, 7)));
        assert_eq!(parse_version("gcc 12"), None);
        assert!(parse_version("ccache version 4.10.2").unwrap() >= MIN_VERSION);
        assert_eq!(
            common_ancestor(
                Path::new("/w/main/_build/build"),
                Path::new("/w/main/_build")
            ),
            Path::new("/w/main/_build")
        );
        assert_eq!(
            common_ancestor(Path::new("/w/build"), Path::new("/w/prefix")),
            Path::new("/w")
        );
        assert_eq!(
            common_ancestor(Path::new("/a"), Path::new("/b")),
            Path::new("/")
        );
    }

    #[test]
    fn the_stats_log_counts_hits_and_misses() {
        let log = "# a.c\ncache_miss\ndirect_cache_miss\nlocal_storage_miss\n\
                   # a.c\ndirect_cache_hit\nlocal_storage_hit\n\
                   # b.c\npreprocessed_cache_hit\nremote_storage_hit\n";
        let stats = Stats::parse(log);
        assert_eq!(
            stats,
            Stats {
                direct_hits: 1,
                preprocessed_hits: 1,
                misses: 1,
                remote_hits: 1
            }
        );
        assert_eq!(
            stats.summary(true),
            "2 of 3 compiles hit (66.7 %: 1 direct, 1 preprocessed, 1 from remote storage), 1 compiled"
        );
        assert_eq!(
            Stats::default().summary(false),
            "no compile went through it"
        );
    }

    /// A ccache of `dir` (its own local cache) over the real one, or None
    /// (the test is skipped) when this machine has no ccache or gcc.
    fn ccache_in(dir: &Path, remote: Option<String>) -> Option<(Ccache, PathBuf)> {
        let program = ocaml_unikraft_toolchain::which::on_path("ccache")?;
        ocaml_unikraft_toolchain::which::on_path("gcc")?;
        let ccache = Ccache::new(
            &program,
            &dir.join("bin"),
            dir.to_owned(),
            dir.join("stats.log"),
            remote,
        )
        .unwrap();
        Some((ccache, dir.join("local-cache")))
    }

    /// Compiles `<tree>/src/f.c`, which includes a header of `<tree>/inc`,
    /// in `<tree>` with absolute paths, as Unikraft does in a bundle.
    fn compile(ccache: &Ccache, local_cache: &Path, tree: &Path) {
        std::fs::create_dir_all(tree.join("src")).unwrap();
        std::fs::create_dir_all(tree.join("inc")).unwrap();
        std::fs::write(tree.join("inc/h.h"), "#define N 42\n").unwrap();
        std::fs::write(
            tree.join("src/f.c"),
            "#include <h.h>\nint f(void) { return N; }\n",
        )
        .unwrap();
        let cmd = Cmd::new("gcc")
            .arg("-g")
            .arg(format!("-I{}", tree.join("inc").display()))
            .args([
                "-c".as_ref(),
                tree.join("src/f.c").as_os_str(),
                "-o".as_ref(),
            ])
            .arg(tree.join("f.o"))
            .dir(tree);
        let path = std::env::var_os("PATH").unwrap_or_default();
        wrap(Some(ccache), cmd, &path)
            .env("CCACHE_DIR", local_cache)
            .read(false)
            .unwrap();
        assert!(tree.join("f.o").is_file());
    }

    #[test]
    fn the_same_files_in_another_build_directory_hit() {
        let dir = tempfile::tempdir().unwrap();
        let Some((ccache, local)) = ccache_in(dir.path(), None) else {
            eprintln!("skipped: no ccache or gcc on PATH");
            return;
        };
        compile(&ccache, &local, &dir.path().join("bundles/qemu-x86_64"));
        compile(
            &ccache,
            &local,
            &dir.path().join("bundles/firecracker-x86_64"),
        );
        let stats = ccache.stats().unwrap();
        assert_eq!((stats.misses, stats.direct_hits), (1, 1), "{stats:?}");
    }

    #[test]
    fn remote_storage_is_passed_through() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("remote");
        std::fs::create_dir_all(&remote).unwrap();
        let url = format!("file:{}", remote.display());
        let Some((ccache, local)) = ccache_in(dir.path(), Some(url)) else {
            eprintln!("skipped: no ccache or gcc on PATH");
            return;
        };
        let tree = dir.path().join("tree");
        compile(&ccache, &local, &tree);
        // An empty local cache, as on another machine: the remote one serves.
        std::fs::remove_dir_all(&local).unwrap();
        compile(&ccache, &local, &tree);
        let stats = ccache.stats().unwrap();
        assert_eq!((stats.misses, stats.remote_hits), (1, 1), "{stats:?}");
        assert!(
            std::fs::read_dir(&remote).unwrap().next().is_some(),
            "the remote storage holds the result"
        );
    }
}
