//! The engine: events in, numbers out. Parsing and limits of one event, time, de-dup,
//! the registry's lanes, per-lane series and event-time windows, congestion analysis,
//! the pipeline that ties them together with its observer, and the catalogue that names
//! every metric family. It imports nothing outside `engine/` (no configuration file,
//! no Kafka, no HTTP); the service and the simulator import it.

pub mod catalogue;
pub mod cells;
pub mod congestion;
pub mod dedup;
pub mod event;
pub mod lanes;
pub mod pipeline;
pub mod registry;
pub mod settings;
pub mod time;
