//! The snapshot on hand-set gauges and lane cells: mirrored pages, the 30-minute rate
//! behind `LaneStalled`, the history ring and the JSON shape.

use super::*;
use crate::engine::event::Direction;
use crate::engine::lanes::LaneTraits;

const REGISTRY: &str = r#"
[[checkpoint]]
id = "u"
[[checkpoint.lane]]
direction = "inbound"
ids = ["01", "02", "03"]
"#;

struct Fixture {
    board: Board,
    families: CongestionFamilies,
    lanes: Vec<LaneStats>,
}

fn fixture() -> Fixture {
    let config = Config::from_texts("", REGISTRY).unwrap();
    let families = CongestionFamilies::new();
    let series = LaneSeries::new(&config.buckets, &config.windows);
    let traits = LaneTraits {
        inspection_max_s: 150.0,
        lanes_of_kind: 3.0,
        neighbour_lanes: 2.0,
    };
    let lanes = ["01", "02", "03"]
        .iter()
        .map(|l| series.lane("u", "inbound", l, None, traits))
        .collect();
    let board = Board::new(
        &config,
        families.clone(),
        series,
        Arc::new(Health::default()),
    );
    Fixture {
        board,
        families,
        lanes,
    }
}

const T0: i64 = 1_764_108_000_000; // 2025-11-26T06:00:00+08:00

#[test]
fn pages_mirror_the_alert_conditions_on_the_same_values() {
    let f = fixture();
    let g = f.families.dir("u", Direction::Inbound);
    g.congested.set(1.0);
    g.p95.set(754.0);
    g.los.set(6.0);
    g.exceeded.set(1.0);
    g.arrival.set(30.0);
    g.open.set(2.0);
    g.recommended.set(3.0);
    g.set_congested_since(Some(T0 + 300_000));
    // Lane 01: 20 departures in 10 minutes (one per 30 s, in service), then silent
    // for 200 s while lane 02 kept clearing: 200 > max(6 × 30, 210) − 60 and
    // > 150 − 60. Lane 03 never saw a vehicle.
    f.board.sample(T0);
    for _ in 0..20 {
        f.lanes[0].passages.inc();
        f.lanes[1].passages.inc();
    }
    let newest = (T0 + 600_000) as f64 / 1000.0;
    f.lanes[0].last_departure.set(newest - 200.0);
    f.lanes[1].last_departure.set(newest);
    f.lanes[0].throughput[1].set(2.0);
    f.lanes[1].throughput[1].set(2.4);
    let s = f.board.snapshot(T0 + 600_000);
    assert_eq!(s.version, 1);
    assert_eq!(s.window, "5m");
    assert_eq!(s.generated_at, "2025-11-26T06:10:00+08:00");
    let t = &s.checkpoints[0];
    assert_eq!((t.checkpoint.as_str(), t.direction), ("u", "inbound"));
    assert_eq!(t.level_of_service, Some('F'));
    assert_eq!(
        t.congested_since.as_deref(),
        Some("2025-11-26T06:05:00+08:00")
    );
    assert_eq!((t.open_lanes, t.recommended_lanes), (Some(2), Some(3)));
    assert!((t.throughput_per_minute - 4.4).abs() < 1e-9);
    let alerts: Vec<(&str, Option<&str>)> = t
        .pages
        .iter()
        .map(|p| (p.alert, p.lane.as_deref()))
        .collect();
    assert_eq!(
        alerts,
        [
            ("CheckpointCongested", None),
            ("CheckpointCapacityExceeded", None),
            ("LaneStalled", Some("01"))
        ]
    );
    assert!(
        t.pages[0].summary.contains("12m 34s"),
        "{}",
        t.pages[0].summary
    );
    assert!(
        t.pages[2].summary.contains("3m 20s"),
        "{}",
        t.pages[2].summary
    );
    let l: Vec<(&str, Option<f64>, bool)> = t
        .lanes
        .iter()
        .map(|l| (l.lane.as_str(), l.silent_seconds, l.stalled))
        .collect();
    assert_eq!(
        l,
        [
            ("01", Some(200.0), true),
            ("02", Some(0.0), false),
            ("03", None, false)
        ]
    );
    // Not congested: no page, no since.
    g.congested.set(0.0);
    g.exceeded.set(0.0);
    g.set_congested_since(None);
    f.lanes[0].last_departure.set(newest - 60.0);
    let s = f.board.snapshot(T0 + 600_000);
    assert!(s.checkpoints[0].pages.is_empty());
    assert_eq!(s.checkpoints[0].congested_since, None);
}

#[test]
fn a_rate_needs_a_minute_of_samples_and_forgets_after_thirty() {
    let f = fixture();
    let newest = (T0 + 3_600_000) as f64 / 1000.0;
    f.lanes[1].last_departure.set(newest);
    f.lanes[0].last_departure.set(newest - 1000.0);
    // No sample a minute old: no rate, no page (Prometheus has no rate either).
    f.board.sample(T0 + 3_570_000);
    for _ in 0..100 {
        f.lanes[0].passages.inc();
    }
    let s = f.board.snapshot(T0 + 3_600_000);
    assert!(!s.checkpoints[0].lanes[0].stalled);
    // A minute later the same counts are a rate: it pages.
    let s = f.board.snapshot(T0 + 3_630_000);
    assert!(s.checkpoints[0].lanes[0].stalled);
    // Busy half an hour ago, silent since: the rate over the last 30 minutes only.
    let f = fixture();
    f.lanes[1].last_departure.set(newest);
    f.lanes[0].last_departure.set(newest - 1000.0);
    f.board.sample(T0);
    for _ in 0..100 {
        f.lanes[0].passages.inc();
    }
    f.board.sample(T0 + 60_000);
    f.board.sample(T0 + 3_600_000 - 1_800_000);
    let s = f.board.snapshot(T0 + 3_600_000);
    assert!(
        !s.checkpoints[0].lanes[0].stalled,
        "no departure in the last 30 minutes: not in service"
    );
}

#[test]
fn history_keeps_an_hour_of_minutes_and_serializes_as_documented() {
    let f = fixture();
    let g = f.families.dir("u", Direction::Inbound);
    for i in 0..75 {
        g.p95.set(if i % 2 == 0 { f64::NAN } else { i as f64 });
        g.arrival.set(i as f64);
        f.board.sample(T0 + i * 60_000);
    }
    let s = f.board.snapshot(T0 + 75 * 60_000);
    let h = &s.checkpoints[0].history;
    assert_eq!(h.len(), HISTORY_POINTS);
    assert_eq!(h[0].t, "2025-11-26T06:15:00+08:00");
    assert_eq!(h[59].arrival_per_minute, Some(74.0));
    assert_eq!(h[59].p95_seconds, None, "NaN is null");
    let v = serde_json::to_value(&s).unwrap();
    let t = &v["checkpoints"][0];
    for k in [
        "checkpoint",
        "direction",
        "level_of_service",
        "p95_seconds",
        "arrival_per_minute",
        "throughput_per_minute",
        "open_lanes",
        "lane_count",
        "recommended_lanes",
        "capacity_exceeded",
        "congested",
        "congested_since",
        "pages",
        "history",
        "lanes",
    ] {
        assert!(t.get(k).is_some(), "tile field {k}");
    }
    for k in [
        "lane",
        "passages",
        "throughput_per_minute",
        "p95_seconds",
        "last_departure",
        "silent_seconds",
        "scheduled_open",
        "stalled",
    ] {
        assert!(t["lanes"][0].get(k).is_some(), "lane field {k}");
    }
    assert_eq!(v["version"], 1);
    assert_eq!(v["time_zone"], "Asia/Shanghai");
    assert_eq!(
        v["mirrored_alerts"],
        serde_json::json!([
            "CheckpointCongested",
            "CheckpointCapacityExceeded",
            "LaneStalled"
        ])
    );
}
