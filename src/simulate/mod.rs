//! The commuter-traffic simulator: a queueing model per lane, paced into Kafka or JSONL.
