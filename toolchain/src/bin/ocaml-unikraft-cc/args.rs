//! The caller's gcc command line: pick out the backend selection, classify
//! the call, and rewrite it for a link. Pure functions, no I/O.

use std::ffi::{OsStr, OsString};

/// gcc options whose value may be the next argument. Their values are never
/// taken for inputs, outputs or flags (`-o -c` writes a file named `-c`).
const TAKES_VALUE: &[&str] = &[
    "-o",
    "-x",
    "-z",
    "-l",
    "-L",
    "-I",
    "-D",
    "-U",
    "-A",
    "-B",
    "-T",
    "-e",
    "-u",
    "-MF",
    "-MT",
    "-MQ",
    "-include",
    "-imacros",
    "-idirafter",
    "-isystem",
    "-iquote",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-isysroot",
    "-imultilib",
    "-Xlinker",
    "-Xassembler",
    "-Xpreprocessor",
    "--param",
    "-aux-info",
    "-dumpbase",
    "-dumpbase-ext",
    "-dumpdir",
    "-wrapper",
];

/// Libraries musl and Unikraft provide. Under `-nostdlib` gcc would still
/// find the host's (glibc) files for them and link them silently.
const DROPPED_LIBS: &[&str] = &["m", "pthread", "dl", "rt", "c"];

const SELECTOR: &str = "unikraft-backend=";

fn takes_value(arg: &str) -> bool {
    TAKES_VALUE.contains(&arg)
}

fn starts_with_dash(arg: &OsStr) -> bool {
    arg.as_encoded_bytes().first() == Some(&b'-')
}

/// The caller's arguments with the backend selection taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub backend: Option<String>,
    pub args: Vec<OsString>,
}

fn select(found: &mut Option<String>, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("empty backend name in '-z {SELECTOR}'"));
    }
    match found {
        Some(prev) if prev != name => Err(format!(
            "conflicting backends selected: '{prev}' and '{name}'"
        )),
        _ => {
            *found = Some(name.to_owned());
            Ok(())
        }
    }
}

/// Take `-z unikraft-backend=NAME` out of `-Wl,...` items; `None` when the
/// argument has no selector and stays as it is.
fn strip_from_wl(arg: &str, found: &mut Option<String>) -> Result<Option<Vec<String>>, String> {
    let Some(list) = arg.strip_prefix("-Wl,") else {
        return Ok(None);
    };
    let items: Vec<&str> = list.split(',').collect();
    let mut kept = Vec::with_capacity(items.len());
    let mut changed = false;
    let mut i = 0;
    while i < items.len() {
        let item = items[i];
        if item == "-z" {
            if let Some(name) = items.get(i + 1).and_then(|v| v.strip_prefix(SELECTOR)) {
                select(found, name)?;
                changed = true;
                i += 2;
                continue;
            }
            // Keep `-z` and its keyword together, whatever that is.
            kept.push(item);
            if let Some(next) = items.get(i + 1) {
                kept.push(next);
            }
            i += 2;
            continue;
        }
        if let Some(name) = item
            .strip_prefix("-z")
            .and_then(|v| v.strip_prefix(SELECTOR))
        {
            select(found, name)?;
            changed = true;
        } else {
            kept.push(item);
        }
        i += 1;
    }
    if !changed {
        return Ok(None);
    }
    Ok(Some(if kept.is_empty() {
        Vec::new()
    } else {
        vec![format!("-Wl,{}", kept.join(","))]
    }))
}

/// Remove the backend selection, in any of its spellings: `-z` then
/// `unikraft-backend=NAME` (as ocamlopt passes `-cclib "-z ..."`),
/// `-zunikraft-backend=NAME`, and `-Wl,-z,unikraft-backend=NAME` (other
/// `-Wl` items are kept). Every other `-z X` passes through untouched.
/// Repeating the same backend is fine; two different ones are an error.
pub fn extract_backend(args: Vec<OsString>) -> Result<Selected, String> {
    let mut backend = None;
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "-z" {
            match iter.next() {
                Some(value) => {
                    if let Some(name) = value.to_str().and_then(|v| v.strip_prefix(SELECTOR)) {
                        select(&mut backend, name)?;
                    } else {
                        out.push(arg);
                        out.push(value);
                    }
                }
                None => out.push(arg),
            }
        } else if let Some(name) = s.strip_prefix("-z").and_then(|v| v.strip_prefix(SELECTOR)) {
            select(&mut backend, name)?;
        } else if let Some(replacement) = strip_from_wl(s, &mut backend)? {
            out.extend(replacement.into_iter().map(OsString::from));
        } else if takes_value(s) {
            out.push(arg);
            out.extend(iter.next());
        } else {
            out.push(arg);
        }
    }
    Ok(Selected { backend, args: out })
}

/// Why a call gets only the compile flags and no link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoLink {
    /// `-c`, `-S`, `-E`, `-M` or `-MM`.
    CompileOnly,
    /// `--version`, `-dumpmachine`, `-print-*`, ...: configure's probes.
    Query,
    /// Nothing to link (e.g. `-v` or `-V` alone): gcc reports it itself.
    NoInput,
    /// `-r`: a relocatable object, not a unikernel.
    Partial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run `cc <compile_flags> <args>`.
    Compile(NoLink),
    /// Link a unikernel.
    Link,
    /// `-shared`: unikernels have no shared libraries.
    Shared,
}

fn is_query(arg: &str) -> bool {
    matches!(
        arg,
        "--version"
            | "--help"
            | "--target-help"
            | "-dumpversion"
            | "-dumpfullversion"
            | "-dumpmachine"
            | "-dumpspecs"
    ) || arg.starts_with("-print-")
        || arg.starts_with("--print-")
        || arg.starts_with("--help=")
}

/// Decide what the call is. Compile-only flags win, then queries (gcc does
/// not link when asked for its version), then `-r`, then "no inputs".
/// `-MD`, `-MMD`, `-MF`, `-MT`, `-MQ`, `-MP` only add dependency output and
/// do not stop a link.
pub fn classify(args: &[OsString]) -> Mode {
    let (mut compile_only, mut query, mut partial, mut shared, mut inputs) =
        (false, false, false, false, false);
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(s) = arg.to_str() else {
            inputs |= !starts_with_dash(arg);
            continue;
        };
        match s {
            "-c" | "-S" | "-E" | "-M" | "-MM" => compile_only = true,
            "-r" => partial = true,
            "-shared" => shared = true,
            // `-` is standard input, an input like any file.
            "-" => inputs = true,
            _ if takes_value(s) => {
                // `-l m` is a library, like `-lm`.
                inputs |= s == "-l";
                i += 1;
            }
            _ if is_query(s) => query = true,
            _ if s.starts_with("-l") => inputs = true,
            _ if s.starts_with('-') => {}
            _ => inputs = true,
        }
    }
    if compile_only {
        Mode::Compile(NoLink::CompileOnly)
    } else if query {
        Mode::Compile(NoLink::Query)
    } else if partial {
        Mode::Compile(NoLink::Partial)
    } else if !inputs {
        Mode::Compile(NoLink::NoInput)
    } else if shared {
        Mode::Shared
    } else {
        Mode::Link
    }
}

/// A link's arguments with the output taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkArgs {
    /// The last `-o`, if any.
    pub output: Option<OsString>,
    /// Everything else, minus the host libraries in [`DROPPED_LIBS`].
    pub rest: Vec<OsString>,
    /// `-###`: gcc only prints what it would run, so there is nothing to
    /// post-process.
    pub dry_run: bool,
}

fn is_dropped_lib(name: &OsStr) -> bool {
    name.to_str().is_some_and(|n| DROPPED_LIBS.contains(&n))
}

/// Split a link command line into its output and the rest, dropping
/// `-lm -lpthread -ldl -lrt -lc` (also as `-l m`), and nothing else.
pub fn link_args(args: &[OsString]) -> LinkArgs {
    let mut link = LinkArgs {
        output: None,
        rest: Vec::with_capacity(args.len()),
        dry_run: false,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let Some(s) = arg.to_str() else {
            link.rest.push(arg.clone());
            continue;
        };
        if s == "-o" {
            // A dangling `-o` is left for gcc to complain about.
            match iter.next() {
                Some(out) => link.output = Some(out.clone()),
                None => link.rest.push(arg.clone()),
            }
        } else if let Some(out) = s.strip_prefix("-o") {
            link.output = Some(OsString::from(out));
        } else if s == "-l" {
            match iter.next() {
                Some(lib) if is_dropped_lib(lib) => {}
                Some(lib) => link.rest.extend([arg.clone(), lib.clone()]),
                None => link.rest.push(arg.clone()),
            }
        } else if s
            .strip_prefix("-l")
            .is_some_and(|l| DROPPED_LIBS.contains(&l))
        {
        } else if takes_value(s) {
            link.rest.push(arg.clone());
            link.rest.extend(iter.next().cloned());
        } else {
            link.dry_run |= s == "-###";
            link.rest.push(arg.clone());
        }
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// Split a command line on whitespace, as the test tables write them.
    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn backend_selection_spellings() {
        // (command line, backend, what remains)
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("-c foo.c", None, "-c foo.c"),
            (
                "-o a a.o -z unikraft-backend=qemu",
                Some("qemu"),
                "-o a a.o",
            ),
            (
                "-zunikraft-backend=firecracker -o a a.o",
                Some("firecracker"),
                "-o a a.o",
            ),
            (
                "-z unikraft-backend=qemu -c x.c -z unikraft-backend=qemu",
                Some("qemu"),
                "-c x.c",
            ),
            ("-z noexecstack -o a a.o", None, "-z noexecstack -o a a.o"),
            ("-znoexecstack a.o", None, "-znoexecstack a.o"),
            (
                "-z relro -z unikraft-backend=qemu a.o",
                Some("qemu"),
                "-z relro a.o",
            ),
            ("-Wl,-z,relro a.o", None, "-Wl,-z,relro a.o"),
            ("-Wl,-z,unikraft-backend=qemu a.o", Some("qemu"), "a.o"),
            ("-Wl,-zunikraft-backend=qemu a.o", Some("qemu"), "a.o"),
            (
                "-Wl,-E,-z,unikraft-backend=qemu,-z,relro a.o",
                Some("qemu"),
                "-Wl,-E,-z,relro a.o",
            ),
            // The value of an option that takes one is never a selector.
            (
                "-o -zunikraft-backend=qemu a.o",
                None,
                "-o -zunikraft-backend=qemu a.o",
            ),
            (
                "-Xlinker -z -Xlinker unikraft-backend=qemu a.o",
                None,
                "-Xlinker -z -Xlinker unikraft-backend=qemu a.o",
            ),
            // A dangling `-z` is gcc's to report.
            ("a.o -z", None, "a.o -z"),
        ];
        for (line, backend, rest) in cases {
            let got = extract_backend(words(line)).expect(line);
            assert_eq!(got.backend.as_deref(), *backend, "backend of {line:?}");
            assert_eq!(got.args, words(rest), "rest of {line:?}");
        }
    }

    #[test]
    fn backend_selection_errors() {
        let err = extract_backend(words("-z unikraft-backend=qemu -zunikraft-backend=fc a.o"))
            .unwrap_err();
        assert_eq!(err, "conflicting backends selected: 'qemu' and 'fc'");
        let err = extract_backend(words("-z unikraft-backend= a.o")).unwrap_err();
        assert_eq!(err, "empty backend name in '-z unikraft-backend='");
    }

    #[test]
    fn classification() {
        use Mode::*;
        use NoLink::*;
        let cases: &[(&str, Mode)] = &[
            // OCaml's runtime and configure compile steps.
            (
                "-O2 -fno-strict-aliasing -fwrapv -pthread -Wall -c -o foo.o foo.c",
                Compile(CompileOnly),
            ),
            (
                "-O2 -fno-strict-aliasing -fwrapv -pthread -Wall -Wdeclaration-after-statement \
              -fno-common -fexcess-precision=standard -ffunction-sections -D_FILE_OFFSET_BITS=64 \
              -DCAMLDLLIMPORT= -DIN_CAML_RUNTIME -DNATIVE_CODE -DTARGET_amd64 -DMODEL_default \
              -DSYS_none -I runtime -o runtime/amd64.n.o -c runtime/amd64.S",
                Compile(CompileOnly),
            ),
            ("-E -P foo.mli", Compile(CompileOnly)),
            ("-E -P -x c runtime/caml/m.h.in", Compile(CompileOnly)),
            ("-S -o x.s x.c", Compile(CompileOnly)),
            ("-M x.c", Compile(CompileOnly)),
            ("-MM -MT x.o x.c", Compile(CompileOnly)),
            ("-c -MD -MF x.d x.c", Compile(CompileOnly)),
            ("-E conftest.c", Compile(CompileOnly)),
            // Dependency flags alone do not stop a link.
            ("-MD -MF x.d -o x x.c", Link),
            ("-MMD -MP -MT x -MQ y -o x x.c", Link),
            // Values of options are not flags: a file named `-c`.
            ("-o -c x.c", Link),
            ("-x c -o conftest conftest.c", Link),
            // configure's link tests.
            ("-o conftest -O2 conftest.c -lm", Link),
            (
                "-o conftest -O2 -fno-strict-aliasing -fwrapv -pthread conftest.c -lpthread",
                Link,
            ),
            ("-o conftest -Wl,-E conftest.c", Link),
            // ocamlopt's link.
            (
                "-o hello.exe -Wl,-E /tmp/camlstartup123.o std_exit.o hello.o \
              /p/lib/ocaml/stdlib.a /p/lib/ocaml/libasmrun.a -lm -lpthread",
                Link,
            ),
            ("-x c -", Link),
            ("-lfoo", Link),
            ("-l foo", Link),
            // Queries and probes.
            ("--version", Compile(Query)),
            ("-v", Compile(NoInput)),
            ("-V", Compile(NoInput)),
            ("-qversion", Compile(NoInput)),
            ("", Compile(NoInput)),
            ("-O2 -dumpversion", Compile(Query)),
            ("-dumpfullversion", Compile(Query)),
            ("-dumpmachine", Compile(Query)),
            ("-print-file-name=include", Compile(Query)),
            ("-print-libgcc-file-name", Compile(Query)),
            ("-print-prog-name=ld", Compile(Query)),
            ("-print-search-dirs", Compile(Query)),
            ("--version conftest.c", Compile(Query)),
            ("-v -o a a.c", Link),
            ("-L/usr/lib -O2", Compile(NoInput)),
            // `-dumpbase` takes a value and is no query.
            ("-dumpbase x -o x x.c", Link),
            ("-r -o part.o a.o b.o", Compile(Partial)),
            ("-shared -o x.so x.o", Shared),
            ("-shared -c x.c", Compile(CompileOnly)),
        ];
        for (line, want) in cases {
            assert_eq!(classify(&words(line)), *want, "{line:?}");
        }
    }

    #[test]
    fn link_rewriting() {
        // (command line, output, rest, dry run)
        let cases: &[(&str, Option<&str>, &str, bool)] = &[
            (
                "-o conftest -O2 conftest.c -lm",
                Some("conftest"),
                "-O2 conftest.c",
                false,
            ),
            (
                "-o hello.exe -Wl,-E /tmp/camlstartupXXX.o std_exit.o hello.o \
                 /prefix/lib/ocaml/stdlib.a /prefix/lib/ocaml/libasmrun.a -lm -lpthread",
                Some("hello.exe"),
                "-Wl,-E /tmp/camlstartupXXX.o std_exit.o hello.o \
                 /prefix/lib/ocaml/stdlib.a /prefix/lib/ocaml/libasmrun.a",
                false,
            ),
            ("a.o -lc -ldl -lrt -l m -l pthread", None, "a.o", false),
            // Only those exact names.
            (
                "a.o -lmylib -lm2 -lcamlrun -l mx -lrtc",
                None,
                "a.o -lmylib -lm2 -lcamlrun -l mx -lrtc",
                false,
            ),
            ("-oout a.o", Some("out"), "a.o", false),
            ("-o first -o second a.o", Some("second"), "a.o", false),
            (
                "-z noexecstack -Wl,-z,relro a.o",
                None,
                "-z noexecstack -Wl,-z,relro a.o",
                false,
            ),
            // Values are kept with their options, even when they look like
            // libraries or outputs.
            (
                "-Xlinker -lm -L -o a.o",
                None,
                "-Xlinker -lm -L -o a.o",
                false,
            ),
            ("-### -o a a.o", Some("a"), "-### a.o", true),
            ("a.o -o", None, "a.o -o", false),
            ("-pthread a.o", None, "-pthread a.o", false),
        ];
        for (line, out, rest, dry) in cases {
            let got = link_args(&words(line));
            assert_eq!(got.output, out.map(OsString::from), "output of {line:?}");
            assert_eq!(got.rest, words(rest), "rest of {line:?}");
            assert_eq!(got.dry_run, *dry, "dry run of {line:?}");
        }
    }

    #[test]
    fn ocamlopt_link_with_split_selector() {
        // Both spellings ocamlopt can produce end up as the same link.
        let line = "-o hello.exe -Wl,-E /tmp/camlstartup1.o std_exit.o hello.o \
                    /p/lib/ocaml/stdlib.a /p/lib/ocaml/libasmrun.a -lm -lpthread";
        for selector in [
            &["-z", "unikraft-backend=qemu"][..],
            &["-zunikraft-backend=qemu"][..],
        ] {
            let mut args = words(line);
            args.extend(os(selector));
            let sel = extract_backend(args).expect("valid");
            assert_eq!(sel.backend.as_deref(), Some("qemu"));
            assert_eq!(classify(&sel.args), Mode::Link);
            let link = link_args(&sel.args);
            assert_eq!(link.output, Some(OsString::from("hello.exe")));
            assert_eq!(
                link.rest,
                words(
                    "-Wl,-E /tmp/camlstartup1.o std_exit.o hello.o \
                     /p/lib/ocaml/stdlib.a /p/lib/ocaml/libasmrun.a"
                )
            );
        }
    }

    #[test]
    fn non_utf8_arguments_pass_through() {
        use std::os::unix::ffi::OsStringExt;
        let odd = OsString::from_vec(b"f\xffo.o".to_vec());
        let args = vec![OsString::from("-o"), OsString::from("x"), odd.clone()];
        assert_eq!(classify(&args), Mode::Link);
        let link = link_args(&args);
        assert_eq!(link.rest, vec![odd.clone()]);
        let sel = extract_backend(args.clone()).expect("valid");
        assert_eq!(sel.args, args);
    }
}
