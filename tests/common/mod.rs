//! Shared helpers of the integration tests: the real Kafka broker started by
//! `tests/run.sh`, fresh topics and groups, producing, reading the dead-letter topic,
//! committed offsets, and scraping `/metrics` over real HTTP.
#![allow(dead_code)]

pub mod own;
pub mod service;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bootstrap address of the test broker. The suite is run by `tests/run.sh`, which
/// starts a real Apache Kafka; without it the test fails (never skips).
pub fn brokers() -> String {
    std::env::var("LANEWATCH_TEST_BROKERS").unwrap_or_else(|_| {
        panic!("LANEWATCH_TEST_BROKERS is not set: run the suite with tests/run.sh, which starts Apache Kafka")
    })
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

/// Create a fresh topic with `partitions` partitions.
pub async fn fresh_topic(prefix: &str, partitions: i32) -> String {
    let name = unique(prefix);
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("admin client");
    // No time retention: tests produce events (and Kafka timestamps) from past days, and
    // the broker's periodic retention check would delete them mid-test (it did: a replay
    // found its partitions' log start moved past the range).
    let t = NewTopic::new(&name, partitions, TopicReplication::Fixed(1))
        .set("max.message.bytes", "16777216")
        .set("retention.ms", "-1");
    let res = admin
        .create_topics(&[t], &AdminOptions::new())
        .await
        .expect("create topic");
    for r in res {
        r.expect("topic created");
    }
    name
}

/// Produce `(key, value)` messages and wait until all are delivered.
pub fn produce(topic: &str, messages: &[(String, Vec<u8>)]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("message.max.bytes", "16777216")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for (k, v) in messages {
        let mut rec = BaseRecord::to(topic).key(k.as_str()).payload(v.as_slice());
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30))
        .expect("all messages delivered");
}

/// Produce `(partition, value)` messages without keys to the given partitions and
/// wait until all are delivered.
pub fn produce_to_partitions(topic: &str, messages: &[(i32, Vec<u8>)]) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    for (part, v) in messages {
        let mut rec = BaseRecord::<(), _>::to(topic)
            .partition(*part)
            .payload(v.as_slice());
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(
                        matches!(
                            e.rdkafka_error_code(),
                            Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                        ),
                        "produce failed: {e}"
                    );
                    rec = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
    }
    p.flush(Duration::from_secs(30))
        .expect("all messages delivered");
}

/// A dead-lettered message as read back.
#[derive(Debug, Clone)]
pub struct Dlq {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

/// Read every message of `topic` (all partitions, from the beginning) until `expect`
/// are read or `timeout` passes, then a little longer to catch extra ones.
pub fn read_all(topic: &str, expect: usize, timeout: Duration) -> Vec<Dlq> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .unwrap();
        }
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    let mut extra_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if now > deadline || extra_until.is_some_and(|e| now > e) {
            break;
        }
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let mut headers = BTreeMap::new();
            if let Some(h) = m.headers() {
                for h in h.iter() {
                    headers.insert(
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    );
                }
            }
            out.push(Dlq {
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
        if out.len() >= expect && extra_until.is_none() {
            extra_until = Some(Instant::now() + Duration::from_secs(1));
        }
    }
    out
}

/// Committed offset per partition of `group` on `topic` (-1001 = none).
pub fn committed(topic: &str, group: &str, partitions: i32) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|p| {
            got.find_partition(topic, p)
                .map(|e| e.offset().to_raw().unwrap_or(-1001))
                .unwrap_or(-1001)
        })
        .collect()
}

/// High watermark per partition.
pub fn high_watermarks(topic: &str, partitions: i32) -> Vec<i64> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            c.fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect()
}

/// A configuration for a test: fresh topic and group, HTTP on a free loopback port,
/// fast commits and statistics. `extra` is appended TOML.
pub fn config_toml(
    dir: &Path,
    topic: &str,
    group: &str,
    dlq: &str,
    registry: &str,
    extra: &str,
) -> String {
    std::fs::write(dir.join("checkpoints.toml"), registry).unwrap();
    format!(
        r#"registry = "checkpoints.toml"
[source]
brokers = "{brokers}"
topic = "{topic}"
group_id = "{group}"
dead_letter_topic = "{dlq}"
commit_interval = "500ms"
statistics_interval = "500ms"
[http]
listen = "127.0.0.1:0"
{extra}
"#,
        brokers = brokers()
    )
}

pub fn config(
    dir: &Path,
    topic: &str,
    group: &str,
    dlq: &str,
    registry: &str,
    extra: &str,
) -> lanewatch::Config {
    let text = config_toml(dir, topic, group, dlq, registry, extra);
    let path = dir.join("lanewatch.toml");
    std::fs::write(&path, text).unwrap();
    lanewatch::Config::load(&path).unwrap_or_else(|e| panic!("test config invalid: {e}"))
}

/// `GET path` over HTTP/1.1; returns the status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    // Chunked bodies: strip the chunk-size lines.
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(b: &str) -> String {
    let mut out = String::new();
    let mut rest = b;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n.min(after.len())]);
        rest = after.get(n + 2..).unwrap_or("");
    }
    out
}

pub async fn scrape(addr: SocketAddr) -> Metrics {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "scrape failed: {body}");
    Metrics::parse(&body)
}

/// Samples of a text exposition: `(name, labels) → value`.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    pub fn parse(body: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in body.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or(f64::NAN),
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n.to_string(), parse_labels(l.trim_end_matches('}'))),
                None => (series.to_string(), BTreeMap::new()),
            };
            samples.push((name, labels, value));
        }
        Metrics { samples }
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.2)
    }

    /// Sum over every sample of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.2)
            .sum()
    }

    pub fn count(&self, name: &str) -> usize {
        self.samples.iter().filter(|(n, _, _)| n == name).count()
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((k, after)) = rest.split_once("=\"") {
        let mut val = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        val.push(match n {
                            'n' => '\n',
                            o => o,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        out.insert(k.trim_start_matches(',').trim().to_string(), val);
        rest = &after[end..];
    }
    out
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

/// A lane-passage event as JSON, times in Unix milliseconds rendered as RFC 3339 (+08:00).
pub fn event_json(
    id: &str,
    cp: &str,
    dir: &str,
    lane: &str,
    arrived: i64,
    inspection: Option<i64>,
    departed: i64,
) -> String {
    let ts = |ms: i64| {
        let t = jiff::Timestamp::from_millisecond(ms).unwrap();
        t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
            .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string()
    };
    let insp = inspection
        .map(|i| format!(",\"inspection_started_at\":\"{}\"", ts(i)))
        .unwrap_or_default();
    format!(
        r#"{{"event_id":"{id}","checkpoint":"{cp}","direction":"{dir}","lane":"{lane}","vehicle_class":"car","arrived_at":"{}"{insp},"departed_at":"{}"}}"#,
        ts(arrived),
        ts(departed)
    )
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
