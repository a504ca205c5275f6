//! # Layout
//!
//! lanewatch: per-lane latency and throughput of road checkpoints — lane-passage events
//! from Kafka become Prometheus histograms, windowed quantiles and throughput per lane.
//! The pipeline in the middle is shared by every driver; arrows point down only.
//!
//! - [`catalogue`]: every metric family (name, type, help, labels, buckets), once.
//! - [`config`]: raw TOML → validated [`config::Config`]; the checkpoint registry.
//! - [`event`]: parsing and validation of one message into an [`event::Event`] or a
//!   [`event::Rejection`] with a bounded reason.
//! - [`time`]: RFC 3339 ↔ Unix milliseconds; IANA time zones for what people read.
//! - [`exit`]: exit statuses: 2 for a user error, 1 for a failure at run time.
//! - [`demo`]: `lanewatch demo` — mock-cluster broker + simulator + live service.
//! - [`dedup`]: bounded de-duplication of `event_id`s.
//! - [`lanes`]: the dense lane index, per-lane series (`stats`) and event-time windows
//!   with the per-checkpoint watermark (`window`).
//! - [`congestion`]: per checkpoint direction λ, μ, open lanes, Erlang C advice on
//!   lanes to open, level of service and congestion state with hysteresis.
//! - [`pipeline`]: parse → de-duplicate → lane → record, with the pipeline counters.
//! - [`source`]: drivers that feed the pipeline; `source::kafka` is the live consumer
//!   (delivery guarantee in its module doc) with its dead-letter producer.
//! - [`export`]: the metrics registry, the lanes' text encoder (`export::lanes`) and
//!   the HTTP server (`/metrics`, gzip when asked, `/healthz`, `/readyz`, the board).
//! - [`board`]: the live board (`GET /`) and its JSON API (`/api/v1/board`): a
//!   snapshot of the congestion gauges and lane cells, mirrored pages, an hour of history.
//! - [`health`]: readiness shared by the source and the HTTP server.
//! - [`run`]: the live service wiring and its shutdown order.
//! - [`replay`]: post-event analysis from Kafka or a JSONL file through the same
//!   pipeline: table/JSON/CSV report, HTML charts, OpenMetrics backfill.
//! - [`simulate`]: the commuter-traffic simulator (queueing model per lane) and its sinks.
//! - [`cli`]: the command line: every flag of the `lanewatch` binary, clap derives,
//!   converted to the library's option structs; nothing imports it.
//!
//! The benchmarks are a second binary, `lanewatch-bench` (`src/bin/lanewatch-bench/`),
//! built on this library's public API: the `lanewatch` binary carries none of them.

pub mod board;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod congestion;
pub mod dedup;
pub mod demo;
pub mod event;
pub mod exit;
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
