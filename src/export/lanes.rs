//! The text exposition of the lanes' series, written straight from their cells (no
//! per-scrape metric objects): names, types and help from the [`crate::engine::catalogue`].

use crate::engine::catalogue::{self as cat, Family};
use crate::engine::lanes::stats::Hist;
use crate::engine::lanes::stats::LaneCells;
use crate::engine::lanes::{LaneSeries, LaneStats};

/// A gauge family with one series per lane, and how to read a lane's value.
pub(super) type Gauge = (Family, fn(&LaneCells) -> f64);

/// Picks one of a lane's histograms.
pub(super) type HistOf = fn(&LaneCells) -> &Hist;

/// Append the text exposition of every lane series of `series` to `out`.
pub fn encode(series: &LaneSeries, out: &mut Vec<u8>) {
    series.with_lanes(|lanes| encode_lanes(series, lanes, out));
}

fn encode_lanes(s: &LaneSeries, lanes: &[LaneStats], out: &mut Vec<u8>) {
    let mut num = Num::default();
    cat::PASSAGES.write_header(out);
    for l in lanes {
        line(
            out,
            cat::PASSAGES.name,
            l.labels(),
            "",
            num.int(l.passages.get()),
        );
    }
    let hists = histograms();
    // Each series line is a lane's prefix (`name{labels`), a tail common to every lane
    // (`,le="30"} `), the value: three copies, not eight.
    let mut prefix = Vec::with_capacity(256);
    let mut directions = Directions::default();
    for (k, (f, get)) in hists.iter().enumerate() {
        f.write_header(out);
        let bucket = format!("{}_bucket", f.name);
        let tails = tails(s.bound_labels()[k].iter().map(|le| format!(",le=\"{le}\"")));
        if s.per_lane()[k] {
            let mut cum = vec![0; tails.len() + 1];
            for l in lanes {
                let sum = cumulative(get(l), &mut cum);
                histogram(
                    (out, &mut prefix, &mut num),
                    (&bucket, f.name),
                    l.labels(),
                    &tails,
                    &cum,
                    sum,
                );
            }
        } else {
            s.with_retired(|r| directions.sum(lanes, r, (k, *get), tails.len() + 1));
            for row in directions.rows() {
                histogram(
                    (out, &mut prefix, &mut num),
                    (&bucket, f.name),
                    row.first.direction_labels(),
                    &tails,
                    &row.cum,
                    row.sum,
                );
            }
        }
    }
    single_gauge(
        out,
        lanes,
        &mut num,
        (cat::LANE_LAST_DEPARTURE, |l| l.last_departure.get()),
    );
    let f = cat::LANE_THROUGHPUT;
    f.write_header(out);
    let tails_w = tails(s.window_labels().iter().map(|w| format!(",window=\"{w}\"")));
    for l in lanes {
        set_prefix(&mut prefix, f.name, l.labels());
        for (w, tail) in tails_w.iter().enumerate() {
            line_tail(out, &prefix, tail, num.float(l.throughput[w].get()));
        }
    }
    // A summary: quantiles over a sliding (event-time) window. Without `_sum` and
    // `_count`, which would repeat `lanewatch_passage_duration_seconds_sum/_count`.
    let f = cat::LANE_PASSAGE_QUANTILE;
    f.write_header(out);
    let nq = s.quantile_labels().len();
    let tails_wq = tails(s.window_labels().iter().flat_map(|w| {
        s.quantile_labels()
            .iter()
            .map(move |q| format!(",quantile=\"{q}\",window=\"{w}\""))
    }));
    for l in lanes {
        set_prefix(&mut prefix, f.name, l.labels());
        for (i, tail) in tails_wq.iter().enumerate() {
            line_tail(
                out,
                &prefix,
                tail,
                num.float(l.quantile(i / nq, i % nq).get()),
            );
        }
    }
    for g in gauges() {
        single_gauge(out, lanes, &mut num, g);
    }
    let f = cat::LANE_SCHEDULED_OPEN;
    f.write_header(out);
    let now = crate::engine::time::now_ms();
    for l in lanes {
        let open = scheduled_open(l, now);
        line(out, f.name, l.labels(), "", num.int(u64::from(open)));
    }
}

/// The four histogram families, in [`LaneCells::histograms`]' order.
pub(super) fn histograms() -> [(Family, HistOf); 4] {
    [
        (cat::PASSAGE_DURATION, |l| &l.passage),
        (cat::QUEUE_WAIT, |l| &l.queue_wait),
        (cat::INSPECTION_DURATION, |l| &l.inspection),
        (cat::DEPARTURE_HEADWAY, |l| &l.headway),
    ]
}

/// The gauge families with one plain series per lane (besides the last departure).
pub(super) fn gauges() -> [Gauge; 6] {
    [
        (cat::LANE_LEVEL_OF_SERVICE, |l| l.level_of_service.get()),
        (cat::LANE_QUEUE_LENGTH, |l| l.queue_length.get()),
        (cat::LANE_INSPECTION_MAX, |l| l.inspection_max_s),
        (cat::LANE_KIND_LANES, |l| l.lanes_of_kind),
        (cat::LANE_NEIGHBOUR_LANES, |l| l.neighbour_lanes),
        (cat::LANE_PASSED_OVER, |l| l.passed_over_since.get()),
    ]
}

/// Whether the lane is in its registered open hours now (always, unlisted).
pub(super) fn scheduled_open(l: &LaneCells, now_ms: i64) -> bool {
    l.schedule.as_ref().is_none_or(|s| s.open_at(now_ms))
}

/// A lane's cumulative bucket counts (the last is `+Inf`, the count) into `cum`, and
/// its sum. A bucket updated after the count was read is clipped to it, so the
/// exposition stays monotonic.
pub(super) fn cumulative(h: &Hist, cum: &mut [u64]) -> f64 {
    let (count, last) = (h.count(), cum.len() - 1);
    let mut c = 0u64;
    for (i, out) in cum[..last].iter_mut().enumerate() {
        c += h.bucket(i);
        *out = c.min(count);
    }
    cum[last] = count;
    h.sum()
}

/// One histogram series: its buckets (`cum`, cumulative, `+Inf` last), sum and count.
fn histogram(
    (out, prefix, num): (&mut Vec<u8>, &mut Vec<u8>, &mut Num),
    (bucket, name): (&str, &str),
    labels: &str,
    tails: &[Vec<u8>],
    cum: &[u64],
    sum: f64,
) {
    set_prefix(prefix, bucket, labels);
    let inf: &[u8] = b",le=\"+Inf\"} ";
    for (tail, &c) in tails.iter().map(Vec::as_slice).chain([inf]).zip(cum) {
        line_tail(out, prefix, tail, num.int(c));
    }
    let count = cum[cum.len() - 1];
    line(out, name, labels, "_sum", num.float(sum));
    line(out, name, labels, "_count", num.int(count));
}

/// A histogram summed per checkpoint direction (`buckets.per_lane` leaves it out):
/// the directions in the order of their first lane, reused across families.
#[derive(Default)]
pub(super) struct Directions<'a> {
    /// Sum the native buckets too (the protobuf exposition; text has none).
    pub native: bool,
    index: std::collections::HashMap<&'a str, usize>,
    rows: Vec<DirectionRow<'a>>,
    lane: Vec<u64>,
}

/// One direction's sum of a histogram.
pub(super) struct DirectionRow<'a> {
    /// Its first lane (labels, ids).
    pub first: &'a LaneStats,
    /// Cumulative buckets, `+Inf` last.
    pub cum: Vec<u64>,
    pub sum: f64,
    /// Native buckets (when kept and asked for): the zero bucket's count, then the
    /// buckets' counts by block (the key of its first bucket; see
    /// [`crate::engine::lanes::native::NativeBuckets::for_each_block`]).
    pub zero: u64,
    pub native: std::collections::BTreeMap<i32, Vec<u64>>,
}

impl<'a> Directions<'a> {
    /// Sum histogram `k` (`get`) of `lanes` per direction, with the retired lanes'
    /// totals of the directions that still have lanes.
    pub(super) fn sum(
        &mut self,
        lanes: &'a [LaneStats],
        retired: &[(Box<str>, [Hist; 4])],
        (k, get): (usize, HistOf),
        buckets: usize,
    ) {
        self.index.clear();
        self.rows.clear();
        self.lane.resize(buckets, 0);
        for l in lanes {
            let key = l.direction_labels();
            let n = self.rows.len();
            let i = *self.index.entry(key).or_insert(n);
            if i == n {
                self.rows.push(DirectionRow {
                    first: l,
                    cum: vec![0; buckets],
                    sum: 0.0,
                    zero: 0,
                    native: Default::default(),
                });
            }
            self.add(i, get(l));
        }
        for (dir, hists) in retired {
            if let Some(&i) = self.index.get(&**dir) {
                self.add(i, &hists[k]);
            }
        }
    }

    fn add(&mut self, row: usize, h: &Hist) {
        let sum = cumulative(h, &mut self.lane);
        let row = &mut self.rows[row];
        row.cum
            .iter_mut()
            .zip(&self.lane)
            .for_each(|(a, b)| *a += b);
        row.sum += sum;
        if let Some(n) = h.native().filter(|_| self.native) {
            row.zero += n.zero_count();
            n.for_each_block(|first, counts| {
                let sums = row
                    .native
                    .entry(first)
                    .or_insert_with(|| vec![0; counts.len()]);
                sums.iter_mut().zip(counts).for_each(|(s, c)| *s += c);
            });
        }
    }

    pub(super) fn rows(&self) -> &[DirectionRow<'a>] {
        &self.rows
    }
}

/// A gauge family with one series per lane.
fn single_gauge(out: &mut Vec<u8>, lanes: &[LaneStats], num: &mut Num, (f, get): Gauge) {
    f.write_header(out);
    for l in lanes {
        line(out, f.name, l.labels(), "", num.float(get(l)));
    }
}

fn line(out: &mut Vec<u8>, name: &str, labels: &str, suffix: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    out.push(b'{');
    out.extend_from_slice(labels.as_bytes());
    out.extend_from_slice(b"} ");
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// `name{labels` into `prefix` (a lane's part of each of its lines of one family).
fn set_prefix(prefix: &mut Vec<u8>, name: &str, labels: &str) {
    prefix.clear();
    prefix.extend_from_slice(name.as_bytes());
    prefix.push(b'{');
    prefix.extend_from_slice(labels.as_bytes());
}

/// Extra label pairs (`,le="30"`), each closed for a line: `,le="30"} `.
fn tails(pairs: impl Iterator<Item = String>) -> Vec<Vec<u8>> {
    pairs.map(|p| format!("{p}}} ").into_bytes()).collect()
}

fn line_tail(out: &mut Vec<u8>, prefix: &[u8], tail: &[u8], value: &[u8]) {
    out.extend_from_slice(prefix);
    out.extend_from_slice(tail);
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Reusable number formatting.
#[derive(Default)]
struct Num {
    i: itoa::Buffer,
    f: ryu::Buffer,
}

impl Num {
    fn int(&mut self, v: u64) -> &[u8] {
        self.i.format(v).as_bytes()
    }
    fn float(&mut self, v: f64) -> &[u8] {
        if v.is_nan() {
            b"NaN"
        } else if v.is_infinite() {
            if v > 0.0 { b"+Inf" } else { b"-Inf" }
        } else if v == v.trunc() && v.abs() < 1e15 {
            self.i.format(v as i64).as_bytes()
        } else {
            self.f.format_finite(v).as_bytes()
        }
    }
}
