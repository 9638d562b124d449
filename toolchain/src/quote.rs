//! POSIX shell quoting, so that `__V=1` output can be pasted into a shell.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c)
}

/// Quote one word: bare when every character is safe, otherwise in single
/// quotes with each `'` written as `'\''`. Non-UTF-8 bytes are shown lossily.
pub fn quote(word: &OsStr) -> Cow<'_, str> {
    let s = word.to_string_lossy();
    if !s.is_empty() && s.chars().all(is_safe) {
        return s;
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        if c == '\'' {
            q.push_str("'\\''");
        } else {
            q.push(c);
        }
    }
    q.push('\'');
    Cow::Owned(q)
}

/// Quote every word of an argv and join them with spaces.
pub fn join(argv: &[OsString]) -> String {
    let mut line = String::new();
    for (i, word) in argv.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(&quote(word));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let cases: &[(&str, &str)] = &[
            ("gcc", "gcc"),
            ("-O2", "-O2"),
            ("-Wl,-z,relro", "-Wl,-z,relro"),
            ("/p/lib/x_y/a.o", "/p/lib/x_y/a.o"),
            ("-DX=1", "-DX=1"),
            ("user@host:%+", "user@host:%+"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", "'it'\\''s'"),
            ("'", "''\\'''"),
            ("$HOME", "'$HOME'"),
            ("*.o", "'*.o'"),
            ("~", "'~'"),
            ("a\nb", "'a\nb'"),
            ("-DNAME=\"x\"", "'-DNAME=\"x\"'"),
            ("é", "'é'"),
        ];
        for (word, want) in cases {
            assert_eq!(quote(OsStr::new(word)), *want, "quoting {word:?}");
        }
    }

    #[test]
    fn joins_with_spaces() {
        let argv: Vec<OsString> = ["gcc", "-o", "a b", "", "x.c"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(join(&argv), "gcc -o 'a b' '' x.c");
        assert_eq!(join(&[]), "");
    }

    #[test]
    fn round_trips_through_sh() {
        // The real test of "pasteable": let sh parse the quoted words back.
        let words = [
            "plain",
            "",
            "a b",
            "it's",
            "'",
            "$x `y` \\z",
            "\"q\"",
            "a\nb",
        ];
        let argv: Vec<OsString> = words.iter().map(OsString::from).collect();
        let script = format!("printf '%s\\0' {}", join(&argv));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        let got: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        let want: Vec<&[u8]> = words
            .iter()
            .map(|w| w.as_bytes())
            .chain([&b""[..]])
            .collect();
        assert_eq!(got, want);
    }
}
