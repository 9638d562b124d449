//! End-to-end tests of the installed driver: a fixture prefix with backend
//! descriptors, and fake compilers and tools on PATH that record their argv.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::RwLock;

/// Writing an executable while another thread forks can leave the write
/// descriptor open in the child for a moment, and exec then fails with
/// ETXTBSY. Files are written under the write lock; children are spawned
/// under the read lock (spawn returns once the child has exec'd).
static EXEC_LOCK: RwLock<()> = RwLock::new(());

const DRIVER: &str = env!("CARGO_BIN_EXE_ocaml-unikraft-cc");

/// Records `<name>\n<arg>\n...\n----\n` to $FAKE_LOG, creates the file
/// after `-o`, fails with 3 if its name is in $FAKE_FAIL and kills itself
/// with SIGTERM if it is in $FAKE_KILL. Only shell builtins: PATH holds
/// nothing but the fakes.
const RECORDER: &str = r#"#!/bin/sh
me=${0##*/}
{ printf '%s\n' "$me"; for a in "$@"; do printf '%s\n' "$a"; done; printf '%s\n' ----; } >> "$FAKE_LOG"
case " ${FAKE_FAIL-} " in *" $me "*) exit 3;; esac
case " ${FAKE_KILL-} " in *" $me "*) kill -TERM $$;; esac
prev=
for a in "$@"; do
  if [ "$prev" = -o ]; then : > "$a"; fi
  prev=$a
done
exit 0
"#;

const FAKES: &[&str] = &[
    "gcc",
    "strip",
    "objcopy",
    "python3",
    "ar",
    "x86_64-linux-gnu-ar",
    "aarch64-linux-gnu-ar",
];

/// A realistic descriptor; backends differ in a define, objects and steps.
fn descriptor(backend: &str, arch: &str, cc: &str, tool_prefix: &str) -> String {
    let (entry, steps) = match backend {
        "qemu" => (
            "_multiboot_entry",
            r#"[
              ["${tool_prefix}strip", "-s", "${dbg}", "-o", "${out}"],
              ["python3", "${bundle}/support/scripts/mkbootinfo.py", "${out}", "${out}.bootinfo"],
              ["${tool_prefix}objcopy", "--update-section", ".uk_bootinfo=${out}.bootinfo", "${out}"],
              ["python3", "${bundle}/support/scripts/multiboot.py", "${out}"]
            ]"#,
        ),
        _ => (
            "_lxboot_entry",
            r#"[
              ["${tool_prefix}strip", "-s", "${dbg}", "-o", "${out}"],
              ["python3", "${bundle}/support/scripts/mkbootinfo.py", "${out}", "${out}.bootinfo"]
            ]"#,
        ),
    };
    format!(
        r#"{{
  "format": 1,
  "backend": "{backend}",
  "arch": "{arch}",
  "cc": "{cc}",
  "tool_prefix": "{tool_prefix}",
  "compile_flags": ["-nostdinc", "-D__Unikraft__", "-DUK_BACKEND_{backend}",
                    "-I${{bundle}}/include", "-idirafter", "/usr/lib/gcc/x86_64-linux-gnu/12/include"],
  "link_flags": ["-nostdlib", "-Wl,--omagic"],
  "link_objects_before": ["${{bundle}}/libkvmplat.o"],
  "link_objects_after": ["${{bundle}}/libs/libukboot.o", "-Wl,-dT,${{bundle}}/lds/link64.lds",
                         "-Wl,-T,${{bundle}}/lds/extra.ld", "-Wl,--entry={entry}"],
  "post_link": {steps}
}}"#
    )
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

fn write_exe(path: &Path, text: &str) {
    write(path, text);
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    prefix: PathBuf,
    fakebin: PathBuf,
    work: PathBuf,
    log: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let _guard = EXEC_LOCK.write().unwrap_or_else(|e| e.into_inner());
        // Under the target dir, so hard links to the driver work.
        let dir = tempfile::Builder::new()
            .prefix("driver-test")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("tempdir");
        let root = dir.path().to_owned();
        let prefix = root.join("prefix");
        let fakebin = root.join("fakebin");
        let work = root.join("work");
        fs::create_dir_all(prefix.join("bin")).expect("mkdir");
        fs::create_dir_all(&work).expect("mkdir");
        for arch in ["x86_64", "aarch64"] {
            for tool in ["cc", "gcc", "ar", "strip"] {
                let dest = prefix
                    .join("bin")
                    .join(format!("{arch}-unikraft-ocaml-{tool}"));
                if fs::hard_link(DRIVER, &dest).is_err() {
                    fs::copy(DRIVER, &dest).expect("copy driver");
                }
            }
        }
        for fake in FAKES {
            write_exe(&fakebin.join(fake), RECORDER);
        }
        Fixture {
            log: root.join("log"),
            _dir: dir,
            root,
            prefix,
            fakebin,
            work,
        }
    }

    fn bundle(&self, backend: &str, arch: &str) -> PathBuf {
        self.prefix
            .join("lib")
            .join(format!("ocaml-unikraft-backend-{backend}-{arch}"))
    }

    fn descriptor_path(&self, backend: &str, arch: &str) -> PathBuf {
        self.prefix
            .join("share")
            .join(format!("ocaml-unikraft-backend-{backend}-{arch}"))
            .join("backend.json")
    }

    fn add_descriptor(&self, backend: &str, arch: &str, text: &str) {
        let _guard = EXEC_LOCK.write().unwrap_or_else(|e| e.into_inner());
        fs::create_dir_all(self.bundle(backend, arch).join("include")).expect("mkdir");
        write(&self.descriptor_path(backend, arch), text);
    }

    /// An x86_64 backend with `gcc` and no tool prefix.
    fn add_backend(&self, backend: &str) -> &Self {
        self.add_descriptor(backend, "x86_64", &descriptor(backend, "x86_64", "gcc", ""));
        self
    }

    fn default_file(&self) -> PathBuf {
        self.prefix
            .join("share/ocaml-unikraft-toolchain-x86_64/default-backend")
    }

    fn set_default(&self, backend: &str) -> &Self {
        write(&self.default_file(), &format!("{backend}\n"));
        self
    }

    /// The driver under an installed name, with only the fakes on PATH.
    fn cmd(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.prefix.join("bin").join(name));
        cmd.current_dir(&self.work)
            .env("PATH", &self.fakebin)
            .env("FAKE_LOG", &self.log)
            .env_remove("OCAML_UNIKRAFT_PREFIX")
            .env_remove("__V")
            .env_remove("FAKE_FAIL")
            .env_remove("FAKE_KILL");
        cmd
    }

    /// Every recorded command, program name first.
    fn log(&self) -> Vec<Vec<String>> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let mut commands = Vec::new();
        let mut current = Vec::new();
        for line in text.lines() {
            if line == "----" {
                commands.push(std::mem::take(&mut current));
            } else {
                current.push(line.to_owned());
            }
        }
        assert!(current.is_empty(), "unterminated record in {text:?}");
        commands
    }

    fn clear_log(&self) {
        let _ = fs::remove_file(&self.log);
    }
}

fn run(cmd: &mut Command) -> Output {
    let child = {
        let _guard = EXEC_LOCK.read().unwrap_or_else(|e| e.into_inner());
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("driver starts")
    };
    child.wait_with_output().expect("driver finishes")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

/// `words`, with `@B` standing for a bundle directory.
fn with_bundle(line: &str, bundle: &Path) -> Vec<String> {
    let b = bundle.to_str().expect("utf-8 path");
    line.split_whitespace()
        .map(|w| w.replace("@B", b))
        .collect()
}

const COMPILE_FLAGS: &str = "-nostdinc -D__Unikraft__ -DUK_BACKEND_qemu -I@B/include \
                             -idirafter /usr/lib/gcc/x86_64-linux-gnu/12/include";

fn compile_flags(backend: &str) -> String {
    COMPILE_FLAGS.replace("UK_BACKEND_qemu", &format!("UK_BACKEND_{backend}"))
}

#[test]
fn compile_only_gets_the_compile_flags() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let caller = "-O2 -fno-strict-aliasing -fwrapv -pthread -Wall -c -o foo.o foo.c";
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(words(caller)));
    assert!(out.status.success(), "{}", stderr(&out));
    let b = f.bundle("qemu", "x86_64");
    let want = with_bundle(&format!("gcc {COMPILE_FLAGS} {caller}"), &b);
    assert_eq!(f.log(), vec![want]);
    assert!(f.work.join("foo.o").exists());
    // `gcc` is the same driver, `-E -P` the same kind of call.
    f.clear_log();
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-gcc")
        .args(["-E", "-P", "foo.mli"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let want = with_bundle(&format!("gcc {COMPILE_FLAGS} -E -P foo.mli"), &b);
    assert_eq!(f.log(), vec![want]);
}

#[test]
fn compile_with_a_backend_uses_its_flags() {
    let f = Fixture::new();
    f.add_backend("qemu").add_backend("firecracker");
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args([
        "-c",
        "x.c",
        "-z",
        "unikraft-backend=firecracker",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let b = f.bundle("firecracker", "x86_64");
    let want = with_bundle(&format!("gcc {} -c x.c", compile_flags("firecracker")), &b);
    assert_eq!(f.log(), vec![want]);
}

#[test]
fn queries_run_the_compiler_with_compile_flags() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let b = f.bundle("qemu", "x86_64");
    for query in [
        &["--version"][..],
        &["-v"],
        &["-dumpmachine"],
        &["-print-file-name=include"],
    ] {
        f.clear_log();
        let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(query));
        assert!(out.status.success(), "{}", stderr(&out));
        let want = with_bundle(&format!("gcc {COMPILE_FLAGS} {}", query.join(" ")), &b);
        assert_eq!(f.log(), vec![want], "{query:?}");
    }
}

#[test]
fn link_without_backend_uses_the_only_backend_and_no_post_link() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .args(words("-o conftest -O2 conftest.c -lm")));
    assert!(out.status.success(), "{}", stderr(&out));
    let want = with_bundle(
        &format!(
            "gcc {COMPILE_FLAGS} -nostdlib -Wl,--omagic @B/libkvmplat.o -O2 conftest.c \
             @B/libs/libukboot.o -Wl,-dT,@B/lds/link64.lds -Wl,-T,@B/lds/extra.ld \
             -Wl,--entry=_multiboot_entry -o conftest"
        ),
        &f.bundle("qemu", "x86_64"),
    );
    assert_eq!(f.log(), vec![want]);
    assert!(f.work.join("conftest").exists());
    assert!(!f.work.join("conftest.dbg").exists());
}

#[test]
fn link_without_backend_uses_the_default_file() {
    let f = Fixture::new();
    f.add_backend("qemu")
        .add_backend("firecracker")
        .set_default("firecracker");
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .args(["conftest.c", "-lpthread"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let want = with_bundle(
        &format!(
            "gcc {} -nostdlib -Wl,--omagic @B/libkvmplat.o conftest.c \
             @B/libs/libukboot.o -Wl,-dT,@B/lds/link64.lds -Wl,-T,@B/lds/extra.ld \
             -Wl,--entry=_lxboot_entry -o a.out",
            compile_flags("firecracker")
        ),
        &f.bundle("firecracker", "x86_64"),
    );
    assert_eq!(f.log(), vec![want]);
}

#[test]
fn no_default_with_two_backends_is_an_error() {
    let f = Fixture::new();
    f.add_backend("qemu").add_backend("firecracker");
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(["-c", "x.c"]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!(
            "x86_64-unikraft-ocaml-cc: no default backend for x86_64; installed: firecracker, qemu\n\
             help: select one with -z unikraft-backend=NAME, or write its name to {}\n",
            f.default_file().display()
        )
    );
    assert_eq!(f.log(), Vec::<Vec<String>>::new());
}

#[test]
fn default_file_naming_a_missing_backend_is_an_error() {
    let f = Fixture::new();
    f.add_backend("qemu")
        .add_backend("firecracker")
        .set_default("xen");
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(["-c", "x.c"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(&format!(
            "x86_64-unikraft-ocaml-cc: the default backend 'xen' (from {}) is not installed \
             for x86_64; installed: firecracker, qemu\n",
            f.default_file().display()
        )),
        "{}",
        stderr(&out)
    );
}

const OCAMLOPT_LINK: &str = "-o hello.exe -Wl,-E /tmp/camlstartup123.o std_exit.o hello.o \
                             /p/lib/ocaml/stdlib.a /p/lib/ocaml/libasmrun.a -lm -lpthread";

fn explicit_link_log(f: &Fixture) -> Vec<Vec<String>> {
    let b = f.bundle("qemu", "x86_64");
    [
        format!(
            "gcc {COMPILE_FLAGS} -nostdlib -Wl,--omagic @B/libkvmplat.o -Wl,-E \
             /tmp/camlstartup123.o std_exit.o hello.o /p/lib/ocaml/stdlib.a \
             /p/lib/ocaml/libasmrun.a @B/libs/libukboot.o -Wl,-dT,@B/lds/link64.lds \
             -Wl,-T,@B/lds/extra.ld -Wl,--entry=_multiboot_entry -o hello.exe.dbg"
        ),
        "strip -s hello.exe.dbg -o hello.exe".to_owned(),
        "python3 @B/support/scripts/mkbootinfo.py hello.exe hello.exe.bootinfo".to_owned(),
        "objcopy --update-section .uk_bootinfo=hello.exe.bootinfo hello.exe".to_owned(),
        "python3 @B/support/scripts/multiboot.py hello.exe".to_owned(),
    ]
    .iter()
    .map(|l| with_bundle(l, &b))
    .collect()
}

#[test]
fn link_with_backend_links_dbg_then_runs_post_link() {
    let f = Fixture::new();
    f.add_backend("qemu").add_backend("firecracker");
    let selectors: [&[&str]; 3] = [
        &["-z", "unikraft-backend=qemu"],
        &["-zunikraft-backend=qemu"],
        &["-Wl,-z,unikraft-backend=qemu"],
    ];
    for selector in selectors {
        f.clear_log();
        let out = run(f
            .cmd("x86_64-unikraft-ocaml-cc")
            .args(words(OCAMLOPT_LINK))
            .args(selector));
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(f.log(), explicit_link_log(&f), "{selector:?}");
        assert!(f.work.join("hello.exe.dbg").exists());
        assert!(f.work.join("hello.exe").exists());
    }
}

#[test]
fn failures_stop_the_steps_and_propagate() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let link = |env: (&str, &str)| {
        f.clear_log();
        let out = run(f
            .cmd("x86_64-unikraft-ocaml-cc")
            .args(words(OCAMLOPT_LINK))
            .args(["-z", "unikraft-backend=qemu"])
            .env(env.0, env.1));
        (out.status.code(), f.log().len())
    };
    // The link fails: nothing after it runs.
    assert_eq!(link(("FAKE_FAIL", "gcc")), (Some(3), 1));
    // The strip step is killed by SIGTERM: 128 + 15, and it is the last.
    assert_eq!(link(("FAKE_KILL", "strip")), (Some(143), 2));
    // The third step fails.
    assert_eq!(link(("FAKE_FAIL", "objcopy")), (Some(3), 4));
    // A compile exec's the compiler: its status is ours.
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .args(["-c", "x.c"])
        .env("FAKE_FAIL", "gcc"));
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn unknown_backend_lists_the_backends_and_suggests_no_build() {
    let f = Fixture::new();
    f.add_backend("qemu").add_backend("firecracker");
    for args in [
        &["-c", "x.c", "-z", "unikraft-backend=xyz"][..],
        &["-zunikraft-backend=xyz", "a.o"],
    ] {
        let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(args));
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            stderr(&out),
            "x86_64-unikraft-ocaml-cc: unknown backend 'xyz'; \
             installed for x86_64: firecracker, qemu\n\
             help: the backends are qemu, firecracker, and their variants named \
             <backend>-<option>... with options debug, nodevices, noroot, 9pfs in that order (e.g. qemu-9pfs); \
             select an installed one with -z unikraft-backend=NAME\n"
        );
    }
    // With nothing installed, building every backend is the way out.
    let empty = Fixture::new();
    let out = run(empty.cmd("aarch64-unikraft-ocaml-cc").args([
        "-c",
        "x.c",
        "-z",
        "unikraft-backend=nope",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "aarch64-unikraft-ocaml-cc: unknown backend 'nope'; installed for aarch64: none\n\
         help: the backends are qemu, firecracker, and their variants named \
         <backend>-<option>... with options debug, nodevices, noroot, 9pfs in that order (e.g. qemu-9pfs); \
         build them with `cargo xtask localbuild --arch arm64`\n"
    );
    assert_eq!(f.log(), Vec::<Vec<String>>::new());
}

#[test]
fn known_backend_not_installed_suggests_building_it() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args([
        "-c",
        "x.c",
        "-z",
        "unikraft-backend=firecracker",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "x86_64-unikraft-ocaml-cc: backend 'firecracker' is not installed for x86_64; \
         installed: qemu\n\
         help: select an installed one with -z unikraft-backend=NAME, or build it with \
         `cargo xtask localbuild --backend firecracker --arch x86_64`\n"
    );
    assert_eq!(f.log(), Vec::<Vec<String>>::new());
}

#[test]
fn a_variant_is_a_backend_of_its_own_beside_the_plain_one() {
    let f = Fixture::new();
    f.add_backend("qemu")
        .add_backend("qemu-9pfs")
        .set_default("qemu");
    let cc = |args: &[&str]| run(f.cmd("x86_64-unikraft-ocaml-cc").args(args));
    assert_eq!(
        stdout(&cc(&["--unikraft-backends"])),
        "qemu (default)\nqemu-9pfs\n"
    );
    // Each link takes the bundle it names.
    for (backend, flags) in [
        ("qemu", compile_flags("qemu")),
        ("qemu-9pfs", compile_flags("qemu-9pfs")),
    ] {
        f.clear_log();
        let select = format!("unikraft-backend={backend}");
        let out = cc(&["-z", &select, "-c", "x.c"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let b = f.bundle(backend, "x86_64");
        assert_eq!(
            f.log(),
            vec![with_bundle(&format!("gcc {flags} -c x.c"), &b)]
        );
    }
    // A variant that is not installed: how to build it.
    let out = cc(&["-z", "unikraft-backend=qemu-debug", "-c", "x.c"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "x86_64-unikraft-ocaml-cc: backend 'qemu-debug' is not installed for x86_64; \
         installed: qemu, qemu-9pfs\n\
         help: select an installed one with -z unikraft-backend=NAME, or build it with \
         `cargo xtask localbuild --backend qemu --arch x86_64 --option debug`\n"
    );
    // Options out of order name no variant.
    let out = cc(&["-z", "unikraft-backend=qemu-9pfs-debug", "-c", "x.c"]);
    assert!(
        stderr(&out)
            .contains("unknown backend 'qemu-9pfs-debug'; installed for x86_64: qemu, qemu-9pfs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn corrupt_descriptor_names_its_path() {
    let f = Fixture::new();
    f.add_descriptor("qemu", "x86_64", "{ \"format\": 1, ");
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(["-c", "x.c"]));
    assert_eq!(out.status.code(), Some(2));
    let path = f.descriptor_path("qemu", "x86_64");
    assert!(
        stderr(&out).starts_with(&format!(
            "x86_64-unikraft-ocaml-cc: invalid backend descriptor {}: ",
            path.display()
        )),
        "{}",
        stderr(&out)
    );
    f.add_descriptor(
        "qemu",
        "x86_64",
        &descriptor("qemu", "x86_64", "gcc", "").replace("\"format\": 1", "\"format\": 7"),
    );
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(["-c", "x.c"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!(
            "{} has format 7, this driver reads format 1",
            path.display()
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verbose_echoes_quoted_commands() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .args(["-DMSG=\"a b\"", "-c", "x.c"])
        .env("__V", "1"));
    assert!(out.status.success(), "{}", stderr(&out));
    let b = f.bundle("qemu", "x86_64");
    let flags = COMPILE_FLAGS.replace("@B", b.to_str().expect("utf-8"));
    assert_eq!(
        stderr(&out),
        format!("gcc {flags} '-DMSG=\"a b\"' -c x.c\n")
    );

    // A link echoes every step, in order.
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .args(words(OCAMLOPT_LINK))
        .args(["-z", "unikraft-backend=qemu"])
        .env("__V", "1"));
    assert!(out.status.success(), "{}", stderr(&out));
    let want: String = explicit_link_log(&f)
        .iter()
        .map(|argv| argv.join(" ") + "\n")
        .collect();
    assert_eq!(stderr(&out), want);

    // Without __V nothing is printed.
    let out = run(f.cmd("x86_64-unikraft-ocaml-cc").args(["-c", "x.c"]));
    assert_eq!(stderr(&out), "");
}

#[test]
fn binutils_dispatch() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let args = ["rcs", "libfoo.a", "a.o", "b.o"];
    let tool = |name: &str| {
        f.clear_log();
        let out = run(f.cmd(name).args(args));
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        f.log()
    };
    let expect = |program: &str| {
        vec![std::iter::once(program)
            .chain(args)
            .map(str::to_owned)
            .collect::<Vec<_>>()]
    };
    // x86_64: the descriptor's empty prefix.
    assert_eq!(tool("x86_64-unikraft-ocaml-ar"), expect("ar"));
    // aarch64: no descriptor, so the prefix depends on the host.
    let arm_ar = if std::env::consts::ARCH == "aarch64" {
        "ar"
    } else {
        "aarch64-linux-gnu-ar"
    };
    assert_eq!(tool("aarch64-unikraft-ocaml-ar"), expect(arm_ar));
    // A descriptor's prefix wins over the derived one.
    f.add_descriptor(
        "qemu",
        "x86_64",
        &descriptor(
            "qemu",
            "x86_64",
            "x86_64-linux-gnu-gcc",
            "x86_64-linux-gnu-",
        ),
    );
    assert_eq!(
        tool("x86_64-unikraft-ocaml-ar"),
        expect("x86_64-linux-gnu-ar")
    );
    // Status is propagated.
    let out = run(f
        .cmd("aarch64-unikraft-ocaml-ar")
        .args(args)
        .env("FAKE_FAIL", arm_ar));
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn missing_compiler_says_what_to_install() {
    let f = Fixture::new();
    f.add_descriptor(
        "qemu",
        "arm64",
        &descriptor(
            "qemu",
            "arm64",
            "aarch64-linux-gnu-gcc",
            "aarch64-linux-gnu-",
        ),
    );
    let out = run(f.cmd("aarch64-unikraft-ocaml-cc").args(["-c", "x.c"]));
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        stderr(&out),
        "aarch64-unikraft-ocaml-cc: cannot run 'aarch64-linux-gnu-gcc': No such file or directory\n\
         help: install gcc-aarch64-linux-gnu (Debian/Ubuntu)\n"
    );
}

#[test]
fn shared_is_refused() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .args(["-shared", "-o", "x.so", "x.o"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("-shared is not supported"),
        "{}",
        stderr(&out)
    );
    assert_eq!(f.log(), Vec::<Vec<String>>::new());
}

#[test]
fn moved_prefix_still_works() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let moved = f.root.join("elsewhere").join("prefix2");
    fs::create_dir_all(moved.parent().expect("parent")).expect("mkdir");
    fs::rename(&f.prefix, &moved).expect("move prefix");
    let out = run(Command::new(moved.join("bin/x86_64-unikraft-ocaml-cc"))
        .current_dir(&f.work)
        .env("PATH", &f.fakebin)
        .env("FAKE_LOG", &f.log)
        .env_remove("OCAML_UNIKRAFT_PREFIX")
        .env_remove("__V")
        .args(["-c", "x.c"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let b = moved.join("lib/ocaml-unikraft-backend-qemu-x86_64");
    assert_eq!(
        f.log(),
        vec![with_bundle(&format!("gcc {COMPILE_FLAGS} -c x.c"), &b)]
    );
}

#[test]
fn symlinked_driver_finds_its_prefix() {
    let f = Fixture::new();
    f.add_backend("qemu");
    let link = f.root.join("links").join("x86_64-unikraft-ocaml-cc");
    fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(f.prefix.join("bin/x86_64-unikraft-ocaml-cc"), &link)
        .expect("symlink");
    let out = run(Command::new(&link)
        .current_dir(&f.work)
        .env("PATH", &f.fakebin)
        .env("FAKE_LOG", &f.log)
        .env_remove("OCAML_UNIKRAFT_PREFIX")
        .args(["-c", "x.c"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        f.log()[0][4],
        format!("-I{}/include", f.bundle("qemu", "x86_64").display())
    );
}

#[test]
fn prefix_env_overrides_the_location() {
    let f = Fixture::new();
    let other = Fixture::new();
    other.add_backend("firecracker");
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .env("OCAML_UNIKRAFT_PREFIX", &other.prefix)
        .args(["-c", "x.c"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let b = other.bundle("firecracker", "x86_64");
    assert_eq!(
        f.log(),
        vec![with_bundle(
            &format!("gcc {} -c x.c", compile_flags("firecracker")),
            &b
        )]
    );
}

#[test]
fn introspection() {
    let f = Fixture::new();
    f.add_backend("qemu").add_backend("firecracker");
    let cc = |arg: &str| run(f.cmd("x86_64-unikraft-ocaml-cc").arg(arg));

    // No default yet: listed without a mark.
    let out = cc("--unikraft-backends");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "firecracker\nqemu\n");
    f.set_default("qemu");
    assert_eq!(
        stdout(&cc("--unikraft-backends")),
        "firecracker\nqemu (default)\n"
    );

    let b = f.bundle("qemu", "x86_64");
    let bs = b.display();
    let flags = COMPILE_FLAGS.replace("@B", &bs.to_string());
    let want = format!(
        "backend: qemu\n\
         descriptor: {}\n\
         bundle: {bs}\n\
         compile: gcc {flags} ARGS...\n\
         link: gcc {flags} -nostdlib -Wl,--omagic {bs}/libkvmplat.o ARGS... \
         {bs}/libs/libukboot.o -Wl,-dT,{bs}/lds/link64.lds -Wl,-T,{bs}/lds/extra.ld \
         -Wl,--entry=_multiboot_entry -o a.out.dbg\n\
         post-link: strip -s a.out.dbg -o a.out\n\
         post-link: python3 {bs}/support/scripts/mkbootinfo.py a.out a.out.bootinfo\n\
         post-link: objcopy --update-section .uk_bootinfo=a.out.bootinfo a.out\n\
         post-link: python3 {bs}/support/scripts/multiboot.py a.out\n",
        f.descriptor_path("qemu", "x86_64").display()
    );
    assert_eq!(stdout(&cc("--unikraft-flags")), want);
    assert_eq!(stdout(&cc("--unikraft-flags=qemu")), want);
    let out = cc("--unikraft-flags=firecracker");
    assert!(
        stdout(&out).starts_with("backend: firecracker\n"),
        "{}",
        stdout(&out)
    );
    let out = cc("--unikraft-flags=nope");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown backend 'nope'"),
        "{}",
        stderr(&out)
    );
    // Nothing was compiled.
    assert_eq!(f.log(), Vec::<Vec<String>>::new());
    // With other arguments the flag is the compiler's business.
    let out = run(f
        .cmd("x86_64-unikraft-ocaml-cc")
        .args(["--unikraft-backends", "-c", "x.c"]));
    assert!(out.status.success());
    assert_eq!(f.log()[0].last().map(String::as_str), Some("x.c"));
}

#[test]
fn bad_invocation_name() {
    let out = run(Command::new(DRIVER).arg("-c"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("ocaml-unikraft-cc: cannot tell the target from the name"),
        "{}",
        stderr(&out)
    );
}
