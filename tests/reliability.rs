//! Reliability against a real Apache Kafka broker: crash and restart, poison input,
//! an unavailable dead-letter topic, a cardinality attack, a silent lane, and a second
//! instance joining and leaving under load.

mod common;

use std::time::Duration;

use common::service::Service;
use common::*;
use tokio_util::sync::CancellationToken;

fn events(prefix: &str, cp: &str, n: usize, lanes: usize, base: i64) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let lane = format!("L{:02}", i % lanes);
            let d = base + (i as i64) * 10;
            (
                format!("{cp}/inbound/{lane}"),
                event_json(
                    &format!("{prefix}-{i}"),
                    cp,
                    "inbound",
                    &lane,
                    d - 40_000,
                    None,
                    d,
                )
                .into_bytes(),
            )
        })
        .collect()
}

fn write_config(
    dir: &std::path::Path,
    topic: &str,
    group: &str,
    dlq: &str,
    registry: &str,
    extra: &str,
) -> std::path::PathBuf {
    let path = dir.join("lanewatch.toml");
    std::fs::write(&path, config_toml(dir, topic, group, dlq, registry, extra)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_and_redelivers_only_what_was_uncommitted() {
    let parts = 4;
    let topic = fresh_topic("crash", parts).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &topic, &group, "", "", "");
    let total = 80_000usize;
    produce(
        &topic,
        &events("crash", "kq", total, 16, now_ms() - 3_600_000),
    );

    let first = Service::start(&path);
    let a = first.addr;
    // Let it commit at least once (500 ms interval), then kill it mid-stream.
    let seen = eventually(
        Duration::from_secs(60),
        "consuming and committed",
        || async {
            let m = scrape(a).await;
            let got = m.get("lanewatch_events_received_total", &[]).unwrap_or(0.0);
            let commits = m
                .get("lanewatch_offset_commits_total", &[("result", "ok")])
                .unwrap_or(0.0);
            (got > 0.0 && commits > 0.0).then_some(got)
        },
    )
    .await;
    first.signal("KILL");
    let (status, _) = first.wait(Duration::from_secs(5));
    assert!(!status.success());
    let committed_at_kill: i64 = committed(&topic, &group, parts)
        .iter()
        .map(|&o| o.max(0))
        .sum();
    assert!(
        committed_at_kill > 0 && (committed_at_kill as usize) < total,
        "killed mid-stream: {committed_at_kill}"
    );

    let second = Service::start(&path);
    let b = second.addr;
    let rest = (total as i64 - committed_at_kill) as f64;
    let m = eventually(
        Duration::from_secs(120),
        "restart drained the topic",
        || async {
            let m = scrape(b).await;
            (m.get("lanewatch_events_received_total", &[]) == Some(rest)).then_some(m)
        },
    )
    .await;
    // Nothing missing: the restart reads everything from the committed offsets on, so
    // the two runs together cover every event. Re-delivered: what the first run had
    // applied after its last commit (at least `seen - committed`, when positive).
    assert_eq!(m.sum("lanewatch_passages_total", &[]), rest);
    let redelivered_lower_bound = (seen - committed_at_kill as f64).max(0.0);
    eprintln!(
        "crash: produced {total}, committed at kill {committed_at_kill}, scraped before kill {seen}, re-read after restart {rest}, re-delivered >= {redelivered_lower_bound}"
    );
    second.signal("TERM");
    assert!(second.wait(Duration::from_secs(10)).0.success());
    assert_eq!(
        committed(&topic, &group, parts),
        high_watermarks(&topic, parts)
    );
}

/// The poison corpus: every message must be rejected under the expected reason.
fn corpus(now: i64) -> Vec<(&'static str, Vec<u8>)> {
    let base = now - 3_600_000;
    let good = |f: &dyn Fn(String) -> String| {
        f(event_json(
            "p-1",
            "pq",
            "inbound",
            "01",
            base,
            Some(base + 60_000),
            base + 90_000,
        ))
        .into_bytes()
    };
    let drop_field = |name: &'static str| {
        move |s: String| {
            let mut v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&s).unwrap();
            v.remove(name);
            serde_json::to_string(&v).unwrap()
        }
    };
    let set = |name: &'static str, raw: &'static str| {
        move |s: String| {
            let mut v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&s).unwrap();
            v.insert(name.into(), serde_json::from_str(raw).unwrap());
            serde_json::to_string(&v).unwrap()
        }
    };
    let mut c: Vec<(&'static str, Vec<u8>)> = vec![
        ("invalid_json", b"this is not json".to_vec()),
        ("invalid_json", good(&|s| s[..s.len() / 2].to_string())),
        ("not_utf8", vec![0xc3, 0x28, 0xa0, 0xa1]),
        ("invalid_json", Vec::new()),
        ("invalid_json", b"null".to_vec()),
        ("invalid_json", b"[1,2,3]".to_vec()),
        (
            "invalid_json",
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        ),
        ("invalid_field", good(&set("lane", "42"))),
        ("invalid_field", good(&set("checkpoint", "{\"a\":1}"))),
        ("invalid_field", good(&set("direction", "\"sideways\""))),
        (
            "invalid_field",
            good(&set("vehicle_class", "\"spaceship\"")),
        ),
        (
            "invalid_field",
            good(&set("arrived_at", "\"2026-13-45T99:00:00+08:00\"")),
        ),
        ("invalid_field", good(&set("arrived_at", "1e308"))),
        (
            "invalid_field",
            good(&set("departed_at", "123456789012345678901234567890")),
        ),
        (
            "invalid_json",
            String::from_utf8(good(&set("arrived_at", "1")))
                .unwrap()
                .replace(":1,", ":1e999,")
                .into_bytes(),
        ),
        (
            "future_event",
            event_json(
                "p-f",
                "pq",
                "inbound",
                "01",
                now + 3_600_000,
                None,
                now + 3_660_000,
            )
            .into_bytes(),
        ),
        (
            "future_event",
            event_json(
                "p-g",
                "pq",
                "inbound",
                "01",
                200_000_000_000_000,
                None,
                200_000_000_060_000,
            )
            .into_bytes(),
        ),
        ("departed_before_arrived", good(&set("departed_at", "1"))),
        ("too_large", vec![b' '; 70_000]),
        ("too_large", vec![b'x'; 5 * 1024 * 1024]),
    ];
    for f in [
        "event_id",
        "checkpoint",
        "direction",
        "lane",
        "arrived_at",
        "departed_at",
    ] {
        c.push(("missing_field", good(&drop_field(f))));
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_input_is_counted_dead_lettered_and_passed_with_bounded_memory() {
    let topic = fresh_topic("poison", 1).await;
    let dlq = fresh_topic("poison-dlq", 1).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &topic, &group, &dlq, "", "");
    let now = now_ms();
    let bad = corpus(now);
    // Poison between valid events: the valid ones after it must still count.
    let mut msgs = events("before", "pq", 100, 2, now - 7_200_000);
    msgs.extend(
        bad.iter()
            .map(|(_, b)| ("pq/inbound/01".to_string(), b.clone())),
    );
    msgs.extend(events("after", "pq", 100, 2, now - 3_000_000));
    produce(&topic, &msgs);
    let svc = Service::start(&path);
    let a = svc.addr;
    let m = eventually(
        Duration::from_secs(60),
        "every message processed",
        || async {
            let m = scrape(a).await;
            (m.get("lanewatch_events_received_total", &[]) == Some(msgs.len() as f64)).then_some(m)
        },
    )
    .await;
    assert_eq!(m.sum("lanewatch_passages_total", &[]), 200.0);
    for reason in [
        "invalid_json",
        "not_utf8",
        "invalid_field",
        "missing_field",
        "future_event",
        "departed_before_arrived",
        "too_large",
    ] {
        let want = bad.iter().filter(|(r, _)| *r == reason).count() as f64;
        assert_eq!(
            m.get("lanewatch_events_rejected_total", &[("reason", reason)]),
            Some(want),
            "{reason}"
        );
    }
    let dead = read_all(&dlq, bad.len(), Duration::from_secs(30));
    assert_eq!(dead.len(), bad.len());
    let mut payloads: Vec<&Vec<u8>> = dead.iter().map(|d| &d.payload).collect();
    let mut want: Vec<&Vec<u8>> = bad.iter().map(|(_, b)| b).collect();
    payloads.sort();
    want.sort();
    assert!(payloads == want, "dead letters hold the original bytes");
    assert!(
        dead.iter()
            .all(|d| d.headers.contains_key("lanewatch.reason")
                && d.headers["lanewatch.source.topic"] == topic)
    );
    let rss_mib = svc.peak_rss_kib() / 1024;
    eprintln!(
        "poison: {} bad of {} messages, peak RSS {rss_mib} MiB",
        bad.len(),
        msgs.len()
    );
    assert!(rss_mib < 256, "peak RSS {rss_mib} MiB");
    svc.signal("TERM");
    let (st, _) = svc.wait(Duration::from_secs(10));
    assert!(st.success());
    assert_eq!(
        committed(&topic, &group, 1),
        high_watermarks(&topic, 1),
        "offsets advanced past the poison"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_dead_letter_topic_is_counted_and_logged_never_silent() {
    let topic = fresh_topic("dlqdown", 1).await;
    // A dead-letter topic that refuses every message (max.message.bytes = 1 byte... of
    // payload overhead): deliveries fail at the broker.
    let dlq = unique("dlq-tiny");
    {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let admin: AdminClient<rdkafka::client::DefaultClientContext> =
            rdkafka::ClientConfig::new()
                .set("bootstrap.servers", brokers())
                .create()
                .unwrap();
        let t = NewTopic::new(&dlq, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "10");
        for r in admin
            .create_topics(&[t], &AdminOptions::new())
            .await
            .unwrap()
        {
            r.unwrap();
        }
    }
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &topic,
        &group,
        &dlq,
        "",
        "[kafka]\n\"message.timeout.ms\" = 5000\n",
    );
    let bad: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                "x/inbound/1".to_string(),
                format!("not json {i}").into_bytes(),
            )
        })
        .collect();
    produce(&topic, &bad);
    let svc = Service::start(&path);
    let a = svc.addr;
    eventually(
        Duration::from_secs(60),
        "every failed delivery counted",
        || async {
            let m = scrape(a).await;
            (m.get("lanewatch_dead_letter_total", &[("result", "failed")]) == Some(5.0))
                .then_some(())
        },
    )
    .await;
    let m = scrape(a).await;
    assert_eq!(
        m.get(
            "lanewatch_events_rejected_total",
            &[("reason", "invalid_json")]
        ),
        Some(5.0)
    );
    assert_eq!(
        m.get("lanewatch_dead_letter_total", &[("result", "delivered")]),
        Some(0.0)
    );
    let log = svc.log_text();
    let errors = log
        .lines()
        .filter(|l| l.contains("could not dead-letter") && l.contains("source_offset"))
        .count();
    assert_eq!(
        errors, 5,
        "each failed dead letter is logged with its source offset"
    );
    svc.signal("TERM");
    assert!(svc.wait(Duration::from_secs(15)).0.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cardinality_attack_is_capped_and_counted() {
    let topic = fresh_topic("cardinality", 2).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
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
    produce(&topic, &msgs);
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
    let topic = fresh_topic("expiry", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
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
    produce(&topic, &msgs);
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
    produce(&topic, &[ev(30, "new", "N1"), ev(31, "real", "01")]);
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
    let topic = fresh_topic("silent", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = "[[checkpoint]]\nid = \"sq\"\n[[checkpoint.lane]]\ndirection = \"inbound\"\nids = [\"busy\", \"quiet\", \"never\"]\n";
    let config = config(
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
    produce(&topic, &msgs);
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
    let parts = 6;
    let topic = fresh_topic("rebalance", parts).await;
    let group = unique("group");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ca = config(da.path(), &topic, &group, "", "", "");
    let cb = config(db.path(), &topic, &group, "", "", "");
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
    tokio::task::spawn_blocking(move || produce(&t1, &first))
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
    tokio::task::spawn_blocking(move || produce(&t2, &second))
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
    tokio::task::spawn_blocking(move || produce(&t3, &rest))
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
        committed(&topic, &group, parts),
        high_watermarks(&topic, parts)
    );
}
