//! The raw configuration as written in TOML: serde structs with `deny_unknown_fields`,
//! human durations and the shipped defaults. `super` validates them into `Config`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

fn d<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    humantime_serde::deserialize(de)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// Path of the checkpoint registry, relative to this file.
    pub(super) registry: Option<PathBuf>,
    #[serde(default)]
    pub(super) source: RawSource,
    /// librdkafka options passed through verbatim (security settings included).
    #[serde(default)]
    pub(super) kafka: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub(super) events: RawEvents,
    #[serde(default)]
    pub(super) windows: RawWindows,
    #[serde(default)]
    pub(super) lanes: RawLanes,
    #[serde(default)]
    pub(super) buckets: RawBuckets,
    #[serde(default)]
    pub(super) http: RawHttp,
    #[serde(default)]
    pub(super) congestion: RawCongestion,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawCongestion {
    #[serde(deserialize_with = "d")]
    pub(super) window: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) target_wait: Duration,
    pub(super) risk: f64,
    #[serde(deserialize_with = "d")]
    pub(super) enter_p95: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) leave_p95: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) min_dwell: Duration,
    pub(super) min_passages: u64,
    #[serde(deserialize_with = "d")]
    pub(super) settle: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) settle_max: Duration,
    pub(super) los_bands: Vec<humantime_serde::Serde<Duration>>,
}

impl Default for RawCongestion {
    fn default() -> Self {
        let s = |secs| Duration::from_secs(secs);
        RawCongestion {
            window: s(300),
            target_wait: s(600),
            risk: 0.1,
            enter_p95: s(600),
            leave_p95: s(420),
            min_dwell: s(600),
            min_passages: 20,
            settle: s(300),
            settle_max: s(3 * 3600),
            los_bands: DEFAULT_LOS_BANDS_S.iter().map(|&b| s(b).into()).collect(),
        }
    }
}

/// Upper bounds of level-of-service bands A–E for mean passage time, seconds: the HCM
/// signalised-intersection control-delay bands (10/20/35/55/80 s) scaled ×7.5 so that
/// F begins at the 10-minute target wait.
pub const DEFAULT_LOS_BANDS_S: &[u64] = &[75, 150, 262, 412, 600];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSource {
    pub(super) brokers: String,
    pub(super) topic: String,
    pub(super) group_id: String,
    pub(super) dead_letter_topic: String,
    #[serde(deserialize_with = "d")]
    pub(super) commit_interval: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) statistics_interval: Duration,
    /// KiB of prefetched messages librdkafka may hold before it pauses fetching.
    pub(super) queued_max_messages_kbytes: u32,
    /// How far (event time) a partition with a backlog may run ahead of the slowest
    /// one before it is paused (watermark alignment).
    #[serde(deserialize_with = "d")]
    pub(super) max_partition_drift: Duration,
}

impl Default for RawSource {
    fn default() -> Self {
        RawSource {
            brokers: "127.0.0.1:9092".into(),
            topic: "checkpoint.passages".into(),
            group_id: "lanewatch".into(),
            dead_letter_topic: "checkpoint.passages.dlq".into(),
            commit_interval: Duration::from_secs(5),
            statistics_interval: Duration::from_secs(5),
            // Keeps a backlog drain under 64 MiB of RSS (see config/lanewatch.toml).
            queued_max_messages_kbytes: 1024,
            max_partition_drift: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEvents {
    pub(super) max_event_bytes: usize,
    #[serde(deserialize_with = "d")]
    pub(super) max_passage_time: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) max_clock_skew: Duration,
    pub(super) dedup_capacity: usize,
}

impl Default for RawEvents {
    fn default() -> Self {
        RawEvents {
            max_event_bytes: 64 * 1024,
            max_passage_time: Duration::from_secs(6 * 3600),
            max_clock_skew: Duration::from_secs(300),
            dedup_capacity: 1_000_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWindows {
    pub(super) sizes: Vec<humantime_serde::Serde<Duration>>,
    #[serde(deserialize_with = "d")]
    pub(super) allowed_lateness: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) idle_timeout: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) lane_idle_timeout: Duration,
    pub(super) quantiles: Vec<f64>,
}

impl Default for RawWindows {
    fn default() -> Self {
        RawWindows {
            sizes: [60, 300, 900]
                .into_iter()
                .map(|s| Duration::from_secs(s).into())
                .collect(),
            allowed_lateness: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(60),
            lane_idle_timeout: Duration::from_secs(300),
            quantiles: vec![0.5, 0.95, 0.99],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLanes {
    pub(super) max_dynamic_lanes: usize,
    /// A lane not in the registry that sends nothing this long is removed (its
    /// series too), freeing its place under `max_dynamic_lanes`.
    #[serde(deserialize_with = "d")]
    pub(super) dynamic_lane_expiry: Duration,
}

impl Default for RawLanes {
    fn default() -> Self {
        RawLanes {
            max_dynamic_lanes: 1000,
            dynamic_lane_expiry: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawBuckets {
    pub(super) passage_duration_seconds: Vec<f64>,
    pub(super) queue_wait_seconds: Vec<f64>,
    pub(super) inspection_duration_seconds: Vec<f64>,
    pub(super) departure_headway_seconds: Vec<f64>,
    /// Which histograms are exported per lane (names as above); the others are
    /// exported per checkpoint direction.
    pub(super) per_lane: Vec<String>,
    /// Native histograms too (served to a Prometheus that asks for protobuf).
    pub(super) native_histograms: bool,
    /// Their schema: bucket factor `2^(2^-schema)`.
    pub(super) native_schema: i8,
}

// Default buckets: about ten for the passage time, six for the others (Prometheus'
// guidance; every bound is a series per lane, and a region has a thousand lanes), each
// placed where the rules and dashboards that read them need resolution.

/// Passage time: the level-of-service band edges (75, 150, 262, 412, 600 s: a bucket
/// count is a band's share, exactly), congestion's 10-minute threshold, then the long
/// queues up to two hours (the 2020 queues).
pub const DEFAULT_PASSAGE_BUCKETS: &[f64] = &[
    30.0, 75.0, 150.0, 262.0, 412.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];
/// Queue wait: `le="30"` is the recording rule's "waited at most 30 s" share; 600 s is
/// the advice's target wait.
pub const DEFAULT_QUEUE_WAIT_BUCKETS: &[f64] = &[30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];
/// Inspection takes seconds for a car (median 25 s), minutes for a coach.
pub const DEFAULT_INSPECTION_BUCKETS: &[f64] = &[10.0, 20.0, 30.0, 60.0, 120.0, 300.0];
/// Headways: a saturated car lane clears a vehicle every 10–30 s; gaps of minutes mean
/// an idle or blocked lane.
pub const DEFAULT_HEADWAY_BUCKETS: &[f64] = &[10.0, 30.0, 60.0, 120.0, 300.0, 900.0];

/// Native histograms' default schema: buckets 9% wide (factor 2^(1/8), as
/// `client_golang`'s usual bucket factor of 1.1 gives).
pub const DEFAULT_NATIVE_SCHEMA: i8 = 3;

impl Default for RawBuckets {
    fn default() -> Self {
        RawBuckets {
            passage_duration_seconds: DEFAULT_PASSAGE_BUCKETS.to_vec(),
            queue_wait_seconds: DEFAULT_QUEUE_WAIT_BUCKETS.to_vec(),
            inspection_duration_seconds: DEFAULT_INSPECTION_BUCKETS.to_vec(),
            departure_headway_seconds: DEFAULT_HEADWAY_BUCKETS.to_vec(),
            per_lane: vec!["passage_duration_seconds".into()],
            native_histograms: false,
            native_schema: DEFAULT_NATIVE_SCHEMA,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttp {
    pub(super) listen: String,
    #[serde(deserialize_with = "d")]
    pub(super) shutdown_grace: Duration,
    pub(super) web_config_file: Option<PathBuf>,
    pub(super) max_connections: usize,
    #[serde(deserialize_with = "d")]
    pub(super) header_read_timeout: Duration,
    pub(super) max_header_bytes: usize,
    #[serde(deserialize_with = "d")]
    pub(super) connection_max_age: Duration,
    #[serde(deserialize_with = "d")]
    pub(super) write_timeout: Duration,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            listen: "0.0.0.0:9898".into(),
            shutdown_grace: Duration::from_secs(5),
            web_config_file: None,
            max_connections: 256,
            header_read_timeout: Duration::from_secs(5),
            max_header_bytes: 16 * 1024,
            connection_max_age: Duration::from_secs(300),
            write_timeout: Duration::from_secs(10),
        }
    }
}
