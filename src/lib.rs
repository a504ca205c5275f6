//! # Layout
//!
//! lanewatch: per-lane latency and throughput of road checkpoints — lane-passage events
//! from Kafka become Prometheus histograms, windowed quantiles and throughput per lane.
//!
//! Tiers, and imports point one way: **cli → demo → service, simulator → engine**.
//! The engine (`src/engine/`) imports nothing outside its folder; the service imports
//! the engine; the simulator imports the engine and reads its registry through
//! `config`; `demo` joins the service and the simulator; nothing imports the CLI.
//! (`../shared/tools/module-deps` prints the module graph: `engine` has no edge out,
//! no module has an edge to `cli`, and there is no cycle.)
//!
//! **Engine** (`src/engine/`, re-exported here so paths read `lanewatch::event`):
//! - [`event`]: parsing and validation of one message into an [`event::Event`] or a
//!   [`event::Rejection`] with a bounded reason; the limits it enforces.
//! - [`time`]: RFC 3339 ↔ Unix milliseconds; IANA time zones for what people read.
//! - [`dedup`]: bounded de-duplication of `event_id`s.
//! - [`registry`]: which checkpoints, directions and lanes exist, kinds, open hours.
//! - [`settings`]: windows, buckets, congestion thresholds, lane bounds (plain values).
//! - [`lanes`]: the dense lane index, per-lane series (`stats`, with optional native
//!   histogram buckets: `native`) and event-time windows with the per-checkpoint
//!   watermark (`window`).
//! - [`congestion`]: per checkpoint direction λ, μ, open lanes, Erlang C advice on
//!   lanes to open, level of service and congestion state with hysteresis.
//! - [`pipeline`]: parse → de-duplicate → lane → record, its counters and observer.
//! - [`cells`]: plain metric cells (atomics) the engine writes and `export` reads.
//! - [`catalogue`]: every metric family (name, type, help, labels, buckets), once.
//!
//! **Service** (the live process and its post-event twin):
//! - [`config`]: raw TOML → validated [`config::Config`] (and the engine's settings).
//! - [`source`]: drivers that feed the pipeline; `source::kafka` is the live consumer
//!   (delivery guarantee in its module doc) with its dead-letter producer.
//! - [`export`]: the metrics registry, the lanes' text encoder (`export::lanes`), the
//!   protobuf exposition for native histograms (`export::proto`) and the HTTP server
//!   (`/metrics`, gzip and protobuf when asked: `export::negotiate`; `/healthz`,
//!   `/readyz`, the board).
//! - [`board`]: the live board (`GET /`) and its JSON API (`/api/v1/board`): a
//!   snapshot of the congestion gauges and lane cells, mirrored pages, an hour of history.
//! - [`health`]: readiness shared by the source and the HTTP server.
//! - [`run`]: the live service wiring and its shutdown order.
//! - [`replay`]: post-event analysis from Kafka or a JSONL file through the same
//!   pipeline: table/JSON/CSV report, HTML charts, OpenMetrics backfill.
//! - [`exit`]: exit statuses: 2 for a user error, 1 for a failure at run time.
//!
//! **Simulator** (beside the service):
//! - [`simulate`]: the commuter-traffic simulator (queueing model per lane), its
//!   ground truth and its sinks.
//! - [`demo`]: `lanewatch demo` — mock-cluster broker + simulator + live service.
//!
//! **Command line** (on top):
//! - [`cli`]: every flag of the `lanewatch` binary (clap derives), converted to the
//!   library's option structs; nothing imports it.
//!
//! The benchmarks are a second binary, `lanewatch-bench` (`src/bin/lanewatch-bench/`),
//! built on this library's public API: the `lanewatch` binary carries none of them.

pub mod board;
pub mod cli;
pub mod config;
pub mod demo;
mod engine;
pub mod exit;
pub mod export;
pub mod health;
pub mod replay;
pub mod run;
pub mod simulate;
pub mod source;

pub use config::Config;
pub use engine::{
    catalogue, cells, congestion, dedup, event, lanes, pipeline, registry, settings, time,
};
pub use run::{run, start};
