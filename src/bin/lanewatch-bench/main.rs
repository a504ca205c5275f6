//! `lanewatch-bench`: the benchmarks, a binary of their own beside `lanewatch` (the
//! release binary carries no benchmark code). The pipeline on one thread, replay from a
//! JSONL file, loading a Kafka topic, draining it with the live service, scrape cost
//! with many lanes, freshness, and the congestion advice against the simulator's
//! truth. Each prints one line of `key=value` figures; `tests/bench/run.sh` runs them
//! all (with the Python baseline) into one table. Only the library's public API is used.
//!
//! - [`data`]: synthetic events (`generate`, and the producers' payloads)
//! - [`pipeline`]: `pipeline`, the shared pipeline alone on events in memory
//! - [`replay`]: `replay`, `lanewatch replay --input` on a generated file
//! - [`kafka`]: `produce`, a fast batched producer pre-loading a topic
//! - [`live`]: the live service as the benchmarks start it, and an HTTP client
//! - [`drain`]: `drain`, events/s, CPU per million events and RSS while draining
//! - [`scrape`]: `scrape`, `/metrics` time and size and RSS with many lanes
//! - [`fresh`]: `fresh`, produce → visible in `/metrics` at a paced rate
//! - [`proc`]: CPU seconds and RSS of this process from `/proc/self`
//! - [`advice`]: `advice`, the congestion advice against the simulator's truth

mod advice;
mod data;
mod drain;
mod fresh;
mod kafka;
mod live;
mod pipeline;
mod proc;
mod replay;
mod scrape;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lanewatch::exit::Failure;
use tokio_util::sync::CancellationToken;

/// Errors of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Replay(#[from] lanewatch::replay::ReplayError),
    #[error(transparent)]
    Run(#[from] lanewatch::run::RunError),
    #[error("Kafka: {0}")]
    Kafka(#[source] rdkafka::error::KafkaError),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("HTTP: {what}: {source}")]
    HttpIo {
        /// `GET http://…`, the web config, a temporary directory.
        what: String,
        source: std::io::Error,
    },
    #[error("HTTP: bcrypt: {0}")]
    Bcrypt(#[source] bcrypt::BcryptError),
    #[error("benchmark did not complete: {0}")]
    Incomplete(String),
}

impl Failure for BenchError {
    /// An output path that cannot be created, or a replay or live service refused at
    /// start-up, is the user's to fix; the rest fails while a benchmark runs.
    fn is_user_error(&self) -> bool {
        match self {
            BenchError::Write { source, .. } => lanewatch::exit::path_refused(source),
            BenchError::Replay(e) => e.is_user_error(),
            BenchError::Run(e) => e.is_user_error(),
            BenchError::Kafka(_)
            | BenchError::Http(_)
            | BenchError::HttpIo { .. }
            | BenchError::Bcrypt(_)
            | BenchError::Incomplete(_) => false,
        }
    }
}

#[derive(Parser)]
#[command(
    name = "lanewatch-bench",
    version,
    about = "Benchmarks of lanewatch (tests/bench/run.sh runs them all into one table)"
)]
struct Cli {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, Subcommand)]
enum Which {
    /// The shared pipeline alone, one thread, events in memory.
    Pipeline {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 1_000)]
        lanes: usize,
    },
    /// Write a JSONL file of synthetic events (for replay and Kafka benchmarks).
    Generate {
        #[arg(long)]
        output: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 1_000)]
        lanes: usize,
        /// Events per second of event time (2,000: a 2M-event file spans 17 minutes;
        /// 23.15: one day, as a region's thousand lanes see it).
        #[arg(long, default_value_t = 2_000.0)]
        rate: f64,
    },
    /// Replay a JSONL file as `lanewatch replay --input` does.
    Replay {
        #[arg(long)]
        input: PathBuf,
        /// `lanewatch replay --threads`: 1, or 2 (a reader stage on a second thread).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        threads: u8,
    },
    /// Pre-load a topic with synthetic events (batched producer; creates the topic).
    Produce(kafka::ProduceArgs),
    /// Drain a pre-loaded topic with the live service: events/s, CPU, RSS over time.
    Drain(drain::DrainArgs),
    /// `/metrics` scrape time and size, and RSS, after a topic touched every lane.
    Scrape(scrape::ScrapeArgs),
    /// Produce → visible in `/metrics` at a paced rate: p50/p99 over probes.
    Fresh(fresh::FreshArgs),
    /// Congestion advice against the simulator's ground truth over simulated days.
    Advice(advice::AdviceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lanewatch-bench: cannot start the async runtime: {e}");
            return ExitCode::from(lanewatch::exit::FAILURE);
        }
    };
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(lanewatch::run::cancel_on_signals(shutdown.clone()));
        match run(cli.which, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lanewatch-bench: {e}");
                e.exit_code()
            }
        }
    })
}

async fn run(which: Which, shutdown: CancellationToken) -> Result<(), BenchError> {
    match which {
        Which::Pipeline { events, lanes } => {
            let r = tokio::task::spawn_blocking(move || pipeline::run(events, lanes))
                .await
                .expect("bench thread");
            println!(
                "bench=pipeline events={} accepted={} lanes={lanes} seconds={:.3} events_per_second={:.0}",
                r.events,
                r.accepted,
                r.seconds,
                r.per_second()
            );
        }
        Which::Generate {
            output,
            events,
            lanes,
            rate,
        } => data::generate(&output, events, lanes, rate)?,
        Which::Replay { input, threads } => {
            let (events, seconds) =
                tokio::task::spawn_blocking(move || replay::file(&input, threads))
                    .await
                    .expect("bench thread")?;
            println!(
                "bench=replay threads={threads} events={events} seconds={seconds:.3} events_per_second={:.0} peak_rss_mib={:.1}",
                events as f64 / seconds,
                proc::peak_rss_mib()
            );
        }
        Which::Produce(a) => kafka::produce(a).await?,
        Which::Drain(a) => drain::run(a, shutdown).await?,
        Which::Scrape(a) => scrape::run(a, shutdown).await?,
        Which::Fresh(a) => fresh::run(a, shutdown).await?,
        Which::Advice(a) => tokio::task::spawn_blocking(move || advice::run(&a))
            .await
            .expect("bench thread"),
    }
    Ok(())
}
