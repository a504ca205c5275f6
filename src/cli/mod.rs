//! The command line: every flag of the `lanewatch` binary (clap derives), converted to
//! the library's option structs. Imports point one way: this module uses the rest of
//! the library, and nothing in the library uses it.
//!
//! - [`Cli`] / [`Command`]: the global flags and the subcommands.
//! - [`replay`]: `lanewatch replay` ([`ReplayArgs`] → [`crate::replay::ReplayOptions`]).
//! - [`simulate`]: `lanewatch simulate` ([`SimulateArgs`] →
//!   [`crate::simulate::SimulateOptions`]).
//! - [`demo`]: `lanewatch demo` ([`DemoArgs`] → [`crate::demo::DemoOptions`]).
//!
//! A flag that does not parse ends the process with clap's message and status 2 (a user
//! error, [`crate::exit`]); `--help` and `--version` with status 0.

pub mod demo;
pub mod replay;
pub mod simulate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use demo::DemoArgs;
pub use replay::ReplayArgs;
pub use simulate::SimulateArgs;

#[derive(Parser)]
#[command(
    name = "lanewatch",
    version,
    about = "Per-lane latency and throughput of road checkpoints, from Kafka to Prometheus"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "LANEWATCH_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Time zone of the human log format's timestamps (an IANA name; JSON logs are UTC).
    #[arg(long, global = true, default_value = crate::engine::time::DEFAULT_ZONE, env = "LANEWATCH_LOG_TIME_ZONE", value_parser = crate::engine::time::zone)]
    pub log_time_zone: crate::engine::time::Zone,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
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
    Demo(DemoArgs),
    /// Realistic commuter traffic into Kafka or a JSONL file.
    Simulate(SimulateArgs),
    /// Post-event analysis of a time range from Kafka or a JSONL file: report (table,
    /// JSON, CSV, HTML with charts) and OpenMetrics for Prometheus backfill.
    Replay(ReplayArgs),
}

/// The flags of this process; on a flag that does not parse, clap prints why and exits
/// with status 2 (`--help` and `--version` print and exit with 0).
pub fn parse() -> Cli {
    Cli::parse()
}
