//! Reading a finished bundle build: the compile flags of the placeholder
//! application, the final link command and the post-link steps, turned into
//! the descriptor the C driver reads (`toolchain/src/descriptor.rs`), with
//! every file they name copied into the bundle.
//!
//! Nothing here knows Unikraft's flags: they come from the `.cmd` files the
//! build leaves beside each output, so a newer Unikraft only needs new pins
//! and fragments. Absolute paths into the build, the Unikraft tree or the
//! lib-musl tree become `${bundle}/<root>/...`, so an installed bundle can
//! move.

use anyhow::{bail, Context as _, Result};
use ocaml_unikraft_toolchain::elf;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) use ocaml_unikraft_toolchain::descriptor::{Descriptor, FORMAT};

/// The trees whose paths are rewritten, each with its name inside the bundle.
pub(crate) struct Roots {
    pub(crate) roots: Vec<(PathBuf, &'static str)>,
}

/// What the descriptor refers to, to be copied into the bundle: `(absolute
/// source, path inside the bundle)`.
#[derive(Default, Debug)]
pub(crate) struct Referenced {
    pub(crate) files: BTreeSet<(PathBuf, PathBuf)>,
    pub(crate) dirs: BTreeSet<(PathBuf, PathBuf)>,
}

/// Where a finished Unikraft build keeps what we read.
pub(crate) struct BuildOutputs<'a> {
    /// `O=`: the Unikraft build directory.
    pub(crate) build_dir: &'a Path,
    /// The app library name (`appocamlbundle`).
    pub(crate) app_lib: &'a str,
    /// The app's C file, as named in its compile command.
    pub(crate) app_source: &'a Path,
    /// `<O>/<name>_<plat>-<arch>`: the final image.
    pub(crate) image: &'a Path,
}

impl Roots {
    /// `path` inside the bundle, if it lies in one of the roots.
    fn relocate(&self, path: &Path) -> Option<PathBuf> {
        let path = normalize(path);
        self.roots.iter().find_map(|(root, name)| {
            path.strip_prefix(root)
                .ok()
                .map(|rest| Path::new(name).join(rest))
        })
    }
}

/// `a//b/./c` → `a/b/c`: Unikraft's flags contain both.
fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

pub(crate) fn extract(
    outputs: &BuildOutputs,
    roots: &Roots,
    backend: &str,
    arch: &str,
    tool_prefix: &str,
    gcc_include: &str,
) -> Result<(Descriptor, Referenced)> {
    let mut referenced = Referenced::default();

    let compile_cmd = outputs
        .build_dir
        .join(outputs.app_lib)
        .join(format!("{}.o.cmd", file_stem(outputs.app_source)?));
    let compile = read_cmd(&compile_cmd)?;
    let [compile] = &compile[..] else {
        bail!("{}: expected one command", compile_cmd.display());
    };
    let (cc, compile_args) = compile
        .split_first()
        .with_context(|| format!("{}: empty command", compile_cmd.display()))?;
    let mut compile_flags = compile_flags(compile_args, outputs.app_source);
    // `-nostdinc` hides gcc's own headers; OCaml 5 needs <stdatomic.h>.
    compile_flags.extend(["-idirafter".to_owned(), gcc_include.to_owned()]);
    let compile_flags = relocate_args(&compile_flags, roots, &mut referenced, true);

    let link_cmd = with_suffix(outputs.image, ".dbg.cmd");
    let link = read_cmd(&link_cmd)?;
    let [link] = &link[..] else {
        bail!("{}: expected one command", link_cmd.display());
    };
    let app_object = outputs.build_dir.join(format!("{}.o", outputs.app_lib));
    let app_object = app_object.to_string_lossy();
    let position = link
        .iter()
        .position(|a| *a == app_object)
        .with_context(|| {
            format!(
                "{}: the app object {app_object} is not linked",
                link_cmd.display()
            )
        })?;
    let (before, after) = (&link[1..position], &link[position + 1..]);
    let (mut link_flags, objects_before): (Vec<_>, Vec<_>) =
        before.iter().cloned().partition(|a| a.starts_with('-'));
    // Unikraft links a weak `main` (libukboot_main): a `main` that sits in
    // an archive, as OCaml's does in libasmrun.a, would never be pulled in
    // and the weak one would run. Asking for `main` up front pulls it.
    link_flags.push("-Wl,-u,main".to_owned());
    // ld warns that libkvmplat.o "requires executable stack": a property of
    // Linux processes, meaningless in a unikernel, that would show in every
    // user's build output.
    link_flags.push("-Wl,--no-warn-execstack".to_owned());
    // A unikernel links archives only. Without this, `-L dir -lgmp` takes
    // a `libgmp.so` lying beside `libgmp.a` (mirage's ocaml-gmp installs an
    // empty one) and the link fails on every GMP symbol.
    link_flags.push("-Wl,-Bstatic".to_owned());
    let after = drop_output(after);

    let post_link = post_link_steps(outputs.image)?;
    let post_link = post_link
        .iter()
        .map(|step| {
            let step = substitute_image(step, outputs.image);
            relocate_args(&step, roots, &mut referenced, false)
        })
        .collect();

    let descriptor = Descriptor {
        format: FORMAT,
        backend: backend.to_owned(),
        arch: arch.to_owned(),
        cc: cc.clone(),
        tool_prefix: tool_prefix.to_owned(),
        compile_flags,
        link_flags: relocate_args(&link_flags, roots, &mut referenced, false),
        link_objects_before: relocate_args(&objects_before, roots, &mut referenced, false),
        link_objects_after: relocate_args(&after, roots, &mut referenced, false),
        post_link,
    };
    Ok((descriptor, referenced))
}

fn file_stem(path: &Path) -> Result<String> {
    Ok(path
        .file_stem()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A `.cmd` file: one shell line, possibly `a && b`, possibly piped into a
/// filter of its messages (`2>&1 | { grep ...; }`). Returns the commands.
pub(crate) fn read_cmd(path: &Path) -> Result<Vec<Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_cmd(&text).with_context(|| format!("parsing {}", path.display()))
}

pub(crate) fn parse_cmd(text: &str) -> Result<Vec<Vec<String>>> {
    let words = shlex::split(text.trim()).context("unbalanced quotes")?;
    let mut commands = Vec::new();
    for command in words.split(|w| w == "&&") {
        // Output redirections and message filters are not part of the step.
        let end = command
            .iter()
            .position(|w| w == "|" || w.starts_with("2>") || w.starts_with('>'))
            .unwrap_or(command.len());
        let command: Vec<String> = command[..end].to_vec();
        if command.is_empty() {
            bail!("empty command");
        }
        commands.push(command);
    }
    Ok(commands)
}

/// The app's compile arguments less what belongs to that one file: the
/// source, `-c`, `-o X`, its dependency file and per-file macros. `-g3` is
/// dropped because OCaml's build preprocesses with `cc -E`, which would then
/// emit every `#define`.
fn compile_flags(args: &[String], source: &Path) -> Vec<String> {
    let source = source.to_string_lossy();
    let mut flags = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-c" | "-g3" => {}
            "-o" => {
                iter.next();
            }
            a if a == source => {}
            a if a.starts_with("-Wp,-MD,") || a.starts_with("-Wp,-MMD,") => {}
            a if a.starts_with("-D__LIBNAME__=") || a.starts_with("-D__BASENAME__=") => {}
            _ => flags.push(arg.clone()),
        }
    }
    flags
}

fn drop_output(args: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-o" {
            iter.next();
        } else {
            kept.push(arg.clone());
        }
    }
    kept
}

/// The steps of Unikraft's image recipe (plat/kvm/Linker.uk), in its order:
/// strip, boot info, the ELF64-to-multiboot conversion (which leaves no
/// `.cmd`; seen in the result being ELF32), the raw binary and the arm64
/// Linux header. Each `.cmd` that exists is a step that ran.
fn post_link_steps(image: &Path) -> Result<Vec<Vec<String>>> {
    let mut steps = Vec::new();
    let strip = with_suffix(image, ".cmd");
    steps.extend(read_cmd(&strip)?);
    let bootinfo = with_suffix(image, ".bootinfo.cmd");
    if bootinfo.exists() {
        steps.extend(read_cmd(&bootinfo)?);
    }
    if elf_class(image)? == Some(elf::Class::Elf32)
        && elf_class(&with_suffix(image, ".dbg"))? == Some(elf::Class::Elf64)
    {
        let scripts = unikraft_scripts_dir(&steps)?;
        steps.push(vec![
            scripts.join("multiboot.py").to_string_lossy().into_owned(),
            image.to_string_lossy().into_owned(),
        ]);
    }
    for suffix in [".bin.cmd", ".img.cmd"] {
        let cmd = with_suffix(image, suffix);
        if cmd.exists() {
            steps.extend(read_cmd(&cmd)?);
        }
    }
    Ok(steps)
}

/// Unikraft's scripts directory, found from the boot-info step's script.
fn unikraft_scripts_dir(steps: &[Vec<String>]) -> Result<PathBuf> {
    steps
        .iter()
        .map(|s| Path::new(&s[0]))
        .find(|p| p.file_name().is_some_and(|n| n == "mkbootinfo.py"))
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("the image is multiboot but no boot-info step names Unikraft's scripts directory")
}

/// The ELF class of the file at `path`; None when not ELF.
fn elf_class(path: &Path) -> Result<Option<elf::Class>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(elf::class(&bytes))
}

/// The image and its debug twin become the driver's `${out}` and `${dbg}`.
fn substitute_image(step: &[String], image: &Path) -> Vec<String> {
    let image = image.to_string_lossy();
    let debug = format!("{image}.dbg");
    step.iter()
        .map(|arg| {
            arg.replace(&debug, "${dbg}")
                .replace(image.as_ref(), "${out}")
        })
        .collect()
}

/// Rewrites absolute paths under the roots to `${bundle}/...`, remembering
/// what to copy. With `include_dirs`, `-I<dir>` copies the whole directory;
/// include directories that do not exist (Unikraft lists some) are dropped.
fn relocate_args(
    args: &[String],
    roots: &Roots,
    referenced: &mut Referenced,
    include_dirs: bool,
) -> Vec<String> {
    args.iter()
        .filter_map(|arg| {
            // The path is the part after the last flag prefix, e.g.
            // `-I/x`, `-Wl,-dT,/x`, `-Wl,-T,/x`, or a bare `/x`.
            let Some(start) = arg.find('/') else {
                return Some(arg.clone());
            };
            let (prefix, path) = arg.split_at(start);
            let path = Path::new(path);
            let Some(inside) = roots.relocate(path) else {
                return Some(arg.clone());
            };
            let source = normalize(path);
            if include_dirs && prefix == "-I" {
                if !source.is_dir() {
                    return None;
                }
                referenced.dirs.insert((source, inside.clone()));
            } else if source.is_dir() {
                referenced.dirs.insert((source, inside.clone()));
            } else {
                referenced.files.insert((source, inside.clone()));
            }
            Some(format!("{prefix}${{bundle}}/{}", inside.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests;
