//! Reading a time range from Kafka for replay. Each partition is assigned (never
//! subscribed), started at the first offset whose timestamp is at or after the range
//! start and read up to the first offset at or after the range end, then the replay
//! stops by itself. Offsets come from the broker's offset-by-timestamp look-up, which
//! is verified (the message there is at or after the time, the one before it is
//! earlier) and replaced by a binary search over offsets where it is wrong. Nothing is
//! committed (`enable.auto.commit=false`, a throwaway `group.id` that never joins), so
//! the live consumer group is never touched.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::ReplayError;
use crate::config::SourceConfig;
use crate::source::kafka::client_config;

/// A range of Kafka timestamps, `[from_ms, to_ms)` (already widened by the lateness).
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from_ms: i64,
    pub to_ms: i64,
}

const TIMEOUT: Duration = Duration::from_secs(10);
/// A replay that receives nothing for this long before reaching its end offsets fails.
const STALL: Duration = Duration::from_secs(30);

/// What was read per partition: `(partition, start offset, end offset)`.
pub type Plan = Vec<(i32, i64, i64)>;

fn kafka_err(what: &str, e: KafkaError) -> ReplayError {
    ReplayError::Kafka(format!("{what}: {e}"))
}

/// The first offset in `[low, high]` whose message timestamp is at or after `target`
/// (`high` when none is), given the broker's `candidate` answer. `ts_at(o)` is the
/// timestamp of the message at offset `o` (`None`: no message there). The candidate is
/// kept when it checks out; otherwise the offsets are binary-searched, which assumes
/// timestamps that do not decrease along the partition (as the broker's look-up does).
pub fn first_at_or_after<E>(
    low: i64,
    high: i64,
    target: i64,
    candidate: Option<i64>,
    mut ts_at: impl FnMut(i64) -> Result<Option<i64>, E>,
) -> Result<i64, E> {
    let mut at_or_after =
        |o: i64| -> Result<bool, E> { Ok(o >= high || ts_at(o)?.is_none_or(|t| t >= target)) };
    if let Some(c) = candidate.filter(|c| (low..=high).contains(c)) {
        let here = c == high || at_or_after(c)?;
        let before = c == low || !at_or_after(c - 1)?;
        if here && before {
            return Ok(c);
        }
    }
    let (mut lo, mut hi) = (low, high);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at_or_after(mid)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// Timestamp of the message at `offset` (or the first one after it), read by assigning
/// the partition there.
fn ts_at(
    c: &BaseConsumer,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Option<i64>, ReplayError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .map_err(|e| kafka_err("assign", e))?;
    c.assign(&tpl).map_err(|e| kafka_err("assign", e))?;
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) if m.partition() == partition && m.offset() >= offset => {
                return Ok(m.timestamp().to_millis());
            }
            Some(Err(e)) => return Err(kafka_err("reading a message to verify an offset", e)),
            _ => {}
        }
    }
    Ok(None)
}

/// The offsets of `[range.from_ms, range.to_ms)` in every partition.
fn plan(c: &BaseConsumer, cfg: &SourceConfig, range: Range) -> Result<Plan, ReplayError> {
    let topic = cfg.topic.as_str();
    let md = c
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| ReplayError::Unreachable {
            brokers: cfg.brokers.clone(),
            detail: e.to_string(),
        })?;
    let partitions: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ReplayError::NoTopic {
            topic: topic.to_string(),
            brokers: cfg.brokers.clone(),
        });
    }
    let lookup = |ts: i64| -> Result<TopicPartitionList, ReplayError> {
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            tpl.add_partition_offset(topic, p, Offset::Offset(ts))
                .map_err(|e| kafka_err("offset look-up", e))?;
        }
        c.offsets_for_times(tpl, TIMEOUT)
            .map_err(|e| kafka_err("offset-by-timestamp look-up", e))
    };
    let (starts, ends) = (lookup(range.from_ms)?, lookup(range.to_ms)?);
    let answer =
        |tpl: &TopicPartitionList, p: i32| match tpl.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Some(o),
            Some(Offset::End) => Some(i64::MAX), // "no such message": checked as `high`
            _ => None,
        };
    let mut out = Vec::new();
    for &p in &partitions {
        let (low, high) = c
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|e| kafka_err("watermarks", e))?;
        let fix = |a: Option<i64>| a.map(|o| if o == i64::MAX { high } else { o });
        let probe = |o| ts_at(c, topic, p, o);
        let start = first_at_or_after(low, high, range.from_ms, fix(answer(&starts, p)), probe)?;
        let probe = |o| ts_at(c, topic, p, o);
        let end = first_at_or_after(start, high, range.to_ms, fix(answer(&ends, p)), probe)?;
        tracing::debug!(partition = p, low, high, start, end, "replay offsets");
        out.push((p, start, end));
    }
    Ok(out)
}

/// Read the range, handing every message value to `feed`. Returns the plan it read.
pub fn read_range(
    cfg: &SourceConfig,
    range: Range,
    shutdown: &CancellationToken,
    mut feed: impl FnMut(&[u8]),
) -> Result<Plan, ReplayError> {
    let mut conf = client_config(cfg);
    let group = format!(
        "lanewatch-replay-{}-{}",
        std::process::id(),
        crate::time::now_ms()
    );
    conf.set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    let c: BaseConsumer = conf.create().map_err(|e| ReplayError::Unreachable {
        brokers: cfg.brokers.clone(),
        detail: e.to_string(),
    })?;
    let plan = plan(&c, cfg, range)?;
    let mut remaining: Vec<(i32, i64)> = plan
        .iter()
        .filter(|(_, s, e)| s < e)
        .map(|&(p, _, e)| (p, e))
        .collect();
    let mut tpl = TopicPartitionList::new();
    for &(p, s, e) in &plan {
        if s < e {
            tpl.add_partition_offset(&cfg.topic, p, Offset::Offset(s))
                .map_err(|e| kafka_err("assign", e))?;
        }
    }
    c.assign(&tpl).map_err(|e| kafka_err("assign", e))?;
    let mut last_progress = Instant::now();
    while !remaining.is_empty() && !shutdown.is_cancelled() {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let Some(i) = remaining.iter().position(|&(p, _)| p == m.partition()) else {
                    continue;
                };
                let end = remaining[i].1;
                if m.offset() < end {
                    feed(m.payload().unwrap_or_default());
                    last_progress = Instant::now();
                }
                if m.offset() + 1 >= end {
                    remaining.swap_remove(i);
                }
            }
            Some(Err(e)) => return Err(kafka_err("reading the range", e)),
            None if last_progress.elapsed() > STALL => {
                return Err(ReplayError::Kafka(format!(
                    "no message for {}s before reaching the end offsets of partitions {:?} (messages deleted by retention?)",
                    STALL.as_secs(),
                    remaining.iter().map(|r| r.0).collect::<Vec<_>>()
                )));
            }
            None => {}
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(v: &[i64]) -> impl FnMut(i64) -> Result<Option<i64>, ()> + '_ {
        |o| Ok(v.get(o as usize).copied())
    }

    #[test]
    fn a_correct_answer_is_kept_and_a_wrong_one_is_searched() {
        let v = [10, 20, 20, 30, 40, 50];
        let n = v.len() as i64;
        for target in [0, 10, 15, 20, 21, 30, 50, 51, 99] {
            let want = v.iter().position(|&t| t >= target).unwrap_or(v.len()) as i64;
            for cand in [
                None,
                Some(0),
                Some(3),
                Some(n),
                Some(-1),
                Some(i64::MAX),
                Some(want),
            ] {
                let got = first_at_or_after(0, n, target, cand, ts(&v)).unwrap();
                assert_eq!(got, want, "target {target} candidate {cand:?}");
            }
        }
    }

    #[test]
    fn the_search_respects_the_low_watermark() {
        // Offsets below 2 were deleted.
        let v = [0, 0, 100, 200, 300];
        assert_eq!(first_at_or_after(2, 5, 150, Some(0), ts(&v)).unwrap(), 3);
        assert_eq!(first_at_or_after(2, 5, 50, None, ts(&v)).unwrap(), 2);
    }
}
