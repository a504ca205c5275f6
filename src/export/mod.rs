//! Export: the Prometheus registry of everything lanewatch measures, and the HTTP
//! server that serves it with the health endpoints.

pub mod auth;
pub mod engine;
pub mod guard;
pub mod http;
pub mod lanes;
pub mod metrics;
