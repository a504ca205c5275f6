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

fn kafka_err(what: &'static str, source: KafkaError) -> ReplayError {
    ReplayError::Kafka { what, source }
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
        .map_err(|source| ReplayError::Unreachable {
            brokers: cfg.brokers.clone(),
            source,
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

/// Messages buffered per partition before that partition is paused.
const PAUSE_AT: usize = 4096;

/// One buffered message: Kafka timestamp, offset, value.
struct Buffered {
    ts: i64,
    offset: i64,
    value: Vec<u8>,
}

/// A k-way merge of the partitions by Kafka timestamp, so a replay sees the same
/// sequence however the partitions' fetches interleave: the event-time watermark, late
/// counting and window contents then do not depend on timing, and two replays of one
/// range give the same report. Each partition keeps its own order; between partitions
/// the smallest `(timestamp, partition, offset)` head goes first, and only once every
/// partition still being read has a head. Buffered values are recycled, not freed.
struct Merge {
    /// Per partition: its id, the end offset (exclusive), its buffer, and whether it is done.
    parts: Vec<Part>,
    spare: Vec<Vec<u8>>,
}

struct Part {
    id: i32,
    end: i64,
    buf: std::collections::VecDeque<Buffered>,
    /// The offset after the last one received.
    next: i64,
    done: bool,
    paused: bool,
}

impl Merge {
    fn new(plan: &Plan) -> Self {
        let parts = plan
            .iter()
            .map(|&(id, start, end)| Part {
                id,
                end,
                buf: Default::default(),
                next: start,
                done: start >= end,
                paused: false,
            })
            .collect();
        Merge {
            parts,
            spare: Vec::new(),
        }
    }

    /// Buffer a message; returns the partition's index when it is known.
    fn push(&mut self, partition: i32, offset: i64, ts: i64, value: &[u8]) -> Option<usize> {
        let i = self.parts.iter().position(|p| p.id == partition)?;
        let part = &mut self.parts[i];
        if part.done {
            return Some(i);
        }
        part.next = offset + 1;
        if offset < part.end {
            let mut v = self.spare.pop().unwrap_or_default();
            v.clear();
            v.extend_from_slice(value);
            part.buf.push_back(Buffered {
                ts,
                offset,
                value: v,
            });
        }
        if offset + 1 >= part.end {
            part.done = true;
        }
        Some(i)
    }

    /// Hand every message that is now certain to come next to `feed`, with its
    /// partition and whether it is that partition's last in the range.
    fn drain(&mut self, feed: &mut impl FnMut(i32, &[u8], bool)) {
        loop {
            let mut best: Option<(i64, i32, i64, usize)> = None;
            for (i, p) in self.parts.iter().enumerate() {
                match p.buf.front() {
                    Some(m) => {
                        let key = (m.ts, p.id, m.offset, i);
                        if best.is_none_or(|b| key < b) {
                            best = Some(key);
                        }
                    }
                    // A partition still being read without a head blocks the merge.
                    None if !p.done => return,
                    None => {}
                }
            }
            let Some((.., i)) = best else { return };
            let part = &mut self.parts[i];
            let m = part.buf.pop_front().expect("head exists");
            let last = part.done && part.buf.is_empty();
            feed(part.id, &m.value, last);
            self.spare.push(m.value);
        }
    }

    fn finished(&self) -> bool {
        self.parts.iter().all(|p| p.done && p.buf.is_empty())
    }

    /// Partitions still being read that have nothing buffered, as
    /// `partition N (read up to offset O of E)`.
    fn waiting_on(&self) -> String {
        let v: Vec<String> = self
            .parts
            .iter()
            .filter(|p| !p.done && p.buf.is_empty())
            .map(|p| format!("partition {} (next offset {}, end {})", p.id, p.next, p.end))
            .collect();
        v.join(", ")
    }
}

/// Pause a partition whose buffer is full (another one is behind) and resume it once
/// the merge has consumed half of it, so memory stays bounded by `PAUSE_AT` messages
/// per partition plus librdkafka's prefetch.
fn flow_control(c: &BaseConsumer, topic: &str, merge: &mut Merge) -> Result<(), ReplayError> {
    for p in merge.parts.iter_mut() {
        let pause = !p.done && p.buf.len() >= PAUSE_AT;
        let resume = p.paused && (p.done || p.buf.len() <= PAUSE_AT / 2);
        if (pause && !p.paused) || resume {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, p.id);
            if resume {
                c.resume(&tpl).map_err(|e| kafka_err("resume", e))?;
            } else {
                c.pause(&tpl).map_err(|e| kafka_err("pause", e))?;
            }
            p.paused = !resume;
        }
    }
    Ok(())
}

/// Read the range, handing every message value to `feed` in the merged order of
/// [`Merge`], with its partition and whether it is the partition's last in the range.
/// Returns the plan it read.
pub fn read_range(
    cfg: &SourceConfig,
    range: Range,
    shutdown: &CancellationToken,
    on_plan: impl FnOnce(&Plan),
    mut feed: impl FnMut(i32, &[u8], bool),
) -> Result<Plan, ReplayError> {
    let mut conf = client_config(cfg);
    let group = format!(
        "lanewatch-replay-{}-{}",
        std::process::id(),
        crate::engine::time::now_ms()
    );
    conf.set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    let create = || -> Result<BaseConsumer, ReplayError> {
        conf.create().map_err(|source| ReplayError::Unreachable {
            brokers: cfg.brokers.clone(),
            source,
        })
    };
    // The offset probes re-assign partitions many times; the range is read by a client
    // of its own so that no fetch of a probe can interfere with it.
    let plan = plan(&create()?, cfg, range)?;
    on_plan(&plan);
    let c = create()?;
    let mut merge = Merge::new(&plan);
    let mut tpl = TopicPartitionList::new();
    for &(p, s, e) in &plan {
        if s < e {
            tpl.add_partition_offset(&cfg.topic, p, Offset::Offset(s))
                .map_err(|e| kafka_err("assign", e))?;
        }
    }
    c.assign(&tpl).map_err(|e| kafka_err("assign", e))?;
    let mut last_progress = Instant::now();
    while !merge.finished() && !shutdown.is_cancelled() {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let ts = m.timestamp().to_millis().unwrap_or(i64::MIN);
                let value = m.payload().unwrap_or_default();
                if merge.push(m.partition(), m.offset(), ts, value).is_some() {
                    last_progress = Instant::now();
                }
                merge.drain(&mut feed);
                flow_control(&c, &cfg.topic, &mut merge)?;
            }
            Some(Err(e)) => return Err(kafka_err("reading the range", e)),
            None if last_progress.elapsed() > STALL => {
                return Err(ReplayError::Stalled {
                    secs: STALL.as_secs(),
                    waiting_on: merge.waiting_on(),
                });
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

    /// Feed `arrivals` (partition, offset, ts) in the given order; return the values fed.
    fn merged(plan: &Plan, arrivals: &[(i32, i64, i64)]) -> Vec<String> {
        let mut m = Merge::new(plan);
        let mut out = Vec::new();
        for &(p, o, t) in arrivals {
            m.push(p, o, t, format!("{p}:{o}").as_bytes());
            m.drain(&mut |_, v, _| out.push(String::from_utf8(v.to_vec()).unwrap()));
        }
        assert!(m.finished(), "every partition reached its end");
        out
    }

    #[test]
    fn replay_order_does_not_depend_on_how_partition_fetches_interleave() {
        // Partition 0: offsets 10..13, partition 1: offsets 0..3, partition 2: empty range.
        let plan: Plan = vec![(0, 10, 13), (1, 0, 3), (2, 5, 5)];
        let p0 = [(0, 10, 100), (0, 11, 300), (0, 12, 500)];
        let p1 = [(1, 0, 200), (1, 1, 300), (1, 2, 400)];
        let one_then_other: Vec<_> = p0.iter().chain(&p1).copied().collect();
        let other_then_one: Vec<_> = p1.iter().chain(&p0).copied().collect();
        let alternating: Vec<_> = p0.iter().zip(&p1).flat_map(|(a, b)| [*b, *a]).collect();
        let want = ["0:10", "1:0", "0:11", "1:1", "1:2", "0:12"];
        for order in [one_then_other, other_then_one, alternating] {
            assert_eq!(merged(&plan, &order), want, "arrival order {order:?}");
        }
    }

    #[test]
    fn a_partition_keeps_its_own_order_and_ignores_offsets_past_its_end() {
        // Timestamps go backwards inside partition 0: its order is kept.
        let plan: Plan = vec![(0, 0, 2), (1, 0, 1)];
        let got = merged(&plan, &[(0, 0, 500), (0, 1, 100), (0, 2, 50), (1, 0, 300)]);
        assert_eq!(got, ["1:0", "0:0", "0:1"]);
    }

    #[test]
    fn the_search_respects_the_low_watermark() {
        // Offsets below 2 were deleted.
        let v = [0, 0, 100, 200, 300];
        assert_eq!(first_at_or_after(2, 5, 150, Some(0), ts(&v)).unwrap(), 3);
        assert_eq!(first_at_or_after(2, 5, 50, None, ts(&v)).unwrap(), 2);
    }
}
