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
//! - [`options`]: what `lanewatch simulate` is asked to do ([`SimulateOptions`]);
//!   [`sink`]: Kafka and JSONL outputs; [`runner`]: pacing and shutdown ([`run`],
//!   [`run_simulator`], [`run_with_truth`]).
//! - [`truth`]: the ground truth per checkpoint direction and window (`--truth FILE`,
//!   [`Simulator::with_truth`]): true arrivals, passage times, queues, lanes open and
//!   the Erlang C advice on the true rates, to check the service against.

pub mod check;
pub mod error;
pub mod imperfect;
pub mod model;
pub mod options;
pub mod payload;
pub mod profile;
pub mod runner;
pub mod sim;
pub mod sink;
pub mod traffic;
pub mod truth;

pub use check::{Incident, OpenLanes};
pub use error::SimError;
pub use imperfect::Imperfections;
pub use options::{SimulateOptions, Speed};
pub use runner::{SimSummary, run, run_simulator, run_with_truth};
pub use sim::{EventKind, SimEvent, SimOptions, SimStats, Simulator};
pub use sink::Output;
pub use truth::{TruthOptions, TruthWindow, TruthWriter};
