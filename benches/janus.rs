//! `cargo bench --bench janus [-- SCENARIO…]`: the figures issue #7 asks
//! for, measured on the real release binary against the in-repo Slack fake
//! on loopback and a real Postgres (or the embedded SQLite default).
//!
//! Scenarios (all by default, in this order): `size`, `start`, `declare`,
//! `ack`, `burst`, `clicks`, `rss`, `memory`. Each starts its own fake,
//! database and `janus` process, so one scenario's backlog never leaks into
//! the next.
//!
//! `ack` and `memory` also run an ack-only client (this binary again, with
//! `--ack-only-client`: it opens the sockets and acks every envelope, and
//! does nothing else) on the same fake, so Janus's figures are read as a
//! ratio to the floor the machine and the fake allow in the same run.
//!
//! Why a subprocess and not `janus::app::start` in this process: the fake
//! runs here, and sharing one tokio runtime with it would charge the fake's
//! work to the bot's ack latency. A subprocess is also what RSS and start
//! time must be read from. The price: Janus's own metrics are not at hand,
//! so every figure is what Slack (the fake) observes from outside.
//!
//! Timings depend on the machine and its load. To profile, point
//! `JANUS_BENCH_BINARY` at a build with symbols and run this under `perf
//! record` (see BENCHMARKS.md).

#[path = "../tests/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

#[path = "../tests/integration/payloads.rs"]
#[allow(dead_code)]
mod payloads;

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use payloads::{ALICE, BOB, BOT};
use support::harness::{TestDb, all_text};
use support::slack_fake::{self, ApiCall, FakeSlack, Fault};

/// The release binary `cargo bench` built alongside this target, unless
/// `JANUS_BENCH_BINARY` names another (a build with symbols, to profile).
fn janus_binary() -> String {
    std::env::var("JANUS_BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_janus").to_owned())
}

/// Long enough for a loaded 2-core box; a scenario that needs more failed.
const WAIT: Duration = Duration::from_secs(60);
/// Calls made once per process (not per declaration): left out of counts.
const STARTUP_METHODS: [&str; 2] = ["apps.connections.open", "auth.test"];

/// Slack's published tiers (calls per minute) for every method a plain
/// declaration may call. `chat.postMessage` is absent on purpose: Slack
/// limits it per channel (about one per second, bursts allowed), which the
/// fake's per-method tiers cannot express.
const SLACK_TIERS: [(&str, usize); 12] = [
    ("conversations.create", 20),     // Tier 2
    ("conversations.invite", 50),     // Tier 3
    ("conversations.join", 50),       // Tier 3
    ("conversations.list", 20),       // Tier 2
    ("conversations.info", 50),       // Tier 3
    ("conversations.setTopic", 20),   // Tier 2
    ("conversations.setPurpose", 20), // Tier 2
    ("pins.add", 20),                 // Tier 2
    ("bookmarks.add", 20),            // Tier 2
    ("chat.update", 50),              // Tier 3
    ("chat.postEphemeral", 100),      // Tier 4
    ("users.info", 100),              // Tier 4
];
/// The tier windows are a minute divided by this, so the 100-declaration
/// burst takes seconds instead of minutes; the minimum scales the same way.
const TIER_SCALE: u32 = 10;

/// One row of the final table.
struct Row {
    scenario: String,
    metric: String,
    value: String,
    target: String,
}

#[derive(Default)]
struct Table(Vec<Row>);

impl Table {
    fn add(&mut self, scenario: &str, metric: &str, value: String, target: &str) {
        println!("  {scenario} | {metric} | {value} | {target}");
        self.0.push(Row {
            scenario: scenario.into(),
            metric: metric.into(),
            value,
            target: target.into(),
        });
    }

    fn print(&self) {
        println!("\n| scenario | metric | value | target |");
        println!("|---|---|---|---|");
        for r in &self.0 {
            println!(
                "| {} | {} | {} | {} |",
                r.scenario, r.metric, r.value, r.target
            );
        }
    }
}

fn main() {
    janus::install_crypto_provider();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == ACK_ONLY_FLAG) {
        ack_only_client(&args[at + 1], args[at + 2].parse().expect("a socket count"));
    }
    // `cargo bench` passes `--bench`; anything not starting with `-` names a
    // scenario.
    let wanted: Vec<String> = args.into_iter().filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut table = Table::default();
    println!("janus bench: binary {}", janus_binary());
    if run("size") {
        size(&mut table);
    }
    rt.block_on(async {
        if run("start") {
            start(&mut table).await;
        }
        if run("declare") {
            declare_one(&mut table, Duration::ZERO).await;
            declare_one(&mut table, Duration::from_millis(50)).await;
        }
        if run("ack") {
            ack_burst(&mut table, 500).await;
            ack_burst(&mut table, 5_000).await;
        }
        if run("burst") {
            declaration_burst(&mut table, 100).await;
        }
        if run("clicks") {
            click_latency(&mut table, Duration::from_millis(50)).await;
        }
        if run("rss") {
            rss(&mut table, 1_000).await;
        }
        if run("memory") {
            memory_after_bursts(&mut table).await;
        }
    });
    table.print();
}

// ---- the bot as a process ----------------------------------------------------

/// Where the bot keeps its incidents.
enum Store<'a> {
    /// A Postgres URL.
    Postgres(&'a str),
    /// No database setting: `janus.db` in the working directory.
    SqliteDefault,
}

/// A running `janus run`, killed on drop. Its log goes to a file in its
/// working directory, printed if the bot dies under us.
struct Bot {
    child: Child,
    dir: tempfile::TempDir,
    spawned_at: Instant,
}

impl Bot {
    fn spawn(slack: &FakeSlack, store: Store<'_>) -> Bot {
        Self::spawn_with(slack, store, &[])
    }

    /// Like [`Bot::spawn`], with more environment on top.
    fn spawn_with(slack: &FakeSlack, store: Store<'_>, extra: &[(&str, String)]) -> Bot {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(dir.path().join("janus.log")).expect("log file");
        // `JANUS_BENCH_BOT_CPUS=1`: the bot on those CPUs only (`taskset`
        // execs it, so the pid is the bot's), e.g. to keep it off the CPU
        // the fake runs on (`taskset -c 0 cargo bench …`).
        let mut cmd = match std::env::var("JANUS_BENCH_BOT_CPUS") {
            Ok(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", &cpus, &janus_binary()]);
                cmd
            }
            Err(_) => Command::new(janus_binary()),
        };
        cmd.arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SLACK_APP_TOKEN", slack_fake::APP_TOKEN)
            .env("SLACK_BOT_TOKEN", slack_fake::BOT_TOKEN)
            // The bench's outages are declared by one person, by the dozen
            // or thousand: the per-person limit (5 in 10 minutes) is off.
            .env("JANUS_INCIDENT__MAX_DECLARATIONS_PER_USER", "0")
            .env("SLACK_API_URL", slack.api_url())
            .env("SLACK_WORKSPACE_ID", "acme")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log);
        if let Store::Postgres(url) = store {
            cmd.env("DATABASE_URL", url);
        }
        cmd.envs(extra.iter().map(|(k, v)| (k, v)));
        // glibc's allocator tunables pass through, to measure them without
        // a build (`GLIBC_TUNABLES=glibc.malloc.arena_max=1 cargo bench …`).
        cmd.envs(std::env::vars().filter(|(k, _)| {
            k == "GLIBC_TUNABLES" || k == "JANUS_LOG_LEVEL" || k.starts_with("MALLOC_")
        }));
        let spawned_at = Instant::now();
        let child = cmd.spawn().expect("spawn janus");
        Bot {
            child,
            dir,
            spawned_at,
        }
    }

    /// The process's memory from `/proc/<pid>/status`, in KiB.
    fn memory(&self) -> Memory {
        Memory::of(self.child.id())
    }

    /// Resident file-backed KiB per file (`/proc/<pid>/smaps`), largest
    /// first: which binary or library the `RssFile` pages belong to.
    fn file_pages(&self) -> Vec<(String, u64)> {
        let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", self.child.id()))
            .expect("/proc/<pid>/smaps");
        let mut by_file: BTreeMap<String, u64> = BTreeMap::new();
        let mut file: Option<String> = None;
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or("");
            if first.contains('-') && !first.ends_with(':') {
                // A mapping's header: range perms offset dev inode [path].
                file = fields
                    .nth(4)
                    .filter(|p| p.starts_with('/'))
                    .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned());
            } else if first == "Rss:"
                && let Some(file) = &file
            {
                let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                *by_file.entry(file.clone()).or_default() += kib;
            }
        }
        let mut out: Vec<_> = by_file.into_iter().filter(|(_, kib)| *kib > 0).collect();
        out.sort_by_key(|(_, kib)| std::cmp::Reverse(*kib));
        out
    }

    /// User + system CPU the process used so far (`/proc/<pid>/stat`,
    /// fields 14 and 15, in clock ticks of 1/100 s).
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("/proc/<pid>/stat");
        // The command name may hold spaces; fields count from after its ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<u64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        Duration::from_millis((fields[11] + fields[12]) * 10)
    }

    fn assert_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log =
                std::fs::read_to_string(self.dir.path().join("janus.log")).unwrap_or_default();
            panic!("janus exited ({status}); its log:\n{log}");
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory in KiB: `anon` is the heap and stacks (what Janus
/// allocates), `file` the pages of the binary and libraries it touched.
struct Memory {
    rss: u64,
    peak: u64,
    anon: u64,
    file: u64,
}

impl Memory {
    /// Process `pid`'s memory from `/proc/<pid>/status`, in KiB.
    fn of(pid: u32) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }

    fn show(&self) -> String {
        format!(
            "{} (anon {}, file {})",
            mib(self.rss),
            mib(self.anon),
            mib(self.file)
        )
    }
}

/// Until `n` sockets beyond the first `before` ever opened have been sent
/// their hello; returns when each of the new ones opened.
async fn new_sockets(slack: &FakeSlack, before: usize, n: usize) -> Vec<Instant> {
    slack
        .wait_for("the bot's sockets", WAIT, |s| {
            (s.sockets_opened_total() >= before + n).then_some(())
        })
        .await;
    slack.wait_for_sockets(n, WAIT).await;
    let mut opened: Vec<Instant> = slack
        .open_sockets()
        .into_iter()
        .filter(|id| *id as usize > before)
        .map(|id| slack.socket_opened_at(id))
        .collect();
    opened.sort();
    opened
}

/// A fake workspace like the integration tests': #general, #incidents (the
/// digest channel), Alice and Bob. Returns (fake, general, digest).
async fn workspace() -> (FakeSlack, String, String) {
    let slack = FakeSlack::start_with_socket_thread().await;
    let general = slack.add_channel("general", true);
    let digest = slack.add_channel("incidents", true);
    slack.add_user(ALICE, "alice");
    slack.add_user(BOB, "bob");
    (slack, general, digest)
}

/// Sends `/incident <text>` from #general; returns when it was handed over.
async fn send_declaration(slack: &FakeSlack, general: &str, text: &str) -> Instant {
    let envelope = slack_fake::envelope(
        "slash_commands",
        payloads::slash_incident(general, text, &slack.response_url()),
        true,
    );
    let at = Instant::now();
    slack.send_envelope(envelope).await;
    at
}

/// Polls `check` every 10 ms: for waits over thousands of changes, where
/// re-checking on every change (as `wait_for` does) would cost more than
/// the bot under test.
async fn poll(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Instant {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Web API calls made after the first `skip`, by method, startup calls left
/// out; `response_url` POSTs are not Web API calls and are counted apart.
fn calls_by_method(slack: &FakeSlack, skip: usize) -> BTreeMap<String, usize> {
    let mut by_method = BTreeMap::new();
    for call in slack.calls().into_iter().skip(skip) {
        if !STARTUP_METHODS.contains(&call.method.as_str()) {
            *by_method.entry(call.method).or_insert(0) += 1;
        }
    }
    by_method
}

/// `method×count, …`, for the table.
fn describe_calls(by_method: &BTreeMap<String, usize>) -> String {
    by_method
        .iter()
        .map(|(m, n)| format!("{m}×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn web_api_total(by_method: &BTreeMap<String, usize>) -> usize {
    by_method
        .iter()
        .filter(|(m, _)| m.as_str() != "response_url")
        .map(|(_, n)| n)
        .sum()
}

// ---- scenarios ---------------------------------------------------------------

fn size(table: &mut Table) {
    let path = janus_binary();
    let bytes = std::fs::metadata(&path).expect("the binary").len();
    table.add(
        "binary",
        &format!("size of {path} (the release profile strips it; `profiling` does not)"),
        format!("{:.1} MiB ({bytes} B)", bytes as f64 / (1024.0 * 1024.0)),
        "—",
    );
}

/// Start to socket open, migrations included: a fresh database each run;
/// then restarts on a database already migrated, the everyday case.
async fn start(table: &mut Table) {
    const RUNS: usize = 5;
    let migrated = TestDb::postgres().await;
    // The same database without TLS: Postgres here has `ssl = on`, and the
    // default `sslmode=prefer` negotiates TLS on every new connection.
    let no_tls = format!("{}?sslmode=disable", migrated.url);
    for case in [
        "Postgres, fresh DB",
        "SQLite, fresh file",
        "Postgres, migrated DB",
        "Postgres, migrated DB, sslmode=disable",
    ] {
        let (mut first, mut all) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let slack = FakeSlack::start().await;
            slack.add_channel("incidents", true);
            let fresh = TestDb::postgres().await;
            let store = match case {
                "Postgres, fresh DB" => Store::Postgres(&fresh.url),
                "Postgres, migrated DB" => Store::Postgres(&migrated.url),
                "Postgres, migrated DB, sslmode=disable" => Store::Postgres(&no_tls),
                _ => Store::SqliteDefault,
            };
            if case.contains("migrated") && not_migrated_yet(&migrated).await {
                // First use: migrate it, untimed.
                let bot = Bot::spawn(&slack, Store::Postgres(&migrated.url));
                new_sockets(&slack, 0, 2).await;
                drop(bot);
            }
            let before = slack.sockets_opened_total();
            let mut bot = Bot::spawn(&slack, store);
            let opened = new_sockets(&slack, before, 2).await;
            bot.assert_alive();
            first.push(opened[0] - bot.spawned_at);
            all.push(opened[opened.len() - 1] - bot.spawned_at);
            drop(bot);
        }
        first.sort();
        all.sort();
        let median = |v: &[Duration]| v[v.len() / 2];
        table.add(
            "start",
            &format!("{case}: spawn → first socket open (median / min of {RUNS})"),
            format!("{} / {}", ms(median(&first)), ms(first[0])),
            "< 300 ms",
        );
        table.add(
            "start",
            &format!("{case}: spawn → both sockets open (median / min of {RUNS})"),
            format!("{} / {}", ms(median(&all)), ms(all[0])),
            "—",
        );
    }
}

/// `true` while `db` has no tables yet.
async fn not_migrated_yet(db: &TestDb) -> bool {
    db.count("SELECT count(*) FROM pg_tables WHERE tablename = 'incidents'")
        .await
        == 0
}

/// One plain declaration: Web API calls by method, and command → digest.
async fn declare_one(table: &mut Table, per_call: Duration) {
    let label = if per_call.is_zero() {
        "fake answers at once".to_owned()
    } else {
        format!("fake takes {} ms per call", per_call.as_millis())
    };
    let (slack, general, digest) = workspace().await;
    let db = TestDb::postgres().await;
    let mut bot = Bot::spawn(&slack, Store::Postgres(&db.url));
    new_sockets(&slack, 0, 2).await;
    // Let anything the bot does once after connecting finish first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let skip = slack.call_count();
    if !per_call.is_zero() {
        // One delay per request, to any method: more than a declaration uses.
        for _ in 0..64 {
            slack.inject("*", Fault::Delay(per_call));
        }
    }
    let sent = send_declaration(&slack, &general, "www down").await;
    let digest_at = slack
        .wait_for("the digest message", WAIT, |s| {
            (s.message_count(&digest) > 0).then(Instant::now)
        })
        .await;
    let answered_at = slack
        .wait_for("the declarer's answer", WAIT, |s| {
            (s.ephemeral_count() > 0).then(Instant::now)
        })
        .await;
    // Calls that trail the digest (if any) still belong to the declaration.
    tokio::time::sleep(Duration::from_millis(500) + per_call * 4).await;
    bot.assert_alive();
    let by_method = calls_by_method(&slack, skip);
    let total = web_api_total(&by_method);
    table.add(
        "declare",
        &format!("Web API calls, one plain declaration ({label})"),
        format!("{total}: {}", describe_calls(&by_method)),
        "≤ 7 (response_url not counted)",
    );
    if per_call.is_zero() {
        // The digest channel's id is looked up once, at start: a second
        // declaration must cost no more than the first.
        let skip = slack.call_count();
        let sent = send_declaration(&slack, &general, "db slow").await;
        let digest_at = slack
            .wait_for("the second digest message", WAIT, |s| {
                (s.message_count(&digest) > 1).then(Instant::now)
            })
            .await;
        slack
            .wait_for("the second answer", WAIT, |s| {
                (s.ephemeral_count() > 1).then_some(())
            })
            .await;
        // The first declaration opened the database connections this one
        // finds in the pool (a new TLS connection: BENCHMARKS.md, hot spot 5).
        table.add(
            "declare",
            "/incident → digest posted, a second declaration (fake answers at once)",
            ms(digest_at - sent),
            "—",
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let by_method = calls_by_method(&slack, skip);
        table.add(
            "declare",
            "Web API calls, a second declaration (fake answers at once)",
            format!(
                "{}: {}",
                web_api_total(&by_method),
                describe_calls(&by_method)
            ),
            "≤ 7 (response_url not counted)",
        );
    }
    table.add(
        "declare",
        &format!("/incident → digest posted ({label})"),
        ms(digest_at - sent),
        "—",
    );
    table.add(
        "declare",
        &format!("/incident → declarer answered ({label})"),
        ms(answered_at - sent),
        "—",
    );
}

/// A port free right now on 127.0.0.1, for the bot's `/metrics`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The bot's `janus_ack_latency_seconds` histogram: (upper bound in
/// seconds, cumulative count) for each finite bucket, then (∞, total).
fn ack_histogram(port: u16) -> Vec<(f64, u64)> {
    let text = metrics_text(port).expect("the bot's /metrics");
    let buckets: Vec<(f64, u64)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("janus_ack_latency_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"}")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    assert!(!buckets.is_empty(), "no ack histogram in /metrics:\n{text}");
    buckets
}

/// `JANUS_BENCH_ACK_TRACE=<dir>`: writes `acks-<n>.csv` there, one line per
/// envelope in the order sent — µs from the burst's start to the frame
/// written, and to its ack read — to see where in a burst latency grows.
fn trace_acks(dir: &str, n: usize, started: Instant, acks: &[slack_fake::Ack]) {
    let mut rows: Vec<(u128, u128)> = acks
        .iter()
        .map(|a| {
            let sent = a.at - a.latency;
            (
                sent.saturating_duration_since(started).as_micros(),
                a.at.saturating_duration_since(started).as_micros(),
            )
        })
        .collect();
    rows.sort();
    let mut csv = String::from("sent_us,acked_us\n");
    for (sent, acked) in rows {
        csv.push_str(&format!("{sent},{acked}\n"));
    }
    let path = std::path::Path::new(dir).join(format!("acks-{n}.csv"));
    std::fs::write(&path, csv).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// How many bursts of `n` envelopes [`ack_burst`] sends each side, taking
/// turns. The p99 of one burst of 500 is its fifth-slowest ack, which the
/// two cores' other work moves by 5× between runs for the ack-only client
/// as much as for Janus (BENCHMARKS.md); pooled over five bursts that
/// alternate, both sides meet the same moments of the machine. One burst of
/// 5,000 already has fifty acks above its p99; the second shows what a bot
/// that has just handled one burst does with the next.
fn ack_rounds(n: usize) -> usize {
    if n <= 500 { 5 } else { 2 }
}

/// Bursts of `n` envelopes sent back to back, half `@janus help` mentions
/// and half status clicks on the control message of an existing incident:
/// to the ack-only client and to Janus by turns, [`ack_rounds`] each, Janus
/// idle again (everything handled) before each of its bursts.
async fn ack_burst(table: &mut Table, n: usize) {
    let rounds = ack_rounds(n);
    // The floor: the ack-only client on a fake of its own, given the same
    // mix of envelopes (a click's frame is several times a mention's).
    let floor_side = AckOnlySide::start().await;
    let (slack, general, _digest) = workspace().await;
    let db = TestDb::postgres().await;
    let metrics_port = free_port();
    let mut bot = Bot::spawn_with(
        &slack,
        Store::Postgres(&db.url),
        &[("JANUS_HEALTH__LISTEN", metrics_port.to_string())],
    );
    new_sockets(&slack, 0, 2).await;
    send_declaration(&slack, &general, "www down").await;
    let channel = slack
        .wait_for("the incident's pinned control message", WAIT, |s| {
            s.channels()
                .into_iter()
                .find(|c| c.name.starts_with("inc-") && !c.pins.is_empty())
        })
        .await;
    let control_ts = channel.pins[0].clone();
    let response_url = slack.response_url();
    wait_idle(metrics_port).await;

    let own_before = ack_histogram(metrics_port);
    let (mut floor, mut latencies) = (Vec::new(), Vec::new());
    // Each burst's own p99, Janus's and the client's, to show the spread.
    let mut per_burst: Vec<(Duration, Duration, String)> = Vec::new();
    let (mut cpu, mut wall, mut sent_in) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        let mut floor_burst = floor_side.burst(n, round).await;
        floor_burst.sort();
        floor.extend(&floor_burst);
        let envelopes = mixed_burst(
            n,
            &format!("BENCH{n}r{round}"),
            &general,
            &channel.id,
            &control_ts,
            &response_url,
        );
        let ids: HashSet<String> = envelopes.iter().map(slack_fake::envelope_id_of).collect();
        let acked_before = slack.ack_count();
        let cpu_before = bot.cpu();
        let own_burst_before = ack_histogram(metrics_port);
        let started = Instant::now();
        for envelope in envelopes {
            slack.send_envelope(envelope).await;
        }
        sent_in += started.elapsed();
        poll(&format!("{n} acks"), WAIT, || {
            slack.ack_count() >= acked_before + n
        })
        .await;
        cpu += bot.cpu() - cpu_before;
        bot.assert_alive();
        let acks: Vec<_> = slack
            .acks()
            .into_iter()
            .filter(|a| ids.contains(&a.envelope_id))
            .collect();
        let distinct: HashSet<&str> = acks.iter().map(|a| a.envelope_id.as_str()).collect();
        assert_eq!(distinct.len(), n, "every envelope acked");
        let last_ack = acks.iter().map(|a| a.at).max().expect("acks");
        wall += last_ack - started;
        let mut burst: Vec<Duration> = acks.iter().map(|a| a.latency).collect();
        burst.sort();
        let own_burst: Vec<(f64, u64)> = ack_histogram(metrics_port)
            .into_iter()
            .zip(own_burst_before)
            .map(|((le, after), (_, before))| (le, after - before))
            .collect();
        per_burst.push((
            percentile(&burst, 0.99),
            percentile(&floor_burst, 0.99),
            histogram_p99(&own_burst),
        ));
        latencies.extend(burst);
        if let (0, Ok(dir)) = (round, std::env::var("JANUS_BENCH_ACK_TRACE")) {
            trace_acks(&dir, n, started, &acks);
        }
        wait_idle(metrics_port).await;
    }
    let own: Vec<(f64, u64)> = ack_histogram(metrics_port)
        .into_iter()
        .zip(own_before)
        .map(|((le, after), (_, before))| (le, after - before))
        .collect();
    latencies.sort();
    floor.sort();
    let target = if n <= 500 {
        "p99 < 2 ms"
    } else {
        "p99 < 10 ms"
    };
    table.add(
        "ack",
        &format!("{rounds} bursts of {n} mixed envelopes: ack latency p50 / p99 / max, all bursts"),
        format!(
            "{} / {} / {}",
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(latencies[latencies.len() - 1])
        ),
        target,
    );
    let (p99, floor_p99) = (percentile(&latencies, 0.99), percentile(&floor, 0.99));
    table.add(
        "ack",
        &format!(
            "{rounds} bursts of {n} each, by turns: ack p99, Janus / ack-only client on the same machine and fake"
        ),
        format!(
            "{} / {} = {:.1}×",
            ms(p99),
            ms(floor_p99),
            p99.as_secs_f64() / floor_p99.as_secs_f64().max(1e-6)
        ),
        "≤ 3×",
    );
    table.add(
        "ack",
        &format!(
            "burst of {n}: each burst's own ack p99, Janus / ack-only client, in the order sent"
        ),
        per_burst
            .iter()
            .map(|(janus, client, own)| format!("{} / {} (bot: ≤ {own})", ms(*janus), ms(*client)))
            .collect::<Vec<_>>()
            .join(", "),
        "—",
    );
    // What the bot itself measures, from reading a frame to writing its
    // ack: the fake's share of the latency above (writing, then reading
    // the ack on the same two cores) is not in it.
    let total = own.last().map_or(0, |(_, count)| *count).max(1);
    let p99_bound = histogram_p99(&own);
    let share = |bound: f64| {
        let within = own
            .iter()
            .find(|(le, _)| *le >= bound)
            .map_or(0, |(_, c)| *c);
        format!("{:.1} %", within as f64 * 100.0 / total as f64)
    };
    table.add(
        "ack",
        &format!(
            "{rounds} bursts of {n}, as the bot measures it (frame read → ack written, `janus_ack_latency_seconds`): p99 at most; share within 0.25 / 0.5 / 1 / 2.5 ms"
        ),
        format!(
            "{p99_bound}; {} / {} / {} / {}",
            share(0.00025),
            share(0.0005),
            share(0.001),
            share(0.0025)
        ),
        "—",
    );
    let total_n = n * rounds;
    table.add(
        "ack",
        &format!(
            "burst of {n}: envelopes/s, first send → last ack, over {rounds} bursts (each sent in {} on average)",
            ms(sent_in / rounds as u32)
        ),
        format!("{:.0}/s", total_n as f64 / wall.as_secs_f64()),
        "—",
    );
    // CPU well below wall time: the bot waits (on Postgres, on Slack), it
    // does not compute; close to it (or above, on 2 cores): CPU-bound.
    table.add(
        "ack",
        &format!("burst of {n}: bot CPU (user+sys) while being acked, over {rounds} bursts"),
        format!(
            "{:.2} s in {:.2} s wall",
            cpu.as_secs_f64(),
            wall.as_secs_f64()
        ),
        "—",
    );
}

/// The bucket bound a histogram's p99 falls under, as text.
fn histogram_p99(buckets: &[(f64, u64)]) -> String {
    let total = buckets.last().map_or(0, |(_, count)| *count).max(1);
    buckets
        .iter()
        .find(|(_, count)| *count * 100 >= total * 99)
        .map_or("over 1 s".to_owned(), |(le, _)| {
            ms(Duration::from_secs_f64(*le))
        })
}

/// The bot's `/metrics` page, headers and all.
fn metrics_text(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// Waits until the bot behind `metrics_port` holds no envelope: everything
/// it acked has been handled (`janus_bus_held_bytes` is 0).
async fn wait_idle(metrics_port: u16) {
    poll("Janus idle (janus_bus_held_bytes 0)", WAIT, || {
        metric(metrics_port, "janus_bus_held_bytes") == Some(0.0)
    })
    .await;
}

/// One unlabelled metric's value from the bot's `/metrics`.
fn metric(port: u16, name: &str) -> Option<f64> {
    metrics_text(port)?.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

/// `n` declarations at once while the fake enforces Slack's tiers (windows
/// scaled down by `TIER_SCALE`) with 429 + `Retry-After`.
async fn declaration_burst(table: &mut Table, n: usize) {
    let (slack, general, digest) = workspace().await;
    let db = TestDb::postgres().await;
    let mut bot = Bot::spawn(&slack, Store::Postgres(&db.url));
    new_sockets(&slack, 0, 2).await;
    // One declaration first, without tiers: what one costs, per method.
    let skip = slack.call_count();
    send_declaration(&slack, &general, "warm-up").await;
    slack
        .wait_for("the warm-up digest", WAIT, |s| {
            (s.message_count(&digest) > 0 && s.ephemeral_count() > 0).then_some(())
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_declaration = calls_by_method(&slack, skip);

    let window = Duration::from_secs(60) / TIER_SCALE;
    for (method, per_minute) in SLACK_TIERS {
        slack.set_tier(method, per_minute, window);
    }
    // The tiers allow at best: for each method, its calls in windows of
    // `per_minute`, the first window at once.
    let minimum = SLACK_TIERS
        .iter()
        .map(|(method, per_minute)| {
            let calls = per_declaration.get(*method).copied().unwrap_or(0) * n;
            window * (calls.div_ceil(*per_minute).saturating_sub(1) as u32)
        })
        .max()
        .unwrap_or_default();

    let skip = slack.call_count();
    let (answers_before, digests_before) = (slack.ephemeral_count(), slack.message_count(&digest));
    let started = Instant::now();
    for i in 0..n {
        send_declaration(&slack, &general, &format!("outage {i}")).await;
    }
    let done = poll(
        &format!("{n} declarations"),
        Duration::from_secs(600),
        || {
            slack.message_count(&digest) >= digests_before + n
                && slack.ephemeral_count() >= answers_before + n
        },
    )
    .await;
    bot.assert_alive();
    let answers = slack.ephemerals();
    let failures = answers[answers_before..]
        .iter()
        .filter(|e| {
            let said = e.blocks.as_ref().map(all_text).unwrap_or_default()
                + e.text.as_deref().unwrap_or("");
            !said.contains("<#C")
        })
        .count();
    let created = slack
        .channels()
        .iter()
        .filter(|c| c.name.starts_with("inc-"))
        .count();
    let by_method = calls_by_method(&slack, skip);
    let limited: usize = SLACK_TIERS
        .iter()
        .map(|(m, _)| {
            let made = by_method.get(*m).copied().unwrap_or(0);
            made.saturating_sub(per_declaration.get(*m).copied().unwrap_or(0) * n)
        })
        .sum();
    table.add(
        "burst",
        &format!("{n} declarations under tiers (windows ÷{TIER_SCALE}): total / tier minimum"),
        format!(
            "{:.1} s / {:.1} s (×{TIER_SCALE} at Slack's real tiers: {:.0} s minimum)",
            (done - started).as_secs_f64(),
            minimum.as_secs_f64(),
            (minimum * TIER_SCALE).as_secs_f64()
        ),
        "close to the minimum",
    );
    table.add(
        "burst",
        &format!("{n} declarations: failures / channels created / 429s waited out"),
        format!("{failures} / {} / {limited}", created - 1),
        "0 failures",
    );
}

/// Issue #13's click load: this many incidents declared first…
const CLICK_INCIDENTS: usize = 20;
/// …then this many status clicks, round-robin over them…
const CLICKS: usize = 200;
/// …one every this long (so one incident's clicks are 20 × this apart)…
const CLICK_PACE: Duration = Duration::from_millis(25);
/// …while one more declaration is answered 429 with this `Retry-After`, this
/// many times: 180 s, longer than the run and than either build keeps
/// retrying (2e4f319: 20 retries, 60 s; now: a 120 s budget per call).
const CLICK_RETRY_AFTER_SECS: u64 = 3;
const CLICK_THROTTLES: usize = 60;
/// A click whose update has not arrived this long after it was sent never
/// arrived.
const CLICK_BOUND: Duration = Duration::from_secs(30);
/// `per_call` delays queued: one per Web API request, more than a run makes.
const CLICK_DELAYS: usize = 5_000;
/// Each incident's status goes round these, starting from `investigating`,
/// so every click is a real change.
const CLICK_STATUSES: [&str; 3] = ["identified", "monitoring", "investigating"];

/// One status click as sent.
struct Click {
    /// Index into the incidents (`(channel, control message ts)`).
    incident: usize,
    value: &'static str,
    envelope_id: String,
    /// When the fake wrote the envelope to the socket (its ack's stamp),
    /// or handed it over, if it was never acked.
    sent: Instant,
}

/// The status a `chat.update` call shows: the `initial_option` of the
/// `janus.status` select in the blocks it sent (JSON, or JSON text in a form).
fn status_shown(call: &ApiCall) -> Option<String> {
    fn find(v: &Value) -> Option<String> {
        match v {
            Value::Object(m) => {
                if m.get("action_id").and_then(Value::as_str) == Some("janus.status") {
                    return m
                        .get("initial_option")
                        .and_then(|o| o["value"].as_str())
                        .map(str::to_owned);
                }
                m.values().find_map(find)
            }
            Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    match call.params.get("blocks")? {
        Value::String(text) => find(&serde_json::from_str(text).ok()?),
        blocks => find(blocks),
    }
}

/// When each click was shown: the arrival of the first `chat.update` of its
/// incident's control message that shows its value or that of a later click
/// of the same incident, counting only clicks sent before the update
/// arrived. An incident's updates show its clicks in order (one lane, one
/// publishing task per incident), so an update showing value `v` shows the
/// latest click sent before it that set `v`, and every earlier click not
/// shown yet. (Statuses come round every 3 clicks: were the bot 3 clicks of
/// one incident behind, an older state equal to a newer click's value would
/// be counted as the newer click.)
fn click_updates(
    updates: &[ApiCall],
    incidents: &[(String, String)],
    clicks: &[Click],
) -> Vec<Option<Instant>> {
    let mut shown = vec![None; clicks.len()];
    for (n, (channel, ts)) in incidents.iter().enumerate() {
        let mine: Vec<usize> = (0..clicks.len())
            .filter(|&i| clicks[i].incident == n)
            .collect();
        let mut next = 0;
        for call in updates.iter().filter(|c| {
            c.param("channel").as_deref() == Some(channel) && c.param("ts").as_deref() == Some(ts)
        }) {
            let Some(value) = status_shown(call) else {
                continue;
            };
            let latest = (next..mine.len()).rev().find(|&k| {
                let click = &clicks[mine[k]];
                click.sent < call.at && click.value == value
            });
            if let Some(latest) = latest {
                for &i in &mine[next..=latest] {
                    shown[i] = Some(call.at);
                }
                next = latest + 1;
            }
        }
    }
    shown
}

/// Click latency (issue #13): status clicks on the pinned control messages
/// of `CLICK_INCIDENTS` incidents while another declaration waits out 429s
/// and the fake takes `per_call` to answer each Web API call; from the fake
/// writing a click's envelope to the fake receiving the `chat.update` that
/// shows it (see [`click_updates`]).
async fn click_latency(table: &mut Table, per_call: Duration) {
    let (slack, general, digest) = workspace().await;
    let db = TestDb::postgres().await;
    let mut bot = Bot::spawn(&slack, Store::Postgres(&db.url));
    new_sockets(&slack, 0, 2).await;
    // Let anything the bot does once after connecting finish first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // As in `declare`: one delay per request, to any method without a fault
    // of its own; enough for every call of the run.
    let delayed_from = slack.call_count();
    for _ in 0..CLICK_DELAYS {
        slack.inject("*", Fault::Delay(per_call));
    }

    // All at once, as in an outage. (Before the declaration locks moved
    // off the pool, this ran the Postgres pool dry: BENCHMARKS.md.)
    let pinned = |slack: &FakeSlack| -> Vec<(String, String)> {
        let mut found: Vec<_> = slack
            .channels()
            .into_iter()
            .filter(|c| c.name.starts_with("inc-") && !c.pins.is_empty())
            .map(|c| (c.name, c.id, c.pins[0].clone()))
            .collect();
        found.sort();
        found.into_iter().map(|(_, id, ts)| (id, ts)).collect()
    };
    let declaring = Instant::now();
    for i in 0..CLICK_INCIDENTS {
        send_declaration(&slack, &general, &format!("outage {i}")).await;
    }
    poll(
        &format!("{CLICK_INCIDENTS} declarations"),
        Duration::from_secs(120),
        || {
            slack.message_count(&digest) >= CLICK_INCIDENTS
                && pinned(&slack).len() >= CLICK_INCIDENTS
        },
    )
    .await;
    let declared_in = declaring.elapsed();
    // Calls that trail the last declaration (the declarer's answer).
    tokio::time::sleep(Duration::from_millis(500) + per_call * 4).await;
    let incidents = pinned(&slack);

    // One more declaration, held in 429s at `conversations.create` from its
    // first attempt to the end of the run.
    let creates = slack.calls_to("conversations.create").len();
    slack.throttle(
        "conversations.create",
        CLICK_RETRY_AFTER_SECS,
        CLICK_THROTTLES,
    );
    send_declaration(&slack, &general, "throttled").await;
    poll("the held declaration's first 429", WAIT, || {
        slack.calls_to("conversations.create").len() > creates
    })
    .await;

    let response_url = slack.response_url();
    let started = Instant::now();
    let mut clicks = Vec::with_capacity(CLICKS);
    for i in 0..CLICKS {
        tokio::time::sleep_until((started + CLICK_PACE * i as u32).into()).await;
        let incident = i % CLICK_INCIDENTS;
        let value = CLICK_STATUSES[(i / CLICK_INCIDENTS) % CLICK_STATUSES.len()];
        let (channel, control_ts) = &incidents[incident];
        let action = payloads::select("janus.status", value);
        let payload = payloads::block_action(channel, ALICE, control_ts, action, &response_url);
        let envelope = slack_fake::envelope("interactive", payload, false);
        let envelope_id = slack_fake::envelope_id_of(&envelope);
        let handed = Instant::now();
        slack.send_envelope(envelope).await;
        clicks.push(Click {
            incident,
            value,
            envelope_id,
            sent: handed,
        });
    }
    let sent_in = started.elapsed();
    let deadline = Instant::now() + CLICK_BOUND;
    loop {
        let shown = click_updates(&slack.calls_to("chat.update"), &incidents, &clicks);
        if shown.iter().all(Option::is_some) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bot.assert_alive();

    let written: BTreeMap<String, Instant> = slack
        .acks()
        .into_iter()
        .filter(|a| !a.latency.is_zero())
        .map(|a| (a.envelope_id, a.at - a.latency))
        .collect();
    for click in &mut clicks {
        if let Some(at) = written.get(&click.envelope_id) {
            click.sent = *at;
        }
    }
    let updates = slack.calls_to("chat.update");
    let shown = click_updates(&updates, &incidents, &clicks);
    let latencies: Vec<Option<Duration>> = clicks
        .iter()
        .zip(&shown)
        .map(|(click, at)| at.map(|at| at - click.sent).filter(|d| *d <= CLICK_BOUND))
        .collect();
    if let Ok(path) = std::env::var("JANUS_BENCH_CLICK_TRACE") {
        trace_clicks(&path, started, &clicks, &latencies);
    }
    let missing = latencies.iter().filter(|l| l.is_none()).count();
    // Sorted with the missing last, as longer than any bound.
    let mut sorted = latencies.clone();
    sorted.sort_by_key(|l| l.unwrap_or(Duration::MAX));
    let show = |l: Option<Duration>| l.map_or(format!("> {} s", CLICK_BOUND.as_secs()), ms);
    let at = |p: f64| {
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        show(sorted[i])
    };
    let load = format!(
        "{CLICKS} status clicks round-robin over {CLICK_INCIDENTS} incidents, one every {} ms \
         (sent in {}), while a declaration waits out 429s; fake takes {} ms per call",
        CLICK_PACE.as_millis(),
        ms(sent_in),
        per_call.as_millis()
    );
    table.add(
        "clicks",
        &format!("{load}: click → control update p50 / p99 / max"),
        format!("{} / {} / {}", at(0.50), at(0.99), show(sorted[CLICKS - 1])),
        "p99 < 500 ms",
    );
    table.add(
        "clicks",
        &format!(
            "clicks whose control update never arrived within {} s",
            CLICK_BOUND.as_secs()
        ),
        format!("{missing} of {CLICKS}"),
        "0",
    );
    let controls: HashSet<(&str, &str)> = incidents
        .iter()
        .map(|(c, ts)| (c.as_str(), ts.as_str()))
        .collect();
    let control_updates = updates
        .iter()
        .filter(|c| {
            let (channel, ts) = (c.param("channel"), c.param("ts"));
            controls.contains(&(
                channel.as_deref().unwrap_or(""),
                ts.as_deref().unwrap_or(""),
            ))
        })
        .count();
    let limited = slack.calls_to("conversations.create").len() - creates;
    let created = slack
        .channels()
        .iter()
        .filter(|c| c.name.starts_with("inc-"))
        .count();
    table.add(
        "clicks",
        &format!(
            "the {CLICK_INCIDENTS} declarations before (sent at once, until every digest); \
             control-message chat.updates in the run; 429s the held declaration got; its channel created"
        ),
        format!(
            "{}; {control_updates} for {CLICKS} clicks; {limited}; {}",
            ms(declared_in),
            if created > CLICK_INCIDENTS { "yes" } else { "no" }
        ),
        "—",
    );
    let calls = slack.call_count() - delayed_from;
    assert!(
        calls < CLICK_DELAYS,
        "{calls} calls: more than the {CLICK_DELAYS} delays queued"
    );
}

/// `JANUS_BENCH_CLICK_TRACE=<file>`: one line per click in send order —
/// incident, value, ms from the first click to this one's send, and its
/// latency in ms (empty: never arrived).
fn trace_clicks(path: &str, started: Instant, clicks: &[Click], latencies: &[Option<Duration>]) {
    let mut csv = String::from("incident,value,sent_ms,latency_ms\n");
    for (click, latency) in clicks.iter().zip(latencies) {
        csv.push_str(&format!(
            "{},{},{:.1},{}\n",
            click.incident,
            click.value,
            click.sent.saturating_duration_since(started).as_secs_f64() * 1e3,
            latency.map_or(String::new(), |l| format!("{:.1}", l.as_secs_f64() * 1e3))
        ));
    }
    std::fs::write(path, csv).unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// RSS at idle after start, after declaring `n` incidents, and after a
/// restart with them stored.
async fn rss(table: &mut Table, n: usize) {
    let (slack, general, digest) = workspace().await;
    let db = TestDb::postgres().await;
    let mut bot = Bot::spawn(&slack, Store::Postgres(&db.url));
    new_sockets(&slack, 0, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bot.assert_alive();
    let idle = bot.memory();
    table.add("rss", "idle after start (Postgres)", idle.show(), "< 15 MB");
    {
        let slack = FakeSlack::start().await;
        slack.add_channel("incidents", true);
        let mut bot = Bot::spawn(&slack, Store::SqliteDefault);
        new_sockets(&slack, 0, 2).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        bot.assert_alive();
        let idle = bot.memory();
        table.add(
            "rss",
            "idle after start (SQLite default)",
            idle.show(),
            "< 15 MB",
        );
        let files: Vec<String> = bot
            .file_pages()
            .into_iter()
            .take(5)
            .map(|(file, kib)| format!("{file} {}", mib(kib)))
            .collect();
        table.add(
            "rss",
            "idle (SQLite): file-backed pages by file",
            files.join(", "),
            "—",
        );
    }

    // Declared in batches of 100, so the fake is not the bottleneck.
    let started = Instant::now();
    for batch in 0..n.div_ceil(100) {
        let this = 100.min(n - batch * 100);
        for i in 0..this {
            send_declaration(&slack, &general, &format!("outage {batch}-{i}")).await;
        }
        let want = batch * 100 + this;
        poll("a batch of declarations", Duration::from_secs(300), || {
            slack.message_count(&digest) >= want
        })
        .await;
    }
    let declared_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    bot.assert_alive();
    let after = bot.memory();
    table.add(
        "rss",
        &format!(
            "after declaring {n} incidents ({:.1} s), idle again",
            declared_in.as_secs_f64()
        ),
        format!("{} / peak {}", after.show(), mib(after.peak)),
        "—",
    );
    let before = slack.sockets_opened_total();
    drop(bot);
    let mut bot = Bot::spawn(&slack, Store::Postgres(&db.url));
    new_sockets(&slack, before, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bot.assert_alive();
    let restarted = bot.memory();
    table.add(
        "rss",
        &format!("idle after a restart with {n} incidents stored"),
        restarted.show(),
        "< 15 MB",
    );
}

// ---- the floor: a client that only acks ------------------------------------------

/// The flag that turns this binary into the ack-only client.
const ACK_ONLY_FLAG: &str = "--ack-only-client";

/// Opens `sockets` Socket Mode connections at the fake behind `api_url` and
/// acks every envelope, as Janus's socket does (one thread, the envelope id
/// read with serde_json, the ack written at once), doing nothing else: what
/// the machine and the fake allow, to read Janus's figures against. Never
/// returns; the bench kills it.
fn ack_only_client(api_url: &str, sockets: usize) -> ! {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..sockets {
            let opened: Value = http
                .post(format!("{api_url}apps.connections.open"))
                .bearer_auth(slack_fake::APP_TOKEN)
                .send()
                .await
                .expect("apps.connections.open")
                .json()
                .await
                .expect("its answer");
            let url = opened["url"].as_str().expect("a socket URL").to_owned();
            // Without Nagle, as Janus's own socket: an ack is one small write.
            let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
                .await
                .expect("the socket opens");
            tokio::spawn(async move {
                while let Some(Ok(frame)) = ws.next().await {
                    let Message::Text(text) = frame else { continue };
                    let envelope: Value = serde_json::from_str(&text).unwrap_or_default();
                    if let Some(id) = envelope.get("envelope_id").and_then(Value::as_str) {
                        let ack = serde_json::json!({ "envelope_id": id }).to_string();
                        if ws.send(Message::text(ack)).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
        std::future::pending::<()>().await;
    });
    unreachable!("the ack-only client runs until killed")
}

/// The ack-only client as a process, killed on drop.
struct AckOnly {
    child: Child,
}

impl AckOnly {
    fn spawn(slack: &FakeSlack, sockets: usize) -> AckOnly {
        let child = Command::new(std::env::current_exe().expect("this binary"))
            .args([ACK_ONLY_FLAG, &slack.api_url(), &sockets.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the ack-only client");
        AckOnly { child }
    }

    fn memory(&self) -> Memory {
        Memory::of(self.child.id())
    }
}

impl Drop for AckOnly {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` envelopes, half `@janus help` mentions in `general` and half status
/// clicks on the control message `control_ts` in `incident`: what
/// [`ack_burst`] sends Janus and, with made-up ids of the same length, the
/// ack-only client.
fn mixed_burst(
    n: usize,
    tag: &str,
    general: &str,
    incident: &str,
    control_ts: &str,
    response_url: &str,
) -> Vec<Value> {
    let statuses = ["identified", "monitoring", "investigating"];
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                help_mention(general, tag, i)
            } else {
                let who = if i % 4 == 1 { ALICE } else { BOB };
                let action = payloads::select("janus.status", statuses[(i / 2) % 3]);
                let payload =
                    payloads::block_action(incident, who, control_ts, action, response_url);
                slack_fake::envelope("interactive", payload, false)
            }
        })
        .collect()
}

/// `n` `@janus help` mentions in `channel`, as envelopes.
fn help_mentions(channel: &str, n: usize, tag: &str) -> Vec<Value> {
    (0..n).map(|i| help_mention(channel, tag, i)).collect()
}

/// The `i`th `@janus help` mention of a burst tagged `tag`, as an envelope.
fn help_mention(channel: &str, tag: &str, i: usize) -> Value {
    let payload = payloads::app_mention(
        channel,
        &format!("<@{BOT}> help"),
        &format!("Ev0{tag}x{i}"),
        None,
    );
    slack_fake::envelope("events_api", payload, false)
}

/// Sends `envelopes` as fast as the fake can and waits until each is
/// acked; returns the ack latencies, sorted.
async fn acked(slack: &FakeSlack, envelopes: Vec<Value>) -> Vec<Duration> {
    let ids: HashSet<String> = envelopes.iter().map(slack_fake::envelope_id_of).collect();
    let before = slack.ack_count();
    let n = envelopes.len();
    for envelope in envelopes {
        slack.send_envelope(envelope).await;
    }
    poll(&format!("{n} acks"), WAIT, || {
        slack.ack_count() >= before + n
    })
    .await;
    let mut latencies: Vec<Duration> = slack
        .acks()
        .into_iter()
        .filter(|a| ids.contains(&a.envelope_id))
        .map(|a| a.latency)
        .collect();
    latencies.sort();
    latencies
}

/// The ack-only client on a fake of its own, with an incident channel and
/// a message standing in for its control message: the floor for
/// [`ack_burst`]'s ratio.
struct AckOnlySide {
    slack: FakeSlack,
    general: String,
    incident: String,
    control_ts: String,
    response_url: String,
    _client: AckOnly,
}

impl AckOnlySide {
    async fn start() -> AckOnlySide {
        let (slack, general, _) = workspace().await;
        let incident = slack.add_channel("inc-202612031200-www-down", true);
        let control_ts = slack.post_as_user(&incident, ALICE, "stands in for the control message");
        let response_url = slack.response_url();
        let client = AckOnly::spawn(&slack, 2);
        new_sockets(&slack, 0, 2).await;
        AckOnlySide {
            slack,
            general,
            incident,
            control_ts,
            response_url,
            _client: client,
        }
    }

    /// Its ack latencies for [`ack_burst`]'s burst of `n` (round `round`).
    async fn burst(&self, n: usize, round: usize) -> Vec<Duration> {
        let envelopes = mixed_burst(
            n,
            &format!("FLOOR{n}r{round}"),
            &self.general,
            &self.incident,
            &self.control_ts,
            &self.response_url,
        );
        acked(&self.slack, envelopes).await
    }
}

/// Memory after bursts: Janus (on Postgres) and the ack-only client, idle,
/// then 10 s after a burst of 500 and after one of 5,000 `@janus help`
/// mentions, which Janus answers (each answer posted before the clock
/// starts).
async fn memory_after_bursts(table: &mut Table) {
    const SETTLE: Duration = Duration::from_secs(10);
    let bursts = [500, 5_000];
    // The floor first, on a fake of its own.
    let (slack, general, _) = workspace().await;
    let client = AckOnly::spawn(&slack, 2);
    new_sockets(&slack, 0, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut floor = vec![client.memory()];
    for n in bursts {
        acked(&slack, help_mentions(&general, n, &format!("MFLOOR{n}"))).await;
        tokio::time::sleep(SETTLE).await;
        floor.push(client.memory());
    }
    drop(client);

    let (slack, general, _) = workspace().await;
    let db = TestDb::postgres().await;
    let mut bot = Bot::spawn(&slack, Store::Postgres(&db.url));
    new_sockets(&slack, 0, 2).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut janus = vec![bot.memory()];
    for n in bursts {
        let answered = slack.message_count(&general);
        acked(&slack, help_mentions(&general, n, &format!("MEM{n}"))).await;
        poll(&format!("{n} help answers"), WAIT, || {
            slack.message_count(&general) >= answered + n
        })
        .await;
        tokio::time::sleep(SETTLE).await;
        bot.assert_alive();
        janus.push(bot.memory());
    }
    let labels = [
        "idle after start",
        "10 s after 500 help mentions",
        "10 s after 5,000 more",
    ];
    let targets = ["< 15 MiB", "< 20 MiB", "< 20 MiB"];
    for ((label, target), (janus, floor)) in
        labels.iter().zip(targets).zip(janus.iter().zip(&floor))
    {
        table.add(
            "memory",
            &format!("RSS {label}: Janus (Postgres) / ack-only client"),
            format!("{} / {}", janus.show(), floor.show()),
            target,
        );
    }
    let peak = janus.last().map_or(0, |m| m.peak);
    table.add(
        "memory",
        "Janus's peak RSS over both bursts",
        mib(peak),
        "—",
    );
    // Connections to the fake (HTTP/1.1: one per request in flight at the
    // peak, kept idle by the HTTP client's pool) hold buffers of their own.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", bot.child.id())).map_or(0, |d| d.count());
    table.add(
        "memory",
        "Janus's open file descriptors 10 s after the bursts",
        fds.to_string(),
        "—",
    );
}
