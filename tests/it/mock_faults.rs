//! Faults only librdkafka's mock cluster can inject: failing offset commits are
//! logged, counted and retried, the process keeps running and nothing is lost.

use crate::support;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_commits_are_counted_retried_and_lose_nothing() {
    let mock = MockCluster::new(1).expect("mock cluster");
    let bootstrap = mock.bootstrap_servers();
    mock.create_topic("faulty", 2, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let total = 1_500;
    let base = now_ms() - 3_600_000;
    for i in 0..total {
        let lane = format!("M{}", i % 4);
        let d = base + i as i64 * 100;
        let v = event_json(
            &format!("m-{i}"),
            "mq",
            "inbound",
            &lane,
            d - 10_000,
            None,
            d,
        );
        let key = format!("mq/inbound/{lane}");
        send(&producer, BaseRecord::to("faulty").key(&key).payload(&v));
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    // Every offset commit fails for a while.
    mock.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR; 6],
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checkpoints.toml"), "").unwrap();
    let text = format!(
        "registry = \"checkpoints.toml\"\n[source]\nbrokers = \"{bootstrap}\"\ntopic = \"faulty\"\ngroup_id = \"g\"\ndead_letter_topic = \"\"\ncommit_interval = \"300ms\"\nstatistics_interval = \"500ms\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
    );
    std::fs::write(dir.path().join("lanewatch.toml"), text).unwrap();
    let config = lanewatch::Config::load(&dir.path().join("lanewatch.toml")).unwrap();
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone()).await.unwrap();
    let a = running.addr;
    let m = eventually(
        Duration::from_secs(60),
        "all consumed, a failed commit counted and a later one ok",
        || async {
            let m = scrape(a).await;
            let all = m.get("lanewatch_events_received_total", &[]) == Some(total as f64);
            let err = m
                .get("lanewatch_offset_commits_total", &[("result", "error")])
                .unwrap_or(0.0)
                >= 1.0;
            let ok = m
                .get("lanewatch_offset_commits_total", &[("result", "ok")])
                .unwrap_or(0.0)
                >= 1.0;
            (all && err && ok).then_some(m)
        },
    )
    .await;
    assert_eq!(m.sum("lanewatch_passages_total", &[]), total as f64);
    eprintln!(
        "commit faults: {} failed, {} ok commits; {total} events, all counted once",
        m.get("lanewatch_offset_commits_total", &[("result", "error")])
            .unwrap(),
        m.get("lanewatch_offset_commits_total", &[("result", "ok")])
            .unwrap()
    );
    shutdown.cancel();
    let (summary, _) = running.wait().await.unwrap();
    assert!(
        summary.final_commit_ok,
        "the final commit succeeded once the faults stopped"
    );
    // Committed offsets reached the end of both partitions.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "g")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("faulty", 0);
    tpl.add_partition("faulty", 1);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    let sum: i64 = got
        .elements()
        .iter()
        .map(|e| e.offset().to_raw().unwrap_or(0).max(0))
        .sum();
    assert_eq!(sum, total as i64);
}
