//! The demo's status: a typed snapshot of the event counters and of every checkpoint
//! direction's congestion gauges, read from the metrics registry (no text parsing), and
//! its two renderings as pure functions — a table for a terminal, `status key=value`
//! lines for anything else.

use std::collections::BTreeMap;

use prometheus::Registry;
use prometheus::proto::{Metric, MetricFamily, MetricType};

use crate::engine::congestion::state::los_letter;

/// One checkpoint direction as its gauges have it (NaN: not known yet).
#[derive(Debug, Clone, PartialEq)]
pub struct DirStatus {
    pub checkpoint: String,
    pub direction: String,
    pub p95_passage_s: f64,
    pub arriving_per_min: f64,
    pub open_lanes: f64,
    pub recommended_lanes: f64,
    /// 1 (A) … 6 (F).
    pub level_of_service: f64,
    /// 1 or 0.
    pub congested: f64,
    /// 1 or 0.
    pub capacity_exceeded: f64,
}

impl DirStatus {
    /// A direction with every value unknown.
    pub fn unknown(checkpoint: &str, direction: &str) -> Self {
        DirStatus {
            checkpoint: checkpoint.to_owned(),
            direction: direction.to_owned(),
            p95_passage_s: f64::NAN,
            arriving_per_min: f64::NAN,
            open_lanes: f64::NAN,
            recommended_lanes: f64::NAN,
            level_of_service: f64::NAN,
            congested: f64::NAN,
            capacity_exceeded: f64::NAN,
        }
    }
}

/// What the demo shows at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Messages received from the source.
    pub events: f64,
    /// Event time of the newest accepted event, Unix seconds (`None` before the first).
    pub newest_event_s: Option<f64>,
    /// Every checkpoint direction with gauges, sorted by checkpoint, then direction.
    pub dirs: Vec<DirStatus>,
}

const EVENTS: &str = crate::engine::catalogue::EVENTS_RECEIVED.name;
const NEWEST: &str = crate::engine::catalogue::NEWEST_EVENT_TIMESTAMP.name;

/// The snapshot of what `registry` holds now.
pub fn snapshot(registry: &Registry) -> Snapshot {
    from_families(&registry.gather())
}

/// The snapshot of gathered metric families (families it does not show are ignored).
pub fn from_families(families: &[MetricFamily]) -> Snapshot {
    let mut events = f64::NAN;
    let mut newest_event_s = None;
    let mut dirs: BTreeMap<(String, String), DirStatus> = BTreeMap::new();
    for f in families {
        let name = f.name();
        if name == EVENTS {
            events = first_value(f);
            continue;
        }
        if name == NEWEST {
            let v = first_value(f);
            newest_event_s = (v.is_finite() && v > 0.0).then_some(v);
            continue;
        }
        use crate::engine::catalogue as cat;
        let set: fn(&mut DirStatus, f64) = match name {
            n if n == cat::CHECKPOINT_PASSAGE_P95.name => |d, v| d.p95_passage_s = v,
            n if n == cat::CHECKPOINT_ARRIVAL_RATE.name => |d, v| d.arriving_per_min = v,
            n if n == cat::CHECKPOINT_OPEN_LANES.name => |d, v| d.open_lanes = v,
            n if n == cat::CHECKPOINT_RECOMMENDED_LANES.name => |d, v| d.recommended_lanes = v,
            n if n == cat::CHECKPOINT_LEVEL_OF_SERVICE.name => |d, v| d.level_of_service = v,
            n if n == cat::CHECKPOINT_CONGESTED.name => |d, v| d.congested = v,
            n if n == cat::CHECKPOINT_CAPACITY_EXCEEDED.name => |d, v| d.capacity_exceeded = v,
            _ => continue,
        };
        for m in f.get_metric() {
            let label = |k: &str| {
                m.get_label()
                    .iter()
                    .find(|l| l.name() == k)
                    .map(|l| l.value())
            };
            let (Some(c), Some(d)) = (label("checkpoint"), label("direction")) else {
                continue;
            };
            let dir = dirs
                .entry((c.to_owned(), d.to_owned()))
                .or_insert_with(|| DirStatus::unknown(c, d));
            set(dir, value(f.get_field_type(), m));
        }
    }
    Snapshot {
        events,
        newest_event_s,
        dirs: dirs.into_values().collect(),
    }
}

fn value(t: MetricType, m: &Metric) -> f64 {
    match t {
        MetricType::COUNTER => m.get_counter().get_value(),
        MetricType::GAUGE => m.get_gauge().get_value(),
        _ => f64::NAN,
    }
}

fn first_value(f: &MetricFamily) -> f64 {
    f.get_metric()
        .first()
        .map_or(f64::NAN, |m| value(f.get_field_type(), m))
}

/// A count: an integer, `-` when unknown.
pub fn integer(v: f64) -> String {
    if v.is_finite() {
        // `as` saturates; +0.0 avoids printing "-0".
        ((v.round() + 0.0) as i64).to_string()
    } else {
        "-".into()
    }
}

/// A rate: one decimal, `-` when unknown.
pub fn one_decimal(v: f64) -> String {
    if v.is_finite() {
        // Rounded first, so that -0.04 prints "0.0", not "-0.0".
        format!("{:.1}", (v * 10.0).round() / 10.0 + 0.0)
    } else {
        "-".into()
    }
}

/// A 0/1 gauge as `yes`/`no`, `-` when unknown.
pub fn flag(v: f64) -> &'static str {
    if v.is_nan() {
        "-"
    } else if v >= 0.5 {
        "yes"
    } else {
        "no"
    }
}

/// Level of service 1 … 6 as its letter A … F, `-` when unknown.
pub fn los(v: f64) -> String {
    if v.is_finite() && v >= 1.0 {
        los_letter(v.round().min(6.0) as u8).to_string()
    } else {
        "-".into()
    }
}

/// The p95 passage time in minutes, one decimal.
fn p95_min(d: &DirStatus) -> String {
    one_decimal(d.p95_passage_s / 60.0)
}

/// The newest event's time in Beijing (the registry's clock), if known.
fn beijing(s: Option<f64>) -> Option<jiff::Zoned> {
    let s = s.filter(|s| s.is_finite())?;
    let ts = jiff::Timestamp::from_millisecond((s * 1000.0).round() as i64).ok()?;
    Some(ts.to_zoned(crate::engine::time::default_zone()))
}

/// Parseable lines: `status events=N newest_event=<RFC 3339>`, then one
/// `status checkpoint=… direction=… …` per checkpoint direction.
pub fn lines(s: &Snapshot) -> Vec<String> {
    let newest = beijing(s.newest_event_s).map_or("-".into(), |z| {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    });
    let mut out = Vec::with_capacity(1 + s.dirs.len());
    out.push(format!(
        "status events={} newest_event={newest}",
        integer(s.events)
    ));
    for d in &s.dirs {
        out.push(format!(
            "status checkpoint={} direction={} p95_min={} arriving_per_min={} open_lanes={} recommended_lanes={} los={} congested={} capacity_exceeded={}",
            d.checkpoint,
            d.direction,
            p95_min(d),
            one_decimal(d.arriving_per_min),
            integer(d.open_lanes),
            integer(d.recommended_lanes),
            los(d.level_of_service),
            flag(d.congested),
            flag(d.capacity_exceeded),
        ));
    }
    out
}

/// The first line of the table (a test finds the table by it).
pub const TABLE_TITLE: &str = "lanewatch demo: events received";

const HEADERS: [&str; 8] = [
    "checkpoint",
    "direction",
    "p95 passage min",
    "arriving/min",
    "lanes open / rec.",
    "LOS",
    "congested",
    "capacity exceeded",
];
/// Right-aligned (numeric) columns.
const RIGHT: [bool; 8] = [false, false, true, true, true, true, false, false];

/// The table for a terminal: a title line with the events received and the newest
/// event's time, a header, and one row per checkpoint direction. `colour` marks a
/// congested or over-capacity direction in red.
pub fn table(s: &Snapshot, colour: bool) -> Vec<String> {
    let newest = beijing(s.newest_event_s).map_or("-".into(), |z| {
        z.strftime("%Y-%m-%d %H:%M:%S %:z").to_string()
    });
    let rows: Vec<[String; 8]> = s
        .dirs
        .iter()
        .map(|d| {
            [
                d.checkpoint.clone(),
                d.direction.clone(),
                p95_min(d),
                one_decimal(d.arriving_per_min),
                format!(
                    "{} / {}",
                    integer(d.open_lanes),
                    integer(d.recommended_lanes)
                ),
                los(d.level_of_service),
                flag(d.congested).into(),
                flag(d.capacity_exceeded).into(),
            ]
        })
        .collect();
    let mut width = HEADERS.map(console::measure_text_width);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(console::measure_text_width(c));
        }
    }
    let line = |cells: [&str; 8]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = width[i].saturating_sub(console::measure_text_width(c));
            let cell = if RIGHT[i] {
                format!("{}{c}", " ".repeat(pad))
            } else {
                format!("{c}{}", " ".repeat(pad))
            };
            if i > 0 {
                l.push_str("  ");
            }
            if colour && i >= 6 && *c == "yes" {
                l.push_str(
                    &console::style(cell)
                        .red()
                        .bold()
                        .force_styling(true)
                        .to_string(),
                );
            } else {
                l.push_str(&cell);
            }
        }
        l.trim_end().to_owned()
    };
    let mut out = Vec::with_capacity(2 + rows.len());
    out.push(format!(
        "{TABLE_TITLE} {}, newest event {newest}",
        integer(s.events)
    ));
    out.push(line(HEADERS));
    for r in &rows {
        out.push(line(r.each_ref().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::congestion::metrics::CongestionFamilies;
    use crate::engine::event::Direction;

    fn registry() -> (Registry, CongestionFamilies) {
        let r = Registry::new();
        let f = CongestionFamilies::new();
        r.register(Box::new(crate::export::engine::CongestionCollector::new(
            f.clone(),
        )))
        .unwrap();
        (r, f)
    }

    #[test]
    fn every_direction_is_a_row_sorted_and_unknown_values_are_dashes() {
        let (r, f) = registry();
        // Registered out of order; yanjiao/outbound never sees a vehicle.
        let y = f.dir("yanjiao", Direction::Outbound);
        let b_out = f.dir("baimiao", Direction::Outbound);
        let b_in = f.dir("baimiao", Direction::Inbound);
        b_in.p95.set(203.0);
        b_in.arrival.set(8.04);
        b_in.open.set(8.0);
        b_in.recommended.set(7.0);
        b_in.los.set(3.0);
        b_in.congested.set(1.0);
        b_out.open.set(4.0);
        b_out.recommended.set(2.0000001);
        b_out.los.set(1.0);
        drop(y);
        let s = snapshot(&r);
        let l = lines(&s);
        assert_eq!(
            l,
            [
                "status events=- newest_event=-",
                "status checkpoint=baimiao direction=inbound p95_min=3.4 arriving_per_min=8.0 open_lanes=8 recommended_lanes=7 los=C congested=yes capacity_exceeded=no",
                "status checkpoint=baimiao direction=outbound p95_min=- arriving_per_min=0.0 open_lanes=4 recommended_lanes=2 los=A congested=no capacity_exceeded=no",
                "status checkpoint=yanjiao direction=outbound p95_min=- arriving_per_min=0.0 open_lanes=0 recommended_lanes=0 los=- congested=no capacity_exceeded=no",
            ]
        );
        let t = table(&s, false);
        assert_eq!(t.len(), 2 + 3, "{t:#?}");
        assert_eq!(
            t[1],
            "checkpoint  direction  p95 passage min  arriving/min  lanes open / rec.  LOS  congested  capacity exceeded"
        );
        assert_eq!(
            t[2],
            "baimiao     inbound                3.4           8.0              8 / 7    C  yes        no"
        );
        assert_eq!(
            t[4],
            "yanjiao     outbound                 -           0.0              0 / 0    -  no         no"
        );
        // Columns line up: every row as wide as the header up to the last column.
        let flags_at = t[1].find("congested").unwrap();
        for row in &t[2..] {
            assert!(row[flags_at..].starts_with("yes") || row[flags_at..].starts_with("no"));
        }
    }

    #[test]
    fn events_and_newest_event_are_an_integer_and_beijing_time() {
        let (r, _) = registry();
        let received = prometheus::IntCounter::new(EVENTS, "x").unwrap();
        received.inc_by(578);
        let newest = prometheus::Gauge::new(NEWEST, "x").unwrap();
        // 2026-11-25T07:31:02+08:00.
        newest.set(
            crate::engine::time::parse_timestamp("2026-11-25T07:31:02.400+08:00").unwrap() as f64
                / 1e3,
        );
        r.register(Box::new(received)).unwrap();
        r.register(Box::new(newest)).unwrap();
        let s = snapshot(&r);
        assert_eq!(s.events, 578.0);
        assert_eq!(
            lines(&s)[0],
            "status events=578 newest_event=2026-11-25T07:31:02+08:00"
        );
        assert_eq!(
            table(&s, false)[0],
            format!("{TABLE_TITLE} 578, newest event 2026-11-25 07:31:02 +08:00")
        );
    }

    #[test]
    fn numbers_render_as_integers_one_decimal_words_and_letters() {
        assert_eq!(integer(7.0), "7");
        assert_eq!(integer(6.9999), "7");
        assert_eq!(integer(-0.0), "0");
        assert_eq!(integer(f64::NAN), "-");
        assert_eq!(one_decimal(8.04), "8.0");
        assert_eq!(one_decimal(-0.01), "0.0");
        assert_eq!(one_decimal(3.36), "3.4");
        assert_eq!(one_decimal(f64::INFINITY), "-");
        assert_eq!(flag(1.0), "yes");
        assert_eq!(flag(0.0), "no");
        assert_eq!(flag(f64::NAN), "-");
        assert_eq!(los(1.0), "A");
        assert_eq!(los(6.0), "F");
        assert_eq!(los(f64::NAN), "-");
        assert_eq!(los(0.0), "-");
    }

    #[test]
    fn colour_marks_only_a_yes_flag() {
        let mut d = DirStatus::unknown("baimiao", "inbound");
        d.congested = 1.0;
        d.capacity_exceeded = 0.0;
        let s = Snapshot {
            events: 1.0,
            newest_event_s: None,
            dirs: vec![d],
        };
        let t = table(&s, true);
        assert!(t[2].contains('\u{1b}'), "{:?}", t[2]);
        assert_eq!(console::strip_ansi_codes(&t[2]), table(&s, false)[2]);
        assert!(!t[1].contains('\u{1b}'));
    }
}
