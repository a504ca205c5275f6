//! HTTP endpoints: `/metrics` (Prometheus text exposition), `/healthz` (the process
//! is alive), `/readyz` (200 only when connected with a settled group assignment).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::health::Health;

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    health: Arc<Health>,
}

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source} (change http.listen or free the port)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// A bound, not yet serving, HTTP server.
pub struct HttpServer {
    listener: TcpListener,
    router: Router,
}

impl HttpServer {
    pub async fn bind(
        addr: SocketAddr,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Result<Self, HttpError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        let router = Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(ready_handler))
            .route("/", get(index))
            .with_state(AppState { metrics, health });
        Ok(HttpServer { listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound socket has an address")
    }

    /// Serve until `shutdown` is cancelled.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), HttpError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(HttpError::Serve)
    }
}

async fn metrics_handler(State(s): State<AppState>) -> Response {
    let body = s.metrics.encode();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn ready_handler(State(s): State<AppState>) -> Response {
    match s.health.ready() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

async fn index() -> &'static str {
    "lanewatch: /metrics /healthz /readyz\n"
}
