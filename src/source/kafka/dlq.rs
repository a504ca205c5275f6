//! The dead-letter producer: a rejected message goes to the dead-letter topic with its
//! original key, bytes and headers, plus headers naming the reason and the source
//! topic/partition/offset. A delivery that finally fails is counted and logged with
//! those coordinates (never dropped silently); offsets are committed only after the
//! dead-letter queue has been flushed.

use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::metrics::SourceMetrics;
use crate::engine::event::Rejection;

/// Header names on dead-lettered messages.
pub const H_REASON: &str = "lanewatch.reason";
pub const H_DETAIL: &str = "lanewatch.detail";
pub const H_TOPIC: &str = "lanewatch.source.topic";
pub const H_PARTITION: &str = "lanewatch.source.partition";
pub const H_OFFSET: &str = "lanewatch.source.offset";

pub struct DlqContext {
    metrics: SourceMetrics,
}

impl ClientContext for DlqContext {}

impl ProducerContext for DlqContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self
                .metrics
                .dead_letters
                .with_label_values(&["delivered"])
                .inc(),
            Err((e, m)) => {
                self.metrics
                    .dead_letters
                    .with_label_values(&["failed"])
                    .inc();
                let h = |name: &str| -> String {
                    m.headers()
                        .and_then(|hs| hs.iter().find(|h| h.key == name).and_then(|h| h.value))
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default()
                };
                tracing::error!(
                    error = %e,
                    source_topic = %h(H_TOPIC),
                    source_partition = %h(H_PARTITION),
                    source_offset = %h(H_OFFSET),
                    reason = %h(H_REASON),
                    "could not dead-letter a rejected message; it is still in the source topic at this offset"
                );
            }
        }
    }
}

/// Producer of dead letters.
pub struct DeadLetter {
    producer: ThreadedProducer<DlqContext>,
    topic: String,
    metrics: SourceMetrics,
}

impl DeadLetter {
    pub fn new(
        mut cfg: ClientConfig,
        topic: String,
        metrics: SourceMetrics,
    ) -> Result<Self, KafkaError> {
        cfg.set("enable.idempotence", "true");
        cfg.set("linger.ms", "20");
        // Oversized rejects are dead-lettered whole; the topic's max.message.bytes must
        // allow them too, or the delivery fails (counted and logged).
        if cfg.get("message.max.bytes").is_none() {
            cfg.set("message.max.bytes", "16777216");
        }
        let producer = cfg.create_with_context(DlqContext {
            metrics: metrics.clone(),
        })?;
        Ok(DeadLetter {
            producer,
            topic,
            metrics,
        })
    }

    /// Queue a rejected message. Waits (bounded) while the local queue is full.
    pub fn send(&self, msg: &BorrowedMessage<'_>, rejection: &Rejection) {
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        let mut headers = OwnedHeaders::new();
        if let Some(orig) = msg.headers() {
            for h in orig.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let headers = headers
            .insert(Header {
                key: H_REASON,
                value: Some(rejection.reason.as_str()),
            })
            .insert(Header {
                key: H_DETAIL,
                value: Some(rejection.detail.as_str()),
            })
            .insert(Header {
                key: H_TOPIC,
                value: Some(msg.topic()),
            })
            .insert(Header {
                key: H_PARTITION,
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: H_OFFSET,
                value: Some(offset.as_str()),
            });
        let payload = msg.payload().unwrap_or_default();
        let mut record = BaseRecord::to(&self.topic)
            .payload(payload)
            .headers(headers);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        for _ in 0..100 {
            match self.producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    self.fail(msg, &e);
                    return;
                }
            }
        }
        self.fail(
            msg,
            &KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
        );
    }

    fn fail(&self, msg: &BorrowedMessage<'_>, e: &KafkaError) {
        self.metrics
            .dead_letters
            .with_label_values(&["failed"])
            .inc();
        tracing::error!(
            error = %e,
            source_topic = msg.topic(),
            source_partition = msg.partition(),
            source_offset = msg.offset(),
            "could not queue a rejected message for the dead-letter topic; it is still in the source topic at this offset"
        );
    }

    /// Wait until every queued dead letter is delivered or failed.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "dead-letter queue not flushed in time");
        }
    }
}
