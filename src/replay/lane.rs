//! What a replay keeps of one lane over the whole range: its closed windows, their
//! histogram buckets (OpenMetrics), departures per minute and per 15-second slot, and
//! its whole-range statistics; filled by `observer`, read by the report.

use std::collections::BTreeMap;

use super::dist::Dist;

/// Push onto one of a lane's range-long vectors, growing it by a quarter (not
/// doubling it): a thousand lanes' vectors are most of a replay's memory, and doubled
/// they were up to half empty at the peak.
#[inline]
pub(super) fn push_slow<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(16));
    }
    v.push(item);
}

/// One closed window of a lane, as the pipeline reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStat {
    pub count: u64,
    /// p50, p90, p95, p99 in seconds (the replay's quantiles); empty for no passages.
    pub quantiles: Vec<f64>,
    /// The lane's queue length (Little's law) as the congestion analysis set it.
    pub queue_length: f64,
    /// The lane's level of service (1–6, NaN before the first) as the analysis set it.
    pub level_of_service: f64,
    /// When a live service would have published the window (see `ClosedWindow`).
    pub known_at_ms: i64,
}

/// Passage-time histogram buckets of one lane over one window (OpenMetrics backfill),
/// and the same for inspection times (events that carry them), queue waits and
/// headways. A day at a thousand lanes is ~300,000 of these: the four histograms'
/// counts share one allocation of `u32`s (a lane passes far fewer than 4·10⁹
/// vehicles in a window).
#[derive(Debug, Clone)]
pub struct BucketWindow {
    pub start_ms: i64,
    pub sum_ms: i64,
    pub inspection_sum_ms: i64,
    pub queue_sum_ms: i64,
    /// Of the departure headways ending in the window (as live: in event-time order,
    /// out-of-order departures give none).
    pub headway_sum_ms: i64,
    /// Non-cumulative counts per bucket bound, the last of each histogram `+Inf`:
    /// passage, inspection, queue wait, headway, one after the other.
    counts: Box<[u32]>,
    /// Where each histogram's counts end in `counts`.
    ends: [u16; 4],
}

impl BucketWindow {
    /// An empty window starting at `start_ms`, with `sizes` buckets (`+Inf` included)
    /// for passage, inspection, queue wait and headway.
    pub(super) fn new(start_ms: i64, sizes: [usize; 4]) -> Self {
        let mut ends = [0u16; 4];
        let mut at = 0usize;
        for (e, n) in ends.iter_mut().zip(sizes) {
            at += n;
            *e = u16::try_from(at).expect("at most 65,535 buckets (config limits them)");
        }
        BucketWindow {
            start_ms,
            sum_ms: 0,
            inspection_sum_ms: 0,
            queue_sum_ms: 0,
            headway_sum_ms: 0,
            counts: vec![0; at].into_boxed_slice(),
            ends,
        }
    }

    fn range(&self, k: usize) -> std::ops::Range<usize> {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        start..self.ends[k] as usize
    }

    /// Passages in the window (the counts are the record's only copy of them).
    pub fn count(&self) -> u64 {
        self.buckets().iter().map(|&n| u64::from(n)).sum()
    }
    pub fn inspection_count(&self) -> u64 {
        self.inspection_buckets()
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }
    pub fn queue_count(&self) -> u64 {
        self.queue_buckets().iter().map(|&n| u64::from(n)).sum()
    }
    pub fn headway_count(&self) -> u64 {
        self.headway_buckets().iter().map(|&n| u64::from(n)).sum()
    }

    /// Passage-time counts per bucket.
    pub fn buckets(&self) -> &[u32] {
        &self.counts[self.range(0)]
    }
    pub fn inspection_buckets(&self) -> &[u32] {
        &self.counts[self.range(1)]
    }
    pub fn queue_buckets(&self) -> &[u32] {
        &self.counts[self.range(2)]
    }
    pub fn headway_buckets(&self) -> &[u32] {
        &self.counts[self.range(3)]
    }

    pub(super) fn add(&mut self, histogram: usize, bucket: usize) {
        let i = self.range(histogram).start + bucket;
        self.counts[i] += 1;
    }
}

/// Everything collected for one lane.
#[derive(Debug)]
pub struct LaneData {
    pub passages: u64,
    pub passage: Dist,
    pub queue_wait: Option<Dist>,
    pub inspection: Option<Dist>,
    /// Closed windows by start, ascending (they close in order, each once).
    pub windows: Vec<(i64, WindowStat)>,
    /// Ascending by start (kept sorted; almost every event is in the newest).
    pub buckets: Vec<BucketWindow>,
    /// Departures per minute: (Unix minute, count), ascending (the peak hour).
    pub minutes: Vec<(i64, u32)>,
    /// Newest departure (ms) of each 15-second slot with departures, ascending: the
    /// last departure as a 15-second scrape would have seen it (OpenMetrics backfill).
    /// The slot is the departure's (`t / SLOT_MS`, see [`slot_of`](super::observer::slot_of)).
    pub slots: Vec<i64>,
    /// Entries of `buckets`, `minutes` and `slots` older than their newest when first
    /// seen (input out of time order): kept apart in O(log n) and merged in by
    /// [`ReplayObserver::finish`](super::ReplayObserver::finish), so descending input costs n·log n, not n².
    pub(super) late: LateEntries,
    /// The lane's passed-over time (seconds, NaN when unset) at the end of each
    /// 15-second slot it changed in (in the order events were read), ascending.
    pub passed_over: Vec<(i64, f64)>,
    /// Newest departure so far (headways are taken in event-time order).
    pub newest_departure_ms: Option<i64>,
}

/// See `LaneData::late`.
#[derive(Debug, Default)]
pub(super) struct LateEntries {
    pub(super) buckets: BTreeMap<i64, BucketWindow>,
    pub(super) minutes: BTreeMap<i64, u32>,
    /// Slot → newest departure in it.
    pub(super) slots: BTreeMap<i64, i64>,
}

impl LaneData {
    /// Merge the late entries in (their keys are never in the vectors: a key goes to
    /// `late` only when it is older than the newest entry and absent), and trim the
    /// vectors to their length.
    pub(super) fn merge_late(&mut self) {
        let late = std::mem::take(&mut self.late);
        if !late.buckets.is_empty() {
            self.buckets.extend(late.buckets.into_values());
            self.buckets.sort_by_key(|b| b.start_ms);
        }
        if !late.minutes.is_empty() {
            self.minutes.extend(late.minutes);
            self.minutes.sort_by_key(|m| m.0);
        }
        if !late.slots.is_empty() {
            self.slots.extend(late.slots.into_values());
            self.slots.sort_unstable();
        }
        // The report is built next: let it reuse what the vectors grew past their length.
        self.buckets.shrink_to_fit();
        self.minutes.shrink_to_fit();
        self.slots.shrink_to_fit();
        self.passed_over.shrink_to_fit();
        self.windows.shrink_to_fit();
    }

    /// The closed window starting at `start_ms`.
    pub fn window(&self, start_ms: i64) -> Option<&WindowStat> {
        self.windows
            .binary_search_by_key(&start_ms, |w| w.0)
            .ok()
            .map(|i| &self.windows[i].1)
    }

    pub(super) fn new() -> Self {
        LaneData {
            passages: 0,
            passage: Dist::new(),
            queue_wait: None,
            inspection: None,
            windows: Vec::new(),
            buckets: Vec::new(),
            minutes: Vec::new(),
            slots: Vec::new(),
            late: LateEntries::default(),
            passed_over: Vec::new(),
            newest_departure_ms: None,
        }
    }
}
