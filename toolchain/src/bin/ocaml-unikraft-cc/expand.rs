//! Backend descriptors (`backend.json`, written by the xtask) and the
//! expansion of their `${...}` placeholders.

use crate::error::Error;
use serde::Deserialize;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

pub use ocaml_unikraft_toolchain::descriptor::{Descriptor, FORMAT};

/// Read only `format` first, so a newer descriptor fails on its version
/// rather than on whichever new field comes first.
#[derive(Deserialize)]
struct FormatProbe {
    format: u64,
}

/// Values of the placeholders. `dbg` and `out` only exist for a link.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub bundle: &'a OsStr,
    pub tool_prefix: &'a OsStr,
    pub dbg: Option<&'a OsStr>,
    pub out: Option<&'a OsStr>,
}

impl<'a> Vars<'a> {
    fn get(&self, name: &str) -> Option<&'a OsStr> {
        match name {
            "bundle" => Some(self.bundle),
            "tool_prefix" => Some(self.tool_prefix),
            "dbg" => self.dbg,
            "out" => self.out,
            _ => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ExpandError {
    Unknown(String),
    Unterminated,
}

/// Replace every `${name}` in `s` using `lookup`. A `$` not followed by `{`
/// is literal.
pub fn expand<'v>(
    s: &str,
    lookup: impl Fn(&str) -> Option<&'v OsStr>,
) -> Result<OsString, ExpandError> {
    let mut out = OsString::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(ExpandError::Unterminated)?;
        let name = &after[..end];
        out.push(lookup(name).ok_or_else(|| ExpandError::Unknown(name.to_owned()))?);
        rest = &after[end + 1..];
    }
    out.push(rest);
    Ok(out)
}

/// A descriptor read from disk, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub desc: Descriptor,
    /// The `backend.json` it was read from (named in errors).
    pub path: PathBuf,
    /// The bundle's lib directory, the value of `${bundle}`.
    pub bundle: PathBuf,
}

const COMPILE_VARS: &[&str] = &["bundle", "tool_prefix"];
const LINK_VARS: &[&str] = &["bundle", "tool_prefix", "dbg", "out"];

impl Loaded {
    /// Parse and check a descriptor. `backend` and `arch` are what its
    /// location says it is; the content must agree.
    pub fn parse(
        text: &[u8],
        path: &Path,
        bundle: PathBuf,
        backend: &str,
        arch: &str,
    ) -> Result<Loaded, Error> {
        let shown = path.display();
        let corrupt = |e: serde_json::Error| {
            Error::config(format!("invalid backend descriptor {shown}: {e}"))
                .with_help("reinstall the backend bundle with the xtask")
        };
        let probe: FormatProbe = serde_json::from_slice(text).map_err(corrupt)?;
        if probe.format != FORMAT {
            return Err(Error::config(format!(
                "backend descriptor {shown} has format {}, this driver reads format {FORMAT}",
                probe.format
            ))
            .with_help("install the toolchain and the backend bundles with the same xtask"));
        }
        let desc: Descriptor = serde_json::from_slice(text).map_err(corrupt)?;
        let invalid =
            |what: String| Error::config(format!("invalid backend descriptor {shown}: {what}"));
        if desc.backend != backend || desc.arch != arch {
            return Err(invalid(format!(
                "it describes '{}' for {}, but is installed as '{backend}' for {arch}",
                desc.backend, desc.arch
            )));
        }
        if desc.cc.is_empty() {
            return Err(invalid("`cc` is empty".into()));
        }
        if desc
            .post_link
            .iter()
            .any(|step| step.first().is_none_or(|p| p.is_empty()))
        {
            return Err(invalid("a `post_link` step has no program".into()));
        }
        let loaded = Loaded {
            desc,
            path: path.to_owned(),
            bundle,
        };
        loaded.check_placeholders()?;
        Ok(loaded)
    }

    /// Reject unknown placeholders up front, whatever the call, so a broken
    /// descriptor fails on the first compile rather than on the first link.
    fn check_placeholders(&self) -> Result<(), Error> {
        let d = &self.desc;
        if d.tool_prefix.contains("${") {
            return Err(Error::config(format!(
                "invalid backend descriptor {}: `tool_prefix` cannot hold placeholders",
                self.path.display()
            )));
        }
        let check = |field: &str, list: &[String], allowed: &[&str]| {
            let lookup = |n: &str| allowed.contains(&n).then_some(OsStr::new(""));
            list.iter().try_for_each(|s| {
                expand(s, lookup)
                    .map(drop)
                    .map_err(|e| self.placeholder_error(field, e))
            })
        };
        check("cc", std::slice::from_ref(&d.cc), COMPILE_VARS)?;
        check("compile_flags", &d.compile_flags, COMPILE_VARS)?;
        check("link_flags", &d.link_flags, LINK_VARS)?;
        check("link_objects_before", &d.link_objects_before, LINK_VARS)?;
        check("link_objects_after", &d.link_objects_after, LINK_VARS)?;
        for step in &d.post_link {
            check("post_link", step, LINK_VARS)?;
        }
        Ok(())
    }

    fn placeholder_error(&self, field: &str, e: ExpandError) -> Error {
        let what = match e {
            ExpandError::Unknown(name) => format!("unknown placeholder '${{{name}}}'"),
            ExpandError::Unterminated => "unterminated '${'".to_owned(),
        };
        Error::config(format!(
            "invalid backend descriptor {}: {what} in `{field}`",
            self.path.display()
        ))
        .with_help(
            "known placeholders: ${bundle}, ${tool_prefix}; in link fields also ${dbg}, ${out}",
        )
    }

    pub fn vars<'a>(&'a self, dbg: Option<&'a OsStr>, out: Option<&'a OsStr>) -> Vars<'a> {
        Vars {
            bundle: self.bundle.as_os_str(),
            tool_prefix: OsStr::new(&self.desc.tool_prefix),
            dbg,
            out,
        }
    }

    /// Expand a list of descriptor strings, appending to `into`.
    pub fn expand_into(
        &self,
        field: &str,
        list: &[String],
        vars: &Vars<'_>,
        into: &mut Vec<OsString>,
    ) -> Result<(), Error> {
        into.reserve(list.len());
        for s in list {
            into.push(expand(s, |n| vars.get(n)).map_err(|e| self.placeholder_error(field, e))?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        r#"{
          "format": 1,
          "backend": "qemu",
          "arch": "x86_64",
          "cc": "gcc",
          "tool_prefix": "",
          "compile_flags": ["-nostdinc", "-I${bundle}/include"],
          "link_flags": ["-nostdlib"],
          "link_objects_before": ["${bundle}/libkvmplat.o"],
          "link_objects_after": ["-Wl,-dT,${bundle}/lds/link64.lds"],
          "post_link": [["${tool_prefix}strip", "-s", "${dbg}", "-o", "${out}"]]
        }"#
        .to_owned()
    }

    fn parse(text: &str) -> Result<Loaded, Error> {
        Loaded::parse(
            text.as_bytes(),
            Path::new("/p/share/d/backend.json"),
            PathBuf::from("/p/lib/b"),
            "qemu",
            "x86_64",
        )
    }

    #[test]
    fn expands_placeholders() {
        let lookup = |n: &str| match n {
            "bundle" => Some(OsStr::new("/b")),
            "out" => Some(OsStr::new("o")),
            _ => None,
        };
        assert_eq!(expand("-I${bundle}/inc", lookup), Ok("-I/b/inc".into()));
        assert_eq!(expand("${bundle}${out}$x$", lookup), Ok("/bo$x$".into()));
        assert_eq!(expand("plain", lookup), Ok("plain".into()));
        assert_eq!(
            expand("${nope}", lookup),
            Err(ExpandError::Unknown("nope".into()))
        );
        assert_eq!(expand("a${bundle", lookup), Err(ExpandError::Unterminated));
    }

    #[test]
    fn parses_a_good_descriptor() {
        let l = parse(&sample()).expect("valid");
        assert_eq!(l.desc.backend, "qemu");
        let vars = l.vars(Some(OsStr::new("a.dbg")), Some(OsStr::new("a")));
        let mut got = Vec::new();
        l.expand_into("post_link", &l.desc.post_link[0], &vars, &mut got)
            .expect("expands");
        assert_eq!(got, ["strip", "-s", "a.dbg", "-o", "a"]);
    }

    #[test]
    fn rejects_bad_descriptors() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "\"format\": 1",
                "\"format\": 2",
                "has format 2, this driver reads format 1",
            ),
            ("\"cc\": \"gcc\",", "", "missing field `cc`"),
            (
                "\"cc\": \"gcc\"",
                "\"cc\": \"gcc\", \"extra\": 1",
                "unknown field `extra`",
            ),
            (
                "\"backend\": \"qemu\"",
                "\"backend\": \"fc\"",
                "describes 'fc' for x86_64",
            ),
            (
                "\"arch\": \"x86_64\"",
                "\"arch\": \"arm64\"",
                "describes 'qemu' for arm64",
            ),
            (
                "${bundle}/libkvmplat.o",
                "${bundel}/libkvmplat.o",
                "unknown placeholder '${bundel}' in `link_objects_before`",
            ),
            (
                "-I${bundle}/include",
                "-I${out}/include",
                "unknown placeholder '${out}' in `compile_flags`",
            ),
            (
                "\"-nostdlib\"",
                "\"${dbg\"",
                "unterminated '${' in `link_flags`",
            ),
            (
                "[\"${tool_prefix}strip\"",
                "[\"\"",
                "a `post_link` step has no program",
            ),
            ("\"cc\": \"gcc\"", "\"cc\": \"\"", "`cc` is empty"),
            ("{", "[", "invalid backend descriptor"),
        ];
        for (from, to, want) in cases {
            let text = sample().replacen(from, to, 1);
            assert_ne!(text, sample(), "case {from:?} must change the sample");
            let err = parse(&text).expect_err(want);
            assert!(
                err.message.contains(want),
                "{:?} should contain {want:?}",
                err.message
            );
            assert!(
                err.message.contains("/p/share/d/backend.json"),
                "{:?}",
                err.message
            );
            assert_eq!(err.status, 2);
        }
    }
}
