//! Where simulated messages go: a Kafka topic (keyed `<checkpoint>/<direction>`,
//! librdkafka options passed through), or JSONL — one message per line — to a file or
//! standard output. A Kafka message counts as written once the broker acknowledged it.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use super::SimError;
use super::sim::SimEvent;

/// The output of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Produce to `topic` at `brokers`; `options` are librdkafka producer settings.
    Kafka {
        brokers: String,
        topic: String,
        options: Vec<(String, String)>,
    },
    /// JSONL to a file (created or truncated).
    Jsonl(PathBuf),
    /// JSONL to standard output.
    Stdout,
}

/// What became of one message handed to a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Ok,
    /// The producer queue is full: wait a little and offer it again.
    Full,
    /// The reader went away (standard output closed): stop quietly.
    Closed,
}

pub(crate) struct Lines {
    out: BufWriter<Box<dyn Write + Send>>,
    name: String,
}

impl Lines {
    /// JSONL to the file `path`, or to standard output when `None`.
    pub fn open(path: Option<&Path>) -> Result<Lines, SimError> {
        let (out, name): (Box<dyn Write + Send>, String) = match path {
            None => (Box::new(std::io::stdout()), "standard output".into()),
            Some(p) => {
                let f = File::create(p).map_err(|source| SimError::Write {
                    path: p.display().to_string(),
                    source,
                })?;
                (Box::new(f), p.display().to_string())
            }
        };
        Ok(Lines {
            out: BufWriter::with_capacity(1 << 20, out),
            name,
        })
    }

    /// Append one message and a newline.
    pub fn send(&mut self, payload: &[u8]) -> Result<Sent, SimError> {
        let r = self
            .out
            .write_all(payload)
            .and_then(|()| self.out.write_all(b"\n"));
        self.check(r)
    }

    pub fn flush(&mut self) -> Result<Sent, SimError> {
        let r = self.out.flush();
        self.check(r)
    }

    fn check(&self, r: std::io::Result<()>) -> Result<Sent, SimError> {
        match r {
            Ok(()) => Ok(Sent::Ok),
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(Sent::Closed),
            Err(source) => Err(SimError::Write {
                path: self.name.clone(),
                source,
            }),
        }
    }
}

/// Counts broker acknowledgements and failures.
#[derive(Default)]
pub(crate) struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) == 0
                    && let Ok(mut first) = self.first_error.lock()
                {
                    *first = Some(e.to_string());
                }
            }
        }
    }
}

pub(crate) struct KafkaSink {
    producer: ThreadedProducer<Deliveries>,
    brokers: String,
    topic: String,
}

impl KafkaSink {
    /// Create the producer and check that the brokers answer within `timeout`.
    pub fn connect(
        brokers: &str,
        topic: &str,
        options: &[(String, String)],
        timeout: Duration,
    ) -> Result<KafkaSink, SimError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers);
        c.set_log_level(RDKafkaLogLevel::Warning);
        for (k, v) in options {
            c.set(k, v);
        }
        let producer: ThreadedProducer<Deliveries> = c
            .create_with_context(Deliveries::default())
            .map_err(SimError::Producer)?;
        let md = producer
            .client()
            .fetch_metadata(Some(topic), timeout)
            .map_err(|source| SimError::Unreachable {
                brokers: brokers.to_string(),
                source,
            })?;
        if let Some(err) = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .and_then(|t| t.error())
        {
            tracing::warn!(topic, error = ?err, "topic metadata reports an error; producing anyway (auto-creation may follow)");
        }
        Ok(KafkaSink {
            producer,
            brokers: brokers.to_string(),
            topic: topic.to_string(),
        })
    }

    pub fn send(&self, ev: &SimEvent) -> Result<Sent, SimError> {
        let record = BaseRecord::to(&self.topic)
            .key(ev.key.as_bytes())
            .payload(&ev.payload);
        match self.producer.send(record) {
            Ok(()) => Ok(Sent::Ok),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Ok(Sent::Full),
            Err((source, _)) => Err(SimError::Produce {
                topic: self.topic.clone(),
                source,
            }),
        }
    }

    /// Wait up to `timeout` for outstanding messages; the number acknowledged, or an
    /// error naming how many were not delivered and why.
    pub fn finish(self, timeout: Duration) -> Result<u64, SimError> {
        let flushed = self.producer.flush(timeout);
        let ctx = self.producer.context();
        let failed =
            ctx.failed.load(Ordering::Relaxed) + self.producer.in_flight_count().max(0) as u64;
        let delivered = ctx.delivered.load(Ordering::Relaxed);
        if failed > 0 || flushed.is_err() {
            let why = ctx
                .first_error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_else(|| {
                    format!(
                        "not acknowledged within {}",
                        humantime::format_duration(timeout)
                    )
                });
            return Err(SimError::Undelivered {
                failed,
                total: failed + delivered,
                topic: self.topic.clone(),
                brokers: self.brokers.clone(),
                why,
            });
        }
        Ok(delivered)
    }
}
