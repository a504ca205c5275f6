//! Validation: the raw configuration and the registry turned into a [`Config`], every
//! problem (a field alone or fields against each other) noted with its path and fix.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::raw::*;
use super::*;

/// librdkafka options lanewatch sets itself; overriding them would break the guarantees.
const RESERVED_KAFKA_KEYS: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.commit.interval.ms",
    "statistics.interval.ms",
];

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(super) fn validate(
    raw: RawConfig,
    registry: Registry,
    base: &Path,
    p: &mut Problems,
) -> Config {
    limits::check(&raw, p);
    let s = raw.source;
    if s.brokers.trim().is_empty() {
        p.push(
            "source.brokers",
            "empty: give host:port[,host:port...] of the Kafka brokers",
        );
    }
    if s.topic.trim().is_empty() {
        p.push(
            "source.topic",
            "empty: name the topic of lane-passage events",
        );
    }
    if s.group_id.trim().is_empty() {
        p.push(
            "source.group_id",
            "empty: name the consumer group shared by all instances",
        );
    }
    if s.dead_letter_topic == s.topic {
        p.push(
            "source.dead_letter_topic",
            "is the same as source.topic: rejected events would be consumed again; use another topic or \"\" to disable",
        );
    }
    if s.commit_interval < Duration::from_millis(100) {
        p.push("source.commit_interval", "below 100ms: use e.g. \"5s\"");
    }
    if s.statistics_interval < Duration::from_millis(100) {
        p.push("source.statistics_interval", "below 100ms: use e.g. \"5s\"");
    }
    if s.max_partition_drift < Duration::from_secs(1) {
        p.push(
            "source.max_partition_drift",
            "below 1s: partitions would pause and resume at every message; use e.g. \"1m\"",
        );
    }
    let mut kafka = BTreeMap::new();
    for (k, v) in raw.kafka {
        if RESERVED_KAFKA_KEYS.contains(&k.as_str()) {
            p.push(
                format!("kafka.{k:?}"),
                "is set by lanewatch itself: use the [source] table instead (brokers, group_id, commit_interval)",
            );
            continue;
        }
        let s = match v {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            other => {
                p.push(
                    format!("kafka.{k:?}"),
                    format!(
                        "{} is not a librdkafka value: use a string, number or boolean",
                        other.type_str()
                    ),
                );
                continue;
            }
        };
        kafka.insert(k, s);
    }

    let e = raw.events;
    if e.max_event_bytes < 256 {
        p.push(
            "events.max_event_bytes",
            "below 256 bytes: a valid event does not fit; use e.g. 65536",
        );
    }
    if e.max_passage_time.is_zero() {
        p.push(
            "events.max_passage_time",
            "zero: every event would be rejected; use e.g. \"6h\"",
        );
    }
    if e.dedup_capacity < 2 {
        p.push(
            "events.dedup_capacity",
            "below 2: use e.g. 1000000 event ids",
        );
    }

    let w = raw.windows;
    let mut sizes_ms: Vec<i64> = w.sizes.iter().map(|d| ms(**d)).collect();
    sizes_ms.sort_unstable();
    if sizes_ms.is_empty() {
        p.push(
            "windows.sizes",
            "empty: list at least one window, e.g. [\"1m\", \"5m\", \"15m\"]",
        );
    }
    for (i, &sz) in sizes_ms.iter().enumerate() {
        if sz < 1000 || sz % 1000 != 0 {
            p.push(
                format!("windows.sizes[{i}]"),
                "must be a whole number of seconds, at least \"1s\"",
            );
        }
        if i > 0 && sizes_ms[i - 1] == sz {
            p.push(
                format!("windows.sizes[{i}]"),
                "listed twice: remove the duplicate",
            );
        }
    }
    let lateness = ms(w.allowed_lateness);
    if let Some(&largest) = sizes_ms.last()
        && lateness > 4 * largest
    {
        p.push(
            "windows.allowed_lateness",
            "more than 4x the largest of windows.sizes: windows would stay open too long; lower it or add a larger window",
        );
    }
    if w.idle_timeout < Duration::from_secs(1) {
        p.push("windows.idle_timeout", "below 1s: use e.g. \"1m\"");
    }
    if w.lane_idle_timeout < w.allowed_lateness {
        p.push(
            "windows.lane_idle_timeout",
            "shorter than windows.allowed_lateness: a lane would stop holding the watermark before its own events stop being on time; raise it (default \"5m\")",
        );
    }
    for (i, q) in w.quantiles.iter().enumerate() {
        if !(*q > 0.0 && *q < 1.0) {
            p.push(
                format!("windows.quantiles[{i}]"),
                format!("{q} is not in (0, 1): write e.g. 0.95"),
            );
        }
    }
    if ms(e.max_passage_time) < lateness {
        // Not an error in itself, but a sign the two were swapped.
        p.push(
            "events.max_passage_time",
            "shorter than windows.allowed_lateness: the two look swapped",
        );
    }

    let b = raw.buckets;
    for (name, v) in [
        ("passage_duration_seconds", &b.passage_duration_seconds),
        ("queue_wait_seconds", &b.queue_wait_seconds),
        (
            "inspection_duration_seconds",
            &b.inspection_duration_seconds,
        ),
        ("departure_headway_seconds", &b.departure_headway_seconds),
    ] {
        if v.is_empty() {
            p.push(
                format!("buckets.{name}"),
                "empty: list upper bounds in seconds, e.g. [5, 30, 60]",
            );
        }
        if v.iter().any(|x| !x.is_finite() || *x <= 0.0) {
            p.push(
                format!("buckets.{name}"),
                "bounds must be positive finite seconds (+Inf is added by itself)",
            );
        }
        if v.windows(2).any(|w| w[0] >= w[1]) {
            p.push(
                format!("buckets.{name}"),
                "bounds must be strictly increasing",
            );
        }
        if v.len() > MAX_BUCKETS {
            p.push(
                format!("buckets.{name}"),
                format!(
                    "{} bounds: use at most {MAX_BUCKETS} (every bound is a series per lane; about 10 is usual)",
                    v.len()
                ),
            );
        }
    }
    for name in &b.per_lane {
        if !HISTOGRAMS.contains(&name.as_str()) {
            p.push(
                "buckets.per_lane",
                format!(
                    "{name:?} is not a histogram: name some of {}",
                    HISTOGRAMS.map(|h| format!("{h:?}")).join(", ")
                ),
            );
        }
    }

    if !crate::engine::lanes::native::SCHEMAS.contains(&b.native_schema) {
        p.push(
            "buckets.native_schema",
            format!(
                "{} is not a schema Prometheus reads: use -4 to 8 (3: buckets 9% wide)",
                b.native_schema
            ),
        );
    }

    let listen = match raw.http.listen.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            p.push(
                "http.listen",
                format!(
                    "{:?} is not an address: write ip:port, e.g. \"0.0.0.0:9898\"",
                    raw.http.listen
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        }
    };
    if raw.http.max_connections == 0 {
        p.push(
            "http.max_connections",
            "0: no scrape could connect; use e.g. 64",
        );
    }
    if raw.http.max_header_bytes < 8192 {
        p.push(
            "http.max_header_bytes",
            "below 8192 (the HTTP parser's minimum buffer): use e.g. 16384",
        );
    }
    if raw.http.header_read_timeout.is_zero() {
        p.push("http.header_read_timeout", "zero: use e.g. \"5s\"");
    }
    if raw.http.write_timeout.is_zero() {
        p.push("http.write_timeout", "zero: use e.g. \"10s\"");
    }
    if let Some(f) = &raw.http.web_config_file
        && let Err(e) = web::WebConfig::load(&base.join(f))
    {
        p.push("http.web_config_file", e.to_string());
    }
    if raw.lanes.dynamic_lane_expiry.is_zero() {
        p.push("lanes.dynamic_lane_expiry", "zero: use e.g. \"1h\"");
    }
    if registry.lane_count() + raw.lanes.max_dynamic_lanes == 0 {
        p.push(
            "lanes.max_dynamic_lanes",
            "is 0 and the registry has no lanes: every event would overflow; register lanes or raise the cap",
        );
    }

    let cg = raw.congestion;
    let window_idx = match sizes_ms.iter().position(|&w| w == ms(cg.window)) {
        Some(i) => i,
        None => {
            p.push(
                "congestion.window",
                format!(
                    "{} is not one of windows.sizes: add it there or pick one of them",
                    humantime::format_duration(cg.window)
                ),
            );
            0
        }
    };
    if !(cg.risk > 0.0 && cg.risk < 1.0) {
        p.push(
            "congestion.risk",
            format!("{} is not in (0, 1): write e.g. 0.1 for 10%", cg.risk),
        );
    }
    if cg.target_wait.is_zero() {
        p.push(
            "congestion.target_wait",
            "zero: give the wait a commuter should not exceed, e.g. \"10m\"",
        );
    }
    if cg.settle_max > Duration::from_secs(6 * 3600) {
        p.push(
            "congestion.settle_max",
            "longer than 6h: the advice would come too late to act on; use e.g. \"1h\"",
        );
    }
    if cg.settle > cg.settle_max {
        p.push(
            "congestion.settle",
            "longer than congestion.settle_max: the advice waits at least settle and at most settle_max after a window",
        );
    }
    if cg.leave_p95 >= cg.enter_p95 {
        p.push(
            "congestion.leave_p95",
            "must be below congestion.enter_p95 (hysteresis: enter above one, leave below a lower one)",
        );
    }
    let los_bands_ms: Vec<i64> = cg.los_bands.iter().map(|d| ms(**d)).collect();
    if los_bands_ms.len() != 5
        || los_bands_ms.windows(2).any(|w| w[0] >= w[1])
        || los_bands_ms.first() == Some(&0)
    {
        p.push(
            "congestion.los_bands",
            "give 5 increasing upper bounds for bands A to E (F is above the last), e.g. [\"75s\", \"150s\", \"262s\", \"412s\", \"600s\"]",
        );
    }

    Config {
        registry_file: None,
        congestion: CongestionConfig {
            window_idx,
            target_wait_ms: ms(cg.target_wait),
            risk: cg.risk,
            enter_p95_ms: ms(cg.enter_p95),
            leave_p95_ms: ms(cg.leave_p95),
            min_dwell_ms: ms(cg.min_dwell),
            min_passages: cg.min_passages,
            settle_ms: ms(cg.settle),
            settle_max_ms: ms(cg.settle_max),
            los_bands_ms,
        },
        registry,
        source: SourceConfig {
            brokers: s.brokers,
            topic: s.topic,
            group_id: s.group_id,
            dead_letter_topic: (!s.dead_letter_topic.is_empty()).then_some(s.dead_letter_topic),
            commit_interval: s.commit_interval,
            statistics_interval: s.statistics_interval,
            queued_max_messages_kbytes: s.queued_max_messages_kbytes,
            max_partition_drift: s.max_partition_drift,
            kafka,
        },
        events: EventLimits {
            max_event_bytes: e.max_event_bytes,
            max_passage_ms: ms(e.max_passage_time),
            max_clock_skew_ms: Some(ms(e.max_clock_skew)),
            dedup_capacity: e.dedup_capacity,
        },
        windows: WindowConfig {
            sizes_ms,
            allowed_lateness_ms: lateness,
            idle_timeout_ms: ms(w.idle_timeout),
            lane_idle_timeout_ms: ms(w.lane_idle_timeout),
            quantiles: w.quantiles,
        },
        max_dynamic_lanes: raw.lanes.max_dynamic_lanes,
        dynamic_lane_expiry_ms: ms(raw.lanes.dynamic_lane_expiry),
        buckets: Buckets {
            passage: b.passage_duration_seconds,
            queue_wait: b.queue_wait_seconds,
            inspection: b.inspection_duration_seconds,
            headway: b.departure_headway_seconds,
            per_lane: HISTOGRAMS.map(|h| b.per_lane.iter().any(|p| p == h)),
            native_schema: b.native_histograms.then_some(b.native_schema),
        },
        http: HttpConfig {
            listen,
            shutdown_grace: raw.http.shutdown_grace,
            web_config_file: raw.http.web_config_file.map(|f| base.join(f)),
            max_connections: raw.http.max_connections,
            header_read_timeout: raw.http.header_read_timeout,
            max_header_bytes: raw.http.max_header_bytes,
            connection_max_age: raw.http.connection_max_age,
            write_timeout: raw.http.write_timeout,
        },
    }
}
