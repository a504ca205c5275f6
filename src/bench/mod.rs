//! Benchmarks behind `lanewatch bench`: the pipeline on one thread, replay from a JSONL
//! file, draining a pre-loaded Kafka topic, scrape cost with many lanes, and freshness.
//! Each prints one line of figures; `tests/bench/run.sh` runs them all into a table.

pub mod data;
pub mod pipeline;
