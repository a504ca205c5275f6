//! The integration tests of lanewatch: one test binary, one module per area, one
//! support module.
//!
//! Tests that need the real Apache Kafka broker, Debian's Prometheus, Chromium, tmux or
//! axe-core say so (`kafka!()`, `require!(…)`): a plain `cargo test` runs everything
//! else and prints a `left out: <test> needs …` line for each test it did not run;
//! `tests/run.sh` (and so CI) installs and starts all of it and sets
//! `LANEWATCH_TEST_REQUIRE_ALL=1`, under which nothing is left out.

#[macro_use]
mod support;

mod advice;
mod bench_smoke;
mod board;
mod board_http;
mod catalogue;
mod congestion;
mod demo;
mod deploy;
mod e2e_alerts;
mod erlang;
mod event_time;
mod exit_codes;
mod http_security;
mod http_slow_readers;
mod kafka_lifecycle;
mod kafka_pipeline;
mod kafka_tls;
mod lane_series;
mod metrics_gzip;
mod mock_faults;
mod native_histograms;
mod outage;
mod pages;
mod pipeline_windows;
mod product_binary;
mod reliability;
mod replay_errors;
mod replay_file;
mod replay_html;
mod replay_kafka;
mod replay_openmetrics;
mod replay_time_zones;
mod scale_out;
mod simulate;
