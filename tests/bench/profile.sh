#!/usr/bin/env bash
# Where the time goes in each #13 benchmark row: perf profiles of lanewatch-bench, with
# flame graphs and the top frames (self and inclusive) as text. Not part of CI.
#
#   tests/bench/profile.sh [OUTDIR]     default OUTDIR: target/profile
#
# For each of
#   replay1   replay of a generated one-day, 1,000-lane JSONL file, one thread
#   replay2   the same, --threads 2
#   drain     drain of a pre-loaded 12-partition topic (PROFILE_BACKLOG events)
#   scrape    /metrics at 1,000 lanes as Prometheus asks (gzip), 500 scrapes
# it writes OUTDIR/NAME.txt (top frames by self time, then by inclusive time),
# OUTDIR/NAME.svg (the flame graph, by inferno, which it installs into the cache with
# `cargo install` when it is not on PATH), OUTDIR/NAME.folded (the collapsed stacks) and
# OUTDIR/NAME.perf.data (for perf report). The `bench=` line in NAME.txt is the run
# under perf, which slows it (one-thread replay: 670k ev/s under perf against 793k in
# run.sh on the same machine, stop 25): take the figures from run.sh.
#
# Needs perf (Debian: linux-perf) with kernel.perf_event_paranoid <= 2 for user-space
# sampling. The binary is built with frame pointers (-C force-frame-pointers) in its own
# target dir, so the call graphs need no DWARF unwinding; the standard library's frames
# come from its own frame pointers where it has them, else from the caller.
#
# Environment:
#   LANEWATCH_BENCH_BROKERS  use this running broker instead of starting one
#   PROFILE_EVENTS           replay events (default 3,000,000: the run.sh day)
#   PROFILE_BACKLOG          drain backlog (default 3,000,000)
#   PROFILE_ONLY             space-separated subset of: replay1 replay2 drain scrape
#   PROFILE_FREQ             sampling frequency (default 1999 Hz)
#   LANEWATCH_CACHE          cache root (default ~/.cache/lanewatch): inferno
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_SH="$ROOT/tests/kafka/kafka.sh"
# shellcheck source=tests/bench/broker.sh
. "$ROOT/tests/bench/broker.sh"
OUT="${1:-$ROOT/target/profile}"
EVENTS="${PROFILE_EVENTS:-3000000}"
BACKLOG="${PROFILE_BACKLOG:-3000000}"
ONLY="${PROFILE_ONLY:-replay1 replay2 drain scrape}"
FREQ="${PROFILE_FREQ:-1999}"
LANES=1000

die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }
section() { printf '\n==== %s ====\n' "$*" >&2; }
wants() { [[ " $ONLY " == *" $1 "* ]]; }

command -v perf >/dev/null 2>&1 || die "perf not found (apt-get install linux-perf)"
mkdir -p "$OUT"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/lanewatch-profile.XXXXXX")"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -f "$TMP/kafka/kafka.pid" ]]; then bash "$KAFKA_SH" stop "$TMP/kafka" >&2 || true; fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "cargo build --release with frame pointers (target/fp)"
(cd "$ROOT" && RUSTFLAGS="-C force-frame-pointers=yes" CARGO_TARGET_DIR="$ROOT/target/fp" \
  cargo build --release --bin lanewatch-bench >&2)
LW="$ROOT/target/fp/release/lanewatch-bench"
MACHINE="nproc $(nproc), $(lscpu | sed -n 's/^Model name: *//p' | head -n1), kernel $(uname -r)"
CACHE="${LANEWATCH_CACHE:-$HOME/.cache/lanewatch}"
export PATH="$CACHE/inferno/bin:$PATH"
if ! command -v inferno-flamegraph >/dev/null 2>&1; then
  section "cargo install inferno (flame graphs) into $CACHE/inferno"
  cargo install --locked --root "$CACHE/inferno" inferno >&2 || true
fi
INFERNO=0
if command -v inferno-collapse-perf >/dev/null 2>&1 && command -v inferno-flamegraph >/dev/null 2>&1; then
  INFERNO=1
else
  echo "inferno could not be installed: no flame graph SVGs" >&2
fi

# perf report's lines without comments, blank lines and the padding of empty columns.
tidy() { grep -v -e '^#' -e '^$' | sed -E 's/[[:space:]]+(-[[:space:]]+)*$//'; }

# profile NAME CMD...: perf record the command, then write the reports.
profile() {
  local name="$1" data="$OUT/$1.perf.data" txt="$OUT/$1.txt" line
  shift
  section "$name: ${*##*/}"
  line="$(perf record -F "$FREQ" -g -o "$data" -- "$@" 2>"$TMP/$name.perf.log" | grep '^bench=' || true)"
  [[ -n "$line" ]] || { cat "$TMP/$name.perf.log" >&2; die "$name: the benchmark printed no bench= line"; }
  {
    echo "# $name on $MACHINE, $(date -u '+%Y-%m-%d %H:%M UTC'), perf -F $FREQ -g (frame pointers)"
    echo "# command: ${*}"
    echo "$line"
    echo
    echo "## top frames by self time (all threads)"
    perf report -i "$data" --no-children --sort symbol --percent-limit 0.7 --stdio -g none 2>/dev/null |
      tidy | head -n 40
    echo
    echo "## top frames by inclusive time (children included)"
    perf report -i "$data" --children --sort symbol --percent-limit 4 --stdio -g none 2>/dev/null |
      tidy | head -n 40
    echo
    echo "## by thread (comm)"
    perf report -i "$data" --no-children --sort comm --stdio -g none 2>/dev/null |
      tidy | head -n 12
  } >"$txt"
  if [[ $INFERNO == 1 ]]; then
    perf script -i "$data" 2>/dev/null | inferno-collapse-perf >"$OUT/$name.folded"
    inferno-flamegraph --title "lanewatch $name ($MACHINE)" <"$OUT/$name.folded" >"$OUT/$name.svg"
  fi
  echo "$line" >&2
  echo "wrote $txt" >&2
}

if wants replay1 || wants replay2; then
  section "generate $EVENTS events over $LANES lanes, one day"
  "$LW" generate --output "$TMP/events.jsonl" --events "$EVENTS" --lanes "$LANES" \
    --rate "$(awk -v n="$EVENTS" 'BEGIN { printf "%.3f", n / 86400 }')" | grep '^bench=' >&2
  # Warm the page cache so that both runs read from memory.
  cat "$TMP/events.jsonl" >/dev/null
  if wants replay1; then profile replay1 "$LW" replay --input "$TMP/events.jsonl" --threads 1; fi
  if wants replay2; then profile replay2 "$LW" replay --input "$TMP/events.jsonl" --threads 2; fi
  rm -f "$TMP/events.jsonl"
fi

if wants drain || wants scrape; then
  bench_broker "$TMP"
  RUN="$$"
  if wants drain; then
    "$LW" produce --brokers "$BROKERS" --topic "pbacklog-$RUN" --events "$BACKLOG" --lanes "$LANES" \
      --partitions 12 | grep '^bench=' >&2
    profile drain "$LW" drain --brokers "$BROKERS" --topic "pbacklog-$RUN" --events "$BACKLOG" --lanes "$LANES"
  fi
  if wants scrape; then
    "$LW" produce --brokers "$BROKERS" --topic "plines-$RUN" --events $((20 * LANES)) --lanes "$LANES" \
      --partitions 12 | grep '^bench=' >&2
    profile scrape "$LW" scrape --brokers "$BROKERS" --topic "plines-$RUN" --events $((20 * LANES)) \
      --lanes "$LANES" --scrapes 500 --gzip
  fi
fi
echo "profiles in $OUT" >&2
