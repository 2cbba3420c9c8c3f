//! Hostile input: whatever arrives on a socket or in a description, nothing
//! panics, every envelope id is found, and user text cannot ping or break
//! JSON.

use janus::bus::event;
use janus::domain::incident::IncidentName;
use janus::domain::text::SlackText;
use janus::socket::frame::{self, Frame};
use proptest::prelude::*;
use serde_json::json;

fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("event".to_owned()),
                    Just("channel".to_owned()),
                    Just("user".to_owned()),
                    Just("actions".to_owned()),
                    Just("view".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_text_frame_panics_the_parser(text in ".{0,2000}") {
        let _ = frame::parse(&text);
    }

    #[test]
    fn any_payload_of_any_envelope_type_is_typed_without_panicking(
        kind in prop_oneof![Just("events_api"), Just("slash_commands"), Just("interactive"), Just("mystery")],
        payload in any_json(),
    ) {
        let text = json!({
            "envelope_id": "e-1", "type": kind, "payload": payload,
            "accepts_response_payload": true,
        })
        .to_string();
        match frame::parse(&text) {
            Ok(Frame::Envelope(raw)) => {
                prop_assert_eq!(&raw.envelope_id, "e-1");
                let envelope = raw.parse();
                let _ = event::classify(&envelope);
                let _ = event::route(&envelope, "pushpin");
                let _ = event::dedupe_key(&envelope);
            }
            other => prop_assert!(false, "no envelope: {:?}", other),
        }
    }

    #[test]
    fn any_description_gives_a_valid_channel_name(description in "\\PC{0,300}") {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap().and_hms_opt(9, 5, 0).unwrap();
        let name = IncidentName::new(at, &description, "abc123").unwrap();
        let name = name.as_str();
        prop_assert!(name.len() <= 80, "{}", name);
        prop_assert!(name.starts_with("inc-202611270905-"), "{}", name);
        prop_assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}", name
        );
        prop_assert!(!name.ends_with('-'), "{}", name);
    }

    #[test]
    fn escaped_user_text_never_carries_a_mention_or_a_link(text in ".{0,500}") {
        let escaped = SlackText::from_user(&text);
        prop_assert!(!escaped.as_str().contains('<'));
        prop_assert!(!escaped.as_str().contains('>'));
    }
}

#[test]
fn every_ping_form_is_neutralised() {
    for ping in [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U0123ABCD>",
        "<!subteam^S0123|@oncall>",
        "<https://evil.example|click>",
    ] {
        let escaped = SlackText::from_user(ping);
        assert!(!escaped.as_str().contains('<'), "{ping}");
        let from_slack = SlackText::from_slack(ping);
        assert!(!from_slack.as_str().contains('<'), "{ping}");
    }
}
