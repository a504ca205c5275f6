//! # Layout
//!
//! lanewatch: per-lane latency and throughput of road checkpoints — lane-passage events
//! from Kafka become Prometheus histograms, windowed quantiles and throughput per lane.
//! The pipeline in the middle is shared by every driver; arrows point down only.
//!
//! - [`bench`]: benchmarks behind `lanewatch bench` (synthetic data, timed drivers).
//! - [`config`]: raw TOML → validated [`config::Config`]; the checkpoint registry.
//! - [`event`]: parsing and validation of one message into an [`event::Event`] or a
//!   [`event::Rejection`] with a bounded reason.
//! - [`time`]: RFC 3339 ↔ Unix milliseconds.
//! - [`demo`]: `lanewatch demo` — mock-cluster broker + simulator + live service.
//! - [`dedup`]: bounded de-duplication of `event_id`s.
//! - [`lanes`]: the dense lane index, per-lane series (`stats`) and event-time windows
//!   with the per-checkpoint watermark (`window`).
//! - [`congestion`]: per checkpoint direction λ, μ, open lanes, Erlang C advice on
//!   lanes to open, level of service and congestion state with hysteresis.
//! - [`pipeline`]: parse → de-duplicate → lane → record, with the pipeline counters.
//! - [`source`]: drivers that feed the pipeline; `source::kafka` is the live consumer
//!   (delivery guarantee in its module doc) with its dead-letter producer.
//! - [`export`]: the metrics registry and the HTTP server (`/metrics`, `/healthz`,
//!   `/readyz`).
//! - [`health`]: readiness shared by the source and the HTTP server.
//! - [`run`]: the live service wiring and its shutdown order.
//! - [`replay`]: post-event analysis from Kafka or a JSONL file through the same
//!   pipeline: table/JSON/CSV report, HTML charts, OpenMetrics backfill.
//! - [`simulate`]: the commuter-traffic simulator (queueing model per lane) and its sinks.

pub mod bench;
pub mod config;
pub mod congestion;
pub mod dedup;
pub mod demo;
pub mod event;
pub mod export;
pub mod health;
pub mod lanes;
pub mod pipeline;
pub mod replay;
pub mod run;
pub mod simulate;
pub mod source;
pub mod time;

pub use config::Config;
pub use run::{run, start};
