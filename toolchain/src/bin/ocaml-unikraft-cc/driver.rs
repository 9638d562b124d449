//! The C driver: turns the caller's gcc command line into the commands to
//! run for the selected backend. Building the commands is pure; running
//! them is [`crate::exec`]'s job.

use crate::args::{self, LinkArgs, Mode};
use crate::backends::Backends;
use crate::error::Error;
use crate::exec::Executor;
use crate::expand::Loaded;
use ocaml_unikraft_toolchain::quote;
use std::ffi::{OsStr, OsString};

/// `cc <compile_flags> <args>`: compile-only calls, queries and `-r`.
pub fn compile_command(l: &Loaded, args: &[OsString]) -> Result<Vec<OsString>, Error> {
    let vars = l.vars(None, None);
    let mut argv = Vec::with_capacity(1 + l.desc.compile_flags.len() + args.len());
    l.expand_into("cc", std::slice::from_ref(&l.desc.cc), &vars, &mut argv)?;
    l.expand_into("compile_flags", &l.desc.compile_flags, &vars, &mut argv)?;
    argv.extend_from_slice(args);
    Ok(argv)
}

/// The link and, when the backend was named explicitly, the post-link
/// steps. Without an explicit backend the link writes the output directly
/// and nothing follows: configure's link tests want a plain ELF, quickly.
pub fn link_commands(
    l: &Loaded,
    link: &LinkArgs,
    explicit: bool,
) -> Result<Vec<Vec<OsString>>, Error> {
    let d = &l.desc;
    let out = link.output.as_deref().unwrap_or(OsStr::new("a.out"));
    let dbg = if explicit {
        let mut dbg = out.to_owned();
        dbg.push(".dbg");
        dbg
    } else {
        out.to_owned()
    };
    let vars = l.vars(Some(&dbg), Some(out));
    let mut argv = Vec::new();
    l.expand_into("cc", std::slice::from_ref(&d.cc), &vars, &mut argv)?;
    l.expand_into("compile_flags", &d.compile_flags, &vars, &mut argv)?;
    l.expand_into("link_flags", &d.link_flags, &vars, &mut argv)?;
    l.expand_into(
        "link_objects_before",
        &d.link_objects_before,
        &vars,
        &mut argv,
    )?;
    argv.extend_from_slice(&link.rest);
    l.expand_into(
        "link_objects_after",
        &d.link_objects_after,
        &vars,
        &mut argv,
    )?;
    argv.push("-o".into());
    argv.push(dbg.clone());
    let mut commands = vec![argv];
    if explicit && !link.dry_run {
        for step in &d.post_link {
            let mut argv = Vec::with_capacity(step.len());
            l.expand_into("post_link", step, &vars, &mut argv)?;
            commands.push(argv);
        }
    }
    Ok(commands)
}

fn conflict(e: String) -> Error {
    Error::config(e).with_help("select one backend with -z unikraft-backend=NAME")
}

/// Run the C driver; returns the exit status.
pub fn cc(executor: &Executor, backends: &Backends, args: Vec<OsString>) -> Result<i32, Error> {
    let selected = args::extract_backend(args).map_err(conflict)?;
    let explicit = selected.backend.is_some();
    let backend = match selected.backend {
        Some(b) => b,
        None => backends.default_backend()?,
    };
    let loaded = backends.load(&backend)?;
    let args = selected.args;
    let commands = match args::classify(&args) {
        Mode::Compile(_) => vec![compile_command(&loaded, &args)?],
        Mode::Shared => {
            return Err(Error::config(
                "-shared is not supported: a unikernel is one static executable",
            )
            .with_help("link the objects into the program instead")
            .with_status(1))
        }
        Mode::Link => link_commands(&loaded, &args::link_args(&args), explicit)?,
    };
    executor.run_all(&commands)
}

/// `--unikraft-backends`: installed backends, one per line, the default
/// marked ` (default)`.
pub fn list_backends(backends: &Backends) -> Result<String, Error> {
    let installed = backends.installed()?;
    let default = backends.default_backend().ok();
    let mut text = String::new();
    for b in &installed {
        text.push_str(b);
        if default.as_deref() == Some(b) {
            text.push_str(" (default)");
        }
        text.push('\n');
    }
    Ok(text)
}

/// `--unikraft-flags[=BACKEND]`: what the driver adds for a backend, as
/// shell-quoted lines. `ARGS...` stands for the caller's arguments; the link
/// is shown as with an explicit backend and `-o a.out`.
pub fn show_flags(backends: &Backends, backend: Option<&str>) -> Result<String, Error> {
    let backend = match backend {
        Some(b) => b.to_owned(),
        None => backends.default_backend()?,
    };
    let l = backends.load(&backend)?;
    let compile = compile_command(&l, &[])?;
    let link = LinkArgs {
        output: Some("a.out".into()),
        rest: vec![],
        dry_run: false,
    };
    let commands = link_commands(&l, &link, true)?;
    // The link command with the caller's place marked: the objects and
    // flags before it are everything up to link_objects_after.
    let d = &l.desc;
    let after = d.link_objects_after.len() + 2;
    let (link_cmd, post) = commands
        .split_first()
        .ok_or_else(|| Error::config("no link"))?;
    let split = link_cmd.len().saturating_sub(after);
    let mut text = format!(
        "backend: {backend}\ndescriptor: {}\nbundle: {}\ncompile: {} ARGS...\nlink: {} ARGS... {}\n",
        l.path.display(),
        l.bundle.display(),
        quote::join(&compile),
        quote::join(&link_cmd[..split]),
        quote::join(&link_cmd[split..]),
    );
    for step in post {
        text.push_str(&format!("post-link: {}\n", quote::join(step)));
    }
    Ok(text)
}

/// Introspection flags, recognised only as the sole argument.
pub fn introspect(backends: &Backends, arg: &OsStr) -> Option<Result<String, Error>> {
    match arg.to_str()? {
        "--unikraft-backends" => Some(list_backends(backends)),
        "--unikraft-flags" => Some(show_flags(backends, None)),
        s => s
            .strip_prefix("--unikraft-flags=")
            .map(|b| show_flags(backends, Some(b))),
    }
}

/// A binutil: the target's tool with all arguments unchanged.
pub fn binutil(
    executor: &Executor,
    backends: &Backends,
    tool: &str,
    args: Vec<OsString>,
) -> Result<i32, Error> {
    let prefix = match backends.any_backend()? {
        Some(b) => backends.load(&b)?.desc.tool_prefix,
        None => backends.arch.derived_tool_prefix().to_owned(),
    };
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(OsString::from(format!("{prefix}{tool}")));
    argv.extend(args);
    Err(executor.exec(&argv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    const DESCRIPTOR: &str = r#"{
      "format": 1, "backend": "qemu", "arch": "x86_64", "cc": "gcc", "tool_prefix": "",
      "compile_flags": ["-nostdinc", "-I${bundle}/include"],
      "link_flags": ["-nostdlib", "-Wl,--omagic"],
      "link_objects_before": ["${bundle}/libkvmplat.o"],
      "link_objects_after": ["${bundle}/libs/libukboot.o", "-Wl,-dT,${bundle}/lds/link64.lds",
                             "-Wl,--entry=_multiboot_entry"],
      "post_link": [["${tool_prefix}strip", "-s", "${dbg}", "-o", "${out}"],
                    ["python3", "${bundle}/support/scripts/mkbootinfo.py", "${out}"]]
    }"#;

    fn loaded() -> Loaded {
        Loaded::parse(
            DESCRIPTOR.as_bytes(),
            Path::new("/p/share/q/backend.json"),
            PathBuf::from("/B"),
            "qemu",
            "x86_64",
        )
        .expect("valid")
    }

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn compile() {
        let got = compile_command(&loaded(), &words("-O2 -c -o foo.o foo.c")).expect("ok");
        assert_eq!(
            got,
            words("gcc -nostdinc -I/B/include -O2 -c -o foo.o foo.c")
        );
    }

    #[test]
    fn explicit_link_runs_post_link() {
        let link = args::link_args(&words("-o hello.exe -Wl,-E a.o b.a -lm -lpthread"));
        let got = link_commands(&loaded(), &link, true).expect("ok");
        assert_eq!(
            got,
            vec![
                words(
                    "gcc -nostdinc -I/B/include -nostdlib -Wl,--omagic /B/libkvmplat.o \
                     -Wl,-E a.o b.a /B/libs/libukboot.o -Wl,-dT,/B/lds/link64.lds \
                     -Wl,--entry=_multiboot_entry -o hello.exe.dbg"
                ),
                words("strip -s hello.exe.dbg -o hello.exe"),
                words("python3 /B/support/scripts/mkbootinfo.py hello.exe"),
            ]
        );
    }

    #[test]
    fn implicit_link_has_no_post_link() {
        let link = args::link_args(&words("conftest.c -lm"));
        let got = link_commands(&loaded(), &link, false).expect("ok");
        assert_eq!(
            got,
            vec![words(
                "gcc -nostdinc -I/B/include -nostdlib -Wl,--omagic /B/libkvmplat.o \
                 conftest.c /B/libs/libukboot.o -Wl,-dT,/B/lds/link64.lds \
                 -Wl,--entry=_multiboot_entry -o a.out"
            )]
        );
    }

    #[test]
    fn dry_run_link_has_no_post_link() {
        let link = args::link_args(&words("-### -o x a.o"));
        let got = link_commands(&loaded(), &link, true).expect("ok");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].last(), Some(&OsString::from("x.dbg")));
    }
}
