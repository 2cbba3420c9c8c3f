//! Integration tests: the real Janus against the Slack fake on loopback and
//! a fresh database per test (SQLite unless `JANUS_TEST_STORE=postgres`,
//! Postgres always where a test needs it). One binary, so it links once.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod commands;
mod controls;
mod db_tls;
mod declare;
mod default_store;
mod doctor;
mod export;
mod fixtures;
mod health;
mod hostile;
mod integrations;
mod isolation;
mod kubernetes;
mod payloads;
mod pinned;
mod providers;
mod proxy;
mod react;
mod reminders;
mod slack_client;
mod socket_mode;
mod start;
mod statuspage;
mod statuspage_follow;
mod statuspage_slack;
mod store;
mod timeline;
mod trust;
mod updates;
