//! Slack's real frames (tests/fixtures/payloads, see its README for where
//! each comes from) go through Janus: every envelope is acked in time, and
//! every payload types cleanly.

use std::path::PathBuf;
use std::time::Duration;

use janus::bus::event::{self, Event};
use janus::socket::frame::{self, Frame};
use serde_json::Value;

use crate::support::harness::TestApp;

fn fixtures() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/payloads");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("read fixture"))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 20, "fixtures missing from {dir:?}");
    out
}

#[test]
fn every_fixture_frame_parses_and_every_payload_types() {
    for (name, text) in fixtures() {
        match frame::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}")) {
            Frame::Envelope(raw) => {
                if let Event::Unparsed { reason } = event::classify(&raw.parse()) {
                    // The slack-go capture has its ids replaced by "redacted":
                    // Janus rightly refuses those as ids.
                    assert!(name == "events_api_app_mention.json", "{name}: {reason}");
                }
            }
            Frame::Hello(_) => assert!(name.starts_with("hello"), "{name}"),
            Frame::Disconnect(_) => assert!(name.starts_with("disconnect"), "{name}"),
            Frame::Unknown(raw) => panic!("{name}: not recognised: {raw}"),
        }
    }
}

#[tokio::test]
async fn every_fixture_envelope_is_acked_well_within_three_seconds() {
    let app = TestApp::spawn().await;
    let mut sent = Vec::new();
    for (name, text) in fixtures() {
        let value: Value = serde_json::from_str(&text).unwrap();
        if value.get("envelope_id").is_none() {
            continue;
        }
        // Fixtures share envelope ids between files; make each delivery unique.
        let mut value = value;
        let id = format!("{}-{name}", value["envelope_id"].as_str().unwrap());
        value["envelope_id"] = id.clone().into();
        // Answers go to the fake, never to the real Slack in a fixture.
        if value["payload"].get("response_url").is_some() {
            value["payload"]["response_url"] = app.slack.response_url().into();
        }
        app.slack.send_envelope(value).await;
        sent.push((name, id));
    }
    for (name, id) in sent {
        // Slack's deadline; wait_ack panics past it.
        let ack = app.slack.wait_ack(&id, Duration::from_secs(3)).await;
        assert_eq!(ack.envelope_id, id, "{name}");
    }
}
