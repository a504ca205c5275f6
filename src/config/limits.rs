//! Upper bounds of the configuration: every value that reaches librdkafka, tokio, the
//! allocator or event-time arithmetic is checked here, so `check-config` refuses
//! exactly what `run` could not use, naming the field and the allowed range.

use std::time::Duration;

use super::Problems;
use super::raw::RawConfig;

/// Longest duration anywhere in the configuration: keeps every event-time sum (a
/// timestamp plus a window, a lateness, a timeout) far from overflowing.
const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);
/// librdkafka's `statistics.interval.ms` range ends at a day.
const MAX_STATISTICS_INTERVAL: Duration = Duration::from_secs(86_400);
/// librdkafka's `queued.max.messages.kbytes` range.
const QUEUED_KBYTES: std::ops::RangeInclusive<u32> = 1..=2_097_151;
/// More connections than this are more file descriptors than a process gets.
const MAX_CONNECTIONS: usize = 65_536;
const MAX_HEADER_BYTES: usize = 1 << 20;
/// Ids remembered by de-duplication (16 bytes each): 1 GiB at the bound.
const MAX_DEDUP_CAPACITY: usize = 64 << 20;
const MAX_EVENT_BYTES: usize = 64 << 20;
const MAX_DYNAMIC_LANES: usize = 1_000_000;

/// Push a problem for every value of `raw` beyond its bound.
pub(super) fn check(raw: &RawConfig, p: &mut Problems) {
    let c = &raw.congestion;
    let w = &raw.windows;
    let durations = [
        ("source.commit_interval", raw.source.commit_interval),
        ("events.max_passage_time", raw.events.max_passage_time),
        ("events.max_clock_skew", raw.events.max_clock_skew),
        ("windows.allowed_lateness", w.allowed_lateness),
        ("windows.idle_timeout", w.idle_timeout),
        ("windows.lane_idle_timeout", w.lane_idle_timeout),
        ("source.max_partition_drift", raw.source.max_partition_drift),
        ("http.shutdown_grace", raw.http.shutdown_grace),
        ("http.header_read_timeout", raw.http.header_read_timeout),
        ("http.connection_max_age", raw.http.connection_max_age),
        ("http.write_timeout", raw.http.write_timeout),
        ("lanes.dynamic_lane_expiry", raw.lanes.dynamic_lane_expiry),
        ("congestion.window", c.window),
        ("congestion.target_wait", c.target_wait),
        ("congestion.enter_p95", c.enter_p95),
        ("congestion.leave_p95", c.leave_p95),
        ("congestion.min_dwell", c.min_dwell),
        ("congestion.settle", c.settle),
        ("congestion.settle_max", c.settle_max),
    ];
    let lists = w
        .sizes
        .iter()
        .map(|d| ("windows.sizes", **d))
        .chain(c.los_bands.iter().map(|d| ("congestion.los_bands", **d)));
    for (field, d) in durations.into_iter().chain(lists) {
        if d > MAX_DURATION {
            p.push(
                field,
                format!(
                    "{} is above 366 days: use a shorter duration",
                    humantime::format_duration(d)
                ),
            );
        }
    }
    if raw.source.statistics_interval > MAX_STATISTICS_INTERVAL {
        p.push(
            "source.statistics_interval",
            "above 24h (librdkafka's statistics.interval.ms limit): use e.g. \"5s\"",
        );
    }
    if !QUEUED_KBYTES.contains(&raw.source.queued_max_messages_kbytes) {
        p.push(
            "source.queued_max_messages_kbytes",
            "outside librdkafka's range 1..=2097151: use e.g. 65536",
        );
    }
    let counts = [
        (
            "http.max_connections",
            raw.http.max_connections,
            MAX_CONNECTIONS,
        ),
        (
            "http.max_header_bytes",
            raw.http.max_header_bytes,
            MAX_HEADER_BYTES,
        ),
        (
            "events.dedup_capacity",
            raw.events.dedup_capacity,
            MAX_DEDUP_CAPACITY,
        ),
        (
            "events.max_event_bytes",
            raw.events.max_event_bytes,
            MAX_EVENT_BYTES,
        ),
        (
            "lanes.max_dynamic_lanes",
            raw.lanes.max_dynamic_lanes,
            MAX_DYNAMIC_LANES,
        ),
    ];
    for (field, v, max) in counts {
        if v > max {
            p.push(field, format!("{v} is above {max}: use a smaller number"));
        }
    }
}
