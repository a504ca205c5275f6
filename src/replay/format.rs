//! The text views of a [`Report`]: JSON (the contract shape), CSV (one row per lane and
//! window) and the terminal table.

use std::io::{self, Write};

use serde::ser::{Error as _, Serialize, SerializeStruct, Serializer};

use super::observer::ReplayObserver;
use super::report::{CheckpointReport, LaneReport, Report, Summary};
use crate::engine::time::{format_in, human_in};

/// The report as pretty JSON with a trailing newline; each lane's windows are read
/// back from `obs` as the lane is written.
pub fn write_json(r: &Report, obs: &ReplayObserver, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &Json { r, obs }).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The JSON shape of a report: its fields, each lane with its `windows`.
struct Json<'a> {
    r: &'a Report,
    obs: &'a ReplayObserver,
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.r;
        let mut st = s.serialize_struct("Report", 4 + usize::from(!r.outliers.is_empty()))?;
        st.serialize_field("range", &r.range)?;
        st.serialize_field("events", &r.events)?;
        if r.outliers.is_empty() {
            st.skip_field("outliers")?;
        } else {
            st.serialize_field("outliers", &r.outliers)?;
        }
        st.serialize_field("lanes", &JsonLanes(self))?;
        st.serialize_field("checkpoints", &JsonCheckpoints(self))?;
        st.end()
    }
}

struct JsonCheckpoints<'a>(&'a Json<'a>);

impl Serialize for JsonCheckpoints<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Json { r, obs } = self.0;
        s.collect_seq(r.checkpoints.iter().map(|c| JsonCheckpoint { r, c, obs }))
    }
}

struct JsonCheckpoint<'a> {
    r: &'a Report,
    c: &'a CheckpointReport,
    obs: &'a ReplayObserver,
}

impl Serialize for JsonCheckpoint<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.c;
        let analysis = self.r.analysis(c, self.obs).map_err(S::Error::custom)?;
        let mut st = s.serialize_struct("CheckpointReport", 11)?;
        st.serialize_field("checkpoint", &c.checkpoint)?;
        st.serialize_field("direction", c.direction.as_str())?;
        st.serialize_field("time_zone", &c.time_zone)?;
        st.serialize_field("passages", &c.passages)?;
        st.serialize_field("lanes_used", &c.lanes_used)?;
        st.serialize_field("peak_hour_start", &c.peak_hour_start)?;
        st.serialize_field("peak_hour_passages", &c.peak_hour_passages)?;
        st.serialize_field("congestion_episodes", &c.congestion_episodes)?;
        st.serialize_field("analysis", &analysis)?;
        st.serialize_field("max_recommended_lanes", &c.max_recommended_lanes)?;
        st.serialize_field("max_open_lanes", &c.max_open_lanes)?;
        st.end()
    }
}

struct JsonLanes<'a>(&'a Json<'a>);

impl Serialize for JsonLanes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Json { r, obs } = self.0;
        s.collect_seq(r.lanes.iter().map(|lane| JsonLane {
            lane,
            windows: JsonWindows { r, lane, obs },
        }))
    }
}

#[derive(serde::Serialize)]
struct JsonLane<'a> {
    #[serde(flatten)]
    lane: &'a LaneReport,
    windows: JsonWindows<'a>,
}

struct JsonWindows<'a> {
    r: &'a Report,
    lane: &'a LaneReport,
    obs: &'a ReplayObserver,
}

impl Serialize for JsonWindows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let windows = self
            .r
            .windows(self.lane, self.obs)
            .map_err(S::Error::custom)?;
        s.collect_seq(&windows)
    }
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
pub fn write_csv(r: &Report, obs: &ReplayObserver, out: &mut dyn Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    let per_minute = 60_000.0 / r.window_ms as f64;
    for l in &r.lanes {
        let zone = r.zone_of(&l.checkpoint);
        for win in &r.windows(l, obs)? {
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
