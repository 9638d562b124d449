//! Stamps: a step's outputs are trusted only while its stamp holds the key
//! they were built for.
//!
//! The key is a readable description of every input (versions, hashes,
//! options) and, for a [`BuildStep`], of the commands it runs. A step deletes
//! its stamp before it starts and writes it after success, so an interrupted
//! step always runs again, and changing any input changes the key and reruns
//! exactly the steps that depend on it. A [`BuildStep`] with a step cache
//! ([`crate::util::step_cache`]) first looks there for outputs built for
//! its key, and keeps there what it builds.

use crate::util::cmd::Cmd;
use crate::util::progress;
use crate::util::step_cache::{Outputs, StepCache};
use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One line of `timings.jsonl`: a step that did its work.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(crate) struct Timing {
    pub(crate) step: String,
    pub(crate) wall_seconds: f64,
    /// Absent from records written before CPU time was measured.
    #[serde(default)]
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) finished_unix: f64,
    /// The localbuild the step ran in; absent from other commands' steps
    /// and from records written before runs were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) run: Option<Run>,
    /// The step was restored from the step cache, not built.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) restored: bool,
}

impl Timing {
    pub(crate) fn started_unix(&self) -> f64 {
        self.finished_unix - self.wall_seconds
    }
}

/// The records of a `timings.jsonl`, in the order they were written.
pub(crate) fn parse_timings(text: &str) -> Result<Vec<Timing>> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str(line).with_context(|| format!("line {}", index + 1))
        })
        .collect()
}

/// Every record in `<log_dir>/timings.jsonl`; none when no step has run.
pub(crate) fn read_timings(log_dir: &Path) -> Result<Vec<Timing>> {
    let path = log_dir.join("timings.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    parse_timings(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The steps that did their work in this process's localbuild.
pub(crate) fn this_run(log_dir: &Path) -> Result<Vec<Timing>> {
    let run = RUN.get().copied();
    Ok(read_timings(log_dir)?
        .into_iter()
        .filter(|record| run.is_some() && record.run == run)
        .collect())
}

/// The chain of steps that set a run's length: the step that ended last,
/// preceded by whichever of its dependencies (`depends_on`, among `steps`)
/// ended last, and so on back; in the order they ran.
pub(crate) fn critical_path<'a>(
    steps: &'a [Timing],
    depends_on: impl Fn(&str) -> Vec<String>,
) -> Vec<&'a Timing> {
    let last = |candidates: &mut dyn Iterator<Item = &'a Timing>| {
        candidates.max_by(|a, b| a.finished_unix.total_cmp(&b.finished_unix))
    };
    let mut path: Vec<&Timing> = Vec::new();
    let mut current = last(&mut steps.iter());
    while let Some(step) = current {
        path.push(step);
        let deps = depends_on(&step.step);
        current = last(&mut steps.iter().filter(|s| deps.contains(&s.step)));
    }
    path.reverse();
    path
}

/// A localbuild: when it started (its identity in the timings) and its
/// `-j` budget, which `cargo xtask bench` judges parallelism against.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Run {
    pub(crate) started_unix: u64,
    pub(crate) jobs: usize,
}

/// A process runs at most one localbuild; its steps are spread over many
/// modules and threads, so the run is recorded here once rather than
/// passed to every step.
static RUN: OnceLock<Run> = OnceLock::new();

/// Marks every step timed from now on as part of a localbuild with `jobs`.
pub(crate) fn begin_run(jobs: usize) {
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let _ = RUN.set(Run { started_unix, jobs });
}

pub(crate) struct Stamp {
    path: PathBuf,
}

impl Stamp {
    pub(crate) fn new(path: PathBuf) -> Stamp {
        Stamp { path }
    }

    /// True when the stamp exists and records exactly `key`.
    pub(crate) fn is_current(&self, key: &str) -> bool {
        std::fs::read_to_string(&self.path).is_ok_and(|recorded| recorded == key)
    }

    pub(crate) fn invalidate(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(err).with_context(|| format!("removing stamp {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn record(&self, key: &str) -> Result<()> {
        crate::util::fs::create_parent(&self.path)?;
        std::fs::write(&self.path, key)
            .with_context(|| format!("writing stamp {}", self.path.display()))
    }
}

/// Whether [`run_step`] did the work or found it up to date, or a
/// [`BuildStep`] restored it from the step cache.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum StepResult {
    Ran,
    UpToDate,
    Restored,
}

/// Runs `work` unless `stamp` already records `key`; appends the wall time of
/// work done, and the CPU time of the build commands it ran, to
/// `<log_dir>/timings.jsonl` for `cargo xtask bench`.
pub(crate) fn run_step(
    log_dir: &Path,
    name: &str,
    stamp: &Stamp,
    key: &str,
    work: impl FnOnce() -> Result<()>,
) -> Result<StepResult> {
    if stamp.is_current(key) {
        return Ok(StepResult::UpToDate);
    }
    stamp.invalidate()?;
    let start = Instant::now();
    let cpu_before = crate::util::cmd::child_cpu_seconds();
    work()?;
    stamp.record(key)?;
    let cpu = crate::util::cmd::child_cpu_seconds() - cpu_before;
    record_timing(log_dir, name, start.elapsed().as_secs_f64(), Some(cpu))?;
    Ok(StepResult::Ran)
}

/// A step that runs build commands (configure, make), all writing one log,
/// while the user sees it start and end, or be up to date.
pub(crate) struct BuildStep<'a> {
    /// Names the step in progress lines, its log's header and the timings.
    pub(crate) name: String,
    pub(crate) stamp: Stamp,
    /// Where the commands' output goes; started afresh on every run.
    pub(crate) log: PathBuf,
    /// Everything the step is built from besides its recipe (sources,
    /// versions, options), one per line.
    pub(crate) inputs: String,
    /// The commands the step runs, built before it runs, with placeholders
    /// for the paths of this build ([`Cmd::resolve`]). Part of the key:
    /// changing a command reruns the step as changing an input does.
    pub(crate) recipe: &'a [Cmd],
    /// An output whose absence reruns the step whatever its stamp says.
    pub(crate) output: Option<PathBuf>,
    /// Its place in the queue for job slots.
    pub(crate) urgency: Urgency,
    /// Where its outputs are kept and restored from, if they are.
    pub(crate) cache: Option<Cached<'a>>,
}

/// A step's outputs, and the step cache that keeps them.
pub(crate) struct Cached<'a> {
    pub(crate) store: &'a StepCache,
    pub(crate) outputs: Outputs,
}

/// Which of the steps waiting for a job slot gets the next one: the most
/// urgent, then the one that asked first. Steps on the critical path go
/// first, so that a step which could start (a cross compiler once the host
/// OCaml is built) does not wait behind work nothing waits for.
///
/// Slots alone do not order the CPU when they outnumber the cores (`-j8`
/// on 2 cores gives every step a slot at once): the commands of a step
/// also run at its [`Urgency::niceness`], so the kernel shares the cores
/// by urgency too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Urgency {
    /// Nothing waits for it but the end of the run.
    Filler,
    Normal,
    /// Other steps wait for it.
    Critical,
}

impl Urgency {
    /// The niceness of the step's commands. Under contention a nice-0
    /// process gets about 9 times the CPU of a nice-10 one, 28 times that
    /// of a nice-15 one; on an idle core they run at full speed all the same.
    pub(crate) fn niceness(self) -> i32 {
        match self {
            Urgency::Critical => 0,
            Urgency::Normal => 10,
            Urgency::Filler => 15,
        }
    }
}

/// The queue of steps waiting for a job slot (one per process, as there is
/// one localbuild). Only its head reads a token from the jobserver, so the
/// order is ours, not the pipe's.
struct SlotQueue {
    waiting: std::sync::Mutex<Vec<(Urgency, u64)>>,
    turn: std::sync::Condvar,
    tickets: std::sync::atomic::AtomicU64,
}

static SLOT_QUEUE: SlotQueue = SlotQueue::new();

impl SlotQueue {
    const fn new() -> SlotQueue {
        SlotQueue {
            waiting: std::sync::Mutex::new(Vec::new()),
            turn: std::sync::Condvar::new(),
            tickets: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn acquire(
        &self,
        jobserver: &jobserver::Client,
        urgency: Urgency,
    ) -> Result<jobserver::Acquired> {
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let me = (urgency, ticket);
        let head = |waiting: &[(Urgency, u64)]| {
            waiting
                .iter()
                .copied()
                .max_by_key(|&(urgency, ticket)| (urgency, std::cmp::Reverse(ticket)))
        };
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.push(me);
        while head(&waiting) != Some(me) {
            waiting = self.turn.wait(waiting).unwrap_or_else(|e| e.into_inner());
        }
        drop(waiting);
        // The head blocks on the jobserver; the others wait for their turn.
        let token = jobserver.acquire();
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.retain(|&entry| entry != me);
        self.turn.notify_all();
        token.context("waiting for a job slot")
    }
}

impl BuildStep<'_> {
    /// The stamp key: the inputs and the recipe ([`key_with_recipe`]).
    pub(crate) fn key(&self) -> String {
        key_with_recipe(&self.inputs, self.recipe)
    }

    /// Runs `work`, given the log, unless the stamp records the key (see
    /// [`run_step`]) or the step cache has the outputs for it (restored
    /// then, without a job slot; what `work` built is kept there after).
    /// It first takes a token of `jobserver` and holds it to
    /// the end: the token pays for the implicit job slot of the make it
    /// starts (a make given jobserver fds runs one job without a token), as
    /// GNU make takes a slot for every recipe that runs a sub-make. So the
    /// builds together never run more than the `-j` budget, and when builds
    /// outnumber tokens the others wait, the most urgent first
    /// ([`Urgency`]): at `-j2`, with the host OCaml holding one token, the
    /// bundles build one after another on the other. That costs no
    /// throughput, both slots stay busy either way; starting
    /// every make without a token would run one job per make outside the
    /// budget (five jobs at `-j2` with four bundles). The time recorded
    /// starts once the token is held: the build's own, not its wait. A step
    /// whose turn comes once `cancel` is set does not start.
    pub(crate) fn run(
        &self,
        log_dir: &Path,
        jobserver: &jobserver::Client,
        cancel: Option<&AtomicBool>,
        work: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<StepResult> {
        let key = self.key();
        if self.output.as_ref().is_some_and(|output| !output.exists()) {
            self.stamp.invalidate()?;
        }
        if self.stamp.is_current(&key) {
            progress::say(&self.name, "up to date");
            return Ok(StepResult::UpToDate);
        }
        if self.restore(log_dir, &key)? {
            return Ok(StepResult::Restored);
        }
        let before = match &self.cache {
            Some(cached) => cached.outputs.snapshot()?,
            None => None,
        };
        let _slot = SLOT_QUEUE.acquire(jobserver, self.urgency)?;
        if cancel.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            bail!("not started because another build failed (--fail-fast)");
        }
        let start = Instant::now();
        let result = run_step(log_dir, &self.name, &self.stamp, &key, || {
            let log = self.log.display();
            progress::say(&self.name, &format!("building (log: {log})"));
            self.start_log(&key)?;
            crate::util::cmd::with_niceness(self.urgency.niceness(), || {
                progress::following_log(&self.name, &self.log, || work(&self.log))
            })
        })?;
        let seconds = start.elapsed().as_secs_f64();
        progress::say(&self.name, &format!("built in {seconds:.0} s"));
        if let Some(cached) = &self.cache {
            let start = Instant::now();
            // The build stands without its entry: a cache that cannot
            // take it costs a later run the build, not this one.
            match cached
                .store
                .store(&self.name, &key, &cached.outputs, before.as_ref())
            {
                Ok(()) => progress::say(
                    &self.name,
                    &format!(
                        "kept in the step cache in {:.1} s",
                        start.elapsed().as_secs_f64()
                    ),
                ),
                Err(err) => progress::say(
                    &self.name,
                    &format!("warning: not kept in the step cache: {err:#}"),
                ),
            }
        }
        Ok(result)
    }

    /// Restores the outputs from the step cache if it has them for `key`,
    /// and then records the stamp and the time it took.
    fn restore(&self, log_dir: &Path, key: &str) -> Result<bool> {
        let Some(cached) = &self.cache else {
            return Ok(false);
        };
        // Interrupted halfway, a restore must not leave a valid stamp.
        self.stamp.invalidate()?;
        let start = Instant::now();
        match cached.store.restore(&self.name, key, &cached.outputs) {
            Ok(true) => {
                self.stamp.record(key)?;
                let seconds = start.elapsed().as_secs_f64();
                record_timing(log_dir, &self.name, seconds, None)?;
                progress::say(
                    &self.name,
                    &format!("restored from the step cache in {seconds:.1} s"),
                );
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(err) => {
                progress::say(
                    &self.name,
                    &format!("warning: the step cache failed ({err:#}): building instead"),
                );
                Ok(false)
            }
        }
    }

    /// A fresh log, headed by what the step is built from.
    fn start_log(&self, key: &str) -> Result<()> {
        crate::util::fs::create_parent(&self.log)?;
        let header = format!("# {}\n# inputs and recipe:\n{key}", self.name);
        std::fs::write(&self.log, header).with_context(|| format!("writing {}", self.log.display()))
    }
}

/// A stamp key: `inputs`, then a `run` line for each command of `recipe`.
pub(crate) fn key_with_recipe(inputs: &str, recipe: &[Cmd]) -> String {
    let mut key = format!("{}\n", inputs.trim_end());
    for cmd in recipe {
        key.push_str(&format!("run {}\n", cmd.display()));
    }
    key
}

/// Appends a step's timing to `timings.jsonl`: with the CPU seconds of the
/// commands it ran, or none for a step restored from the step cache.
fn record_timing(
    log_dir: &Path,
    name: &str,
    wall_seconds: f64,
    cpu_seconds: Option<f64>,
) -> Result<()> {
    std::fs::create_dir_all(log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let path = log_dir.join("timings.jsonl");
    let timing = Timing {
        step: name.to_owned(),
        wall_seconds,
        cpu_seconds,
        finished_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        run: RUN.get().copied(),
        restored: cpu_seconds.is_none(),
    };
    let line = serde_json::to_string(&timing)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{line}").with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_urgent_waiting_step_gets_the_next_slot() {
        let queue = SlotQueue::new();
        let jobserver = jobserver::Client::new(1).unwrap();
        let held = queue.acquire(&jobserver, Urgency::Normal).unwrap();
        let order = std::sync::Mutex::new(Vec::new());
        let queued = |n| {
            while queue.waiting.lock().unwrap().len() < n {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        };
        std::thread::scope(|s| {
            let wait = |urgency| {
                let (queue, jobserver, order) = (&queue, &jobserver, &order);
                s.spawn(move || {
                    let slot = queue.acquire(jobserver, urgency).unwrap();
                    order.lock().unwrap().push(urgency);
                    drop(slot);
                })
            };
            // Alone in the queue, this filler is its head: it reads the
            // jobserver, and the later ones wait behind it.
            let first = wait(Urgency::Filler);
            queued(1);
            let later = [wait(Urgency::Filler), wait(Urgency::Critical)];
            queued(3);
            drop(held);
            for waiter in std::iter::once(first).chain(later) {
                waiter.join().unwrap();
            }
        });
        // Then the critical step, though it asked after the second filler.
        assert_eq!(
            *order.lock().unwrap(),
            [Urgency::Filler, Urgency::Critical, Urgency::Filler]
        );
    }

    #[test]
    fn the_critical_path_follows_the_dependency_that_ended_last() {
        let step = |name: &str, started: f64, finished: f64| Timing {
            step: name.into(),
            wall_seconds: finished - started,
            cpu_seconds: None,
            finished_unix: finished,
            run: None,
            restored: false,
        };
        let steps = [
            step("host-ocaml", 0.0, 300.0),
            step("bundle a", 0.0, 120.0),
            step("bundle b", 120.0, 200.0),
            step("host-dune", 300.0, 400.0),
            step("ocaml-x", 300.0, 600.0),
            step("install", 200.0, 201.0),
        ];
        let depends_on = |name: &str| -> Vec<String> {
            let deps: &[&str] = match name {
                "ocaml-x" => &["host-ocaml", "bundle a"],
                "host-dune" => &["host-ocaml"],
                "bundle b" => &["bundle a"],
                "install" => &["bundle a", "bundle b"],
                _ => &[],
            };
            deps.iter().map(|d| d.to_string()).collect()
        };
        let names = |path: Vec<&Timing>| path.iter().map(|t| t.step.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(critical_path(&steps, depends_on)),
            ["host-ocaml", "ocaml-x"]
        );
        // Only what ran counts: with the cross compiler up to date, dune
        // ends the run.
        assert_eq!(
            names(critical_path(&steps[..4], depends_on)),
            ["host-ocaml", "host-dune"]
        );
        assert!(critical_path(&[], depends_on).is_empty());
    }

    #[test]
    fn step_runs_once_per_key_and_again_when_the_key_changes() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = Stamp::new(dir.path().join("stamps/example"));
        let mut runs = 0;
        let mut step = |key: &str| {
            run_step(dir.path(), "example", &stamp, key, || {
                runs += 1;
                Ok(())
            })
            .unwrap()
        };
        assert_eq!(step("v1"), StepResult::Ran);
        assert_eq!(step("v1"), StepResult::UpToDate);
        assert_eq!(step("v2"), StepResult::Ran);
        assert_eq!(runs, 2);
        let timings = std::fs::read_to_string(dir.path().join("timings.jsonl")).unwrap();
        assert_eq!(timings.lines().count(), 2);
        let first: Timing = serde_json::from_str(timings.lines().next().unwrap()).unwrap();
        assert_eq!(first.step, "example");
        assert!(first.cpu_seconds.is_some());
    }

    fn build_step<'a>(dir: &Path, recipe: &'a [Cmd]) -> BuildStep<'a> {
        BuildStep {
            name: "example".into(),
            stamp: Stamp::new(dir.join("stamps/example")),
            log: dir.join("logs/example.log"),
            inputs: "source v1".into(),
            recipe,
            output: Some(dir.join("out")),
            urgency: Urgency::Normal,
            cache: None,
        }
    }

    /// Runs `step` with work that writes its output, as a build would.
    fn build(step: &BuildStep, dir: &Path, cancel: Option<&AtomicBool>) -> Result<StepResult> {
        let jobserver = jobserver::Client::new(1).unwrap();
        step.run(&dir.join("logs"), &jobserver, cancel, |log| {
            assert_eq!(log, dir.join("logs/example.log"));
            std::fs::write(dir.join("out"), "built")?;
            Ok(())
        })
    }

    #[test]
    fn build_step_reruns_when_its_recipe_changes_or_its_output_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let make = [Cmd::new("make").arg("-C").arg("${tree}")];
        assert_eq!(
            build(&build_step(dir, &make), dir, None).unwrap(),
            StepResult::Ran
        );
        let log = std::fs::read_to_string(dir.join("logs/example.log")).unwrap();
        assert!(log.starts_with("# example\n"), "{log}");
        assert!(log.contains("source v1\nrun make -C '${tree}'\n"), "{log}");
        let again = build(&build_step(dir, &make), dir, None).unwrap();
        assert_eq!(again, StepResult::UpToDate);

        let serial = [Cmd::new("make").arg("-j1").arg("-C").arg("${tree}")];
        let changed = build(&build_step(dir, &serial), dir, None).unwrap();
        assert_eq!(changed, StepResult::Ran, "a changed command reruns");
        std::fs::remove_file(dir.join("out")).unwrap();
        let rebuilt = build(&build_step(dir, &serial), dir, None).unwrap();
        assert_eq!(rebuilt, StepResult::Ran, "a missing output reruns");
        let timings = std::fs::read_to_string(dir.join("logs/timings.jsonl")).unwrap();
        assert_eq!(timings.lines().count(), 3);
    }

    #[test]
    fn a_build_step_with_a_step_cache_restores_what_it_built_once() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let cache = StepCache::new(dir.join("cache"), None).unwrap();
        let cached = |dir: &Path| Cached {
            store: &cache,
            outputs: Outputs {
                dir: dir.join("out"),
                kind: crate::util::step_cache::OutputKind::Whole,
                roots: Vec::new(),
            },
        };
        let step = |dir: &Path| BuildStep {
            output: Some(dir.join("out/file")),
            cache: Some(cached(dir)),
            ..build_step(dir, &[])
        };
        let jobserver = jobserver::Client::new(1).unwrap();
        let runs = std::cell::Cell::new(0);
        let build = |dir: &Path| {
            step(dir)
                .run(&dir.join("logs"), &jobserver, None, |_| {
                    runs.set(runs.get() + 1);
                    std::fs::create_dir_all(dir.join("out"))?;
                    std::fs::write(dir.join("out/file"), "built")?;
                    Ok(())
                })
                .unwrap()
        };
        assert_eq!(build(dir), StepResult::Ran);
        // Another tree, as after `rm -rf` or in a fresh clone.
        let other = dir.join("other");
        assert_eq!(build(&other), StepResult::Restored);
        assert_eq!(build(&other), StepResult::UpToDate);
        assert_eq!(runs.get(), 1, "built once");
        let restored = std::fs::read_to_string(other.join("out/file")).unwrap();
        assert_eq!(restored, "built");
    }

    #[test]
    fn cancelled_build_step_does_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let cancel = AtomicBool::new(true);
        let err = build(&build_step(dir, &[]), dir, Some(&cancel)).unwrap_err();
        assert!(err.to_string().contains("--fail-fast"), "{err}");
        assert!(!dir.join("out").exists() && !dir.join("logs").exists());
    }

    #[test]
    fn failed_step_leaves_no_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = Stamp::new(dir.path().join("stamp"));
        stamp.record("old").unwrap();
        let result = run_step(dir.path(), "failing", &stamp, "new", || {
            anyhow::bail!("boom")
        });
        assert!(result.is_err());
        assert!(!stamp.is_current("old"));
        assert!(!stamp.is_current("new"));
    }
}
