//! The replayed metrics as timestamped OpenMetrics samples, for
//! `promtool tsdb create-blocks-from openmetrics FILE DIR`: the same metric names and
//! labels as the live `/metrics`. Counters and classic histogram buckets (cumulative by
//! event time) and window gauges get one sample per lane at the end of every report
//! window; the gauges the alert rules read — each lane's newest departure and queue
//! length, each checkpoint direction's congestion analysis — one sample a minute, as a
//! scrape would have seen them: a value from when a live service reading the events in
//! departure order would have published it (the window's close, the advice's time).
//! Then `# EOF`.

use std::io::{self, Write};

use super::observer::{BucketWindow, ReplayObserver, SLOT_MS};
use super::report::{LaneReport, Report};
use crate::lanes::{CheckpointWindow, window_label};

/// Prometheus keeps the newest data in its head block, which a backfill must not
/// overlap: samples newer than this (3 hours) are left out.
pub const HEAD_BLOCK_MS: i64 = 3 * 3600 * 1000;

fn labels(l: &LaneReport) -> String {
    format!(
        "checkpoint=\"{}\",direction=\"{}\",lane=\"{}\"",
        l.checkpoint,
        l.direction.as_str(),
        l.lane
    )
}

/// Write the file; samples with a timestamp after `cutoff_ms` are left out. Returns the
/// number of samples left out.
pub fn write(
    r: &Report,
    obs: &ReplayObserver,
    cutoff_ms: i64,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let (g0, g1) = r.grid_ms;
    let w = r.window_ms;
    let ends: Vec<i64> = (g0 + w..=g1).step_by(w as usize).collect();
    let kept = ends.iter().filter(|&&e| e <= cutoff_ms).count();
    let dropped_points = (ends.len() - kept) as u64;
    let ends = &ends[..kept];
    let wl = window_label(w);
    let mut skipped = 0u64;

    writeln!(
        out,
        "# HELP lanewatch_passages Vehicles that passed the lane (accepted, de-duplicated events)."
    )?;
    writeln!(out, "# TYPE lanewatch_passages counter")?;
    for l in &r.lanes {
        let lab = labels(l);
        let d = &obs.lanes[l.id as usize];
        let mut it = d.buckets.iter().peekable();
        let mut total = 0u64;
        for &end in ends {
            while let Some(b) = it.next_if(|b| b.start_ms < end) {
                total += b.count;
            }
            writeln!(
                out,
                "lanewatch_passages_total{{{lab}}} {total} {}",
                end / 1000
            )?;
        }
        skipped += dropped_points;
    }

    let hists: [Hist; 4] = [
        (
            "lanewatch_passage_duration_seconds",
            "Passage time of a vehicle through the lane: departed_at - arrived_at.",
            obs.bucket_bounds_ms(),
            |b| (b.count, b.sum_ms, &b.buckets),
        ),
        (
            "lanewatch_queue_wait_seconds",
            "Time queued before inspection: inspection_started_at - arrived_at (events that carry it).",
            obs.queue_bounds_ms(),
            |b| (b.queue_count, b.queue_sum_ms, &b.queue_buckets),
        ),
        (
            "lanewatch_departure_headway_seconds",
            "Time between consecutive departures of the lane, in event-time order (out-of-order events give none).",
            obs.headway_bounds_ms(),
            |b| (b.headway_count, b.headway_sum_ms, &b.headway_buckets),
        ),
        (
            "lanewatch_inspection_duration_seconds",
            "Inspection time: departed_at - inspection_started_at (events that carry it).",
            obs.inspection_bounds_ms(),
            |b| {
                (
                    b.inspection_count,
                    b.inspection_sum_ms,
                    &b.inspection_buckets,
                )
            },
        ),
    ];
    for h in hists {
        skipped += write_histogram(r, obs, ends, dropped_points, h, out)?;
    }

    writeln!(
        out,
        "# HELP lanewatch_lane_throughput_per_minute Departures per minute of the lane over the event-time window."
    )?;
    writeln!(out, "# TYPE lanewatch_lane_throughput_per_minute gauge")?;
    let per_minute = 60_000.0 / w as f64;
    for l in &r.lanes {
        let lab = labels(l);
        for win in &l.windows {
            let end = win.start_ms + w;
            if end > cutoff_ms {
                skipped += 1;
                continue;
            }
            writeln!(
                out,
                "lanewatch_lane_throughput_per_minute{{{lab},window=\"{wl}\"}} {:?} {}",
                win.passages as f64 * per_minute,
                end / 1000
            )?;
        }
    }

    writeln!(
        out,
        "# HELP lanewatch_lane_passage_quantile_seconds Nearest-rank passage-time quantile over the event-time window."
    )?;
    writeln!(out, "# TYPE lanewatch_lane_passage_quantile_seconds gauge")?;
    const QS: [&str; 4] = ["0.5", "0.9", "0.95", "0.99"];
    for l in &r.lanes {
        let lab = labels(l);
        for (i, q) in QS.iter().enumerate() {
            for win in &l.windows {
                let Some(v) = win.quantiles.get(i) else {
                    continue;
                };
                let end = win.start_ms + w;
                if end > cutoff_ms {
                    skipped += 1;
                    continue;
                }
                writeln!(
                    out,
                    "lanewatch_lane_passage_quantile_seconds{{{lab},window=\"{wl}\",quantile=\"{q}\"}} {v:?} {}",
                    end / 1000
                )?;
            }
        }
    }
    skipped += write_alert_inputs(r, obs, cutoff_ms, out)?;
    writeln!(out, "# EOF")?;
    Ok(skipped)
}

/// A histogram family of the backfill: name, help, bucket bounds (ms) and a window's
/// (count, sum ms, non-cumulative bucket counts).
type Hist<'a> = (
    &'static str,
    &'static str,
    &'a [i64],
    fn(&BucketWindow) -> (u64, i64, &Vec<u64>),
);

/// One histogram family, cumulative by event time, a sample per lane at every window end.
fn write_histogram(
    r: &Report,
    obs: &ReplayObserver,
    ends: &[i64],
    dropped_points: u64,
    (name, help, bounds, pick): Hist<'_>,
    out: &mut dyn Write,
) -> io::Result<u64> {
    // `le` written as the live exposition writes it (30, not 30.0): a rule selecting
    // a bucket reads live and backfilled data alike.
    let le: Vec<String> = bounds
        .iter()
        .map(|&b| (b as f64 / 1000.0).to_string())
        .chain(["+Inf".to_string()])
        .collect();
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} histogram")?;
    let mut skipped = 0;
    let mut cum = vec![0u64; le.len()];
    for l in &r.lanes {
        let lab = labels(l);
        let d = &obs.lanes[l.id as usize];
        let mut it = d.buckets.iter().peekable();
        cum.iter_mut().for_each(|c| *c = 0);
        let (mut count, mut sum_ms) = (0u64, 0i64);
        for &end in ends {
            while let Some(b) = it.next_if(|b| b.start_ms < end) {
                let (n, sum, buckets) = pick(b);
                for (c, k) in cum.iter_mut().zip(buckets) {
                    *c += k;
                }
                count += n;
                sum_ms += sum;
            }
            let ts = end / 1000;
            let mut acc = 0;
            for (c, le) in cum.iter().zip(&le) {
                acc += c;
                writeln!(out, "{name}_bucket{{{lab},le=\"{le}\"}} {acc} {ts}")?;
            }
            writeln!(out, "{name}_count{{{lab}}} {count} {ts}")?;
            writeln!(out, "{name}_sum{{{lab}}} {:?} {ts}", sum_ms as f64 / 1000.0)?;
        }
        skipped += dropped_points * (le.len() as u64 + 2);
    }
    Ok(skipped)
}

/// One sample a minute of every gauge the alert rules read (see the module doc).
fn write_alert_inputs(
    r: &Report,
    obs: &ReplayObserver,
    cutoff_ms: i64,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let (g0, g1) = r.grid_ms;
    let minutes: Vec<i64> = (g0 + 60_000..=g1)
        .step_by(60_000)
        .filter(|&m| m <= cutoff_ms)
        .collect();
    let skipped = ((g1 - g0) / 60_000) as u64 - minutes.len() as u64;

    writeln!(
        out,
        "# HELP lanewatch_lane_last_departure_timestamp_seconds Event time (departed_at, Unix seconds) of the newest departure of the lane."
    )?;
    writeln!(
        out,
        "# TYPE lanewatch_lane_last_departure_timestamp_seconds gauge"
    )?;
    let slots: Vec<i64> = (g0 + SLOT_MS..=g1)
        .step_by(SLOT_MS as usize)
        .filter(|&m| m <= cutoff_ms)
        .collect();
    for l in &r.lanes {
        let lab = labels(l);
        let mut it = obs.lanes[l.id as usize].slots.iter().peekable();
        let mut newest = None;
        for &m in &slots {
            while let Some(&(_, t)) = it.next_if(|x| (x.0 + 1) * SLOT_MS <= m) {
                newest = Some(newest.map_or(t, |n: i64| n.max(t)));
            }
            if let Some(t) = newest {
                writeln!(
                    out,
                    "lanewatch_lane_last_departure_timestamp_seconds{{{lab}}} {:?} {}",
                    t as f64 / 1000.0,
                    m / 1000
                )?;
            }
        }
    }

    let name = "lanewatch_lane_passed_over_vehicles";
    writeln!(
        out,
        "# HELP {name} {}",
        crate::lanes::stats::PASSED_OVER_HELP
    )?;
    writeln!(out, "# TYPE {name} gauge")?;
    for l in &r.lanes {
        let lab = labels(l);
        let lane = &obs.lanes[l.id as usize];
        let first = lane
            .slots
            .first()
            .map_or(i64::MAX, |&(s, _)| (s + 1) * SLOT_MS);
        let mut it = lane.passed_over.iter().peekable();
        let mut value = 0;
        for &m in slots.iter().filter(|&&m| m >= first) {
            while let Some(&(_, v)) = it.next_if(|x| (x.0 + 1) * SLOT_MS <= m) {
                value = v;
            }
            writeln!(out, "{name}{{{lab}}} {value} {}", m / 1000)?;
        }
    }

    writeln!(
        out,
        "# HELP lanewatch_lane_queue_length_vehicles Vehicles queued at the lane by Little's law over the congestion window."
    )?;
    writeln!(out, "# TYPE lanewatch_lane_queue_length_vehicles gauge")?;
    for l in &r.lanes {
        let lab = labels(l);
        let mut known: Vec<(i64, f64)> = obs.lanes[l.id as usize]
            .windows
            .values()
            .map(|w| (w.known_at_ms, w.queue_length))
            .collect();
        known.sort_by_key(|k| k.0);
        let mut it = known.iter().peekable();
        let mut value = 0.0;
        for &m in &minutes {
            while let Some(&(_, q)) = it.next_if(|k| k.0 <= m) {
                value = q;
            }
            writeln!(
                out,
                "lanewatch_lane_queue_length_vehicles{{{lab}}} {value:?} {}",
                m / 1000
            )?;
        }
    }

    type Static = (&'static str, &'static str, fn(&LaneReport) -> f64);
    let statics: [Static; 3] = [
        (
            "lanewatch_lane_inspection_max_seconds",
            crate::lanes::stats::INSPECTION_MAX_HELP,
            |l| l.inspection_max_s,
        ),
        (
            "lanewatch_lane_kind_lanes",
            crate::lanes::stats::KIND_LANES_HELP,
            |l| l.lanes_of_kind,
        ),
        (
            "lanewatch_lane_neighbour_lanes",
            crate::lanes::stats::NEIGHBOUR_LANES_HELP,
            |l| l.neighbour_lanes,
        ),
    ];
    for (name, help, pick) in statics {
        writeln!(out, "# HELP {name} {help}")?;
        writeln!(out, "# TYPE {name} gauge")?;
        for l in &r.lanes {
            let lab = labels(l);
            for &m in &minutes {
                writeln!(out, "{name}{{{lab}}} {:?} {}", pick(l), m / 1000)?;
            }
        }
    }

    let name = "lanewatch_lane_scheduled_open";
    writeln!(
        out,
        "# HELP {name} {}",
        crate::lanes::stats::SCHEDULED_OPEN_HELP
    )?;
    writeln!(out, "# TYPE {name} gauge")?;
    for l in &r.lanes {
        let lab = labels(l);
        for &m in &minutes {
            let open = l
                .schedule
                .as_ref()
                .is_none_or(|s| crate::time::scheduled_open(s, m));
            writeln!(out, "{name}{{{lab}}} {} {}", u8::from(open), m / 1000)?;
        }
    }

    let w = r.window_ms;
    type Pick = fn(&CheckpointWindow) -> f64;
    // (family, help, advice side?, value)
    let families: [(&str, &str, bool, Pick); 10] = [
        (
            "lanewatch_checkpoint_arrival_rate_per_minute",
            "Vehicles arriving per minute (λ) in the advised window.",
            true,
            |c| c.arrival_rate,
        ),
        (
            "lanewatch_checkpoint_service_rate_per_minute",
            "Vehicles one lane clears per minute (μ) in the advised window.",
            true,
            |c| c.service_rate.unwrap_or(f64::NAN),
        ),
        (
            "lanewatch_checkpoint_open_lanes",
            "Lanes open in the advised window.",
            true,
            |c| f64::from(c.open_lanes),
        ),
        (
            "lanewatch_checkpoint_lanes",
            "Lanes the checkpoint direction has.",
            true,
            |c| f64::from(c.lanes),
        ),
        (
            "lanewatch_checkpoint_recommended_lanes",
            "Lanes Erlang C recommends for the advised window.",
            true,
            |c| f64::from(c.recommended_lanes),
        ),
        (
            "lanewatch_checkpoint_capacity_exceeded",
            "1 when even every lane cannot meet the wait target, else 0.",
            true,
            |c| f64::from(u8::from(c.capacity_exceeded)),
        ),
        (
            "lanewatch_checkpoint_wait_probability",
            "Erlang C probability of a wait over the target with the lanes open.",
            true,
            |c| c.wait_probability,
        ),
        (
            "lanewatch_checkpoint_passage_p95_seconds",
            "Nearest-rank p95 passage time of the direction in the newest closed window (NaN: no passages).",
            false,
            |c| c.p95_s.unwrap_or(f64::NAN),
        ),
        (
            "lanewatch_checkpoint_level_of_service",
            "Level of service of the mean passage time, 1 (A) to 6 (F).",
            false,
            |c| c.level_of_service.map_or(f64::NAN, f64::from),
        ),
        (
            "lanewatch_checkpoint_congested",
            "1 while the checkpoint direction is congested.",
            false,
            |c| f64::from(u8::from(c.congested)),
        ),
    ];
    for (name, help, advice, pick) in families {
        writeln!(out, "# HELP {name} {help}")?;
        writeln!(out, "# TYPE {name} gauge")?;
        for ((cp, dir), rows) in &obs.analysis {
            let lab = format!("checkpoint=\"{cp}\",direction=\"{}\"", dir.as_str());
            let mut updates: Vec<(i64, i64, f64)> = rows
                .iter()
                .map(|c| {
                    let at = if advice {
                        c.advised_at_ms
                    } else {
                        c.closed_at_ms
                    };
                    (at, c.start_ms, pick(c))
                })
                .collect();
            updates.sort_by_key(|u| u.0);
            let mut it = updates.iter().peekable();
            let mut current: Option<(i64, f64)> = None;
            for &m in &minutes {
                while let Some(&(_, start, v)) = it.next_if(|u| u.0 <= m) {
                    current = Some((start, v));
                }
                let Some((start, v)) = current else { continue };
                // A later window with no traffic was due by now: the live service shows
                // it empty (no arrivals, nothing to advise; NaN p95 for no departures).
                let due = if advice { w + r.settle_ms } else { w };
                let quiet = m - due >= start + 2 * w;
                let v = match (quiet, name) {
                    (false, _) => v,
                    (true, "lanewatch_checkpoint_passage_p95_seconds") => f64::NAN,
                    (true, _)
                        if advice
                            && name != "lanewatch_checkpoint_lanes"
                            && name != "lanewatch_checkpoint_service_rate_per_minute" =>
                    {
                        0.0
                    }
                    (true, _) => v,
                };
                writeln!(out, "{name}{{{lab}}} {v:?} {}", m / 1000)?;
            }
        }
    }
    Ok(skipped)
}
