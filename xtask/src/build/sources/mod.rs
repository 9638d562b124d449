//! The pinned inputs: fetch into a shared cache, verify, extract into the
//! build tree.
//!
//! Layout:
//! - `<cache>/tarballs/<file>`: verified tarballs (re-verified on every use);
//! - `<cache>/git/<name>.git`: bare repositories holding the pinned commits;
//! - `<build>/src/<name>-<version>/`: extracted trees, each trusted only while
//!   its stamp in `<build>/stamps/src/<name>` names the pinned identity.

mod extract;
mod fetch;
mod git;
pub mod pins;

pub use fetch::Fetcher;
pub(crate) use pins::{Origin, Source};

use crate::cli::SourceOpts;
use crate::context::Context;
use crate::util::cmd::Cmd;
use crate::util::lock::lock_dir;
use crate::util::progress;
use crate::util::step::{run_step, Stamp, StepResult};
use anyhow::{bail, Context as _, Result};
use fetch::Location;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `cargo xtask downloads`.
pub(crate) fn downloads(ctx: &Context, opts: &SourceOpts) -> Result<()> {
    let start = Instant::now();
    let sources = selected(ctx, opts)?;
    let _build_lock = lock_dir(&ctx.build_dir, "build tree")?;
    prepare(ctx, opts, &sources, &Fetcher::new()?)?;
    progress::say(
        "downloads",
        &format!(
            "{} source(s) ready in {:.2} s",
            sources.len(),
            start.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// `cargo xtask downloads --list`: the pins, one line per source, for
/// scripts that must not repeat them (CI filling a mirror, say).
pub(crate) fn list(ctx: &Context, opts: &SourceOpts) -> Result<()> {
    for source in selected(ctx, opts)? {
        println!("{}", source.list_line());
    }
    Ok(())
}

/// The pins, narrowed to `--only` when given.
pub fn selected(ctx: &Context, opts: &SourceOpts) -> Result<Vec<Source>> {
    let all = pins::load(&ctx.sources_file)?;
    for name in &opts.only {
        if !all.iter().any(|s| &s.name == name) {
            let known: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "unknown source '{name}'\nhelp: sources are: {}",
                known.join(", ")
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|s| opts.only.is_empty() || opts.only.contains(&s.name))
        .collect())
}

/// Makes every source in `sources` present and verified: in the cache, and
/// extracted in the build tree where it is used as a tree. The caller holds
/// the build tree's lock (for its whole run); this takes the cache's.
pub fn prepare(
    ctx: &Context,
    opts: &SourceOpts,
    sources: &[Source],
    fetcher: &Fetcher,
) -> Result<()> {
    let _cache_lock = lock_dir(&ctx.cache_dir, "download cache")?;
    remove_interrupted_trees(&ctx.build_dir.join("src"))?;
    import(ctx, sources, &opts.import)?;

    // Decide everything first, so `--offline` fails before doing any work.
    let mut missing = Vec::new();
    for source in sources {
        if opts.local_override(&source.name).is_none() && !is_cached(ctx, source)? {
            let offline_locations: Vec<_> = locations(source, &opts.fetch.mirror)
                .into_iter()
                .filter(|l| !l.is_network())
                .collect();
            if opts.fetch.offline && !offline_locations.iter().any(location_exists) {
                missing.push(source);
            }
        }
    }
    if !missing.is_empty() {
        let lines: Vec<_> = missing
            .iter()
            .map(|s| format!("  {}: {}", s.label(), how_to_provide(s)))
            .collect();
        bail!(
            "--offline, but these sources are not in the cache ({}):\n{}\nhelp: run once without --offline, or provide them as listed",
            ctx.cache_dir.display(),
            lines.join("\n")
        );
    }

    for source in sources {
        prepare_one(ctx, opts, source, fetcher)
            .with_context(|| format!("preparing source {}", source.label()))?;
    }
    Ok(())
}

fn prepare_one(ctx: &Context, opts: &SourceOpts, source: &Source, fetcher: &Fetcher) -> Result<()> {
    let label = source.label();
    if let Some(path) = opts.local_override(&source.name) {
        if !path.is_dir() {
            bail!(
                "local {} tree {} is not a directory",
                source.name,
                path.display()
            );
        }
        progress::say(
            &label,
            &format!(
                "using local tree {} (not checked against the pin)",
                path.display()
            ),
        );
        return Ok(());
    }
    let mut allowed: Vec<Location> = locations(source, &opts.fetch.mirror);
    if opts.fetch.offline {
        allowed.retain(|l| !l.is_network());
    }
    match &source.origin {
        Origin::Tarball {
            sha256, extract, ..
        } => {
            let cached = cached_tarball(ctx, source);
            if is_cached(ctx, source)? {
                progress::say(&label, "sha256 verified (cache)");
            } else {
                fetcher.fetch(&label, &allowed, sha256, &cached)?;
                progress::say(&label, "stored in the cache, sha256 verified");
            }
            if *extract {
                extract_step(ctx, source, || {
                    extract::unpack_tarball(&cached, &source_dir_of(ctx, source))
                })?;
            }
        }
        Origin::Git { tag, commit, .. } => {
            let repo = cached_repo(ctx, source);
            if git::has_commit(&repo, commit) {
                progress::say(&label, &format!("commit {commit} present (cache)"));
            } else {
                let urls: Vec<String> = allowed.iter().map(|l| l.to_string()).collect();
                git::fetch(&repo, &urls, tag.as_deref(), commit, ctx.verbose)?;
                progress::say(&label, &format!("fetched commit {commit}"));
            }
            extract_step(ctx, source, || {
                git::export(&repo, commit, &source_dir_of(ctx, source), ctx.verbose)
            })?;
        }
    }
    Ok(())
}

/// Extracts with `work`, then applies the source's patches and copies its
/// overlay over the tree. The stamp key is the pinned identity plus every
/// patch's and overlay file's hash; a failed patch leaves no stamp, so the
/// next run extracts afresh.
fn extract_step(ctx: &Context, source: &Source, work: impl FnOnce() -> Result<()>) -> Result<()> {
    let dest = source_dir_of(ctx, source);
    let stamp = Stamp::new(ctx.build_dir.join("stamps/src").join(&source.name));
    if !dest.is_dir() {
        stamp.invalidate()?;
    }
    let patches = patch_files(ctx, source)?;
    let key = extract_key(ctx, source)?;
    let outcome = run_step(
        &ctx.log_dir(),
        &format!("extract {}", source.name),
        &stamp,
        &key,
        || {
            work()?;
            for patch in &patches {
                apply_patch(ctx, source, patch, &dest)?;
            }
            if let Some(overlay) = &source.overlay {
                let overlay = ctx.root.join(overlay);
                crate::util::fs::copy_tree(&overlay, &dest, &Default::default())
                    .with_context(|| format!("copying overlay {}", overlay.display()))?;
            }
            Ok(())
        },
    )?;
    if outcome == StepResult::Ran {
        progress::say(
            &source.label(),
            &format!("extracted into {}", dest.display()),
        );
    }
    Ok(())
}

/// What an extracted tree is: the pinned identity, every patch's hash and
/// every overlay file's path and hash.
fn extract_key(ctx: &Context, source: &Source) -> Result<String> {
    let mut key = format!("{} {}", source.name, source.identity());
    for patch in patch_files(ctx, source)? {
        key.push_str(&format!(" patch:{}", crate::util::fs::sha256_file(&patch)?));
    }
    if let Some(overlay) = &source.overlay {
        let overlay = ctx.root.join(overlay);
        for file in crate::util::fs::files_below(&overlay)? {
            let hash = crate::util::fs::sha256_file(&overlay.join(&file))?;
            key.push_str(&format!(" overlay:{}:{hash}", file.display()));
        }
    }
    Ok(key)
}

/// What later stages key their stamps on: the extracted tree's key, or for
/// a local tree its path and the newest modification time in it (so edits
/// there rebuild what depends on it).
pub(crate) fn tree_key(ctx: &Context, opts: &SourceOpts, source: &Source) -> Result<String> {
    match opts.local_override(&source.name) {
        Some(path) => Ok(format!(
            "{} local {} newest:{}",
            source.name,
            path.display(),
            crate::util::fs::newest_mtime(path)?
        )),
        None => extract_key(ctx, source),
    }
}

/// The source's patches in the order they apply (by file name).
fn patch_files(ctx: &Context, source: &Source) -> Result<Vec<PathBuf>> {
    let Some(dir) = &source.patches else {
        return Ok(Vec::new());
    };
    let dir = ctx.root.join(dir);
    let mut patches: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading patch directory {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    patches.retain(|p| p.extension().is_some_and(|e| e == "patch"));
    patches.sort();
    Ok(patches)
}

fn apply_patch(ctx: &Context, source: &Source, patch: &Path, tree: &Path) -> Result<()> {
    Cmd::new("patch")
        .args(["-p1", "--batch", "--forward", "--silent", "-d"])
        .arg(tree)
        .arg("-i")
        .arg(patch)
        .read(ctx.verbose)
        .with_context(|| {
            format!(
                "patch {} does not apply to {}\nhelp: the patch was written for the pinned version; update it or the pin",
                patch.display(),
                source.label()
            )
        })?;
    progress::say(&source.label(), &format!("applied {}", patch.display()));
    Ok(())
}

/// Where a source's tree is: the user's local tree if they gave one, else
/// the extracted pinned tree.
pub(crate) fn source_dir(ctx: &Context, opts: &SourceOpts, source: &Source) -> PathBuf {
    opts.local_override(&source.name)
        .cloned()
        .unwrap_or_else(|| source_dir_of(ctx, source))
}

fn source_dir_of(ctx: &Context, source: &Source) -> PathBuf {
    ctx.build_dir
        .join("src")
        .join(format!("{}-{}", source.name, source.version))
}

/// The verified tarball in the cache (for tarballs consumed whole).
pub(crate) fn cached_tarball(ctx: &Context, source: &Source) -> PathBuf {
    ctx.cache_dir.join("tarballs").join(source.file_name())
}

fn cached_repo(ctx: &Context, source: &Source) -> PathBuf {
    ctx.cache_dir
        .join("git")
        .join(format!("{}.git", source.name))
}

/// True when the cache holds the pinned bytes; a corrupt cached file is
/// deleted (and so fetched again).
fn is_cached(ctx: &Context, source: &Source) -> Result<bool> {
    match &source.origin {
        Origin::Tarball { sha256, .. } => {
            let path = cached_tarball(ctx, source);
            if !path.exists() {
                return Ok(false);
            }
            let actual = crate::util::fs::sha256_file(&path)?;
            if &actual == sha256 {
                return Ok(true);
            }
            progress::say(
                &source.label(),
                &format!(
                    "cached {} is corrupt (sha256 {actual}); removing it",
                    path.display()
                ),
            );
            crate::util::fs::remove_if_present(&path)?;
            Ok(false)
        }
        Origin::Git { commit, .. } => Ok(git::has_commit(&cached_repo(ctx, source), commit)),
    }
}

/// Mirrors first, in the order given, then upstream. Empty entries (an
/// empty `OCAML_UNIKRAFT_MIRRORS`, doubled spaces) name no mirror.
fn locations(source: &Source, mirrors: &[String]) -> Vec<Location> {
    let mut all: Vec<Location> = mirrors
        .iter()
        .filter(|m| !m.is_empty())
        .map(|m| Location::in_mirror(m, source.file_name()))
        .collect();
    match &source.origin {
        Origin::Tarball { urls, .. } => all.extend(urls.iter().cloned().map(Location::Url)),
        Origin::Git { url, .. } => all.push(if url.contains("://") {
            Location::Url(url.clone())
        } else {
            Location::File(url.into())
        }),
    }
    all
}

fn location_exists(location: &Location) -> bool {
    match location {
        Location::File(path) => path.exists(),
        Location::Url(_) => false,
    }
}

fn how_to_provide(source: &Source) -> String {
    match &source.origin {
        Origin::Tarball { urls, sha256, .. } => format!(
            "download {} (sha256 {sha256}) and pass --import FILE or --mirror DIR",
            urls[0]
        ),
        Origin::Git { url, tag, commit } => format!(
            "clone {url} ({}) and pass --mirror DIR holding {}, or point git at a local copy with `git config --global url.<copy>.insteadOf {url}`",
            tag.as_ref().map_or(format!("commit {commit}"), |tag| format!("tag {tag}")),
            source.file_name()
        ),
    }
}

/// `--import FILE...`: adds files to the cache when their hash matches a pin.
fn import(ctx: &Context, sources: &[Source], files: &[PathBuf]) -> Result<()> {
    for file in files {
        let actual = crate::util::fs::sha256_file(file)?;
        let Some(source) = sources
            .iter()
            .find(|s| matches!(&s.origin, Origin::Tarball { sha256, .. } if *sha256 == actual))
        else {
            bail!(
                "{} matches no pinned tarball (its sha256 is {actual})\nhelp: the pins are in sources.toml",
                file.display()
            );
        };
        let dest = cached_tarball(ctx, source);
        fetch::copy_verified(file, &actual, &dest)
            .map_err(|why| anyhow::anyhow!("importing {}: {why}", file.display()))?;
        progress::say(&source.label(), &format!("imported {}", file.display()));
    }
    Ok(())
}

/// Temporary trees under `src/` belong to a run that was interrupted (we
/// hold the build lock, so no other run is using them).
fn remove_interrupted_trees(src_dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(src_dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(crate::util::fs::TMP_PREFIX)
        {
            crate::util::fs::remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_and_empty_ones_are_skipped() {
        let pins = "[sources.pkg]\nversion = \"1\"\nurls = [\"https://up.example/pkg-1.tar.gz\"]\n\
                    sha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\n";
        let source = &pins::parse(pins).unwrap()[0];
        let mirrors = ["".to_owned(), "/srv/m".to_owned()];
        assert_eq!(
            locations(source, &mirrors),
            [
                Location::File("/srv/m/pkg-1.tar.gz".into()),
                Location::Url("https://up.example/pkg-1.tar.gz".into()),
            ]
        );
    }
}
