//! What Janus counts for `/metrics`, and the Prometheus text it renders.
//!
//! One [`Metrics`] per started app, shared as an `Arc` by whoever counts: the
//! socket layer (frames by type, ack latency, reconnects) and the Slack
//! client (Web API calls by method and result, 429s, timeouts). Not global statics,
//! because the integration tests run several Janus instances in one process
//! and each must report only its own.
//!
//! A hand-written registry rather than a metrics crate: a few series, known at
//! compile time, fit in less code than wiring a crate's registry through.
//! Label values come from this code (method names, frame types, Slack's
//! error codes), never from what users type, so cardinality stays small.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the ack latency buckets: an ack is written
/// within a millisecond when all is well, and must be within 3 s, where
/// Slack gives up on it; 1 s is already a problem.
pub const ACK_LATENCY_BUCKETS: [f64; 13] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The `type` label of frames received on a socket: a closed set, so the
/// reader counts with one atomic add (no lock, no allocation), and
/// dashboards see a zero instead of a missing series before the first of each.
const FRAME_TYPES: [&str; 8] = [
    "hello",
    "disconnect",
    "events_api",
    "slash_commands",
    "interactive",
    "other",
    "unknown",
    "invalid",
];
/// Where `other` sits in [`FRAME_TYPES`].
const OTHER_FRAME: usize = 5;

/// Counters and the ack latency histogram of one running Janus.
///
/// Every method takes `&self` and is cheap: they are called on the socket
/// reader's path, before the ack.
#[derive(Debug)]
pub struct Metrics {
    /// When this registry was made: the origin of `last_envelope`.
    started: Instant,
    /// Nanoseconds after `started` of the last envelope, plus one; 0 = none
    /// yet. An atomic so the reader never takes a lock for it.
    last_envelope: AtomicU64,
    reconnects: AtomicU64,
    /// Frame bytes of envelopes acked and not yet handled (the bus's
    /// memory budget in use).
    bus_held: AtomicU64,
    /// Envelopes read from a socket, and envelopes the bus is done with:
    /// equal when nothing read is still waiting or being handled.
    envelopes_read: AtomicU64,
    envelopes_settled: AtomicU64,
    frames: [AtomicU64; FRAME_TYPES.len()],
    api_calls: Labelled<2>,
    rate_limited: Labelled<1>,
    timeouts: Labelled<1>,
    refused: Labelled<1>,
    ack_latency: Histogram,
    to_commander: Durations,
    to_resolve: Durations,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry; every counter starts at zero.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            last_envelope: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            bus_held: AtomicU64::new(0),
            envelopes_read: AtomicU64::new(0),
            envelopes_settled: AtomicU64::new(0),
            frames: Default::default(),
            api_calls: Labelled::default(),
            rate_limited: Labelled::default(),
            timeouts: Labelled::default(),
            refused: Labelled::default(),
            ack_latency: Histogram::default(),
            to_commander: Durations::default(),
            to_resolve: Durations::default(),
        }
    }

    /// A text frame of type `kind` arrived on a socket (`hello`,
    /// `disconnect`, `events_api`…). Envelopes (anything with an
    /// `envelope_id`) also move the "last envelope" clock.
    pub fn frame_received(&self, kind: &'static str, is_envelope: bool) {
        // An unlisted kind is a bug in the caller; count it as `other`.
        let slot = FRAME_TYPES
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(OTHER_FRAME);
        self.frames[slot].fetch_add(1, Ordering::Relaxed);
        if is_envelope {
            self.envelopes_read.fetch_add(1, Ordering::Relaxed);
            let since = self.started.elapsed().as_nanos();
            let since = u64::try_from(since).unwrap_or(u64::MAX - 1);
            self.last_envelope.store(since + 1, Ordering::Relaxed);
        }
    }

    /// An ack was written to the socket `latency` after its frame was read.
    pub fn ack_written(&self, latency: Duration) {
        self.ack_latency.observe(latency.as_secs_f64());
    }

    /// An envelope or an action was refused: `foreign_app`, `foreign_team`
    /// (ignored envelopes), `guest`, `external_user` (people who may only
    /// follow incidents), `declaration_limit`.
    pub fn refused(&self, reason: &str) {
        self.refused.add([reason], 1);
    }

    /// An incident of `severity` got its first commander `seconds` after
    /// it was declared.
    pub fn first_commander(&self, severity: &str, seconds: f64) {
        self.to_commander.observe(severity, seconds);
    }

    /// An incident of `severity` was resolved `seconds` after it was
    /// declared.
    pub fn resolved(&self, severity: &str, seconds: f64) {
        self.to_resolve.observe(severity, seconds);
    }

    /// A socket was replaced by a new one (after a `disconnect`, a close,
    /// an error or silence).
    pub fn socket_reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// The bus took charge of (`true`) or finished with (`false`) an
    /// envelope of `bytes` frame bytes.
    pub fn bus_held(&self, bytes: u64, taken: bool) {
        if taken {
            self.bus_held.fetch_add(bytes, Ordering::Relaxed);
        } else {
            self.bus_held.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// The bus is done with an envelope: handled, ignored as a duplicate,
    /// or lost because the bus stopped.
    pub fn envelope_settled(&self) {
        // Release: whoever sees this count (`Running::wait_idle`) also sees
        // the tasks the handling spawned before it.
        self.envelopes_settled.fetch_add(1, Ordering::Release);
    }

    /// Envelopes the bus is done with since start (see [`crate::memory`]).
    pub fn envelopes_settled_total(&self) -> u64 {
        self.envelopes_settled.load(Ordering::Acquire)
    }

    /// Envelopes read from a socket that the bus is not done with yet (see
    /// `app::Running::wait_idle`).
    pub fn envelopes_in_flight(&self) -> u64 {
        let settled = self.envelopes_settled.load(Ordering::Acquire);
        self.envelopes_read
            .load(Ordering::Acquire)
            .saturating_sub(settled)
    }

    /// A Web API call ended: `result` is `ok`, Slack's error code, or one of
    /// the client's own failure words (see the `slack` module).
    pub fn api_call(&self, method: &str, result: &str) {
        self.api_calls.add([method, result], 1);
    }

    /// Slack answered a request to `method` with HTTP 429.
    pub fn rate_limited(&self, method: &str) {
        self.rate_limited.add([method], 1);
    }

    /// An attempt of a Slack call to `method` (or a `response_url` POST)
    /// got no answer within its timeout: counted apart from results so a
    /// dashboard sees a slow Slack (or a half-dead connection) even when a
    /// retry then succeeded.
    pub fn timed_out(&self, method: &str) {
        self.timeouts.add([method], 1);
    }

    /// How long ago the last envelope arrived; `None` before the first.
    pub fn last_envelope_age(&self) -> Option<Duration> {
        match self.last_envelope.load(Ordering::Relaxed) {
            0 => None,
            at => Some(
                self.started
                    .elapsed()
                    .saturating_sub(Duration::from_nanos(at - 1)),
            ),
        }
    }

    /// Everything, in Prometheus text exposition format 0.0.4. `gauges` are
    /// the values only known at scrape time.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "janus_envelopes_received_total",
            "Socket Mode frames received from Slack, by type (envelopes, hello, disconnect).",
            "counter",
        );
        for (kind, count) in FRAME_TYPES.iter().zip(&self.frames) {
            let labels = label_set(&[("type", kind)]);
            sample(
                &mut out,
                "janus_envelopes_received_total",
                &labels,
                count.load(Ordering::Relaxed),
            );
        }
        self.ack_latency.render(
            &mut out,
            "janus_ack_latency_seconds",
            "Time from reading an envelope off the socket to writing its ack.",
        );
        header(
            &mut out,
            "janus_socket_reconnects_total",
            "Sockets replaced by a new one, whatever the cause.",
            "counter",
        );
        sample(
            &mut out,
            "janus_socket_reconnects_total",
            "",
            self.reconnects.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "janus_sockets_connected",
            "Sockets open to Slack right now.",
            "gauge",
        );
        sample(
            &mut out,
            "janus_sockets_connected",
            "",
            gauges.sockets_connected,
        );
        header(
            &mut out,
            "janus_bus_held_bytes",
            "Frame bytes of envelopes acked and not yet handled; reading from Slack waits when this reaches the bus's budget (32 MiB).",
            "gauge",
        );
        sample(
            &mut out,
            "janus_bus_held_bytes",
            "",
            self.bus_held.load(Ordering::Relaxed),
        );
        self.api_calls.render(
            &mut out,
            "janus_slack_api_calls_total",
            "Slack Web API calls, by method and result (ok, Slack's error code, or a transport failure), after rate-limit retries.",
            ["method", "result"],
        );
        self.rate_limited.render(
            &mut out,
            "janus_slack_rate_limited_total",
            "HTTP 429 answers from the Slack Web API, by method (each blocks the method for every caller until Retry-After).",
            ["method"],
        );
        self.timeouts.render(
            &mut out,
            "janus_slack_timeouts_total",
            "Slack Web API attempts (and response_url posts) that got no answer within their timeout, by method; retry-safe methods are tried again.",
            ["method"],
        );
        self.refused.render(
            &mut out,
            "janus_refused_total",
            "Envelopes ignored because they were for another app or workspace, and actions refused to guests, people of other organisations or a declarer over the limit, by reason.",
            ["reason"],
        );
        self.to_commander.render(
            &mut out,
            "janus_incident_time_to_commander_seconds",
            "From an incident's declaration to its first commander (the first role), by severity; observed by the replica that handled the claim or assignment.",
        );
        self.to_resolve.render(
            &mut out,
            "janus_incident_time_to_resolve_seconds",
            "From an incident's declaration to its resolution (each time it is resolved), by severity; observed by the replica that announced it.",
        );
        // Left out when the store could not say: a made-up 0 would look like
        // a quiet day.
        if let Some(open) = gauges.open_incidents {
            header(
                &mut out,
                "janus_open_incidents",
                "Incidents declared and not resolved, read from the database at scrape time.",
                "gauge",
            );
            sample(&mut out, "janus_open_incidents", "", open);
        }
        out
    }
}

/// Values read at scrape time rather than counted.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Sockets open right now.
    pub sockets_connected: usize,
    /// Open incidents, or `None` when the store did not answer.
    pub open_incidents: Option<u64>,
}

/// A counter with `N` labels. A std `Mutex` (not tokio's): it is held for a
/// map update, never across an `.await`.
#[derive(Debug)]
struct Labelled<const N: usize> {
    values: Mutex<BTreeMap<[String; N], u64>>,
}

impl<const N: usize> Default for Labelled<N> {
    fn default() -> Self {
        Self {
            values: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<const N: usize> Labelled<N> {
    fn add(&self, labels: [&str; N], n: u64) {
        let key = labels.map(str::to_owned);
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        *values.entry(key).or_default() += n;
    }

    fn render(&self, out: &mut String, name: &str, help: &str, names: [&str; N]) {
        header(out, name, help, "counter");
        let values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        for (labels, value) in values.iter() {
            let pairs: Vec<(&str, &str)> = names
                .iter()
                .copied()
                .zip(labels.iter().map(String::as_str))
                .collect();
            sample(out, name, &label_set(&pairs), *value);
        }
    }
}

/// Cumulative buckets over [`ACK_LATENCY_BUCKETS`]. One lock for buckets,
/// sum and count together, so a scrape never sees a count that disagrees
/// with its `+Inf` bucket.
#[derive(Debug, Default)]
struct Histogram {
    state: Mutex<HistogramState>,
}

#[derive(Debug, Default)]
struct HistogramState {
    /// Per bucket (not cumulative); the last slot is above every bound.
    counts: [u64; ACK_LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&self, value: f64) {
        let slot = ACK_LATENCY_BUCKETS
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(ACK_LATENCY_BUCKETS.len());
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.counts[slot] += 1;
        state.sum += value;
        state.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "histogram");
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, n) in ACK_LATENCY_BUCKETS.iter().zip(state.counts) {
            cumulative += n;
            sample(
                out,
                &bucket,
                &label_set(&[("le", &bound.to_string())]),
                cumulative,
            );
        }
        sample(out, &bucket, &label_set(&[("le", "+Inf")]), state.count);
        let _ = writeln!(out, "{name}_sum {}", state.sum);
        sample(out, &format!("{name}_count"), "", state.count);
    }
}

/// Buckets of [`Durations`], in seconds: a minute to a week.
pub const DURATION_BUCKETS: [f64; 12] = [
    60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0,
    604800.0,
];

/// Histograms of incident durations over [`DURATION_BUCKETS`], one per
/// severity (few: the configured ones).
#[derive(Debug, Default)]
struct Durations {
    by_severity: Mutex<std::collections::BTreeMap<String, DurationState>>,
}

#[derive(Debug, Default, Clone)]
struct DurationState {
    /// Per bucket (not cumulative); the last slot is above every bound.
    counts: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Durations {
    fn observe(&self, severity: &str, seconds: f64) {
        let slot = DURATION_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        let mut all = self.by_severity.lock().unwrap_or_else(|p| p.into_inner());
        let state = all.entry(severity.to_owned()).or_default();
        state.counts[slot] += 1;
        state.sum += seconds;
        state.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "histogram");
        let all = self.by_severity.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = format!("{name}_bucket");
        for (severity, state) in all.iter() {
            let mut cumulative = 0;
            for (bound, n) in DURATION_BUCKETS.iter().zip(state.counts) {
                cumulative += n;
                let le = bound.to_string();
                sample(
                    out,
                    &bucket,
                    &label_set(&[("severity", severity), ("le", &le)]),
                    cumulative,
                );
            }
            let labels = label_set(&[("severity", severity)]);
            let inf = label_set(&[("severity", severity), ("le", "+Inf")]);
            sample(out, &bucket, &inf, state.count);
            sample(out, &format!("{name}_sum"), &labels, state.sum);
            sample(out, &format!("{name}_count"), &labels, state.count);
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', r"\\").replace('\n', r"\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

/// `{a="x",b="y"}`, with values escaped as the format asks: backslash,
/// double quote and newline.
fn label_set(pairs: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let value = value
            .replace('\\', r"\\")
            .replace('"', "\\\"")
            .replace('\n', r"\n");
        let _ = write!(out, "{name}=\"{value}\"");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample line's name, labels (unescaped) and value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// One sample line split into its parts, or why it is not valid
    /// exposition format.
    fn parse_sample(line: &str) -> Result<Sample, String> {
        let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
        let name_end = line
            .find(|c: char| !is_name_char(c))
            .ok_or_else(|| format!("no value: {line}"))?;
        let (name, mut rest) = line.split_at(name_end);
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("bad metric name: {line}"));
        }
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.chars();
            loop {
                let label: String = chars.by_ref().take_while(|c| *c != '=').collect();
                if label.is_empty() || !label.chars().all(is_name_char) {
                    return Err(format!("bad label name {label:?}: {line}"));
                }
                if chars.next() != Some('"') {
                    return Err(format!("label value not quoted: {line}"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some('\\') => value.push('\\'),
                            Some('"') => value.push('"'),
                            Some('n') => value.push('\n'),
                            other => return Err(format!("bad escape {other:?}: {line}")),
                        },
                        Some('"') => break,
                        Some('\n') => return Err(format!("raw newline: {line}")),
                        Some(c) => value.push(c),
                        None => return Err(format!("unterminated value: {line}")),
                    }
                }
                labels.push((label, value));
                match chars.next() {
                    Some(',') => continue,
                    Some('}') => break,
                    other => return Err(format!("expected , or }} not {other:?}: {line}")),
                }
            }
            rest = &line[line.len() - chars.as_str().len()..];
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space before the value: {line}"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| format!("bad value {v:?}: {line}"))?,
        };
        Ok((name.to_owned(), labels, value))
    }

    fn rendered() -> (Metrics, String) {
        let m = Metrics::new();
        m.frame_received("events_api", true);
        m.frame_received("hello", false);
        m.api_call("chat.postMessage", "ok");
        m.api_call("chat.postMessage", "ok");
        m.api_call("weird\"method\\with\nnewline", "channel_not_found");
        m.rate_limited("chat.postMessage");
        m.timed_out("chat.update");
        m.timed_out("chat.update");
        m.socket_reconnected();
        m.ack_written(Duration::from_micros(50));
        m.ack_written(Duration::from_millis(3));
        m.ack_written(Duration::from_secs(2));
        let text = m.render(&Gauges {
            sockets_connected: 2,
            open_incidents: Some(1),
        });
        (m, text)
    }

    #[test]
    fn every_line_is_a_comment_or_a_valid_sample_and_every_series_is_declared() {
        let (_, text) = rendered();
        let mut declared: Vec<(String, String)> = Vec::new();
        let mut helped: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(matches!(kind, "counter" | "gauge" | "histogram"), "{line}");
                declared.push((name.to_owned(), kind.to_owned()));
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(!help.is_empty(), "{line}");
                helped.push(name.to_owned());
                continue;
            }
            assert!(!line.starts_with('#'), "stray comment: {line}");
            let (name, _, _) = parse_sample(line).unwrap_or_else(|e| panic!("{e}"));
            let family = declared
                .last()
                .unwrap_or_else(|| panic!("sample before any TYPE: {line}"));
            let belongs = match family.1.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name == format!("{}{s}", family.0)),
                _ => name == family.0,
            };
            assert!(belongs, "{name} follows the TYPE of {}", family.0);
        }
        let names: Vec<&String> = declared.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            helped.iter().collect::<Vec<_>>(),
            "HELP and TYPE pair up"
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn label_values_are_escaped_and_read_back_as_given() {
        let (_, text) = rendered();
        let line = text
            .lines()
            .find(|l| l.contains("channel_not_found"))
            .expect("the odd method's line");
        assert!(!line.contains('\n'));
        let (_, labels, value) = parse_sample(line).unwrap();
        assert_eq!(
            labels[0],
            ("method".into(), "weird\"method\\with\nnewline".into())
        );
        assert_eq!(value, 1.0);
    }

    #[test]
    fn the_histogram_is_cumulative_and_its_count_matches_the_inf_bucket() {
        let (_, text) = rendered();
        let buckets: Vec<(String, f64)> = text
            .lines()
            .filter(|l| l.starts_with("janus_ack_latency_seconds_bucket"))
            .map(|l| {
                let (_, labels, v) = parse_sample(l).unwrap();
                (labels[0].1.clone(), v)
            })
            .collect();
        assert_eq!(buckets.len(), ACK_LATENCY_BUCKETS.len() + 1);
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
        assert_eq!(buckets[0], ("0.0001".into(), 1.0));
        assert_eq!(buckets.iter().find(|b| b.0 == "0.005").unwrap().1, 2.0);
        assert_eq!(buckets.iter().find(|b| b.0 == "1").unwrap().1, 2.0);
        assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), 3.0));
        assert!(
            text.contains("\njanus_ack_latency_seconds_count 3\n"),
            "{text}"
        );
        let sum = text
            .lines()
            .find_map(|l| l.strip_prefix("janus_ack_latency_seconds_sum "))
            .unwrap();
        let sum: f64 = sum.parse().unwrap();
        assert!((sum - 2.00305).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn counters_start_at_zero_for_known_frame_types_and_count_per_label() {
        let (m, text) = rendered();
        assert!(text.contains("janus_envelopes_received_total{type=\"slash_commands\"} 0\n"));
        assert!(text.contains("janus_envelopes_received_total{type=\"events_api\"} 1\n"));
        assert!(text.contains(
            "janus_slack_api_calls_total{method=\"chat.postMessage\",result=\"ok\"} 2\n"
        ));
        assert!(text.contains("janus_slack_rate_limited_total{method=\"chat.postMessage\"} 1\n"));
        assert!(text.contains("janus_slack_timeouts_total{method=\"chat.update\"} 2\n"));
        assert!(!text.contains("janus_slack_timeouts_total{method=\"chat.postMessage\"}"));
        assert!(text.contains("janus_socket_reconnects_total 1\n"));
        assert!(text.contains("janus_sockets_connected 2\n"));
        assert!(text.contains("janus_open_incidents 1\n"));
        assert!(m.last_envelope_age().is_some());
    }

    #[test]
    fn every_frame_type_has_its_own_counter_and_strays_count_as_other() {
        assert_eq!(FRAME_TYPES[OTHER_FRAME], "other");
        let m = Metrics::new();
        for kind in FRAME_TYPES {
            m.frame_received(kind, false);
        }
        m.frame_received("not-a-kind", false);
        let text = m.render(&Gauges::default());
        for kind in FRAME_TYPES {
            let expected = if kind == "other" { 2 } else { 1 };
            let line = format!("janus_envelopes_received_total{{type=\"{kind}\"}} {expected}\n");
            assert!(text.contains(&line), "{line:?} in {text}");
        }
    }

    #[test]
    fn an_unknown_open_incident_count_is_left_out_not_zero() {
        let m = Metrics::new();
        assert_eq!(m.last_envelope_age(), None);
        let text = m.render(&Gauges::default());
        assert!(!text.contains("janus_open_incidents"), "{text}");
    }
}
