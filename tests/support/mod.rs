//! Test support: the Slack fake, throwaway databases, and Janus started the
//! way `main` starts it.

pub mod closed_port;
pub mod connect_proxy;
pub mod db_proxy;
pub mod harness;
pub mod pg_tls;
pub mod providers_fake;
pub mod slack_fake;
pub mod statuspage_fake;
pub mod tls_front;
