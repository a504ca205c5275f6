//! The live Kafka source: a consumer-group member that feeds the pipeline.
//!
//! # Delivery guarantee: at-least-once
//!
//! Messages are polled and applied synchronously on one thread. A message's offset is
//! stored (`enable.auto.offset.store=false`, `store_offset` per message) only after the
//! pipeline applied it and, for a rejected message, after it was queued to the
//! dead-letter producer. Stored offsets are committed synchronously (so every result
//! is known, counted and a failure retried by the next commit) every
//! `source.commit_interval` after flushing the dead-letter queue, when partitions are
//! revoked, and at shutdown (stop polling → everything polled is applied →
//! flush dead letters → commit → leave the group).
//!
//! What can be duplicated: after a crash (SIGKILL, OOM, power loss) the messages
//! applied since the last commit — at most one commit interval of traffic plus what
//! was polled but not yet committed — are delivered again to the restarted process,
//! whose de-duplication window died with the old one: they are counted twice. Within a
//! running process, redelivery (a partition handed back after a rebalance, a sensor
//! re-sending) is caught by `event_id` de-duplication. A graceful stop (SIGTERM)
//! commits everything applied, so a restart re-reads nothing.
//! Nothing is lost: an offset is never stored before its message was applied.

pub mod committer;
pub mod context;
pub mod dlq;
pub mod metrics;
pub mod splits;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use rustc_hash::FxHashMap;
use tokio_util::sync::CancellationToken;

use crate::config::SourceConfig;
use crate::engine::pipeline::Observer;
use crate::engine::pipeline::{Outcome, Pipeline};
use crate::engine::time::now_ms;
use crate::health::Health;
use committer::Committer;
use context::SourceContext;
use dlq::DeadLetter;
pub use metrics::SourceMetrics;
use splits::{Alignment, Splits};

/// Errors of the Kafka source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "cannot create the Kafka consumer: {0} (check [source] and the librdkafka options in [kafka])"
    )]
    Consumer(#[source] KafkaError),
    #[error(
        "cannot create the dead-letter producer: {0} (check [kafka] or set source.dead_letter_topic = \"\")"
    )]
    Producer(#[source] KafkaError),
    #[error("cannot subscribe to topic {topic:?}: {source}")]
    Subscribe { topic: String, source: KafkaError },
    #[error("the consumer thread could not be started: {0}")]
    Thread(#[source] std::io::Error),
}

impl crate::exit::Failure for SourceError {
    /// The consumer, the dead-letter producer or the subscription refused what the
    /// configuration gave (`[source]`, `[kafka]`); a thread that cannot start is not.
    fn is_user_error(&self) -> bool {
        !matches!(self, SourceError::Thread(_))
    }
}

/// What the source did, returned when it stops.
#[derive(Debug, Default, Clone)]
pub struct SourceSummary {
    pub messages: u64,
    pub rejected: u64,
    pub final_commit_ok: bool,
}

/// The librdkafka client configuration common to the consumer and the producer.
pub fn client_config(cfg: &SourceConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers);
    c.set_log_level(RDKafkaLogLevel::Warning);
    for (k, v) in &cfg.kafka {
        c.set(k, v);
    }
    c
}

/// Create the consumer (and dead-letter producer) and start the consume thread. The
/// thread stops when `shutdown` is cancelled, after the final commit.
pub fn spawn<O: Observer + Send + 'static>(
    cfg: &SourceConfig,
    mut pipeline: Pipeline<O>,
    health: Arc<Health>,
    metrics: SourceMetrics,
    shutdown: CancellationToken,
) -> Result<JoinHandle<(SourceSummary, Pipeline<O>)>, SourceError> {
    let base = client_config(cfg);
    let dlq = match &cfg.dead_letter_topic {
        Some(t) => Some(Arc::new(
            DeadLetter::new(base.clone(), t.clone(), metrics.clone())
                .map_err(SourceError::Producer)?,
        )),
        None => None,
    };
    let mut c = base;
    c.set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "statistics.interval.ms",
            cfg.statistics_interval.as_millis().to_string(),
        )
        .set(
            "queued.max.messages.kbytes",
            cfg.queued_max_messages_kbytes.to_string(),
        );
    if !cfg.kafka.contains_key("auto.offset.reset") {
        c.set("auto.offset.reset", "earliest");
    }
    // With a small prefetch queue, librdkafka's default 1 s pause after the queue fills
    // idled the consumer most of a backlog drain (57 k events/s instead of 160 k at
    // 4 MiB): resume fetching as soon as the queue has room.
    if !cfg.kafka.contains_key("fetch.queue.backoff.ms") {
        c.set("fetch.queue.backoff.ms", "10");
    }
    let ctx = SourceContext::new(health.clone(), metrics.clone(), dlq.clone());
    let consumer: BaseConsumer<SourceContext> =
        c.create_with_context(ctx).map_err(SourceError::Consumer)?;
    consumer
        .subscribe(&[&cfg.topic])
        .map_err(|source| SourceError::Subscribe {
            topic: cfg.topic.clone(),
            source,
        })?;
    let pace = Pace {
        topic: cfg.topic.clone(),
        commit_interval: cfg.commit_interval,
        lag_interval: cfg.statistics_interval,
        max_partition_drift: cfg.max_partition_drift,
    };
    let consumer = Arc::new(consumer);
    let committer =
        Committer::start(consumer.clone(), metrics.clone()).map_err(SourceError::Thread)?;
    std::thread::Builder::new()
        .name("lanewatch-consumer".into())
        .spawn(move || {
            let s = consume(
                &consumer,
                &mut pipeline,
                dlq.as_deref(),
                &metrics,
                &committer,
                &shutdown,
                &pace,
            );
            if !committer.stop(Duration::from_secs(2)) {
                tracing::warn!("a commit is still waiting for the broker; closing without it");
            }
            close(consumer, &health);
            (s, pipeline)
        })
        .map_err(SourceError::Thread)
}

const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// What the consume loop needs of the configuration.
struct Pace {
    topic: String,
    commit_interval: Duration,
    lag_interval: Duration,
    max_partition_drift: Duration,
}

fn consume<O: Observer>(
    consumer: &BaseConsumer<SourceContext>,
    pipeline: &mut Pipeline<O>,
    dlq: Option<&DeadLetter>,
    metrics: &SourceMetrics,
    committer: &Committer,
    shutdown: &CancellationToken,
    pace: &Pace,
) -> SourceSummary {
    let (commit_interval, lag_interval) = (pace.commit_interval, pace.lag_interval);
    let mut summary = SourceSummary::default();
    // Kafka timestamp (ms) of the last processed message per partition, for lag seconds.
    let mut last_ts: FxHashMap<i32, i64> = FxHashMap::default();
    let mut next_commit = Instant::now() + commit_interval;
    let mut next_lag = Instant::now() + lag_interval;
    let mut now = now_ms();
    let mut next_tick = Instant::now();
    let mut next_expiry = Instant::now();
    let idle = Duration::from_millis(pipeline.idle_timeout_ms().max(0) as u64);
    let mut splits = Splits::new(idle, pace.max_partition_drift);
    let mut alignment = Alignment::default();
    while !shutdown.is_cancelled() {
        // Poll a burst without looking at the clock per message.
        let mut caught_up = false;
        for _ in 0..1024 {
            let polled_at = Instant::now();
            let polled = consumer.poll(POLL_TIMEOUT);
            let changes = consumer.context().take_assignment_changes();
            if !changes.is_empty() {
                splits.assignment(&changes, pipeline, &mut alignment);
                pause_resume(consumer, &pace.topic, &alignment);
            }
            match polled {
                None => {
                    // `None` also follows a rebalance or commit event served by poll;
                    // only a poll that waited out its timeout means nothing is waiting.
                    caught_up = polled_at.elapsed() >= POLL_TIMEOUT;
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "consume error");
                    break;
                }
                Some(Ok(msg)) => {
                    summary.messages += 1;
                    let payload = msg.payload().unwrap_or_default();
                    let split = u32::try_from(msg.partition()).unwrap_or(0);
                    let outcome = pipeline.apply_from(payload, split, Some(now));
                    splits.consumed(msg.partition(), msg.offset(), pipeline);
                    if let Outcome::Rejected(r) = outcome {
                        summary.rejected += 1;
                        tracing::debug!(partition = msg.partition(), offset = msg.offset(), %r, "rejected");
                        match dlq {
                            Some(d) => d.send(&msg, &r),
                            None => metrics.dead_letters.with_label_values(&["disabled"]).inc(),
                        }
                    }
                    if let Some(ts) = msg.timestamp().to_millis() {
                        last_ts.insert(msg.partition(), ts);
                    }
                    if let Err(e) = consumer.store_offset_from_message(&msg) {
                        // A partition revoked in the meantime: its next owner re-reads it.
                        tracing::debug!(error = %e, "offset not stored");
                    }
                }
            }
        }
        splits.align(pipeline, &mut alignment);
        if !(alignment.pause.is_empty() && alignment.resume.is_empty()) {
            pause_resume(consumer, &pace.topic, &alignment);
            metrics.pauses.inc_by(alignment.pause.len() as u64);
        }
        let t = Instant::now();
        now = now_ms();
        if t >= next_commit {
            next_commit = t + commit_interval;
            if let Some(d) = dlq {
                d.flush(Duration::from_secs(10));
            }
            // Never blocks the poll loop, even with the broker unreachable.
            committer.request();
        }
        if t >= next_lag {
            next_lag = t + lag_interval;
            if let Some(stats) = take_stats(consumer) {
                update_lag(&stats, &last_ts, metrics, now);
                splits.statistics(&stats.partitions, pipeline);
            }
        }
        splits.expire(pipeline);
        if t >= next_expiry {
            next_expiry = t + Duration::from_secs(1);
            pipeline.expire_dynamic(now);
        }
        // Nothing waiting: silence now means silent checkpoints, not a backlog — unless
        // the broker is unreachable (then the events are only delayed, and the windows
        // wait for them).
        if caught_up && t >= next_tick && consumer.context().health.connected() {
            next_tick = t + Duration::from_secs(1);
            pipeline.tick(now);
        }
    }
    tracing::info!("stopping: fetching stopped, flushing dead letters and committing");
    if let Some(d) = dlq {
        d.flush(Duration::from_secs(10));
    }
    summary.final_commit_ok = committer.commit_and_wait(Duration::from_secs(8));
    if !summary.final_commit_ok {
        tracing::warn!(
            "final commit failed or timed out (broker unreachable?): offsets applied since the last commit stay uncommitted and are re-read on restart"
        );
    }
    summary
}

/// Pause and resume what [`Splits::align`] (or a rebalance) asked for. A failure
/// only costs alignment (memory while a backlog drains), never an event: it is logged.
fn pause_resume(consumer: &BaseConsumer<SourceContext>, topic: &str, a: &Alignment) {
    for (parts, pause) in [(&a.pause, true), (&a.resume, false)] {
        if parts.is_empty() {
            continue;
        }
        let mut tpl = TopicPartitionList::with_capacity(parts.len());
        for &p in parts {
            tpl.add_partition(topic, p);
        }
        let r = if pause {
            consumer.pause(&tpl)
        } else {
            consumer.resume(&tpl)
        };
        match r {
            Ok(()) => tracing::debug!(?parts, pause, "partition alignment"),
            Err(e) => {
                tracing::warn!(error = %e, ?parts, pause, "cannot pause or resume partitions")
            }
        }
    }
}

/// The newest statistics report, if one came since the last call.
fn take_stats(consumer: &BaseConsumer<SourceContext>) -> Option<metrics::StatsSummary> {
    consumer
        .context()
        .stats
        .lock()
        .ok()
        .and_then(|mut s| s.take())
}

fn update_lag(
    summary: &metrics::StatsSummary,
    last_ts: &FxHashMap<i32, i64>,
    m: &SourceMetrics,
    now: i64,
) {
    for &(ref topic, p, lag) in &summary.lags {
        let ps = p.to_string();
        m.lag_messages
            .with_label_values(&[topic, &ps])
            .set(lag as f64);
        let secs = match (lag > 0, last_ts.get(&p)) {
            (true, Some(&ts)) => ((now - ts).max(0) as f64) / 1000.0,
            _ => 0.0,
        };
        m.lag_seconds.with_label_values(&[topic, &ps]).set(secs);
    }
}

fn close(consumer: Arc<BaseConsumer<SourceContext>>, health: &Health) {
    // Leave the group: dropping the last handle closes the consumer (revocation runs
    // pre_rebalance, a no-op commit now) and polls until librdkafka reports it closed.
    // A commit still hanging on an unreachable broker keeps its handle: then the
    // process exits without leaving the group (the session times out instead).
    health.set_stopped();
    drop(consumer);
    tracing::info!("consumer closed, group left");
}
