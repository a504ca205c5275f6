//! Sources that feed the pipeline: Kafka (live service and replay) and files (replay).

pub mod file;
pub mod kafka;
