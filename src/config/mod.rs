//! Configuration: raw serde structs (`raw`: `deny_unknown_fields`, human durations) read from
//! TOML, turned into a validated [`Config`] with cross-field checks. Every problem is
//! reported with its field path and what to write instead.

mod limits;
mod raw;
pub mod registry;
mod validate;
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
    DEFAULT_NATIVE_SCHEMA, DEFAULT_PASSAGE_BUCKETS, DEFAULT_QUEUE_WAIT_BUCKETS,
};
pub use registry::{Checkpoint, LaneDef, LaneKind, Registry};
use validate::validate;

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
    fn native_histograms_are_off_by_default_and_a_bad_schema_names_the_range() {
        let c = Config::from_texts("", "").expect("defaults");
        assert_eq!(c.buckets.native_schema, None);
        let c = Config::from_texts("[buckets]\nnative_histograms = true\n", "").expect("on");
        assert_eq!(c.buckets.native_schema, Some(3));
        let text = "[buckets]\nnative_histograms = true\nnative_schema = 5\n";
        assert_eq!(
            Config::from_texts(text, "").unwrap().buckets.native_schema,
            Some(5)
        );
        let e = Config::from_texts("[buckets]\nnative_schema = 9\n", "")
            .expect_err("refused")
            .to_string();
        assert!(e.contains("buckets.native_schema"), "{e}");
        assert!(e.contains("-4 to 8"), "{e}");
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
