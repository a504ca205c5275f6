//! Offset commits on a thread of their own: a synchronous commit reports its result
//! (so failures are counted and retried), but blocks while the broker is unreachable —
//! on the consume thread that would stop polling, and with it the statistics that tell
//! `/readyz` the broker is gone. The consume thread asks; this thread commits.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::context::SourceContext;
use super::metrics::SourceMetrics;

/// A request: commit the stored offsets; `Some` wants the result back.
type Request = Option<SyncSender<bool>>;

pub struct Committer {
    requests: SyncSender<Request>,
    thread: std::thread::JoinHandle<()>,
}

impl Committer {
    pub fn start(
        consumer: Arc<BaseConsumer<SourceContext>>,
        metrics: SourceMetrics,
    ) -> std::io::Result<Committer> {
        let (tx, rx) = sync_channel::<Request>(1);
        let thread = std::thread::Builder::new()
            .name("lanewatch-commit".into())
            .spawn(move || serve(&consumer, &metrics, rx))?;
        Ok(Committer {
            requests: tx,
            thread,
        })
    }

    /// Stop the thread and wait (at most `timeout`) until it has released its consumer
    /// handle, so that the caller's is the last and closing it leaves the group.
    pub fn stop(self, timeout: Duration) -> bool {
        drop(self.requests);
        let deadline = std::time::Instant::now() + timeout;
        while !self.thread.is_finished() {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.thread.join();
        true
    }

    /// Ask for a commit unless one is already pending (never blocks).
    pub fn request(&self) {
        let _ = self.requests.try_send(None);
    }

    /// Commit and wait for the result, at most `timeout`. `false` when it failed or did
    /// not finish (broker unreachable): the offsets stay uncommitted.
    pub fn commit_and_wait(&self, timeout: Duration) -> bool {
        let (tx, rx) = sync_channel(1);
        // A periodic commit may be pending: wait for the slot, within the deadline.
        let deadline = std::time::Instant::now() + timeout;
        let mut req = Some(tx);
        loop {
            match self.requests.try_send(req) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                    req = back;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return false,
            }
        }
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or(false)
    }
}

fn serve(consumer: &BaseConsumer<SourceContext>, metrics: &SourceMetrics, rx: Receiver<Request>) {
    while let Ok(req) = rx.recv() {
        let ok = commit(consumer, metrics);
        if let Some(reply) = req {
            let _ = reply.try_send(ok);
        }
    }
}

/// Commit the stored offsets synchronously; `false` (counted, logged) on failure — the
/// offsets stay stored and the next commit retries them.
fn commit(consumer: &BaseConsumer<SourceContext>, metrics: &SourceMetrics) -> bool {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {
            metrics.commits.with_label_values(&["ok"]).inc();
            true
        }
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => true,
        Err(e) => {
            metrics.commits.with_label_values(&["error"]).inc();
            tracing::warn!(error = %e, "offset commit failed; the offsets stay stored and the next commit retries");
            false
        }
    }
}
