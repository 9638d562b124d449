//! Moving staged pieces into place, all of them or none.
//!
//! Removing a piece and then renaming its replacement in leaves nothing
//! there if the rename fails. Instead each piece already in place is renamed
//! aside, then the staged one is renamed in: renames within one filesystem
//! are atomic, so every step taken can be undone. After a failure the new
//! pieces go back to the stage, the previous ones come back, and directories
//! created for new pieces go away: the destination is exactly as it was. The
//! previous pieces are deleted only once every new one is in place.

use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// A staged file or tree and the path it replaces (or appears at). Both must
/// be on the filesystem of the `aside_in` directory given with them.
pub(crate) struct Piece {
    pub(crate) staged: PathBuf,
    pub(crate) dest: PathBuf,
}

/// How pieces are renamed: `std::fs::rename`, or in tests one that fails
/// at a chosen call.
pub(crate) type Rename<'a> = dyn FnMut(&Path, &Path) -> std::io::Result<()> + 'a;

pub(crate) fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)
}

/// Moves every piece into place with `rename`, or none: on failure, what was
/// moved is put back before returning the error. The previous pieces wait in
/// a temporary directory in `aside_in`; if putting them back fails too, it is
/// kept and the error says which path is where.
pub(crate) fn all_or_none(pieces: &[Piece], aside_in: &Path, rename: &mut Rename) -> Result<()> {
    let aside_dir = tempfile::Builder::new()
        .prefix(".previous-")
        .tempdir_in(aside_in)
        .with_context(|| format!("creating a directory in {}", aside_in.display()))?;
    let mut done = Done::default();
    let Err(err) = move_in(pieces, aside_dir.path(), rename, &mut done) else {
        // Dropping `aside_dir` deletes the previous pieces.
        return Ok(());
    };
    let stuck = done.undo(rename);
    if stuck.is_empty() {
        return Err(err);
    }
    let kept = aside_dir.keep();
    Err(err.context(stuck.report(&kept)))
}

/// What [`move_in`] did, to undo in reverse.
#[derive(Default)]
struct Done<'a> {
    /// In the order they were created, parents first.
    created_dirs: Vec<PathBuf>,
    moved: Vec<Moved<'a>>,
}

struct Moved<'a> {
    piece: &'a Piece,
    /// Where the previous piece went, if there was one.
    aside: Option<PathBuf>,
    /// False while only the previous piece has been moved aside.
    moved_in: bool,
}

fn move_in<'a>(
    pieces: &'a [Piece],
    aside_dir: &Path,
    rename: &mut Rename,
    done: &mut Done<'a>,
) -> Result<()> {
    for (index, piece) in pieces.iter().enumerate() {
        create_parents(&piece.dest, &mut done.created_dirs)?;
        let mut moved = Moved {
            piece,
            aside: None,
            moved_in: false,
        };
        if exists(&piece.dest)? {
            // Numbered: lib/ and share/ hold pieces of the same name.
            let name = piece.dest.file_name().unwrap_or_default();
            let aside = aside_dir.join(format!("{index}-{}", name.to_string_lossy()));
            rename(&piece.dest, &aside)
                .with_context(|| format!("moving {} aside", piece.dest.display()))?;
            moved.aside = Some(aside);
        }
        let result = rename(&piece.staged, &piece.dest);
        moved.moved_in = result.is_ok();
        done.moved.push(moved);
        result.with_context(|| format!("moving {} into place", piece.dest.display()))?;
    }
    Ok(())
}

/// Creates the directories missing above `path`, recording each.
fn create_parents(path: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    for dir in path.ancestors().skip(1) {
        if dir.as_os_str().is_empty() || exists(dir)? {
            break;
        }
        missing.push(dir);
    }
    for dir in missing.into_iter().rev() {
        std::fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        created.push(dir.to_path_buf());
    }
    Ok(())
}

/// Whether anything (even a dangling link) is at `path`.
fn exists(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err).with_context(|| format!("looking at {}", path.display())),
    }
}

impl Done<'_> {
    /// Puts everything back, going on past failures; returns what stayed
    /// where it should not be.
    fn undo(&self, rename: &mut Rename) -> Stuck {
        let mut stuck = Stuck::default();
        for moved in self.moved.iter().rev() {
            let Piece { staged, dest } = moved.piece;
            let moved_out = match moved.moved_in {
                true => rename(dest, staged),
                false => Ok(()),
            };
            match (&moved.aside, moved_out) {
                (None, Ok(())) => {}
                (None, Err(err)) => stuck.new_piece(dest, None, err),
                // Tried even when the new piece could not be moved out: a
                // previous file renamed over a new one replaces it.
                (Some(aside), moved_out) => {
                    if let Err(err) = rename(aside, dest) {
                        match moved_out {
                            Ok(()) => stuck.previous_piece(dest, aside, err),
                            Err(out) => stuck.new_piece(dest, Some(aside), out),
                        }
                    }
                }
            }
        }
        for dir in self.created_dirs.iter().rev() {
            if let Err(err) = std::fs::remove_dir(dir) {
                stuck.created_dir(dir, err);
            }
        }
        stuck
    }
}

/// What could not be put back: a line saying where each path is, and the
/// shell command that finishes the job by hand.
#[derive(Default)]
struct Stuck {
    lines: Vec<String>,
    commands: Vec<String>,
}

impl Stuck {
    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn new_piece(&mut self, dest: &Path, aside: Option<&Path>, err: std::io::Error) {
        let remove = shell(&["rm", "-rf", "--"], &[dest]);
        match aside {
            Some(aside) => {
                self.lines.push(format!(
                    "{} is still the new one (moving it out: {err}); the previous one is {}",
                    dest.display(),
                    aside.display()
                ));
                let restore = shell(&["mv", "--"], &[aside, dest]);
                self.commands.push(format!("{remove} && {restore}"));
            }
            None => {
                self.lines.push(format!(
                    "{} is new and could not be moved out ({err})",
                    dest.display()
                ));
                self.commands.push(remove);
            }
        }
    }

    fn previous_piece(&mut self, dest: &Path, aside: &Path, err: std::io::Error) {
        self.lines.push(format!(
            "{} is missing: the previous one is {} and could not be moved back ({err})",
            dest.display(),
            aside.display()
        ));
        self.commands.push(shell(&["mv", "--"], &[aside, dest]));
    }

    fn created_dir(&mut self, dir: &Path, err: std::io::Error) {
        self.lines.push(format!(
            "{} was created by this run and could not be removed ({err})",
            dir.display()
        ));
        self.commands.push(shell(&["rmdir", "--"], &[dir]));
    }

    fn report(&self, kept: &Path) -> String {
        let mut commands = self.commands.clone();
        commands.push(shell(&["rmdir", "--"], &[kept]));
        format!(
            "the previous installation could not be put back:\n  {}\nhelp: {} holds the previous pieces; to finish by hand, run in order:\n  {}",
            self.lines.join("\n  "),
            kept.display(),
            commands.join("\n  ")
        )
    }
}

/// A command line with `paths` quoted for a POSIX shell.
fn shell(words: &[&str], paths: &[&Path]) -> String {
    let mut all: Vec<String> = words.iter().map(|word| word.to_string()).collect();
    all.extend(paths.iter().map(|path| path.to_string_lossy().into_owned()));
    shlex::try_join(all.iter().map(String::as_str))
        .expect("a nul byte, the only thing quoting refuses, is never in a path")
}

/// Failure injection and tree snapshots, for the tests of every module that
/// moves pieces into place.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    /// Renames for real, except the calls numbered in `failing` (from 1).
    pub(crate) struct Renames {
        pub(crate) calls: usize,
        failing: Vec<usize>,
    }

    impl Renames {
        pub(crate) fn failing_at(failing: &[usize]) -> Renames {
            Renames {
                calls: 0,
                failing: failing.to_vec(),
            }
        }

        pub(crate) fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()> {
            self.calls += 1;
            if self.failing.contains(&self.calls) {
                return Err(std::io::Error::other(format!(
                    "injected failure of rename {}",
                    self.calls
                )));
            }
            std::fs::rename(from, to)
        }
    }

    /// The all-or-none check shared by every installer: `attempt` runs on
    /// a fresh temporary directory that `setup` filled, first with every
    /// rename succeeding (to count them), then once per rename with that
    /// one failing, which must make it fail with the injected error and
    /// leave the directory `watched` names exactly as it was. Returns how
    /// many renames a successful attempt makes.
    pub(crate) fn fail_each_rename(
        setup: impl Fn(&Path),
        watched: impl Fn(&Path) -> PathBuf,
        mut attempt: impl FnMut(&Path, &mut Renames) -> anyhow::Result<()>,
    ) -> usize {
        let count = {
            let dir = tempfile::tempdir().unwrap();
            setup(dir.path());
            let mut renames = Renames::failing_at(&[]);
            attempt(dir.path(), &mut renames).unwrap();
            renames.calls
        };
        for failing in 1..=count {
            let dir = tempfile::tempdir().unwrap();
            setup(dir.path());
            let before = snapshot(&watched(dir.path()));
            let err = attempt(dir.path(), &mut Renames::failing_at(&[failing])).unwrap_err();
            assert!(format!("{err:#}").contains("injected"), "{err:#}");
            assert_eq!(
                snapshot(&watched(dir.path())),
                before,
                "after a failure of rename {failing} of {count}"
            );
        }
        count
    }

    #[derive(Debug, PartialEq, Eq)]
    pub(crate) enum Node {
        Dir,
        File(Vec<u8>),
        Link(PathBuf),
    }

    /// Every path below `root` (relative to it) and what it is.
    pub(crate) fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
        let mut nodes = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
                let node = if kind.is_dir() {
                    pending.push(path.clone());
                    Node::Dir
                } else if kind.is_symlink() {
                    Node::Link(std::fs::read_link(&path).unwrap())
                } else {
                    Node::File(std::fs::read(&path).unwrap())
                };
                nodes.insert(path.strip_prefix(root).unwrap().to_path_buf(), node);
            }
        }
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{fail_each_rename, snapshot, Renames};
    use super::*;

    /// In `root`: `dest/file` and `dest/tree/` exist, `dest/new/piece`
    /// does not; `stage/` holds a replacement for each.
    fn setup(root: &Path) -> Vec<Piece> {
        let (stage, dest) = (root.join("stage"), root.join("dest"));
        std::fs::create_dir_all(dest.join("tree/sub")).unwrap();
        std::fs::write(dest.join("file"), "old").unwrap();
        std::fs::write(dest.join("tree/sub/a"), "old").unwrap();
        std::fs::create_dir_all(stage.join("tree")).unwrap();
        std::fs::write(stage.join("file"), "new").unwrap();
        std::fs::write(stage.join("tree/b"), "new").unwrap();
        std::fs::write(stage.join("piece"), "new").unwrap();
        pieces(root)
    }

    /// The pieces [`setup`] stages, from `stage/` into `dest/`.
    fn pieces(root: &Path) -> Vec<Piece> {
        let (stage, dest) = (root.join("stage"), root.join("dest"));
        [("file", "file"), ("tree", "tree"), ("piece", "new/piece")]
            .into_iter()
            .map(|(staged, dest_path)| Piece {
                staged: stage.join(staged),
                dest: dest.join(dest_path),
            })
            .collect()
    }

    #[test]
    fn every_piece_lands_and_nothing_is_left_aside() {
        let dir = tempfile::tempdir().unwrap();
        let pieces = setup(dir.path());
        let dest = dir.path().join("dest");
        let mut renames = Renames::failing_at(&[]);
        all_or_none(&pieces, dir.path(), &mut |from, to| {
            renames.rename(from, to)
        })
        .unwrap();
        // Two existing pieces set aside and moved in, one new piece moved in.
        assert_eq!(renames.calls, 5);
        let read = |path: &str| std::fs::read_to_string(dest.join(path)).unwrap();
        assert_eq!(
            (read("file"), read("tree/b"), read("new/piece")),
            ("new".into(), "new".into(), "new".into())
        );
        assert!(!dest.join("tree/sub").exists());
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["dest", "stage"], "previous pieces left behind");
    }

    #[test]
    fn a_failure_at_any_rename_puts_everything_back() {
        let count = fail_each_rename(
            |root| drop(setup(root)),
            Path::to_path_buf,
            |root, renames| {
                let pieces = pieces(root);
                all_or_none(&pieces, root, &mut |from, to| renames.rename(from, to)).map(drop)
            },
        );
        assert_eq!(count, 5);
    }

    #[test]
    fn a_previous_file_replaces_a_new_one_that_cannot_be_moved_out() {
        let dir = tempfile::tempdir().unwrap();
        let pieces = setup(dir.path());
        let dest = dir.path().join("dest");
        // 4: `tree` in fails; undoing, 5: `tree` back; 6: `file` out fails.
        let mut renames = Renames::failing_at(&[4, 6]);
        let err = all_or_none(&pieces, dir.path(), &mut |from, to| {
            renames.rename(from, to)
        })
        .unwrap_err();
        assert_eq!(std::fs::read_to_string(dest.join("file")).unwrap(), "old");
        assert!(dest.join("tree/sub/a").is_file());
        assert!(!err.to_string().contains("could not be put back"), "{err}");
    }

    #[test]
    fn when_putting_back_fails_the_error_tells_how_to_finish_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let pieces = setup(dir.path());
        let dest = dir.path().join("dest");
        let before = snapshot(&dest);
        // 1-2: `file` aside and in; 3: `tree` aside; 4: `tree` in fails.
        // Undoing: 5: `tree` back fails; 6: `file` out fails; 7: `file`
        // back (over the new one) fails.
        let mut renames = Renames::failing_at(&[4, 5, 6, 7]);
        let err = all_or_none(&pieces, dir.path(), &mut |from, to| {
            renames.rename(from, to)
        })
        .unwrap_err();
        let report = err.to_string();
        for expected in [
            format!("{} is missing", dest.join("tree").display()),
            format!("{} is still the new one", dest.join("file").display()),
        ] {
            assert!(report.contains(&expected), "{report}");
        }
        let (_, commands) = report.split_once("run in order:\n").expect(&report);
        for command in commands.lines() {
            let status = std::process::Command::new("sh")
                .args(["-c", command])
                .status()
                .unwrap();
            assert!(status.success(), "{command}");
        }
        assert_eq!(snapshot(&dest), before);
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["dest", "stage"], "the help leaves something behind");
    }
}
