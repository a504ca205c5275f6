//! The shared pipeline without a broker: event-time windows, the watermark, late
//! events and exact window quantiles against values computed here independently.

use lanewatch::config::{Config, load_registry};
use lanewatch::lanes::{ClosedWindow, Observer};
use lanewatch::pipeline::{Outcome, Pipeline};
use proptest::prelude::*;

use crate::support::{Metrics, nearest_rank_pct};

#[derive(Default)]
struct Windows {
    /// (lane, size index, start, count, quantiles)
    closed: Vec<(u32, usize, i64, u64, Vec<f64>)>,
}

impl Observer for Windows {
    fn window_closed(&mut self, lane: u32, w: &ClosedWindow<'_>) {
        if w.count > 0 {
            self.closed
                .push((lane, w.size_idx, w.start_ms, w.count, w.quantiles.to_vec()));
        }
    }
}

impl lanewatch::pipeline::Observer for Windows {}

fn config() -> Config {
    let dir = tempfile::tempdir().unwrap();
    let reg = dir.path().join("r.toml");
    std::fs::write(&reg, "[[checkpoint]]\nid = \"cp\"\n[[checkpoint.lane]]\ndirection = \"inbound\"\nids = [\"01\", \"02\"]\n").unwrap();
    Config::with_registry(load_registry(&reg).unwrap())
}

fn ev(id: usize, lane: &str, departed: i64, passage: i64) -> Vec<u8> {
    format!(
        r#"{{"event_id":"e{id}","checkpoint":"cp","direction":"inbound","lane":"{lane}","arrived_at":{},"departed_at":{departed}}}"#,
        departed - passage
    )
    .into_bytes()
}

/// Independent nearest rank (the one oracle, `support::nearest_rank_pct`) of passage
/// times in milliseconds at a quantile of whole percent, in seconds.
fn rank(mut v: Vec<i64>, q: f64) -> f64 {
    v.sort();
    let pct = (q * 100.0).round();
    assert!(
        (q * 100.0 - pct).abs() < 1e-9,
        "quantile {q} is not a whole percent"
    );
    nearest_rank_pct(&v, pct as usize) as f64 / 1000.0
}

const T0: i64 = 1_764_115_200_000; // a multiple of 15 minutes

#[test]
fn windows_close_at_the_watermark_with_exact_quantiles_and_throughput() {
    let c = config();
    let mut p = Pipeline::with_observer(&c, Windows::default());
    // Minute 0 of lane 01: 7 passages with known times.
    let times = [30_000, 45_500, 61_000, 90_250, 120_000, 300_000, 15_000];
    for (i, &t) in times.iter().enumerate() {
        assert!(matches!(
            p.apply(&ev(i, "01", T0 + 1_000 + i as i64 * 5_000, t), None),
            Outcome::Accepted { late: false, .. }
        ));
    }
    // Nothing closed yet: the watermark (newest − 2 min) has not passed minute 0.
    assert!(p.observer.closed.is_empty());
    // One lane ahead does not close the other's windows: lane 01 is still live, and the
    // watermark follows the slowest live lane.
    p.apply(&ev(100, "02", T0 + 3 * 60_000 + 1, 10_000), None);
    assert!(
        p.observer.closed.is_empty(),
        "lane 02 alone at minute 3 closed windows of lane 01"
    );
    // Lane 01 reaches minute 3 too: the watermark (slowest live lane − 2 min) passes 1:00
    // and minute 0 closes.
    p.apply(&ev(101, "01", T0 + 3 * 60_000 + 2, 10_000), None);
    let one_min: Vec<_> = p.observer.closed.iter().filter(|w| w.1 == 0).collect();
    assert_eq!(one_min.len(), 1);
    let (lane, _, start, count, q) = one_min[0];
    assert_eq!((*lane, *start, *count), (0, T0, 7));
    let want: Vec<f64> = c
        .windows
        .quantiles
        .iter()
        .map(|&qq| rank(times.to_vec(), qq))
        .collect();
    assert_eq!(q, &want);
    // The gauges carry the same figures.
    let m = Metrics::parse(&lanewatch::export::metrics::text_of(&p));
    let lane01 = [
        ("checkpoint", "cp"),
        ("direction", "inbound"),
        ("lane", "01"),
    ];
    assert_eq!(
        m.get(
            "lanewatch_lane_throughput_per_minute",
            &[lane01.as_slice(), &[("window", "1m")]].concat()
        ),
        Some(7.0)
    );
    assert_eq!(
        m.get(
            "lanewatch_lane_passage_quantile_seconds",
            &[lane01.as_slice(), &[("quantile", "0.95"), ("window", "1m")]].concat()
        ),
        Some(rank(times.to_vec(), 0.95))
    );

    // An event older than the watermark is late: counted, in the histograms, no window.
    let before = p.observer.closed.len();
    assert!(matches!(
        p.apply(&ev(200, "01", T0 + 10_000, 5_000), None),
        Outcome::Accepted { late: true, .. }
    ));
    assert_eq!(p.counters.late.get(), 1);
    assert_eq!(p.counters.received.get(), 10);
    p.flush();
    let total_in_windows: u64 = p.observer.closed[before..]
        .iter()
        .chain(&p.observer.closed[..before])
        .filter(|w| w.1 == 0)
        .map(|w| w.3)
        .sum();
    assert_eq!(
        total_in_windows, 9,
        "7 + the two minute-3 events; the late one in none"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Every accepted, non-late event lands in exactly one window of each size, and
    /// window quantiles are monotonic in q.
    #[test]
    fn every_on_time_event_lands_in_exactly_one_window_per_size(
        events in prop::collection::vec((0i64..3_600_000, 1i64..600_000, 0usize..2), 1..300)
    ) {
        let c = config();
        let mut p = Pipeline::with_observer(&c, Windows::default());
        let mut on_time = 0u64;
        for (i, (offset, passage, lane)) in events.iter().enumerate() {
            let lane = if *lane == 0 { "01" } else { "02" };
            if let Outcome::Accepted { late: false, .. } = p.apply(&ev(i, lane, T0 + offset, *passage), None) {
                on_time += 1;
            }
        }
        p.flush();
        for size in 0..c.windows.sizes_ms.len() {
            let n: u64 = p.observer.closed.iter().filter(|w| w.1 == size).map(|w| w.3).sum();
            prop_assert_eq!(n, on_time, "size index {}", size);
        }
        for w in &p.observer.closed {
            prop_assert!(w.4.windows(2).all(|q| q[0] <= q[1]), "quantiles not monotonic: {:?}", w.4);
        }
        prop_assert_eq!(p.counters.late.get() + on_time, events.len() as u64);
    }
}

#[test]
fn a_silent_checkpoint_closes_its_windows_by_the_wall_clock_when_caught_up() {
    let c = config();
    let mut p = Pipeline::with_observer(&c, Windows::default());
    for i in 0..10 {
        p.apply(&ev(i, "01", T0 + i as i64 * 1_000, 20_000), None);
    }
    assert!(
        p.observer.closed.is_empty(),
        "the watermark has not passed minute 0"
    );
    // No event for an hour: the source is caught up and calls tick.
    p.tick(T0 + 3_600_000);
    let one_min: u64 = p
        .observer
        .closed
        .iter()
        .filter(|w| w.1 == 0)
        .map(|w| w.3)
        .sum();
    assert_eq!(one_min, 10, "minute 0 closed with its 10 passages");
    let m = Metrics::parse(&lanewatch::export::metrics::text_of(&p));
    let tp = m.get(
        "lanewatch_lane_throughput_per_minute",
        &[("lane", "01"), ("window", "1m")],
    );
    assert_eq!(tp, Some(0.0), "idle lane throughput falls to zero: {tp:?}");
    // A later tick with nothing new changes nothing, and a fresh event is not late.
    p.tick(T0 + 3_600_000);
    assert!(matches!(
        p.apply(&ev(99, "01", T0 + 3_600_000, 5_000), None),
        Outcome::Accepted { late: false, .. }
    ));
}
