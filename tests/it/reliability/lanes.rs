//! Lanes under attack and at rest: a cardinality attack is capped, junk lanes expire, a
//! silent registered lane keeps its series, and a second instance joins and leaves under
//! load.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cardinality_attack_is_capped_and_counted() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("cardinality", 2).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &kafka,
        dir.path(),
        &topic,
        &group,
        "",
        "[[checkpoint]]\nid = \"real\"\n[[checkpoint.lane]]\ndirection = \"inbound\"\nids = [\"01\"]\n",
        "[lanes]\nmax_dynamic_lanes = 500\n",
    );
    let base = now_ms() - 3_600_000;
    let n = 100_000;
    let msgs: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let lane = format!("x{i}");
            let d = base + i as i64;
            (
                format!("evil/inbound/{lane}"),
                event_json(
                    &format!("evil-{i}"),
                    "evil",
                    "inbound",
                    &lane,
                    d - 1000,
                    None,
                    d,
                )
                .into_bytes(),
            )
        })
        .collect();
    kafka.produce(&topic, &msgs);
    let svc = Service::start(&path);
    let a = svc.addr;
    let m = eventually(Duration::from_secs(120), "attack consumed", || async {
        let m = scrape(a).await;
        (m.get("lanewatch_events_received_total", &[]) == Some(n as f64)).then_some(m)
    })
    .await;
    assert_eq!(
        m.count("lanewatch_passages_total"),
        501,
        "1 registered + 500 dynamic lanes"
    );
    assert_eq!(m.get("lanewatch_lanes_dynamic", &[]), Some(500.0));
    assert_eq!(
        m.get("lanewatch_lane_overflow_events_total", &[]),
        Some((n - 500) as f64)
    );
    let rss = svc.peak_rss_kib() / 1024;
    eprintln!("cardinality: {n} distinct lanes, 500 series kept, peak RSS {rss} MiB");
    assert!(rss < 256, "peak RSS {rss} MiB");
    svc.signal("TERM");
    assert!(svc.wait(Duration::from_secs(10)).0.success());
}

/// Junk lane ids fill `lanes.max_dynamic_lanes`; once they have been silent for
/// `lanes.dynamic_lane_expiry` they are removed (series too), and a real new lane
/// that overflowed meanwhile gets a place (issue #14: it stayed invisible until a
/// restart). Registered lanes never expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_lanes_expire_and_a_real_new_lane_gets_their_place() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("expiry", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &kafka,
        dir.path(),
        &topic,
        &unique("group"),
        "",
        "[[checkpoint]]\nid = \"real\"\n[[checkpoint.lane]]\ndirection = \"inbound\"\nids = [\"01\"]\n",
        "[lanes]\nmax_dynamic_lanes = 20\ndynamic_lane_expiry = \"4s\"\n",
    );
    let base = now_ms() - 600_000;
    let ev = |i: i64, cp: &str, lane: &str| {
        let d = base + i * 1000;
        (
            format!("{cp}/inbound"),
            event_json(
                &format!("{cp}-{lane}-{i}"),
                cp,
                "inbound",
                lane,
                d - 1000,
                None,
                d,
            )
            .into_bytes(),
        )
    };
    let mut msgs: Vec<_> = (0..20).map(|i| ev(i, "junk", &format!("j{i}"))).collect();
    msgs.push(ev(20, "real", "01"));
    msgs.push(ev(21, "new", "N1"));
    kafka.produce(&topic, &msgs);
    let svc = Service::start(&path);
    let a = svc.addr;
    let m = eventually(Duration::from_secs(60), "junk consumed", || async {
        let m = scrape(a).await;
        (m.get("lanewatch_events_received_total", &[]) == Some(22.0)).then_some(m)
    })
    .await;
    assert_eq!(m.get("lanewatch_lanes_dynamic", &[]), Some(20.0));
    assert_eq!(
        m.get("lanewatch_lane_overflow_events_total", &[]),
        Some(1.0)
    );
    // The junk expires; the new lane, heard from again, is exported.
    tokio::time::sleep(Duration::from_secs(6)).await;
    kafka.produce(&topic, &[ev(30, "new", "N1"), ev(31, "real", "01")]);
    let m = eventually(Duration::from_secs(60), "the new lane exported", || async {
        let m = scrape(a).await;
        (m.get("lanewatch_events_received_total", &[]) == Some(24.0)).then_some(m)
    })
    .await;
    let lanes: Vec<String> = m
        .samples
        .iter()
        .filter(|(n, _, _)| n == "lanewatch_passages_total")
        .map(|(_, l, _)| format!("{}/{}", l["checkpoint"], l["lane"]))
        .collect();
    assert!(lanes.contains(&"new/N1".to_string()), "{lanes:?}");
    assert!(lanes.contains(&"real/01".to_string()), "{lanes:?}");
    assert!(!lanes.iter().any(|l| l.starts_with("junk/")), "{lanes:?}");
    assert_eq!(m.get("lanewatch_lanes_dynamic", &[]), Some(1.0));
    svc.signal("TERM");
    assert!(svc.wait(Duration::from_secs(10)).0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_registered_lane_keeps_its_series_and_its_last_departure() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("silent", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = "[[checkpoint]]\nid = \"sq\"\n[[checkpoint.lane]]\ndirection = \"inbound\"\nids = [\"busy\", \"quiet\", \"never\"]\n";
    let config = kafka.config(
        dir.path(),
        &topic,
        &unique("group"),
        "",
        reg,
        "[windows]\nidle_timeout = \"1s\"\n",
    );
    let now = now_ms();
    let quiet_last = now - 1_800_000; // 30 minutes ago
    let mut msgs = vec![(
        "sq/inbound/quiet".to_string(),
        event_json(
            "q-1",
            "sq",
            "inbound",
            "quiet",
            quiet_last - 60_000,
            None,
            quiet_last,
        )
        .into_bytes(),
    )];
    for i in 0..20 {
        let d = now - 60_000 + i * 2_000;
        msgs.push((
            "sq/inbound/busy".into(),
            event_json(
                &format!("b-{i}"),
                "sq",
                "inbound",
                "busy",
                d - 30_000,
                None,
                d,
            )
            .into_bytes(),
        ));
    }
    kafka.produce(&topic, &msgs);
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone()).await.unwrap();
    let a = running.addr;
    let m = eventually(Duration::from_secs(60), "consumed", || async {
        let m = scrape(a).await;
        (m.get("lanewatch_events_received_total", &[]) == Some(21.0)).then_some(m)
    })
    .await;
    let lane = |l: &'static str| [("checkpoint", "sq"), ("direction", "inbound"), ("lane", l)];
    // Every registered lane keeps its series; the silence is visible as an old timestamp.
    assert_eq!(m.get("lanewatch_passages_total", &lane("never")), Some(0.0));
    assert_eq!(
        m.get(
            "lanewatch_lane_last_departure_timestamp_seconds",
            &lane("never")
        ),
        Some(0.0)
    );
    assert_eq!(
        m.get(
            "lanewatch_lane_last_departure_timestamp_seconds",
            &lane("quiet")
        ),
        Some(quiet_last as f64 / 1000.0)
    );
    let busy_last = m
        .get(
            "lanewatch_lane_last_departure_timestamp_seconds",
            &lane("busy"),
        )
        .unwrap();
    // What a silent-sensor alert computes: time() - last departure.
    let now_s = now_ms() as f64 / 1000.0;
    assert!(now_s - busy_last < 120.0 && now_s - quiet_last as f64 / 1000.0 > 1_700.0);
    // Once caught up, idle checkpoints' windows close: the quiet lane's 1m throughput is 0.
    eventually(
        Duration::from_secs(20),
        "windows closed by the idle timeout",
        || async {
            let m = scrape(a).await;
            let mut l = lane("quiet").to_vec();
            l.push(("window", "1m"));
            (m.get("lanewatch_lane_throughput_per_minute", &l) == Some(0.0)).then_some(())
        },
    )
    .await;
    shutdown.cancel();
    running.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_joining_and_leaving_under_load_neither_loses_nor_doubles() {
    let kafka = kafka!();
    let parts = 6;
    let topic = kafka.fresh_topic("rebalance", parts).await;
    let group = unique("group");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ca = kafka.config(da.path(), &topic, &group, "", "", "");
    let cb = kafka.config(db.path(), &topic, &group, "", "", "");
    let stop_a = CancellationToken::new();
    let a = lanewatch::start(&ca, stop_a.clone()).await.unwrap();
    let aa = a.addr;
    let base = now_ms() - 3_600_000;
    let total = 60_000usize;
    let msgs = events("rb", "rq", total, 24, base);
    // Produce in three bursts while B joins and then leaves.
    let third = total / 3;
    let t1 = topic.clone();
    let first = msgs[..third].to_vec();
    let k = kafka.clone();
    tokio::task::spawn_blocking(move || k.produce(&t1, &first))
        .await
        .unwrap();
    let stop_b = CancellationToken::new();
    let b = lanewatch::start(&cb, stop_b.clone()).await.unwrap();
    let ab = b.addr;
    eventually(Duration::from_secs(60), "B owns partitions", || async {
        (scrape(ab)
            .await
            .get("lanewatch_assigned_partitions", &[])
            .unwrap_or(0.0)
            > 0.0)
            .then_some(())
    })
    .await;
    // The second third goes partly to B's partitions: B consumes under load.
    let t2 = topic.clone();
    let second = msgs[third..2 * third].to_vec();
    let k = kafka.clone();
    tokio::task::spawn_blocking(move || k.produce(&t2, &second))
        .await
        .unwrap();
    eventually(Duration::from_secs(60), "B consuming", || async {
        (scrape(ab)
            .await
            .get("lanewatch_events_received_total", &[])
            .unwrap_or(0.0)
            > 0.0)
            .then_some(())
    })
    .await;
    // B leaves (its revoked partitions are committed), A takes them back, load continues.
    let mb_final = scrape(ab).await;
    stop_b.cancel();
    let (_, pb) = b.wait().await.unwrap();
    let b_count = pb.counters.received.get() as f64;
    let t3 = topic.clone();
    let rest = msgs[2 * third..].to_vec();
    let k = kafka.clone();
    tokio::task::spawn_blocking(move || k.produce(&t3, &rest))
        .await
        .unwrap();
    let ma = eventually(
        Duration::from_secs(120),
        "A and B together saw every event",
        || async {
            let m = scrape(aa).await;
            (m.get("lanewatch_events_received_total", &[]).unwrap_or(0.0) + b_count >= total as f64)
                .then_some(m)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ma_final = scrape(aa).await;
    let a_count = ma_final
        .get("lanewatch_events_received_total", &[])
        .unwrap();
    assert!(
        b_count > 0.0,
        "B consumed while it was a member ({})",
        mb_final
            .get("lanewatch_events_received_total", &[])
            .unwrap_or(0.0)
    );
    assert_eq!(
        a_count + b_count,
        total as f64,
        "together exactly the events produced (A {a_count}, B {b_count})"
    );
    let passages = ma.sum("lanewatch_passages_total", &[]);
    assert!(passages <= a_count);
    assert_eq!(
        ma_final.sum("lanewatch_passages_total", &[]) + pb.counters.received.get() as f64
            - pb.counters.duplicates.get() as f64,
        total as f64
    );
    assert!(
        ma_final
            .get("lanewatch_rebalances_total", &[("kind", "revoke")])
            .unwrap_or(0.0)
            >= 1.0
    );
    stop_a.cancel();
    a.wait().await.unwrap();
    assert_eq!(
        kafka.committed(&topic, &group, parts),
        kafka.high_watermarks(&topic, parts)
    );
}
