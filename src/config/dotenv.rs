//! The `.env` file, read as the Python janus read it with python-dotenv, so a migrating team
//! keeps the file it has: `NAME=value` lines, `export NAME=value`, comments, blank lines,
//! single quotes (literal) and double quotes (with `\n`-style escapes), values spanning lines
//! inside quotes, and `${NAME}` / `${NAME:-default}` expansion outside single quotes.
//!
//! The values never touch the process environment (`std::env::set_var` is unsound once
//! threads run): they become a figment layer of their own (see `sources.rs`) that the real
//! environment overrides name by name, and each remembers its line so an error can point at
//! it. Values are never echoed: the file usually holds the tokens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// The file read from the working directory when no other is named, as python-dotenv did.
pub const DEFAULT_ENV_FILE: &str = ".env";

/// The variables of one `.env` file, each with the line it was set on (the last one, when a
/// name is set twice: the later line wins, as in python-dotenv). `Debug` shows the names only.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvFile {
    path: PathBuf,
    vars: BTreeMap<String, (String, usize)>,
}

impl EnvFile {
    /// The file to read: `explicit` (`--env-file`, `JANUS_ENV_FILE`), which must exist, else
    /// [`DEFAULT_ENV_FILE`] in the working directory if it exists, else none at all.
    /// `process_env` resolves `${NAME}` references, before the file's own earlier lines.
    pub fn find(
        explicit: Option<&Path>,
        process_env: &BTreeMap<String, String>,
    ) -> Result<Option<EnvFile>, ConfigError> {
        match explicit.filter(|path| !path.as_os_str().is_empty()) {
            Some(path) => EnvFile::read(path, process_env).map(Some),
            None => {
                let default = Path::new(DEFAULT_ENV_FILE);
                if !default.exists() {
                    return Ok(None);
                }
                EnvFile::read(default, process_env).map(Some)
            }
        }
    }

    /// Reads and parses `path`; a missing file is an error, since the caller named it.
    pub fn read(
        path: &Path,
        process_env: &BTreeMap<String, String>,
    ) -> Result<EnvFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|io| {
            if io.kind() == std::io::ErrorKind::NotFound {
                ConfigError::EnvFileNotFound {
                    path: path.to_owned(),
                }
            } else {
                ConfigError::EnvFileUnreadable {
                    path: path.to_owned(),
                    io,
                }
            }
        })?;
        EnvFile::parse(path, &text, process_env)
    }

    /// Parses `text` as the content of `path` (which only names it in errors).
    pub fn parse(
        path: &Path,
        text: &str,
        process_env: &BTreeMap<String, String>,
    ) -> Result<EnvFile, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut vars: BTreeMap<String, (String, usize)> = BTreeMap::new();
        let mut parser = Parser {
            rest: text,
            line: 1,
        };
        while let Some(step) = parser.next_assignment() {
            let (line, assignment) = step.map_err(|(line, reason)| ConfigError::EnvFileSyntax {
                path: path.to_owned(),
                line,
                reason,
            })?;
            let Some(Assignment { name, value }) = assignment else {
                continue;
            };
            let value = match value {
                Value::Literal(text) => text,
                Value::Expand(text) => expand(&text, |var| {
                    process_env
                        .get(var)
                        .cloned()
                        .or_else(|| vars.get(var).map(|(value, _)| value.clone()))
                }),
            };
            vars.insert(name, (value, line));
        }
        Ok(EnvFile {
            path: path.to_owned(),
            vars,
        })
    }

    /// The file as named, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value set for `name`, if the file sets it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|(value, _)| value.as_str())
    }

    /// The line that set `name`.
    pub fn line_of(&self, name: &str) -> Option<usize> {
        self.vars.get(name).map(|&(_, line)| line)
    }

    /// Every variable and its value, in name order.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .map(|(name, (value, _))| (name.as_str(), value.as_str()))
    }

    /// How many variables the file sets.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether the file sets no variable at all.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFile")
            .field("path", &self.path)
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One `NAME=value` line, its value still to be expanded (or not).
struct Assignment {
    name: String,
    value: Value,
}

enum Value {
    /// Single-quoted: taken as written (after `\'` and `\\`).
    Literal(String),
    /// Unquoted or double-quoted: `${NAME}` references still to be expanded.
    Expand(String),
}

/// A cursor over the file; `line` is the 1-based line `rest` starts on.
struct Parser<'t> {
    rest: &'t str,
    line: usize,
}

type Step = Result<(usize, Option<Assignment>), (usize, String)>;

impl<'t> Parser<'t> {
    /// The next line (or quoted value spanning lines): `Ok((line, None))` for a blank or
    /// comment line, `None` at the end of the text.
    fn next_assignment(&mut self) -> Option<Step> {
        if self.rest.is_empty() {
            return None;
        }
        let line = self.line;
        Some(self.assignment().map(|a| (line, a)).map_err(|e| (line, e)))
    }

    fn assignment(&mut self) -> Result<Option<Assignment>, String> {
        self.skip_blanks();
        if self.at_line_end() {
            self.finish_line()?;
            return Ok(None);
        }
        if self.rest.starts_with('#') {
            self.take_rest_of_line();
            return Ok(None);
        }
        if let Some(after) = self.rest.strip_prefix("export")
            && after.starts_with([' ', '\t'])
        {
            self.rest = after;
            self.skip_blanks();
        }
        let name_len = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(self.rest.len());
        let name = &self.rest[..name_len];
        let name_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !name_ok {
            return Err(
                "expected NAME=value, where NAME is letters, digits, `_` and `.` (not starting \
                 with a digit)"
                    .to_owned(),
            );
        }
        let name = name.to_owned();
        self.rest = &self.rest[name_len..];
        self.skip_blanks();
        // `NAME` alone sets nothing, as in python-dotenv.
        if self.at_line_end() || self.rest.starts_with('#') {
            self.take_rest_of_line();
            return Ok(None);
        }
        let Some(after) = self.rest.strip_prefix('=') else {
            return Err(format!("expected `=` after {name}"));
        };
        self.rest = after;
        self.skip_blanks();
        let value = match self.rest.chars().next() {
            Some(quote @ ('\'' | '"')) => {
                let value = self.quoted(quote, &name)?;
                self.skip_blanks();
                if !(self.at_line_end() || self.rest.starts_with('#')) {
                    return Err(format!(
                        "unexpected text after the closing quote of {name}'s value"
                    ));
                }
                self.take_rest_of_line();
                value
            }
            _ => {
                let raw = self.take_rest_of_line();
                // A comment starts at `#` after whitespace: `a#b` keeps its `#`.
                let end = raw
                    .char_indices()
                    .find(|&(i, c)| c == '#' && i > 0 && raw[..i].ends_with([' ', '\t']))
                    .map_or(raw.len(), |(i, _)| i);
                Value::Expand(raw[..end].trim_end().to_owned())
            }
        };
        Ok(Some(Assignment { name, value }))
    }

    /// A value in `quote`s, which may span lines; escapes as python-dotenv decodes them.
    fn quoted(&mut self, quote: char, name: &str) -> Result<Value, String> {
        let body = &self.rest[1..];
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    let consumed = &body[..i];
                    self.line += consumed.matches('\n').count();
                    self.rest = &body[i + 1..];
                    return Ok(if quote == '\'' {
                        Value::Literal(value)
                    } else {
                        Value::Expand(value)
                    });
                }
                '\\' => {
                    let next = chars.next().map(|(_, c)| c);
                    match (quote, next) {
                        ('\'', Some(escaped @ ('\'' | '\\'))) => value.push(escaped),
                        ('"', Some(escaped @ ('"' | '\'' | '\\'))) => value.push(escaped),
                        ('"', Some('n')) => value.push('\n'),
                        ('"', Some('t')) => value.push('\t'),
                        ('"', Some('r')) => value.push('\r'),
                        ('"', Some('a')) => value.push('\u{7}'),
                        ('"', Some('b')) => value.push('\u{8}'),
                        ('"', Some('f')) => value.push('\u{c}'),
                        ('"', Some('v')) => value.push('\u{b}'),
                        (_, Some(other)) => {
                            value.push('\\');
                            value.push(other);
                        }
                        (_, None) => value.push('\\'),
                    }
                }
                c => value.push(c),
            }
        }
        Err(format!(
            "{name}'s value opens a {} quote that is never closed",
            if quote == '"' { "double" } else { "single" }
        ))
    }

    fn skip_blanks(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn at_line_end(&self) -> bool {
        self.rest.is_empty() || self.rest.starts_with(['\n', '\r'])
    }

    /// Consumes an end of line, which must be next.
    fn finish_line(&mut self) -> Result<(), String> {
        let rest = self.take_rest_of_line();
        if rest.trim().is_empty() {
            Ok(())
        } else {
            Err("unexpected text".to_owned())
        }
    }

    /// The text up to the end of the line (without it), consuming the newline too.
    fn take_rest_of_line(&mut self) -> &'t str {
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => {
                self.line += 1;
                (&self.rest[..i], &self.rest[i + 1..])
            }
            None => (self.rest, ""),
        };
        self.rest = rest;
        line.strip_suffix('\r').unwrap_or(line)
    }
}

/// Replaces `${NAME}` and `${NAME:-default}` with `lookup(NAME)` (the default, or nothing,
/// when unset), as python-dotenv does; anything else, `$NAME` included, stays as written.
fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            let value = lookup(name).filter(|value| !value.is_empty());
            out.push_str(&value.unwrap_or_else(|| default.unwrap_or_default().to_owned()));
        } else {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EnvFile, ConfigError> {
        EnvFile::parse(Path::new("/srv/janus/.env"), text, &BTreeMap::new())
    }

    fn vars(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .vars()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn one(text: &str) -> String {
        let all = vars(text);
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].1.clone()
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("should not parse").to_string()
    }

    #[test]
    fn plain_assignments_comments_and_blank_lines_are_read() {
        let text =
            "# Janus\n\nSLACK_BOT_TOKEN=xoxb-1\n  export DATABASE_HOST = db.internal  \n\t\n";
        assert_eq!(
            vars(text),
            [
                ("DATABASE_HOST".to_owned(), "db.internal".to_owned()),
                ("SLACK_BOT_TOKEN".to_owned(), "xoxb-1".to_owned()),
            ]
        );
    }

    #[test]
    fn each_variable_remembers_the_line_that_set_it_and_the_last_line_wins() {
        let file = parse("A=1\n\n# note\nB='two\nlines'\nC=3\nA=4\n").unwrap();
        assert_eq!(file.get("A"), Some("4"));
        assert_eq!(file.line_of("A"), Some(7));
        assert_eq!(file.line_of("B"), Some(4));
        assert_eq!(file.get("B"), Some("two\nlines"));
        assert_eq!(file.line_of("C"), Some(6));
    }

    #[test]
    fn an_unquoted_value_ends_at_a_comment_after_whitespace_only() {
        assert_eq!(one("A=value # a comment"), "value");
        assert_eq!(one("A=a#b"), "a#b");
        assert_eq!(one("A="), "");
        assert_eq!(one("A=with spaces inside  "), "with spaces inside");
    }

    #[test]
    fn single_quotes_are_literal_and_double_quotes_decode_escapes() {
        assert_eq!(
            one(r#"A='x\ny ${B} "q" # not a comment'"#),
            r#"x\ny ${B} "q" # not a comment"#
        );
        assert_eq!(one(r"A='it\'s'"), "it's");
        assert_eq!(
            one(r#"A="line1\nline2\t\"q\" \\ #x" # comment"#),
            "line1\nline2\t\"q\" \\ #x"
        );
        assert_eq!(one("A=\"\""), "");
    }

    #[test]
    fn windows_line_endings_and_a_byte_order_mark_are_accepted() {
        let file = parse("\u{feff}A=1\r\nB=\"2\"\r\n# c\r\nC=3").unwrap();
        assert_eq!(file.get("A"), Some("1"));
        assert_eq!(file.get("B"), Some("2"));
        assert_eq!(file.get("C"), Some("3"));
        assert_eq!(file.line_of("C"), Some(4));
    }

    #[test]
    fn a_name_alone_sets_nothing_as_in_python_dotenv() {
        assert!(parse("A\nB # comment\n").unwrap().is_empty());
    }

    #[test]
    fn references_expand_from_the_process_then_earlier_lines_except_in_single_quotes() {
        let env = BTreeMap::from([("HOST".to_owned(), "real.internal".to_owned())]);
        let file = EnvFile::parse(
            Path::new(".env"),
            "USER=janus\nHOST=ignored\nA=${USER}@${HOST}:${PORT:-5432}\nB='${USER}'\nC=\"$USER ${nope\"\n",
            &env,
        )
        .unwrap();
        assert_eq!(file.get("A"), Some("janus@real.internal:5432"));
        assert_eq!(file.get("B"), Some("${USER}"));
        assert_eq!(file.get("C"), Some("$USER ${nope"));
    }

    #[test]
    fn a_bad_line_names_the_file_and_line_and_never_the_value() {
        assert_eq!(
            error("A=1\n\nnot a line\n"),
            ".env file /srv/janus/.env, line 3: expected `=` after not"
        );
        assert_eq!(
            error("A=1\n=value\n"),
            ".env file /srv/janus/.env, line 2: expected NAME=value, where NAME is letters, \
             digits, `_` and `.` (not starting with a digit)"
        );
        let unclosed = error("A=1\nSLACK_BOT_TOKEN=\"xoxb-secret\n\n");
        assert_eq!(
            unclosed,
            ".env file /srv/janus/.env, line 2: SLACK_BOT_TOKEN's value opens a double quote \
             that is never closed"
        );
        let trailing = error("TOKEN='xoxb-secret' trailing\n");
        assert!(trailing.contains("line 1"), "{trailing}");
        assert!(!trailing.contains("secret"), "{trailing}");
    }

    // --- as a source of the configuration ---------------------------------------------------

    use crate::config::Config;
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(file_text: &str, process: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let file = parse(file_text).unwrap_or_else(|e| panic!("{e}"));
        Config::load_with_env_file(None, Some(&file), env(process))
    }

    const TOKENS: &str = "SLACK_APP_TOKEN=xapp-1-from-file\nSLACK_BOT_TOKEN='xoxb-from-file'\n";

    #[test]
    fn python_and_janus_names_in_the_file_reach_the_configuration() {
        let text = format!(
            "{TOKENS}export INCIDENTS_DIGEST_CHANNEL=\"war-room\"\nJANUS_SLACK__SOCKETS=3\n\
             STATE_DIRECTORY=/var/lib/janus\n"
        );
        let config = load(&text, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.slack.app_token.expose_secret(), "xapp-1-from-file");
        assert_eq!(config.slack.bot_token.expose_secret(), "xoxb-from-file");
        assert_eq!(config.incident.digest_channel, "war-room");
        assert_eq!(config.slack.sockets, 3);
        assert_eq!(
            config.database.url.expose_secret(),
            "sqlite:///var/lib/janus/janus.db"
        );
    }

    #[test]
    fn a_real_variable_wins_over_the_file_even_when_empty() {
        let text = format!("{TOKENS}INCIDENTS_DIGEST_CHANNEL=from-file\nSLACK_WORKSPACE_ID=acme\n");
        let config = load(
            &text,
            &[
                ("INCIDENTS_DIGEST_CHANNEL", "from-env"),
                ("SLACK_WORKSPACE_ID", ""),
            ],
        )
        .unwrap();
        assert_eq!(config.incident.digest_channel, "from-env");
        assert_eq!(config.slack.workspace_id, None);
    }

    #[test]
    fn an_invalid_value_is_blamed_on_the_file_and_line() {
        let text = format!("{TOKENS}\nJANUS_SLACK__SOCKETS=20\n");
        assert_eq!(
            load(&text, &[]).unwrap_err().to_string(),
            "invalid value for `slack.sockets` (from .env file /srv/janus/.env line 4 \
             (JANUS_SLACK__SOCKETS)): expected a number from 1 to 10, found 20"
        );
        let unknown = load(&format!("{TOKENS}JANUS_SLACK__SOKETS=2\n"), &[]).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unknown key `slack.sokets` in .env file /srv/janus/.env line 3 (JANUS_SLACK__SOKETS)"
        );
    }

    #[test]
    fn a_bad_secret_in_the_file_is_named_without_its_value() {
        let error = load(
            "SLACK_APP_TOKEN=xapp-1\nSLACK_BOT_TOKEN=xoxp-user-secret\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains(".env file /srv/janus/.env line 2 (SLACK_BOT_TOKEN)"),
            "{error}"
        );
        assert!(!error.contains("user-secret"), "{error}");
    }

    #[test]
    fn a_proxy_variable_in_the_file_is_used_and_blamed_on_it() {
        let error = load(&format!("{TOKENS}HTTPS_PROXY=not a url\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("(from .env file /srv/janus/.env line 3 (HTTPS_PROXY))"),
            "{error}"
        );
        let error = load(TOKENS, &[("HTTPS_PROXY", "not a url")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("(from environment variable HTTPS_PROXY)"),
            "{error}"
        );
    }

    #[test]
    fn the_cli_names_in_the_file_are_not_keys() {
        let text = format!("{TOKENS}JANUS_CONFIG=/etc/janus.toml\nJANUS_ENV_FILE=x\n");
        assert!(load(&text, &[]).is_ok());
    }

    #[test]
    fn a_named_file_that_is_missing_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prod.env");
        let error = EnvFile::find(Some(&path), &BTreeMap::new()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(".env file {} does not exist", path.display())
        );
    }

    #[test]
    fn debug_output_names_the_variables_but_not_their_values() {
        let file = parse("SLACK_BOT_TOKEN=xoxb-very-secret\n").unwrap();
        let shown = format!("{file:?}");
        assert!(shown.contains("SLACK_BOT_TOKEN"), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }

    #[test]
    fn junk_never_panics() {
        for junk in [
            "\"",
            "'",
            "=",
            "==",
            "A='",
            "A=\"\\",
            "export",
            "export ",
            "export=1",
            "\u{0}",
            "A=\u{0}",
            "é=1",
            "A\u{301}=1",
            "${",
            "A=${",
            "A=${}",
            "\r",
            "\r\r\n",
            "1A=b",
        ] {
            let _ = parse(junk);
        }
        assert_eq!(one("export=1"), "1");
    }
}
