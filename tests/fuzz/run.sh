#!/usr/bin/env bash
# Bounded fuzzing of lanewatch's parsers (part of tests/run.sh): every target in
# tests/fuzz/fuzz_targets for LANEWATCH_FUZZ_SECONDS (default 60) each, starting from
# the committed seeds. A crash fails the run; its input is kept under
# tests/fuzz/artifacts/ (commit it as a seed once fixed: it becomes a regression).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECONDS_PER_TARGET="${LANEWATCH_FUZZ_SECONDS:-60}"
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || die "cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi
cd "$ROOT"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# No AddressSanitizer (`-s none`): the targets are safe Rust, and ASAN-instrumented C
# dependencies (zstd) break librdkafka's configure checks. libFuzzer's coverage
# guidance and Rust's own panics and debug assertions remain.
for target in $(cargo +nightly fuzz list --fuzz-dir tests/fuzz); do
  corpus="$work/$target"
  log="$work/$target.log"
  mkdir -p "$corpus"
  echo "fuzzing $target for ${SECONDS_PER_TARGET}s"
  rc=0
  cargo +nightly fuzz run --fuzz-dir tests/fuzz -s none "$target" "$corpus" "tests/fuzz/seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -max_len=70000 -print_final_stats=1 \
    >"$log" 2>&1 || rc=$?
  grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$log" || true
  if [[ $rc -ne 0 ]]; then
    tail -n 60 "$log"
    die "fuzz target $target failed (exit $rc; a crashing input is kept in tests/fuzz/artifacts/$target)"
  fi
done
echo "fuzzing passed"
