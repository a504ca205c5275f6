//! [`SimError`]: what stops a simulation, each naming its fix, and whether it is the
//! user's (exit 2) or the run's (exit 1).

use crate::config::ConfigError;

/// Errors a user can cause; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{origin}: {message}")]
    Spec { origin: String, message: String },
    #[error("{0}")]
    Options(String),
    #[error("cannot create the Kafka producer: {0} (check --brokers and the -X options)")]
    Producer(#[source] rdkafka::error::KafkaError),
    #[error(
        "cannot reach Kafka at {brokers}: {source} (check --brokers and that the broker is running)"
    )]
    Unreachable {
        brokers: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("cannot produce to {topic}: {source}")]
    Produce {
        topic: String,
        source: rdkafka::error::KafkaError,
    },
    #[error(
        "{failed} of {total} messages were not delivered to topic {topic} at {brokers} ({why}): check the broker and -X options"
    )]
    Undelivered {
        failed: u64,
        total: u64,
        topic: String,
        brokers: String,
        /// The first delivery error, or that the flush timed out.
        why: String,
    },
    #[error("the {task} failed: {source}")]
    Task {
        /// `Kafka connect task`, `simulator thread`, `Kafka flush task`.
        task: &'static str,
        source: tokio::task::JoinError,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl crate::exit::Failure for SimError {
    /// Flags, the registry, the output path and the brokers named by `--brokers` are
    /// checked before the first message; what fails after it is a failure at run time.
    fn is_user_error(&self) -> bool {
        match self {
            SimError::Config(e) => e.is_user_error(),
            SimError::Spec { .. }
            | SimError::Options(_)
            | SimError::Producer(_)
            | SimError::Unreachable { .. } => true,
            SimError::Produce { .. } | SimError::Undelivered { .. } | SimError::Task { .. } => {
                false
            }
            SimError::Write { source, .. } => crate::exit::path_refused(source),
        }
    }
}
