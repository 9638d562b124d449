//! What mirage-skeleton's applications/crypto must show: its digests and
//! its ChaCha20/Poly1305 sealing equal to the published known answers
//! (`tests/mirage/expected/crypto.toml`), 64 random bytes, and a 4096-bit
//! RSA key that signs and verifies (mirage-crypto-pk, so zarith and GMP
//! built for the guest), then exit status 0.

use super::vm::{ending_of, judged};
use crate::check::table::{Run, Verdict};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Expected {
    /// Log text before a hexdump, and the bytes it must show, in hex.
    known_answers: BTreeMap<String, String>,
}

const EXPECTED: &str = include_str!("../../../../tests/mirage/expected/crypto.toml");
/// What the app logs once the key signed and its public half verified.
const RSA_LINE: &str = "Generated a RSA key of 4096 bits (sign + verify true)";
const RANDOM_LABEL: &str = "64 byte random:";

pub(crate) fn judge(status: Option<i32>, output: &str) -> (Verdict, Option<Run>) {
    let ending = ending_of(status);
    let mut problems = Vec::new();
    if status != Some(0) {
        problems.push(format!("{ending}, not 0"));
    }
    let expected: Expected = toml::from_str(EXPECTED).expect("tests/mirage/expected/crypto.toml");
    for (label, answer) in &expected.known_answers {
        match hexdump_after(output, label) {
            Some(shown) if shown == *answer => {}
            Some(shown) => problems.push(format!("{label}: {shown}, the known answer is {answer}")),
            None => problems.push(format!("no hexdump after `{label}`")),
        }
    }
    match hexdump_after(output, RANDOM_LABEL) {
        Some(random) if random.len() == 128 => {}
        _ => problems.push(format!("no 64-byte hexdump after `{RANDOM_LABEL}`")),
    }
    if !output.lines().any(|line| line.ends_with(RSA_LINE)) {
        problems.push(format!("no `{RSA_LINE}` line"));
    }
    judged(&problems, output, ending)
}

/// The bytes (in lowercase hex) of the hexdump Ohex prints after `label`
/// on a log line: its rows on that line and the lines after it, until a
/// line that is no row. A row is a 6-digit offset, two
/// spaces, two groups of up to 8 bytes (4 hex digits a pair, the groups
/// two spaces apart), two spaces and the bytes as text, which is skipped.
fn hexdump_after(output: &str, label: &str) -> Option<String> {
    let mut lines = output.lines();
    let first = lines.find_map(|line| line.split_once(label).map(|(_, rest)| rest))?;
    let mut bytes = String::new();
    // The first row may also begin the next line (after a long label).
    let first = Some(first.trim_start()).filter(|row| !row.is_empty());
    let rows = first.into_iter().chain(lines.map(str::trim_start));
    for row in rows {
        let Some(hex) = row_bytes(row) else { break };
        bytes.push_str(&hex);
    }
    (!bytes.is_empty()).then_some(bytes)
}

/// The hex digits of one hexdump row, or `None` if `row` is none.
fn row_bytes(row: &str) -> Option<String> {
    let (offset, rest) = (row.get(..6)?, row.get(6..)?);
    if !offset.bytes().all(|b| b.is_ascii_hexdigit()) || !rest.starts_with("  ") {
        return None;
    }
    // Two groups of 19 columns (4 pairs and 3 spaces) with 2 between.
    let columns = &rest.as_bytes()[2..rest.len().min(2 + 19 + 2 + 19)];
    let digits: String = columns
        .iter()
        .filter(|b| **b != b' ')
        .map(|&b| char::from(b).to_ascii_lowercase())
        .collect();
    let valid = digits.len().is_multiple_of(2) && digits.bytes().all(|b| b.is_ascii_hexdigit());
    (valid && !digits.is_empty()).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as the skeleton's crypto app prints them (QEMU x86_64).
    const CONSOLE: &str = "\
2026-12-05T09:34:26Z: [INFO] [application] 64 byte random:
                                           000000  9aca 451f 82cd 252c  e4c2 127b a242 0f60  ..E...%,...{.B.`
000010  7f37 6766 9726 37f9  b530 f1ea 927b 86cf  .7gf.&7..0...{..
000020  1bf1 db1a a2c1 4e8f  2f5b 2f6e d9fe f90a  ......N./[/n....
000030  830a 2fba e6a2 24b8  b89f ae67 2d6a e56b  ../...$....g-j.k

2026-12-05T09:34:26Z: [INFO] [application] SHA1 of the empty string 000000  da39 a3ee 5e6b 4b0d  3255 bfef 9560 1890  .9..^kK.2U...`..
000010  afd8 0709                                 ....

2026-12-05T09:34:32Z: [INFO] [application] Generated a RSA key of 4096 bits (sign + verify true)
";

    #[test]
    fn hexdumps_are_read_back_into_bytes() {
        assert_eq!(
            hexdump_after(CONSOLE, "SHA1 of the empty string").as_deref(),
            Some("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        );
        let random = hexdump_after(CONSOLE, RANDOM_LABEL).unwrap();
        assert_eq!(random.len(), 128);
        assert!(random.starts_with("9aca451f") && random.ends_with("2d6ae56b"));
        assert_eq!(hexdump_after(CONSOLE, "MD5 of the empty string"), None);
    }

    #[test]
    fn a_wrong_answer_or_a_missing_line_fails() {
        let (verdict, _) = judge(Some(0), CONSOLE);
        let Verdict::Fail(why) = verdict else {
            panic!("a console without the other digests passed")
        };
        assert!(
            why.contains("no hexdump after `MD5 of the empty string`"),
            "{why}"
        );
        assert!(!why.contains("SHA1 of the empty string:"), "{why}");
        let wrong = CONSOLE.replace("afd8 0709", "afd8 0708");
        let (Verdict::Fail(why), _) = judge(Some(0), &wrong) else {
            panic!("a wrong digest passed")
        };
        assert!(why.contains("SHA1 of the empty string: da39"), "{why}");
    }

    /// `hex` as Ohex dumps it, 16 bytes a row.
    fn dump(hex: &str) -> String {
        let bytes = hex.as_bytes();
        let rows = bytes.chunks(32).enumerate().map(|(n, row)| {
            let pairs: Vec<&str> = row
                .chunks(4)
                .map(|pair| std::str::from_utf8(pair).unwrap())
                .collect();
            let group = |g: &[&str]| format!("{:19}", g.join(" "));
            let (left, right) = pairs.split_at(pairs.len().min(4));
            format!(
                "{:06x}  {}  {}  ................",
                n * 16,
                group(left),
                group(right)
            )
        });
        rows.collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_known_answers_pass() {
        let expected: Expected = toml::from_str(EXPECTED).unwrap();
        let mut console = CONSOLE.to_owned();
        for (label, answer) in &expected.known_answers {
            console.push_str(&format!(
                "[INFO] [application] {label} {}\n\n",
                dump(answer)
            ));
        }
        assert!(matches!(judge(Some(0), &console).0, Verdict::Pass));
        assert!(matches!(judge(Some(1), &console).0, Verdict::Fail(_)));
    }

    #[test]
    fn the_known_answers_parse() {
        let expected: Expected = toml::from_str(EXPECTED).unwrap();
        assert_eq!(expected.known_answers.len(), 6);
        for answer in expected.known_answers.values() {
            assert!(
                answer.len().is_multiple_of(2) && answer.bytes().all(|b| b.is_ascii_hexdigit())
            );
        }
    }
}
