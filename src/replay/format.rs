//! The text views of a [`Report`]: JSON (the contract shape), CSV (one row per lane and
//! window) and the terminal table.

use std::io::{self, Write};

use super::report::{Report, Summary};
use crate::engine::time::{format_in, human_in};

/// The report as pretty JSON with a trailing newline.
pub fn write_json(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, r).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

const CSV_HEADER: [&str; 11] = [
    "checkpoint",
    "direction",
    "lane",
    "window_start",
    "window_end",
    "passages",
    "throughput_per_minute",
    "p50_seconds",
    "p90_seconds",
    "p95_seconds",
    "p99_seconds",
];

/// A text cell a spreadsheet will not evaluate: one starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return (a formula to Excel, LibreOffice and Sheets) gets a
/// leading `'`, as OWASP advises for CSV injection. Ids come from sensors.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// One row per lane and window; empty quantile cells for windows without passages.
pub fn write_csv(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    let per_minute = 60_000.0 / r.window_ms as f64;
    for l in &r.lanes {
        let zone = r.zone_of(&l.checkpoint);
        for win in &l.windows {
            let q = |i: usize| win.quantiles.get(i).map_or(String::new(), f64::to_string);
            w.write_record([
                &*inert(&l.checkpoint),
                l.direction.as_str(),
                &*inert(&l.lane),
                &win.start,
                &format_in(win.start_ms + r.window_ms, zone),
                &win.passages.to_string(),
                &(win.passages as f64 * per_minute).to_string(),
                &q(0),
                &q(1),
                &q(2),
                &q(3),
            ])?;
        }
    }
    w.flush()
}

/// Seconds as `1h02m`, `12m05s`, `45.2s`.
pub fn human_s(s: f64) -> String {
    if s >= 3600.0 {
        let m = (s / 60.0).round() as i64;
        format!("{}h{:02}m", m / 60, m % 60)
    } else if s >= 60.0 {
        let t = s.round() as i64;
        format!("{}m{:02}s", t / 60, t % 60)
    } else {
        format!("{s:.1}s")
    }
}

fn summary_cells(s: &Summary) -> [String; 5] {
    [
        human_s(s.mean),
        human_s(s.p50),
        human_s(s.p95),
        human_s(s.p99),
        human_s(s.max),
    ]
}

/// The readable terminal report: events, one row per lane, one block per checkpoint
/// direction with its peak hour and congestion episodes.
pub fn write_table(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let e = &r.events;
    let z = r.zone();
    writeln!(
        out,
        "range {} .. {} ({})   window {}   events read {}, accepted {}, duplicates {}, late {}, rejected {}, out of range {}",
        r.range.from_ms.map_or("(start)".into(), |t| human_in(t, z)),
        r.range.to_ms.map_or("(end)".into(), |t| human_in(t, z)),
        r.range.time_zone,
        human_s(r.range.window_seconds),
        e.read,
        e.accepted,
        e.duplicates,
        e.late,
        e.rejected.values().sum::<u64>(),
        e.out_of_range,
    )?;
    if e.outliers > 0 {
        let listed: Vec<String> = r
            .outliers
            .iter()
            .map(|o| {
                format!(
                    "{} ({}/{}/{}, departed {})",
                    o.event_id, o.checkpoint, o.direction, o.lane, o.departed_at
                )
            })
            .collect();
        writeln!(
            out,
            "outliers {} (more than a week from the other events, outside the windows): {}",
            e.outliers,
            listed.join(", ")
        )?;
    }
    let rejected: Vec<String> = e
        .rejected
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !rejected.is_empty() {
        writeln!(out, "rejected by reason: {}", rejected.join(", "))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<16} {:<9} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "checkpoint", "direction", "lane", "passages", "mean", "p50", "p95", "p99", "max", "veh/h"
    )?;
    for l in &r.lanes {
        let c = summary_cells(&l.passage_seconds);
        writeln!(
            out,
            "{:<16} {:<9} {:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9.1}",
            l.checkpoint,
            l.direction.as_str(),
            l.lane,
            l.passages,
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            l.throughput_per_hour
        )?;
    }
    for c in &r.checkpoints {
        let z = &c.zone;
        writeln!(out)?;
        writeln!(
            out,
            "{} {} ({}): {} passages on {} lanes; peak hour from {} with {} passages",
            c.checkpoint,
            c.direction.as_str(),
            c.time_zone,
            c.passages,
            c.lanes_used,
            c.peak_hour_start_ms.map_or("-".into(), |t| human_in(t, z)),
            c.peak_hour_passages
        )?;
        if c.congestion_episodes.is_empty() {
            writeln!(
                out,
                "  no congestion (p95 never above {})",
                human_s(r.congestion_threshold_s)
            )?;
        }
        for ep in &c.congestion_episodes {
            writeln!(
                out,
                "  congested {} .. {} (peak p95 {})",
                human_in(ep.start_ms, z),
                human_in(ep.end_ms, z),
                human_s(ep.peak_p95_seconds)
            )?;
        }
    }
    Ok(())
}
