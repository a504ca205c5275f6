//! The protobuf exposition (Prometheus' `io.prometheus.client.MetricFamily` messages,
//! length-delimited), served instead of text to a scraper that asks for it when
//! `buckets.native_histograms` is on: the only format that carries native histograms.
//! Same families, names and series as the text exposition (`export::lanes`); the lane
//! histograms carry their native buckets beside the classic ones.

use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;
use prost::Message as _;

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
pub fn encode_lanes(series: &LaneSeries, out: &mut Vec<u8>) {
    series.with_lanes(|lanes| Lanes::new(series, lanes).encode(out));
}

struct Lanes<'a> {
    series: &'a LaneSeries,
    lanes: &'a [LaneStats],
    /// Each lane's `checkpoint`, `direction`, `lane` pairs.
    labels: Vec<Vec<pb::LabelPair>>,
    spans: Spans,
}

impl<'a> Lanes<'a> {
    fn new(series: &'a LaneSeries, lanes: &'a [LaneStats]) -> Self {
        let labels = lanes.iter().map(|l| lane_labels(l, 3)).collect();
        Lanes {
            series,
            lanes,
            labels,
            spans: Spans::default(),
        }
    }

    /// A family with one metric per lane, made by `f` (which sets the value).
    fn per_lane(&self, f: Family, out: &mut Vec<u8>, value: impl Fn(&LaneCells) -> pb::Metric) {
        let metric = self
            .lanes
            .iter()
            .zip(&self.labels)
            .map(|(l, labels)| pb::Metric {
                label: labels.clone(),
                ..value(l)
            })
            .collect();
        write(family(f, metric), out);
    }

    fn encode(mut self, out: &mut Vec<u8>) {
        self.per_lane(cat::PASSAGES, out, |l| pb::Metric {
            counter: Some(counter(l.passages.get() as f64)),
            ..Default::default()
        });
        for (k, (f, get)) in histograms().into_iter().enumerate() {
            let bounds = self.series.bounds(k);
            let mut cum = vec![0; bounds.len() + 1];
            let mut metric = Vec::new();
            if self.series.per_lane()[k] {
                for (l, labels) in self.lanes.iter().zip(&self.labels) {
                    let sum = cumulative(get(l), &mut cum);
                    let h = get(l);
                    let native = h.native().map(|n| {
                        self.spans.clear();
                        n.for_each(|key, c| self.spans.push(key, c));
                        (n.schema(), n.zero_count())
                    });
                    metric.push(histogram(
                        labels.clone(),
                        bounds,
                        &cum,
                        sum,
                        native,
                        &self.spans,
                    ));
                }
            } else {
                let mut directions = Directions::default();
                self.series.with_retired(|r| {
                    directions.sum(self.lanes, r, (k, get), bounds.len() + 1);
                });
                let schema = self.series.native_schema();
                for row in directions.rows() {
                    self.spans.clear();
                    row.native
                        .iter()
                        .for_each(|(&key, &c)| self.spans.push(key, c));
                    metric.push(histogram(
                        lane_labels(row.first, 2),
                        bounds,
                        &row.cum,
                        row.sum,
                        schema.map(|s| (s, row.zero)),
                        &self.spans,
                    ));
                }
            }
            write(family(f, metric), out);
        }
        self.per_lane(cat::LANE_LAST_DEPARTURE, out, |l| {
            gauge_metric(l.last_departure.get())
        });
        let windows = self.series.window_labels();
        let quantiles = self.series.quantile_labels();
        let (mut throughput, mut quantile) = (Vec::new(), Vec::new());
        for (l, labels) in self.lanes.iter().zip(&self.labels) {
            for (w, window) in windows.iter().enumerate() {
                let mut labels = labels.clone();
                labels.push(pair("window", window));
                throughput.push(pb::Metric {
                    label: labels.clone(),
                    ..gauge_metric(l.throughput[w].get())
                });
                // Untyped, not a summary: a protobuf summary has `_sum` and `_count`,
                // which the text exposition leaves out (same series in both formats).
                for (q, at) in quantiles.iter().enumerate() {
                    let mut labels = labels.clone();
                    labels.insert(labels.len() - 1, pair("quantile", at));
                    quantile.push(pb::Metric {
                        label: labels,
                        untyped: Some(pb::Untyped {
                            value: l.quantile(w, q).get(),
                        }),
                        ..Default::default()
                    });
                }
            }
        }
        write(family(cat::LANE_THROUGHPUT, throughput), out);
        let mut q = family(cat::LANE_PASSAGE_QUANTILE, quantile);
        q.r#type = pb::MetricType::Untyped as i32;
        write(q, out);
        for (f, get) in gauges() {
            self.per_lane(f, out, |l| gauge_metric(get(l)));
        }
        let now = crate::engine::time::now_ms();
        self.per_lane(cat::LANE_SCHEDULED_OPEN, out, |l| {
            gauge_metric(f64::from(u8::from(scheduled_open(l, now))))
        });
    }
}

/// A histogram metric: classic buckets (cumulative, `+Inf` last and left out: the count
/// says it), and the native buckets when kept (`(schema, zero count)`, `spans`).
fn histogram(
    label: Vec<pb::LabelPair>,
    bounds: &[f64],
    cum: &[u64],
    sum: f64,
    native: Option<(i8, u64)>,
    spans: &Spans,
) -> pb::Metric {
    let bucket = bounds
        .iter()
        .zip(cum)
        .map(|(&le, &c)| bucket(le, c))
        .collect();
    let mut h = pb::Histogram {
        sample_count: cum[cum.len() - 1],
        sample_sum: sum,
        bucket,
        ..Default::default()
    };
    if let Some((schema, zero)) = native {
        h.schema = i32::from(schema);
        h.zero_threshold = ZERO_THRESHOLD;
        h.zero_count = zero;
        h.positive_span = spans
            .spans
            .iter()
            .map(|&(offset, length)| pb::BucketSpan { offset, length })
            .collect();
        h.positive_delta = spans.deltas.clone();
        // The count the native buckets add up to (read after the classic ones, they
        // may hold a few newer observations): Prometheus checks that they agree.
        h.sample_count = zero + spans.total();
    }
    pb::Metric {
        label,
        histogram: Some(h),
        ..Default::default()
    }
}

/// The first `n` of a lane's `checkpoint`, `direction`, `lane` labels.
fn lane_labels(l: &LaneCells, n: usize) -> Vec<pb::LabelPair> {
    let (c, d, lane) = l.ident();
    [("checkpoint", c), ("direction", d), ("lane", lane)][..n]
        .iter()
        .map(|(k, v)| pair(k, v))
        .collect()
}

fn family(f: Family, metric: Vec<pb::Metric>) -> pb::MetricFamily {
    let kind = match f.kind {
        Kind::Counter => pb::MetricType::Counter,
        Kind::Gauge => pb::MetricType::Gauge,
        Kind::Histogram => pb::MetricType::Histogram,
        Kind::Summary => pb::MetricType::Summary,
    };
    pb::MetricFamily {
        name: f.name.to_string(),
        help: f.help.to_string(),
        r#type: kind as i32,
        metric,
        unit: String::new(),
    }
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

fn gauge_metric(value: f64) -> pb::Metric {
    pb::Metric {
        gauge: Some(gauge(value)),
        ..Default::default()
    }
}

fn bucket(upper_bound: f64, cumulative_count: u64) -> pb::Bucket {
    pb::Bucket {
        cumulative_count,
        upper_bound,
        ..Default::default()
    }
}
