#!/usr/bin/env bash
# The lanewatch test command: installs and starts what the test suite needs, runs it,
# and stops everything afterwards. Meant for a fresh Debian 12 machine (root, Java 17,
# mvn, python3, cargo; apt and Maven Central reachable). See README, Two commands.
#
#   tests/run.sh                          fmt check, clippy, the whole cargo test suite
#   tests/run.sh --test it                extra args go to `cargo test` (`it`: the one
#                                         integration test binary, tests/it/)
#   tests/run.sh --test it -- kafka_pipeline::  args after `--` go to the test harness
#                                         (a name filter: one module's tests)
#
# Environment:
#   LANEWATCH_TEST_CMD    run this shell command instead of the cargo steps (the broker
#                         and the exported variables are there as for cargo)
#   LANEWATCH_SKIP_LINT=1 skip `cargo fmt --check` and clippy
#   LANEWATCH_SKIP_FUZZ=1 skip the bounded fuzzing that follows a whole-suite run
#   LANEWATCH_FUZZ_SECONDS seconds per fuzz target (default 60)
#   LANEWATCH_KEEP_TMP=1  keep the temp dir (broker config, data and logs) afterwards
#   LANEWATCH_CACHE       cache root for the Kafka jars (default ~/.cache/lanewatch)
#
# Exported for the tests:
#   LANEWATCH_TEST_BROKERS    bootstrap servers of the real Kafka broker (127.0.0.1:PORT)
#   LANEWATCH_TEST_KAFKA_DIR  that broker's dir (for `$LANEWATCH_KAFKA_SH stop|start|restart DIR`)
#   LANEWATCH_KAFKA_SH        absolute path of tests/kafka/kafka.sh
#   LANEWATCH_TEST_TMP        scratch dir removed afterwards; brokers started under it are stopped
#   LANEWATCH_TEST_REQUIRE_ALL=1  no test is left out: one that finds Kafka, Prometheus,
#                             Chromium, tmux or axe-core missing fails (a plain `cargo test`
#                             leaves those tests out and names them)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_SH="$ROOT/tests/kafka/kafka.sh"
DEBIAN_PACKAGES=(kcat prometheus prometheus-alertmanager chromium tmux)
T_START=$(date +%s)

section() { printf '\n==== %s ==== (+%ss)\n' "$*" "$(($(date +%s) - T_START))"; }
die() { printf '\nERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
section "Debian packages: ${DEBIAN_PACKAGES[*]}"
is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}
ensure_packages() {
  local missing=() p
  for p in "$@"; do is_installed "$p" || missing+=("$p"); done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "all installed"
    return 0
  fi
  echo "missing: ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  # Keep the packages' own services (prometheus, alertmanager, node-exporter) from being
  # started by apt: the tests run their own instances on free ports.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod +x "$policy"
    made_policy=1
  fi
  local rc=0
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
  if [[ $rc -eq 0 ]]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" || rc=$?
  fi
  if [[ $made_policy -eq 1 ]]; then "${sudo[@]}" rm -f "$policy"; fi
  [[ $rc -eq 0 ]] || die "apt-get could not install: ${missing[*]}"
  for p in "${missing[@]}"; do is_installed "$p" || die "package $p still not installed"; done
}
ensure_packages "${DEBIAN_PACKAGES[@]}"
for tool in kcat prometheus promtool prometheus-alertmanager chromium tmux; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not on PATH after installing the packages"
done
# npm installs axe-core for the board's accessibility pass (tests/it/support/axe.rs). The
# machine's Node.js (NodeSource's nodejs) brings its own npm, which Debian's npm package
# conflicts with: only a machine without npm gets Debian's.
if ! command -v npm >/dev/null 2>&1; then
  ensure_packages npm
  command -v npm >/dev/null 2>&1 || die "'npm' not on PATH after installing Debian's npm"
fi

# ---------------------------------------------------------------------------------------
section "Toolchain"
command -v java >/dev/null 2>&1 || die "java not found: install Java 17 (apt-get install openjdk-17-jdk-headless)"
java_version="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
[[ "${java_version%%.*}" =~ ^[0-9]+$ && "${java_version%%.*}" -ge 17 ]] \
  || die "Kafka 4.1 needs Java 17 or newer, found '${java_version:-unknown}'"
command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven (apt-get install maven)"
command -v python3 >/dev/null 2>&1 || die "python3 not found (used to pick free ports)"
if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  export PATH="$HOME/.cargo/bin:$PATH" # rustup's default place, not on a non-login PATH
fi
if [[ -z "${LANEWATCH_TEST_CMD:-}" ]]; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) and put ~/.cargo/bin on PATH"
  if [[ "${LANEWATCH_SKIP_LINT:-0}" != 1 ]]; then
    cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"
  fi
fi
echo "java $java_version, $(command -v mvn), $(command -v python3)${LANEWATCH_TEST_CMD:+, cargo steps replaced by LANEWATCH_TEST_CMD}"

# ---------------------------------------------------------------------------------------
section "axe-core (npm) for the board's accessibility pass"
AXE_PREFIX="${LANEWATCH_CACHE:-$HOME/.cache/lanewatch}/axe"
if [[ ! -f "$AXE_PREFIX/node_modules/axe-core/axe.min.js" ]]; then
  npm install --no-audit --no-fund --prefix "$AXE_PREFIX" axe-core@4 \
    || die "npm could not install axe-core (is the npm registry reachable?)"
fi
echo "axe-core $(sed -n 's/^ *"version": "\(.*\)",/\1/p' "$AXE_PREFIX/node_modules/axe-core/package.json" | head -n1) in $AXE_PREFIX"

# ---------------------------------------------------------------------------------------
section "Kafka: fetch jars"
bash "$KAFKA_SH" fetch

section "Kafka: start broker"
TEST_TMP="$(mktemp -d "${TMPDIR:-/tmp}/lanewatch-test.XXXXXX")"
KAFKA_DIR="$TEST_TMP/kafka"

cleanup() {
  local rc=$? d
  trap - EXIT INT TERM HUP
  section "Cleanup"
  # The suite's broker, and any other broker a test started under the temp dir.
  if [[ -d "$TEST_TMP" ]]; then
    while IFS= read -r d; do
      bash "$KAFKA_SH" stop "$(dirname "$d")" || true
    done < <(find "$TEST_TMP" -name kafka.pid 2>/dev/null)
    if [[ $rc -ne 0 && -s "$KAFKA_DIR/kafka.log" ]]; then
      echo "--- broker warnings/errors (last 20 lines of $KAFKA_DIR/kafka.log) ---"
      grep -vE '^[[:space:]]+(at |\.\.\. [0-9]+ more)' "$KAFKA_DIR/kafka.log" | tail -n 20 || true
    fi
    if [[ "${LANEWATCH_KEEP_TMP:-0}" == 1 ]]; then
      echo "kept $TEST_TMP"
    else
      rm -rf "$TEST_TMP"
      echo "removed $TEST_TMP"
    fi
  fi
  echo "exit status $rc, total $(($(date +%s) - T_START))s"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

t0=$(date +%s)
bash "$KAFKA_SH" start "$KAFKA_DIR"
echo "broker up in $(($(date +%s) - t0))s at $(cat "$KAFKA_DIR/bootstrap")"

export LANEWATCH_TEST_BROKERS
LANEWATCH_TEST_BROKERS="$(cat "$KAFKA_DIR/bootstrap")"
export LANEWATCH_TEST_KAFKA_DIR="$KAFKA_DIR"
export LANEWATCH_KAFKA_SH="$KAFKA_SH"
export LANEWATCH_TEST_TMP="$TEST_TMP"
export LANEWATCH_CACHE="${LANEWATCH_CACHE:-$HOME/.cache/lanewatch}"
export LANEWATCH_TEST_REQUIRE_ALL=1
echo "LANEWATCH_TEST_BROKERS=$LANEWATCH_TEST_BROKERS"
echo "LANEWATCH_TEST_KAFKA_DIR=$LANEWATCH_TEST_KAFKA_DIR"
echo "LANEWATCH_KAFKA_SH=$LANEWATCH_KAFKA_SH"

cd "$ROOT"

if [[ -n "${LANEWATCH_TEST_CMD:-}" ]]; then
  section "Test command (LANEWATCH_TEST_CMD): $LANEWATCH_TEST_CMD"
  rc=0
  bash -c "$LANEWATCH_TEST_CMD" || rc=$?
  exit "$rc"
fi

# Split our args into cargo's and the test harness's (after a `--`).
cargo_args=()
harness_args=()
seen_dashdash=0
for a in "$@"; do
  if [[ $seen_dashdash -eq 0 && "$a" == "--" ]]; then seen_dashdash=1; continue; fi
  if [[ $seen_dashdash -eq 0 ]]; then cargo_args+=("$a"); else harness_args+=("$a"); fi
done
# --all-targets silently overrides --test/--lib/... in cargo: use it only when no target
# was selected.
target_flags=(--all-targets)
for a in "${cargo_args[@]}"; do
  case "$a" in
    --lib | --bin | --bin=* | --bins | --test | --test=* | --tests | --example | --example=* | \
      --examples | --bench | --bench=* | --benches | --doc | --all-targets)
      target_flags=()
      ;;
  esac
done

export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

if [[ "${LANEWATCH_SKIP_LINT:-0}" != 1 ]]; then
  section "cargo fmt --all --check"
  cargo fmt --all --check

  section "cargo clippy --all-targets -- -D warnings"
  cargo clippy --all-targets -- -D warnings
fi

section "cargo test ${target_flags[*]} ${cargo_args[*]} -- --test-threads=2 ${harness_args[*]}"
rc=0
cargo test "${target_flags[@]}" "${cargo_args[@]}" -- --test-threads=2 "${harness_args[@]}" || rc=$?

# The whole suite also fuzzes the parsers for a bounded time (LANEWATCH_FUZZ_SECONDS).
if [[ $rc -eq 0 && ${#target_flags[@]} -gt 0 && "${LANEWATCH_SKIP_FUZZ:-0}" != 1 ]]; then
  section "cargo fuzz (bounded)"
  bash tests/fuzz/run.sh || rc=$?
fi
exit "$rc"
