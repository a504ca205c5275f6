//! Export: the Prometheus registry of everything lanewatch measures, and the HTTP
//! server that serves it with the health endpoints.

pub mod auth;
pub mod engine;
pub mod guard;
pub mod http;
pub mod lanes;
pub mod metrics;
pub mod negotiate;
pub mod proto;

/// A catalogue family as options of the `prometheus` crate (the catalogue itself is
/// plain data and knows no metrics library).
pub trait FamilyOpts {
    fn opts(&self) -> prometheus::Opts;
}

impl FamilyOpts for crate::engine::catalogue::Family {
    fn opts(&self) -> prometheus::Opts {
        prometheus::Opts::new(self.name, self.help)
    }
}
