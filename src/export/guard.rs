//! What keeps one misbehaving client from starving the HTTP endpoints: a per-address
//! share of the connection slots, a write-stall timeout (a client that stops reading
//! is cut and its response freed), the answer given over the cap (probes answered
//! anyway, everything else a valid 503, over TLS on a TLS port), and one shared
//! encoding of `/metrics` for the scrapes that arrive together.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Sleep;

use super::metrics::Metrics;
use crate::health::Health;

/// Open connections per peer address; a slot is given back when its guard drops.
#[derive(Clone, Default)]
pub struct Peers {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection of a peer (see [`Peers::try_take`]).
pub struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl Peers {
    /// A slot for `ip` unless it already holds `max`.
    pub fn try_take(&self, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// A stream whose writes fail once they have made no progress for `limit`: a client
/// that sends a request and never reads the answer is cut (and the answer freed)
/// instead of holding its connection and the response buffer for ever.
pub struct WriteStall<S> {
    inner: S,
    limit: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteStall<S> {
    pub fn new(inner: S, limit: Duration) -> Self {
        WriteStall {
            inner,
            limit,
            timer: None,
        }
    }

    /// After a write poll: progress disarms the timer; `Pending` arms it (once) and
    /// fails the write when it fires.
    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.timer = None;
            return r;
        }
        let limit = self.limit;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStall<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStall<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, r)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, r)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, r)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How long a connection over the cap may take to say what it wants.
pub const BUSY_BUDGET: Duration = Duration::from_secs(1);

/// Answer a connection over the cap within [`BUSY_BUDGET`]: the health probes are
/// answered as usual (a liveness probe must not fail because scrapers crowd the
/// port), anything else gets `503`, closing the connection.
pub async fn answer_busy<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, health: &Health) {
    let mut head = [0u8; 256];
    let mut n = 0;
    while n < head.len() && !head[..n].contains(&b'\n') {
        match stream.read(&mut head[n..]).await {
            Ok(0) | Err(_) => return,
            Ok(k) => n += k,
        }
    }
    let line = &head[..n];
    let path = |p: &str| {
        let p = p.as_bytes();
        [&b"GET "[..], &b"HEAD "[..]].iter().any(|m| {
            line.strip_prefix(*m)
                .and_then(|r| r.strip_prefix(p))
                .is_some_and(|r| r.first().is_some_and(|&c| c == b' ' || c == b'?'))
        })
    };
    let (status, body): (&str, String) = if path("/healthz") {
        ("200 OK", "ok\n".into())
    } else if path("/readyz") {
        match health.ready() {
            Ok(()) => ("200 OK", "ready\n".into()),
            Err(why) => ("503 Service Unavailable", format!("not ready: {why}\n")),
        }
    } else {
        (
            "503 Service Unavailable",
            "busy: too many connections, retry\n".into(),
        )
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Older encodings of `/metrics` still being written to (slow) clients beyond which
/// no new one is made: the newest is served instead, however old.
pub const MAX_PINNED_BODIES: usize = 2;

/// Buffers of bodies no response sends any more, for the next encoding.
type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

/// An encoded body shared by every response that sends it; when the last of them is
/// done, its buffer goes back to the spares (a steady scrape allocates nothing, and
/// the allocator is not left holding a freed 10 MB block per thread).
struct Owned {
    data: Option<Arc<Vec<u8>>>,
    spare: Spare,
}

impl AsRef<[u8]> for Owned {
    fn as_ref(&self) -> &[u8] {
        self.data.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        if let Some(Ok(buf)) = self.data.take().map(Arc::try_unwrap) {
            let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
            if spare.len() < 2 {
                spare.push(buf);
            }
        }
    }
}

/// Bodies at least this large are gzipped in two halves on two threads.
const GZIP_SPLIT_BYTES: usize = 1 << 20;

/// `data` as one gzip member (fast level: a 10 MB region compresses ~15x).
fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    e.write_all(data).and_then(|()| e.finish()).ok()
}

#[derive(Default)]
struct Encoded {
    /// Encodings started so far.
    started: u64,
    /// The newest encoding: its number, body, and a weak reference to the body's
    /// bytes (alive while any response sends them).
    newest: Option<(u64, Bytes, std::sync::Weak<Vec<u8>>)>,
    /// Older bodies, alive while a response still sends them.
    older: Vec<std::sync::Weak<Vec<u8>>>,
}

/// `/metrics` encoded in single flight: a scrape gets an encoding that started after
/// it arrived (never an older state), and every scrape that waited for one encoding
/// shares it. A body is shared by reference, and while [`MAX_PINNED_BODIES`] older
/// bodies are still being sent to slow clients the newest is served again instead of
/// a new one, so slow readers cannot multiply the memory a scrape takes.
#[derive(Clone)]
pub struct SharedBody {
    metrics: Metrics,
    /// The protobuf exposition rather than text.
    protobuf: bool,
    state: Arc<Mutex<Encoded>>,
    /// Held across one encoding (single flight).
    flight: Arc<tokio::sync::Mutex<()>>,
    spare: Spare,
    /// The gzip of the newest encoding (its number and bytes), made once for all the
    /// scrapers that ask for gzip (Prometheus does); held across one compression.
    gzip: Arc<tokio::sync::Mutex<Option<(u64, Bytes)>>>,
}

impl SharedBody {
    /// The text exposition.
    pub fn new(metrics: Metrics) -> Self {
        Self::with_format(metrics, false)
    }

    /// The protobuf exposition ([`super::proto`]).
    pub fn protobuf(metrics: Metrics) -> Self {
        Self::with_format(metrics, true)
    }

    fn with_format(metrics: Metrics, protobuf: bool) -> Self {
        SharedBody {
            metrics,
            protobuf,
            state: Arc::default(),
            flight: Arc::default(),
            spare: Arc::default(),
            gzip: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Encoded> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `/metrics` may serve this body in protobuf (lanes keep native
    /// histograms).
    pub fn native_histograms(&self) -> bool {
        self.metrics.native_histograms()
    }

    pub async fn get(&self) -> Bytes {
        self.get_numbered().await.1
    }

    /// The body gzipped (fast level: a 10 MB region compresses ~10x), compressed once
    /// per encoding however many scrapers ask for it.
    pub async fn get_gzip(&self) -> Bytes {
        let (n, body) = self.get_numbered().await;
        let mut cache = self.gzip.lock().await;
        if let Some((m, gz)) = cache.as_ref()
            && *m >= n
        {
            return gz.clone();
        }
        // A region's body is compressed in two halves at once (two gzip members, one
        // after the other: a valid gzip stream, RFC 1952 §2.2, which Prometheus and
        // every decoder of concatenated members read as one).
        let cut = if body.len() >= GZIP_SPLIT_BYTES {
            let mid = body.len() / 2;
            memchr::memchr(b'\n', &body[mid..]).map_or(body.len(), |i| mid + i + 1)
        } else {
            body.len()
        };
        let (first, second) = (body.slice(..cut), body.slice(cut..));
        let tail = (!second.is_empty()).then(|| tokio::task::spawn_blocking(move || gzip(&second)));
        let head = tokio::task::spawn_blocking(move || gzip(&first)).await;
        let gz = match (head, tail) {
            (Ok(Some(mut a)), Some(t)) => match t.await {
                Ok(Some(b)) => {
                    a.extend_from_slice(&b);
                    Some(a)
                }
                _ => None,
            },
            (Ok(a), None) => a,
            _ => None,
        }
        .map(Bytes::from)
        .unwrap_or_default();
        *cache = Some((n, gz.clone()));
        gz
    }

    /// The body and the number of the encoding it is.
    async fn get_numbered(&self) -> (u64, Bytes) {
        let arrived = self.state().started;
        let _flight = self.flight.lock().await;
        {
            let mut st = self.state();
            if let Some((n, body, _)) = &st.newest {
                // An encoding that started after this scrape arrived: fresh enough.
                if *n > arrived {
                    return (*n, body.clone());
                }
                let (n, body) = (*n, body.clone());
                st.older.retain(|w| w.strong_count() > 0);
                if st.older.len() >= MAX_PINNED_BODIES {
                    return (n, body);
                }
            }
            st.started += 1;
        }
        let (m, protobuf) = (self.metrics.clone(), self.protobuf);
        let mut buf = self
            .spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let encoded = Arc::new(
            tokio::task::spawn_blocking(move || {
                if protobuf {
                    m.encode_proto_into(&mut buf);
                } else {
                    m.encode_into(&mut buf);
                }
                buf
            })
            .await
            .unwrap_or_default(),
        );
        let weak = Arc::downgrade(&encoded);
        let body = Bytes::from_owner(Owned {
            data: Some(encoded),
            spare: self.spare.clone(),
        });
        let mut st = self.state();
        let n = st.started;
        if let Some((_, _, previous)) = st.newest.replace((n, body.clone(), weak)) {
            st.older.push(previous);
        }
        (n, body)
    }
}
