//! `lanewatch replay`: post-event analysis of a time range from a JSONL file or from
//! Kafka. It drives the same [`Pipeline`] as the live service (one implementation, two
//! drivers) with a [`ReplayObserver`], then writes a report (table, JSON, CSV), an HTML
//! page with charts and OpenMetrics samples for `promtool tsdb create-blocks-from`.
//!
//! - `observer`: what is collected while the pipeline runs; `lane`: what it keeps per
//!   lane; `dist`: its whole-range statistics of one quantity; `rows`: the congestion
//!   analysis per checkpoint direction; `spill`: the temporary file where what grows
//!   with the range is kept.
//! - `report` / `format`: the report model and its JSON, CSV and table views.
//! - `html`: the self-contained HTML report; `openmetrics`: the backfill file.
//! - `kafka`: reading a time range from Kafka by partition assignment, never committing.
//! - `staged`: a file replay on two threads (reader stage and pipeline), same report.

pub mod dist;
pub mod format;
pub mod html;
pub mod kafka;
mod lane;
pub mod observer;
pub mod openmetrics;
pub mod report;
mod rows;
mod spill;
mod staged;

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, Registry, load_registry};
use crate::engine::pipeline::{Outcome, Pipeline};
use crate::source::file::{FileError, Input};
pub use observer::ReplayObserver;
pub use report::Report;

/// Report format on standard output (or `--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// What `lanewatch replay` is asked to do: its flags as values (times and durations
/// in Unix milliseconds).
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Configuration file: registry, event limits, allowed lateness, buckets, [kafka].
    pub config: Option<PathBuf>,
    /// Checkpoint registry alone (instead of `config`).
    pub registry: Option<PathBuf>,
    /// JSONL file of events, one per line; `-` for stdin; gzip when it ends in `.gz`.
    pub input: Option<PathBuf>,
    /// Kafka bootstrap servers (default: source.brokers of `config`).
    pub brokers: Option<String>,
    /// Kafka topic (default: source.topic of `config`, else checkpoint.passages).
    pub topic: Option<String>,
    /// Start of the range, inclusive, by departed_at.
    pub from: Option<i64>,
    /// End of the range, exclusive, by departed_at.
    pub to: Option<i64>,
    /// Report window, aligned to the Unix epoch (whole seconds).
    pub window: i64,
    /// Allowed lateness (default: windows.allowed_lateness of the configuration).
    pub lateness: Option<i64>,
    /// Override of `congestion.enter_p95` (`leave_p95` lowered to 70% of it if not
    /// below it).
    pub congestion_threshold: Option<i64>,
    /// Every time of the report in this zone instead of each checkpoint's `time_zone`.
    pub tz: Option<crate::engine::time::Zone>,
    /// Report format.
    pub format: Format,
    /// Write the report here instead of standard output.
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report with charts.
    pub html: Option<PathBuf>,
    /// Also write OpenMetrics samples for Prometheus backfill.
    pub openmetrics: Option<PathBuf>,
    /// No progress bar (it is drawn only when stderr is a terminal anyway).
    pub no_progress: bool,
    /// Write a report even when no event was analysed.
    pub allow_empty: bool,
    /// Threads for a file replay: 1 reads and analyses on one; 2 reads, parses and
    /// de-duplicates on a second (the same report). Kafka replays use one.
    pub threads: usize,
}

/// Errors a replay ends with; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "nothing to replay: give --input FILE (or - for stdin), or --brokers HOST:PORT --from TIME --to TIME"
    )]
    NoInput,
    #[error(
        "replay from Kafka needs both --from and --to (RFC 3339 like 2026-11-26T06:30:00+08:00, or Unix ms)"
    )]
    MissingRange,
    #[error("--from {from} is not before --to {to}: give a non-empty range")]
    EmptyRange { from: String, to: String },
    #[error("--window {0}ms: give a whole number of seconds, at least 1s (e.g. 5m)")]
    BadWindow(i64),
    #[error(
        "cannot reach the Kafka brokers {brokers}: {source} (check --brokers and that Kafka runs)"
    )]
    Unreachable {
        brokers: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("topic {topic:?} does not exist on {brokers} (check --topic)")]
    NoTopic { topic: String, brokers: String },
    #[error("Kafka: {what}: {source}")]
    Kafka {
        /// What was being done (`assign`, `reading the range`, …).
        what: &'static str,
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "Kafka: no message for {secs}s before reaching the end offset of {waiting_on} (messages deleted by retention?)"
    )]
    Stalled { secs: u64, waiting_on: String },
    #[error("cannot write {path}: {source} (check the path)")]
    Write { path: PathBuf, source: io::Error },
    #[error("interrupted before the end of the range; nothing was written")]
    Interrupted,
    #[error("nothing to report: {why} (--allow-empty writes the empty report)")]
    Empty { why: String },
    #[error(
        "--window {window} makes {windows} windows for each of {lanes} lanes, more than a report holds ({max} lane-windows): give a larger --window or a shorter --from/--to range",
        max = report::MAX_LANE_WINDOWS
    )]
    TooManyWindows {
        lanes: u64,
        windows: u64,
        window: String,
    },
    #[error(
        "cannot keep the replay's per-window data in a temporary file: {source} (set TMPDIR to a directory with free space)"
    )]
    Spill { source: io::Error },
}

impl crate::exit::Failure for ReplayError {
    /// Flags, the configuration, the input and output paths, the brokers and the topic
    /// are checked before the first event; nothing to report is the user's range or
    /// input too. Kafka failing while the range is read, an input that breaks off and a
    /// replay interrupted by a signal are failures at run time.
    fn is_user_error(&self) -> bool {
        match self {
            ReplayError::Config(e) => e.is_user_error(),
            ReplayError::File(e) => e.is_user_error(),
            ReplayError::NoInput
            | ReplayError::MissingRange
            | ReplayError::EmptyRange { .. }
            | ReplayError::BadWindow(_)
            | ReplayError::Unreachable { .. }
            | ReplayError::NoTopic { .. }
            | ReplayError::Empty { .. }
            | ReplayError::TooManyWindows { .. } => true,
            ReplayError::Kafka { .. }
            | ReplayError::Stalled { .. }
            | ReplayError::Interrupted
            | ReplayError::Spill { .. } => false,
            ReplayError::Write { source, .. } => crate::exit::path_refused(source),
        }
    }
}

/// What a replay produced: the report and the pipeline it ran (its observer holds the
/// per-window buckets that OpenMetrics writes).
pub struct Replayed {
    pub report: Report,
    pub pipeline: Pipeline<ReplayObserver>,
}

/// Feeds messages to the pipeline, counts outcomes, draws the progress bar.
struct Driver {
    pipeline: Pipeline<ReplayObserver>,
    events: report::Events,
    bar: ProgressBar,
}

impl Driver {
    fn new(pipeline: Pipeline<ReplayObserver>, progress: bool) -> Driver {
        let bar = if progress && io::stderr().is_terminal() {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{spinner} {human_pos} events  {per_sec}  {elapsed}")
                    .expect("valid template"),
            );
            b
        } else {
            ProgressBar::hidden()
        };
        Driver {
            pipeline,
            events: report::Events::new(),
            bar,
        }
    }

    #[inline]
    fn feed(&mut self, bytes: &[u8]) {
        self.feed_from(0, bytes);
    }

    #[inline]
    fn feed_from(&mut self, split: u32, bytes: &[u8]) {
        let e = &mut self.events;
        e.read += 1;
        match self.pipeline.apply_from(bytes, split, None) {
            Outcome::Accepted { late, .. } => {
                e.accepted += 1;
                e.late += u64::from(late);
            }
            Outcome::Duplicate => e.duplicates += 1,
            Outcome::Overflow => e.overflow += 1,
            Outcome::OutOfScope => e.out_of_range += 1,
            Outcome::Rejected(r) => {
                *e.rejected.entry(r.reason.as_str()).or_default() += 1;
            }
        }
        if e.read & 0xFFFF == 0 {
            self.bar.set_position(e.read);
        }
    }

    fn finish(mut self, p: &report::Params) -> Result<Replayed, ReplayError> {
        self.bar.finish_and_clear();
        self.pipeline.set_split_pending(0, false);
        self.pipeline.flush();
        self.pipeline
            .observer
            .finish()
            .map_err(|source| ReplayError::Spill { source })?;
        let report = report::build(
            p,
            &self.pipeline.lanes,
            &self.pipeline.observer,
            self.events,
        )
        .map_err(|e| match e {
            report::BuildError::TooManyWindows(lanes, windows) => ReplayError::TooManyWindows {
                lanes,
                windows,
                window: humantime::format_duration(std::time::Duration::from_millis(
                    p.window_ms.max(0) as u64,
                ))
                .to_string(),
            },
            report::BuildError::Spill(source) => ReplayError::Spill { source },
        })?;
        Ok(Replayed {
            report,
            pipeline: self.pipeline,
        })
    }
}

/// The pipeline split of a Kafka partition.
fn split_of(partition: i32) -> u32 {
    u32::try_from(partition).unwrap_or(0)
}

fn load_config(args: &ReplayOptions) -> Result<Config, ReplayError> {
    if args.window < 1000 || args.window % 1000 != 0 {
        return Err(ReplayError::BadWindow(args.window));
    }
    let base = match (&args.config, &args.registry) {
        (Some(c), _) => Config::load(c)?,
        (None, Some(r)) => Config::with_registry(load_registry(r)?),
        (None, None) => Config::with_registry(Registry::default()),
    };
    let mut config = base.for_replay(args.window, args.lateness);
    if let Some(t) = args.congestion_threshold {
        let c = &mut config.congestion;
        c.enter_p95_ms = t;
        if c.leave_p95_ms >= t {
            c.leave_p95_ms = t * 7 / 10;
        }
    }
    Ok(config)
}

/// Run the replay and return the report, writing nothing.
pub fn replay(args: &ReplayOptions, shutdown: &CancellationToken) -> Result<Replayed, ReplayError> {
    let config = load_config(args)?;
    let zones = report::Zones::new(&config.registry, args.tz.clone());
    let at = |t: i64| crate::engine::time::format_in(t, zones.report());
    if let (Some(f), Some(t)) = (args.from, args.to)
        && f >= t
    {
        return Err(ReplayError::EmptyRange {
            from: at(f),
            to: at(t),
        });
    }
    let params = report::Params {
        from_ms: args.from,
        to_ms: args.to,
        window_ms: args.window,
        congestion_threshold_ms: config.congestion.enter_p95_ms,
        settle_ms: config.congestion.settle_ms,
        zones: zones.clone(),
    };
    let observer = ReplayObserver::new(args.from, args.to, args.window, &config.buckets);
    let mut driver = Driver::new(
        Pipeline::with_observer(&config, observer),
        !args.no_progress,
    );
    if let Some(path) = &args.input {
        let mut input = Input::open(path)?;
        // The file is one split, pending until read to its end (README, Windows and
        // event time: the watermark waits for what the split may still bring, as in a
        // live drain).
        driver.pipeline.set_split_pending(0, true);
        if args.threads > 1 {
            let Driver {
                pipeline,
                events,
                bar,
            } = &mut driver;
            let range = (args.from, args.to);
            staged::feed_file(&mut input, pipeline, events, range, shutdown, |n| {
                bar.set_position(n)
            })?;
        } else {
            let mut n = 0u32;
            input.for_each_line(config.events.max_event_bytes, |line, _| {
                driver.feed(line);
                n = n.wrapping_add(1);
                !(n & 0x3FF == 0 && shutdown.is_cancelled())
            })?;
        }
    } else {
        let brokers = match (&args.brokers, &args.config) {
            (Some(b), _) => b.clone(),
            (None, Some(_)) => config.source.brokers.clone(),
            (None, None) => return Err(ReplayError::NoInput),
        };
        let (Some(from), Some(to)) = (args.from, args.to) else {
            return Err(ReplayError::MissingRange);
        };
        let mut source = config.source.clone();
        source.brokers = brokers;
        if let Some(t) = &args.topic {
            source.topic = t.clone();
        }
        // Kafka timestamps are not negative (-1 means none): a range before 1970 starts
        // at the beginning of every partition.
        let range = kafka::Range {
            from_ms: from
                .saturating_sub(config.windows.allowed_lateness_ms)
                .max(0),
            to_ms: to.saturating_add(config.windows.allowed_lateness_ms).max(0),
        };
        // Each partition is a split of the pipeline's event time: pending (holding the
        // watermark at its own event time) until its last message of the range.
        let cell = std::cell::RefCell::new(driver);
        let plan = kafka::read_range(
            &source,
            range,
            shutdown,
            |plan| {
                let mut d = cell.borrow_mut();
                for &(p, start, end) in plan {
                    if start < end {
                        d.pipeline.set_split_pending(split_of(p), true);
                    }
                }
            },
            |p, bytes, last| {
                let mut d = cell.borrow_mut();
                d.feed_from(split_of(p), bytes);
                if last {
                    d.pipeline.set_split_pending(split_of(p), false);
                }
            },
        )?;
        driver = cell.into_inner();
        if plan.iter().all(|&(_, start, end)| start >= end) && !args.allow_empty {
            return Err(ReplayError::Empty {
                why: format!(
                    "no message of topic {} has a Kafka timestamp in {} .. {} (the range widened by the allowed lateness). Messages are found by their Kafka timestamp, the time they were produced: if the events were produced long after they happened, give the range in which they were produced",
                    source.topic,
                    at(range.from_ms),
                    at(range.to_ms)
                ),
            });
        }
    }
    if shutdown.is_cancelled() {
        return Err(ReplayError::Interrupted);
    }
    let done = driver.finish(&params)?;
    let e = &done.report.events;
    if e.accepted == 0 && !args.allow_empty {
        let rejected: u64 = e.rejected.values().sum();
        let why = if e.read == 0 {
            "the input has no events".to_string()
        } else if e.out_of_range > 0 {
            format!(
                "none of the {} events read departed in {} .. {} ({} outside it, {rejected} rejected)",
                e.read,
                params.from_ms.map_or("(start)".into(), at),
                params.to_ms.map_or("(end)".into(), at),
                e.out_of_range
            )
        } else {
            format!(
                "none of the {} events read was valid ({rejected} rejected, {} duplicates, {} over lanes.max_dynamic_lanes)",
                e.read, e.duplicates, e.overflow
            )
        };
        return Err(ReplayError::Empty { why });
    }
    Ok(done)
}

fn write_file(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), ReplayError> {
    let err = |source| ReplayError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(err)?;
    let mut w = io::BufWriter::new(file);
    f(&mut w).and_then(|()| w.flush()).map_err(err)
}

/// `lanewatch replay`: replay, then write the report (stdout or `--output`), and the
/// `--html` and `--openmetrics` files. Synchronous (Kafka is read on this thread);
/// `shutdown` stops it early with [`ReplayError::Interrupted`].
pub fn run(args: ReplayOptions, shutdown: CancellationToken) -> Result<(), ReplayError> {
    let r = replay(&args, &shutdown)?;
    let write_report = |w: &mut dyn Write| match args.format {
        Format::Table => format::write_table(&r.report, w),
        Format::Json => format::write_json(&r.report, &r.pipeline.observer, w),
        Format::Csv => format::write_csv(&r.report, &r.pipeline.observer, w),
    };
    match &args.output {
        Some(p) => write_file(p, write_report)?,
        None => {
            let mut out = io::stdout().lock();
            write_report(&mut out)
                .and_then(|()| out.flush())
                .map_err(|source| ReplayError::Write {
                    path: PathBuf::from("<stdout>"),
                    source,
                })?;
        }
    }
    if let Some(p) = &args.html {
        write_file(p, |w| html::write_html(&r.report, &r.pipeline.observer, w))?;
    }
    if let Some(p) = &args.openmetrics {
        let cutoff = crate::engine::time::now_ms() - openmetrics::HEAD_BLOCK_MS;
        let mut skipped = 0;
        write_file(p, |w| {
            skipped = openmetrics::write(&r.report, &r.pipeline.observer, cutoff, w)?;
            Ok(())
        })?;
        if skipped > 0 {
            tracing::warn!(
                skipped,
                cutoff = %crate::engine::time::format_in(cutoff, r.report.zone()),
                "left out OpenMetrics samples from the last 3 hours: Prometheus cannot safely backfill its head block"
            );
        }
    }
    Ok(())
}
