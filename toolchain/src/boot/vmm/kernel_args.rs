//! The guest's command line: Unikraft's library parameters (the boot
//! token, the environment), then the program's arguments.

use super::Launch;
use crate::boot::console;
use anyhow::{bail, Result};

/// The kernel command line: `program_name` (where the VMM does not supply
/// argv[0] itself), the token as a Unikraft library parameter, the
/// environment as another (posix-environ's `env.vars`, a list), `--` that
/// ends the library parameters, then the program's arguments. Unikraft
/// hands the program only argv[0] and what follows `--`.
pub(super) fn kernel_arguments(
    program_name: &[String],
    launch: &Launch,
    token: &str,
) -> Result<String> {
    let mut words = program_name.to_vec();
    words.push(format!("{}={token}", console::TOKEN_PARAMETER));
    words.extend(env_parameter(launch.env));
    words.push("--".into());
    words.extend(launch.args.iter().cloned());
    command_line(&words)
}

/// The library parameter that sets these environment variables: a list,
/// `env.vars=[A=1 B=2]`, which Unikraft's parser ends at the first word
/// that ends with `]` (hence [`env_var`]'s rule).
fn env_parameter(env: &[String]) -> Vec<String> {
    let mut words: Vec<String> = env.to_vec();
    if let Some(first) = words.first_mut() {
        *first = format!("{ENV_PARAMETER}=[{first}");
    }
    if let Some(last) = words.last_mut() {
        last.push(']');
    }
    words
}

/// posix-environ's library parameter (`backends/fragments/base.config`
/// turns it on).
const ENV_PARAMETER: &str = "env.vars";

/// How many variables `env.vars` takes: `LIBPOSIX_ENVIRON_LIBPARAM_MAXCOUNT`
/// in `backends/fragments/base.config`.
pub const MAX_ENV_VARS: usize = 32;

/// Checks one `--env` value, `NAME=VALUE`: a name as the shell has them,
/// and a value Unikraft's list parameter carries unchanged (it may not end
/// with `]`, which would end the list).
pub fn env_var(text: &str) -> Result<String, String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    let mut chars = name.chars();
    let valid_name = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "'{name}' is not a variable name (letters, digits and _, not starting with a digit)"
        ));
    }
    if value.ends_with(']') {
        return Err(format!(
            "the value of {name} ends with ']', which Unikraft's parameter list cannot carry"
        ));
    }
    Ok(text.to_string())
}

/// Joins arguments into a kernel command line that Unikraft splits back
/// into the same words: plain words as they are, others single-quoted
/// (nothing is special inside), or double-quoted with `\"` and `\\` when
/// they contain a single quote.
pub fn command_line(args: &[String]) -> Result<String> {
    let mut words = Vec::new();
    for arg in args {
        if arg.is_empty() {
            bail!("Unikraft's command line cannot carry an empty argument");
        }
        let plain = arg
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | '\\'));
        words.push(if plain {
            arg.clone()
        } else if !arg.contains('\'') {
            format!("'{arg}'")
        } else {
            format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
        });
    }
    Ok(words.join(" "))
}
