//! The protobuf exposition (Prometheus' `io.prometheus.client.MetricFamily` messages,
//! length-delimited), served instead of text to a scraper that asks for it when
//! `buckets.native_histograms` is on: the only format that carries native histograms.
//! Same families, names and series as the text exposition (`export::lanes`); the lane
//! histograms carry their native buckets beside the classic ones.

use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;
use prost::Message as _;
use prost::encoding::encode_varint;
use wire::WireType;

use super::lanes::{Directions, cumulative, gauges, histograms, scheduled_open};
use crate::engine::catalogue::{self as cat, Family, Kind};
use crate::engine::lanes::native::{Spans, ZERO_THRESHOLD};
use crate::engine::lanes::stats::LaneCells;
use crate::engine::lanes::{LaneSeries, LaneStats};

/// The media type of the body (and what a scraper's `Accept` names to get it).
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Append `families` (gathered from the `prometheus` registry) to `out`.
pub fn encode_registry(families: &[prometheus::proto::MetricFamily], out: &mut Vec<u8>) {
    use prometheus::proto::MetricType as T;
    for f in families {
        let kind = match f.get_field_type() {
            T::COUNTER => pb::MetricType::Counter,
            T::GAUGE => pb::MetricType::Gauge,
            T::SUMMARY => pb::MetricType::Summary,
            T::UNTYPED => pb::MetricType::Untyped,
            T::HISTOGRAM => pb::MetricType::Histogram,
        };
        let metric = f
            .get_metric()
            .iter()
            .map(|m| {
                let label = m
                    .get_label()
                    .iter()
                    .map(|l| pair(l.name(), l.value()))
                    .collect();
                let mut out = pb::Metric {
                    label,
                    ..Default::default()
                };
                match kind {
                    pb::MetricType::Counter => {
                        out.counter = Some(counter(m.get_counter().get_value()))
                    }
                    pb::MetricType::Gauge => out.gauge = Some(gauge(m.get_gauge().get_value())),
                    pb::MetricType::Untyped => {
                        // No untyped metric is registered; the accessor is kept for
                        // the protobuf model's sake only.
                        #[allow(deprecated)]
                        let value = m.get_untyped().get_value();
                        out.untyped = Some(pb::Untyped { value })
                    }
                    pb::MetricType::Summary => {
                        let s = m.get_summary();
                        out.summary = Some(pb::Summary {
                            sample_count: s.sample_count(),
                            sample_sum: s.sample_sum(),
                            quantile: s
                                .get_quantile()
                                .iter()
                                .map(|q| pb::Quantile {
                                    quantile: q.quantile(),
                                    value: q.value(),
                                })
                                .collect(),
                            start_timestamp: None,
                        })
                    }
                    pb::MetricType::Histogram | pb::MetricType::GaugeHistogram => {
                        let h = m.get_histogram();
                        out.histogram = Some(pb::Histogram {
                            sample_count: h.get_sample_count(),
                            sample_sum: h.get_sample_sum(),
                            bucket: h
                                .get_bucket()
                                .iter()
                                .map(|b| bucket(b.upper_bound(), b.cumulative_count()))
                                .collect(),
                            ..Default::default()
                        })
                    }
                }
                out
            })
            .collect();
        write(
            pb::MetricFamily {
                name: f.name().to_string(),
                help: f.help().to_string(),
                r#type: kind as i32,
                metric,
                unit: String::new(),
            },
            out,
        );
    }
}

/// Append every lane family of `series` to `out`.
///
/// Written straight to the wire format (as the text encoder writes text), not through
/// `prometheus-client`'s message structs: building those for 40,000 series took 50 ms
/// and 100 MiB a scrape at 1,000 lanes. The tests decode the body with those structs.
pub fn encode_lanes(series: &LaneSeries, out: &mut Vec<u8>) {
    series.with_lanes(|lanes| Lanes::new(series, lanes).encode(out));
}

struct Lanes<'a> {
    series: &'a LaneSeries,
    lanes: &'a [LaneStats],
    /// Each lane's `checkpoint`, `direction`, `lane` label fields, encoded.
    labels: Vec<Vec<u8>>,
    w: Writer,
    spans: Spans,
}

impl<'a> Lanes<'a> {
    fn new(series: &'a LaneSeries, lanes: &'a [LaneStats]) -> Self {
        let labels = lanes.iter().map(|l| lane_labels(l, 3)).collect();
        Lanes {
            series,
            lanes,
            labels,
            w: Writer::default(),
            spans: Spans::default(),
        }
    }

    /// A family with one sample per lane: `field` (counter, gauge) holding `value`.
    fn per_lane(
        &mut self,
        f: Family,
        field: u32,
        out: &mut Vec<u8>,
        value: impl Fn(&LaneCells) -> f64,
    ) {
        self.w.family(f, kind(f));
        for (l, labels) in self.lanes.iter().zip(&self.labels) {
            self.w.sample(&[labels], field, value(l));
        }
        self.w.finish(out);
    }

    fn encode(mut self, out: &mut Vec<u8>) {
        self.per_lane(cat::PASSAGES, COUNTER, out, |l| l.passages.get() as f64);
        for (k, (f, get)) in histograms().into_iter().enumerate() {
            let bounds = self.series.bounds(k);
            let mut cum = vec![0; bounds.len() + 1];
            self.w.family(f, kind(f));
            if self.series.per_lane()[k] {
                for (l, labels) in self.lanes.iter().zip(&self.labels) {
                    let h = get(l);
                    let sum = cumulative(h, &mut cum);
                    let native = h.native().map(|n| {
                        self.spans.clear();
                        n.for_each(|key, c| self.spans.push(key, c));
                        (n.schema(), n.zero_count())
                    });
                    self.w
                        .histogram(&[labels], (bounds, &cum, sum), native, &self.spans);
                }
            } else {
                let mut directions = Directions::default();
                directions.native = true;
                self.series.with_retired(|r| {
                    directions.sum(self.lanes, r, (k, get), bounds.len() + 1);
                });
                let schema = self.series.native_schema();
                for row in directions.rows() {
                    self.spans.clear();
                    for (&first, counts) in &row.native {
                        let buckets = counts.iter().enumerate().filter(|&(_, &c)| c > 0);
                        buckets.for_each(|(j, &c)| self.spans.push(first + j as i32, c));
                    }
                    let labels = lane_labels(row.first, 2);
                    let native = schema.map(|s| (s, row.zero));
                    self.w
                        .histogram(&[&labels], (bounds, &row.cum, row.sum), native, &self.spans);
                }
            }
            self.w.finish(out);
        }
        self.per_lane(cat::LANE_LAST_DEPARTURE, GAUGE, out, |l| {
            l.last_departure.get()
        });
        let windows: Vec<Vec<u8>> = self
            .series
            .window_labels()
            .iter()
            .map(|w| label("window", w))
            .collect();
        let quantiles: Vec<Vec<u8>> = self
            .series
            .quantile_labels()
            .iter()
            .map(|q| label("quantile", q))
            .collect();
        self.w.family(cat::LANE_THROUGHPUT, pb::MetricType::Gauge);
        for (l, labels) in self.lanes.iter().zip(&self.labels) {
            for (w, window) in windows.iter().enumerate() {
                self.w
                    .sample(&[labels, window], GAUGE, l.throughput[w].get());
            }
        }
        self.w.finish(out);
        // Untyped, not a summary: a protobuf summary has `_sum` and `_count`, which the
        // text exposition leaves out (same series in both formats).
        self.w
            .family(cat::LANE_PASSAGE_QUANTILE, pb::MetricType::Untyped);
        for (l, labels) in self.lanes.iter().zip(&self.labels) {
            for (w, window) in windows.iter().enumerate() {
                for (q, quantile) in quantiles.iter().enumerate() {
                    self.w
                        .sample(&[labels, quantile, window], UNTYPED, l.quantile(w, q).get());
                }
            }
        }
        self.w.finish(out);
        for (f, get) in gauges() {
            self.per_lane(f, GAUGE, out, get);
        }
        let now = crate::engine::time::now_ms();
        self.per_lane(cat::LANE_SCHEDULED_OPEN, GAUGE, out, |l| {
            f64::from(u8::from(scheduled_open(l, now)))
        });
    }
}

/// `Metric` fields of the sample kinds.
const GAUGE: u32 = 2;
const COUNTER: u32 = 3;
const UNTYPED: u32 = 5;
const HISTOGRAM: u32 = 7;

/// A family's metrics written to the wire one after the other, then the family,
/// length-delimited, to the body: three reused buffers, no allocation per sample.
#[derive(Default)]
struct Writer {
    family: Vec<u8>,
    /// Samples in this family.
    samples: usize,
    /// A metric's value message.
    value: Vec<u8>,
    /// A bucket or span message.
    inner: Vec<u8>,
}

impl Writer {
    fn family(&mut self, f: Family, kind: pb::MetricType) {
        self.family.clear();
        self.samples = 0;
        wire::bytes(&mut self.family, 1, f.name.as_bytes());
        wire::bytes(&mut self.family, 2, f.help.as_bytes());
        wire::uint(&mut self.family, 3, kind as u64);
    }

    /// A metric of `labels` (encoded label fields) whose `field` is `self.value`.
    fn metric(&mut self, labels: &[&[u8]], field: u32) {
        let value_len = self.value.len() as u64;
        let head = prost::encoding::key_len(field) + prost::encoding::encoded_len_varint(value_len);
        let len = labels.iter().map(|l| l.len()).sum::<usize>() + head + self.value.len();
        wire::key(&mut self.family, 4, WireType::LengthDelimited);
        encode_varint(len as u64, &mut self.family);
        labels.iter().for_each(|l| self.family.extend_from_slice(l));
        wire::key(&mut self.family, field, WireType::LengthDelimited);
        encode_varint(value_len, &mut self.family);
        self.family.extend_from_slice(&self.value);
        self.samples += 1;
    }

    /// A counter, gauge or untyped sample (`field`).
    fn sample(&mut self, labels: &[&[u8]], field: u32, v: f64) {
        self.value.clear();
        wire::double(&mut self.value, 1, v);
        self.metric(labels, field);
    }

    /// A histogram: classic buckets (cumulative, `+Inf` last and left out: the count
    /// says it), and the native ones when kept (`(schema, zero count)`, `spans`).
    fn histogram(
        &mut self,
        labels: &[&[u8]],
        (bounds, cum, sum): (&[f64], &[u64], f64),
        native: Option<(i8, u64)>,
        spans: &Spans,
    ) {
        let v = &mut self.value;
        v.clear();
        let count = match native {
            // The count the native buckets add up to (read after the classic ones, they
            // may hold a few newer observations): Prometheus checks that they agree.
            Some((_, zero)) => zero + spans.total(),
            None => cum[cum.len() - 1],
        };
        wire::uint(v, 1, count);
        wire::double(v, 2, sum);
        for (&le, &c) in bounds.iter().zip(cum) {
            self.inner.clear();
            wire::uint(&mut self.inner, 1, c);
            wire::double(&mut self.inner, 2, le);
            wire::bytes(v, 3, &self.inner);
        }
        if let Some((schema, zero)) = native {
            wire::sint(v, 5, i64::from(schema));
            wire::double(v, 6, ZERO_THRESHOLD);
            wire::uint(v, 7, zero);
            for &(offset, length) in &spans.spans {
                self.inner.clear();
                wire::sint(&mut self.inner, 1, i64::from(offset));
                wire::uint(&mut self.inner, 2, u64::from(length));
                wire::bytes(v, 12, &self.inner);
            }
            if !spans.deltas.is_empty() {
                self.inner.clear();
                spans
                    .deltas
                    .iter()
                    .for_each(|&d| encode_varint(wire::zigzag(d), &mut self.inner));
                wire::bytes(v, 13, &self.inner);
            }
        }
        self.metric(labels, HISTOGRAM);
    }

    /// The family, length-delimited, into `out` (nothing for a family without samples).
    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.samples > 0 {
            encode_varint(self.family.len() as u64, out);
            out.extend_from_slice(&self.family);
        }
    }
}

/// The protobuf wire format, the little of it the exposition writes (`prost`'s
/// varints and keys).
mod wire {
    pub use prost::encoding::WireType;
    use prost::encoding::{encode_key, encode_varint};

    pub fn key(out: &mut Vec<u8>, field: u32, wt: WireType) {
        encode_key(field, wt, out);
    }

    pub fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
        key(out, field, WireType::LengthDelimited);
        encode_varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    pub fn double(out: &mut Vec<u8>, field: u32, v: f64) {
        key(out, field, WireType::SixtyFourBit);
        out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
        key(out, field, WireType::Varint);
        encode_varint(v, out);
    }

    /// A `sint32`/`sint64` field (zigzag).
    pub fn sint(out: &mut Vec<u8>, field: u32, v: i64) {
        key(out, field, WireType::Varint);
        encode_varint(zigzag(v), out);
    }

    pub fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }
}

/// A `Metric.label` field: one `LabelPair`, encoded.
fn label(name: &str, value: &str) -> Vec<u8> {
    let mut pair = Vec::new();
    wire::bytes(&mut pair, 1, name.as_bytes());
    wire::bytes(&mut pair, 2, value.as_bytes());
    let mut out = Vec::new();
    wire::bytes(&mut out, 1, &pair);
    out
}

fn kind(f: Family) -> pb::MetricType {
    match f.kind {
        Kind::Counter => pb::MetricType::Counter,
        Kind::Gauge => pb::MetricType::Gauge,
        Kind::Histogram => pb::MetricType::Histogram,
        Kind::Summary => pb::MetricType::Summary,
    }
}

/// The first `n` of a lane's `checkpoint`, `direction`, `lane` label fields, encoded.
fn lane_labels(l: &LaneCells, n: usize) -> Vec<u8> {
    let (c, d, lane) = l.ident();
    [("checkpoint", c), ("direction", d), ("lane", lane)][..n]
        .iter()
        .flat_map(|(k, v)| label(k, v))
        .collect()
}

fn write(f: pb::MetricFamily, out: &mut Vec<u8>) {
    if !f.metric.is_empty() {
        f.encode_length_delimited(out)
            .expect("a Vec grows to whatever the message needs");
    }
}

fn pair(name: &str, value: &str) -> pb::LabelPair {
    pb::LabelPair {
        name: name.to_string(),
        value: value.to_string(),
    }
}

fn counter(value: f64) -> pb::Counter {
    pb::Counter {
        value,
        ..Default::default()
    }
}

fn gauge(value: f64) -> pb::Gauge {
    pb::Gauge { value }
}

fn bucket(upper_bound: f64, cumulative_count: u64) -> pb::Bucket {
    pb::Bucket {
        cumulative_count,
        upper_bound,
        ..Default::default()
    }
}
