//! Loading Kafka for the benchmarks: create a topic, and `lanewatch-bench produce` — a
//! fast producer (librdkafka's `BaseProducer`, batched with linger) writing synthetic
//! events keyed `<checkpoint>/<direction>/<lane>`, then checking the high watermarks.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::BenchError;
use crate::data;

/// `lanewatch-bench produce`: pre-load a topic.
#[derive(Debug, Clone, clap::Args)]
pub struct ProduceArgs {
    #[arg(long)]
    pub brokers: String,
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    #[arg(long, default_value_t = 1_000)]
    pub lanes: usize,
    /// Partitions of the topic when this creates it (an existing topic is kept).
    #[arg(long, default_value_t = 12)]
    pub partitions: i32,
    /// librdkafka `compression.codec` of the producer.
    #[arg(long, default_value = "lz4")]
    pub compression: String,
}

/// Create `topic` with `partitions` partitions; an existing topic is left as it is.
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) -> Result<(), BenchError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(BenchError::Kafka)?;
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let res = admin
        .create_topics(
            &[t],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .map_err(BenchError::Kafka)?;
    for r in res {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(BenchError::Kafka(KafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

/// A producer tuned for throughput (large batches, 20 ms linger).
pub fn producer(
    brokers: &str,
    compression: &str,
    linger_ms: u32,
) -> Result<BaseProducer, BenchError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", linger_ms.to_string())
        .set("batch.num.messages", "10000")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("compression.codec", compression)
        .create()
        .map_err(BenchError::Kafka)
}

/// Send one record, polling for delivery reports while the local queue is full.
pub fn send(p: &BaseProducer, topic: &str, key: &str, payload: &[u8]) {
    let mut rec = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match p.send(rec) {
            Ok(()) => return,
            Err((_, r)) => {
                rec = r;
                p.poll(Duration::from_millis(5));
            }
        }
    }
}

/// Sum of the high watermarks of every partition of `topic`, retried for up to 20 s
/// (a topic just created has no leaders for a moment).
pub fn high_watermark_sum(brokers: &str, topic: &str) -> Result<i64, BenchError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match watermarks_once(brokers, topic) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn watermarks_once(brokers: &str, topic: &str) -> Result<i64, BenchError> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(BenchError::Kafka)?;
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(BenchError::Kafka)?;
    let mut sum = 0;
    for t in md.topics() {
        if t.error().is_some() || t.partitions().is_empty() {
            return Err(BenchError::Incomplete(format!("topic {topic} not ready")));
        }
        for p in t.partitions() {
            let (_, high) = c
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .map_err(BenchError::Kafka)?;
            sum += high;
        }
    }
    Ok(sum)
}

/// Run `lanewatch-bench produce` and print its figures.
pub async fn produce(a: ProduceArgs) -> Result<(), BenchError> {
    create_topic(&a.brokers, &a.topic, a.partitions).await?;
    let a2 = a.clone();
    let (before, seconds, after) = tokio::task::spawn_blocking(move || {
        let before = high_watermark_sum(&a2.brokers, &a2.topic)?;
        let p = producer(&a2.brokers, &a2.compression, 20)?;
        let start = lanewatch::time::now_ms() - 30 * 86_400_000;
        let t = Instant::now();
        let mut buf = String::with_capacity(512);
        for i in 0..a2.events {
            buf.clear();
            let key = data::event_json(&mut buf, i, a2.lanes, start, 2_000.0);
            send(&p, &a2.topic, &key, buf.as_bytes());
            if i % 4096 == 0 {
                p.poll(Duration::ZERO);
            }
        }
        p.flush(Duration::from_secs(300))
            .map_err(BenchError::Kafka)?;
        let seconds = t.elapsed().as_secs_f64();
        Ok::<_, BenchError>((before, seconds, high_watermark_sum(&a2.brokers, &a2.topic)?))
    })
    .await
    .expect("producer thread")?;
    let loaded = after - before;
    println!(
        "bench=produce topic={} events={} lanes={} partitions={} compression={} loaded={loaded} seconds={seconds:.3} events_per_second={:.0}",
        a.topic,
        a.events,
        a.lanes,
        a.partitions,
        a.compression,
        a.events as f64 / seconds
    );
    if loaded < a.events as i64 {
        return Err(BenchError::Incomplete(format!(
            "only {loaded} of {} events reached {}",
            a.events, a.topic
        )));
    }
    Ok(())
}
