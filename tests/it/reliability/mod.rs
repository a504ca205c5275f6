//! Reliability against a real Apache Kafka broker: crash and restart, poison input,
//! an unavailable dead-letter topic, a cardinality attack, a silent lane, and a second
//! instance joining and leaving under load.

use crate::support;

use std::time::Duration;

use support::service::Service;
use support::*;
use tokio_util::sync::CancellationToken;

mod lanes;

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
    kafka: &Kafka,
    dir: &std::path::Path,
    topic: &str,
    group: &str,
    dlq: &str,
    registry: &str,
    extra: &str,
) -> std::path::PathBuf {
    let path = dir.join("lanewatch.toml");
    std::fs::write(
        &path,
        kafka.config_toml(dir, topic, group, dlq, registry, extra),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_and_redelivers_only_what_was_uncommitted() {
    let kafka = kafka!();
    let parts = 4;
    let topic = kafka.fresh_topic("crash", parts).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&kafka, dir.path(), &topic, &group, "", "", "");
    // Commits every 3 s: the kill below lands between two of them whatever the speed
    // (the service drains 80,000 events in a fraction of a 500 ms interval, so killing
    // "after the first commit" found everything committed on an idle machine).
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("commit_interval = \"500ms\""));
    std::fs::write(
        &path,
        text.replace("commit_interval = \"500ms\"", "commit_interval = \"3s\""),
    )
    .unwrap();
    let total = 80_000usize;
    let all = events("crash", "kq", total, 16, now_ms() - 3_600_000);
    let (first_half, second_half) = all.split_at(total / 2);
    kafka.produce(&topic, first_half);

    let first = Service::start(&path);
    let a = first.addr;
    // The first half applied and committed...
    eventually(Duration::from_secs(60), "first half committed", || async {
        let committed: i64 = kafka
            .committed(&topic, &group, parts)
            .iter()
            .map(|&o| o.max(0))
            .sum();
        (committed as usize == total / 2).then_some(())
    })
    .await;
    // ...then the second half applied, and the process killed before its next commit.
    kafka.produce(&topic, second_half);
    let seen = eventually(Duration::from_secs(60), "second half applied", || async {
        let m = scrape(a).await;
        let got = m.get("lanewatch_events_received_total", &[]).unwrap_or(0.0);
        (got as usize == total).then_some(got)
    })
    .await;
    first.signal("KILL");
    let (status, _) = first.wait(Duration::from_secs(5));
    assert!(!status.success());
    let committed_at_kill: i64 = kafka
        .committed(&topic, &group, parts)
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
        kafka.committed(&topic, &group, parts),
        kafka.high_watermarks(&topic, parts)
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
    let kafka = kafka!();
    let topic = kafka.fresh_topic("poison", 1).await;
    let dlq = kafka.fresh_topic("poison-dlq", 1).await;
    let group = unique("group");
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&kafka, dir.path(), &topic, &group, &dlq, "", "");
    let now = now_ms();
    let bad = corpus(now);
    // Poison between valid events: the valid ones after it must still count.
    let mut msgs = events("before", "pq", 100, 2, now - 7_200_000);
    msgs.extend(
        bad.iter()
            .map(|(_, b)| ("pq/inbound/01".to_string(), b.clone())),
    );
    msgs.extend(events("after", "pq", 100, 2, now - 3_000_000));
    kafka.produce(&topic, &msgs);
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
    let dead = kafka.read_all(&dlq, bad.len(), Duration::from_secs(30));
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
        kafka.committed(&topic, &group, 1),
        kafka.high_watermarks(&topic, 1),
        "offsets advanced past the poison"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_dead_letter_topic_is_counted_and_logged_never_silent() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("dlqdown", 1).await;
    // A dead-letter topic that refuses every message (max.message.bytes = 1 byte... of
    // payload overhead): deliveries fail at the broker.
    let dlq = unique("dlq-tiny");
    {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let admin: AdminClient<rdkafka::client::DefaultClientContext> =
            rdkafka::ClientConfig::new()
                .set("bootstrap.servers", kafka.brokers())
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
        &kafka,
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
    kafka.produce(&topic, &bad);
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
