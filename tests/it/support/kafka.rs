//! The Kafka broker a test talks to, passed in as a [`Kafka`] handle: the suite's (the
//! real Apache Kafka started by `tests/run.sh`, `LANEWATCH_TEST_BROKERS`) or a broker of
//! the test's own (TLS, outages). Fresh topics, producing (failing fast on a permanent
//! error), reading a topic back, committed offsets and watermarks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::unique;

/// A Kafka cluster by its bootstrap address.
#[derive(Debug, Clone)]
pub struct Kafka {
    bootstrap: String,
}

impl Kafka {
    /// The suite's broker (`LANEWATCH_TEST_BROKERS`, exported by `tests/run.sh`), if
    /// there is one. Tests get it through [`crate::kafka!`], which leaves them out
    /// (or, under `tests/run.sh`, fails them) without it.
    pub fn suite() -> Option<Kafka> {
        std::env::var("LANEWATCH_TEST_BROKERS")
            .ok()
            .filter(|b| !b.trim().is_empty())
            .map(|b| Kafka::own(b.trim()))
    }

    /// A broker at `bootstrap`: one the test started itself (or an address that is
    /// never reached).
    pub fn own(bootstrap: &str) -> Kafka {
        Kafka {
            bootstrap: bootstrap.to_string(),
        }
    }

    /// The bootstrap address.
    pub fn brokers(&self) -> String {
        self.bootstrap.clone()
    }

    /// Create a fresh topic with `partitions` partitions.
    pub async fn fresh_topic(&self, prefix: &str, partitions: i32) -> String {
        let name = unique(prefix);
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("admin client");
        // No time retention: tests produce events (and Kafka timestamps) from past days,
        // and the broker's periodic retention check would delete them mid-test (it did:
        // a replay found its partitions' log start moved past the range).
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
    pub fn produce(&self, topic: &str, messages: &[(String, Vec<u8>)]) {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("message.max.bytes", "16777216")
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for (k, v) in messages {
            send(
                &p,
                BaseRecord::to(topic).key(k.as_str()).payload(v.as_slice()),
            );
        }
        p.flush(Duration::from_secs(30))
            .expect("all messages delivered");
    }

    /// Produce `(partition, value)` messages without keys to the given partitions and
    /// wait until all are delivered.
    pub fn produce_to_partitions(&self, topic: &str, messages: &[(i32, Vec<u8>)]) {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for (part, v) in messages {
            send(
                &p,
                BaseRecord::<(), _>::to(topic)
                    .partition(*part)
                    .payload(v.as_slice()),
            );
        }
        p.flush(Duration::from_secs(30))
            .expect("all messages delivered");
    }

    /// Read every message of `topic` (all partitions, from the beginning) until `expect`
    /// are read or `timeout` passes, then a little longer to catch extra ones.
    pub fn read_all(&self, topic: &str, expect: usize, timeout: Duration) -> Vec<Dlq> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
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
    pub fn committed(&self, topic: &str, group: &str, partitions: i32) -> Vec<i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
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
    pub fn high_watermarks(&self, topic: &str, partitions: i32) -> Vec<i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
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

    /// A configuration for a test on this broker: fresh topic and group, HTTP on a free
    /// loopback port, fast commits and statistics. `extra` is appended TOML.
    pub fn config_toml(
        &self,
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
            brokers = self.bootstrap
        )
    }

    /// [`Kafka::config_toml`] written to `dir/lanewatch.toml` and loaded.
    pub fn config(
        &self,
        dir: &Path,
        topic: &str,
        group: &str,
        dlq: &str,
        registry: &str,
        extra: &str,
    ) -> lanewatch::Config {
        let text = self.config_toml(dir, topic, group, dlq, registry, extra);
        let path = dir.join("lanewatch.toml");
        std::fs::write(&path, text).unwrap();
        lanewatch::Config::load(&path).unwrap_or_else(|e| panic!("test config invalid: {e}"))
    }
}

/// Hand `rec` to the producer, waiting while its queue is full; any other error (a
/// message too large, an unknown topic or partition) fails the test at once instead
/// of being retried for ever.
pub fn send<K, P>(p: &BaseProducer, mut rec: BaseRecord<'_, K, P>)
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match p.send(rec) {
            Ok(()) => return,
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

/// A message as read back (dead letters, mostly).
#[derive(Debug, Clone)]
pub struct Dlq {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}
