//! `lanewatch replay --brokers --topic --from --to` against the real Apache Kafka of
//! the suite: events with known Kafka timestamps across several partitions; a middle
//! range is replayed and exactly its events are reported, only the messages within
//! the lateness margin are read, and the live group's committed offsets are untouched.

use crate::support;
use crate::support::replay as helpers;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use helpers::{Passage, T0, replay, replay_json};
use support::{Kafka, unique};

const PARTITIONS: i32 = 3;
const LATENESS: i64 = 120_000;

/// Produce each event with Kafka timestamp `departed + 500 ms`, keyed by lane.
fn produce_timestamped(kafka: &Kafka, topic: &str, evs: &[Passage]) {
    produce(kafka, topic, evs, true)
}

/// Produce each event keyed by lane, with Kafka timestamp `departed + 500 ms` or, when
/// not `timestamped`, the time it is produced.
fn produce(kafka: &Kafka, topic: &str, evs: &[Passage], timestamped: bool) {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.brokers())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for e in evs {
        let key = e.key();
        let value = e.dataset_json(true);
        let mut rec = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(value.as_str());
        if timestamped {
            rec = rec.timestamp(e.departed + 500);
        }
        support::send(&p, rec);
    }
    p.flush(Duration::from_secs(30)).unwrap();
}

/// A live group that has committed offset 7 on every partition.
fn live_group(kafka: &Kafka, topic: &str) -> String {
    let group = unique("live");
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.brokers())
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Offset(7))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
    group
}

#[tokio::test(flavor = "multi_thread")]
async fn a_middle_range_is_replayed_exactly_and_the_live_group_is_untouched() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("replay", PARTITIONS).await;
    let lanes = [
        ("baimiao", "inbound", "01"),
        ("baimiao", "inbound", "02"),
        ("baimiao", "outbound", "01"),
        ("xianghe", "inbound", "A1"),
        ("xianghe", "outbound", "B-2"),
        ("dachang", "inbound", "03"),
    ];
    // 1,200 events, one every 5 s over 100 minutes, lanes round-robin.
    let evs: Vec<Passage> = (0..1200)
        .map(|i| {
            let (cp, dir, lane) = lanes[i % lanes.len()];
            let departed = T0 + i as i64 * 5_000;
            Passage {
                id: format!("k-{i}"),
                cp,
                dir,
                lane,
                arrived: departed - 30_000 - (i as i64 * 7919) % 600_000,
                inspection: None,
                departed,
            }
        })
        .collect();
    produce_timestamped(&kafka, &topic, &evs);
    let group = live_group(&kafka, &topic);
    let before = kafka.committed(&topic, &group, PARTITIONS);
    assert_eq!(before, vec![7; PARTITIONS as usize]);

    let (from, to) = (T0 + 30 * 60_000 + 2_500, T0 + 70 * 60_000);
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let dir = tempfile::tempdir().unwrap();
    let b = kafka.brokers();
    let args = [
        "--brokers",
        b.as_str(),
        "--topic",
        topic.as_str(),
        "--from",
        &from_s,
        "--to",
        &to_s,
    ];
    let (bytes, j) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            replay_json(&dir, "k.json", &a)
        }
    })
    .await
    .unwrap();

    let in_range: Vec<&Passage> = evs
        .iter()
        .filter(|e| e.departed >= from && e.departed < to)
        .collect();
    let read_window = evs
        .iter()
        .filter(|e| e.departed + 500 >= from - LATENESS && e.departed + 500 < to + LATENESS)
        .count() as u64;
    assert_eq!(
        j["events"]["accepted"],
        in_range.len() as u64,
        "exactly the range's events"
    );
    assert_eq!(
        j["events"]["read"], read_window,
        "read only the range plus the lateness"
    );
    assert_eq!(
        j["events"]["out_of_range"],
        read_window - in_range.len() as u64
    );
    assert_eq!(j["events"]["duplicates"], 0);
    let mut want: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for e in &in_range {
        *want
            .entry((e.cp.into(), e.dir.into(), e.lane.into()))
            .or_default() += 1;
    }
    let got: BTreeMap<(String, String, String), u64> = j["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_string();
            (
                (s("checkpoint"), s("direction"), s("lane")),
                l["passages"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // The live group's offsets are untouched; a second replay gives the same bytes.
    assert_eq!(kafka.committed(&topic, &group, PARTITIONS), before);
    let (again, _) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            replay_json(&dir, "k2.json", &a)
        }
    })
    .await
    .unwrap();
    assert!(bytes == again, "two replays of one range differ");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_topic_is_named() {
    let kafka = kafka!();
    let b = kafka.brokers();
    let topic = unique("no-such-topic");
    let e = tokio::task::spawn_blocking(move || {
        replay(&[
            "--brokers",
            &b,
            "--topic",
            &topic,
            "--from",
            "1000",
            "--to",
            "2000",
        ])
        .unwrap_err()
        .to_string()
    })
    .await
    .unwrap();
    assert!(e.contains("does not exist") && e.contains("--topic"), "{e}");
}

fn few_events(prefix: &str) -> Vec<Passage> {
    (0..50)
        .map(|i| Passage {
            id: format!("{prefix}-{i}"),
            cp: "baimiao",
            dir: "inbound",
            lane: "01",
            arrived: T0 + i * 10_000 - 40_000,
            inspection: None,
            departed: T0 + i * 10_000,
        })
        .collect()
}

/// Range arithmetic at the edges (issue #14): `--from 0` (below the allowed lateness)
/// used to ask Kafka for offsets at a negative timestamp and fail with
/// `InvalidArgument`; it reads from the start of every partition.
#[tokio::test(flavor = "multi_thread")]
async fn a_range_from_the_epoch_reads_from_the_start() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("replay-epoch", PARTITIONS).await;
    produce_timestamped(&kafka, &topic, &few_events("e"));
    let (b, to) = (kafka.brokers(), (T0 + 3_600_000).to_string());
    let dir = tempfile::tempdir().unwrap();
    let (_, j) = tokio::task::spawn_blocking(move || {
        helpers::replay_json(
            dir.path(),
            "r.json",
            &[
                "--brokers",
                &b,
                "--topic",
                &topic,
                "--from",
                "0",
                "--to",
                &to,
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(j["events"]["accepted"], 50, "{}", j["events"]);
}

/// A range that matches no Kafka timestamp (the events were produced long after they
/// happened) used to read nothing and exit 0 without a word: it is an error that says
/// why (issue #14), unless `--allow-empty`.
#[tokio::test(flavor = "multi_thread")]
async fn a_range_that_matches_no_kafka_timestamp_says_why() {
    let kafka = kafka!();
    let topic = kafka.fresh_topic("replay-late", PARTITIONS).await;
    produce(&kafka, &topic, &few_events("l"), false);
    let (b, from, to) = (
        kafka.brokers(),
        T0.to_string(),
        (T0 + 3_600_000).to_string(),
    );
    let t = topic.clone();
    let (e, allowed) = tokio::task::spawn_blocking(move || {
        let args = ["--brokers", &b, "--topic", &t, "--from", &from, "--to", &to];
        let e = replay(&args).unwrap_err().to_string();
        let mut with = args.to_vec();
        with.push("--allow-empty");
        let dir = tempfile::tempdir().unwrap();
        let (_, j) = helpers::replay_json(dir.path(), "r.json", &with);
        (e, j)
    })
    .await
    .unwrap();
    assert!(
        e.contains("nothing to report") && e.contains("Kafka timestamp") && e.contains(&topic),
        "{e}"
    );
    assert_eq!(allowed["events"]["read"], 0);
}
