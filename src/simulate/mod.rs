//! The commuter-traffic simulator: a queueing model per lane, paced into Kafka or JSONL.
//!
//! Checkpoints, directions and lanes come from the registry; each checkpoint direction
//! has non-homogeneous Poisson arrivals following its day profile in Beijing time
//! (`[checkpoint.traffic]`), and each lane is a FIFO queue with one inspection booth.
//! Passage times are not drawn: they emerge from the load, the lanes open and the
//! inspection times of the vehicles ahead.
//!
//! - [`profile`]: local clock and the arrival process.
//! - [`model`]: lanes, lane choice, queueing of one checkpoint direction.
//! - [`sim`]: [`Simulator`], the stations merged into messages in delivery order;
//!   [`check`]: its options validated against the registry.
//! - [`payload`]: the event JSON; [`imperfect`]: duplicates, late and malformed messages.
//! - [`args`]: the `lanewatch simulate` flags; [`sink`]: Kafka and JSONL outputs;
//!   [`runner`]: pacing and shutdown ([`run`], [`run_simulator`], [`run_with_truth`]).
//! - [`truth`]: the ground truth per checkpoint direction and window (`--truth FILE`,
//!   [`Simulator::with_truth`]): true arrivals, passage times, queues, lanes open and
//!   the Erlang C advice on the true rates, to check the service against.

pub mod args;
pub mod check;
pub mod imperfect;
pub mod model;
pub mod payload;
pub mod profile;
pub mod runner;
pub mod sim;
pub mod sink;
pub mod truth;

pub use args::{SimulateArgs, Speed};
pub use imperfect::Imperfections;
pub use runner::{run, run_simulator, run_with_truth};
pub use sim::{EventKind, SimEvent, SimOptions, SimStats, Simulator};
pub use sink::Output;
pub use truth::{TruthOptions, TruthWindow, TruthWriter};

use crate::config::traffic::IncidentSpec;
use crate::config::{ConfigError, LaneKind};
use crate::event::Direction;

/// An incident at one checkpoint (from `--incident` or built by a caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub checkpoint: String,
    pub spec: IncidentSpec,
    /// Where it came from, for error messages (e.g. `--incident "baimiao/…"`).
    pub origin: String,
}

/// Exactly `count` lanes of `kind` open (the first in registry order), daily during
/// `window` (`(start ms of local day, duration ms)`) or for the whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLanes {
    pub checkpoint: String,
    pub direction: Direction,
    pub kind: LaneKind,
    pub count: u32,
    pub window: Option<(i64, i64)>,
    /// Where it came from, for error messages.
    pub origin: String,
}

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

/// Errors a user can cause; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{origin}: {message}")]
    Spec { origin: String, message: String },
    #[error("{0}")]
    Options(String),
    #[error("cannot create the Kafka producer: {0} (check --brokers and the -X options)")]
    Producer(rdkafka::error::KafkaError),
    #[error("{0}")]
    Delivery(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}
