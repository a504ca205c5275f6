//! The flags of `lanewatch replay` ([`ReplayArgs`]) and the parsers of their times and
//! durations, converted to [`ReplayOptions`].

use std::path::PathBuf;

use crate::engine::time::{self, Zone};
use crate::replay::{self, ReplayOptions};

/// Report format on standard output (or `--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Arguments of `lanewatch replay`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "replay",
    about = "Post-event analysis of a time range from a JSONL file or Kafka"
)]
pub struct ReplayArgs {
    /// Configuration file: registry, event limits, allowed lateness, buckets, [kafka].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Checkpoint registry alone (instead of --config).
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub registry: Option<PathBuf>,
    /// JSONL file of events, one per line; `-` for stdin; gzip when it ends in `.gz`.
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["brokers", "topic"])]
    pub input: Option<PathBuf>,
    /// Kafka bootstrap servers (default: source.brokers of --config).
    #[arg(long, value_name = "HOST:PORT[,...]")]
    pub brokers: Option<String>,
    /// Kafka topic (default: source.topic of --config, else checkpoint.passages).
    #[arg(long)]
    pub topic: Option<String>,
    /// Start of the range, inclusive, by departed_at (RFC 3339 or Unix ms).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<i64>,
    /// End of the range, exclusive, by departed_at (RFC 3339 or Unix ms).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<i64>,
    /// Report window, aligned to the Unix epoch (whole seconds).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration_ms)]
    pub window: i64,
    /// Allowed lateness (default: windows.allowed_lateness of the configuration, 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub lateness: Option<i64>,
    /// Override `congestion.enter_p95` of the configuration (default 10m): a checkpoint
    /// direction becomes congested when the p95 passage time of a window reaches it,
    /// and leaves below `congestion.leave_p95` (lowered to 70% of this if not below it).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub congestion_threshold: Option<i64>,
    /// Write every time of the report in this IANA zone (e.g. Europe/Berlin, UTC)
    /// instead of each checkpoint's registry `time_zone` (default Asia/Shanghai).
    #[arg(long, value_name = "ZONE", value_parser = time::zone)]
    pub tz: Option<Zone>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write OpenMetrics samples for `promtool tsdb create-blocks-from openmetrics`.
    #[arg(long, value_name = "FILE")]
    pub openmetrics: Option<PathBuf>,
    /// No progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Write a report even when no event was analysed (by default that is an error
    /// saying why: an empty input, a range that matched nothing, …).
    #[arg(long)]
    pub allow_empty: bool,
    /// Threads for a file replay: 2 reads, parses and de-duplicates the events on one
    /// and analyses them on the other; 1 does both on one. The report is the same.
    /// (Default: 2 when the machine has two cores or more; Kafka replays use one.)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub threads: Option<u8>,
}

impl From<Format> for replay::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => replay::Format::Table,
            Format::Json => replay::Format::Json,
            Format::Csv => replay::Format::Csv,
        }
    }
}

impl From<ReplayArgs> for ReplayOptions {
    fn from(a: ReplayArgs) -> Self {
        ReplayOptions {
            config: a.config,
            registry: a.registry,
            input: a.input,
            brokers: a.brokers,
            topic: a.topic,
            from: a.from,
            to: a.to,
            window: a.window,
            lateness: a.lateness,
            congestion_threshold: a.congestion_threshold,
            tz: a.tz,
            format: a.format.into(),
            output: a.output,
            html: a.html,
            openmetrics: a.openmetrics,
            no_progress: a.no_progress,
            allow_empty: a.allow_empty,
            threads: a.threads.map_or_else(default_threads, usize::from),
        }
    }
}

/// Two threads when the machine has two cores or more.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

/// `--from`, `--to`: RFC 3339 with an offset, or Unix milliseconds within the calendar.
fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        let (lo, hi) = (
            jiff::Timestamp::MIN.as_millisecond(),
            jiff::Timestamp::MAX.as_millisecond(),
        );
        return if (lo..=hi).contains(&ms) {
            Ok(ms)
        } else {
            Err(format!(
                "Unix milliseconds must lie in years -9999..=9999 ({lo}..={hi})"
            ))
        };
    }
    time::parse_timestamp(s).ok_or_else(|| {
        "not a time: write RFC 3339 with an offset (2026-11-26T06:30:00+08:00) or Unix milliseconds"
            .to_string()
    })
}

/// `--window`, `--lateness`, `--congestion-threshold`: a human duration in milliseconds.
fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e}: write e.g. 5m, 90s, 1h"))?;
    i64::try_from(d.as_millis()).map_err(|_| "too long".to_string())
}
