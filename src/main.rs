//! The `lanewatch` binary: parses flags, sets up logging, calls the library, and exits
//! with the status the library's error names (2: a user error, 1: a failure at run time).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lanewatch::exit::Failure;
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
    /// Time zone of the human log format's timestamps (an IANA name; JSON logs are UTC).
    #[arg(long, global = true, default_value = lanewatch::time::DEFAULT_ZONE, env = "LANEWATCH_LOG_TIME_ZONE", value_parser = lanewatch::time::zone)]
    log_time_zone: lanewatch::time::Zone,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo's table is redrawn in place on a terminal: an info log line between two
    // redraws would tear it, so there only warnings are logged (unless RUST_LOG says).
    let table = matches!(cli.command, Command::Demo(_)) && std::io::stderr().is_terminal();
    init_tracing(
        cli.log_format,
        cli.log_time_zone,
        if table { "warn" } else { "info" },
    );
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
            Err(e) => fail(&e),
        },
        Command::Demo(args) => in_runtime(|shutdown| lanewatch::demo::run(args, shutdown)),
        Command::Simulate(args) => in_runtime(|shutdown| async move {
            let s = lanewatch::simulate::run(args, shutdown).await?;
            tracing::info!(
                written = s.written,
                interrupted = s.interrupted,
                "simulation done"
            );
            Ok::<_, lanewatch::simulate::SimError>(())
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
                    rt.block_on(lanewatch::run::cancel_on_signals(s2));
                }
            });
            match lanewatch::replay::run(args, shutdown) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Command::Run { config } => match lanewatch::Config::load(&config) {
            Ok(config) => in_runtime(|shutdown| lanewatch::run(config, shutdown)),
            Err(e) => fail(&e),
        },
    }
}

/// The error's message (it names the fix) and its exit status: 2 for a user error, 1
/// for a failure at run time (`lanewatch::exit`).
fn fail(e: &dyn Failure) -> ExitCode {
    eprintln!("lanewatch: {e}");
    e.exit_code()
}

/// Run `f` on a multi-threaded runtime with SIGINT/SIGTERM cancelling its token.
fn in_runtime<F, Fut, E>(f: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: Failure,
{
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lanewatch: cannot start the async runtime: {e}");
            return ExitCode::from(lanewatch::exit::FAILURE);
        }
    };
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(lanewatch::run::cancel_on_signals(shutdown.clone()));
        match f(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        }
    })
}

fn init_tracing(format: LogFormat, zone: lanewatch::time::Zone, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => b.with_timer(lanewatch::time::LogTime(zone)).init(),
        LogFormat::Json => b.json().init(),
    }
}
