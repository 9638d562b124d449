//! The `c-hello` and `c-crash` rows: `backends/smoke`'s C programs linked
//! for a bundle with the installed driver, then booted. The hello must
//! print what `hello.expected` holds; the crash (a null pointer write) must
//! come out as a crash, whatever it printed.

use super::boot_check::{boot_and_check, boot_bundle, Boots};
use super::expected::Expected;
use super::{Run, Verdict};
use crate::check::smoke;
use crate::context::Context;
use crate::target::Bundle;
use anyhow::Result;
use ocaml_unikraft_toolchain::boot::console;
use std::path::{Path, PathBuf};

/// Links `backends/smoke/<name>.c` for `bundle` into the build tree.
fn smoke_image(ctx: &Context, prefix: &Path, bundle: &Bundle, name: &str) -> Result<PathBuf> {
    let image = ctx
        .build_dir
        .join("tests")
        .join(format!("c-{name}"))
        .join(bundle.name())
        .join(name);
    smoke::link(ctx, prefix, bundle, &format!("{name}.c"), &image)?;
    Ok(image)
}

/// The `c-hello` row of `bundle`.
pub(crate) fn hello(
    ctx: &Context,
    prefix: &Path,
    bundle: &Bundle,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    let image = smoke_image(ctx, prefix, bundle, "hello")?;
    let expected = Expected::hello(&ctx.root.join("backends/smoke/hello.expected"))?;
    boot_and_check(bundle, &image, &expected, boots)
}

/// The `c-crash` row of `bundle`.
pub(crate) fn crash(
    ctx: &Context,
    prefix: &Path,
    bundle: &Bundle,
    boots: &Boots,
) -> Result<(Verdict, Option<Run>)> {
    let image = smoke_image(ctx, prefix, bundle, "crash")?;
    if let Some(reason) = boots.blocker(bundle) {
        return Ok((Verdict::Skip(format!("boot skipped: {reason}")), None));
    }
    let (boot, transcript) = boot_bundle(bundle, &image, &[], &[], None, boots.timeout)?;
    let verdict = if transcript.ending == console::Ending::Crash {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "a null pointer write came out as {}; console:\n{}",
            transcript.ending.describe(),
            transcript.output
        ))
    };
    Ok((verdict, Some(Run::of(&boot, &transcript))))
}
