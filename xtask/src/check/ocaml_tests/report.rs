//! The results: one line per selected test with its verdict on each
//! target, what each failure showed, the tests that run nowhere grouped by
//! reason, and the totals per target.

use crate::check::table::{Row, Verdict};
use std::collections::BTreeMap;

pub(crate) fn print(rows: &[Row], targets: &[String]) {
    println!("{}", render(rows, targets));
}

fn render(rows: &[Row], targets: &[String]) -> String {
    let mut out = String::new();
    let width = rows.iter().map(|r| r.test.len()).max().unwrap_or(4).max(4);
    let mut by_test: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    let mut not_applicable: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in rows {
        match &row.verdict {
            Verdict::NotApplicable(reason) => {
                not_applicable.entry(reason).or_default().push(&row.test)
            }
            _ => by_test.entry(&row.test).or_default().push(row),
        }
    }
    out.push_str(&format!("{:<width$}", "test"));
    for target in targets {
        out.push_str(&format!("  {target:<10}"));
    }
    out.push('\n');
    let mut failures = Vec::new();
    for (test, of_test) in &by_test {
        out.push_str(&format!("{test:<width$}"));
        for target in targets {
            let cell = match of_test.iter().find(|r| &r.target == target) {
                None => "-",
                Some(row) => match &row.verdict {
                    Verdict::Pass => "pass",
                    Verdict::Skip(_) => "skip",
                    Verdict::Fail(why) => {
                        failures.push((test, target, why));
                        "FAIL"
                    }
                    Verdict::NotApplicable(_) => "n/a",
                },
            };
            out.push_str(&format!("  {cell:<width$}", width = target.len().max(10)));
        }
        out.push('\n');
    }
    for (test, target, why) in failures {
        out.push_str(&format!("\nFAIL {test} on {target}:\n"));
        for line in why.lines().take(40) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    let total_not_applicable: usize = not_applicable.values().map(Vec::len).sum();
    if total_not_applicable > 0 {
        out.push_str(&format!(
            "\nnot applicable ({total_not_applicable} tests), by reason:\n"
        ));
        let mut groups: Vec<(&&str, &Vec<&str>)> = not_applicable.iter().collect();
        groups.sort_by_key(|(_, tests)| std::cmp::Reverse(tests.len()));
        for (reason, tests) in groups {
            out.push_str(&format!("  {:>4}  {reason}\n", tests.len()));
            // Short groups are named: those are the exclusions to reread.
            if tests.len() <= 12 {
                out.push_str(&format!("        {}\n", tests.join(" ")));
            }
        }
    }
    out.push('\n');
    for target in targets {
        let of_target: Vec<&Row> = rows.iter().filter(|r| &r.target == target).collect();
        let count =
            |kind: fn(&Verdict) -> bool| of_target.iter().filter(|r| kind(&r.verdict)).count();
        out.push_str(&format!(
            "{target:<23} {:>4} pass {:>3} fail {:>3} skip   run time {:>7.1}s\n",
            count(|v| *v == Verdict::Pass),
            count(|v| matches!(v, Verdict::Fail(_))),
            count(|v| matches!(v, Verdict::Skip(_))),
            of_target.iter().map(|r| r.time.as_secs_f64()).sum::<f64>()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::table::not_applicable_row;
    use std::time::Duration;

    fn row(test: &str, target: &str, verdict: Verdict) -> Row {
        Row {
            test: test.into(),
            target: target.into(),
            verdict,
            ending: None,
            first_output: None,
            time: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_report_shows_each_test_on_each_target() {
        let targets = ["linux".to_string(), "qemu-x86_64".to_string()];
        let rows = [
            row("a/one.ml", "linux", Verdict::Pass),
            row("a/one.ml", "qemu-x86_64", Verdict::Fail("differs".into())),
            row("a/two.ml", "linux", Verdict::Pass),
            row("a/two.ml", "qemu-x86_64", Verdict::Pass),
            not_applicable_row("a/top.ml", "all", "runs the toplevel"),
        ];
        let text = render(&rows, &targets);
        assert!(text.contains("a/one.ml  pass        FAIL"), "{text}");
        assert!(
            text.contains("FAIL a/one.ml on qemu-x86_64:\n    differs"),
            "{text}"
        );
        assert!(
            text.contains("   1  runs the toplevel\n        a/top.ml"),
            "{text}"
        );
        assert!(
            text.contains("qemu-x86_64                1 pass   1 fail"),
            "{text}"
        );
        assert!(
            text.contains("linux                      2 pass   0 fail"),
            "{text}"
        );
    }
}
