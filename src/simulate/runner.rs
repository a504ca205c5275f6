//! Running a simulation: pacing simulated time against the wall clock (or not at all),
//! writing to the chosen sink, and stopping cleanly on the shutdown token — every wait
//! is a `select!` with a shutdown arm; JSONL at full speed runs on a blocking thread.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::SimError;
use super::options::{SimulateOptions, Speed};
use super::sim::SimStats;
use super::sim::Simulator;
use super::sink::{KafkaSink, Lines, Output, Sent};
use super::truth::TruthWriter;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimSummary {
    pub stats: SimStats,
    /// Messages handed to the output (and, for Kafka, acknowledged by the broker).
    pub written: u64,
    /// Delivery time (simulated Unix ms) of the last message written.
    pub simulated_until_ms: Option<i64>,
    /// The run stopped on shutdown before the end of the range.
    pub interrupted: bool,
    /// Truth windows written (`--truth`).
    pub truth_windows: u64,
}

/// How long the brokers have to answer the first metadata request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long outstanding Kafka messages may take at the end (shorter on shutdown).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// `lanewatch simulate`: load the registry, build the simulator and run it.
pub async fn run(
    args: SimulateOptions,
    shutdown: CancellationToken,
) -> Result<SimSummary, SimError> {
    let registry = crate::config::load_registry(&args.registry)?;
    // The traffic tables too, with the registry's path in what is wrong.
    super::traffic::of_registry(&registry, Some(&args.registry))?;
    let options = args.options(crate::engine::time::now_ms())?;
    let truth = args.truth_options()?;
    tracing::info!(
        registry = %args.registry.display(),
        start = %crate::engine::time::format_in(options.start_ms, &crate::engine::time::default_zone()),
        end = %crate::engine::time::format_in(options.end_ms, &crate::engine::time::default_zone()),
        seed = options.seed,
        "simulating"
    );
    let mut sim = Simulator::new(&registry, options)?;
    let writer = match (&args.truth, truth) {
        (Some(path), Some(opts)) => {
            sim = sim.with_truth(opts)?;
            Some(TruthWriter::create(path)?)
        }
        _ => None,
    };
    run_with_truth(sim, args.output(), writer, args.speed, shutdown).await
}

/// Write a simulator's messages to `output` at `speed` until it ends or `shutdown`.
pub async fn run_simulator(
    sim: Simulator,
    output: Output,
    speed: Speed,
    shutdown: CancellationToken,
) -> Result<SimSummary, SimError> {
    run_with_truth(sim, output, None, speed, shutdown).await
}

/// [`run_simulator`], also writing the truth windows of a simulator built
/// [`Simulator::with_truth`] to `truth` as they complete (all of them when the run
/// ends, those completed so far when it is stopped).
pub async fn run_with_truth(
    sim: Simulator,
    output: Output,
    truth: Option<TruthWriter>,
    speed: Speed,
    shutdown: CancellationToken,
) -> Result<SimSummary, SimError> {
    match output {
        Output::Kafka {
            brokers,
            topic,
            options,
        } => {
            let connect = tokio::task::spawn_blocking(move || {
                KafkaSink::connect(&brokers, &topic, &options, CONNECT_TIMEOUT)
            });
            let sink = tokio::select! {
                r = connect => r.map_err(|source| SimError::Task { task: "Kafka connect task", source })??,
                _ = shutdown.cancelled() => return Ok(SimSummary { interrupted: true, ..SimSummary::default() }),
            };
            paced(sim, Sink::Kafka(sink), truth, speed, shutdown).await
        }
        Output::Jsonl(_) | Output::Stdout => {
            let path = match &output {
                Output::Jsonl(p) => Some(p.as_path()),
                _ => None,
            };
            let sink = Lines::open(path)?;
            if speed == Speed::Max {
                let task =
                    tokio::task::spawn_blocking(move || flat_out(sim, sink, truth, &shutdown));
                task.await.map_err(|source| SimError::Task {
                    task: "simulator thread",
                    source,
                })?
            } else {
                paced(sim, Sink::Lines(sink), truth, speed, shutdown).await
            }
        }
    }
}

enum Sink {
    Lines(Lines),
    Kafka(KafkaSink),
}

impl Sink {
    fn send(&mut self, ev: &super::sim::SimEvent) -> Result<Sent, SimError> {
        match self {
            Sink::Lines(l) => l.send(&ev.payload),
            Sink::Kafka(k) => k.send(ev),
        }
    }
}

/// Write the truth windows the simulator has completed (drop them without a writer).
fn write_truth(sim: &mut Simulator, truth: &mut Option<TruthWriter>) -> Result<(), SimError> {
    for w in sim.drain_truth() {
        if let Some(t) = truth {
            t.write(&w)?;
        }
    }
    Ok(())
}

/// The last truth windows, flushed; how many were written in all.
fn finish_truth(sim: &mut Simulator, mut truth: Option<TruthWriter>) -> Result<u64, SimError> {
    write_truth(sim, &mut truth)?;
    truth.map_or(Ok(0), TruthWriter::finish)
}

/// JSONL as fast as possible on a blocking thread, checking shutdown every 4096 lines.
fn flat_out(
    mut sim: Simulator,
    mut sink: Lines,
    mut truth: Option<TruthWriter>,
    shutdown: &CancellationToken,
) -> Result<SimSummary, SimError> {
    let mut s = SimSummary::default();
    let mut payload = Vec::with_capacity(1024);
    while let Some((_, deliver_at_ms, _)) = sim.next_into(&mut payload) {
        if s.written % 4096 == 0 && shutdown.is_cancelled() {
            s.interrupted = true;
            break;
        }
        if sink.send(&payload)? == Sent::Closed {
            s.interrupted = true;
            break;
        }
        s.written += 1;
        s.simulated_until_ms = Some(deliver_at_ms);
        write_truth(&mut sim, &mut truth)?;
    }
    sink.flush()?;
    s.truth_windows = finish_truth(&mut sim, truth)?;
    s.stats = sim.stats().clone();
    Ok(s)
}

/// Deliver each message at its simulated time scaled by `speed` (immediately with
/// `Speed::Max`), waiting on a full producer queue; every wait ends on shutdown.
async fn paced(
    mut sim: Simulator,
    mut sink: Sink,
    mut truth: Option<TruthWriter>,
    speed: Speed,
    shutdown: CancellationToken,
) -> Result<SimSummary, SimError> {
    let wall0 = Instant::now();
    let start_ms = sim.start_ms();
    let mut s = SimSummary::default();
    'events: while let Some(ev) = sim.next() {
        if let Speed::Factor(f) = speed {
            let offset = Duration::try_from_secs_f64(
                (ev.deliver_at_ms - start_ms).max(0) as f64 / f / 1000.0,
            )
            .unwrap_or(Duration::MAX);
            let due = wall0.checked_add(offset);
            if due.is_none_or(|d| d > Instant::now()) {
                if let Sink::Lines(l) = &mut sink
                    && l.flush()? == Sent::Closed
                {
                    s.interrupted = true;
                    break;
                }
                let sleep = async {
                    match due {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = sleep => {}
                    _ = shutdown.cancelled() => { s.interrupted = true; break 'events; }
                }
            }
        } else if s.written % 1024 == 0 {
            // Full speed into Kafka: let the runtime (signals, other tasks) run.
            tokio::task::yield_now().await;
        }
        if shutdown.is_cancelled() {
            s.interrupted = true;
            break;
        }
        loop {
            match sink.send(&ev)? {
                Sent::Ok => break,
                Sent::Closed => {
                    s.interrupted = true;
                    break 'events;
                }
                Sent::Full => tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    _ = shutdown.cancelled() => { s.interrupted = true; break 'events; }
                },
            }
        }
        s.written += 1;
        s.simulated_until_ms = Some(ev.deliver_at_ms);
        write_truth(&mut sim, &mut truth)?;
    }
    s.truth_windows = finish_truth(&mut sim, truth)?;
    s.stats = sim.stats().clone();
    match sink {
        Sink::Lines(mut l) => {
            l.flush()?;
        }
        Sink::Kafka(k) => {
            let timeout = if s.interrupted {
                SHUTDOWN_FLUSH_TIMEOUT
            } else {
                FLUSH_TIMEOUT
            };
            let delivered = tokio::task::spawn_blocking(move || k.finish(timeout))
                .await
                .map_err(|source| SimError::Task {
                    task: "Kafka flush task",
                    source,
                })??;
            s.written = delivered;
        }
    }
    tracing::info!(
        written = s.written,
        passages = s.stats.passages,
        late = s.stats.late,
        duplicates = s.stats.duplicates,
        malformed = s.stats.malformed,
        interrupted = s.interrupted,
        truth_windows = s.truth_windows,
        "simulation finished"
    );
    Ok(s)
}
