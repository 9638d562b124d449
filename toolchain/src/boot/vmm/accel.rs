//! QEMU's accelerator: KVM where it can run a unikernel, the software CPU
//! (TCG) otherwise. Whether KVM can is decided once per host and QEMU (a
//! host may offer a `/dev/kvm` that fails on real guests, as these build
//! machines do) and remembered in the user's cache directory.

use super::{boot, Launch, Watch};
use crate::arch::Arch;
use crate::backend::Backend;
use crate::boot::console::Ending;
use crate::boot::devices::Devices;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `--accel` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM where it can run a unikernel, the software CPU otherwise.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

/// The accelerator QEMU gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    /// The software CPU: runs everywhere, any arch.
    #[default]
    Tcg,
}

impl Accel {
    /// QEMU's name for it (`-accel NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// The accelerator chosen, and why not KVM when `auto` could not have it
/// and this is the first time it was decided here (a note for the user,
/// said once).
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    pub accel: Accel,
    pub note: Option<String>,
}

/// Decides the accelerator for an `arch` guest on QEMU. `probe` is a QEMU
/// image of this host's arch whose program exits 0 (the runner's prefix
/// installs one): for `auto` it is booted once on KVM, and the answer is
/// kept in `cache_dir`. An explicit `kvm` that cannot work is an error.
pub fn decide(
    choice: AccelChoice,
    arch: Arch,
    probe: Option<&Path>,
    cache_dir: Option<&Path>,
) -> anyhow::Result<Decision> {
    let host_arch = arch.is_host();
    let quiet = |accel| Decision { accel, note: None };
    match choice {
        AccelChoice::Tcg => Ok(quiet(Accel::Tcg)),
        AccelChoice::Kvm if !host_arch => anyhow::bail!(
            "KVM runs only {} guests on this host, not {}\nhelp: use --accel tcg (the software CPU)",
            std::env::consts::ARCH,
            arch.unikraft()
        ),
        AccelChoice::Kvm => match open_kvm() {
            Ok(()) => Ok(quiet(Accel::Kvm)),
            Err(err) => anyhow::bail!(
                "/dev/kvm cannot be opened ({err})\nhelp: use --accel tcg, or give your user access to /dev/kvm (the kvm group)"
            ),
        },
        // A guest of another arch has only the software CPU: nothing to say.
        AccelChoice::Auto if !host_arch => Ok(quiet(Accel::Tcg)),
        AccelChoice::Auto => Ok(auto(probe, cache_dir)),
    }
}

/// `auto` for a guest of the host's arch.
fn auto(probe: Option<&Path>, cache_dir: Option<&Path>) -> Decision {
    if let Err(err) = open_kvm() {
        // Nothing to remember: this changes with the user's groups.
        let note = match err.kind() {
            std::io::ErrorKind::NotFound => None,
            _ => Some(format!("/dev/kvm cannot be opened ({err})")),
        };
        return Decision {
            accel: Accel::Tcg,
            note: note.map(with_fallback),
        };
    }
    // Any runner's answer will do: it depends on the host and QEMU only.
    let remembered = cache_dir.map(|dir| dir.join(format!("accel-{}", host_key())));
    if let Some(answer) = remembered.as_deref().and_then(read_answer) {
        return Decision {
            accel: answer,
            note: None,
        };
    }
    let Some(probe) = probe.filter(|p| p.is_file()) else {
        return Decision {
            accel: Accel::Tcg,
            note: Some(with_fallback(
                "no KVM probe image was installed beside the runner, so whether KVM runs a unikernel here is unknown; --accel kvm tries it".into(),
            )),
        };
    };
    let problem = kvm_problem(probe);
    let accel = match problem {
        None => Accel::Kvm,
        Some(_) => Accel::Tcg,
    };
    if let (Some(dir), Some(file)) = (cache_dir, &remembered) {
        let text = format!("{}\n{}\n", accel.name(), problem.as_deref().unwrap_or(""));
        let _ = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(file, text));
    }
    Decision {
        accel,
        note: problem.map(|problem| {
            let kept = remembered.map_or(String::new(), |f| {
                format!(" (decided once, kept in {})", f.display())
            });
            with_fallback(format!("{problem}{kept}"))
        }),
    }
}

fn with_fallback(why: String) -> String {
    format!("using the software CPU (QEMU's TCG), not KVM: {why}")
}

/// The answer kept in `file`, if it holds one.
fn read_answer(file: &Path) -> Option<Accel> {
    let text = std::fs::read_to_string(file).ok()?;
    match text.lines().next()? {
        "kvm" => Some(Accel::Kvm),
        "tcg" => Some(Accel::Tcg),
        _ => None,
    }
}

/// What names this host and its QEMU: the kernel (its release and host
/// name) and the QEMU executable (its path, size and modification time,
/// which an upgrade changes). A hash, as a file name.
fn host_key() -> String {
    let mut seed = String::new();
    // SAFETY: uname fills the struct it is given.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } == 0 {
        for field in [&uts.nodename[..], &uts.release[..], &uts.version[..]] {
            let bytes: Vec<u8> = field
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            seed.push_str(&String::from_utf8_lossy(&bytes));
            seed.push('\n');
        }
    }
    let qemu = Arch::host().and_then(|arch| crate::which::on_path(super::qemu::program(arch)));
    if let Some(qemu) = qemu {
        seed.push_str(&qemu.display().to_string());
        if let Ok(meta) = std::fs::metadata(&qemu) {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            seed.push_str(&format!(" {} {:?}", meta.len(), modified));
        }
    }
    format!("{:016x}", crate::boot::network::fnv1a(seed.as_bytes()))
}

/// The user's cache directory for the runner's answers:
/// `$XDG_CACHE_HOME/ocaml-unikraft`, else `~/.cache/ocaml-unikraft`.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    Some(base.join("ocaml-unikraft"))
}

/// Opens `/dev/kvm` as a VMM does, for reading and writing: an error says
/// why no VMM can use KVM here (`NotFound`: the host has no `/dev/kvm`).
/// Whether KVM really runs a guest is [`kvm_problem`]'s question.
pub fn open_kvm() -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
}

/// Why KVM cannot run unikernels here although `/dev/kvm` opens, if it
/// cannot (some hosts offer a KVM that fails on real guests): boots
/// `probe`, a QEMU image of the host's arch whose program exits 0, with
/// QEMU on KVM.
pub fn kvm_problem(probe: &Path) -> Option<String> {
    let Some(arch) = Arch::host() else {
        return Some(format!(
            "unikernels do not run on {} hosts",
            std::env::consts::ARCH
        ));
    };
    let launch = Launch {
        backend: Backend::Qemu,
        arch,
        image: probe,
        args: &[],
        env: &[],
        devices: &Devices::default(),
        accel: Accel::Kvm,
        gdb: None,
    };
    let boot = match boot(&launch, &Watch::test(Duration::from_secs(5))) {
        Ok(boot) => boot,
        Err(err) => return Some(format!("QEMU could not use KVM: {err:#}")),
    };
    let internal_error = boot.vmm_stderr.contains("KVM internal error");
    match boot.transcript() {
        Ok(transcript) if transcript.ending == Ending::Exit(0) => None,
        _ if internal_error => Some(
            "KVM here fails on a unikernel (QEMU on KVM: \"KVM internal error\", emulation failure)"
                .into(),
        ),
        Ok(transcript) => Some(format!(
            "KVM here does not run a unikernel (a C hello on QEMU with KVM: {})",
            transcript.ending.describe()
        )),
        Err(err) => Some(format!("KVM here does not run a unikernel: {err:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_choices_are_kept_or_refused_with_a_reason() {
        let tcg = decide(AccelChoice::Tcg, Arch::X86_64, None, None).unwrap();
        assert_eq!(
            tcg,
            Decision {
                accel: Accel::Tcg,
                note: None
            }
        );
        let foreign = match std::env::consts::ARCH {
            "aarch64" => Arch::X86_64,
            _ => Arch::Arm64,
        };
        let err = decide(AccelChoice::Kvm, foreign, None, None).unwrap_err();
        assert!(err.to_string().contains("--accel tcg"), "{err}");
        // A guest of another arch: the software CPU, without a word.
        let auto = decide(AccelChoice::Auto, foreign, None, None).unwrap();
        assert_eq!(
            auto,
            Decision {
                accel: Accel::Tcg,
                note: None
            }
        );
    }

    #[test]
    fn a_remembered_answer_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("answer");
        std::fs::write(&file, "tcg\nKVM here fails on a unikernel\n").unwrap();
        assert_eq!(read_answer(&file), Some(Accel::Tcg));
        std::fs::write(&file, "kvm\n\n").unwrap();
        assert_eq!(read_answer(&file), Some(Accel::Kvm));
        std::fs::write(&file, "").unwrap();
        assert_eq!(read_answer(&file), None);
        assert_eq!(host_key(), host_key());
    }

    #[test]
    fn a_runner_without_a_probe_uses_the_answer_another_remembered() {
        if open_kvm().is_err() {
            // No KVM to decide about: auto is the software CPU at once.
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let host = Arch::host().unwrap();
        let unknown = decide(AccelChoice::Auto, host, None, Some(dir.path())).unwrap();
        assert!(unknown.note.unwrap().contains("no KVM probe"));
        let file = dir.path().join(format!("accel-{}", host_key()));
        std::fs::write(file, "tcg\nKVM here fails on a unikernel\n").unwrap();
        let remembered = decide(AccelChoice::Auto, host, None, Some(dir.path())).unwrap();
        assert_eq!(
            remembered,
            Decision {
                accel: Accel::Tcg,
                note: None
            }
        );
    }
}
