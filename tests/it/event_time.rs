//! Event time across partitions on a real Apache Kafka broker (DESIGN §2): a
//! multi-partition backlog drained by the live service gives the windows and late
//! counts of the same events read in departure order; one sensor whose clock runs fast
//! blinds nobody; an idle partition holds no window open.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use lanewatch::config::DEFAULT_REGISTRY_TOML;
use lanewatch::event::parse;
use lanewatch::lanes::{ClosedWindow, Observer};
use lanewatch::pipeline::Pipeline;
use lanewatch::simulate::{EventKind, Imperfections, SimOptions, Simulator};
use support::*;
use tokio_util::sync::CancellationToken;

/// Every non-empty closed window: (lane key, size index, start) → (count, quantiles).
#[derive(Default)]
struct Recorder {
    closed: BTreeMap<(String, usize, i64), (u64, Vec<f64>)>,
    reported_twice: usize,
    late: std::collections::BTreeSet<String>,
}

impl Observer for Recorder {
    fn accepted(&mut self, _lane: u32, ev: &lanewatch::event::Event<'_>, late: bool) {
        if late {
            self.late.insert(ev.event_id.to_string());
        }
    }
    fn window_closed(&mut self, _lane: u32, w: &ClosedWindow<'_>) {
        if w.count == 0 {
            return;
        }
        let key = (
            format!("{}/{}/{}", w.key.checkpoint, w.key.direction, w.key.lane),
            w.size_idx,
            w.start_ms,
        );
        if self
            .closed
            .insert(key, (w.count, w.quantiles.to_vec()))
            .is_some()
        {
            self.reported_twice += 1;
        }
    }
}

impl lanewatch::pipeline::Observer for Recorder {}

/// The partition a producer keying by lane puts a lane's events on (FNV-1a of the
/// key, as any fixed hash: what matters is one lane, one partition).
fn partition_of(key: &str, partitions: i32) -> i32 {
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (h % partitions as u64) as i32
}

/// A simulated morning of the shipped registry with sensor imperfections, as
/// `(key by lane, payload)` in delivery (departure) order.
fn morning() -> Vec<(String, Vec<u8>)> {
    let reg = lanewatch::config::Config::shipped().registry;
    let t0 = lanewatch::time::parse_timestamp("2026-11-26T05:00:00+08:00").unwrap();
    let mut opts = SimOptions::new(t0, t0 + 5 * 3_600_000);
    opts.seed = 11;
    opts.imperfections = Imperfections {
        duplicates: 0.005,
        late: 0.05,
        late_by_ms: 300_000,
        ..Imperfections::default()
    };
    let limits = lanewatch::Config::shipped().events;
    Simulator::new(&reg, opts)
        .unwrap()
        .map(|e| {
            let key = match e.kind {
                EventKind::Malformed(_) => e.key.clone(),
                _ => {
                    let ev = parse(&e.payload, &limits, None).expect("valid event");
                    format!("{}/{}/{}", ev.checkpoint, ev.direction, ev.lane)
                }
            };
            (key, e.payload)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_partition_backlog_drains_to_the_windows_and_late_counts_of_departure_order() {
    let kafka = kafka!();
    drain_matches_departure_order(&kafka, None).await;
}

/// Watermark alignment pauses the partitions that run ahead while a backlog drains
/// (`source.max_partition_drift`): with a one-second drift it pauses and resumes them
/// all the way through, and every window and late event is still those of departure
/// order (nothing lost or repeated by a pause).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_paused_to_a_one_second_drift_drain_to_the_windows_of_departure_order() {
    let kafka = kafka!();
    let pauses = drain_matches_departure_order(&kafka, Some(Duration::from_secs(1))).await;
    assert!(pauses > 0.0, "no partition was paused");
}

/// Drain a simulated morning over six partitions with the service (with `drift` as
/// `source.max_partition_drift`, else the default) and compare it with the same events
/// read in departure order. Returns `lanewatch_partition_pauses_total`.
async fn drain_matches_departure_order(kafka: &Kafka, drift: Option<Duration>) -> f64 {
    const PARTITIONS: i32 = 6;
    let messages: Vec<(i32, Vec<u8>)> = morning()
        .into_iter()
        .map(|(key, payload)| (partition_of(&key, PARTITIONS), payload))
        .collect();
    let n = messages.len();
    let topic = kafka.fresh_topic("backlog", PARTITIONS).await;
    let dir = tempfile::tempdir().unwrap();
    let config = kafka.config(
        dir.path(),
        &topic,
        &unique("group"),
        "",
        DEFAULT_REGISTRY_TOML,
        "",
    );
    let mut config = config;
    if let Some(d) = drift {
        config.source.max_partition_drift = d;
    }
    // The references: the same events read in departure (delivery) order, once from
    // their partitions and once as a single stream (a file, a one-partition topic).
    // Each is pending until its last message, as a source reports it.
    let mut ordered = Pipeline::with_observer(&config, Recorder::default());
    let mut single = Pipeline::with_observer(&config, Recorder::default());
    let mut last = BTreeMap::new();
    for (i, (partition, _)) in messages.iter().enumerate() {
        last.insert(*partition, i);
        ordered.set_split_pending(*partition as u32, true);
    }
    single.set_split_pending(0, true);
    for (i, (partition, payload)) in messages.iter().enumerate() {
        ordered.apply_from(payload, *partition as u32, None);
        if last[partition] == i {
            ordered.set_split_pending(*partition as u32, false);
        }
        single.apply(payload, None);
    }
    single.set_split_pending(0, false);
    ordered.flush();
    single.flush();

    // The backlog: a lane per partition over six partitions, drained by the service.
    kafka.produce_to_partitions(&topic, &messages);
    let shutdown = CancellationToken::new();
    let running = lanewatch::run::start_with(&config, Recorder::default(), shutdown.clone())
        .await
        .expect("service starts");
    let addr = running.addr;
    let pauses = eventually(
        Duration::from_secs(120),
        "the backlog is drained and its windows closed",
        || async {
            let m = scrape(addr).await;
            let received = m.sum("lanewatch_events_received_total", &[]) as usize;
            // Caught up, the checkpoints are silent by the wall clock: their windows close
            // and the newest (empty) windows set every throughput to zero.
            let busy = m.sum("lanewatch_lane_throughput_per_minute", &[]);
            (received == n && busy == 0.0).then_some(m.sum("lanewatch_partition_pauses_total", &[]))
        },
    )
    .await;
    shutdown.cancel();
    let (_, live) = running.wait().await.expect("service stops");

    let late_live = live.counters.late.get();
    let late_ordered = ordered.counters.late.get();
    let late_single = single.counters.late.get();
    eprintln!(
        "{n} messages over {PARTITIONS} partitions: late {late_live} drained, {late_ordered} in departure order by partition, {late_single} as one stream; {} windows drained vs {} ordered",
        live.observer.closed.len(),
        ordered.observer.closed.len()
    );
    assert!(late_ordered > 100, "the data set has late events");
    assert_eq!(
        live.observer.late, ordered.observer.late,
        "the same events are late however the partitions interleave"
    );
    assert!(
        (late_single as f64 - late_ordered as f64).abs() <= 0.01 * late_single as f64,
        "late events: {late_ordered} from six partitions vs {late_single} from one stream"
    );
    // Read as one stream, an event can only differ where a quiet lane is live in one
    // reading and idle in the other: each such event changes one window per size.
    let single_differ = single
        .observer
        .closed
        .iter()
        .filter(|(k, v)| live.observer.closed.get(*k) != Some(*v))
        .count() as u64;
    assert!(
        single_differ <= late_single.abs_diff(late_ordered) * config.windows.sizes_ms.len() as u64,
        "{single_differ} windows differ from the one-stream reading"
    );
    assert!(
        (late_live as f64 - late_ordered as f64).abs() <= 0.01 * late_ordered as f64,
        "late events: {late_live} drained vs {late_ordered} in departure order"
    );
    assert_eq!(
        live.observer.reported_twice, 0,
        "a window was reported twice"
    );
    assert_eq!(
        live.counters.received.get(),
        ordered.counters.received.get()
    );
    let mut differ = Vec::new();
    for (k, v) in &ordered.observer.closed {
        if live.observer.closed.get(k) != Some(v) {
            differ.push(format!(
                "{k:?}: ordered {v:?}, drained {:?}",
                live.observer.closed.get(k)
            ));
        }
    }
    for k in live.observer.closed.keys() {
        if !ordered.observer.closed.contains_key(k) {
            differ.push(format!("{k:?}: only drained"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} windows differ, e.g. {:?}",
        differ.len(),
        ordered.observer.closed.len(),
        &differ[..differ.len().min(5)]
    );
    pauses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sensor_clock_running_fast_does_not_make_the_others_late() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("fastclock", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = kafka.config(
        dir.path(),
        &topic,
        &unique("group"),
        "",
        DEFAULT_REGISTRY_TOML,
        "",
    );
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone())
        .await
        .expect("service starts");
    let addr = running.addr;
    let now = now_ms();
    let ev = |i: usize, lane: &str, departed: i64| {
        (
            format!("baimiao/inbound/{lane}"),
            event_json(
                &format!("fast-{i}"),
                "baimiao",
                "inbound",
                lane,
                departed - 40_000,
                None,
                departed,
            )
            .into_bytes(),
        )
    };
    // 20 accurate events on lane 01 over the last 40 s, then one from lane 02 whose
    // clock runs 4 minutes fast (accepted: within max_clock_skew), then 20 more
    // accurate events on lane 01.
    let mut msgs: Vec<_> = (0..20)
        .map(|i| ev(i, "01", now - 40_000 + i as i64 * 1_000))
        .collect();
    msgs.push(ev(20, "02", now + 240_000));
    msgs.extend((21..41).map(|i| ev(i, "01", now - 20_000 + i as i64 * 500)));
    kafka.produce(&topic, &msgs);
    let m = eventually(Duration::from_secs(60), "all 41 received", || async {
        let m = scrape(addr).await;
        (m.sum("lanewatch_events_received_total", &[]) == 41.0).then_some(m)
    })
    .await;
    assert_eq!(m.sum("lanewatch_events_rejected_total", &[]), 0.0);
    assert_eq!(
        m.sum("lanewatch_events_late_total", &[]),
        0.0,
        "accurate events were counted late because of one fast sensor"
    );
    shutdown.cancel();
    running.wait().await.expect("service stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_partition_holds_no_window_open() {
    let kafka = kafka!();
    // Three partitions, traffic on one: the other two are caught up (empty) and must
    // not hold the watermark back.
    let topic = kafka.fresh_topic("idlepart", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let config = kafka.config(
        dir.path(),
        &topic,
        &unique("group"),
        "",
        DEFAULT_REGISTRY_TOML,
        // Long enough that only the partitions' states can close the windows, not the
        // silent-checkpoint rule.
        "[windows]\nidle_timeout = \"1h\"\n",
    );
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone())
        .await
        .expect("service starts");
    let addr = running.addr;
    let t0 = now_ms() - 30 * 60_000;
    // Two lanes, one passage every 10 s for 20 minutes, all to partition 0.
    let msgs: Vec<(i32, Vec<u8>)> = (0..240)
        .map(|i| {
            let lane = if i % 2 == 0 { "01" } else { "02" };
            let departed = t0 + i as i64 * 5_000;
            (
                0,
                event_json(
                    &format!("idle-{i}"),
                    "baimiao",
                    "inbound",
                    lane,
                    departed - 30_000,
                    None,
                    departed,
                )
                .into_bytes(),
            )
        })
        .collect();
    kafka.produce_to_partitions(&topic, &msgs);
    // 20 minutes of events with 2 minutes of lateness: the 1-minute windows up to
    // minute 17 close, each with 6 passages per lane.
    eventually(Duration::from_secs(60), "windows closed", || async {
        let m = scrape(addr).await;
        let tp = m.get(
            "lanewatch_lane_throughput_per_minute",
            &[
                ("checkpoint", "baimiao"),
                ("direction", "inbound"),
                ("lane", "01"),
                ("window", "1m"),
            ],
        );
        (tp == Some(6.0)).then_some(())
    })
    .await;
    shutdown.cancel();
    running.wait().await.expect("service stops");
}
