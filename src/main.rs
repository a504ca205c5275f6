//! The `lanewatch` binary: parses flags, sets up logging, calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "lanewatch",
    version,
    about = "Per-lane latency and throughput of road checkpoints, from Kafka to Prometheus"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "LANEWATCH_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The live service: consume, aggregate, serve /metrics, /healthz, /readyz.
    Run {
        /// Configuration file (TOML).
        #[arg(long, short, default_value = "config/lanewatch.toml")]
        config: PathBuf,
    },
    /// Validate a configuration and say exactly what is wrong.
    CheckConfig {
        #[arg(long, short, default_value = "config/lanewatch.toml")]
        config: PathBuf,
    },
    /// The whole system in one process: embedded Kafka, simulated traffic, live metrics.
    Demo(lanewatch::demo::DemoArgs),
    /// Realistic commuter traffic into Kafka or a JSONL file.
    Simulate(lanewatch::simulate::SimulateArgs),
    /// Post-event analysis of a time range from Kafka or a JSONL file: report (table,
    /// JSON, CSV, HTML with charts) and OpenMetrics for Prometheus backfill.
    Replay(lanewatch::replay::ReplayArgs),
    /// Benchmarks (see tests/bench/run.sh for all of them in one table).
    Bench(lanewatch::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match cli.command {
        Command::CheckConfig { config } => match lanewatch::Config::load(&config) {
            Ok(c) => {
                println!(
                    "{}: ok ({} checkpoints, {} registered lanes, topic {:?}, group {:?})",
                    config.display(),
                    c.registry.checkpoints.len(),
                    c.registry.lane_count(),
                    c.source.topic,
                    c.source.group_id
                );
                ExitCode::SUCCESS
            }
            Err(e) => user_error(e),
        },
        Command::Demo(args) => runtime_then(|shutdown| async move {
            lanewatch::demo::run(args, shutdown)
                .await
                .map_err(anyhow::Error::from)
        }),
        Command::Simulate(args) => runtime_then(|shutdown| async move {
            let s = lanewatch::simulate::run(args, shutdown).await?;
            tracing::info!(
                written = s.written,
                interrupted = s.interrupted,
                "simulation done"
            );
            Ok(())
        }),
        Command::Bench(args) => runtime_then(|shutdown| async move {
            lanewatch::bench::run(args, shutdown)
                .await
                .map_err(anyhow::Error::from)
        }),
        Command::Replay(args) => {
            let shutdown = CancellationToken::new();
            let s2 = shutdown.clone();
            // Ctrl-C ends the replay cleanly; the handler thread needs no runtime.
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(signals(s2));
                }
            });
            match lanewatch::replay::run(args, shutdown) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => user_error(e),
            }
        }
        Command::Run { config } => {
            let config = match lanewatch::Config::load(&config) {
                Ok(c) => c,
                Err(e) => return user_error(e),
            };
            runtime_then(|shutdown| async move {
                lanewatch::run(config, shutdown)
                    .await
                    .map_err(anyhow::Error::from)
            })
        }
    }
}

/// One clear message per line and exit status 2.
fn user_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("lanewatch: {e}");
    ExitCode::from(2)
}

fn runtime_then<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return user_error(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(signals(shutdown.clone()));
        match f(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lanewatch: {e:#}");
                ExitCode::from(1)
            }
        }
    })
}

/// Cancel on SIGINT or SIGTERM.
async fn signals(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = shutdown.cancelled() => {}
    }
    shutdown.cancel();
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => b.init(),
        LogFormat::Json => b.json().init(),
    }
}
