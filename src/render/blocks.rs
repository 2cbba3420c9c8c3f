//! Block Kit validation: the rendered JSON must be something Slack accepts.
//!
//! Slack answers a bad payload with a bare `invalid_blocks`, at the moment an
//! incident is being declared. Checking the shape and Slack's length limits
//! here turns that into a start-up error with a JSON path, e.g.
//! `blocks[3].text.text is 3012 characters; Slack allows 3000`.
//!
//! This is not a full Block Kit schema: it checks what a template can get
//! wrong (block and element types, text objects, the documented limits) and
//! lets unknown optional fields through. Lengths are counted in characters,
//! as Slack documents them.

use std::fmt;

use serde_json::{Map, Value};

/// What a template produces, which decides the top-level shape and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// A JSON array of blocks for `chat.postMessage` / `chat.update` /
    /// an ephemeral reply: at most 50 blocks.
    Message,
    /// A whole modal view object (`{"type": "modal", "title": …, "blocks":
    /// […]}`) for `views.open`: at most 100 blocks.
    Modal,
}

/// Where the output breaks a rule, and which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlocksError {
    /// JSON path from the root, e.g. `blocks[3].text.text`.
    pub path: String,
    /// What is wrong, e.g. `is 3012 characters; Slack allows 3000`.
    pub reason: String,
}

impl fmt::Display for BlocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path, self.reason)
    }
}

impl std::error::Error for BlocksError {}

pub const MAX_MESSAGE_BLOCKS: usize = 50;
pub const MAX_MODAL_BLOCKS: usize = 100;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_SECTION_FIELDS: usize = 10;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_HEADER_TEXT: usize = 150;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_BUTTON_VALUE: usize = 2000;
pub const MAX_BUTTON_URL: usize = 3000;
pub const MAX_ID: usize = 255;
pub const MAX_ACTIONS_ELEMENTS: usize = 25;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;
pub const MAX_PLACEHOLDER: usize = 150;
pub const MAX_OPTIONS: usize = 100;
pub const MAX_OPTION_TEXT: usize = 75;
pub const MAX_OPTION_VALUE: usize = 150;
pub const MAX_LABEL: usize = 2000;
pub const MAX_ALT_TEXT: usize = 2000;
pub const MAX_MARKDOWN_BLOCK: usize = 12000;
pub const MAX_MODAL_TITLE: usize = 24;
pub const MAX_PRIVATE_METADATA: usize = 3000;

const BLOCK_TYPES: &[&str] = &[
    "section",
    "header",
    "divider",
    "actions",
    "context",
    "image",
    "input",
    "rich_text",
    "file",
    "video",
    "markdown",
];

const ELEMENT_TYPES: &[&str] = &[
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "email_text_input",
    "external_select",
    "file_input",
    "image",
    "multi_channels_select",
    "multi_conversations_select",
    "multi_external_select",
    "multi_static_select",
    "multi_users_select",
    "number_input",
    "overflow",
    "plain_text_input",
    "radio_buttons",
    "rich_text_input",
    "static_select",
    "channels_select",
    "conversations_select",
    "timepicker",
    "url_text_input",
    "users_select",
    "workflow_button",
];

type Result<T = ()> = std::result::Result<T, BlocksError>;

/// Check a rendered template's output for `surface`.
pub fn validate(surface: Surface, output: &Value) -> Result {
    match surface {
        Surface::Message => validate_blocks("blocks", output, MAX_MESSAGE_BLOCKS),
        Surface::Modal => validate_modal(output),
    }
}

fn err(path: &str, reason: impl Into<String>) -> BlocksError {
    BlocksError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn as_object<'a>(path: &str, v: &'a Value) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| err(path, format!("must be an object, not {}", kind(v))))
}

fn as_array<'a>(path: &str, v: &'a Value) -> Result<&'a Vec<Value>> {
    v.as_array()
        .ok_or_else(|| err(path, format!("must be an array, not {}", kind(v))))
}

fn as_str<'a>(path: &str, v: &'a Value) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| err(path, format!("must be a string, not {}", kind(v))))
}

fn required<'a>(path: &str, obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value> {
    obj.get(key)
        .ok_or_else(|| err(path, format!("needs a `{key}` field")))
}

fn check_len(path: &str, s: &str, max: usize) -> Result {
    let n = s.chars().count();
    if n > max {
        return Err(err(path, format!("is {n} characters; Slack allows {max}")));
    }
    Ok(())
}

/// Slack rejects empty lists as well as long ones.
fn check_count(path: &str, items: &[Value], what: &str, max: usize) -> Result {
    let n = items.len();
    if n == 0 {
        return Err(err(path, "is empty; Slack needs at least one"));
    }
    if n > max {
        return Err(err(path, format!("has {n} {what}; Slack allows {max}")));
    }
    Ok(())
}

/// An optional string field with a length limit.
fn optional_str(path: &str, obj: &Map<String, Value>, key: &str, max: usize) -> Result {
    match obj.get(key) {
        Some(v) => {
            let p = format!("{path}.{key}");
            check_len(&p, as_str(&p, v)?, max)
        }
        None => Ok(()),
    }
}

fn type_of<'a>(path: &str, obj: &'a Map<String, Value>) -> Result<&'a str> {
    let v = required(path, obj, "type")?;
    as_str(&format!("{path}.type"), v)
}

#[derive(Clone, Copy)]
enum TextKind {
    PlainOnly,
    Any,
}

/// A composition text object: `{"type": "plain_text"|"mrkdwn", "text": …}`.
fn text_object(path: &str, v: &Value, kind: TextKind, max: usize) -> Result {
    let obj = as_object(path, v)?;
    let ty = type_of(path, obj)?;
    match (ty, kind) {
        ("plain_text", _) | ("mrkdwn", TextKind::Any) => {}
        ("mrkdwn", TextKind::PlainOnly) => {
            return Err(err(
                &format!("{path}.type"),
                "must be \"plain_text\" here, not \"mrkdwn\"",
            ));
        }
        (other, _) => {
            return Err(err(
                &format!("{path}.type"),
                format!("is {other:?}; a text object is \"plain_text\" or \"mrkdwn\""),
            ));
        }
    }
    let p = format!("{path}.text");
    let text = as_str(&p, required(path, obj, "text")?)?;
    if text.is_empty() {
        return Err(err(&p, "is empty; Slack needs at least 1 character"));
    }
    check_len(&p, text, max)
}

fn optional_text(
    path: &str,
    obj: &Map<String, Value>,
    key: &str,
    kind: TextKind,
    max: usize,
) -> Result {
    match obj.get(key) {
        Some(v) => text_object(&format!("{path}.{key}"), v, kind, max),
        None => Ok(()),
    }
}

pub fn validate_blocks(path: &str, v: &Value, max_blocks: usize) -> Result {
    let blocks = as_array(path, v)?;
    check_count(path, blocks, "blocks", max_blocks)?;
    for (i, block) in blocks.iter().enumerate() {
        validate_block(&format!("{path}[{i}]"), block)?;
    }
    Ok(())
}

fn validate_block(path: &str, v: &Value) -> Result {
    let obj = as_object(path, v)?;
    let ty = type_of(path, obj)?;
    if !BLOCK_TYPES.contains(&ty) {
        return Err(err(
            &format!("{path}.type"),
            format!(
                "is {ty:?}, not a block type Slack knows ({})",
                BLOCK_TYPES.join(", ")
            ),
        ));
    }
    optional_str(path, obj, "block_id", MAX_ID)?;
    match ty {
        "section" => section(path, obj),
        "header" => text_object(
            &format!("{path}.text"),
            required(path, obj, "text")?,
            TextKind::PlainOnly,
            MAX_HEADER_TEXT,
        ),
        "actions" => {
            let p = format!("{path}.elements");
            let elements = as_array(&p, required(path, obj, "elements")?)?;
            check_count(&p, elements, "elements", MAX_ACTIONS_ELEMENTS)?;
            for (i, e) in elements.iter().enumerate() {
                element(&format!("{p}[{i}]"), e)?;
            }
            Ok(())
        }
        "context" => {
            let p = format!("{path}.elements");
            let elements = as_array(&p, required(path, obj, "elements")?)?;
            check_count(&p, elements, "elements", MAX_CONTEXT_ELEMENTS)?;
            for (i, e) in elements.iter().enumerate() {
                let ep = format!("{p}[{i}]");
                let eo = as_object(&ep, e)?;
                if type_of(&ep, eo)? == "image" {
                    image(&ep, eo)?;
                } else {
                    text_object(&ep, e, TextKind::Any, MAX_SECTION_TEXT)?;
                }
            }
            Ok(())
        }
        "image" => {
            image(path, obj)?;
            optional_text(path, obj, "title", TextKind::PlainOnly, MAX_LABEL)
        }
        "input" => {
            text_object(
                &format!("{path}.label"),
                required(path, obj, "label")?,
                TextKind::PlainOnly,
                MAX_LABEL,
            )?;
            optional_text(path, obj, "hint", TextKind::PlainOnly, MAX_LABEL)?;
            element(&format!("{path}.element"), required(path, obj, "element")?)
        }
        "markdown" => {
            let p = format!("{path}.text");
            check_len(
                &p,
                as_str(&p, required(path, obj, "text")?)?,
                MAX_MARKDOWN_BLOCK,
            )
        }
        // divider, rich_text, file, video: the type and block_id are all we check.
        _ => Ok(()),
    }
}

fn section(path: &str, obj: &Map<String, Value>) -> Result {
    let text = obj.get("text");
    let fields = obj.get("fields");
    if text.is_none() && fields.is_none() {
        return Err(err(path, "is a section with neither `text` nor `fields`"));
    }
    if let Some(t) = text {
        text_object(&format!("{path}.text"), t, TextKind::Any, MAX_SECTION_TEXT)?;
    }
    if let Some(f) = fields {
        let p = format!("{path}.fields");
        let fields = as_array(&p, f)?;
        check_count(&p, fields, "fields", MAX_SECTION_FIELDS)?;
        for (i, field) in fields.iter().enumerate() {
            text_object(&format!("{p}[{i}]"), field, TextKind::Any, MAX_FIELD_TEXT)?;
        }
    }
    if let Some(accessory) = obj.get("accessory") {
        element(&format!("{path}.accessory"), accessory)?;
    }
    Ok(())
}

fn image(path: &str, obj: &Map<String, Value>) -> Result {
    if !obj.contains_key("image_url") && !obj.contains_key("slack_file") {
        return Err(err(
            path,
            "is an image with neither `image_url` nor `slack_file`",
        ));
    }
    let p = format!("{path}.alt_text");
    check_len(
        &p,
        as_str(&p, required(path, obj, "alt_text")?)?,
        MAX_ALT_TEXT,
    )
}

/// An interactive element (button, select, input…).
fn element(path: &str, v: &Value) -> Result {
    let obj = as_object(path, v)?;
    let ty = type_of(path, obj)?;
    if !ELEMENT_TYPES.contains(&ty) {
        return Err(err(
            &format!("{path}.type"),
            format!("is {ty:?}, not an element type Slack knows"),
        ));
    }
    optional_str(path, obj, "action_id", MAX_ID)?;
    optional_text(
        path,
        obj,
        "placeholder",
        TextKind::PlainOnly,
        MAX_PLACEHOLDER,
    )?;
    match ty {
        "button" => {
            text_object(
                &format!("{path}.text"),
                required(path, obj, "text")?,
                TextKind::PlainOnly,
                MAX_BUTTON_TEXT,
            )?;
            optional_str(path, obj, "value", MAX_BUTTON_VALUE)?;
            optional_str(path, obj, "url", MAX_BUTTON_URL)?;
            if let Some(style) = obj.get("style") {
                let p = format!("{path}.style");
                let style = as_str(&p, style)?;
                if style != "primary" && style != "danger" {
                    return Err(err(
                        &p,
                        format!("is {style:?}; Slack allows \"primary\" or \"danger\""),
                    ));
                }
            }
            Ok(())
        }
        "image" => image(path, obj),
        _ => {
            for key in ["options", "initial_options"] {
                if let Some(options) = obj.get(key) {
                    let p = format!("{path}.{key}");
                    let options = as_array(&p, options)?;
                    check_count(&p, options, "options", MAX_OPTIONS)?;
                    for (i, o) in options.iter().enumerate() {
                        option(&format!("{p}[{i}]"), o)?;
                    }
                }
            }
            if let Some(o) = obj.get("initial_option") {
                option(&format!("{path}.initial_option"), o)?;
            }
            Ok(())
        }
    }
}

fn option(path: &str, v: &Value) -> Result {
    let obj = as_object(path, v)?;
    text_object(
        &format!("{path}.text"),
        required(path, obj, "text")?,
        TextKind::Any,
        MAX_OPTION_TEXT,
    )?;
    let p = format!("{path}.value");
    check_len(
        &p,
        as_str(&p, required(path, obj, "value")?)?,
        MAX_OPTION_VALUE,
    )
}

fn validate_modal(v: &Value) -> Result {
    let path = "view";
    let obj = as_object(path, v)?;
    let ty = type_of(path, obj)?;
    if ty != "modal" {
        return Err(err("view.type", format!("is {ty:?}; expected \"modal\"")));
    }
    text_object(
        "view.title",
        required(path, obj, "title")?,
        TextKind::PlainOnly,
        MAX_MODAL_TITLE,
    )?;
    optional_text(path, obj, "submit", TextKind::PlainOnly, MAX_MODAL_TITLE)?;
    optional_text(path, obj, "close", TextKind::PlainOnly, MAX_MODAL_TITLE)?;
    optional_str(path, obj, "callback_id", MAX_ID)?;
    optional_str(path, obj, "external_id", MAX_ID)?;
    optional_str(path, obj, "private_metadata", MAX_PRIVATE_METADATA)?;
    validate_blocks(
        "view.blocks",
        required(path, obj, "blocks")?,
        MAX_MODAL_BLOCKS,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(v: Value) -> String {
        validate(Surface::Message, &v).unwrap_err().to_string()
    }

    fn section(text: &str) -> Value {
        json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    }

    fn button(text: &str) -> Value {
        json!({"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": "a"})
    }

    #[test]
    fn a_plain_message_is_accepted() {
        let v = json!([
            {"type": "header", "text": {"type": "plain_text", "text": "Incident"}},
            section("*sev1* investigating"),
            {"type": "divider"},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "a"}]},
            {"type": "actions", "elements": [button("Claim"), {
                "type": "static_select", "action_id": "status",
                "placeholder": {"type": "plain_text", "text": "Status"},
                "options": [{"text": {"type": "plain_text", "text": "resolved"}, "value": "resolved"}]
            }]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "hint"}]},
        ]);
        validate(Surface::Message, &v).unwrap();
    }

    #[test]
    fn the_output_must_be_an_array() {
        assert_eq!(
            message(json!({"blocks": []})),
            "blocks must be an array, not an object"
        );
        assert_eq!(
            message(json!([])),
            "blocks is empty; Slack needs at least one"
        );
    }

    #[test]
    fn section_text_over_3000_characters_is_rejected_with_its_path() {
        let ok = "é".repeat(3000);
        validate(Surface::Message, &json!([section(&ok)])).unwrap();
        let v = json!([{"type": "divider"}, {"type": "divider"}, {"type": "divider"}, section(&"x".repeat(3012))]);
        assert_eq!(
            message(v),
            "blocks[3].text.text is 3012 characters; Slack allows 3000"
        );
    }

    #[test]
    fn more_than_50_blocks_are_rejected() {
        let v = Value::Array(vec![json!({"type": "divider"}); 51]);
        assert_eq!(message(v), "blocks has 51 blocks; Slack allows 50");
    }

    #[test]
    fn a_header_over_150_characters_is_rejected() {
        let v =
            json!([{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]);
        assert_eq!(
            message(v),
            "blocks[0].text.text is 151 characters; Slack allows 150"
        );
    }

    #[test]
    fn a_mrkdwn_header_is_rejected() {
        let v = json!([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]);
        assert_eq!(
            message(v),
            "blocks[0].text.type must be \"plain_text\" here, not \"mrkdwn\""
        );
    }

    #[test]
    fn button_text_over_75_characters_is_rejected() {
        let v = json!([{"type": "actions", "elements": [button("ok"), button(&"b".repeat(76))]}]);
        assert_eq!(
            message(v),
            "blocks[0].elements[1].text.text is 76 characters; Slack allows 75"
        );
    }

    #[test]
    fn a_button_value_over_2000_characters_is_rejected() {
        let mut b = button("ok");
        b["value"] = json!("v".repeat(2001));
        let v =
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "t"}, "accessory": b}]);
        assert_eq!(
            message(v),
            "blocks[0].accessory.value is 2001 characters; Slack allows 2000"
        );
    }

    #[test]
    fn an_unknown_block_type_is_rejected() {
        let v = json!([{"type": "sektion"}]);
        assert!(
            message(v).starts_with("blocks[0].type is \"sektion\", not a block type Slack knows")
        );
        assert_eq!(
            message(json!([{"text": "x"}])),
            "blocks[0] needs a `type` field"
        );
    }

    #[test]
    fn ids_over_255_characters_are_rejected() {
        let mut s = section("t");
        s["block_id"] = json!("i".repeat(256));
        assert_eq!(
            message(json!([s])),
            "blocks[0].block_id is 256 characters; Slack allows 255"
        );
        let mut b = button("ok");
        b["action_id"] = json!("a".repeat(256));
        assert_eq!(
            message(json!([{"type": "actions", "elements": [b]}])),
            "blocks[0].elements[0].action_id is 256 characters; Slack allows 255"
        );
    }

    #[test]
    fn too_many_fields_and_elements_are_rejected() {
        let field = json!({"type": "mrkdwn", "text": "f"});
        let v = json!([{"type": "section", "fields": vec![field.clone(); 11]}]);
        assert_eq!(
            message(v),
            "blocks[0].fields has 11 fields; Slack allows 10"
        );
        let v =
            json!([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f".repeat(2001)}]}]);
        assert_eq!(
            message(v),
            "blocks[0].fields[0].text is 2001 characters; Slack allows 2000"
        );
        let v = json!([{"type": "actions", "elements": vec![button("b"); 26]}]);
        assert_eq!(
            message(v),
            "blocks[0].elements has 26 elements; Slack allows 25"
        );
        let v = json!([{"type": "context", "elements": vec![field; 11]}]);
        assert_eq!(
            message(v),
            "blocks[0].elements has 11 elements; Slack allows 10"
        );
    }

    #[test]
    fn text_objects_need_a_known_type_and_a_string_text() {
        let v = json!([{"type": "section", "text": {"type": "markdown", "text": "x"}}]);
        assert_eq!(
            message(v),
            "blocks[0].text.type is \"markdown\"; a text object is \"plain_text\" or \"mrkdwn\""
        );
        let v = json!([{"type": "section", "text": {"type": "mrkdwn", "text": 3}}]);
        assert_eq!(
            message(v),
            "blocks[0].text.text must be a string, not a number"
        );
        let v = json!([{"type": "section", "text": "plain string"}]);
        assert_eq!(message(v), "blocks[0].text must be an object, not a string");
        assert_eq!(
            message(json!([section("")])),
            "blocks[0].text.text is empty; Slack needs at least 1 character"
        );
    }

    #[test]
    fn a_modal_is_checked_as_a_view() {
        let v = json!({
            "type": "modal",
            "title": {"type": "plain_text", "text": "Statuspage"},
            "blocks": [section("hello")]
        });
        validate(Surface::Modal, &v).unwrap();
        let mut long = v.clone();
        long["title"]["text"] = json!("t".repeat(25));
        assert_eq!(
            validate(Surface::Modal, &long).unwrap_err().to_string(),
            "view.title.text is 25 characters; Slack allows 24"
        );
    }
}
