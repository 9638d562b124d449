//! The entropy example (ours, tests/mirage/unikernels/entropy): booted
//! twice; each boot must log mirage-crypto-rng's entropy sources and 32
//! random bytes in hex, and exit 0.

use super::vm::{ending_of, run, tail};
use crate::check::table::{Run, Verdict};
use crate::target::Arch;

/// What the entropy example logs: the sources as mirage-crypto-rng prints
/// them (`[0] rdrand, [1] timer`), then its draw in hex.
const SOURCES_LINE: &str = "[INFO] [application] entropy sources: ";
const DRAW_LINE: &str = "[INFO] [application] random bytes: ";
/// 32 bytes.
const DRAW_DIGITS: usize = 64;

/// A pass when each of `boots` (status and console) exited 0 and logged
/// its sources and a draw, the draws differ, and on x86_64 the sources
/// name rdrand. The outcome records the sources.
pub(super) fn judge(arch: Arch, boots: &[(Option<i32>, String)]) -> (Verdict, Option<Run>) {
    let mut problems = Vec::new();
    let mut sources = Vec::new();
    let mut draws = Vec::new();
    for (n, (status, output)) in boots.iter().enumerate() {
        let boot = n + 1;
        if *status != Some(0) {
            problems.push(format!("boot {boot}: {}, not 0", ending_of(*status)));
        }
        match logged_once(output, SOURCES_LINE) {
            Some(names) => sources.push(names),
            None => problems.push(format!("boot {boot}: not one `{SOURCES_LINE}` line")),
        }
        let hex = |d: &&str| d.len() == DRAW_DIGITS && d.bytes().all(|b| b.is_ascii_hexdigit());
        match logged_once(output, DRAW_LINE).filter(hex) {
            Some(draw) => draws.push(draw),
            None => problems.push(format!(
                "boot {boot}: not one `{DRAW_LINE}` line with {DRAW_DIGITS} hex digits"
            )),
        }
    }
    if let [first, second] = draws[..] {
        if first == second {
            problems.push(format!(
                "both boots drew {first}: the generator was seeded alike"
            ));
        }
    }
    // The runner gives QEMU guests a CPU with a random number generator
    // (x86_64: RDRAND; arm64: FEAT_RNG's RNDR, which our mirage-crypto
    // patch lets it use under the same name).
    let has_rdrand = |names: &&str| names.split(", ").any(|s| s.ends_with("] rdrand"));
    if !sources.iter().all(has_rdrand) {
        let cpu = match arch {
            Arch::X86_64 => "QEMU x86_64 CPU must have RDRAND (`-cpu ...,+rdrand`)",
            Arch::Arm64 => "QEMU arm64 CPU must have FEAT_RNG (`-cpu max`), and mirage-crypto our patch (tests/mirage/patches/mirage-crypto)",
        };
        problems.push(format!(
            "the sources ({}) do not name rdrand\nhelp: the runner's {cpu}; mirage-crypto seeds from the timer alone without it",
            sources.join(" | ")
        ));
    }
    let endings: Vec<String> = boots.iter().map(|(s, _)| ending_of(*s)).collect();
    if problems.is_empty() {
        let ending = format!("exit 0 ×{}; {}", boots.len(), sources[0]);
        return (Verdict::Pass, Some(run(ending)));
    }
    let consoles: Vec<String> = boots
        .iter()
        .enumerate()
        .map(|(n, (_, output))| format!("boot {}:\n{}", n + 1, tail(output)))
        .collect();
    let why = format!("{}\n{}", problems.join("\n"), consoles.join("\n"));
    (Verdict::Fail(why), Some(run(endings.join(", "))))
}

/// The rest of the one line of `output` that has `mark`; `None` when none
/// or several have it.
fn logged_once<'a>(output: &'a str, mark: &str) -> Option<&'a str> {
    let mut found = output
        .lines()
        .filter_map(|line| line.split_once(mark).map(|(_, rest)| rest.trim()));
    match (found.next(), found.next()) {
        (Some(rest), None) => Some(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_needs_two_different_draws_and_the_cpu_rng() {
        let boot = |sources: &str, draw: &str| {
            (
                Some(0),
                format!(
                    "no CPU RNG bootstrap\nT: {SOURCES_LINE}{sources}\r\nT: {DRAW_LINE}{draw}\n"
                ),
            )
        };
        let (a, b) = ("ab".repeat(32), "cd".repeat(32));
        let both = "[0] rdrand, [1] timer";
        let passed = judge(Arch::X86_64, &[boot(both, &a), boot(both, &b)]);
        assert_eq!(passed.0, Verdict::Pass);
        assert_eq!(passed.1.unwrap().ending, "exit 0 ×2; [0] rdrand, [1] timer");
        let fails = |arch, boots: &[(Option<i32>, String)], why: &str| {
            let verdict = judge(arch, boots).0;
            assert!(
                matches!(&verdict, Verdict::Fail(w) if w.contains(why)),
                "{verdict:?}"
            );
        };
        assert_eq!(
            judge(Arch::Arm64, &[boot(both, &a), boot(both, &b)]).0,
            Verdict::Pass
        );
        let timer = "[0] timer";
        for arch in [Arch::X86_64, Arch::Arm64] {
            fails(
                arch,
                &[boot(timer, &a), boot(timer, &b)],
                "do not name rdrand",
            );
        }
        fails(
            Arch::Arm64,
            &[boot(both, &a), boot(both, &a)],
            "seeded alike",
        );
        fails(
            Arch::Arm64,
            &[boot(both, &a), boot(both, "ab")],
            "boot 2: not one",
        );
        let mut exit1 = boot(both, &b);
        exit1.0 = Some(1);
        fails(
            Arch::Arm64,
            &[boot(both, &a), exit1],
            "boot 2: exit 1, not 0",
        );
        let twice = (Some(0), format!("{}{}", boot(both, &a).1, boot(both, &b).1));
        fails(Arch::Arm64, &[twice, boot(both, &b)], "boot 1: not one");
    }
}
