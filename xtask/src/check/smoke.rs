//! The C smoke programs of `backends/smoke`, linked with the installed C
//! driver as a user would link them. The smallest programs that show a
//! bundle works: localtests boots them, the bench times them, and the
//! installation links the hello as the runner's KVM probe.

use crate::context::Context;
use crate::target::Bundle;
use crate::util::cmd::Cmd;
use anyhow::{Context as _, Result};
use std::path::Path;

/// Links `backends/smoke/hello.c` for `bundle` into `image`.
pub(crate) fn link_hello(
    ctx: &Context,
    prefix: &Path,
    bundle: &Bundle,
    image: &Path,
) -> Result<()> {
    link(ctx, prefix, bundle, "hello.c", image)
}

/// Links `backends/smoke/<source>` for `bundle` into `image` with the
/// driver installed in `prefix`.
pub(crate) fn link(
    ctx: &Context,
    prefix: &Path,
    bundle: &Bundle,
    source: &str,
    image: &Path,
) -> Result<()> {
    crate::util::fs::create_parent(image)?;
    Cmd::new(
        prefix
            .join("bin")
            .join(format!("{}-unikraft-ocaml-cc", bundle.arch.gnu())),
    )
    .args([
        "-O2",
        "-z",
        &format!("unikraft-backend={}", bundle.backend_name()),
        "-o",
    ])
    .arg(image)
    .arg(ctx.root.join("backends/smoke").join(source))
    .read(ctx.verbose)
    .with_context(|| format!("linking backends/smoke/{source} for {}", bundle.name()))?;
    Ok(())
}
