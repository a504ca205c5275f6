//! The support module of the integration tests (one binary, `tests/it/main.rs`): what a
//! test needs and leaving it out when that is missing ([`require`]), the Kafka broker
//! passed in as a handle ([`kafka::Kafka`]), HTTP with `reqwest` and the one `/metrics`
//! snapshot reader, the one passage builder and nearest-rank oracle, the service as a
//! child process, brokers and certificates of a test's own, the replay datasets, and
//! headless Chromium with axe-core for the board.

pub mod axe;
pub mod board_dom;
pub mod chromium;
pub mod http;
pub mod kafka;
pub mod own;
pub mod passage;
pub mod prometheus;
pub mod replay;
pub mod service;

pub use http::{Metrics, http_get, scrape};
pub use kafka::{Kafka, send};
pub use passage::{Passage, event_json, nearest_rank_pct};

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What a test needs besides cargo: the suite's Kafka broker, a program on `PATH`
/// (Debian's `prometheus`, `chromium`, `tmux`…), or axe-core (npm). `tests/run.sh`
/// installs and starts all of them.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    Kafka,
    Tool(&'static str),
    Axe,
}

impl Need {
    fn available(self) -> bool {
        match self {
            Need::Kafka => Kafka::suite().is_some(),
            Need::Tool(name) => on_path(name),
            Need::Axe => axe::axe_js_path().exists(),
        }
    }

    fn describe(self) -> String {
        match self {
            Need::Kafka => "Kafka (LANEWATCH_TEST_BROKERS)".to_string(),
            Need::Tool(name) => format!("`{name}`"),
            Need::Axe => "axe-core (npm)".to_string(),
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(program)).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt as _;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

/// Whether the running test has everything in `needs`. Without something, the test is
/// left out: a `left out: <test> needs …` line goes straight to stderr (not captured,
/// so a plain `cargo test` shows it) and the caller returns. Under `tests/run.sh`
/// (`LANEWATCH_TEST_REQUIRE_ALL=1`, and so in CI) nothing is left out: the test fails,
/// saying what is missing.
pub fn require(needs: &[Need]) -> bool {
    let missing: Vec<String> = needs
        .iter()
        .filter(|n| !n.available())
        .map(|n| n.describe())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let missing = missing.join(" and ");
    if std::env::var("LANEWATCH_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!(
            "{test} needs {missing}, which is missing; LANEWATCH_TEST_REQUIRE_ALL=1 leaves nothing out (tests/run.sh installs and starts everything)"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "left out: {test} needs {missing} (run tests/run.sh)"
    );
    false
}

/// `require!(Need::…, …)`: return from the test (left out) unless it has these.
macro_rules! require {
    ($($need:expr),+ $(,)?) => {
        if !$crate::support::require(&[$($need),+]) {
            return;
        }
    };
}

/// `let kafka = kafka!();` (or `kafka!(Need::…)` for more): the suite's broker, or
/// return from the test (left out) without it.
macro_rules! kafka {
    ($($need:expr),* $(,)?) => {
        match $crate::support::require(&[$crate::support::Need::Kafka, $($need),*]) {
            true => $crate::support::Kafka::suite().expect("checked by require"),
            false => return,
        }
    };
}

/// Held by the heavy tests (a broker or Prometheus of their own, Chromium, the memory
/// measurement) so that no two of them run at once: the suite runs two tests at a time
/// on a 2-core machine, and these are the ones whose timings would suffer. (A flag and
/// a condition variable rather than a mutex guard: the async tests hold it across
/// `.await`, and a failed test releases it as it unwinds.)
pub fn heavy() -> Alone {
    let mut busy = HEAVY.0.lock().unwrap_or_else(|e| e.into_inner());
    while *busy {
        busy = HEAVY.1.wait(busy).unwrap_or_else(|e| e.into_inner());
    }
    *busy = true;
    Alone(())
}

static HEAVY: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

/// A heavy test's turn (see [`heavy`]); the next one's begins when it is dropped.
pub struct Alone(());

impl Drop for Alone {
    fn drop(&mut self) {
        *HEAVY.0.lock().unwrap_or_else(|e| e.into_inner()) = false;
        HEAVY.1.notify_one();
    }
}

const ISOLATED: &str = "LANEWATCH_TEST_ISOLATED";

/// For a test that must be alone in its process (it measures the process's resident
/// memory): `true` in a child process of this test binary that runs only `test` (its
/// full name, `module::function`), where the caller runs the test's body; in the
/// test harness's process, it runs that child, forwards its output and panics if it
/// failed, and returns `false`.
pub fn in_own_process(test: &str) -> bool {
    if std::env::var(ISOLATED).as_deref() == Ok(test) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ISOLATED, test)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    print!("{stdout}");
    assert!(out.status.success(), "{test} failed in its own process");
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run in its own process (no such test?)"
    );
    false
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test run: `<prefix>-<pid>-<n>-<nanos>`.
pub fn unique(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

/// `promtool check metrics` (Debian's `prometheus` package) on an exposition: panics
/// with what it printed unless it exits 0 and prints nothing (no lint warning).
pub fn promtool_check_metrics(exposition: &[u8]) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (apt-get install prometheus)");
    let mut stdin = child.stdin.take().unwrap();
    let input = exposition.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}"
    );
}

/// Poll `f` every 100 ms until it returns `Some`, or panic after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_or(timeout, what, String::new, f).await
}

/// [`eventually`], adding `last()` (what was seen last) to the panic message.
pub async fn eventually_or<T, F, Fut>(
    timeout: Duration,
    what: &str,
    last: impl Fn() -> String,
    mut f: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}; last seen: {}",
                last()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A loopback port free a moment ago (for a program that must be told its port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A configuration in a fresh dir whose `web.yml` is `web` and whose `[http]` table
/// listens on port 0 with the web config and `http_extra` lines.
pub fn web_config(web: &str, http_extra: &str) -> (tempfile::TempDir, lanewatch::config::Config) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web.yml"), web).unwrap();
    std::fs::write(
        dir.path().join("lanewatch.toml"),
        format!("[http]\nlisten = \"127.0.0.1:0\"\nweb_config_file = \"web.yml\"\n{http_extra}"),
    )
    .unwrap();
    let config = lanewatch::config::Config::load(&dir.path().join("lanewatch.toml")).unwrap();
    (dir, config)
}

/// Everything the live service exports: the pipeline (with its lanes and congestion),
/// the Kafka source (per-partition series once assigned), basic auth and build info.
pub fn live_exposition() -> String {
    let config = lanewatch::Config::shipped();
    let mut pipeline = lanewatch::pipeline::Pipeline::new(&config);
    pipeline.apply(
        br#"{"event_id":"e1","checkpoint":"baimiao","direction":"inbound","lane":"01","arrived_at":1000,"inspection_started_at":2000,"departed_at":3000}"#,
        None,
    );
    let metrics = lanewatch::export::metrics::Metrics::new();
    metrics.register(lanewatch::export::engine::collectors(&pipeline));
    metrics.add_lanes(pipeline.lane_series());
    metrics.register_event_age(pipeline.counters.clone());
    let source = lanewatch::source::kafka::SourceMetrics::new();
    source.lag_messages.with_label_values(&["t", "0"]).set(0.0);
    source.lag_seconds.with_label_values(&["t", "0"]).set(0.0);
    metrics.register(source.collectors());
    let users = [("u".to_string(), "$2y$04$abcdefghijklmnopqrstuO".to_string())];
    metrics.register(
        lanewatch::export::auth::BasicAuth::new(users.into_iter().collect()).collectors(),
    );
    String::from_utf8(metrics.encode()).unwrap()
}

/// A `/metrics` registry of `lanes` idle lanes (no pipeline), `per_checkpoint` to a
/// checkpoint (`cp<n>`, lanes `00`, `01`, …), inbound: a region-sized exposition.
pub fn metrics_of_lanes(
    config: &lanewatch::Config,
    lanes: usize,
    per_checkpoint: usize,
) -> lanewatch::export::metrics::Metrics {
    let metrics = lanewatch::export::metrics::Metrics::new();
    let series = lanewatch::lanes::LaneSeries::new(&config.buckets, &config.windows);
    for i in 0..lanes {
        series.lane(
            &format!("cp{}", i / per_checkpoint),
            "inbound",
            &format!("{:02}", i % per_checkpoint),
            None,
            lanewatch::lanes::LaneTraits::UNLISTED,
        );
    }
    metrics.add_lanes(series);
    metrics
}
