# Sourced by tests/bench/run.sh and profile.sh: the broker a benchmark runs against.
# bench_broker DIR sets BROKERS to $LANEWATCH_BENCH_BROKERS when set, else starts an
# Apache Kafka broker in DIR/kafka with tests/kafka/kafka.sh (the caller stops it on
# exit: `kafka.sh stop DIR/kafka` when DIR/kafka/kafka.pid exists).
bench_broker() { # DIR
  local kafka_sh
  kafka_sh="$(cd "$(dirname "${BASH_SOURCE[0]}")/../kafka" && pwd)/kafka.sh"
  if [[ -n "${LANEWATCH_BENCH_BROKERS:-}" ]]; then
    BROKERS="$LANEWATCH_BENCH_BROKERS"
  else
    printf '\n==== Kafka: own broker in %s ====\n' "$1/kafka" >&2
    bash "$kafka_sh" fetch >&2
    KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g}" bash "$kafka_sh" start "$1/kafka" >&2
    BROKERS="$(cat "$1/kafka/bootstrap")"
  fi
  export RUST_LOG="${RUST_LOG:-warn}"
}
