//! Benchmarks behind `lanewatch bench`: the pipeline on one thread, replay from a JSONL
//! file, loading a Kafka topic, draining it with the live service, scrape cost with
//! many lanes, and freshness. Each prints one line of `key=value` figures;
//! `tests/bench/run.sh` runs them all (with the Python baseline) into one table.
//!
//! - [`data`]: synthetic events (`generate`, and the producers' payloads)
//! - [`pipeline`]: `pipeline`, the shared pipeline alone on events in memory
//! - [`kafka`]: `produce`, a fast batched producer pre-loading a topic
//! - [`live`]: the live service as the benchmarks start it, and an HTTP client
//! - [`drain`]: `drain`, events/s, CPU per million events and RSS while draining
//! - [`scrape`]: `scrape`, `/metrics` time and size and RSS with many lanes
//! - [`fresh`]: `fresh`, produce → visible in `/metrics` at a paced rate
//! - [`proc`]: CPU seconds and RSS of this process from `/proc/self`
//! - [`advice`]: `advice`, the congestion advice against the simulator's truth

pub mod advice;
pub mod data;
pub mod drain;
pub mod fresh;
pub mod kafka;
pub mod live;
pub mod pipeline;
pub mod proc;
pub mod scrape;

use std::path::PathBuf;

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
    Replay(#[from] crate::replay::ReplayError),
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    #[error("Kafka: {0}")]
    Kafka(rdkafka::error::KafkaError),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("benchmark did not complete: {0}")]
    Incomplete(String),
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Debug, clap::Subcommand)]
pub enum Which {
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
    },
    /// Replay a JSONL file on one thread (the replay tool's own path).
    Replay {
        #[arg(long)]
        input: PathBuf,
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

pub async fn run(args: BenchArgs, shutdown: CancellationToken) -> Result<(), BenchError> {
    match args.which {
        Which::Pipeline { events, lanes } => {
            let r = tokio::task::spawn_blocking(move || pipeline::run(events, lanes))
                .await
                .expect("bench thread");
            println!(
                "bench=pipeline events={} lanes={lanes} seconds={:.3} events_per_second={:.0}",
                r.events,
                r.seconds,
                r.per_second()
            );
        }
        Which::Generate {
            output,
            events,
            lanes,
        } => generate(&output, events, lanes)?,
        Which::Replay { input } => {
            let (events, seconds) =
                tokio::task::spawn_blocking(move || crate::replay::bench_file(&input))
                    .await
                    .expect("bench thread")?;
            println!(
                "bench=replay events={events} seconds={seconds:.3} events_per_second={:.0} peak_rss_mib={:.1}",
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

fn generate(output: &std::path::Path, events: usize, lanes: usize) -> Result<(), BenchError> {
    let err = |source| BenchError::Write {
        path: output.to_path_buf(),
        source,
    };
    let f = std::fs::File::create(output).map_err(err)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let start = crate::time::now_ms() - 30 * 86_400_000;
    let bytes = data::write_jsonl(&mut w, events, lanes, start, 2_000.0)
        .and_then(|b| std::io::Write::flush(&mut w).map(|()| b))
        .map_err(err)?;
    println!(
        "bench=generate events={events} lanes={lanes} bytes={bytes} path={}",
        output.display()
    );
    Ok(())
}
