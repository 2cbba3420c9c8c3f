//! Templates: every message Janus posts is a Handlebars template whose output
//! is Slack Block Kit JSON.
//!
//! The built-in templates are compiled into the binary ([`BUILTIN`]); an
//! operator can replace any of them with `<TEMPLATES_DIRECTORY>/<name>.json.hbs`.
//! [`Renderer::load`] compiles them all, then renders each with its sample
//! data and validates the result, so a broken override stops start-up (and
//! `janus check`) instead of failing the first incident.
//!
//! Two escaping layers, each with one job:
//! - the registry's escape function makes every `{{value}}` a valid JSON
//!   string body, so templates are written as `"text": "Incident {{name}}"`;
//! - `crate::domain::text::SlackText` makes user text harmless `mrkdwn`
//!   (no `<!channel>`) before it reaches the template data; the fields of
//!   [`context`] that hold such text are of that type.
//!
//! Triple-stash `{{{x}}}` (and its `{{&x}}` spelling) would skip the first
//! layer, so templates using it are refused. Values are only safe *inside*
//! JSON quotes: `"n": {{count}}` works for a number we supply, but the escape
//! cannot protect a position outside a string.

pub mod blocks;
pub mod context;
mod samples;

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use handlebars::template::{Template, TemplateElement};
use handlebars::{Handlebars, RenderErrorReason, TemplateError};
use serde::Serialize;
use serde_json::Value;

pub use blocks::{BlocksError, Surface};
pub use context::TemplateContext;

/// The built-in templates, by name. Adding one: a line here, the
/// `templates/<name>.json.hbs` file, its struct in `context.rs` and its
/// sample in `samples.rs`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("help", include_str!("../../templates/help.json.hbs")),
    ("usage", include_str!("../../templates/usage.json.hbs")),
    ("control", include_str!("../../templates/control.json.hbs")),
    ("digest", include_str!("../../templates/digest.json.hbs")),
    (
        "declared",
        include_str!("../../templates/declared.json.hbs"),
    ),
    ("list", include_str!("../../templates/list.json.hbs")),
    (
        "status_changed",
        include_str!("../../templates/status_changed.json.hbs"),
    ),
    (
        "role_assigned",
        include_str!("../../templates/role_assigned.json.hbs"),
    ),
    (
        "archive_notice",
        include_str!("../../templates/archive_notice.json.hbs"),
    ),
    (
        "role_released",
        include_str!("../../templates/role_released.json.hbs"),
    ),
    ("role_dm", include_str!("../../templates/role_dm.json.hbs")),
    (
        "resolved",
        include_str!("../../templates/resolved.json.hbs"),
    ),
    (
        "declare_modal",
        include_str!("../../templates/declare_modal.json.hbs"),
    ),
    ("origin", include_str!("../../templates/origin.json.hbs")),
    (
        "statuspage_prompt",
        include_str!("../../templates/statuspage_prompt.json.hbs"),
    ),
    (
        "statuspage_message",
        include_str!("../../templates/statuspage_message.json.hbs"),
    ),
    (
        "statuspage_create",
        include_str!("../../templates/statuspage_create.json.hbs"),
    ),
    (
        "statuspage_update",
        include_str!("../../templates/statuspage_update.json.hbs"),
    ),
    (
        "provider_snapshot",
        include_str!("../../templates/provider_snapshot.json.hbs"),
    ),
    (
        "update_modal",
        include_str!("../../templates/update_modal.json.hbs"),
    ),
    (
        "update_posted",
        include_str!("../../templates/update_posted.json.hbs"),
    ),
    (
        "update_reply",
        include_str!("../../templates/update_reply.json.hbs"),
    ),
    (
        "reminder_update",
        include_str!("../../templates/reminder_update.json.hbs"),
    ),
    (
        "reminder_commander",
        include_str!("../../templates/reminder_commander.json.hbs"),
    ),
];

/// Templates whose output is a whole modal view rather than an array of
/// blocks. Every other template is a [`Surface::Message`].
const MODALS: &[&str] = &[
    "declare_modal",
    "statuspage_create",
    "statuspage_update",
    "update_modal",
];

/// Template files end in this, in `templates/` and in `TEMPLATES_DIRECTORY`.
pub const EXTENSION: &str = ".json.hbs";

/// The Block Kit files the Python janus read from its `TEMPLATES_DIRECTORY` (also from a
/// `slack/` folder in it, in later versions), and what took over each. A migrating team
/// points Janus at that folder as it is: each file gets a line saying where its content
/// goes now, instead of the generic "not a template" one, and Janus still starts.
pub const PYTHON_TEMPLATES: &[(&str, Replacement)] = &[
    (
        "incident_channel_boilerplate.json",
        Replacement::Template("control"),
    ),
    (
        "incident_digest_notification.json",
        Replacement::Template("digest"),
    ),
    (
        "incident_digest_notification_update.json",
        Replacement::Template("digest"),
    ),
    (
        "incident_resolution_message.json",
        Replacement::Template("resolved"),
    ),
    (
        "incident_role_update.json",
        Replacement::Template("role_assigned"),
    ),
    (
        "incident_severity_update.json",
        Replacement::Template("status_changed"),
    ),
    (
        "incident_status_update.json",
        Replacement::Template("status_changed"),
    ),
    (
        "incident_user_role_dm.json",
        Replacement::Template("role_dm"),
    ),
    (
        "incident_public_status_update.json",
        Replacement::Template("statuspage_message"),
    ),
    (
        "role_definitions.json",
        Replacement::Setting("incident.roles"),
    ),
    (
        "severity_levels.json",
        Replacement::Setting("incident.severities"),
    ),
];

/// The Python janus's subfolder of `TEMPLATES_DIRECTORY` for its Slack templates.
const PYTHON_SUBFOLDER: &str = "slack";

/// What replaced one of the Python janus's template files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// A Janus template, by name (one of [`BUILTIN`]).
    Template(&'static str),
    /// A configuration key: the file held data, not a message.
    Setting(&'static str),
}

/// The line for a Python janus file at `path` (named `file_name`), if it is one.
fn python_template_warning(path: &Path, file_name: &str) -> Option<String> {
    let (_, replacement) = PYTHON_TEMPLATES
        .iter()
        .find(|(python, _)| *python == file_name)?;
    let path = path.display();
    Some(match replacement {
        Replacement::Template(name) => format!(
            "{path}: a Python janus template, which Janus does not read; the `{name}` template \
             ({name}{EXTENSION}) replaced it. To customise that message, run `janus templates \
             export DIR`, keep {name}{EXTENSION} and point TEMPLATES_DIRECTORY at DIR"
        ),
        Replacement::Setting(key) => format!(
            "{path}: a Python janus file, which Janus does not read; set `{key}` in the \
             configuration instead (see config/janus.example.toml)"
        ),
    })
}

/// Everything that can go wrong loading or rendering a template. Each message
/// is one line naming the directory or file, and the reason.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("TEMPLATES_DIRECTORY {} does not exist", path.display())]
    DirMissing { path: PathBuf },

    #[error("TEMPLATES_DIRECTORY {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },

    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: io::Error },

    #[error("{file}: {message}")]
    Parse { file: String, message: String },

    #[error(
        "{file}: line {line}: `{form}` is forbidden: it would skip JSON escaping; \
         write \"{{{{name}}}}\" inside quotes (and a space between a JSON `{{` and a tag)"
    )]
    TripleStash {
        file: String,
        line: usize,
        form: String,
    },

    #[error("{file}: {reason}")]
    Render { file: String, reason: String },

    #[error("{file}: the rendered output is not valid JSON: {error} (output: `{snippet}`)")]
    InvalidJson {
        file: String,
        error: serde_json::Error,
        snippet: String,
    },

    #[error("{file}: {error}")]
    InvalidBlocks { file: String, error: BlocksError },

    #[error("no template named {0:?}")]
    UnknownTemplate(String),
}

/// The compiled templates. Cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Renderer {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Handlebars<'static>,
    /// Template name → the file it came from, as errors name it.
    files: HashMap<&'static str, String>,
    warnings: Vec<String>,
}

/// One template's source text and where it came from.
struct Source {
    name: &'static str,
    file: String,
    text: String,
}

impl Renderer {
    /// Compile the built-in templates, each replaced by
    /// `<dir>/<name>.json.hbs` when that file exists, then render every one
    /// with its sample data and validate the output.
    ///
    /// Files in `dir` that match no built-in become [`Renderer::warnings`].
    pub fn load(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let (sources, warnings) = match dir {
            Some(dir) => read_dir(dir)?,
            None => (BUILTIN.iter().map(builtin_source).collect(), Vec::new()),
        };
        let renderer = Renderer::compile(sources, warnings)?;
        renderer.check_all()?;
        Ok(renderer)
    }

    /// Render every template with each of its samples (a template with
    /// variants, such as a private incident's digest entry, has one per
    /// variant) and validate the output.
    pub fn check_all(&self) -> Result<(), RenderError> {
        let samples = samples::all();
        for &(name, _) in BUILTIN {
            let mut variants = samples.iter().filter(|(t, _)| *t == name).peekable();
            if variants.peek().is_none() {
                return Err(RenderError::Render {
                    file: self.origin(name).unwrap_or(name).to_owned(),
                    reason: "has no sample data (add it to src/render/samples.rs)".to_owned(),
                });
            }
            for (_, data) in variants {
                self.render(name, data)?;
            }
        }
        Ok(())
    }

    /// Renders `context` with its template; the result is the validated
    /// output (for a message, the JSON array of blocks).
    pub fn render_context<C: TemplateContext>(&self, context: &C) -> Result<Value, RenderError> {
        self.render_serialized(C::TEMPLATE, context)
    }

    /// Renders template `name` with untyped `data`: for the samples, which
    /// stand for any data an override may meet, and for tests of a
    /// template's variants. Code renders a [`TemplateContext`].
    pub fn render(&self, name: &str, data: &Value) -> Result<Value, RenderError> {
        self.render_serialized(name, data)
    }

    fn render_serialized<T: Serialize>(&self, name: &str, data: &T) -> Result<Value, RenderError> {
        let Some((&name, file)) = self.inner.files.get_key_value(name) else {
            return Err(RenderError::UnknownTemplate(name.to_owned()));
        };
        let text = self
            .inner
            .registry
            .render(name, data)
            .map_err(|e| RenderError::Render {
                file: file.clone(),
                reason: describe_render_error(&e),
            })?;
        let output: Value = serde_json::from_str(&text).map_err(|error| {
            let snippet = output_snippet(&text, error.line());
            RenderError::InvalidJson {
                file: file.clone(),
                error,
                snippet,
            }
        })?;
        blocks::validate(surface(name), &output).map_err(|error| RenderError::InvalidBlocks {
            file: file.clone(),
            error,
        })?;
        Ok(output)
    }

    /// The sample data of template `name`: what `check_all` renders, and
    /// what `janus templates render NAME` can show.
    pub fn sample(name: &str) -> Option<Value> {
        samples::sample(name)
    }

    /// Template `name` rendered with its sample data, shaped for Slack's
    /// Block Kit Builder: `{"blocks": […]}` for a message, the view itself
    /// for a modal. What `janus templates render NAME` prints.
    pub fn render_sample(&self, name: &str) -> Result<Value, RenderError> {
        let data =
            Renderer::sample(name).ok_or_else(|| RenderError::UnknownTemplate(name.to_owned()))?;
        let output = self.render(name, &data)?;
        Ok(match surface(name) {
            Surface::Modal => output,
            Surface::Message => serde_json::json!({ "blocks": output }),
        })
    }

    /// Every template name, in [`BUILTIN`] order: what an override may replace.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|&(name, _)| name)
    }

    /// Where template `name` came from: the override's path, or
    /// `templates/<name>.json.hbs (built-in)`.
    pub fn origin(&self, name: &str) -> Option<&str> {
        self.inner.files.get(name).map(String::as_str)
    }

    /// Files in `TEMPLATES_DIRECTORY` that override nothing, one line each; a Python janus
    /// file's line names what replaced it (see [`PYTHON_TEMPLATES`]).
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Build a registry from `sources` without rendering anything.
    fn compile(sources: Vec<Source>, warnings: Vec<String>) -> Result<Renderer, RenderError> {
        let mut registry = Handlebars::new();
        // A missing variable is an error rather than an empty string: a
        // template asking for data we do not send is caught by `check_all`.
        registry.set_strict_mode(true);
        // Replaces the default HTML escape, which would turn `"` into `&quot;`.
        registry.register_escape_fn(json_escape);

        let mut files = HashMap::new();
        for Source { name, file, text } in sources {
            if let Some((line, form)) = find_unescaped_tag(&text) {
                return Err(RenderError::TripleStash { file, line, form });
            }
            registry
                .register_template_string(name, &text)
                .map_err(|e| RenderError::Parse {
                    file: file.clone(),
                    message: describe_template_error(&e),
                })?;
            // The text scan covers today's grammar; this also catches any
            // spelling of an unescaped expression it might grow.
            if let Some(line) = registry.get_template(name).and_then(find_html_expression) {
                let form = "unescaped expression".to_owned();
                return Err(RenderError::TripleStash { file, line, form });
            }
            files.insert(name, file);
        }
        Ok(Renderer {
            inner: Arc::new(Inner {
                registry,
                files,
                warnings,
            }),
        })
    }
}

impl fmt::Debug for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Renderer")
            .field("files", &self.inner.files)
            .field("warnings", &self.inner.warnings)
            .finish()
    }
}

/// Writes every built-in template to `dir` as `<name>.json.hbs`, a starting
/// point for `TEMPLATES_DIRECTORY` (`janus templates export DIR`). Creates
/// `dir` when missing; never overwrites a file unless `overwrite`, so an
/// operator's edits are not lost to a second export. Returns the files written.
pub fn export(dir: &Path, overwrite: bool) -> Result<Vec<PathBuf>, RenderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| RenderError::Io { path, error }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let targets: Vec<(PathBuf, &str)> = BUILTIN
        .iter()
        .map(|&(name, text)| (dir.join(format!("{name}{EXTENSION}")), text))
        .collect();
    if !overwrite && let Some((existing, _)) = targets.iter().find(|(path, _)| path.exists()) {
        return Err(RenderError::Io {
            path: existing.clone(),
            error: io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists; nothing was written (pass --force to overwrite)",
            ),
        });
    }
    for (path, text) in &targets {
        std::fs::write(path, text).map_err(io(path))?;
    }
    Ok(targets.into_iter().map(|(path, _)| path).collect())
}

fn surface(name: &str) -> Surface {
    if MODALS.contains(&name) {
        Surface::Modal
    } else {
        Surface::Message
    }
}

fn builtin_source(&(name, text): &(&'static str, &str)) -> Source {
    Source {
        name,
        file: format!("templates/{name}{EXTENSION} (built-in)"),
        text: text.to_owned(),
    }
}

/// The sources for `dir`: each built-in or its override, plus a warning for
/// every file that overrides nothing. Hidden files (`.gitkeep`, editor swap
/// files) are ignored silently.
fn read_dir(dir: &Path) -> Result<(Vec<Source>, Vec<String>), RenderError> {
    let io_error = |error| RenderError::Io {
        path: dir.to_owned(),
        error,
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(RenderError::NotADirectory {
                path: dir.to_owned(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RenderError::DirMissing {
                path: dir.to_owned(),
            });
        }
        Err(e) => return Err(io_error(e)),
    }

    let mut sources = Vec::with_capacity(BUILTIN.len());
    for builtin @ &(name, _) in BUILTIN {
        let path = dir.join(format!("{name}{EXTENSION}"));
        let source = match fs::read_to_string(&path) {
            Ok(text) => Source {
                name,
                file: path.display().to_string(),
                text,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => builtin_source(builtin),
            Err(error) => return Err(RenderError::Io { path, error }),
        };
        sources.push(source);
    }

    let mut warnings = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let overrides_a_builtin = file_name
            .strip_suffix(EXTENSION)
            .is_some_and(|stem| Renderer::names().any(|n| n == stem));
        if let Some(warning) = python_template_warning(&entry.path(), &file_name) {
            warnings.push(warning);
            continue;
        }
        if file_name == PYTHON_SUBFOLDER && entry.path().is_dir() {
            let found = python_subfolder_warnings(&entry.path());
            if !found.is_empty() {
                warnings.extend(found);
                continue;
            }
        }
        if !overrides_a_builtin && !file_name.starts_with('.') {
            warnings.push(format!(
                "{}: not a template Janus knows; ignored (known: {})",
                entry.path().display(),
                Renderer::names()
                    .map(|n| format!("{n}{EXTENSION}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    warnings.sort();
    Ok((sources, warnings))
}

/// The lines for the Python janus files in its `slack/` subfolder; an unreadable folder
/// has none (it is only looked into to explain, never needed).
fn python_subfolder_warnings(folder: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            python_template_warning(&entry.path(), &entry.file_name().to_string_lossy())
        })
        .collect()
}

/// Escape a value for the inside of a JSON string: `"`, `\` and the control
/// characters U+0000–U+001F. Everything else, emoji and right-to-left
/// marks included, is valid in a JSON string as is.
fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The first tag that outputs without escaping — `{{{`, `{{&`, or either
/// with `~` or whitespace after the `{{` — as (1-based line, the tag's
/// opening). Raw blocks `{{{{` are caught too. It may also flag a literal
/// JSON `{` written right before a tag (`{{{#if`), which handlebars would
/// not parse anyway.
fn find_unescaped_tag(text: &str) -> Option<(usize, String)> {
    for (start, _) in text.match_indices("{{") {
        let after = &text[start + 2..];
        let rest = after.trim_start();
        let rest = rest.strip_prefix('~').unwrap_or(rest).trim_start();
        if rest.starts_with(['{', '&']) {
            let end = text.len() - rest.len() + 1;
            let line = text[..start].matches('\n').count() + 1;
            return Some((line, text[start..end].to_owned()));
        }
    }
    None
}

/// The line of the first unescaped (`{{{ }}}`-style) expression in a
/// compiled template, looking inside blocks.
fn find_html_expression(template: &Template) -> Option<usize> {
    template
        .elements
        .iter()
        .enumerate()
        .find_map(|(i, element)| match element {
            TemplateElement::HtmlExpression(_) => Some(template.mapping.get(i).map_or(0, |m| m.0)),
            TemplateElement::HelperBlock(h) => h
                .template
                .iter()
                .chain(h.inverse.iter())
                .find_map(find_html_expression),
            TemplateElement::DecoratorBlock(d) | TemplateElement::PartialBlock(d) => {
                d.template.as_ref().and_then(find_html_expression)
            }
            _ => None,
        })
}

/// A one-line parse error: handlebars' own is a multi-line excerpt.
fn describe_template_error(e: &TemplateError) -> String {
    let reason = e.reason().to_string();
    // Pest's syntax errors end with "= expected …"; that line is the reason.
    let reason = reason
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("= "))
        .map_or_else(|| reason.trim().replace('\n', " "), str::to_owned);
    match e.pos() {
        Some((line, column)) => format!("line {line}, column {column}: {reason}"),
        None => reason,
    }
}

fn describe_render_error(e: &handlebars::RenderError) -> String {
    let reason = match e.reason() {
        RenderErrorReason::MissingVariable(Some(var)) => {
            format!("variable `{var}` is missing from the data (strict mode)")
        }
        other => other.to_string(),
    };
    match (e.line_no, e.column_no) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: {reason}"),
        _ => reason,
    }
}

/// The output line a JSON error points at, trimmed and shortened.
fn output_snippet(text: &str, line: usize) -> String {
    let line = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
        .trim();
    let mut snippet: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        snippet.push('…');
    }
    snippet
}

#[cfg(test)]
mod tests;
