//! A run against what was expected: the exit status and the console must
//! both match, and where the console does not, a line diff shows how.

use super::expected::Expected;
use super::Verdict;
use ocaml_unikraft_toolchain::boot::console::Transcript;
use std::borrow::Cow;

/// A pass when `transcript` has the status and the output `expected`;
/// otherwise a failure that says what differs.
pub(crate) fn compare(transcript: &Transcript, expected: &Expected) -> Verdict {
    let mut problems = Vec::new();
    if transcript.ending.status() != expected.status {
        problems.push(format!(
            "{}, expected status {}",
            transcript.ending.describe(),
            expected.status
        ));
    }
    let text = |output| as_compared(output, expected.crlf_is_newline);
    let (want, got) = (text(&expected.output), text(&transcript.output));
    if got != want {
        problems.push(format!(
            "console output differs (- expected, + actual):\n{}",
            diff(&want, &got)
        ));
    }
    if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(problems.join("\n"))
    }
}

/// `output` as it is compared: with each `\r\n` a `\n` under
/// `crlf_is_newline`.
fn as_compared(output: &str, crlf_is_newline: bool) -> Cow<'_, str> {
    match crlf_is_newline {
        true => Cow::Owned(output.replace("\r\n", "\n")),
        false => Cow::Borrowed(output),
    }
}

/// A line diff good enough to see what differs: `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = Vec::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push(format!("  {x}")),
            (x, y) => {
                if let Some(x) = x {
                    out.push(format!("- {x}"));
                }
                if let Some(y) = y {
                    out.push(format!("+ {y}"));
                }
            }
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push("(the two differ in their final newline)".into());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocaml_unikraft_toolchain::boot::console::Ending;

    #[test]
    fn diff_marks_changed_and_missing_lines() {
        assert_eq!(diff("a\nb\nc\n", "a\nx\n"), "  a\n- b\n+ x\n- c");
        assert_eq!(
            diff("a\n", "a"),
            "  a\n(the two differ in their final newline)"
        );
    }

    #[test]
    fn compare_needs_both_output_and_status() {
        let expected = Expected {
            output: "about to raise\n".into(),
            status: 2,
            ..Expected::default()
        };
        let transcript = |output: &str, ending| Transcript {
            output: output.into(),
            ending,
        };
        assert_eq!(
            compare(&transcript("about to raise\n", Ending::Exit(2)), &expected),
            Verdict::Pass
        );
        assert!(matches!(
            compare(&transcript("about to raise\n", Ending::Exit(0)), &expected),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            compare(&transcript("about to raise\n", Ending::Crash), &expected),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            compare(&transcript("about to rise\n", Ending::Exit(2)), &expected),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn crlf_counts_as_a_newline_only_when_asked() {
        let mut expected = Expected {
            output: "line1\nline2\r".into(),
            ..Expected::default()
        };
        let crlf = Transcript {
            output: "line1\r\nline2\r".into(),
            ending: Ending::Exit(0),
        };
        assert!(matches!(compare(&crlf, &expected), Verdict::Fail(_)));
        expected.crlf_is_newline = true;
        assert_eq!(compare(&crlf, &expected), Verdict::Pass);
        let lost_final_cr = Transcript {
            output: "line1\nline2".into(),
            ending: Ending::Exit(0),
        };
        assert!(matches!(
            compare(&lost_final_cr, &expected),
            Verdict::Fail(_)
        ));
    }
}
