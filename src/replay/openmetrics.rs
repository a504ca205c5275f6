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

use crate::engine::catalogue::{self as cat, Family};

use super::observer::{BucketWindow, ReplayObserver, SLOT_MS, WindowStat, slot_of};
use super::report::{LaneReport, Report};
use crate::engine::congestion::CheckpointWindow;
use crate::engine::lanes::window_label;

/// Prometheus keeps the newest data in its head block, which a backfill must not
/// overlap: samples newer than this (3 hours) are left out.
pub const HEAD_BLOCK_MS: i64 = 3 * 3600 * 1000;

/// `# HELP` and `# TYPE` of a family, from the catalogue (as the live exposition).
fn header(out: &mut dyn Write, f: &Family) -> io::Result<()> {
    writeln!(out, "# HELP {} {}", f.name, f.help)?;
    writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str())
}

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

    // The counter family carries its `_total`, as the text format (and so `promtool
    // check metrics`) names it and the live exposition writes it; Prometheus'
    // OpenMetrics parser (`promtool tsdb create-blocks-from openmetrics`) accepts it.
    header(out, &cat::PASSAGES)?;
    for l in &r.lanes {
        let lab = labels(l);
        let buckets = obs.buckets(l.id)?;
        let mut it = buckets.iter().peekable();
        let mut total = 0u64;
        for &end in ends {
            while let Some(b) = it.next_if(|b| b.start_ms < end) {
                total += b.count();
            }
            writeln!(
                out,
                "{}{{{lab}}} {total} {}",
                cat::PASSAGES.name,
                end / 1000
            )?;
        }
        skipped += dropped_points;
    }

    let hists: [Hist; 4] = [
        (cat::PASSAGE_DURATION, obs.bucket_bounds_ms(), |b| {
            (b.count(), b.sum_ms, b.buckets())
        }),
        (cat::QUEUE_WAIT, obs.queue_bounds_ms(), |b| {
            (b.queue_count(), b.queue_sum_ms, b.queue_buckets())
        }),
        (cat::DEPARTURE_HEADWAY, obs.headway_bounds_ms(), |b| {
            (b.headway_count(), b.headway_sum_ms, b.headway_buckets())
        }),
        (cat::INSPECTION_DURATION, obs.inspection_bounds_ms(), |b| {
            (
                b.inspection_count(),
                b.inspection_sum_ms,
                b.inspection_buckets(),
            )
        }),
    ];
    for h in hists {
        skipped += write_histogram(r, obs, ends, dropped_points, h, out)?;
    }

    header(out, &cat::LANE_THROUGHPUT)?;
    let per_minute = 60_000.0 / w as f64;
    for l in &r.lanes {
        let lab = labels(l);
        for win in &r.windows(l, obs)? {
            let end = win.start_ms + w;
            if end > cutoff_ms {
                skipped += 1;
                continue;
            }
            writeln!(
                out,
                "{}{{{lab},window=\"{wl}\"}} {:?} {}",
                cat::LANE_THROUGHPUT.name,
                win.passages as f64 * per_minute,
                end / 1000
            )?;
        }
    }

    header(out, &cat::LANE_PASSAGE_QUANTILE)?;
    const QS: [&str; 4] = ["0.5", "0.9", "0.95", "0.99"];
    for l in &r.lanes {
        let lab = labels(l);
        let windows = r.windows(l, obs)?;
        for (i, q) in QS.iter().enumerate() {
            for win in &windows {
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
                    "{}{{{lab},window=\"{wl}\",quantile=\"{q}\"}} {v:?} {}",
                    cat::LANE_PASSAGE_QUANTILE.name,
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
type Hist<'a> = (Family, &'a [i64], fn(&BucketWindow) -> (u64, i64, &[u32]));

/// One histogram family, cumulative by event time, a sample per lane at every window end.
fn write_histogram(
    r: &Report,
    obs: &ReplayObserver,
    ends: &[i64],
    dropped_points: u64,
    (family, bounds, pick): Hist<'_>,
    out: &mut dyn Write,
) -> io::Result<u64> {
    // `le` written as the live exposition writes it (30, not 30.0): a rule selecting
    // a bucket reads live and backfilled data alike.
    let le: Vec<String> = bounds
        .iter()
        .map(|&b| (b as f64 / 1000.0).to_string())
        .chain(["+Inf".to_string()])
        .collect();
    header(out, &family)?;
    let name = family.name;
    let mut skipped = 0;
    let mut cum = vec![0u64; le.len()];
    for l in &r.lanes {
        let lab = labels(l);
        let buckets = obs.buckets(l.id)?;
        let mut it = buckets.iter().peekable();
        cum.iter_mut().for_each(|c| *c = 0);
        let (mut count, mut sum_ms) = (0u64, 0i64);
        for &end in ends {
            while let Some(b) = it.next_if(|b| b.start_ms < end) {
                let (n, sum, buckets) = pick(b);
                for (c, k) in cum.iter_mut().zip(buckets) {
                    *c += u64::from(*k);
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

    header(out, &cat::LANE_LAST_DEPARTURE)?;
    let slots: Vec<i64> = (g0 + SLOT_MS..=g1)
        .step_by(SLOT_MS as usize)
        .filter(|&m| m <= cutoff_ms)
        .collect();
    for l in &r.lanes {
        let lab = labels(l);
        let slots_of_lane = obs.slots(l.id)?;
        let mut it = slots_of_lane.iter().peekable();
        let mut newest = None;
        for &m in &slots {
            while let Some(&t) = it.next_if(|&&t| (slot_of(t) + 1) * SLOT_MS <= m) {
                newest = Some(newest.map_or(t, |n: i64| n.max(t)));
            }
            if let Some(t) = newest {
                writeln!(
                    out,
                    "{}{{{lab}}} {:?} {}",
                    cat::LANE_LAST_DEPARTURE.name,
                    t as f64 / 1000.0,
                    m / 1000
                )?;
            }
        }
    }

    let name = cat::LANE_PASSED_OVER.name;
    header(out, &cat::LANE_PASSED_OVER)?;
    for l in &r.lanes {
        let lab = labels(l);
        let first = obs
            .slots(l.id)?
            .first()
            .map_or(i64::MAX, |&t| (slot_of(t) + 1) * SLOT_MS);
        let passed_over = obs.passed_over(l.id)?;
        let mut it = passed_over.iter().peekable();
        let mut value = f64::NAN;
        for &m in slots.iter().filter(|&&m| m >= first) {
            while let Some(&(_, v)) = it.next_if(|x| (x.0 + 1) * SLOT_MS <= m) {
                value = v;
            }
            writeln!(out, "{name}{{{lab}}} {value} {}", m / 1000)?;
        }
    }

    // Per-lane gauges the congestion analysis sets as each window closes: the value
    // a scrape at minute m would have read (the start-up value before the first).
    type Set = (Family, f64, fn(&WindowStat) -> f64);
    let set_at_close: [Set; 2] = [
        (cat::LANE_QUEUE_LENGTH, 0.0, |w| w.queue_length),
        (cat::LANE_LEVEL_OF_SERVICE, f64::NAN, |w| w.level_of_service),
    ];
    for (family, initial, get) in set_at_close {
        header(out, &family)?;
        let name = family.name;
        for l in &r.lanes {
            let lab = labels(l);
            let mut known: Vec<(i64, f64)> = obs
                .windows(l.id)?
                .iter()
                .map(|(_, w)| (w.known_at_ms, get(w)))
                .collect();
            known.sort_by_key(|k| k.0);
            let mut it = known.iter().peekable();
            let mut value = initial;
            for &m in &minutes {
                while let Some(&(_, q)) = it.next_if(|k| k.0 <= m) {
                    value = q;
                }
                writeln!(out, "{name}{{{lab}}} {value:?} {}", m / 1000)?;
            }
        }
    }

    type Static = (Family, fn(&LaneReport) -> f64);
    let statics: [Static; 3] = [
        (cat::LANE_INSPECTION_MAX, |l| l.inspection_max_s),
        (cat::LANE_KIND_LANES, |l| l.lanes_of_kind),
        (cat::LANE_NEIGHBOUR_LANES, |l| l.neighbour_lanes),
    ];
    for (family, pick) in statics {
        header(out, &family)?;
        let name = family.name;
        for l in &r.lanes {
            let lab = labels(l);
            for &m in &minutes {
                writeln!(out, "{name}{{{lab}}} {:?} {}", pick(l), m / 1000)?;
            }
        }
    }

    let name = cat::LANE_SCHEDULED_OPEN.name;
    header(out, &cat::LANE_SCHEDULED_OPEN)?;
    for l in &r.lanes {
        let lab = labels(l);
        for &m in &minutes {
            let open = l.schedule.as_ref().is_none_or(|s| s.open_at(m));
            writeln!(out, "{name}{{{lab}}} {} {}", u8::from(open), m / 1000)?;
        }
    }

    let w = r.window_ms;
    type Pick = fn(&CheckpointWindow) -> f64;
    // (family, advice side?, value)
    let families: [(Family, bool, Pick); 10] = [
        (cat::CHECKPOINT_ARRIVAL_RATE, true, |c| c.arrival_rate),
        (cat::CHECKPOINT_SERVICE_RATE, true, |c| {
            c.service_rate.unwrap_or(f64::NAN)
        }),
        (cat::CHECKPOINT_OPEN_LANES, true, |c| {
            f64::from(c.open_lanes)
        }),
        (cat::CHECKPOINT_LANES, true, |c| f64::from(c.lanes)),
        (cat::CHECKPOINT_RECOMMENDED_LANES, true, |c| {
            f64::from(c.recommended_lanes)
        }),
        (cat::CHECKPOINT_CAPACITY_EXCEEDED, true, |c| {
            f64::from(u8::from(c.capacity_exceeded))
        }),
        (cat::CHECKPOINT_WAIT_PROBABILITY, true, |c| {
            c.wait_probability
        }),
        (cat::CHECKPOINT_PASSAGE_P95, false, |c| {
            c.p95_s.unwrap_or(f64::NAN)
        }),
        (cat::CHECKPOINT_LEVEL_OF_SERVICE, false, |c| {
            c.level_of_service.map_or(f64::NAN, f64::from)
        }),
        (cat::CHECKPOINT_CONGESTED, false, |c| {
            f64::from(u8::from(c.congested))
        }),
    ];
    for (family, advice, pick) in families {
        header(out, &family)?;
        let name = family.name;
        for key in obs.analysed() {
            let (cp, dir) = key;
            let rows = obs.analysis(key)?;
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
                let v = if !quiet {
                    v
                } else if family == cat::CHECKPOINT_PASSAGE_P95 {
                    f64::NAN
                } else if advice
                    && family != cat::CHECKPOINT_LANES
                    && family != cat::CHECKPOINT_SERVICE_RATE
                {
                    0.0
                } else {
                    v
                };
                writeln!(out, "{name}{{{lab}}} {v:?} {}", m / 1000)?;
            }
        }
    }
    Ok(skipped)
}
