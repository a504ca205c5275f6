//! HTTP endpoints: `/metrics` (Prometheus text exposition; the protobuf one to a
//! scraper that asks while native histograms are on), `/healthz` (the process
//! is alive), `/readyz` (200 only when connected with a settled group assignment).
//!
//! Hardened against slow or hostile clients ([`super::guard`]): a cap on open
//! connections of which one remote address may hold three quarters, a header-read timeout
//! (slowloris, TLS handshakes included), a write-stall timeout (a client that stops
//! reading), a header-size limit (431), a maximum connection age, and `405` for methods
//! other than GET/HEAD. Over the cap, health probes are still answered and anything
//! else gets a valid 503 (over TLS on a TLS port). Concurrent scrapes share
//! one encoding of `/metrics`, and slow readers cannot multiply it (see
//! [`super::guard::SharedBody`]). Optionally TLS and basic auth
//! (on `/metrics` and the live board: `/`, its assets and `/api/v1/*`) from an
//! exporter-toolkit web-config file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::BasicAuth;
use super::auth::Verdict;
use super::guard::{BUSY_BUDGET, Peers, SharedBody, WriteStall, answer_busy};
use super::metrics::Metrics;
use super::negotiate::{accepts_gzip, accepts_protobuf};
use crate::board::Board;
use crate::config::HttpConfig;
use crate::config::web::{WebConfig, WebConfigError};
use crate::health::Health;

#[derive(Clone)]
struct AppState {
    body: SharedBody,
    /// The protobuf exposition, for a scraper that asks for it while lanes keep native
    /// histograms.
    proto: SharedBody,
    health: Arc<Health>,
    auth: Option<BasicAuth>,
    /// The live board's data (`None`: a server without a pipeline; the API is empty).
    board: Option<Board>,
}

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source} (change http.listen or free the port)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    WebConfig(#[from] WebConfigError),
}

impl crate::exit::Failure for HttpError {
    /// `http.listen` cannot be listened on, or the web config is wrong: refused at
    /// start-up, the message names the setting.
    fn is_user_error(&self) -> bool {
        true
    }
}

/// A bound, not yet serving, HTTP server.
pub struct HttpServer {
    listener: TcpListener,
    state: AppState,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cfg: HttpConfig,
    health: Arc<Health>,
}

impl HttpServer {
    pub async fn bind(
        cfg: &HttpConfig,
        metrics: Metrics,
        health: Arc<Health>,
    ) -> Result<Self, HttpError> {
        let web = match &cfg.web_config_file {
            Some(p) => WebConfig::load(p)?,
            None => WebConfig::default(),
        };
        let addr = cfg.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError::Bind { addr, source })?;
        let headers: Vec<(HeaderName, HeaderValue)> = web
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::try_from(k.as_str()).ok()?,
                    HeaderValue::try_from(v.as_str()).ok()?,
                ))
            })
            .collect();
        let auth = (!web.users.is_empty()).then(|| BasicAuth::new(web.users.clone()));
        if let Some(auth) = &auth {
            metrics.register(auth.collectors());
        }
        let state = AppState {
            body: SharedBody::new(metrics.clone()),
            proto: SharedBody::protobuf(metrics),
            health: health.clone(),
            auth,
            board: None,
        };
        let tls = web.tls.map(tokio_rustls::TlsAcceptor::from);
        Ok(HttpServer {
            listener,
            state,
            headers,
            tls,
            cfg: cfg.clone(),
            health,
        })
    }

    /// Serve this board's data on `/api/v1/board`.
    pub fn with_board(mut self, board: Board) -> Self {
        self.state.board = Some(board);
        self
    }

    fn router(state: AppState, headers: Vec<(HeaderName, HeaderValue)>) -> Router {
        Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/", get(board_page))
            .route("/board.css", get(board_css))
            .route("/board.js", get(board_js))
            .route("/api/v1/board", get(board_api))
            // Everything above: basic auth when the web config asks for it.
            .route_layer(middleware::from_fn_with_state(state.clone(), require_auth))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(ready_handler))
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                let headers = headers.clone();
                async move {
                    let mut res = next.run(req).await;
                    for (k, v) in headers {
                        res.headers_mut().insert(k, v);
                    }
                    res
                }
            }))
            .with_state(state)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound socket has an address")
    }

    /// Serve until `shutdown` is cancelled; then let in-flight requests finish (up to
    /// `http.shutdown_grace`).
    pub async fn serve(self, shutdown: CancellationToken) {
        let HttpServer {
            listener,
            state,
            headers,
            tls,
            cfg,
            health,
        } = self;
        let router = Self::router(state, headers);
        let permits = Arc::new(Semaphore::new(cfg.max_connections));
        // Connections over the cap being answered (probes, 503): a second, larger
        // bound; beyond it a connection is closed at once.
        let busy = Arc::new(Semaphore::new(cfg.max_connections.saturating_mul(4)));
        let per_peer = (cfg.max_connections * 3 / 4).max(1);
        let peers = Peers::default();
        let tracker = TaskTracker::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // One remote address may not take every slot (loopback is this host's own:
            // the node's probes, a sidecar).
            let cap = if peer.ip().is_loopback() {
                usize::MAX
            } else {
                per_peer
            };
            let take = {
                let (peers, permits) = (peers.clone(), permits.clone());
                move || {
                    peers
                        .try_take(peer.ip(), cap)
                        .and_then(|s| Some((s, permits.try_acquire_owned().ok()?)))
                }
            };
            let (router, cfg, shutdown, health) = (
                router.clone(),
                cfg.clone(),
                shutdown.clone(),
                health.clone(),
            );
            let Some(acceptor) = tls.clone() else {
                match take() {
                    Some(slot) => tracker.spawn(async move {
                        let _slot = slot;
                        let stream = WriteStall::new(stream, cfg.write_timeout);
                        serve_conn(stream, router, &cfg, shutdown).await;
                    }),
                    None => {
                        let Ok(b) = busy.clone().try_acquire_owned() else {
                            continue; // dropped: closed
                        };
                        tracker.spawn(async move {
                            let _b = b;
                            let _ = tokio::time::timeout(BUSY_BUDGET, answer_busy(stream, &health))
                                .await;
                        })
                    }
                };
                continue;
            };
            // TLS: the handshake holds no connection slot (clients that never complete
            // one cannot crowd out those that do), only a place in the larger pool of
            // connections being answered, for at most `header_read_timeout`.
            let Ok(b) = busy.clone().try_acquire_owned() else {
                continue; // dropped: closed
            };
            tracker.spawn(async move {
                let stream = WriteStall::new(stream, cfg.write_timeout);
                let s = match tokio::time::timeout(cfg.header_read_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        return tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    }
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                };
                match take() {
                    Some(slot) => {
                        drop(b);
                        let _slot = slot;
                        serve_conn(s, router, &cfg, shutdown).await;
                    }
                    None => {
                        let _b = b;
                        let _ = tokio::time::timeout(BUSY_BUDGET, answer_busy(s, &health)).await;
                    }
                }
            });
        }
        tracker.close();
        if tokio::time::timeout(cfg.shutdown_grace, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("HTTP connections still open after the shutdown grace; closing them");
        }
    }
}

async fn serve_conn<S>(stream: S, router: Router, cfg: &HttpConfig, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .max_buf_size(cfg.max_header_bytes.max(8192));
    let conn = b.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(conn);
    let age = tokio::time::sleep(cfg.connection_max_age);
    tokio::pin!(age);
    tokio::select! {
        r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(error = %e, "HTTP connection ended with an error") } return; }
        _ = shutdown.cancelled() => {}
        _ = &mut age => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(cfg.shutdown_grace, conn).await;
}

/// Basic auth (when configured) in front of `/metrics` and the board.
async fn require_auth(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(auth) = &s.auth {
        let h = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        // bcrypt is deliberately slow: check off the async workers.
        let (auth, h) = (auth.clone(), h.map(str::to_owned));
        let verdict = tokio::task::spawn_blocking(move || auth.check(h.as_deref()))
            .await
            .unwrap_or(Verdict::Denied);
        match verdict {
            Verdict::Allowed => {}
            Verdict::Denied => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"lanewatch\"")],
                    "unauthorized\n",
                )
                    .into_response();
            }
            Verdict::Throttled => {
                // Answered when the next second's budget begins: a client that floods
                // wrong passwords waits instead of looping (a tarpit), so the flood
                // costs connections, not the CPU the pipeline needs.
                tokio::time::sleep(Duration::from_secs(1)).await;
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "1")],
                    "too many authentication attempts: retry in a second\n",
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

async fn metrics_handler(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
    let native = s.proto.native_histograms();
    let (body, content_type) = if native && accepts_protobuf(&headers) {
        (&s.proto, super::proto::CONTENT_TYPE)
    } else {
        (&s.body, TEXT)
    };
    // With native histograms the body depends on both request headers.
    let vary = (
        header::VARY,
        if native {
            "Accept, Accept-Encoding"
        } else {
            "Accept-Encoding"
        },
    );
    if accepts_gzip(&headers) {
        let body = body.get_gzip().await;
        return (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, "gzip"),
                vary,
            ],
            body,
        )
            .into_response();
    }
    let body = body.get().await;
    ([(header::CONTENT_TYPE, content_type), vary], body).into_response()
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

/// The board's page and assets: only this origin's script, style and data.
const BOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn board_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, BOARD_CSP),
            // Served from the binary: revalidate, so an upgrade shows at once.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

async fn board_page() -> Response {
    board_asset("text/html; charset=utf-8", crate::board::PAGE_HTML)
}

async fn board_css() -> Response {
    board_asset("text/css; charset=utf-8", crate::board::PAGE_CSS)
}

async fn board_js() -> Response {
    board_asset("text/javascript; charset=utf-8", crate::board::PAGE_JS)
}

async fn board_api(State(s): State<AppState>) -> Response {
    let now = crate::engine::time::now_ms();
    let snapshot = match &s.board {
        Some(b) => b.snapshot(now),
        None => crate::board::Snapshot::empty(now),
    };
    let body = serde_json::to_vec(&snapshot).expect("the snapshot serializes");
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
