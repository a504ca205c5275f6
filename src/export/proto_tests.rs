//! Tests of the protobuf exposition ([`super::super::proto`]) through the registry
//! that serves it: the same series as the text exposition, and native buckets that
//! agree with `prometheus-client`'s.

use std::collections::BTreeMap;

use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};
use prost::Message as _;

use crate::config::Config;
use crate::engine::lanes::native::{ZERO_THRESHOLD, decode as decode_spans};
use crate::engine::pipeline::Pipeline;
use crate::export::metrics::Metrics;
use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model as pb;

type Samples = BTreeMap<(String, Vec<(String, String)>), String>;

/// A pipeline of the shipped registry with native histograms and `n` passages on
/// four lanes of one direction: the passage times of each lane, in seconds.
fn pipeline(n: i64) -> (Metrics, BTreeMap<String, Vec<f64>>) {
    let mut config = Config::shipped();
    config.buckets.native_schema = Some(3);
    let mut pipeline = Pipeline::new(&config);
    let mut passages: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for i in 0..n {
        let lane = format!("0{}", 1 + i % 4);
        let arrived = 1_000_000 + i * 7_001;
        let departed = arrived + 20_000 + (i * i * 3_907) % 900_000;
        let ev = format!(
            r#"{{"event_id":"e{i}","checkpoint":"baimiao","direction":"inbound","lane":"{lane}","arrived_at":{arrived},"inspection_started_at":{},"departed_at":{departed}}}"#,
            departed - 15_000
        );
        pipeline.apply(ev.as_bytes(), None);
        passages
            .entry(lane)
            .or_default()
            .push((departed - arrived) as f64 / 1000.0);
    }
    let metrics = Metrics::new();
    metrics.register(crate::export::engine::collectors(&pipeline));
    metrics.add_lanes(pipeline.lane_series());
    (metrics, passages)
}

fn decode(mut body: &[u8]) -> Vec<pb::MetricFamily> {
    let mut families = Vec::new();
    while !body.is_empty() {
        families.push(pb::MetricFamily::decode_length_delimited(&mut body).unwrap());
    }
    families
}

fn key(
    name: &str,
    labels: impl IntoIterator<Item = (String, String)>,
) -> (String, Vec<(String, String)>) {
    let mut labels: Vec<_> = labels.into_iter().collect();
    labels.sort();
    (name.to_string(), labels)
}

/// Every sample of the text exposition (values as written there).
fn text_samples(text: &str) -> Samples {
    let mut out = Samples::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
        let labels = labels.trim_end_matches('}');
        let pairs = labels.split("\",").filter(|p| !p.is_empty()).map(|p| {
            let (k, v) = p.split_once("=\"").unwrap();
            (k.to_string(), v.trim_end_matches('"').to_string())
        });
        out.insert(key(name, pairs), value.to_string());
    }
    out
}

/// The samples Prometheus reads from the protobuf families (classic buckets; the
/// `+Inf` bucket from the count), numbers formatted as the text exposition does.
fn proto_samples(families: &[pb::MetricFamily]) -> Samples {
    let fmt = |v: f64| {
        if v.is_nan() {
            "NaN".to_string()
        } else if v.is_infinite() {
            if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
        } else {
            v.to_string()
        }
    };
    let mut out = Samples::new();
    for f in families {
        for m in &f.metric {
            let labels = || m.label.iter().map(|l| (l.name.clone(), l.value.clone()));
            let with = |k: &str, v: String| labels().chain([(k.to_string(), v)]);
            if let Some(h) = &m.histogram {
                for b in h
                    .bucket
                    .iter()
                    .map(|b| (fmt(b.upper_bound), b.cumulative_count))
                {
                    let k = key(&format!("{}_bucket", f.name), with("le", b.0));
                    out.insert(k, b.1.to_string());
                }
                let inf = key(&format!("{}_bucket", f.name), with("le", "+Inf".into()));
                out.insert(inf, h.sample_count.to_string());
                out.insert(key(&format!("{}_sum", f.name), labels()), fmt(h.sample_sum));
                out.insert(
                    key(&format!("{}_count", f.name), labels()),
                    h.sample_count.to_string(),
                );
                continue;
            }
            let value = m
                .counter
                .as_ref()
                .map(|c| c.value)
                .or(m.gauge.as_ref().map(|g| g.value))
                .or(m.untyped.as_ref().map(|u| u.value))
                .expect("a counter, gauge or untyped sample");
            out.insert(key(&f.name, labels()), fmt(value));
        }
    }
    out
}

/// Both formats carry the same series with the same values (what Prometheus stores
/// from either; the text format writes integral floats without `.0`).
#[test]
fn the_protobuf_exposition_has_the_series_and_values_of_the_text_one() {
    let (metrics, _) = pipeline(400);
    let text = String::from_utf8(metrics.encode()).unwrap();
    let mut proto_body = Vec::new();
    metrics.encode_proto_into(&mut proto_body);
    let families = decode(&proto_body);
    let normalise = |s: Samples| -> Samples {
        s.into_iter()
            .filter(|((name, _), _)| name != "lanewatch_newest_event_age_seconds")
            .map(|(k, v)| {
                let v = v
                    .parse::<f64>()
                    .map_or(v.clone(), |x| if x.is_nan() { v } else { x.to_string() });
                (k, v)
            })
            .collect()
    };
    let (text, proto) = (
        normalise(text_samples(&text)),
        normalise(proto_samples(&families)),
    );
    assert!(text.len() > 100, "{} samples", text.len());
    assert_eq!(text, proto);
    // Types as the text format declares them, but the quantile gauges: untyped.
    for f in &families {
        let declared = text_type(&String::from_utf8(metrics.encode()).unwrap(), &f.name);
        let expect = match declared.as_str() {
            "counter" => pb::MetricType::Counter,
            "gauge" => pb::MetricType::Gauge,
            "histogram" => pb::MetricType::Histogram,
            _ => pb::MetricType::Untyped,
        };
        assert_eq!(f.r#type, expect as i32, "{}", f.name);
    }
}

fn text_type(text: &str, name: &str) -> String {
    let prefix = format!("# TYPE {name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no TYPE for {name}"))
        .to_string()
}

/// Each lane's native passage-time buckets are those of `prometheus-client`'s
/// native histogram fed the lane's passage times (from the events, not the code).
#[test]
fn native_buckets_are_those_of_the_passage_times() {
    let (metrics, passages) = pipeline(2_000);
    let mut body = Vec::new();
    metrics.encode_proto_into(&mut body);
    let families = decode(&body);
    let family = families
        .iter()
        .find(|f| f.name == "lanewatch_passage_duration_seconds")
        .unwrap();
    for (lane, times) in &passages {
        let m = family
            .metric
            .iter()
            .find(|m| m.label.iter().any(|l| l.name == "lane" && l.value == *lane))
            .unwrap();
        let ours = m.histogram.clone().unwrap();
        let reference = Histogram::new_native(
            NativeHistogramConfig::with_schema(3).zero_threshold(ZERO_THRESHOLD),
        );
        times.iter().for_each(|&t| reference.observe(t));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("h", "h", reference);
        let theirs = prometheus_client::encoding::prometheus_protobuf::encode(&registry).unwrap()
            [0]
        .metric[0]
            .histogram
            .clone()
            .unwrap();
        let buckets = |h: &pb::Histogram| {
            let spans: Vec<_> = h
                .positive_span
                .iter()
                .map(|s| (s.offset, s.length))
                .collect();
            decode_spans(&spans, &h.positive_delta)
                .into_iter()
                .filter(|&(_, c)| c > 0)
                .collect::<Vec<_>>()
        };
        assert_eq!(ours.schema, 3);
        assert_eq!(ours.zero_threshold, ZERO_THRESHOLD);
        assert_eq!(
            (ours.zero_count, buckets(&ours)),
            (theirs.zero_count, buckets(&theirs)),
            "lane {lane}"
        );
        assert_eq!(ours.sample_count, times.len() as u64);
        assert!((ours.sample_sum - times.iter().sum::<f64>()).abs() < 1e-6);
    }
}
