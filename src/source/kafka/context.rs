//! The consumer's librdkafka callbacks: rebalances (synchronous commit of revoked
//! partitions), commit results, statistics (lag, connectivity) and errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

use super::dlq::DeadLetter;
use super::metrics::{SourceMetrics, StatsSummary, summarize};
use crate::health::Health;

pub struct SourceContext {
    pub health: Arc<Health>,
    pub metrics: SourceMetrics,
    pub dlq: Option<Arc<DeadLetter>>,
    /// The newest statistics summary, taken by the consume loop.
    pub stats: Mutex<Option<StatsSummary>>,
    /// Partitions assigned (`true`) or revoked (`false`) since the consume loop last
    /// looked, for the pipeline's split states; `rebalanced` says there are some.
    pub assignment: Mutex<Vec<(i32, bool)>>,
    pub rebalanced: AtomicBool,
}

impl SourceContext {
    pub fn new(health: Arc<Health>, metrics: SourceMetrics, dlq: Option<Arc<DeadLetter>>) -> Self {
        SourceContext {
            health,
            metrics,
            dlq,
            stats: Mutex::new(None),
            assignment: Mutex::new(Vec::new()),
            rebalanced: AtomicBool::new(false),
        }
    }

    fn note_assignment(&self, tpl: &rdkafka::TopicPartitionList, assigned: bool) {
        if let Ok(mut a) = self.assignment.lock() {
            a.extend(tpl.elements().iter().map(|e| (e.partition(), assigned)));
        }
        self.rebalanced.store(true, Ordering::Release);
    }

    /// Take the assignment changes since the last call (cheap when there are none).
    pub fn take_assignment_changes(&self) -> Vec<(i32, bool)> {
        if !self.rebalanced.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        self.assignment
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        let s = summarize(&statistics);
        self.health.set_connected(s.connected);
        self.metrics.connected.set(i64::from(s.connected));
        if let Ok(mut slot) = self.stats.lock() {
            *slot = Some(s);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.health.set_connected(false);
            self.metrics.connected.set(0);
        }
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.metrics.rebalances.with_label_values(&["revoke"]).inc();
            self.health.set_revoked();
            // Everything polled so far has been applied and stored (processing is
            // synchronous on this thread): flush dead letters, then commit before the
            // partitions go to another instance.
            if let Some(d) = &self.dlq {
                d.flush(Duration::from_secs(10));
            }
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(()) => self.metrics.commits.with_label_values(&["ok"]).inc(),
                Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => {
                    self.metrics.commits.with_label_values(&["error"]).inc();
                    tracing::error!(error = %e, "commit of revoked partitions failed; they may be re-read by their next owner");
                }
            }
            for e in tpl.elements() {
                let p = e.partition().to_string();
                let _ = self
                    .metrics
                    .lag_messages
                    .remove_label_values(&[e.topic(), &p]);
                let _ = self
                    .metrics
                    .lag_seconds
                    .remove_label_values(&[e.topic(), &p]);
            }
            self.note_assignment(tpl, false);
            tracing::info!(partitions = tpl.count(), "partitions revoked");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.metrics.rebalances.with_label_values(&["assign"]).inc();
                let n = tpl.count() as i64;
                self.health.set_assignment(n);
                self.metrics.assigned.set(n);
                self.note_assignment(tpl, true);
                tracing::info!(partitions = n, "partitions assigned");
            }
            Rebalance::Revoke(_) => {
                let n = consumer.assignment().map(|a| a.count() as i64).unwrap_or(0);
                self.metrics.assigned.set(n);
            }
            Rebalance::Error(e) => tracing::error!(error = %e, "rebalance error"),
        }
    }
}
