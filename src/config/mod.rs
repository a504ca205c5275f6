//! Configuration: raw serde structs (`raw`: `deny_unknown_fields`, human durations) read from
//! TOML, turned into a validated [`Config`] with cross-field checks. Every problem is
//! reported with its field path and what to write instead.

mod limits;
mod raw;
pub mod registry;
pub mod web;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::engine::settings::{Buckets, CongestionConfig, HISTOGRAMS, Settings, WindowConfig};
use raw::*;
pub use raw::{
    DEFAULT_HEADWAY_BUCKETS, DEFAULT_INSPECTION_BUCKETS, DEFAULT_LOS_BANDS_S,
    DEFAULT_PASSAGE_BUCKETS, DEFAULT_QUEUE_WAIT_BUCKETS,
};
pub use registry::{Checkpoint, LaneDef, LaneKind, Registry};

/// Problems found in a configuration, each with the path of the field at fault.
#[derive(Debug, Default, thiserror::Error)]
pub struct Problems {
    pub file: Option<PathBuf>,
    pub list: Vec<(String, String)>,
}

impl Problems {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push((path.into(), message.into()));
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_ref().map(|p| p.display().to_string());
        for (i, (path, msg)) in self.list.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match &file {
                Some(file) => write!(f, "{file}: {path}: {msg}")?,
                None => write!(f, "{path}: {msg}")?,
            }
        }
        Ok(())
    }
}

/// Errors loading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source} (check the path given with --config)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax {
        path: PathBuf,
        /// toml's message with the position and the dotted path of the key.
        message: String,
        source: Box<toml::de::Error>,
    },
    #[error("{0}")]
    Invalid(Problems),
}

impl crate::exit::Failure for ConfigError {
    /// A configuration that cannot be read or is wrong: always the user's to fix.
    fn is_user_error(&self) -> bool {
        true
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub registry: Registry,
    /// The registry's file, when it was read from one (named in the simulator's errors
    /// about its traffic tables).
    pub registry_file: Option<PathBuf>,
    pub source: SourceConfig,
    pub events: EventLimits,
    pub windows: WindowConfig,
    pub max_dynamic_lanes: usize,
    /// Silence (wall clock, live) after which a lane not in the registry is removed.
    pub dynamic_lane_expiry_ms: i64,
    pub buckets: Buckets,
    pub http: HttpConfig,
    pub congestion: CongestionConfig,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub brokers: String,
    pub topic: String,
    pub group_id: String,
    /// Empty: rejected messages are counted and logged only.
    pub dead_letter_topic: Option<String>,
    pub commit_interval: Duration,
    pub statistics_interval: Duration,
    pub queued_max_messages_kbytes: u32,
    /// While a backlog drains, a partition more than this ahead (event time) of the
    /// slowest one with messages waiting is paused (`source::kafka::splits`).
    pub max_partition_drift: Duration,
    /// Pass-through librdkafka options, already stringified.
    pub kafka: BTreeMap<String, String>,
}

/// Limits an event must satisfy, owned by the event parser (config only fills them).
pub use crate::engine::event::EventLimits;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    pub shutdown_grace: Duration,
    /// Exporter-toolkit web config (TLS, basic auth), resolved against the config file.
    pub web_config_file: Option<PathBuf>,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub connection_max_age: Duration,
    /// A response write that makes no progress this long closes the connection.
    pub write_timeout: Duration,
}

/// Bounds per histogram at most (each is a series per lane).
pub const MAX_BUCKETS: usize = 1000;

/// librdkafka options lanewatch sets itself; overriding them would break the guarantees.
const RESERVED_KAFKA_KEYS: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.commit.interval.ms",
    "statistics.interval.ms",
];

impl Config {
    /// Read and validate a configuration file and the registry it names.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read(path)?;
        let raw: RawConfig = parse(path, &text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let registry_path = raw.registry.as_ref().map(|r| base.join(r));
        let raw_registry = match &registry_path {
            Some(rp) => {
                let text = read(rp)?;
                Some((rp.clone(), parse::<registry::RawRegistry>(rp, &text)?))
            }
            None => None,
        };
        let mut problems = Problems {
            file: Some(path.to_path_buf()),
            list: Vec::new(),
        };
        let registry = match raw_registry {
            Some((rp, rr)) => {
                let mut rprob = Problems {
                    file: Some(rp),
                    list: Vec::new(),
                };
                let reg = registry::validate(rr, &mut rprob);
                if !rprob.is_empty() {
                    return Err(ConfigError::Invalid(rprob));
                }
                reg
            }
            None => Registry::default(),
        };
        let mut config = validate(raw, registry, base, &mut problems);
        config.registry_file = registry_path;
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The built-in defaults with the given registry (demo, tests, replay without a file).
    pub fn with_registry(registry: Registry) -> Config {
        let raw: RawConfig = toml::from_str("").expect("empty config parses");
        let mut p = Problems::default();
        let c = validate(raw, registry, Path::new("."), &mut p);
        debug_assert!(p.is_empty(), "defaults are valid: {p}");
        c
    }

    /// This configuration as a replay uses it: one event-time window of `window_ms`, the
    /// quantiles of the replay report (p50, p90, p95, p99), `lateness_ms` when given, and
    /// no clock-skew check (replayed events are in the past by design).
    pub fn for_replay(mut self, window_ms: i64, lateness_ms: Option<i64>) -> Config {
        self.windows.sizes_ms = vec![window_ms];
        self.windows.quantiles = vec![0.5, 0.9, 0.95, 0.99];
        // The congestion analysis runs on the report's window.
        self.congestion.window_idx = 0;
        if let Some(l) = lateness_ms {
            self.windows.allowed_lateness_ms = l;
        }
        self.events.max_clock_skew_ms = None;
        self
    }

    /// Parse a configuration from a string (`base` resolves the registry path).
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = parse(Path::new("<inline>"), text)?;
        let registry = match &raw.registry {
            Some(r) => {
                let rp = base.join(r);
                let rr = parse::<registry::RawRegistry>(&rp, &read(&rp)?)?;
                let mut p = Problems {
                    file: Some(rp),
                    list: Vec::new(),
                };
                let reg = registry::validate(rr, &mut p);
                if !p.is_empty() {
                    return Err(ConfigError::Invalid(p));
                }
                reg
            }
            None => Registry::default(),
        };
        let mut p = Problems::default();
        let c = validate(raw, registry, base, &mut p);
        if p.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError::Invalid(p))
        }
    }
}

/// The default configuration and registry shipped in `config/`, built into the binary
/// (the demo runs from anywhere with them).
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../config/lanewatch.toml");
pub const DEFAULT_REGISTRY_TOML: &str = include_str!("../../config/checkpoints.toml");

impl Config {
    /// A configuration from its text and its registry's text (no files).
    pub fn from_texts(config: &str, registry: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = parse(Path::new("<config>"), config)?;
        let rr = parse::<registry::RawRegistry>(Path::new("<registry>"), registry)?;
        let mut p = Problems::default();
        let reg = registry::validate(rr, &mut p);
        let c = validate(raw, reg, Path::new("."), &mut p);
        if p.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError::Invalid(p))
        }
    }

    /// The shipped defaults (`config/lanewatch.toml` and `config/checkpoints.toml`).
    pub fn shipped() -> Config {
        Config::from_texts(DEFAULT_CONFIG_TOML, DEFAULT_REGISTRY_TOML)
            .expect("the shipped configuration is valid")
    }
}

/// Read and validate only a registry file.
pub fn load_registry(path: &Path) -> Result<Registry, ConfigError> {
    let rr = parse::<registry::RawRegistry>(path, &read(path)?)?;
    let mut p = Problems {
        file: Some(path.to_path_buf()),
        list: Vec::new(),
    };
    let reg = registry::validate(rr, &mut p);
    if p.is_empty() {
        Ok(reg)
    } else {
        Err(ConfigError::Invalid(p))
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_path_buf(),
        message: describe_toml_error(&e, text),
        source: Box::new(e),
    })
}

/// `line 2, column 1: source.topik: unknown field ...`: the position, the dotted path
/// of the offending key (table header + key) and toml's own message on one line.
fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else { return msg };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    // The key of the line the error points into (its value may be what is wrong).
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let key = if line_text.contains('=') {
        line_text.split('=').next().unwrap_or("").trim()
    } else {
        ""
    };
    let looks_like_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.\"".contains(c));
    let path = match (table, looks_like_key) {
        (Some(t), true) => format!("{t}.{key}: "),
        (None, true) => format!("{key}: "),
        (Some(t), false) => format!("[{t}]: "),
        (None, false) => String::new(),
    };
    format!("line {line}, column {col}: {path}{msg}")
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn validate(raw: RawConfig, registry: Registry, base: &Path, p: &mut Problems) -> Config {
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

impl From<&Config> for Settings {
    fn from(c: &Config) -> Settings {
        Settings {
            registry: c.registry.lanes_only(),
            events: c.events.clone(),
            windows: c.windows.clone(),
            buckets: c.buckets.clone(),
            congestion: c.congestion.clone(),
            max_dynamic_lanes: c.max_dynamic_lanes,
            dynamic_lane_expiry_ms: c.dynamic_lane_expiry_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_bucket_bounds_name_the_field_and_the_limit() {
        let bounds: Vec<String> = (1..=MAX_BUCKETS + 1).map(|i| i.to_string()).collect();
        let text = format!("[buckets]\nqueue_wait_seconds = [{}]\n", bounds.join(", "));
        let e = Config::from_texts(&text, "")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("buckets.queue_wait_seconds"), "{e}");
        assert!(e.contains("at most 1000"), "{e}");
        let ok: Vec<String> = (1..=MAX_BUCKETS).map(|i| i.to_string()).collect();
        let text = format!("[buckets]\nqueue_wait_seconds = [{}]\n", ok.join(", "));
        assert!(Config::from_texts(&text, "").is_ok());
    }

    #[test]
    fn per_lane_histograms_default_to_the_passage_time_and_unknown_names_are_refused() {
        let c = Config::from_texts("", "").expect("defaults");
        assert_eq!(c.buckets.per_lane, [true, false, false, false]);
        let text =
            "[buckets]\nper_lane = [\"queue_wait_seconds\", \"departure_headway_seconds\"]\n";
        let c = Config::from_texts(text, "").expect("valid");
        assert_eq!(c.buckets.per_lane, [false, true, false, true]);
        let e = Config::from_texts("[buckets]\nper_lane = [\"queue_wait\"]\n", "")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("buckets.per_lane"), "{e}");
        assert!(e.contains("\"queue_wait_seconds\""), "{e}");
    }
}
