#!/usr/bin/env python3
"""The baseline for tests/bench/run.sh: lane-passage metrics the way a team would write
them without lanewatch. Python with confluent-kafka, json and prometheus_client: per
event, json.loads, datetime.fromisoformat, label lookups (`.labels(...)`) on the same
per-lane histograms (passage, queue wait, inspection, headway) and counters lanewatch
exports, with the same buckets, event_id de-duplication and the same rejection reasons.
It does less than lanewatch: no event-time windows, no exact windowed quantiles, no
throughput gauges, no dead-letter topic, no at-least-once offset handling.

    baseline.py replay --input FILE [--max-events N] [--scrapes 50]
    baseline.py drain --brokers B --topic T --events N

Each prints one line of key=value figures, like `lanewatch-bench`.
"""
import argparse
import collections
import json
import resource
import statistics
import sys
import time
import urllib.request
import uuid
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

DELAY = [30, 75, 150, 262, 412, 600, 900, 1800, 3600, 7200]
QUEUE = [30, 60, 120, 300, 600, 1800]
INSPECTION = [10, 20, 30, 60, 120, 300]
HEADWAY = [10, 30, 60, 120, 300, 900]
LANE = ["checkpoint", "direction", "lane"]
MAX_PASSAGE_S = 6 * 3600
DEDUP_CAPACITY = 1_000_000


class Lanes:
    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.received = Counter("lanewatch_events_received", "Messages received.", registry=r)
        self.rejected = Counter("lanewatch_events_rejected", "Rejected, by reason.", ["reason"], registry=r)
        self.duplicates = Counter("lanewatch_events_duplicate", "Duplicates.", registry=r)
        self.passages = Counter("lanewatch_passages", "Vehicles that passed.", LANE, registry=r)
        self.passage = Histogram("lanewatch_passage_duration_seconds", "Passage time.", LANE, buckets=DELAY, registry=r)
        self.queue = Histogram("lanewatch_queue_wait_seconds", "Queue wait.", LANE, buckets=QUEUE, registry=r)
        self.inspection = Histogram("lanewatch_inspection_duration_seconds", "Inspection.", LANE, buckets=INSPECTION, registry=r)
        self.headway = Histogram("lanewatch_departure_headway_seconds", "Headway.", LANE, buckets=HEADWAY, registry=r)
        self.last_departure = Gauge("lanewatch_lane_last_departure_timestamp_seconds", "Newest departure.", LANE, registry=r)
        self.newest = Gauge("lanewatch_newest_event_timestamp_seconds", "Newest event.", registry=r)
        self.last_dep = {}
        self.newest_ts = float("-inf")
        self.seen = set()
        self.seen_order = collections.deque()

    def apply(self, raw):
        self.received.inc()
        try:
            ev = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self.rejected.labels("invalid_json").inc()
            return
        try:
            event_id = ev["event_id"]
            lane = (ev["checkpoint"], ev["direction"], ev["lane"])
            arrived = ts(ev["arrived_at"])
            departed = ts(ev["departed_at"])
            insp = ev.get("inspection_started_at")
            insp = ts(insp) if insp is not None else None
        except KeyError:
            self.rejected.labels("missing_field").inc()
            return
        except (ValueError, TypeError):
            self.rejected.labels("invalid_field").inc()
            return
        if departed < arrived:
            self.rejected.labels("departed_before_arrived").inc()
            return
        if insp is not None and not arrived <= insp <= departed:
            self.rejected.labels("inspection_out_of_range").inc()
            return
        if departed - arrived > MAX_PASSAGE_S:
            self.rejected.labels("passage_too_long").inc()
            return
        if event_id in self.seen:
            self.duplicates.inc()
            return
        self.seen.add(event_id)
        self.seen_order.append(event_id)
        if len(self.seen_order) > DEDUP_CAPACITY:
            self.seen.discard(self.seen_order.popleft())
        self.passages.labels(*lane).inc()
        self.passage.labels(*lane).observe(departed - arrived)
        if insp is not None:
            self.queue.labels(*lane).observe(insp - arrived)
            self.inspection.labels(*lane).observe(departed - insp)
        prev = self.last_dep.get(lane)
        if prev is None or departed >= prev:
            if prev is not None:
                self.headway.labels(*lane).observe(departed - prev)
            self.last_dep[lane] = departed
            self.last_departure.labels(*lane).set(departed)
        if departed > self.newest_ts:
            self.newest_ts = departed
            self.newest.set(departed)


def ts(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v / 1000.0
    return datetime.fromisoformat(v).timestamp()


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def quantile(v, q):
    v = sorted(v)
    return v[max(1, min(len(v), int(-(-q * len(v) // 1)))) - 1]


def replay(a):
    lanes = Lanes()
    n = 0
    t = time.perf_counter()
    with open(a.input, "rb") as f:
        for line in f:
            if a.max_events and n >= a.max_events:
                break
            if line.strip():
                lanes.apply(line)
                n += 1
    secs = time.perf_counter() - t
    out = f"bench=baseline_replay events={n} seconds={secs:.3f} events_per_second={n / secs:.0f}"
    if a.scrapes:
        server, _ = start_http_server(0, addr="127.0.0.1", registry=lanes.registry)
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        body = urllib.request.urlopen(url).read()  # warm-up
        ms = []
        for _ in range(a.scrapes):
            t = time.perf_counter()
            body = urllib.request.urlopen(url).read()
            ms.append((time.perf_counter() - t) * 1000)
        server.shutdown()
        out += (f" lanes_exported={len(lanes.last_dep)} body_bytes={len(body)} scrapes={a.scrapes}"
                f" scrape_ms_p50={statistics.median(ms):.2f} scrape_ms_p99={quantile(ms, 0.99):.2f}")
    print(out + f" peak_rss_mib={peak_rss_mib():.1f}", flush=True)


def drain(a):
    from confluent_kafka import Consumer, KafkaException

    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    lanes = Lanes()
    c = Consumer({
        "bootstrap.servers": a.brokers,
        "group.id": f"baseline-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
    })
    c.subscribe([a.topic])
    n = 0
    first = None
    last_progress = time.perf_counter()
    while n < a.events:
        msgs = c.consume(num_messages=1000, timeout=1.0)
        now = time.perf_counter()
        if not msgs:
            if now - last_progress > 60:
                sys.exit(f"baseline drain: {n} of {a.events} events, none for 60 s")
            continue
        last_progress = now
        if first is None:
            first = now
        for m in msgs:
            if m.error():
                raise KafkaException(m.error())
            lanes.apply(m.value())
            n += 1
    end = time.perf_counter()
    cpu = cpu_seconds() - cpu0
    c.close()
    print(f"bench=baseline_drain topic={a.topic} events={n} seconds={end - t0:.3f} events_per_second={n / (end - t0):.0f}"
          f" seconds_from_first={end - first:.3f} events_per_second_from_first={n / (end - first):.0f}"
          f" cpu_seconds={cpu:.2f} cpu_seconds_per_million={cpu / n * 1e6:.3f} peak_rss_mib={peak_rss_mib():.1f}",
          flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("replay")
    r.add_argument("--input", required=True)
    r.add_argument("--max-events", type=int, default=0)
    r.add_argument("--scrapes", type=int, default=0)
    d = sub.add_parser("drain")
    d.add_argument("--brokers", required=True)
    d.add_argument("--topic", required=True)
    d.add_argument("--events", type=int, required=True)
    a = p.parse_args()
    replay(a) if a.cmd == "replay" else drain(a)


if __name__ == "__main__":
    main()
