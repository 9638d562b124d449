//! `cargo xtask doctor`: what this machine lacks, and which package has it.

use anyhow::{bail, Result};
use ocaml_unikraft_toolchain::boot::vmm;
use ocaml_unikraft_toolchain::which;
use std::path::PathBuf;

struct Tool {
    program: &'static str,
    why: &'static str,
    debian: &'static str,
    fedora: &'static str,
    required: bool,
}

const TOOLS: &[Tool] = &[
    Tool {
        program: "make",
        why: "Unikraft and OCaml builds",
        debian: "make",
        fedora: "make",
        required: true,
    },
    Tool {
        program: "gcc",
        why: "C compiler for x86_64 and host tools",
        debian: "gcc",
        fedora: "gcc",
        required: true,
    },
    Tool {
        program: "flex",
        why: "Unikraft's Kconfig",
        debian: "flex",
        fedora: "flex",
        required: true,
    },
    Tool {
        program: "bison",
        why: "Unikraft's Kconfig",
        debian: "bison",
        fedora: "bison",
        required: true,
    },
    Tool {
        program: "bc",
        why: "Unikraft's build scripts",
        debian: "bc",
        fedora: "bc",
        required: true,
    },
    Tool {
        program: "python3",
        why: "Unikraft's post-link scripts",
        debian: "python3",
        fedora: "python3",
        required: true,
    },
    Tool {
        program: "patch",
        why: "applying backends/patches and ocaml-patches",
        debian: "patch",
        fedora: "patch",
        required: true,
    },
    Tool {
        program: "git",
        why: "fetching Unikraft, lib-musl and dune",
        debian: "git",
        fedora: "git",
        required: true,
    },
    Tool {
        program: "aarch64-linux-gnu-gcc",
        why: "arm64 bundles",
        debian: "gcc-aarch64-linux-gnu",
        fedora: "gcc-aarch64-linux-gnu",
        required: true,
    },
    Tool {
        program: "qemu-system-x86_64",
        why: "booting x86_64 unikernels",
        debian: "qemu-system-x86",
        fedora: "qemu-system-x86",
        required: true,
    },
    Tool {
        program: "qemu-system-aarch64",
        why: "booting arm64 unikernels",
        debian: "qemu-system-arm",
        fedora: "qemu-system-aarch64",
        required: true,
    },
    Tool {
        program: "firecracker",
        why: "booting firecracker unikernels (optional)",
        debian: "(no package: see firecracker's releases)",
        fedora: "firecracker",
        required: false,
    },
    Tool {
        program: "ccache",
        why: "caching C compiles across builds (optional; 4.4 or later)",
        debian: "ccache",
        fedora: "ccache",
        required: false,
    },
    Tool {
        program: "m4",
        why: "building GMP for MirageOS crypto (mirage-tests)",
        debian: "m4",
        fedora: "m4",
        required: false,
    },
    Tool {
        program: "openssl",
        why: "the certificate of mirage-tests' HTTPS website",
        debian: "openssl",
        fedora: "openssl",
        required: false,
    },
];

pub(crate) fn doctor() -> Result<()> {
    check(which::on_path)
}

/// Reports every tool, then fails naming the packages of the missing ones.
fn check(find: impl Fn(&str) -> Option<PathBuf>) -> Result<()> {
    let mut missing = Vec::new();
    for tool in TOOLS {
        match find(tool.program) {
            Some(path) => println!("ok       {:<22} {}", tool.program, path.display()),
            None => {
                let mark = if tool.required { "MISSING" } else { "absent" };
                println!("{mark:<8} {:<22} needed for {}", tool.program, tool.why);
                if tool.required {
                    missing.push(tool);
                }
            }
        }
    }
    println!("{:<8} {:<22} {}", "info", "kvm", kvm_status());
    if missing.is_empty() {
        println!("all required tools are present");
        return Ok(());
    }
    let debian: Vec<_> = missing.iter().map(|t| t.debian).collect();
    let fedora: Vec<_> = missing.iter().map(|t| t.fedora).collect();
    bail!(
        "{} required tool(s) missing\nhelp: Debian/Ubuntu: sudo apt-get install --no-install-recommends {}\nhelp: Fedora: sudo dnf install {}",
        missing.len(),
        debian.join(" "),
        fedora.join(" ")
    )
}

/// Whether /dev/kvm is usable at all. Whether it can really run a unikernel
/// (some paravirtual KVMs cannot) is only known by booting one, which the
/// firecracker tests do.
fn kvm_status() -> String {
    match vmm::open_kvm() {
        Ok(()) => "/dev/kvm opens; firecracker tests probe whether it can boot a guest".into(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            "no /dev/kvm: QEMU uses its software CPU, firecracker cannot run".into()
        }
        Err(err) => format!("/dev/kvm cannot be opened ({err}): firecracker cannot run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_tools_fail_with_package_names() {
        let err = check(|p| (p != "bison" && p != "qemu-system-aarch64").then(|| "/bin/x".into()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("2 required tool(s) missing"), "{err}");
        assert!(
            err.contains("apt-get install --no-install-recommends bison qemu-system-arm"),
            "{err}"
        );
        assert!(
            err.contains("dnf install bison qemu-system-aarch64"),
            "{err}"
        );
        // An optional tool alone does not fail.
        check(|p| (p != "firecracker" && p != "ccache").then(|| "/bin/x".into())).unwrap();
    }
}
