#!/usr/bin/env bash
# Every lanewatch benchmark, and the Python baseline beside it, in one run; prints a
# table of figures and lanewatch/baseline ratios with the machine they ran on.
# Targets: README, Benchmarks. Benchmarks are not tests: nothing here fails on a slow figure.
#
#   tests/bench/run.sh            full size: 10M-event backlog (drain + RSS), 1k and 10k
#                                 lanes, 10,000 events/s freshness (2-3 min on 2 cores after the build, loads the machine)
#   tests/bench/run.sh --smoke    everything tiny (seconds), for CI
#
# It builds the release binaries (checking that `lanewatch` holds no benchmark code:
# the benchmarks are the separate `lanewatch-bench`), installs the baseline's Python
# packages into a venv (~/.cache/lanewatch/bench-venv), starts its own Apache Kafka
# broker with tests/kafka/kafka.sh in a temp dir (stopped on exit) and runs, in order:
#   1. replay of a generated JSONL file spanning one day, on one thread and on two
#      (--threads 2: a reader stage), then of a week at the same density (its memory),
#      then the baseline
#   2. drain of a pre-loaded 12-partition topic by the live service, fresh group, with
#      CPU per million events and RSS sampled every second (3: flat under backlog);
#      the baseline drains the same topic (its first BASE_DRAIN events)
#   3/4. RSS and /metrics scrape time and size with 1,000 and 10,000 lanes (and with
#      1,000: gzipped, and with native histograms in protobuf)
#   5. freshness: produce → visible in /metrics at 10,000 events/s, after 10 s of
#      traffic that warms the freshly started broker (steady state is measured)
# and then, without the broker, tests/bench/pages_frontier.py (issue #11's LaneStalled
# trade-off on simulated days).
#
# Environment:
#   LANEWATCH_BENCH_BIN      use this lanewatch-bench binary instead of building one
#   LANEWATCH_BENCH_BROKERS  use this running broker instead of starting one
#   LANEWATCH_CACHE          cache root (default ~/.cache/lanewatch): Kafka jars, venv
#   LANEWATCH_KEEP_TMP=1     keep the temp dir (data file, broker logs, results.txt)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/bench"
KAFKA_SH="$ROOT/tests/kafka/kafka.sh"
# shellcheck source=tests/bench/broker.sh
. "$ROOT/tests/bench/broker.sh"
CACHE="${LANEWATCH_CACHE:-$HOME/.cache/lanewatch}"
T_START=$(date +%s)

SMOKE=0
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

if [[ $SMOKE == 1 ]]; then
  REPLAY_EVENTS=20000 BASE_REPLAY=2000 BACKLOG=20000 BASE_DRAIN=2000 LANES=100
  LANE_SIZES=(100 300) SCRAPES=5 BASE_SCRAPES=2 FRESH_RATE=1000 PROBES=10 FRESH_WARMUP=1
else
  REPLAY_EVENTS=3000000 BASE_REPLAY=300000 BACKLOG=10000000 BASE_DRAIN=300000 LANES=1000
  LANE_SIZES=(1000 10000) SCRAPES=500 BASE_SCRAPES=10 FRESH_RATE=10000 PROBES=200 FRESH_WARMUP=10
fi

section() { printf '\n==== %s ==== (+%ss)\n' "$*" "$(($(date +%s) - T_START))" >&2; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/lanewatch-bench.XXXXXX")"
RESULTS="$TMP/results.txt"
: >"$RESULTS"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -f "$TMP/kafka/kafka.pid" ]]; then bash "$KAFKA_SH" stop "$TMP/kafka" >&2 || true; fi
  if [[ "${LANEWATCH_KEEP_TMP:-0}" == 1 ]]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------------------------------
MACHINE_CPU="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)"
MACHINE="nproc $(nproc), ${MACHINE_CPU:-unknown CPU}, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r)"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
section "Machine: $MACHINE (load $LOAD_BEFORE)"

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if [[ -n "${LANEWATCH_BENCH_BIN:-}" ]]; then
  LW="$LANEWATCH_BENCH_BIN"
else
  section "cargo build --release (lanewatch, lanewatch-bench)"
  (cd "$ROOT" && cargo build --release --bins >&2)
  RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
  LW="$RELEASE/lanewatch-bench"
  # The product binary carries no benchmark code: none of the benchmarks' output lines
  # nor symbols of the bench binary's crate (tests/it/product_binary.rs checks the same).
  if grep -qaE 'bench=(pipeline|generate|replay|produce|drain|scrape|fresh|advice) |lanewatch_bench' \
    "$RELEASE/lanewatch"; then
    die "$RELEASE/lanewatch contains benchmark code"
  fi
fi
[[ -x "$LW" ]] || die "no lanewatch-bench binary at $LW"

section "Python baseline: venv"
VENV="$CACHE/bench-venv"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$want" ]]; then
  python3 -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt" >&2
  echo "$want" >"$STAMP"
fi
PY="$VENV/bin/python"
"$PY" -c 'import confluent_kafka, prometheus_client' || die "baseline packages missing in $VENV"

bench_broker "$TMP"

# Run one benchmark; its key=value line goes to the results (renamed to $1) and stdout.
bench() { # NAME CMD...
  local name="$1" out
  shift
  section "$name: ${*##*/}"
  out="$("$@" | grep '^bench=')" || die "$name failed"
  out="bench=$name ${out#bench=* }"
  echo "$out" >>"$RESULTS"
  echo "$out" >&2
}

# ---------------------------------------------------------------------------------------
RUN="$$"
# One day of event time, as a region's lanes see it (and the replay's per-window state
# spans a day, not minutes).
bench generate "$LW" generate --output "$TMP/events.jsonl" --events "$REPLAY_EVENTS" --lanes "$LANES" \
  --rate "$(awk -v n="$REPLAY_EVENTS" 'BEGIN { printf "%.3f", n / 86400 }')"
bench replay "$LW" replay --input "$TMP/events.jsonl" --threads 1
bench replay2 "$LW" replay --input "$TMP/events.jsonl" --threads 2
bench base_replay "$PY" "$HERE/baseline.py" replay --input "$TMP/events.jsonl" \
  --max-events "$BASE_REPLAY" --scrapes "$BASE_SCRAPES"
rm -f "$TMP/events.jsonl"
# A week at the same density: memory must not grow with the range.
bench generate_week "$LW" generate --output "$TMP/week.jsonl" --events $((7 * REPLAY_EVENTS)) --lanes "$LANES" \
  --rate "$(awk -v n="$REPLAY_EVENTS" 'BEGIN { printf "%.3f", n / 86400 }')"
bench replay_week "$LW" replay --input "$TMP/week.jsonl" --threads 2
rm -f "$TMP/week.jsonl"

bench produce_backlog "$LW" produce --brokers "$BROKERS" --topic "backlog-$RUN" \
  --events "$BACKLOG" --lanes "$LANES" --partitions 12
bench drain "$LW" drain --brokers "$BROKERS" --topic "backlog-$RUN" --events "$BACKLOG" --lanes "$LANES"
bench base_drain "$PY" "$HERE/baseline.py" drain --brokers "$BROKERS" --topic "backlog-$RUN" --events "$BASE_DRAIN"

for L in "${LANE_SIZES[@]}"; do
  bench "produce_lanes$L" "$LW" produce --brokers "$BROKERS" --topic "lanes$L-$RUN" \
    --events $((20 * L)) --lanes "$L" --partitions 12
  bench "scrape$L" "$LW" scrape --brokers "$BROKERS" --topic "lanes$L-$RUN" \
    --events $((20 * L)) --lanes "$L" --scrapes "$SCRAPES"
done
# As Prometheus scrapes (Accept-Encoding: gzip).
L="${LANE_SIZES[0]}"
bench "scrape_gzip$L" "$LW" scrape --brokers "$BROKERS" --topic "lanes$L-$RUN" \
  --events $((20 * L)) --lanes "$L" --scrapes "$SCRAPES" --gzip
# With native histograms, as a Prometheus with --enable-feature=native-histograms asks
# (protobuf, gzip).
bench "scrape_native$L" "$LW" scrape --brokers "$BROKERS" --topic "lanes$L-$RUN" \
  --events $((20 * L)) --lanes "$L" --scrapes "$SCRAPES" --gzip --protobuf --native-histograms

bench fresh "$LW" fresh --brokers "$BROKERS" --topic "fresh-$RUN" --rate "$FRESH_RATE" --probes "$PROBES" \
  --warmup-s "$FRESH_WARMUP"

# ---------------------------------------------------------------------------------------
val() { # NAME KEY
  awk -v n="bench=$1" -v k="$2" '$1 == n { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) { print kv[2]; exit } } }' "$RESULTS"
}
ratio() { # A B: A/B with one decimal, or "-"
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.1fx\n", a / b }'
}
num() { # thousands separators for integers
  awk -v x="$1" 'BEGIN { if (x == "") { print "-"; exit } s = sprintf("%.0f", x); o = ""; while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }'
}
row() { printf '| %-50s | %-24s | %-22s | %-8s | %-18s |\n' "$@"; }

L1="${LANE_SIZES[0]}" L2="${LANE_SIZES[1]}"
section "Results"
echo
echo "lanewatch benchmarks ($([[ $SMOKE == 1 ]] && echo SMOKE size, figures meaningless || echo full size)), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $MACHINE; load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "lanewatch $("$LW" --version 2>/dev/null | awk '{print $2}'), baseline: Python $("$PY" -c 'import sys; print(sys.version.split()[0])') + confluent-kafka + prometheus_client"
echo
row "benchmark" "lanewatch" "baseline" "ratio" "target"
row "---" "---" "---" "---" "---"
row "1. replay JSONL, 1 thread (events/s)" "$(num "$(val replay events_per_second)")" \
  "$(num "$(val base_replay events_per_second)")" "$(ratio "$(val replay events_per_second)" "$(val base_replay events_per_second)")" ">= 2,000,000"
row "   replay, --threads 2 (events/s)" "$(num "$(val replay2 events_per_second)")" \
  "" "$(ratio "$(val replay2 events_per_second)" "$(val base_replay events_per_second)")" ">= 3,500,000"
row "   replay peak RSS (MiB), one day, 1 / 2 threads" "$(val replay peak_rss_mib) / $(val replay2 peak_rss_mib)" "" "" "<= 256, any range"
row "   replay a week ($(num "$((7 * REPLAY_EVENTS))") events), 2 threads: RSS (MiB), ev/s" "$(val replay_week peak_rss_mib), $(num "$(val replay_week events_per_second)")" "" "" "<= 256"
row "2. drain $(num "$BACKLOG") events, from 1st event (ev/s)" "$(num "$(val drain events_per_second_from_first)")" \
  "$(num "$(val base_drain events_per_second_from_first)")" "$(ratio "$(val drain events_per_second_from_first)" "$(val base_drain events_per_second_from_first)")" ">= 500,000"
row "   drain, wall from start incl. group join (ev/s)" "$(num "$(val drain events_per_second)")" \
  "$(num "$(val base_drain events_per_second)")" "$(ratio "$(val drain events_per_second)" "$(val base_drain events_per_second)")" ""
row "   CPU seconds per million events (lower wins)" "$(val drain cpu_seconds_per_million)" \
  "$(val base_drain cpu_seconds_per_million)" "$(ratio "$(val base_drain cpu_seconds_per_million)" "$(val drain cpu_seconds_per_million)")" ""
row "3. RSS, $(num "$L1") lanes (MiB)" "$(val "scrape$L1" rss_mib)" "" "" "<= 64"
row "   RSS, $(num "$L2") lanes (MiB)" "$(val "scrape$L2" rss_mib)" "" "" ""
row "   RSS draining backlog first/mid/last/max" \
  "$(val drain rss_first_mib)/$(val drain rss_mid_mib)/$(val drain rss_last_mib)/$(val drain rss_max_mib)" "" "" "flat, <= 64"
row "   peak RSS (VmHWM): drain / baseline drain" "$(val drain peak_rss_mib)" "$(val base_drain peak_rss_mib)" "" ""
row "4. scrape $(num "$L1") lanes p50 / p99 (ms)" "$(val "scrape$L1" scrape_ms_p50) / $(val "scrape$L1" scrape_ms_p99)" \
  "$(val base_replay scrape_ms_p50) / $(val base_replay scrape_ms_p99)" "$(ratio "$(val base_replay scrape_ms_p50)" "$(val "scrape$L1" scrape_ms_p50)")" "<= 5"
row "   body bytes / series, $(num "$L1") lanes" "$(num "$(val "scrape$L1" body_bytes)") / $(num "$(val "scrape$L1" series)")" \
  "$(num "$(val base_replay body_bytes)")" "" ""
row "   series per lane (all series / lanes), $(num "$L1") lanes" \
  "$(awk -v s="$(val "scrape$L1" series)" -v l="$(val "scrape$L1" lanes)" 'BEGIN { if (l > 0) printf "%.1f", s / l }')" "" "" "<= 40"
row "   gzip (as Prometheus asks), $(num "$L1") lanes p50 / p99 (ms)" "$(val "scrape_gzip$L1" scrape_ms_p50) / $(val "scrape_gzip$L1" scrape_ms_p99)" "" "" ""
row "   gzip bytes on the wire, $(num "$L1") lanes" "$(num "$(val "scrape_gzip$L1" wire_bytes)")" "" "" ""
row "   native histograms (protobuf, gzip), $(num "$L1") lanes p50 / p99 (ms)" \
  "$(val "scrape_native$L1" scrape_ms_p50) / $(val "scrape_native$L1" scrape_ms_p99)" "" "" ""
row "   native: bytes on the wire / RSS (MiB), $(num "$L1") lanes" \
  "$(num "$(val "scrape_native$L1" wire_bytes)") / $(val "scrape_native$L1" rss_mib)" "" "" ""
row "   scrape $(num "$L2") lanes p50 / p99 (ms)" "$(val "scrape$L2" scrape_ms_p50) / $(val "scrape$L2" scrape_ms_p99)" "" "" ""
row "   body bytes / series, $(num "$L2") lanes" "$(num "$(val "scrape$L2" body_bytes)") / $(num "$(val "scrape$L2" series)")" "" "" ""
row "5. produce -> /metrics at $(num "$FRESH_RATE")/s p50 / p99 (ms)" "$(val fresh fresh_ms_p50) / $(val fresh fresh_ms_p99)" "" "" "p99 <= 100"
row "   of which Kafka: bare consumer p50 / p99 (ms)" "$(val fresh kafka_ms_p50) / $(val fresh kafka_ms_p99)" "" "" ""
row "   lanewatch's share per probe p50 / p99 (ms)" "$(val fresh own_ms_p50) / $(val fresh own_ms_p99)" "" "" ""
row "   (loading: producer events/s)" "$(num "$(val produce_backlog events_per_second)")" "" "" ""
echo
echo "Baseline sizes: replay and drain over the first $(num "$BASE_REPLAY") / $(num "$BASE_DRAIN") events of the same file and topic;"
echo "its scrape is prometheus_client's HTTP server after that replay ($(val base_replay lanes_exported) lanes, $BASE_SCRAPES scrapes)."
echo "Raw key=value lines:"
cat "$RESULTS"

# Issue #11: what any LaneStalled rule that reads departures can do on the pages study's
# simulated days (no broker; the product binary simulates them).
if [[ -x "$(dirname "$LW")/lanewatch" ]]; then
  section "LaneStalled: bound vs false pages and late closures (tests/bench/pages_frontier.py)"
  if [[ $SMOKE == 1 ]]; then FRONTIER=(--seeds 41 --days 1); else FRONTIER=(--seeds 23,24,25,26,27,41 --days 3); fi
  echo
  python3 "$HERE/pages_frontier.py" --lanewatch "$(dirname "$LW")/lanewatch" "${FRONTIER[@]}" ||
    die "pages_frontier.py failed"
fi
echo "total $(($(date +%s) - T_START)) s"
