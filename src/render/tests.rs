//! The renderer's tests: loading, overrides and escaping here; the incident
//! templates and the ids they share with the code in the modules below.

use std::fs;

use serde_json::json;

use super::*;
use crate::domain::text::SlackText;

/// A renderer over `help`'s slot holding `text`, not sample-checked.
fn compile(text: &str) -> Result<Renderer, RenderError> {
    let source = Source {
        name: "help",
        file: "templates/help.json.hbs".to_owned(),
        text: text.to_owned(),
    };
    Renderer::compile(vec![source], Vec::new())
}

/// `load` with a temporary TEMPLATES_DIRECTORY holding `files`.
fn load_with(files: &[(&str, &str)]) -> Result<Renderer, RenderError> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    Renderer::load(Some(dir.path()))
}

fn load_error(files: &[(&str, &str)]) -> String {
    load_with(files).unwrap_err().to_string()
}

fn text_of(blocks: &Value, i: usize) -> &str {
    blocks[i]["text"]["text"].as_str().unwrap()
}

#[test]
fn builtins_load_and_render_with_their_sample_data() {
    let renderer = Renderer::load(None).unwrap();
    assert!(renderer.warnings().is_empty());
    for name in Renderer::names() {
        let blocks = renderer
            .render(name, &Renderer::sample(name).unwrap())
            .unwrap();
        if MODALS.contains(&name) {
            assert_eq!(blocks["type"], "modal", "{name}");
        } else {
            assert!(blocks.is_array(), "{name}");
        }
    }
    let help = renderer
        .render("help", &Renderer::sample("help").unwrap())
        .unwrap();
    let all = help.to_string();
    assert!(all.contains("/incident &lt;description&gt;"), "{all}");
    assert!(all.contains("<@U0JANUS> `list`"), "{all}");
    assert!(all.contains("`&lt;!channel&gt; \\\"deploy\\\"`"), "{all}");
}

#[test]
fn help_for_a_plain_help_request_has_no_apology() {
    let renderer = Renderer::load(None).unwrap();
    let help = context::Help {
        command: "/incident".into(),
        bot_user_id: crate::domain::ids::UserId::parse("U1").unwrap(),
        unknown: None,
        features: context::Features {
            timeline_emoji: "pushpin".into(),
            ..Default::default()
        },
    };
    let blocks = renderer.render_context(&help).unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(!blocks.to_string().contains("Sorry"));
}

#[test]
fn help_lists_exactly_the_features_that_are_on() {
    let renderer = Renderer::load(None).unwrap();
    let help = |features: context::Features| {
        let help = context::Help {
            command: "/inc".into(),
            bot_user_id: crate::domain::ids::UserId::parse("U1").unwrap(),
            unknown: None,
            features,
        };
        renderer.render_context(&help).unwrap().to_string()
    };
    let off = help(context::Features {
        timeline_emoji: "round_pushpin".into(),
        ..Default::default()
    });
    assert!(off.contains("`/inc checkout returns 500 errors`"), "{off}");
    assert!(
        off.contains(":round_pushpin:"),
        "the timeline is always on: {off}"
    );
    assert!(off.contains("Post update"), "updates are always on: {off}");
    for absent in [
        "declare an incident from it",
        "Statuspage",
        "remind",
        "archive",
        "invite",
        "third-party",
    ] {
        assert!(!off.contains(absent), "{absent:?} is off but listed: {off}");
    }
    let on = help(context::Features {
        react_emoji: Some("rotating_light".into()),
        timeline_emoji: "pushpin".into(),
        statuspage: true,
        reminders: true,
        archive_after: Some("7 days".into()),
        invite_group: Some("oncall".into()),
        providers: true,
    });
    for present in [
        "React with :rotating_light:",
        "Statuspage",
        "remind",
        "archive",
        "7 days",
        "@oncall",
        "third-party",
    ] {
        assert!(on.contains(present), "{present:?} is on but missing: {on}");
    }
}

#[test]
fn every_builtin_has_sample_data_and_a_unique_name() {
    let mut names: Vec<_> = Renderer::names().collect();
    for name in &names {
        assert!(Renderer::sample(name).is_some(), "{name} has no sample");
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), BUILTIN.len());
}

#[test]
fn every_context_type_fills_one_builtin_and_every_builtin_has_one() {
    let mut filled: Vec<_> = samples::all().into_iter().map(|(name, _)| name).collect();
    let mut builtin: Vec<_> = Renderer::names().collect();
    filled.sort_unstable();
    // A template with variants (the digest's private entry) has a sample
    // per variant, all of one context type.
    filled.dedup();
    builtin.sort_unstable();
    assert_eq!(filled, builtin);
}

#[test]
fn an_incident_without_a_channel_yet_gives_templates_an_empty_channel_id() {
    let choice = context::Labelled::new("investigating", None);
    let view = context::IncidentView {
        id: 1,
        name: String::new(),
        channel_id: None,
        description: SlackText::from_user("db down"),
        status: choice.clone(),
        severity: choice,
        resolved: false,
        created_by: crate::domain::ids::UserId::parse("U1").unwrap(),
        created_at: "2026-11-27 15:30 UTC".into(),
        roles: Vec::new(),
        private: false,
        archived: false,
    };
    let data = serde_json::to_value(&view).unwrap();
    assert_eq!(data["channel_id"], "");
    assert_eq!(
        data["status"],
        json!({"value": "investigating", "label": "Investigating"})
    );
}

#[test]
fn the_renderer_is_cheap_to_share_between_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Renderer>();
}

#[test]
fn a_hostile_description_renders_to_valid_json_without_pings() {
    let renderer = compile(
        r#"[{"type": "section", "text": {"type": "mrkdwn", "text": "Incident: {{description}}"}},
           {"type": "header", "text": {"type": "plain_text", "text": "{{description}}"}}]"#,
    )
    .unwrap();
    let raw = "\"quoted\" \\back\\slash\nnew line\t<!channel> <!here> <@U123> \
               <!subteam^S1> <http://evil|click> café 🔥 مرحبا \u{202E}RTL\u{0}\u{1f}\u{7f} & }}";
    let description = SlackText::from_user(raw);
    let blocks = renderer
        .render("help", &json!({ "description": description }))
        .unwrap();
    let text = text_of(&blocks, 0);
    assert!(!text.contains("<!"), "{text}");
    assert!(!text.contains("<@"), "{text}");
    assert!(!text.contains("<http"), "{text}");
    assert_eq!(text, format!("Incident: {}", description.as_str()));
    // Everything else arrived as the user wrote it.
    assert!(text.contains("\"quoted\" \\back\\slash\nnew line\t"));
    assert!(text.contains("café 🔥 مرحبا \u{202E}RTL\u{0}\u{1f}\u{7f} &amp; }}"));
    assert_eq!(text_of(&blocks, 1), description.as_str());
}

#[test]
fn the_escape_applies_to_helper_output_too() {
    let renderer = compile(
        r#"[{"type": "section", "text": {"type": "mrkdwn", "text": "{{lookup this "k"}}"}}]"#,
    )
    .unwrap();
    let blocks = renderer.render("help", &json!({"k": "a\"b\n"})).unwrap();
    assert_eq!(text_of(&blocks, 0), "a\"b\n");
}

#[test]
fn json_escape_covers_quotes_backslashes_and_every_control_character() {
    assert_eq!(json_escape(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(json_escape("\n\r\t\u{8}\u{c}"), r"\n\r\t\b\f");
    assert_eq!(json_escape("\u{0}\u{1b}\u{1f}"), r"\u0000\u001b\u001f");
    for c in (0u8..0x20).map(char::from) {
        let s = format!("\"{}\"", json_escape(&c.to_string()));
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), c.to_string());
    }
    assert_eq!(
        json_escape("café 🔥 \u{7f} \u{202E}"),
        "café 🔥 \u{7f} \u{202E}"
    );
}

#[test]
fn triple_stash_is_rejected_with_the_file_name_and_line() {
    let err = compile("[\n  {\"text\": \"{{{name}}}\"}\n]")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("templates/help.json.hbs: line 2: `{{{` is forbidden"),
        "{err}"
    );
}

#[test]
fn every_spelling_of_an_unescaped_tag_is_rejected() {
    for (text, form) in [
        ("{{&name}}", "{{&"),
        ("{{~{name}~}}", "{{~{"),
        ("{{ {name} }}", "{{ {"),
        ("{{~ &name}}", "{{~ &"),
        ("{{{{raw}}}} x {{{{/raw}}}}", "{{{"),
        ("{{#if a}}{{else}}{{{b}}}{{/if}}", "{{{"),
    ] {
        match compile(text) {
            Err(RenderError::TripleStash {
                form: f, line: 1, ..
            }) => assert_eq!(f, form),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn the_compiled_template_check_finds_unescaped_expressions_inside_blocks() {
    let line = |text: &str| find_html_expression(&Template::compile(text).unwrap());
    assert_eq!(line("a\n{{{b}}}"), Some(2));
    assert_eq!(line("{{#if a}}\n{{else}}\n\n{{&b}}{{/if}}"), Some(4));
    assert_eq!(line("{{#each a}}{{b}}{{/each}} {{c}}"), None);
}

#[test]
fn a_triple_stash_override_stops_loading() {
    let err = load_error(&[("usage.json.hbs", "[{{{x}}}]")]);
    assert!(
        err.contains("usage.json.hbs: line 1: `{{{` is forbidden"),
        "{err}"
    );
}

#[test]
fn a_parse_error_names_the_file_and_line() {
    let err = compile("[\n{{#if x}}\n]").unwrap_err().to_string();
    assert!(err.starts_with("templates/help.json.hbs: line "), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn a_missing_variable_is_rejected_with_the_file_name() {
    let err = load_error(&[(
        "help.json.hbs",
        r#"[{"type": "section", "text": {"type": "mrkdwn", "text": "{{incident.name}}"}}]"#,
    )]);
    assert!(err.contains("/help.json.hbs: line 1, column "), "{err}");
    assert!(
        err.ends_with("variable `incident.name` is missing from the data (strict mode)"),
        "{err}"
    );
}

#[test]
fn a_builtin_rendered_without_its_data_names_the_builtin_file() {
    let renderer = Renderer::load(None).unwrap();
    let err = renderer
        .render("usage", &json!({}))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("templates/usage.json.hbs (built-in): line "),
        "{err}"
    );
}

#[test]
fn output_that_is_not_json_is_rejected_with_the_file_name() {
    let err = load_error(&[("help.json.hbs", "[\n  {\"type\": \"divider\"},\n]")]);
    assert!(
        err.contains("/help.json.hbs: the rendered output is not valid JSON: "),
        "{err}"
    );
    assert!(err.contains("line 3 column 1"), "{err}");
}

#[test]
fn a_value_outside_json_quotes_cannot_inject_strings() {
    let renderer = compile(r#"[{"type": "divider", "block_id": {{id}}}]"#).unwrap();
    let err = renderer
        .render("help", &json!({"id": "1}, {\"type\": \"section\""}))
        .unwrap_err();
    assert!(matches!(err, RenderError::InvalidJson { .. }), "{err}");
}

#[test]
fn output_over_a_block_limit_is_rejected_with_the_file_and_path() {
    let renderer = compile(
        r#"[{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": "{{d}}"}}]"#,
    )
    .unwrap();
    let err = renderer
        .render("help", &json!({"d": "x".repeat(3012)}))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "templates/help.json.hbs: blocks[1].text.text is 3012 characters; Slack allows 3000"
    );
}

#[test]
fn an_override_with_an_unknown_block_type_stops_loading() {
    let err = load_error(&[("help.json.hbs", r#"[{"type": "sektion"}]"#)]);
    assert!(
        err.contains("/help.json.hbs: blocks[0].type is \"sektion\""),
        "{err}"
    );
}

#[test]
fn an_override_file_is_used_instead_of_the_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("help.json.hbs");
    fs::write(
        &path,
        r#"[{"type": "section", "text": {"type": "mrkdwn", "text": "Ask <@{{bot_user_id}}> on {{command}}"}}]"#,
    )
    .unwrap();
    let renderer = Renderer::load(Some(dir.path())).unwrap();
    let blocks = renderer
        .render("help", &Renderer::sample("help").unwrap())
        .unwrap();
    assert_eq!(text_of(&blocks, 0), "Ask <@U0JANUS> on /incident");
    assert_eq!(
        renderer.origin("help"),
        Some(path.display().to_string().as_str())
    );
    // The other template is still the built-in.
    assert_eq!(
        renderer.origin("usage"),
        Some("templates/usage.json.hbs (built-in)")
    );
    assert!(renderer.warnings().is_empty());
}

#[test]
fn a_missing_directory_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = Renderer::load(Some(&missing)).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("TEMPLATES_DIRECTORY {} does not exist", missing.display())
    );
}

#[test]
fn a_file_given_as_the_directory_is_named_in_the_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = Renderer::load(Some(file.path())).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "TEMPLATES_DIRECTORY {} is not a directory",
            file.path().display()
        )
    );
}

#[test]
fn an_unknown_file_in_the_directory_becomes_a_warning() {
    let renderer = load_with(&[
        ("halp.json.hbs", "[]"),
        ("notes.txt", "x"),
        (".gitkeep", ""),
    ])
    .unwrap();
    let warnings = renderer.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains(
        "halp.json.hbs: not a template Janus knows; ignored (known: help.json.hbs, usage.json.hbs, control.json.hbs, "
    ));
    assert!(warnings[1].contains("notes.txt"));
}

#[test]
fn the_python_janus_files_each_name_what_replaced_them_and_janus_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("incident_digest_notification.json"), "{}").unwrap();
    fs::write(dir.path().join("severity_levels.json"), "{}").unwrap();
    fs::create_dir(dir.path().join("slack")).unwrap();
    fs::write(
        dir.path().join("slack/incident_channel_boilerplate.json"),
        "{ not even json",
    )
    .unwrap();
    fs::write(dir.path().join("slack/notes.md"), "x").unwrap();
    let renderer = Renderer::load(Some(dir.path())).expect("a Python folder does not stop Janus");
    let warnings = renderer.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    let line_for = |file: &str| {
        warnings
            .iter()
            .find(|w| w.starts_with(&dir.path().join(file).display().to_string()))
            .unwrap_or_else(|| panic!("no line for {file}: {warnings:?}"))
    };
    let digest = line_for("incident_digest_notification.json");
    assert!(
        digest.contains("the `digest` template (digest.json.hbs) replaced it"),
        "{digest}"
    );
    assert!(digest.contains("janus templates export DIR"), "{digest}");
    let control = line_for("slack/incident_channel_boilerplate.json");
    assert!(control.contains("the `control` template"), "{control}");
    let severities = line_for("severity_levels.json");
    assert!(
        severities.contains("set `incident.severities`"),
        "{severities}"
    );
    assert!(
        warnings
            .iter()
            .all(|w| !w.contains("not a template Janus knows")),
        "{warnings:?}"
    );
}

#[test]
fn every_python_janus_file_maps_to_a_template_that_exists() {
    for (file, replacement) in PYTHON_TEMPLATES {
        if let Replacement::Template(name) = replacement {
            assert!(
                Renderer::names().any(|n| n == *name),
                "{file} maps to {name}, which is not a template"
            );
        }
    }
    assert_eq!(PYTHON_TEMPLATES.len(), 11);
}

#[test]
fn an_unknown_template_name_is_an_error() {
    let renderer = Renderer::load(None).unwrap();
    let err = renderer.render("digests", &json!({})).unwrap_err();
    assert_eq!(err.to_string(), "no template named \"digests\"");
    assert!(Renderer::sample("digests").is_none());
}

/// The incident workflow's templates, rendered with their samples and with
/// the variants the samples do not cover.
mod incident_templates {
    use std::collections::HashSet;

    use serde_json::{Value, json};

    use crate::domain::block_ids::action;
    use crate::domain::text::SlackText;
    use crate::render::samples::{hostile_description, incident, view_model};
    use crate::render::*;

    const INCIDENT_TEMPLATES: &[&str] = &[
        "control",
        "digest",
        "update_posted",
        "declared",
        "list",
        "status_changed",
        "role_assigned",
        "role_dm",
        "resolved",
    ];

    fn renderer() -> Renderer {
        Renderer::load(None).unwrap()
    }

    fn render(name: &str, data: &Value) -> Value {
        renderer()
            .render(name, data)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn blocks_of(v: &Value) -> &Vec<Value> {
        v.as_array().unwrap()
    }

    /// Every `action_id` in the output, in order.
    fn action_ids(v: &Value) -> Vec<String> {
        let mut ids = Vec::new();
        collect_action_ids(v, &mut ids);
        ids
    }

    fn collect_action_ids(v: &Value, ids: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(id)) = map.get("action_id") {
                    ids.push(id.clone());
                }
                map.values().for_each(|v| collect_action_ids(v, ids));
            }
            Value::Array(items) => items.iter().for_each(|v| collect_action_ids(v, ids)),
            _ => {}
        }
    }

    /// The element with `action_id` `id`.
    fn element<'a>(v: &'a Value, id: &str) -> &'a Value {
        fn find<'a>(v: &'a Value, id: &str) -> Option<&'a Value> {
            match v {
                Value::Object(map) if map.get("action_id") == Some(&json!(id)) => Some(v),
                Value::Object(map) => map.values().find_map(|v| find(v, id)),
                Value::Array(items) => items.iter().find_map(|v| find(v, id)),
                _ => None,
            }
        }
        find(v, id).unwrap_or_else(|| panic!("no element {id} in {v}"))
    }

    fn with_description(mut data: Value, description: &SlackText) -> Value {
        if data.get("incident").is_some() {
            data["incident"]["description"] = json!(description);
        }
        // A list shows the short form `@janus list` gives it (300 characters).
        let short = description.clone().truncate_chars(300);
        if let Some(incidents) = data.get_mut("incidents").and_then(Value::as_array_mut) {
            for i in incidents {
                i["description"] = json!(short);
            }
        }
        data
    }

    fn list_of(n: usize) -> Value {
        let shown = n.min(45);
        let incidents: Vec<Value> = (0..shown)
            .map(|i| {
                let mut inc = incident(false);
                inc["id"] = json!(100 + i);
                inc["channel_id"] = json!(format!("C0INC{i:05}"));
                inc["age"] = json!("2 hours 5 minutes");
                inc["description"] = json!("Checkout returns 502s");
                inc
            })
            .collect();
        json!({ "incidents": incidents, "count": n, "more": n - shown })
    }

    #[test]
    fn every_incident_template_renders_its_sample_and_validates() {
        let renderer = renderer();
        for name in INCIDENT_TEMPLATES {
            let data = Renderer::sample(name).unwrap_or_else(|| panic!("{name} has no sample"));
            let blocks = renderer.render(name, &data).unwrap();
            blocks::validate(Surface::Message, &blocks).unwrap();
        }
    }

    #[test]
    fn a_hostile_description_yields_valid_json_without_pings_in_every_template() {
        let long =
            SlackText::from_user(&"<!channel> \"x\" \\ 🔥\n".repeat(200)).truncate_chars(3000);
        assert_eq!(long.char_count(), 3000);
        for description in [hostile_description(), long] {
            for name in INCIDENT_TEMPLATES {
                let data = with_description(Renderer::sample(name).unwrap(), &description);
                let out = render(name, &data);
                let all = out.to_string();
                assert!(
                    !crate::domain::text::has_special_mention(&all),
                    "{name}: {all}"
                );
                assert!(!all.contains("<@U0ALL>"), "{name}: {all}");
                assert!(!all.contains("<http"), "{name}: {all}");
                // Where a template shows the description, it is shown whole,
                // in a section of its own.
                if ["control", "digest", "role_dm"].contains(name) {
                    assert!(
                        blocks_of(&out)
                            .iter()
                            .any(|b| b["text"]["text"] == json!(description.as_str())),
                        "{name}: {all}"
                    );
                }
            }
        }
        let control = render("control", &view_model(false));
        let all = control.to_string();
        assert!(all.contains("&lt;!channel&gt;"), "{all}");
        assert!(
            all.contains("\\\"502 Bad Gateway\\\" from C:\\\\lb\\\\edge\\n"),
            "{all}"
        );
        assert!(all.contains("🔥") && all.contains("\u{202E}مرحبا"), "{all}");
    }

    #[test]
    fn an_empty_description_leaves_no_empty_section() {
        for name in ["control", "digest", "role_dm"] {
            let data = with_description(Renderer::sample(name).unwrap(), &SlackText::default());
            render(name, &data);
        }
        let mut data = Renderer::sample("role_dm").unwrap();
        data["role"]["duties"] = json!("");
        let out = render("role_dm", &data);
        assert_eq!(out[1]["type"], "divider");
    }

    #[test]
    fn the_control_selects_start_at_the_current_status_and_severity() {
        let statuses = ["investigating", "identified", "monitoring", "resolved"];
        for (i, status) in statuses.iter().enumerate() {
            let mut data = view_model(false);
            data["incident"]["status"] = data["statuses"][i].clone();
            data["incident"]["severity"] = data["severities"][3 - i].clone();
            let out = render("control", &data);
            let select = element(&out, action::STATUS);
            assert_eq!(select["initial_option"]["value"], json!(status));
            assert_eq!(select["initial_option"], select["options"][i]);
            assert_eq!(select["options"].as_array().unwrap().len(), 4);
            let select = element(&out, action::SEVERITY);
            assert_eq!(select["initial_option"], data["severities"][3 - i]
                .as_object()
                .map(|c| json!({"text": {"type": "plain_text", "text": c["label"]}, "value": c["value"]}))
                .unwrap());
        }
    }

    #[test]
    fn a_status_no_longer_configured_leaves_the_select_without_an_initial_option() {
        let mut data = view_model(false);
        data["incident"]["status"] = json!({"value": "triage", "label": "triage"});
        let out = render("control", &data);
        assert!(
            element(&out, action::STATUS)
                .get("initial_option")
                .is_none()
        );
        assert!(
            element(&out, action::SEVERITY)
                .get("initial_option")
                .is_some()
        );
    }

    #[test]
    fn claim_or_release_and_assign_action_ids_are_unique_per_role() {
        let out = render("control", &view_model(false));
        let ids = action_ids(&out);
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
        let roles = view_model(false)["incident"]["roles"].clone();
        let mut want = vec![action::STATUS.to_owned(), action::SEVERITY.to_owned()];
        for role in roles.as_array().unwrap() {
            let key = role["key"].as_str().unwrap();
            // A held role offers Release, a free one Claim.
            let button = match role["holder"].is_null() {
                true => action::CLAIM_PREFIX,
                false => action::RELEASE_PREFIX,
            };
            want.push(format!("{button}{key}"));
            want.push(format!("{}{key}", action::ASSIGN_PREFIX));
        }
        want.push(action::POST_UPDATE.to_owned());
        assert_eq!(ids, want);
        assert!(
            ids.iter().any(|id| id.starts_with(action::RELEASE_PREFIX)),
            "the sample has a held role: {ids:?}"
        );
        for role in roles.as_array().unwrap() {
            let key = role["key"].as_str().unwrap();
            let button = match role["holder"].is_null() {
                true => action::CLAIM_PREFIX,
                false => action::RELEASE_PREFIX,
            };
            let button = element(&out, &format!("{button}{key}"));
            assert_eq!(button["value"], json!(key));
            assert_eq!(button["type"], "button");
            let assign = element(&out, &format!("{}{key}", action::ASSIGN_PREFIX));
            assert_eq!(assign["type"], "users_select");
            // The holder is preselected; an empty role has no initial user.
            assert_eq!(
                assign.get("initial_user"),
                role["holder"].as_str().map(|h| json!(h)).as_ref()
            );
        }
        let all = out.to_string();
        assert!(all.contains("*Incident commander*\\n<@U0BOB0001>"), "{all}");
        assert!(all.contains("*Technical lead*\\n_unassigned_"), "{all}");
    }

    #[test]
    fn the_control_message_fits_one_role_and_many_roles() {
        for n in [1, 21] {
            let mut data = view_model(false);
            let roles: Vec<Value> = (0..n)
                .map(|i| json!({"key": format!("role_{i}"), "label": format!("Role {i}"), "holder": null}))
                .collect();
            data["incident"]["roles"] = json!(roles);
            data["statuses"] = json!([data["incident"]["status"].clone()]);
            let out = render("control", &data);
            assert!(blocks_of(&out).len() <= 50, "{n} roles");
            // Status, severity, two per role, and Post update.
            assert_eq!(action_ids(&out).len(), 2 + 2 * n + 1);
        }
    }

    #[test]
    fn a_resolved_control_message_says_so_and_keeps_its_controls() {
        let open = render("control", &view_model(false));
        let resolved = render("control", &view_model(true));
        assert!(!open.to_string().contains("✅"));
        assert_eq!(resolved[0]["text"]["text"], "✅ inc-202611271530-www-down");
        assert_eq!(resolved[1]["type"], "context");
        assert!(
            resolved[1]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("Resolved")
        );
        // The same controls, but for a role held only once resolved, which
        // offers Release where the open one offers Claim.
        let roles_alike = |ids: Vec<String>| -> Vec<String> {
            ids.into_iter()
                .map(|id| id.replace(action::RELEASE_PREFIX, action::CLAIM_PREFIX))
                .collect()
        };
        assert_eq!(
            roles_alike(action_ids(&resolved)),
            roles_alike(action_ids(&open))
        );
        assert_eq!(
            element(&resolved, action::STATUS)["initial_option"]["value"],
            "resolved"
        );
    }

    #[test]
    fn the_digest_shows_the_incident_and_a_join_button() {
        let out = render("digest", &view_model(false));
        let all = out.to_string();
        assert_eq!(out[0]["text"]["text"], "🚨 inc-202611271530-www-down");
        for part in [
            "<#C0INC00042>",
            "*Status*\\nInvestigating",
            "*Severity*\\nSEV2",
            "<@U0ALICE01>, <!date^1795793400^{date_short_pretty} {time}|2026-11-27 15:30 UTC>",
            "*Incident commander*: <@U0BOB0001>\\n*Communications liaison*: _unassigned_\\n*Technical lead*: _unassigned_",
        ] {
            assert!(all.contains(part), "{part} in {all}");
        }
        let join = element(&out, action::JOIN);
        assert_eq!(join["url"], "https://acme.slack.com/archives/C0INC00042");
        assert_eq!(action_ids(&out), [action::JOIN]);
    }

    #[test]
    fn a_resolved_digest_looks_resolved() {
        let out = render("digest", &view_model(true));
        let all = out.to_string();
        assert_eq!(
            out[0]["text"]["text"],
            "✅ Resolved: inc-202611271530-www-down"
        );
        assert!(all.contains("*Status*\\n✅ Resolved"), "{all}");
        assert!(all.contains("This incident is resolved."), "{all}");
        assert!(!all.contains("🚨"), "{all}");
        assert!(element(&out, action::JOIN).get("style").is_none());
    }

    #[test]
    fn the_declared_reply_links_the_channel_and_mentions_the_call_only_when_set() {
        let with_call = render("declared", &Renderer::sample("declared").unwrap());
        let all = with_call.to_string();
        assert!(all.contains("I opened <#C0INC00042>"), "{all}");
        assert!(all.contains("claim *Incident commander*"), "{all}");
        assert!(all.contains("it is *SEV2* for now"), "{all}");
        assert_eq!(
            element(&with_call, action::CALL)["url"],
            "https://meet.example.com/inc-42"
        );

        let mut data = view_model(false);
        data["video_link"] = Value::Null;
        let without = render("declared", &data);
        assert_eq!(blocks_of(&without).len(), blocks_of(&with_call).len() - 1);
        assert!(!without.to_string().contains("Call"));
        assert!(action_ids(&without).is_empty());
    }

    #[test]
    fn an_empty_list_says_there_are_no_open_incidents() {
        let out = render("list", &list_of(0));
        assert_eq!(blocks_of(&out).len(), 1);
        assert_eq!(
            out[0]["text"]["text"],
            "There are no open incidents right now."
        );
    }

    #[test]
    fn a_list_of_one_shows_its_channel_status_severity_and_commander() {
        let out = render("list", &list_of(1));
        let all = out.to_string();
        assert_eq!(out[0]["text"]["text"], "Open incidents: 1");
        assert!(
            all.contains("<#C0INC00000> · *Investigating* · *SEV2* · open 2 hours 5 minutes\\nCheckout returns 502s\\nIncident commander: <@U0BOB0001> · declared <!date^1795793400^{date_short_pretty} {time}|2026-11-27 15:30 UTC>"),
            "{all}"
        );
        assert!(!all.contains("more"), "{all}");

        let out = render("list", &Renderer::sample("list").unwrap());
        assert!(out.to_string().contains("Incident commander: _nobody yet_"));
    }

    #[test]
    fn a_list_of_sixty_shows_45_and_counts_the_rest_within_50_blocks() {
        let out = render("list", &list_of(60));
        let blocks = blocks_of(&out);
        assert!(blocks.len() <= 50, "{}", blocks.len());
        assert_eq!(out[0]["text"]["text"], "Open incidents: 60");
        let sections = blocks.iter().filter(|b| b["type"] == "section").count();
        assert_eq!(sections, 45);
        assert!(out.to_string().contains("…and 15 more."));
    }

    #[test]
    fn a_status_change_names_who_and_both_values() {
        let out = render(
            "status_changed",
            &Renderer::sample("status_changed").unwrap(),
        );
        assert_eq!(
            out[0]["text"]["text"],
            "<@U0ALICE01> changed the status from *Investigating* to *Identified*."
        );
        let mut data = Renderer::sample("status_changed").unwrap();
        data["field"] = json!("severity");
        data["from"] = json!({"value": "sev4", "label": "SEV4"});
        data["to"] = json!({"value": "sev1", "label": "SEV1"});
        let out = render("status_changed", &data);
        assert_eq!(
            out[0]["text"]["text"],
            "<@U0ALICE01> changed the severity from *SEV4* to *SEV1*."
        );
    }

    #[test]
    fn a_role_line_tells_a_claim_from_an_assignment_and_names_the_previous_holder() {
        let text = |data: &Value| render("role_assigned", data)[0]["text"]["text"].clone();
        let mut data = Renderer::sample("role_assigned").unwrap();
        assert_eq!(
            text(&data),
            "<@U0ALICE01> assigned <@U0BOB0001> as *Incident commander* (was <@U0CAROL01>)."
        );
        data["previous"] = Value::Null;
        assert_eq!(
            text(&data),
            "<@U0ALICE01> assigned <@U0BOB0001> as *Incident commander*."
        );
        data["actor"] = json!("U0BOB0001");
        assert_eq!(text(&data), "<@U0BOB0001> claimed *Incident commander*.");
    }

    #[test]
    fn the_role_dm_gives_the_channel_the_duties_and_who_assigned_it() {
        let mut data = Renderer::sample("role_dm").unwrap();
        let out = render("role_dm", &data);
        let all = out.to_string();
        assert_eq!(
            out[0]["text"]["text"],
            "You are now *Incident commander* for <#C0INC00042>. <@U0ALICE01> assigned it to you. What it involves:"
        );
        let duties = Renderer::sample("role_dm").unwrap()["role"]["duties"].clone();
        assert_eq!(out[1]["text"]["text"], duties, "{all}");
        // The sample's commander is U0BOB0001: as the actor, it was a claim.
        data["actor"] = json!("U0BOB0001");
        let out = render("role_dm", &data);
        assert_eq!(
            out[0]["text"]["text"],
            "You are now *Incident commander* for <#C0INC00042>. You claimed it. What it involves:"
        );
    }

    #[test]
    fn the_resolution_message_names_who_resolved_it_and_has_a_checklist() {
        let out = render("resolved", &Renderer::sample("resolved").unwrap());
        let all = out.to_string();
        assert!(
            all.contains("<@U0BOB0001> marked this incident *resolved*"),
            "{all}"
        );
        assert!(all.contains("post-mortem"), "{all}");
        assert!(all.contains("reopen"), "{all}");
    }
}

/// Templates cannot import `crate::domain::block_ids`, so these tests keep
/// the ids the built-in templates write and the ids the code reads from
/// drifting apart, both ways.
mod block_ids {
    use serde_json::Value;

    use crate::domain::block_ids::{action, block, callback};
    use crate::render::*;

    /// Which built-in template writes which id, in which field. A prefix
    /// (claim, assign) is written once per role, followed by its key; the
    /// digest's, followed by the incident's id.
    const WRITTEN: &[(&str, &str, &str)] = &[
        ("control", "action_id", action::STATUS),
        ("control", "action_id", action::SEVERITY),
        ("control", "action_id", action::CLAIM_PREFIX),
        ("control", "action_id", action::ASSIGN_PREFIX),
        ("control", "action_id", action::RELEASE_PREFIX),
        ("digest", "action_id", action::JOIN),
        ("resolved", "action_id", action::POSTMORTEM),
        ("digest", "block_id", block::DIGEST_PREFIX),
        ("declared", "action_id", action::CALL),
        ("usage", "action_id", action::DECLARE_FORM),
        ("statuspage_prompt", "action_id", action::STATUSPAGE_OPEN),
        ("statuspage_message", "action_id", action::STATUSPAGE_UPDATE),
        ("provider_snapshot", "action_id", action::PROVIDERS_REFRESH),
        ("declare_modal", "callback_id", callback::DECLARE),
        ("declare_modal", "block_id", block::DESCRIPTION),
        ("declare_modal", "block_id", block::SEVERITY),
        ("declare_modal", "block_id", block::PRIVATE),
        (
            "statuspage_create",
            "callback_id",
            callback::STATUSPAGE_CREATE,
        ),
        ("statuspage_create", "block_id", block::SP_NAME),
        ("statuspage_create", "block_id", block::SP_BODY),
        ("statuspage_create", "block_id", block::SP_IMPACT),
        ("statuspage_create", "block_id", block::SP_COMPONENTS),
        ("statuspage_create", "block_id", block::SP_COMPONENT_STATUS),
        ("statuspage_create", "block_id", block::SP_NOTIFY),
        (
            "statuspage_update",
            "callback_id",
            callback::STATUSPAGE_UPDATE,
        ),
        ("statuspage_update", "block_id", block::SP_STATUS),
        ("statuspage_update", "block_id", block::SP_BODY),
        ("statuspage_update", "block_id", block::SP_NOTIFY),
        ("control", "action_id", action::POST_UPDATE),
        ("update_modal", "callback_id", callback::UPDATE),
        ("update_modal", "block_id", block::UPDATE_TEXT),
        ("update_modal", "block_id", block::UPDATE_STATUS),
    ];

    const PREFIXES: [&str; 4] = [
        action::CLAIM_PREFIX,
        action::ASSIGN_PREFIX,
        action::RELEASE_PREFIX,
        block::DIGEST_PREFIX,
    ];

    /// Whether `id` (as rendered) is the listed id `listed`.
    fn is(id: &str, listed: &str) -> bool {
        id == listed
            || PREFIXES.contains(&listed)
                && id.strip_prefix(listed).is_some_and(|key| !key.is_empty())
    }

    /// Every value of `field` in `v`, at any depth.
    fn collect(v: &Value, field: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(id)) = map.get(field) {
                    out.push(id.clone());
                }
                map.values().for_each(|v| collect(v, field, out));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, field, out)),
            _ => {}
        }
    }

    fn rendered(name: &str) -> Value {
        let data = Renderer::sample(name).unwrap();
        Renderer::load(None)
            .unwrap()
            .render(name, &data)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn every_id_the_code_reads_is_written_by_its_template() {
        for &(template, field, id) in WRITTEN {
            let mut found = Vec::new();
            collect(&rendered(template), field, &mut found);
            assert!(
                found.iter().any(|f| is(f, id)),
                "{template} writes no {field} {id}: {found:?}"
            );
        }
    }

    #[test]
    fn every_id_a_template_writes_is_one_the_code_reads() {
        for name in Renderer::names() {
            let out = rendered(name);
            for field in ["action_id", "block_id", "callback_id"] {
                let mut found = Vec::new();
                collect(&out, field, &mut found);
                for id in found {
                    let known = (field == "action_id" && id == action::INPUT)
                        || WRITTEN
                            .iter()
                            .any(|&(t, f, listed)| t == name && f == field && is(&id, listed));
                    assert!(
                        known,
                        "{name} writes {field} {id:?}, which is not in domain::block_ids \
                         (or not listed here as this template's)"
                    );
                }
            }
        }
    }

    #[test]
    fn every_modal_input_is_where_the_bus_reads_it() {
        for name in MODALS {
            let out = rendered(name);
            let inputs: Vec<&Value> = out["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["type"] == "input")
                .collect();
            assert!(!inputs.is_empty(), "{name}");
            for input in inputs {
                assert_eq!(
                    input["element"]["action_id"],
                    action::INPUT,
                    "{name}: {input}"
                );
            }
        }
    }
}

#[test]
fn a_private_incidents_digest_entry_shows_neither_name_description_nor_a_way_in() {
    let renderer = Renderer::load(None).unwrap();
    // The digest's samples: incident 42, then the same incident made
    // private, each through `Digest::new` as the publisher makes them.
    let samples: Vec<_> = crate::render::samples::all()
        .into_iter()
        .filter(|(template, _)| *template == "digest")
        .map(|(_, data)| data)
        .collect();
    assert_eq!(samples.len(), 2);
    let public = renderer.render("digest", &samples[0]).unwrap().to_string();
    assert!(public.contains("inc-202611271530-www-down"), "{public}");
    assert!(public.contains("janus.join"), "{public}");

    let private = renderer.render("digest", &samples[1]).unwrap().to_string();
    assert!(!private.contains("www-down"), "no channel name: {private}");
    assert!(
        !private.contains("channel"),
        "no channel mention: {private}"
    );
    assert!(!private.contains("janus.join"), "no Join button: {private}");
    assert!(!private.contains("archives"), "no link: {private}");
    assert!(private.contains("Private incident"), "{private}");
    assert!(private.contains("ask the commander"), "{private}");
    assert!(
        private.contains("U0BOB0001"),
        "the commander is named: {private}"
    );
}

#[test]
fn an_update_shows_who_the_escaped_text_and_the_new_status_in_the_channel_and_the_digest() {
    let renderer = Renderer::load(None).unwrap();
    let samples = crate::render::samples::all();
    let of = |name: &str| -> Vec<String> {
        samples
            .iter()
            .filter(|(template, _)| *template == name)
            .map(|(_, data)| renderer.render(name, data).unwrap().to_string())
            .collect()
    };
    let posted = &of("update_posted")[0];
    let reply = &of("update_reply")[0];
    let digest = &of("digest")[0];
    for shown in [posted, reply, digest] {
        assert!(shown.contains("<@U0BOB0001>"), "who: {shown}");
        assert!(shown.contains("Identified"), "the new status: {shown}");
        assert!(
            shown.contains("Rolled back the deploy &lt;!channel&gt;"),
            "{shown}"
        );
        assert!(!shown.contains("<!channel>"), "no ping: {shown}");
    }
    assert!(
        reply.contains("<#C0INC00042>"),
        "the reply links the channel: {reply}"
    );
    assert!(digest.contains("<!date^1795793520^"), "the time: {digest}");
}

#[test]
fn a_private_incidents_update_reply_and_digest_entry_never_carry_its_text() {
    let renderer = Renderer::load(None).unwrap();
    let samples = crate::render::samples::all();
    let rendered = |name: &str, i: usize| {
        let data = &samples.iter().filter(|(t, _)| *t == name).nth(i).unwrap().1;
        renderer.render(name, data).unwrap().to_string()
    };
    // The second sample of each is the private incident's.
    for shown in [rendered("update_reply", 1), rendered("digest", 1)] {
        assert!(!shown.contains("Rolled back"), "no text: {shown}");
        assert!(!shown.contains("C0INC00042"), "no channel: {shown}");
        assert!(shown.contains("<@U0BOB0001>"), "who: {shown}");
    }
    assert!(rendered("update_reply", 1).contains("private"));
    assert!(rendered("digest", 1).contains("Latest update"));
}

#[test]
fn a_private_incidents_update_reply_and_digest_data_carry_no_text_or_channel() {
    // Checked on the data, not the rendering: an operator's template that
    // shows `text` in the private branch still has nothing to show.
    let (posted, message) = crate::render::samples::private_update();
    assert!(!posted.text.is_empty(), "the sample has text to keep out");
    let reply = context::UpdateReply::new(&posted);
    assert!(reply.private);
    assert!(reply.text.is_empty(), "{reply:?}");
    assert_eq!(reply.channel_id, None);
    let update = context::UpdateView {
        actor: posted.actor.clone(),
        text: posted.text.clone(),
        status: None,
        at: String::new(),
    };
    let digest = context::Digest::new(message).with_update(Some(update));
    assert!(digest.latest_update.unwrap().text.is_empty());
}
