//! The website over each network path: our website example's plain HTTP
//! `/` (built by `cargo xtask mirage-tests`) asked by ApacheBench from the
//! host, by one client and then by many at once, through `--net user
//! --forward` (QEMU's NAT, behind the runner's relay) and on a bridge of
//! its own, at the address dnsmasq leased it, on each QEMU arch.

use crate::check::mirage::load::{self, Measured, NetPath};
use crate::target::{Arch, Backend, Bundle};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Each ApacheBench run: (requests, clients at once).
pub(crate) const LOADS: [(u32, u32); 2] = [(300, 1), (5000, 100)];
const PATHS: [NetPath; 2] = [NetPath::Forward, NetPath::Bridge];

/// One arch's figures on each path (in [`PATHS`]' order), one per load;
/// or why they were not measured.
pub(crate) struct PathsRun {
    pub(crate) bundle: String,
    pub(crate) paths: Vec<Result<Vec<Measured>, String>>,
}

/// Boots the website mirage-tests built in `mirage` (its build directory)
/// on each path for each QEMU arch, and loads it.
pub(crate) fn measure(runner: &Path, mirage: &Path) -> Vec<PathsRun> {
    [Arch::X86_64, Arch::Arm64]
        .into_iter()
        .map(|arch| {
            let bundle = Bundle::new(Backend::Qemu, arch, &[]).name();
            let image = mirage.join(format!("website-{bundle}/dist/website.qemu"));
            let paths = PATHS
                .iter()
                .map(|&path| {
                    if !image.exists() {
                        return Err(format!(
                            "no {}: `cargo xtask mirage-tests` builds it",
                            image.display()
                        ));
                    }
                    let timeout = Duration::from_secs(900);
                    load::measure(runner, &image, path, &LOADS, timeout)
                        .map_err(|err| format!("{err:#}"))
                })
                .collect();
            PathsRun { bundle, paths }
        })
        .collect()
}

pub(crate) fn markdown(runs: &[PathsRun]) -> String {
    let [forward, bridge] = PATHS.map(NetPath::describe);
    let mut out = format!(
        "\n## A MirageOS website on each network path\n\nThe same website's plain HTTP `/`, a new connection per request, asked by ApacheBench (`ab -n REQUESTS -c CLIENTS`) from the host: through `{forward}` (QEMU's NAT, behind the runner's relay) and on a {bridge} of its own (a tap, its address leased by dnsmasq), on QEMU's software CPU. Requests per second and the median time of one; every request was answered, or the path is not measured.\n\n| bundle | clients | requests | {forward} req/s | median ms | {bridge} req/s | median ms | {bridge} ÷ {forward} rate |\n|---|---|---|---|---|---|---|---|\n"
    );
    for run in runs {
        for (n, (requests, clients)) in LOADS.iter().enumerate() {
            let cells: Vec<Option<&Measured>> = run
                .paths
                .iter()
                .map(|path| path.as_ref().ok().map(|m| &m[n]))
                .collect();
            let figures = |m: Option<&Measured>| match m {
                Some(m) => format!("{:.1} | {:.0}", m.requests_per_second, m.median_ms),
                None => "- | -".into(),
            };
            let ratio = match (cells[0], cells[1]) {
                (Some(f), Some(b)) => {
                    format!("{:.2}", b.requests_per_second / f.requests_per_second)
                }
                _ => "-".into(),
            };
            out.push_str(&format!(
                "| {} | {clients} | {requests} | {} | {} | {ratio} |\n",
                run.bundle,
                figures(cells[0]),
                figures(cells[1])
            ));
        }
        for (path, result) in PATHS.iter().zip(&run.paths) {
            if let Err(why) = result {
                out.push_str(&format!(
                    "\n{} on `{}`: not measured: {}\n",
                    run.bundle,
                    path.describe(),
                    why.replace('\n', " ")
                ));
            }
        }
    }
    out
}

pub(crate) fn json(runs: &[PathsRun]) -> Value {
    json!(runs
        .iter()
        .map(|run| json!({
            "bundle": run.bundle,
            "paths": PATHS.iter().zip(&run.paths).map(|(path, result)| match result {
                Ok(measured) => json!({
                    "path": path.describe(),
                    "loads": LOADS.iter().zip(measured).map(|((requests, clients), m)| json!({
                        "requests": requests,
                        "clients": clients,
                        "requests_per_second": m.requests_per_second,
                        "median_ms": m.median_ms,
                    })).collect::<Vec<_>>(),
                }),
                Err(why) => json!({ "path": path.describe(), "not_measured": why }),
            }).collect::<Vec<_>>(),
        }))
        .collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(rate: f64, median_ms: f64) -> Measured {
        Measured {
            answered: 1,
            requests_per_second: rate,
            median_ms,
            problems: Vec::new(),
        }
    }

    #[test]
    fn each_load_is_a_row_with_both_paths_and_their_ratio() {
        let runs = [PathsRun {
            bundle: "qemu-x86_64".into(),
            paths: vec![
                Ok(vec![measured(50.0, 20.0), measured(400.0, 250.0)]),
                Ok(vec![measured(100.0, 10.0), measured(500.0, 200.0)]),
            ],
        }];
        let text = markdown(&runs);
        assert!(
            text.contains("| qemu-x86_64 | 1 | 300 | 50.0 | 20 | 100.0 | 10 | 2.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| qemu-x86_64 | 100 | 5000 | 400.0 | 250 | 500.0 | 200 | 1.25 |"),
            "{text}"
        );
        let value = json(&runs);
        assert_eq!(value[0]["paths"][1]["path"], "bridge");
        assert_eq!(
            value[0]["paths"][1]["loads"][1]["requests_per_second"],
            500.0
        );
    }

    #[test]
    fn a_path_not_measured_says_why() {
        let runs = [PathsRun {
            bundle: "qemu-arm64".into(),
            paths: vec![
                Ok(vec![measured(50.0, 20.0), measured(400.0, 250.0)]),
                Err("making bridges and taps needs root".into()),
            ],
        }];
        let text = markdown(&runs);
        assert!(
            text.contains("| qemu-arm64 | 1 | 300 | 50.0 | 20 | - | - | - |"),
            "{text}"
        );
        assert!(
            text.contains(
                "qemu-arm64 on `bridge`: not measured: making bridges and taps needs root"
            ),
            "{text}"
        );
    }
}
