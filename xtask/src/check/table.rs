//! The table every end-to-end check prints: one row per test and target,
//! its verdict, how the program ended, and its times; then a total per
//! target.

use anyhow::Result;
use ocaml_unikraft_toolchain::boot::console::Transcript;
use ocaml_unikraft_toolchain::boot::vmm;
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Fail(String),
    /// It should run here but cannot (the VMM is missing, say).
    Skip(String),
    /// It is not meant to run on this target (localtests' `Expected::not_for`).
    NotApplicable(String),
}

pub(crate) struct Row {
    pub(crate) test: String,
    pub(crate) target: String,
    pub(crate) verdict: Verdict,
    /// How the program ended, when it ran.
    pub(crate) ending: Option<String>,
    pub(crate) first_output: Option<Duration>,
    pub(crate) time: Duration,
}

/// A row for a test that either completes (pass, fail or skip, and how the
/// program ended) or cannot be carried out (a failure, with the reason).
pub(crate) fn run_row(
    test: &str,
    target: &str,
    body: impl FnOnce() -> Result<(Verdict, Option<Run>)>,
) -> Row {
    let start = Instant::now();
    let (verdict, run) = body().unwrap_or_else(|err| (Verdict::Fail(format!("{err:#}")), None));
    Row {
        test: test.into(),
        target: target.into(),
        verdict,
        ending: run.as_ref().map(|r| r.ending.clone()),
        first_output: run.and_then(|r| r.first_output),
        time: start.elapsed(),
    }
}

/// A row for a test that is not meant for `target`.
pub(crate) fn not_applicable_row(test: &str, target: &str, reason: impl Into<String>) -> Row {
    Row {
        test: test.into(),
        target: target.into(),
        verdict: Verdict::NotApplicable(reason.into()),
        ending: None,
        first_output: None,
        time: Duration::ZERO,
    }
}

/// What one run of a program showed, besides pass or fail.
pub(crate) struct Run {
    pub(crate) ending: String,
    pub(crate) first_output: Option<Duration>,
}

impl Run {
    pub(crate) fn of(boot: &vmm::Boot, transcript: &Transcript) -> Run {
        Run {
            ending: transcript.ending.describe(),
            first_output: boot.first_output,
        }
    }
}

pub(crate) fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.test.len()).max().unwrap_or(0).max(13);
    println!(
        "{:<width$} {:<23} {:<6} {:<32} {:>8} {:>7}",
        "test", "target", "result", "outcome", "1st out", "time"
    );
    // Skips of one target share their reason: it is printed once.
    let mut skip_reasons_shown: Vec<(&str, &str)> = Vec::new();
    for row in rows {
        let (word, detail) = match &row.verdict {
            Verdict::Pass => ("pass", None),
            Verdict::Fail(why) => ("FAIL", Some(why.as_str())),
            Verdict::Skip(why) => {
                let seen = (row.target.as_str(), why.as_str());
                if skip_reasons_shown.contains(&seen) {
                    ("skip", None)
                } else {
                    skip_reasons_shown.push(seen);
                    ("skip", Some(why.as_str()))
                }
            }
            // Listed together below.
            Verdict::NotApplicable(_) => continue,
        };
        println!(
            "{:<width$} {:<23} {:<6} {:<32} {:>8} {:>6.2}s",
            row.test,
            row.target,
            word,
            row.ending.as_deref().unwrap_or("-"),
            row.first_output
                .map_or("-".into(), |t| format!("{:.0}ms", t.as_secs_f64() * 1000.0)),
            row.time.as_secs_f64()
        );
        if let Some(detail) = detail {
            for line in detail.lines() {
                println!("    {line}");
            }
        }
    }
    print_not_applicable(rows);
    println!();
    let mut targets: Vec<&str> = rows.iter().map(|r| r.target.as_str()).collect();
    targets.sort();
    targets.dedup();
    for target in targets {
        let of_target: Vec<&Row> = rows.iter().filter(|r| r.target == target).collect();
        let count =
            |kind: fn(&Verdict) -> bool| of_target.iter().filter(|r| kind(&r.verdict)).count();
        println!(
            "{target:<23} {:>3} pass {:>3} fail {:>3} skip {:>3} n/a   total {:>6.2}s",
            count(|v| *v == Verdict::Pass),
            count(|v| matches!(v, Verdict::Fail(_))),
            count(|v| matches!(v, Verdict::Skip(_))),
            count(|v| matches!(v, Verdict::NotApplicable(_))),
            of_target.iter().map(|r| r.time.as_secs_f64()).sum::<f64>()
        );
    }
}

/// The tests not meant for a target, one line per target and reason.
fn print_not_applicable(rows: &[Row]) {
    let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for row in rows {
        let Verdict::NotApplicable(reason) = &row.verdict else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|(target, why, _)| *target == row.target && *why == reason)
        {
            Some((_, _, tests)) => tests.push(&row.test),
            None => groups.push((&row.target, reason, vec![&row.test])),
        }
    }
    for (target, reason, tests) in groups {
        println!(
            "{:<13} {target:<23} n/a    {reason}:\n    {}",
            format!("({} tests)", tests.len()),
            tests.join(" ")
        );
    }
}
