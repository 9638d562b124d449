//! Downloads against a real HTTP server on 127.0.0.1 serving archives made
//! here, and git repositories created here. Nothing touches the network.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use xtask::build::sources::{self, Fetcher};
use xtask::cli::{FetchOpts, SourceOpts};
use xtask::context::Context;
use xtask::util::lock::lock_dir;

/// What the test server does for one path.
#[derive(Clone)]
enum Reply {
    Body(Vec<u8>),
    /// Announces the full length, sends `n` bytes, hangs up.
    DropAfter(Vec<u8>, usize),
    /// Sends nothing until the test drops the channel's sender: a download
    /// as slow as the test needs. Every request is answered after that.
    Held(Vec<u8>, Arc<Mutex<Receiver<()>>>),
}

/// A tiny HTTP/1.1 server: one request per connection, every request logged.
struct Server {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(routes: HashMap<String, Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let served = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                served.lock().unwrap().push(path.clone());
                let (body, send) = match routes.get(&path) {
                    Some(Reply::Body(b)) => (b.clone(), b.len()),
                    Some(Reply::DropAfter(b, n)) => (b.clone(), *n),
                    Some(Reply::Held(b, release)) => {
                        let _ = release.lock().unwrap().recv();
                        (b.clone(), b.len())
                    }
                    None => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                        continue;
                    }
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body[..send]);
                let _ = stream.flush();
            }
        });
        Server { base, log }
    }

    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// A `.tar.gz` holding `pkg-1.0/hello.txt` (and whatever `extra` adds).
fn tarball(extra: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    let data = b"hello from the test tarball\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "pkg-1.0/hello.txt", &data[..])
        .unwrap();
    extra(&mut builder);
    builder.into_inner().unwrap().finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

struct Fixture {
    dir: tempfile::TempDir,
    ctx: Context,
}

impl Fixture {
    fn new(pins: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let sources_file = dir.path().join("sources.toml");
        std::fs::write(&sources_file, pins).unwrap();
        let ctx = Context {
            root: dir.path().to_path_buf(),
            build_dir: dir.path().join("build"),
            cache_dir: dir.path().join("cache"),
            sources_file,
            verbose: false,
        };
        Fixture { dir, ctx }
    }

    fn prepare(&self, opts: &SourceOpts) -> anyhow::Result<()> {
        let sources = sources::selected(&self.ctx, opts)?;
        let fetcher = Fetcher::new()?.with_retry_pause(Duration::from_millis(10));
        // As `cargo xtask downloads` does: the build tree is ours for the run.
        let _build_lock = lock_dir(&self.ctx.build_dir, "build tree")?;
        sources::prepare(&self.ctx, opts, &sources, &fetcher)
    }

    fn cached_files(&self) -> Vec<String> {
        match std::fs::read_dir(self.ctx.cache_dir.join("tarballs")) {
            Ok(entries) => entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn extracted(&self, name: &str) -> PathBuf {
        self.ctx.build_dir.join("src").join(name)
    }
}

/// A server with `bytes` at `/pkg-1.0.tar.gz`, and pins naming them there.
fn serve(bytes: &[u8]) -> (Server, String) {
    let server = Server::start(HashMap::from([(
        "/pkg-1.0.tar.gz".into(),
        Reply::Body(bytes.to_vec()),
    )]));
    let pins = tarball_pin(&[format!("{}/pkg-1.0.tar.gz", server.base)], &sha256(bytes));
    (server, pins)
}

fn tarball_pin(urls: &[String], sha: &str) -> String {
    let urls: Vec<_> = urls.iter().map(|u| format!("\"{u}\"")).collect();
    format!(
        "[sources.pkg]\nversion = \"1.0\"\nurls = [{}]\nsha256 = \"{sha}\"\n",
        urls.join(", ")
    )
}

#[test]
fn good_download_is_cached_and_extracted() {
    let bytes = tarball(|_| {});
    let (server, pins) = serve(&bytes);
    let fx = Fixture::new(&pins);
    fx.prepare(&SourceOpts::default()).unwrap();
    assert_eq!(fx.cached_files(), ["pkg-1.0.tar.gz"]);
    let hello = std::fs::read_to_string(fx.extracted("pkg-1.0/hello.txt")).unwrap();
    assert_eq!(hello, "hello from the test tarball\n");
    // A warm run asks nothing of the server.
    fx.prepare(&SourceOpts::default()).unwrap();
    assert_eq!(server.requests(), ["/pkg-1.0.tar.gz"]);
}

#[test]
fn wrong_hash_is_rejected_and_nothing_is_cached() {
    let bytes = tarball(|_| {});
    let server = Server::start(HashMap::from([(
        "/pkg-1.0.tar.gz".into(),
        Reply::Body(bytes.clone()),
    )]));
    let pinned = sha256(b"some other bytes");
    let fx = Fixture::new(&tarball_pin(
        &[format!("{}/pkg-1.0.tar.gz", server.base)],
        &pinned,
    ));
    let err = format!("{:#}", fx.prepare(&SourceOpts::default()).unwrap_err());
    assert!(
        err.contains(&format!("expected {pinned}, got {}", sha256(&bytes))),
        "{err}"
    );
    assert!(
        fx.cached_files().is_empty(),
        "left in cache: {:?}",
        fx.cached_files()
    );
    assert!(!fx.extracted("pkg-1.0").exists());
}

#[test]
fn broken_transfer_is_retried_then_reported() {
    let bytes = tarball(|_| {});
    let half = bytes.len() / 2;
    let server = Server::start(HashMap::from([(
        "/pkg-1.0.tar.gz".into(),
        Reply::DropAfter(bytes.clone(), half),
    )]));
    let fx = Fixture::new(&tarball_pin(
        &[format!("{}/pkg-1.0.tar.gz", server.base)],
        &sha256(&bytes),
    ));
    let err = format!("{:#}", fx.prepare(&SourceOpts::default()).unwrap_err());
    assert_eq!(server.requests().len(), 3, "{:?}", server.requests());
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert!(err.contains("help: pass --mirror"), "{err}");
    assert!(fx.cached_files().is_empty());
}

#[test]
fn mirrors_are_tried_in_order_before_upstream() {
    let bytes = tarball(|_| {});
    let server = Server::start(HashMap::from([
        ("/second/pkg-1.0.tar.gz".into(), Reply::Body(bytes.clone())),
        (
            "/upstream/pkg-1.0.tar.gz".into(),
            Reply::Body(bytes.clone()),
        ),
    ]));
    let fx = Fixture::new(&tarball_pin(
        &[format!("{}/upstream/pkg-1.0.tar.gz", server.base)],
        &sha256(&bytes),
    ));
    let opts = SourceOpts {
        fetch: FetchOpts {
            mirror: vec![
                format!("{}/first", server.base),
                format!("{}/second/", server.base),
            ],
            offline: false,
        },
        ..SourceOpts::default()
    };
    fx.prepare(&opts).unwrap();
    assert_eq!(
        server.requests(),
        ["/first/pkg-1.0.tar.gz", "/second/pkg-1.0.tar.gz"]
    );
}

#[test]
fn directory_mirror_and_import_need_no_server() {
    let bytes = tarball(|_| {});
    let server = Server::start(HashMap::new());
    let pins = tarball_pin(
        &[format!("{}/pkg-1.0.tar.gz", server.base)],
        &sha256(&bytes),
    );
    let fx = Fixture::new(&pins);
    let mirror = fx.dir.path().join("mirror");
    std::fs::create_dir(&mirror).unwrap();
    std::fs::write(mirror.join("pkg-1.0.tar.gz"), &bytes).unwrap();
    let opts = SourceOpts {
        fetch: FetchOpts {
            mirror: vec![mirror.display().to_string()],
            offline: true,
        },
        ..SourceOpts::default()
    };
    fx.prepare(&opts).unwrap();
    assert_eq!(fx.cached_files(), ["pkg-1.0.tar.gz"]);

    let fx = Fixture::new(&pins);
    let import = SourceOpts {
        import: vec![mirror.join("pkg-1.0.tar.gz")],
        fetch: FetchOpts {
            offline: true,
            ..FetchOpts::default()
        },
        ..SourceOpts::default()
    };
    fx.prepare(&import).unwrap();
    assert_eq!(fx.cached_files(), ["pkg-1.0.tar.gz"]);
    std::fs::write(mirror.join("other.tar.gz"), b"not pinned").unwrap();
    let stranger = SourceOpts {
        import: vec![mirror.join("other.tar.gz")],
        ..SourceOpts::default()
    };
    let err = format!("{:#}", fx.prepare(&stranger).unwrap_err());
    assert!(err.contains("matches no pinned tarball"), "{err}");
    assert!(server.requests().is_empty());
}

#[test]
fn offline_uses_the_warm_cache_and_fails_fast_when_cold() {
    let bytes = tarball(|_| {});
    let (server, pins) = serve(&bytes);
    let offline = SourceOpts {
        fetch: FetchOpts {
            offline: true,
            ..FetchOpts::default()
        },
        ..SourceOpts::default()
    };

    let cold = Fixture::new(&pins);
    let err = format!("{:#}", cold.prepare(&offline).unwrap_err());
    assert!(
        err.contains("--offline, but these sources are not in the cache"),
        "{err}"
    );
    assert!(err.contains("pkg 1.0: download"), "{err}");
    assert!(server.requests().is_empty());

    let warm = Fixture::new(&pins);
    warm.prepare(&SourceOpts::default()).unwrap();
    let before = server.requests().len();
    std::fs::remove_dir_all(warm.extracted("pkg-1.0")).unwrap();
    warm.prepare(&offline).unwrap();
    assert_eq!(server.requests().len(), before, "offline run made requests");
    assert!(
        warm.extracted("pkg-1.0/hello.txt").is_file(),
        "missing tree not re-extracted"
    );
}

#[test]
fn escaping_archive_is_refused_and_not_installed() {
    let bytes = tarball(|b| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_path("pkg-1.0/link").unwrap();
        header.set_link_name("../../../etc").unwrap();
        header.set_cksum();
        b.append(&header, &[][..]).unwrap();
    });
    let (_server, pins) = serve(&bytes);
    let fx = Fixture::new(&pins);
    let err = format!("{:#}", fx.prepare(&SourceOpts::default()).unwrap_err());
    assert!(
        err.contains("refusing entry that escapes the destination"),
        "{err}"
    );
    assert!(!fx.extracted("pkg-1.0").exists());
    assert!(!fx.ctx.build_dir.join("stamps/src/pkg").exists());
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A repository with two commits; the first is tagged `v1`.
fn test_repo(dir: &Path) -> (PathBuf, String, String) {
    let repo = dir.join("upstream/lib.git");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("file.txt"), "first\n").unwrap();
    git(&repo, &["add", "file.txt"]);
    git(&repo, &["commit", "-qm", "first"]);
    git(&repo, &["tag", "v1"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("file.txt"), "second\n").unwrap();
    git(&repo, &["commit", "-qam", "second"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    (repo, first, second)
}

fn git_pin(url: &Path, tag: &str, commit: &str) -> String {
    format!(
        "[sources.lib]\nversion = \"1\"\ngit = \"{}\"\ntag = \"{tag}\"\ncommit = \"{commit}\"\n",
        url.display()
    )
}

#[test]
fn git_source_checks_out_exactly_the_pinned_commit() {
    let scratch = tempfile::tempdir().unwrap();
    let (repo, first, _) = test_repo(scratch.path());
    let fx = Fixture::new(&git_pin(&repo, "v1", &first));
    fx.prepare(&SourceOpts::default()).unwrap();
    let file = std::fs::read_to_string(fx.extracted("lib-1/file.txt")).unwrap();
    assert_eq!(file, "first\n");
    // Offline afterwards: the cache has the commit.
    let offline = SourceOpts {
        fetch: FetchOpts {
            offline: true,
            ..FetchOpts::default()
        },
        ..SourceOpts::default()
    };
    std::fs::remove_dir_all(fx.extracted("lib-1")).unwrap();
    fx.prepare(&offline).unwrap();
    assert_eq!(
        std::fs::read_to_string(fx.extracted("lib-1/file.txt")).unwrap(),
        "first\n"
    );
}

#[test]
fn git_source_with_a_wrong_commit_is_rejected() {
    let scratch = tempfile::tempdir().unwrap();
    let (repo, _, second) = test_repo(scratch.path());
    // The tag exists but points elsewhere than the pin.
    let fx = Fixture::new(&git_pin(
        &repo,
        "v1",
        &second.replace(|c: char| c != '0', "0"),
    ));
    let err = format!("{:#}", fx.prepare(&SourceOpts::default()).unwrap_err());
    assert!(err.contains("tag v1 is commit"), "{err}");
    assert!(
        err.contains("but the pin is 0000000000000000000000000000000000000000"),
        "{err}"
    );
    assert!(!fx.extracted("lib-1").exists());
}

#[test]
fn concurrent_runs_share_one_cache_safely() {
    let bytes = tarball(|_| {});
    let (server, pins) = serve(&bytes);
    let fx = Arc::new(Fixture::new(&pins));
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let fx = Arc::clone(&fx);
            std::thread::spawn(move || {
                fx.prepare(&SourceOpts::default())
                    .map_err(|e| format!("{e:#}"))
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap().unwrap();
    }
    // The lock made the later runs find the first one's verified download.
    assert_eq!(server.requests(), ["/pkg-1.0.tar.gz"]);
    assert_eq!(fx.cached_files(), ["pkg-1.0.tar.gz"]);
    let cached = std::fs::read(fx.ctx.cache_dir.join("tarballs/pkg-1.0.tar.gz")).unwrap();
    assert_eq!(sha256(&cached), sha256(&bytes));
}

/// `cargo xtask downloads` itself, on the fixture's pins and cache, and
/// deaf to the caller's environment (CI sets a mirror).
fn xtask_downloads(fx: &Fixture) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("downloads")
        .arg("--sources")
        .arg(&fx.ctx.sources_file)
        .arg("--cache-dir")
        .arg(&fx.ctx.cache_dir);
    for var in [
        "OCAML_UNIKRAFT_MIRRORS",
        "OCAML_UNIKRAFT_CACHE",
        "OCAML_UNIKRAFT_BUILD_DIR",
        "UNIKRAFT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn two_build_trees_share_one_cache_and_one_download() {
    let bytes = tarball(|_| {});
    let (gate, held) = mpsc::channel::<()>();
    let server = Server::start(HashMap::from([(
        "/pkg-1.0.tar.gz".into(),
        Reply::Held(bytes.clone(), Arc::new(Mutex::new(held))),
    )]));
    let fx = Fixture::new(&tarball_pin(
        &[format!("{}/pkg-1.0.tar.gz", server.base)],
        &sha256(&bytes),
    ));
    let trees = ["tree-a", "tree-b"].map(|name| fx.dir.path().join(name));
    let (line_tx, lines) = mpsc::channel();
    let mut runs = Vec::new();
    for (run, tree) in trees.iter().enumerate() {
        let mut child = xtask_downloads(&fx)
            .arg("--build-dir")
            .arg(tree)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let line_tx = line_tx.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let _ = line_tx.send((run, line));
            }
        });
        runs.push(child);
    }
    drop(line_tx);

    // The first run to take the cache lock holds it while the server holds
    // its download; the server answers once the other run said it waits.
    let waiting = "waiting for another ocaml-unikraft run that holds the download cache lock";
    let mut output = [Vec::new(), Vec::new()];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut gate = Some(gate);
    while gate.is_some() {
        let Ok((run, line)) =
            lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        if line.contains(waiting) {
            gate = None;
        }
        output[run].push(line);
    }
    // Runs that never waited finish too, so the assertions below say why.
    drop(gate);
    for (run, line) in lines {
        output[run].push(line);
    }
    for child in &mut runs {
        let status = child.wait().unwrap();
        assert!(status.success(), "{status}: {output:#?}");
    }
    let waited: Vec<_> = output
        .iter()
        .filter(|lines| lines.iter().any(|l| l.contains(waiting)))
        .collect();
    assert_eq!(waited.len(), 1, "{output:#?}");
    assert!(
        waited[0]
            .iter()
            .any(|l| l.ends_with("sha256 verified (cache)")),
        "the waiting run did not find the download in the cache: {output:#?}"
    );
    assert_eq!(server.requests(), ["/pkg-1.0.tar.gz"]);
    for tree in &trees {
        assert!(tree.join("src/pkg-1.0/hello.txt").is_file(), "{output:#?}");
    }
}

#[test]
fn list_prints_one_line_per_pin() {
    let scratch = tempfile::tempdir().unwrap();
    let (repo, first, _) = test_repo(scratch.path());
    let pins = tarball_pin(
        &["https://example.org/dl/pkg-1.0.tar.gz".into()],
        &"a".repeat(64),
    ) + &git_pin(&repo, "v1", &first);
    let fx = Fixture::new(&pins);
    let out = xtask_downloads(&fx).arg("--list").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "lib 1 git lib.git\npkg 1.0 tarball pkg-1.0.tar.gz\n"
    );
    // Nothing fetched, nothing created.
    assert!(!fx.ctx.cache_dir.exists());
    let only = xtask_downloads(&fx)
        .args(["--list", "--only", "pkg"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(only.stdout).unwrap(),
        "pkg 1.0 tarball pkg-1.0.tar.gz\n"
    );
}

#[test]
fn patches_apply_in_order_and_a_broken_one_is_a_clear_error() {
    let bytes = tarball(|_| {});
    let (_server, pins) = serve(&bytes);
    let pins = pins + "patches = \"patches/pkg\"\n";
    let fx = Fixture::new(&pins);
    let patches = fx.dir.path().join("patches/pkg");
    std::fs::create_dir_all(&patches).unwrap();
    let good = "Why: a test.\n\n--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-hello from the test tarball\n+patched once\n";
    std::fs::write(patches.join("0001-first.patch"), good).unwrap();
    let second = "--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-patched once\n+patched twice\n";
    std::fs::write(patches.join("0002-second.patch"), second).unwrap();
    fx.prepare(&SourceOpts::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(fx.extracted("pkg-1.0/hello.txt")).unwrap(),
        "patched twice\n"
    );

    // A patch that no longer applies names itself and leaves no stamp.
    let stale = "--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-text that is not there\n+x\n";
    std::fs::write(patches.join("0003-stale.patch"), stale).unwrap();
    let err = format!("{:#}", fx.prepare(&SourceOpts::default()).unwrap_err());
    assert!(
        err.contains("0003-stale.patch does not apply to pkg 1.0"),
        "{err}"
    );
    assert!(!fx.ctx.build_dir.join("stamps/src/pkg").exists());
    // Fixed, the tree is extracted afresh and every patch applies again.
    std::fs::remove_file(patches.join("0003-stale.patch")).unwrap();
    fx.prepare(&SourceOpts::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(fx.extracted("pkg-1.0/hello.txt")).unwrap(),
        "patched twice\n"
    );
}
