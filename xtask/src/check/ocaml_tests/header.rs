//! The `(* TEST ... *)` header of an OCaml testsuite file, as ocamltest
//! reads it: statements (`include unix;`, `flags = "-g";`, `native;`,
//! `set VAR = "x";`, ...) and, at the end of a block, alternative
//! sub-blocks (`{ bytecode; } { native; }`), each a path of its own.

use anyhow::{bail, Context as _, Result};

/// One statement of a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Statement {
    /// `include NAME;`: a library (or a tool) the test uses.
    Include(String),
    /// `set NAME = "VALUE";`: an environment variable of the program.
    SetEnv(String, String),
    /// `unset NAME;`
    UnsetEnv(String),
    /// `NAME = "VALUE";` or, with `append`, `NAME += "VALUE";`.
    Assign {
        name: String,
        value: String,
        append: bool,
    },
    /// `NAME;` or `NAME with a, b;`: an action (build, run, check) or a
    /// predicate (`hasunix`, `native-compiler`, ...).
    Action(String),
}

/// A block: its statements, then its alternatives.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) statements: Vec<Statement>,
    pub(crate) branches: Vec<Block>,
}

impl Block {
    /// Every path from the top to a leaf, each the statements along it.
    pub(crate) fn paths(&self) -> Vec<Vec<&Statement>> {
        let own: Vec<&Statement> = self.statements.iter().collect();
        if self.branches.is_empty() {
            return vec![own];
        }
        self.branches
            .iter()
            .flat_map(Block::paths)
            .map(|tail| own.iter().copied().chain(tail).collect())
            .collect()
    }
}

/// The header of `source`, a testsuite `.ml` file; `None` when it has no
/// `(* TEST` comment. `(* TEST_BELOW` marks a file whose header comes
/// later, as the file's last `(* TEST` comment.
pub(crate) fn parse_file(source: &str) -> Result<Option<Block>> {
    let Some(start) = header_start(source) else {
        return Ok(None);
    };
    let body = &source[start..];
    let end = comment_end(body).context("the TEST comment is not closed")?;
    parse(&body[..end]).map(Some)
}

/// Where the header's statements start: after `(* TEST`, which opens the
/// file (a `(* TEST` further down is a string of the program).
fn header_start(source: &str) -> Option<usize> {
    let marker = "(* TEST";
    let first = source.len() - source.trim_start().len();
    if !source[first..].starts_with(marker) {
        return None;
    }
    let after = first + marker.len();
    if source[after..].starts_with("_BELOW") {
        let below = after + "_BELOW".len();
        let rest = &source[below..];
        // Skip the TEST_BELOW comment itself, then find the real one.
        let skip = comment_end(rest)? + 2;
        let real = rest[skip..].find(marker)?;
        return Some(below + skip + real + marker.len());
    }
    Some(after)
}

/// The offset of the `*)` closing a comment whose `(*` is already read,
/// counting nested comments.
fn comment_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'(', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b')') if depth == 0 => return Some(i),
            (b'*', b')') => {
                depth -= 1;
                i += 2;
            }
            (b'"', _) if depth == 0 => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Str(String),
    Equals,
    PlusEquals,
    Semicolon,
    Comma,
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '(' if chars.get(i + 1) == Some(&'*') => {
                let rest: String = chars[i + 2..].iter().collect();
                let end = comment_end(&rest).context("a comment in the header is not closed")?;
                i += 2 + rest[..end].chars().count() + 2;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => bail!("a string in the header is not closed"),
                        Some('"') => break,
                        Some('\\') => {
                            // ocamltest keeps `\$` as is (variable
                            // expansion happens later); other escapes
                            // stand for the character.
                            let next = *chars.get(i + 1).context("a lone backslash")?;
                            if next == '$' {
                                value.push('\\');
                            }
                            if next != '\n' {
                                value.push(next);
                            }
                            i += 2;
                        }
                        Some(&other) => {
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                out.push(Token::Str(value));
            }
            '=' => {
                out.push(Token::Equals);
                i += 1;
            }
            '+' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::PlusEquals);
                i += 2;
            }
            ';' => {
                out.push(Token::Semicolon);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '{' => {
                out.push(Token::Open);
                i += 1;
            }
            '}' => {
                out.push(Token::Close);
                i += 1;
            }
            _ if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            _ => bail!("unexpected character {c:?} in the header"),
        }
    }
    Ok(out)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$' | '/')
}

/// Parses the text between `(* TEST` and `*)`.
pub(crate) fn parse(text: &str) -> Result<Block> {
    let tokens = tokens(text)?;
    let mut pos = 0;
    let block = block(&tokens, &mut pos)?;
    if pos != tokens.len() {
        bail!("unexpected {:?} in the header", tokens[pos]);
    }
    Ok(block)
}

fn block(tokens: &[Token], pos: &mut usize) -> Result<Block> {
    let mut block = Block::default();
    while let Some(token) = tokens.get(*pos) {
        match token {
            Token::Close => break,
            Token::Open => {
                *pos += 1;
                let branch = self::block(tokens, pos)?;
                if tokens.get(*pos) != Some(&Token::Close) {
                    bail!("a `{{` in the header is not closed");
                }
                *pos += 1;
                block.branches.push(branch);
            }
            _ if !block.branches.is_empty() => {
                bail!("a statement after the header's `{{ }}` alternatives")
            }
            _ => block.statements.push(statement(tokens, pos)?),
        }
    }
    Ok(block)
}

fn statement(tokens: &[Token], pos: &mut usize) -> Result<Statement> {
    let word = |at: usize| match tokens.get(at) {
        Some(Token::Word(w)) => Ok(w.clone()),
        other => bail!("expected a name in the header, found {other:?}"),
    };
    let string = |at: usize| match tokens.get(at) {
        Some(Token::Str(s)) => Ok(s.clone()),
        other => bail!("expected a string in the header, found {other:?}"),
    };
    let first = word(*pos)?;
    let (statement, used) = match (first.as_str(), tokens.get(*pos + 1)) {
        ("include", Some(Token::Word(lib))) => (Statement::Include(lib.clone()), 2),
        ("unset", Some(Token::Word(var))) => (Statement::UnsetEnv(var.clone()), 2),
        ("set", Some(Token::Word(var))) => {
            if tokens.get(*pos + 2) != Some(&Token::Equals) {
                bail!("`set {var}` without `=`");
            }
            (Statement::SetEnv(var.clone(), string(*pos + 3)?), 4)
        }
        (_, Some(Token::Equals | Token::PlusEquals)) => (
            Statement::Assign {
                name: first.clone(),
                value: string(*pos + 2)?,
                append: tokens[*pos + 1] == Token::PlusEquals,
            },
            3,
        ),
        (_, Some(Token::Word(with))) if with == "with" => {
            // `script with unix, str;`: the libraries matter no more than
            // the action does here.
            let mut used = 2;
            while let Some(Token::Word(_) | Token::Comma) = tokens.get(*pos + used) {
                used += 1;
            }
            (Statement::Action(first.clone()), used)
        }
        _ => (Statement::Action(first.clone()), 1),
    };
    *pos += used;
    if tokens.get(*pos) != Some(&Token::Semicolon) {
        bail!("expected `;` after `{first}` in the header");
    }
    *pos += 1;
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(name: &str) -> Statement {
        Statement::Action(name.into())
    }

    #[test]
    fn an_empty_header_is_one_empty_path() {
        let block = parse_file("(* TEST *)\nlet () = ()\n").unwrap().unwrap();
        assert_eq!(block.paths(), vec![Vec::<&Statement>::new()]);
        assert_eq!(parse_file("let () = ()").unwrap(), None);
        assert_eq!(parse_file("let s = {|(* TEST *)|}").unwrap(), None);
    }

    #[test]
    fn statements_and_alternatives_become_paths() {
        let text = r#"(* TEST
 include systhreads;
 (* a comment (* nested *) *)
 hassysthreads;
 flags += " -g ";
 set FOO = "a \"b\"";
 unset BAR;
 { bytecode; }{ script with unix, str; native; }
*)"#;
        let block = parse_file(text).unwrap().unwrap();
        let paths = block.paths();
        assert_eq!(paths.len(), 2);
        let common = [
            Statement::Include("systhreads".into()),
            action("hassysthreads"),
            Statement::Assign {
                name: "flags".into(),
                value: " -g ".into(),
                append: true,
            },
            Statement::SetEnv("FOO".into(), "a \"b\"".into()),
            Statement::UnsetEnv("BAR".into()),
        ];
        let native: Vec<Statement> = paths[1].iter().map(|s| (*s).clone()).collect();
        assert_eq!(native[..5], common);
        assert_eq!(native[5..], [action("script"), action("native")]);
        assert_eq!(paths[0].last(), Some(&&action("bytecode")));
    }

    #[test]
    fn test_below_finds_the_header_further_down() {
        let text = "(* TEST_BELOW\n (* blank lines *)\n*)\n\nlet x = 1\n\n(* TEST\n native;\n*)\n";
        let block = parse_file(text).unwrap().unwrap();
        assert_eq!(block.statements, [action("native")]);
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert!(parse("native").is_err());
        assert!(parse("{ native; ").is_err());
        assert!(parse("{ a; } b;").is_err());
        assert!(parse("flags = ;").is_err());
        assert!(parse_file("(* TEST native;").is_err());
    }
}
