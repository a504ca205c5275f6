#!/usr/bin/env python3
"""What any LaneStalled rule that reads departures can achieve (issue #11's page targets).

From departure events alone, a closed car lane and a car lane inspecting one vehicle
for a long time look the same until that vehicle leaves. A sound rule pages a silent
lane only once it has been busy (or closed) for longer than some bound B, and the
earliest moment the events prove it busy is the arrival of the first vehicle that
passed it over while no lane was free (it waited in another lane's queue: drivers take
the shortest queue), or of the (neighbours + 1)-th vehicle that passed it over (more
than the lanes that could have been free longer). This is the most any departure-only
rule knows; it pages once the lane's silence from that moment exceeds B. This script measures, from simulated days (the
simulator's own events, read independently of lanewatch's code), the two sides of
that trade-off for every B:

- incident-free days: each car-lane silence that ended with a departure, counted
  from that moment: a rule with bound B pages falsely on every one longer than B;
- days with the pages study's car-lane closures: a rule with bound B pages no earlier
  than B after that moment following the closed lane's last departure (its queue is
  still served after the closure starts).

Both are lower bounds on what a rule sees (the rule also waits for the passers to
leave and for Prometheus' 15 s evaluation), so a B that fails here fails for every
departure-only rule. Days, seeds and closures are those of tests/it/pages.

A second table answers what the first leaves open (issue #11's decision): the same
trade-off if sensors also sent an event when an inspection starts (a DESIGN §1 schema
change, not built). A lane inspecting is then known busy, so a silence is an idle
spell (from a departure to the next inspection start), and a passer is known when its
inspection starts (such an event would carry its arrival, so whether it waited).

    tests/bench/pages_frontier.py --lanewatch target/release/lanewatch --seeds 23,24,25
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import tomllib
from bisect import bisect_right
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES_TEST = ROOT / "tests/it/pages/mod.rs"


def closures():
    """The pages study's closures, read from its test (one list for both)."""
    text = PAGES_TEST.read_text()
    block = re.search(r"const CLOSURES: &\[&str\] = &\[(.*?)\];", text, re.S)
    if not block:
        sys.exit(f"no CLOSURES list in {PAGES_TEST}")
    return re.findall(r'"([^"]+)"', block.group(1))


CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, tzinfo=CST)
CAR_CLASSES = {"car", "van", "motorcycle"}
# The simulator's approach time (src/simulate/model.rs): a vehicle whose inspection
# started later than this after its arrival waited in a queue.
APPROACH_MS = 5_000


def ms(s):
    return int(datetime.fromisoformat(s).timestamp() * 1000)


def car_lanes():
    """Car lanes of the shipped registry, with their neighbours: the other lanes of
    their direction that take cars (car or mixed)."""
    reg = tomllib.loads((ROOT / "config/checkpoints.toml").read_text())
    out = {}
    for cp in reg["checkpoint"]:
        groups = cp.get("lane", [])
        for group in groups:
            if group["kind"] != "car":
                continue
            takers = sum(len(g["ids"]) for g in groups
                         if g["direction"] == group["direction"] and g["kind"] in ("car", "mixed"))
            for lane in group["ids"]:
                out[(cp["id"], group["direction"], lane)] = takers - 1
    return out


def simulate(lw, seed, day_start, incidents, path):
    cmd = [lw, "simulate", "--start", day_start.isoformat(), "--duration", "24h",
           "--seed", str(seed), "--speed", "max", "-o", str(path)]
    for i in incidents:
        cmd += ["--incident", i.removesuffix(":close")]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    by_lane = defaultdict(list)
    for line in open(path):
        e = json.loads(line)
        arrived = ms(e["arrived_at"])
        waited = ms(e["inspection_started_at"]) > arrived + APPROACH_MS
        by_lane[(e["checkpoint"], e["direction"], e["lane"])].append(
            (ms(e["departed_at"]), arrived, e.get("vehicle_class", "car"), waited,
             ms(e["inspection_started_at"])))
    for v in by_lane.values():
        v.sort()
    return by_lane


def passers(by_lane, key, starts=False):
    """(arrival, waited, known at) of the vehicles a car lane could have taken that
    left by another lane of its direction, sorted by arrival. Known at: the vehicle's
    departure (its event), or with `starts` the start of its inspection (an event then
    would carry its arrival and so whether it waited)."""
    cp, d, _ = key
    return sorted((a, w, st if starts else t) for k, v in by_lane.items() if k[:2] == (cp, d) and k != key
                  for (t, a, c, w, st) in v if c in CAR_CLASSES)


def evidence(arr, neighbours, after, until):
    """What proves a lane that was free at `after` busy since some moment: (since,
    known at) for each passer arriving later that waited (known when it leaves), and
    for the (neighbours + 1)-th passer (known when the first neighbours + 1 have
    left); only passers arriving before `until`."""
    i = bisect_right(arr, (after, True, float("inf")))
    out = []
    first = arr[i:i + neighbours + 1]
    if len(first) == neighbours + 1 and first[-1][0] < until:
        out.append((first[-1][0], max(t for (_, _, t) in first)))
    for (a, w, t) in arr[i:]:
        if a >= until or (out and a >= out[0][0]):
            break
        if w:
            out.append((a, t))
    return out


def page_at(ev, bound_ms):
    """The earliest page a rule with this bound gives on this evidence (or None)."""
    return min((max(since + bound_ms, known) for (since, known) in ev), default=None)


def silences(by_lane, cars, starts=False):
    """Per car lane: each silence between two departures that the passers prove
    busy: (its end, the evidence). With `starts`, a silence is an idle spell instead:
    from a departure to the next inspection start (a lane inspecting is known busy)."""
    out = []
    for key in cars.keys() & by_lane.keys():
        arr = passers(by_lane, key, starts)
        deps = by_lane[key]
        for (d0, *_), (d1, *rest) in zip(deps, deps[1:]):
            end = rest[-1] if starts else d1
            if end <= d0:
                continue
            ev = evidence(arr, cars[key], d0, end)
            if ev:
                out.append((end, ev, key))
    return out


def closure_floor(by_lane, cars, spec, day_start, starts=False):
    """The earliest a rule can page a closure: the passers after the closed lane's
    last departure (known when they leave, or with `starts` when their inspection
    starts), relative to the closure start (ms)."""
    lane, rest = spec.split("@")
    cp, d, l = lane.split("/")
    hhmm, dur = rest.split(":close")[0].split("+")
    start = int((day_start + timedelta(hours=int(hhmm[:2]), minutes=int(hhmm[3:]))).timestamp() * 1000)
    end = start + int(dur.removesuffix("m")) * 60_000
    deps = [t for (t, *_) in by_lane[(cp, d, l)] if start <= t < end]
    last = deps[0] if deps else start
    # The closed lane still serves its queue: its departures until the first gap of
    # more than ten minutes are that queue.
    for t in deps[1:]:
        if t - last > 600_000:
            break
        last = t
    ev = evidence(passers(by_lane, (cp, d, l), starts), cars[(cp, d, l)], max(last, start), end)
    return start, ev, last - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lanewatch", default=str(ROOT / "target/release/lanewatch"))
    ap.add_argument("--seeds", default="23,24,25")
    ap.add_argument("--days", type=int, default=3, help="days of each kind per seed")
    a = ap.parse_args()
    cars = car_lanes()
    specs = closures()
    quiet, found = {False: [], True: []}, {False: [], True: []}
    seeds = [int(s) for s in a.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "day.jsonl"
        for seed in seeds:
            for k in range(a.days):
                for kind in ("quiet", "closures"):
                    day = T0 + timedelta(days=2 * k + (kind == "closures"))
                    inc = specs if kind == "closures" else []
                    by_lane = simulate(a.lanewatch, seed * 100 + k, day, inc, f)
                    for st in (False, True):
                        if kind == "quiet":
                            quiet[st] += [(end, ev, key, seed * 100 + k)
                                          for (end, ev, key) in silences(by_lane, cars, st)]
                        else:
                            found[st] += [(closure_floor(by_lane, cars, c, day, st), seed * 100 + k, c)
                                          for c in specs]
    print(f"{len(seeds)} seeds x {a.days} days of each kind: {len(quiet[False])} car-lane silences "
          f"proven busy on incident-free days, {len(found[False])} closures")
    qc = sorted(c[0][2] / 1000 for c in found[False])
    print(f"closed lane's queue served for (s): median {qc[len(qc) // 2]:.0f}, max {qc[-1]:.0f}")
    print("\nFrom departure events (the event schema of DESIGN §1):")
    table(quiet[False], found[False], range(90, 301, 15))
    print("\nIf sensors also sent an event when an inspection starts (not built: a schema change).")
    print("A silence is then an idle spell, and a passer is known when its inspection starts:")
    print(f"{len(quiet[True])} idle spells proven busy on incident-free days")
    table(quiet[True], found[True], range(15, 181, 15))
    return 0


def table(quiet, found, bounds):
    """False pages and late closure pages for each bound."""
    print(f"{'bound B (s)':>12} {'false pages':>12} {'closures paged after 5 min':>27} {'latest closure page (min)':>26}")
    ok = []
    for b in bounds:
        fps = sorted((seed, key, end) for (end, ev, key, seed) in quiet
                     if (p := page_at(ev, b * 1000)) is not None and p < end)
        delays = [(page_at(ev, b * 1000) or float("inf")) - start for ((start, ev, _), *_) in found]
        late = sum(1 for x in delays if x > 300_000)
        print(f"{b:>12} {len(fps):>12} {late:>27} {max(delays) / 60_000:>26.2f}")
        if not fps and not late:
            ok.append(b)
        if b in (120, 180):
            for (seed, key, end) in fps[:4]:
                print(f"{'':>14}false page: {'/'.join(key)} seed {seed} silence ending "
                      f"{datetime.fromtimestamp(end / 1000, CST):%H:%M:%S}")
    print("bounds meeting both targets: " + (", ".join(map(str, ok)) if ok else "none"))


if __name__ == "__main__":
    sys.exit(main())
