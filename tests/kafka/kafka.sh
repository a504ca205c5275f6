#!/usr/bin/env bash
# Real Apache Kafka broker (single combined KRaft node) for the lanewatch test suite.
# See README, Layout (integration tests run against a real broker).
#
#   kafka.sh fetch           resolve the broker jars from Maven Central into the cache (once)
#   kafka.sh start DIR       start a broker whose config, data, logs and pid live in DIR;
#                            reuses DIR/server.properties and formatted data when present
#   kafka.sh stop DIR        SIGTERM, wait up to 20 s, then SIGKILL
#   kafka.sh restart DIR     stop, then start again on the same ports and data
#   kafka.sh status DIR      exit 0 when the broker process of DIR is running
#
# Files in DIR: server.properties, log4j2.xml, data/, kafka.log (stdout/stderr: warnings
# and errors), server.log (full INFO log), kafka.pid, bootstrap ("127.0.0.1:PORT").
#
# Environment:
#   LANEWATCH_CACHE        cache root (default $HOME/.cache/lanewatch)
#   KAFKA_HEAP_OPTS        JVM heap flags (default -Xmx512m -Xms512m)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer metadata (default 90)
#   KAFKA_SSL_KEYSTORE_PEM a PEM file (PKCS#8 key + certificate chain): also listen with
#                          TLS on a third port, written to DIR/bootstrap_ssl
set -euo pipefail

KAFKA_VERSION=4.1.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${LANEWATCH_CACHE:-$HOME/.cache/lanewatch}/kafka-$KAFKA_VERSION"
LIBS="$CACHE/libs"
MARKER="$CACHE/.fetched"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=20

log() { printf '[kafka.sh] %s\n' "$*"; }
err() { printf '[kafka.sh] ERROR: %s\n' "$*" >&2; }
die() { printf '[kafka.sh] ERROR: %s\n' "$*" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

# ---------------------------------------------------------------------------------------
cmd_fetch() {
  if [[ -f "$MARKER" ]]; then
    log "jars already in $LIBS"
    return 0
  fi
  need mvn "install Maven: apt-get install maven"
  need java "install Java 17: apt-get install openjdk-17-jre-headless"
  mkdir -p "$CACHE"
  # Two suites fetching at once must not interleave: serialize on a lock file.
  exec 9>"$CACHE/.lock"
  flock 9
  if [[ -f "$MARKER" ]]; then
    log "jars already in $LIBS"
    exec 9>&-
    return 0
  fi
  local tmp="$CACHE/libs.tmp.$$"
  rm -rf "$tmp"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime dependencies with mvn"
  if ! mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$CACHE/mvn.log" 2>&1; then
    tail -n 40 "$CACHE/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn could not resolve the Kafka jars (is Maven Central reachable? log: $CACHE/mvn.log)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"; }
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  date -u +%FT%TZ >"$MARKER"
  log "fetched $(ls "$LIBS" | wc -l) jars into $LIBS"
  exec 9>&-
}

# ---------------------------------------------------------------------------------------
free_ports() { # prints three distinct free loopback ports, below the ephemeral range
  # Not from the kernel's ephemeral range (port 0): while a broker is stopped for a
  # restart, an outgoing connection could take its port as a source port, even the
  # client's own reconnect (a TCP self-connect on loopback), which then talks to itself
  # and never sees the restarted broker (an outage test hung that way).
  python3 - <<'EOF'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
socks = []
while len(socks) < 3:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", random.randrange(10000, max(low, 10001))))
        socks.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

cluster_id() { # 22-char base64url of 16 random bytes; like Kafka's Uuid.randomUuid() never
  # starting with "-", which the StorageTool's argument parser would take for an option.
  python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
'
}

prop() { # prop FILE KEY
  sed -n "s/^$2=//p" "$1" | tail -n1
}

write_properties() { # DIR PORT CPORT SPORT
  local dir="$1" port="$2" cport="$3" sport="$4"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protomap="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ -n "${KAFKA_SSL_KEYSTORE_PEM:-}" ]]; then
    listeners="$listeners,SSL://127.0.0.1:$sport"
    advertised="$advertised,SSL://127.0.0.1:$sport"
    protomap="$protomap,SSL:SSL"
  fi
  cat >"$dir/server.properties" <<EOF
# Written by tests/kafka/kafka.sh: single combined KRaft node for the lanewatch tests.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protomap
log.dirs=$dir/data

num.partitions=4
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0

# 10 MB test messages must fit (librdkafka clients default to 1 MB: raise theirs too).
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
socket.request.max.bytes=104857600

num.network.threads=2
num.io.threads=4
# No time retention: the tests write events with Kafka timestamps from past days, which a
# 7-day retention check (every 5 minutes) deleted in the middle of a test.
log.retention.ms=-1
log.segment.bytes=268435456
EOF
  if [[ -n "${KAFKA_SSL_KEYSTORE_PEM:-}" ]]; then
    # TLS listener (tests of Kafka over TLS): a PEM file with the unencrypted PKCS#8
    # key and the certificate chain.
    cat >>"$dir/server.properties" <<EOF

ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_SSL_KEYSTORE_PEM
EOF
    echo "127.0.0.1:$sport" >"$dir/bootstrap_ssl"
  fi
}

write_log4j() { # DIR
  local dir="$1"
  cat >"$dir/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by tests/kafka/kafka.sh: full INFO log to server.log, WARN+ also to stdout
     (which kafka.sh sends to kafka.log). -->
<Configuration status="warn" shutdownHook="disable">
  <Appenders>
    <Console name="stdout" target="SYSTEM_OUT">
      <ThresholdFilter level="WARN" onMatch="ACCEPT" onMismatch="DENY"/>
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
    <File name="server" fileName="$dir/server.log" append="true">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="INFO">
      <AppenderRef ref="stdout"/>
      <AppenderRef ref="server"/>
    </Root>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.controller" level="INFO"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.authorizer.logger" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

pid_of() { # DIR -> prints pid if the broker of DIR is running
  local dir="$1" pid
  [[ -f "$dir/kafka.pid" ]] || return 1
  pid="$(cat "$dir/kafka.pid")"
  [[ -n "$pid" ]] || return 1
  # Guard against a recycled pid: the process must be the java running DIR's config.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/server.properties"; then
    echo "$pid"
    return 0
  fi
  return 1
}

answers_metadata() { # BOOTSTRAP
  if command -v kcat >/dev/null 2>&1; then
    timeout 10 kcat -b "$1" -L -m 5 >/dev/null 2>&1
  else
    # Without kcat: port open and the broker logged that startup finished.
    python3 -c "import socket,sys;h,p=sys.argv[1].rsplit(':',1);socket.create_connection((h,int(p)),2).close()" "$1" 2>/dev/null \
      && grep -q 'Kafka Server started' "$2/server.log" 2>/dev/null
  fi
}

# Logs of the current launch only: launch() records where kafka.log/server.log ended before.
new_part() { # DIR FILE
  local off=0
  [[ -f "$1/.$2.offset" ]] && off="$(cat "$1/.$2.offset")"
  tail -c "+$((off + 1))" "$1/$2" 2>/dev/null || true
}

show_logs() { # DIR: this launch's log tails, Java stack frames left out
  local dir="$1"
  echo "----- $dir/kafka.log (warnings and errors of this start, last 25 lines) -----" >&2
  new_part "$dir" kafka.log | grep -vE '^[[:space:]]+(at |\.\.\. [0-9]+ more)' | tail -n 25 >&2 || true
  echo "----- $dir/server.log (last 10 lines) -----" >&2
  new_part "$dir" server.log | grep -vE '^[[:space:]]+(at |\.\.\. [0-9]+ more)' | tail -n 10 >&2 || true
  echo "-----" >&2
}

failure_reason() { # DIR: the most specific exception messages this launch logged, on one line
  new_part "$1" kafka.log | python3 -c '
import re, sys
causes, msgs = [], []
for line in sys.stdin:
    m = re.match(r"^(Caused by: )?(?:[\w.$]+(?:Exception|Error)|[\w-]+: error): (.*)$", line.strip())
    if m:
        (causes if m.group(1) else msgs).append(m.group(2))
msgs = list(dict.fromkeys(causes or msgs))
# first-logged root causes, leaving out those contained in a more detailed one
msgs = [m for m in msgs if not any(m != o and m in o for o in msgs)]
print("; ".join(msgs[:2])[:300] or "no exception logged, see the logs above")
'
}

launch() { # DIR -> 0 ready, 1 failed, 2 failed with "address in use"
  local dir="$1" libs bootstrap pid t0 now
  libs="$(cat "$dir/libs_dir")"
  bootstrap="127.0.0.1:$(prop "$dir/server.properties" listeners | sed -n 's/.*PLAINTEXT:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p')"
  echo "$bootstrap" >"$dir/bootstrap"
  local f
  for f in kafka.log server.log; do
    stat -c %s "$dir/$f" 2>/dev/null >"$dir/.$f.offset" || echo 0 >"$dir/.$f.offset"
  done

  if [[ ! -f "$dir/data/meta.properties" ]]; then
    rm -rf "$dir/data"
    local cid
    cid="$(cluster_id)"
    if ! java -Xmx256m -Dlog4j2.configurationFile="$dir/log4j2.xml" -cp "$libs/*" \
        kafka.tools.StorageTool format --standalone --cluster-id="$cid" -c "$dir/server.properties" \
        >>"$dir/kafka.log" 2>&1; then
      show_logs "$dir"
      err "formatting Kafka storage in $dir/data failed: $(failure_reason "$dir")"
      return 1
    fi
    echo "$cid" >"$dir/cluster_id"
  fi

  # Not detached (no setsid): the broker stays in the caller's process group, so a
  # group-wide kill of the test run takes it down too. Output goes to files only.
  # shellcheck disable=SC2086
  java ${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m} \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.xml" -Dkafka.logs.dir="$dir" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/kafka.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/kafka.pid"

  t0=$(date +%s)
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_logs "$dir"
      err "Kafka broker in $dir exited during start-up: $(failure_reason "$dir")"
      if new_part "$dir" kafka.log | grep -q 'Address already in use'; then
        return 2
      fi
      return 1
    fi
    if answers_metadata "$bootstrap" "$dir"; then
      now=$(date +%s)
      log "broker ready at $bootstrap (pid $pid, dir $dir, $((now - t0)) s)"
      return 0
    fi
    now=$(date +%s)
    if (( now - t0 >= START_TIMEOUT )); then
      kill -KILL "$pid" 2>/dev/null || true
      show_logs "$dir"
      err "Kafka broker in $dir did not answer metadata on $bootstrap within ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
}

cmd_start() {
  [[ $# -eq 1 ]] || die "usage: kafka.sh start DIR"
  need java "install Java 17: apt-get install openjdk-17-jre-headless"
  need python3 "needed to pick free ports"
  local dir pid
  dir="$(abs_dir "$1")"
  if pid="$(pid_of "$dir")"; then
    log "broker of $dir already running (pid $pid) at $(cat "$dir/bootstrap")"
    return 0
  fi
  if [[ ! -f "$dir/libs_dir" ]]; then
    [[ -f "$MARKER" ]] || die "Kafka jars not fetched: run '$0 fetch' first"
    echo "$LIBS" >"$dir/libs_dir"
  fi
  [[ -d "$(cat "$dir/libs_dir")" ]] || die "Kafka jars missing in $(cat "$dir/libs_dir"): run '$0 fetch'"
  [[ -f "$dir/log4j2.xml" ]] || write_log4j "$dir"

  if [[ -f "$dir/server.properties" ]]; then
    # Restart: same ports, same data.
    launch "$dir" && return 0
    die "Kafka broker failed to start in $dir (reason above)"
  fi

  local attempt rc ports
  for attempt in 1 2 3; do
    read -r -a ports <<<"$(free_ports)"
    write_properties "$dir" "${ports[0]}" "${ports[1]}" "${ports[2]}"
    rc=0
    launch "$dir" || rc=$?
    [[ $rc -eq 0 ]] && return 0
    [[ $rc -eq 2 ]] || break
    # A port picked was taken before the broker bound it: new ports, fresh storage
    # (the standalone format records the controller's endpoint).
    log "port collision on attempt $attempt, retrying with new ports"
    rm -rf "$dir/data" "$dir/server.properties" "$dir/kafka.pid"
  done
  die "Kafka broker failed to start in $dir (reason above)"
}

cmd_stop() {
  [[ $# -eq 1 ]] || die "usage: kafka.sh stop DIR"
  local dir pid i
  [[ -d "$1" ]] || { log "no such dir $1: nothing to stop"; return 0; }
  dir="$(cd "$1" && pwd)"
  if ! pid="$(pid_of "$dir")"; then
    log "broker of $dir not running"
    rm -f "$dir/kafka.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker pid $pid still running after ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/kafka.pid"
  log "broker of $dir stopped (pid $pid)"
}

cmd_restart() {
  [[ $# -eq 1 ]] || die "usage: kafka.sh restart DIR"
  cmd_stop "$1"
  cmd_start "$1"
}

cmd_status() {
  [[ $# -eq 1 ]] || die "usage: kafka.sh status DIR"
  local dir pid
  [[ -d "$1" ]] || return 1
  dir="$(cd "$1" && pwd)"
  if pid="$(pid_of "$dir")"; then
    echo "running pid $pid at $(cat "$dir/bootstrap")"
  else
    echo "stopped"
    return 1
  fi
}

case "${1:-}" in
  fetch) shift; cmd_fetch "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) echo "usage: $0 {fetch|start DIR|stop DIR|restart DIR|status DIR}" >&2; exit 2 ;;
esac
