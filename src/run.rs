//! The live service: the Kafka source feeding the pipeline on its own thread, and the
//! HTTP server, under one shutdown token. Order on shutdown: stop fetching → finish
//! in-flight → store → flush dead letters → commit → leave the group → stop HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::board::Board;
use crate::config::Config;
use crate::engine::pipeline::Observer;
use crate::engine::pipeline::Pipeline;
use crate::export::http::{HttpError, HttpServer};
use crate::export::metrics::Metrics;
use crate::health::Health;
use crate::source::kafka::{self, SourceError, SourceMetrics, SourceSummary};

/// Errors that end the live service.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The panic's message (a panic payload is no error value).
    #[error("the consumer thread panicked: {0}")]
    Panicked(String),
    #[error("the consumer thread panicked: {0}")]
    Join(#[source] tokio::task::JoinError),
}

impl crate::exit::Failure for RunError {
    fn is_user_error(&self) -> bool {
        match self {
            RunError::Http(e) => e.is_user_error(),
            RunError::Source(e) => e.is_user_error(),
            RunError::Panicked(_) | RunError::Join(_) => false,
        }
    }
}

/// A started live service.
pub struct Running<O: Observer + Send + 'static = ()> {
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub addr: SocketAddr,
    pub metrics: Metrics,
    pub health: Arc<Health>,
    /// The live board's state (sampled once a minute for its history).
    pub board: Board,
    shutdown: CancellationToken,
    http_stop: CancellationToken,
    http: tokio::task::JoinHandle<()>,
    consumer: std::thread::JoinHandle<(SourceSummary, Pipeline<O>)>,
}

/// Start the live service with a pipeline observer (the demo and congestion use one).
pub async fn start_with<O: Observer + Send + 'static>(
    config: &Config,
    observer: O,
    shutdown: CancellationToken,
) -> Result<Running<O>, RunError> {
    let metrics = Metrics::new();
    let health = Arc::new(Health::default());
    let pipeline = Pipeline::with_observer(config, observer);
    metrics.register(crate::export::engine::collectors(&pipeline));
    metrics.add_lanes(pipeline.lane_series());
    metrics.register_event_age(pipeline.counters.clone());
    let source_metrics = SourceMetrics::new();
    metrics.register(source_metrics.collectors());
    let board = Board::new(
        config,
        pipeline.congestion.families().clone(),
        pipeline.lane_series(),
        health.clone(),
    );
    let server = HttpServer::bind(&config.http, metrics.clone(), health.clone())
        .await?
        .with_board(board.clone());
    let addr = server.local_addr();
    let consumer = kafka::spawn(
        &config.source,
        pipeline,
        health.clone(),
        source_metrics,
        shutdown.clone(),
    )?;
    let http_stop = CancellationToken::new();
    let http = tokio::spawn(server.serve(http_stop.clone()));
    tokio::spawn(
        board
            .clone()
            .sample_every(Duration::from_secs(60), http_stop.clone()),
    );
    tracing::info!(%addr, topic = %config.source.topic, group = %config.source.group_id, "serving /metrics, /healthz, /readyz and the board (/, /api/v1/board)");
    Ok(Running {
        addr,
        metrics,
        health,
        board,
        shutdown,
        http_stop,
        http,
        consumer,
    })
}

/// Start the live service.
pub async fn start(config: &Config, shutdown: CancellationToken) -> Result<Running, RunError> {
    start_with(config, (), shutdown).await
}

impl<O: Observer + Send + 'static> Running<O> {
    /// Wait until shutdown is requested and the source has committed and closed; then
    /// stop the HTTP server. Returns what the source did and the final pipeline.
    pub async fn wait(self) -> Result<(SourceSummary, Pipeline<O>), RunError> {
        let Running {
            shutdown,
            http_stop,
            http,
            consumer,
            ..
        } = self;
        let joined = tokio::task::spawn_blocking(move || consumer.join()).await;
        // The consumer thread only ends on shutdown or a panic; either way stop all.
        shutdown.cancel();
        http_stop.cancel();
        let result = match joined {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(p)) => Err(RunError::Panicked(panic_message(&p))),
            Err(e) => Err(RunError::Join(e)),
        };
        if let Err(e) = http.await {
            tracing::error!(error = %e, "HTTP task failed");
        }
        result
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run the live service until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let running = start(&config, shutdown).await?;
    let (summary, _) = running.wait().await?;
    tracing::info!(
        messages = summary.messages,
        rejected = summary.rejected,
        committed = summary.final_commit_ok,
        "stopped"
    );
    Ok(())
}

/// Cancel `shutdown` on SIGINT or SIGTERM (returns when either arrives or `shutdown`
/// is cancelled otherwise): the binaries' one way to stop.
pub async fn cancel_on_signals(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = shutdown.cancelled() => {}
    }
    shutdown.cancel();
}
