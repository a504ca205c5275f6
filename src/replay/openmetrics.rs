//! The replayed lane metrics as timestamped OpenMetrics samples, for
//! `promtool tsdb create-blocks-from openmetrics FILE DIR`: the same metric names and
//! labels as the live `/metrics`, one sample per lane at the end of every report window
//! (counters and classic histogram buckets cumulative by event time), then `# EOF`.

use std::io::{self, Write};

use super::observer::ReplayObserver;
use super::report::{LaneReport, Report};
use crate::lanes::window_label;

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
    let bounds = obs.bucket_bounds_ms();
    let le: Vec<String> = bounds
        .iter()
        .map(|&b| format!("{:?}", b as f64 / 1000.0))
        .chain(["+Inf".to_string()])
        .collect();
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

    writeln!(
        out,
        "# HELP lanewatch_passage_duration_seconds Passage time of a vehicle through the lane: departed_at - arrived_at."
    )?;
    writeln!(out, "# TYPE lanewatch_passage_duration_seconds histogram")?;
    let mut cum = vec![0u64; le.len()];
    for l in &r.lanes {
        let lab = labels(l);
        let d = &obs.lanes[l.id as usize];
        let mut it = d.buckets.iter().peekable();
        cum.iter_mut().for_each(|c| *c = 0);
        let (mut count, mut sum_ms) = (0u64, 0i64);
        for &end in ends {
            while let Some(b) = it.next_if(|b| b.start_ms < end) {
                for (c, n) in cum.iter_mut().zip(&b.buckets) {
                    *c += n;
                }
                count += b.count;
                sum_ms += b.sum_ms;
            }
            let ts = end / 1000;
            let mut acc = 0;
            for (c, le) in cum.iter().zip(&le) {
                acc += c;
                writeln!(
                    out,
                    "lanewatch_passage_duration_seconds_bucket{{{lab},le=\"{le}\"}} {acc} {ts}"
                )?;
            }
            writeln!(
                out,
                "lanewatch_passage_duration_seconds_count{{{lab}}} {count} {ts}"
            )?;
            writeln!(
                out,
                "lanewatch_passage_duration_seconds_sum{{{lab}}} {:?} {ts}",
                sum_ms as f64 / 1000.0
            )?;
        }
        skipped += dropped_points * (le.len() as u64 + 2);
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
    writeln!(out, "# EOF")?;
    Ok(skipped)
}
