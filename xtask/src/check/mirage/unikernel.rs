//! The example unikernels: which example (mirage-skeleton's, or one of
//! ours in `tests/mirage/unikernels`) is built for which backend and arch,
//! and how, as a user does: `mirage configure`, then `dune build ./dist`
//! against the installed toolchain.

use super::Tools;
use crate::target::{Arch, Backend, Bundle};
use crate::util::cmd::Cmd;
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Example {
    Hello,
    /// device-usage/network with a static address (`--no-dhcp`).
    Network,
    /// The same unikernel configured as mirage's default: its address
    /// from a DHCP server, through charrua.
    NetworkDhcp,
    Block,
    /// applications/crypto: digests, a cipher and RSA (mirage-crypto-pk,
    /// so zarith and GMP in the guest).
    Crypto,
    /// applications/dns: a name resolved through the DNS client (with
    /// DHCP, happy-eyeballs and the TLS closure it links).
    Dns,
    /// applications/static_website_tls: a website over HTTPS (cohttp on
    /// conduit and ocaml-tls), with a certificate of the test's.
    Https,
    /// applications/http: HTTP/1.1 and HTTP/2 over TLS (paf, h1, h2), with
    /// a certificate of the test's.
    Http,
    /// Ours: one website over plain HTTP and HTTPS (what `bench` compares).
    Website,
    /// Ours: the entropy sources mirage-crypto-rng reports and a draw from
    /// its default generator.
    Entropy,
    /// Ours: an HTTP client that prints the website's page; booted beside
    /// the website on a bridge ([`super::site`]).
    Fetch,
}

/// Where an example's `config.ml` and `unikernel.ml` come from.
enum Origin {
    /// A directory of mirage-skeleton.
    Skeleton(&'static str),
    /// A directory of `tests/mirage/unikernels`: what mirage-skeleton has
    /// no example for.
    Ours(&'static str),
}

impl Example {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Example::Hello => "hello",
            Example::Network => "network",
            Example::NetworkDhcp => "network_dhcp",
            Example::Block => "block",
            Example::Crypto => "crypto",
            Example::Dns => "dns",
            Example::Https => "https",
            Example::Http => "http",
            Example::Website => "website",
            Example::Entropy => "entropy",
            Example::Fetch => "fetch",
        }
    }

    fn origin(self) -> Origin {
        match self {
            Example::Hello => Origin::Skeleton("tutorial/hello"),
            Example::Network | Example::NetworkDhcp => Origin::Skeleton("device-usage/network"),
            Example::Block => Origin::Skeleton("device-usage/block"),
            Example::Crypto => Origin::Skeleton("applications/crypto"),
            Example::Dns => Origin::Skeleton("applications/dns"),
            Example::Https => Origin::Skeleton("applications/static_website_tls"),
            Example::Http => Origin::Skeleton("applications/http"),
            Example::Website => Origin::Ours("website"),
            Example::Entropy => Origin::Ours("entropy"),
            Example::Fetch => Origin::Ours("fetch"),
        }
    }

    /// Its directory: in the mirage-skeleton tree `skeleton`, or in `ours`
    /// (`tests/mirage/unikernels`).
    pub(crate) fn source_dir(self, skeleton: &Path, ours: &Path) -> PathBuf {
        match self.origin() {
            Origin::Skeleton(dir) => skeleton.join(dir),
            Origin::Ours(dir) => ours.join(dir),
        }
    }

    /// The name its config.ml registers, which names the image.
    fn image_name(self) -> &'static str {
        match self {
            Example::Block => "block_test",
            Example::Crypto => "crypto-test",
            Example::Http => "minipaf",
            Example::Dns => "resolve",
            // The same config.ml as the static one.
            Example::NetworkDhcp => "network",
            _ => self.name(),
        }
    }

    /// `mirage configure` options besides the target: the static network
    /// test gives its address on the boot command line (without the
    /// option, the DHCP one asks a DHCP server).
    fn configure_options(self) -> &'static [&'static str] {
        match self {
            Example::Network => &["--no-dhcp"],
            _ => &[],
        }
    }
}

/// One example built for one bundle (backend and arch).
pub(crate) struct Case {
    pub(crate) example: Example,
    pub(crate) bundle: Bundle,
}

impl Case {
    /// QEMU boots every example on x86_64 and arm64 (where the disk is a
    /// virtio-blk MMIO device); Firecracker builds them on x86_64.
    pub(crate) fn all() -> Vec<Case> {
        let case = |example, backend, arch| Case {
            example,
            bundle: Bundle::new(backend, arch, &[]),
        };
        let every = [
            Example::Hello,
            Example::Network,
            Example::NetworkDhcp,
            Example::Block,
            Example::Crypto,
            Example::Dns,
            Example::Https,
            Example::Http,
            Example::Website,
            Example::Entropy,
            // After the website, which it fetches from.
            Example::Fetch,
        ];
        let mut cases: Vec<Case> = every
            .iter()
            .map(|&e| case(e, Backend::Qemu, Arch::X86_64))
            .collect();
        cases.extend(every.map(|e| case(e, Backend::Qemu, Arch::Arm64)));
        cases.extend(every.map(|e| case(e, Backend::Firecracker, Arch::X86_64)));
        cases
    }

    /// The cases of the examples named in `names` (all when empty); an
    /// error names the unknown ones and the known.
    pub(crate) fn selected(names: &[String]) -> Result<Vec<Case>> {
        let all = Case::all();
        let known = |name: &String| all.iter().any(|c| c.example.name() == name);
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !known(n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let mut examples: Vec<&str> = Vec::new();
            for name in all.iter().map(|c| c.example.name()) {
                if !examples.contains(&name) {
                    examples.push(name);
                }
            }
            bail!(
                "no MirageOS example named {}\nhelp: the examples are {}",
                unknown.join(", "),
                examples.join(", ")
            );
        }
        Ok(all
            .into_iter()
            .filter(|c| names.is_empty() || names.iter().any(|n| n == c.example.name()))
            .collect())
    }

    /// `hello-qemu-x86_64`: its directory under `<mirage>`.
    pub(crate) fn dir_name(&self) -> String {
        format!("{}-{}", self.example.name(), self.bundle.name())
    }

    /// The image `dune build ./dist` makes, relative to the case directory.
    fn image(&self) -> PathBuf {
        let ext = match self.bundle.backend {
            Backend::Qemu => "qemu",
            Backend::Firecracker => "fc",
        };
        PathBuf::from(format!("dist/{}.{ext}", self.example.image_name()))
    }
}

/// What building a case gave.
pub(crate) struct Built {
    pub(crate) image: PathBuf,
    pub(crate) build_time: Duration,
    pub(crate) image_bytes: u64,
}

/// Copies the example from `source` (its [`Example::source_dir`]) into
/// `dir` (afresh), configures it with the `mirage` tool of `tool_prefix`
/// and builds it with the duniverse `duniverse`; the output goes to `log`.
pub(crate) fn build(
    case: &Case,
    source: &Path,
    dir: &Path,
    duniverse: &Path,
    tool_prefix: &Path,
    tools: &Tools,
    log: &Path,
) -> Result<Built> {
    crate::util::fs::remove_if_present(dir)?;
    crate::util::fs::remove_if_present(log)?;
    crate::util::fs::copy_tree(source, dir, &Default::default())?;
    std::os::unix::fs::symlink(duniverse, dir.join("duniverse"))
        .with_context(|| format!("linking the duniverse into {}", dir.display()))?;
    let certificate = match case.example {
        Example::Https | Example::Website => Some([super::https::CERTIFICATE, super::https::KEY]),
        Example::Http => Some([super::minipaf::CERTIFICATE, super::minipaf::KEY]),
        _ => None,
    };
    if let Some(files) = certificate {
        super::https::make_certificate(dir, files, log, tools.verbose)?;
    }

    let target = format!("unikraft-{}", case.bundle.backend.name());
    let mut path = vec![tool_prefix.join("bin")];
    path.extend(std::env::split_paths(&tools.path));
    let configure = Cmd::new("mirage")
        .args(["configure", "-t", &target])
        .args(case.example.configure_options())
        .dir(dir);
    tools
        .env(configure)
        .env("PATH", std::env::join_paths(path)?)
        .env("OCAMLPATH", tool_prefix.join("lib"))
        .run_timed(log, tools.verbose)
        .context("mirage configure")?;
    if case.bundle.arch != Arch::X86_64 {
        select_toolchain(&dir.join("dune-workspace"), case.bundle.arch)?;
    }

    let start = Instant::now();
    let build = Cmd::new("dune")
        .args([
            "build",
            &format!("-j{}", tools.jobs),
            "--profile",
            "release",
            "--root",
        ])
        .arg(dir)
        .arg("./dist");
    // GMP, zarith's configuration and ca-certs-nss' trust anchors come
    // from rules of their own, which dune's default cache leaves out: each
    // example would build GMP again. A cache of every rule lets the
    // examples share them, but such a rule's key does not name the
    // compiler it runs: so a cache for this run's toolchain only, and one
    // per arch (the unikraft context has the same name for both, and
    // mirage-crypto's C flags for x86_64 would be taken for arm64).
    let build = build.env("DUNE_CACHE", "enabled").env(
        "DUNE_CACHE_ROOT",
        tools.dune_cache.join(case.bundle.arch.unikraft()),
    );
    tools
        .env(build)
        .run_timed(log, tools.verbose)
        .context("dune build ./dist")?;
    let build_time = start.elapsed();
    let image = dir.join(case.image());
    let image_bytes = std::fs::metadata(&image)
        .with_context(|| format!("the build made no {}", image.display()))?
        .len();
    Ok(Built {
        image,
        build_time,
        image_bytes,
    })
}

/// `mirage configure -t unikraft-*` writes a context for ocamlfind
/// toolchain `unikraft` (x86_64 unless `cargo xtask default-arch` says
/// otherwise) and has no option for the arch: name `unikraft_<arch>` in
/// the generated workspace instead, as docs/mirage-and-opam.md tells users.
fn select_toolchain(workspace: &Path, arch: Arch) -> Result<()> {
    let text = std::fs::read_to_string(workspace)
        .with_context(|| format!("reading {}", workspace.display()))?;
    let generic = "(toolchain unikraft)";
    if text.matches(generic).count() != 1 {
        bail!(
            "{} does not name `{generic}` once: the mirage tool writes another workspace than the one this test knows",
            workspace.display()
        );
    }
    let named = format!("(toolchain {})", crate::build::ocaml::toolchain_name(arch));
    std::fs::write(workspace, text.replace(generic, &named))
        .with_context(|| format!("writing {}", workspace.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_name_their_directory_and_image() {
        let cases = Case::all();
        let names: Vec<String> = cases.iter().map(Case::dir_name).collect();
        assert_eq!(
            names,
            [
                "hello-qemu-x86_64",
                "network-qemu-x86_64",
                "network_dhcp-qemu-x86_64",
                "block-qemu-x86_64",
                "crypto-qemu-x86_64",
                "dns-qemu-x86_64",
                "https-qemu-x86_64",
                "http-qemu-x86_64",
                "website-qemu-x86_64",
                "entropy-qemu-x86_64",
                "fetch-qemu-x86_64",
                "hello-qemu-arm64",
                "network-qemu-arm64",
                "network_dhcp-qemu-arm64",
                "block-qemu-arm64",
                "crypto-qemu-arm64",
                "dns-qemu-arm64",
                "https-qemu-arm64",
                "http-qemu-arm64",
                "website-qemu-arm64",
                "entropy-qemu-arm64",
                "fetch-qemu-arm64",
                "hello-firecracker-x86_64",
                "network-firecracker-x86_64",
                "network_dhcp-firecracker-x86_64",
                "block-firecracker-x86_64",
                "crypto-firecracker-x86_64",
                "dns-firecracker-x86_64",
                "https-firecracker-x86_64",
                "http-firecracker-x86_64",
                "website-firecracker-x86_64",
                "entropy-firecracker-x86_64",
                "fetch-firecracker-x86_64",
            ]
        );
        assert_eq!(cases[2].image(), Path::new("dist/network.qemu"));
        assert_eq!(cases[3].image(), Path::new("dist/block_test.qemu"));
        assert_eq!(cases[4].image(), Path::new("dist/crypto-test.qemu"));
        assert_eq!(cases[5].image(), Path::new("dist/resolve.qemu"));
        assert_eq!(cases[6].image(), Path::new("dist/https.qemu"));
        assert_eq!(cases[7].image(), Path::new("dist/minipaf.qemu"));
        assert_eq!(cases[8].image(), Path::new("dist/website.qemu"));
        assert_eq!(cases[10].image(), Path::new("dist/fetch.qemu"));
        assert_eq!(cases[22].image(), Path::new("dist/hello.fc"));
        assert_eq!(cases[31].image(), Path::new("dist/entropy.fc"));
    }

    #[test]
    fn examples_are_chosen_by_name() {
        let cases = Case::selected(&["dns".into(), "hello".into()]).unwrap();
        let names: Vec<String> = cases.iter().map(Case::dir_name).collect();
        assert_eq!(names[..2], ["hello-qemu-x86_64", "dns-qemu-x86_64"]);
        assert_eq!(cases.len(), 6);
        assert_eq!(Case::selected(&[]).unwrap().len(), Case::all().len());
        let err = Case::selected(&["dsn".into()]).err().unwrap().to_string();
        assert!(err.contains("no MirageOS example named dsn"), "{err}");
        assert!(
            err.ends_with("the examples are hello, network, network_dhcp, block, crypto, dns, https, http, website, entropy, fetch"),
            "{err}"
        );
    }

    #[test]
    fn our_examples_come_from_our_directory() {
        let (skeleton, ours) = (Path::new("/skeleton"), Path::new("/ours"));
        assert_eq!(
            Example::Hello.source_dir(skeleton, ours),
            Path::new("/skeleton/tutorial/hello")
        );
        assert_eq!(
            Example::Entropy.source_dir(skeleton, ours),
            Path::new("/ours/entropy")
        );
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mirage/unikernels");
        for file in ["config.ml", "unikernel.ml"] {
            for ours in [Example::Entropy, Example::Website] {
                assert!(ours.source_dir(skeleton, &here).join(file).is_file());
            }
        }
        let pages = Example::Website.source_dir(skeleton, &here).join("htdocs");
        assert!(pages.join("index.html").is_file());
    }

    #[test]
    fn the_arch_is_chosen_in_the_generated_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("dune-workspace");
        std::fs::write(
            &workspace,
            "(context (default))\n(context\n (default\n  (name unikraft)\n  (host default)\n  (toolchain unikraft)\n))\n",
        )
        .unwrap();
        select_toolchain(&workspace, Arch::Arm64).unwrap();
        let text = std::fs::read_to_string(&workspace).unwrap();
        assert!(text.contains("  (toolchain unikraft_arm64)\n"), "{text}");
        assert!(select_toolchain(&workspace, Arch::Arm64).is_err());
    }
}
