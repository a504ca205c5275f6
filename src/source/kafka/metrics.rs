//! The Kafka source's metrics: consumer lag per partition (messages and seconds), broker
//! connectivity, commit and dead-letter outcomes, from librdkafka's statistics and
//! callbacks.

use crate::export::FamilyOpts;
use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounter, IntCounterVec, IntGauge};
use rdkafka::statistics::Statistics;

/// Series of the Kafka source.
#[derive(Clone)]
pub struct SourceMetrics {
    pub lag_messages: GaugeVec,
    pub lag_seconds: GaugeVec,
    pub connected: IntGauge,
    pub commits: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub assigned: IntGauge,
    pub pauses: IntCounter,
    pub rebalances: IntCounterVec,
}

impl Default for SourceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl SourceMetrics {
    pub fn new() -> Self {
        use crate::engine::catalogue::{self as cat, Family};
        let gauges = |f: Family| GaugeVec::new(f.opts(), f.labels).expect("valid gauge");
        let counters = |f: Family| IntCounterVec::new(f.opts(), f.labels).expect("valid counter");
        let gauge = |f: Family| IntGauge::with_opts(f.opts()).expect("valid gauge");
        SourceMetrics {
            lag_messages: gauges(cat::CONSUMER_LAG_MESSAGES),
            lag_seconds: gauges(cat::CONSUMER_LAG_SECONDS),
            connected: gauge(cat::BROKER_CONNECTED),
            commits: counters(cat::OFFSET_COMMITS),
            dead_letters: counters(cat::DEAD_LETTERS),
            assigned: gauge(cat::ASSIGNED_PARTITIONS),
            pauses: IntCounter::with_opts(cat::PARTITION_PAUSES.opts()).expect("valid counter"),
            rebalances: counters(cat::REBALANCES),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let m = self.clone();
        for r in ["ok", "error"] {
            m.commits.with_label_values(&[r]);
        }
        for r in ["delivered", "failed", "disabled"] {
            m.dead_letters.with_label_values(&[r]);
        }
        for r in ["assign", "revoke"] {
            m.rebalances.with_label_values(&[r]);
        }
        vec![
            Box::new(m.lag_messages),
            Box::new(m.lag_seconds),
            Box::new(m.connected),
            Box::new(m.commits),
            Box::new(m.dead_letters),
            Box::new(m.assigned),
            Box::new(m.pauses),
            Box::new(m.rebalances),
        ]
    }
}

/// What one statistics report says about connectivity and lag.
#[derive(Debug, Default, Clone)]
pub struct StatsSummary {
    pub connected: bool,
    /// `(topic, partition, lag in messages)` of assigned partitions with a known lag.
    pub lags: Vec<(String, i32, i64)>,
    /// `(partition, high watermark, consumer lag)` of every fetched partition as
    /// librdkafka reports them (`-1` when not known yet), for the split states.
    pub partitions: Vec<(i32, i64, i64)>,
}

pub fn summarize(stats: &Statistics) -> StatsSummary {
    let connected = stats
        .brokers
        .values()
        .any(|b| b.nodeid >= 0 && b.state == "UP");
    let mut lags = Vec::new();
    let mut partitions = Vec::new();
    for (name, topic) in &stats.topics {
        for (&p, part) in &topic.partitions {
            if p < 0 || part.fetch_state != "active" {
                continue;
            }
            // consumer_lag is -1 until both the high watermark and a position are known;
            // with no position and no committed offset, everything from the log start.
            let lag = if part.consumer_lag >= 0 {
                part.consumer_lag
            } else if part.hi_offset >= 0 && part.app_offset < 0 && part.committed_offset < 0 {
                part.hi_offset - part.lo_offset.max(0)
            } else {
                -1
            };
            partitions.push((p, part.hi_offset, lag));
            if lag >= 0 {
                lags.push((name.clone(), p, lag));
            }
        }
    }
    StatsSummary {
        connected,
        lags,
        partitions,
    }
}
