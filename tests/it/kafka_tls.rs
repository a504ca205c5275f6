//! Kafka over TLS through the passed-through librdkafka options, against a broker of
//! this test's own with a TLS listener (certificates made by the test); and secrets
//! configured in `[kafka]` never appear in the logs.

use crate::support;

use std::time::Duration;

use support::own::{OwnBroker, make_certs, scratch};
use support::service::Service;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumes_over_tls_and_never_logs_the_configured_secrets() {
    // A broker of its own, started with the jars and Java tests/run.sh provides.
    require!(Need::Kafka, Need::Tool("openssl"));
    let _alone = crate::support::heavy();
    let dir = scratch();
    let d = dir.path();
    make_certs(d, "broker");
    let broker = OwnBroker::start(
        &d.join("broker"),
        &[("KAFKA_SSL_KEYSTORE_PEM", &d.join("broker.pem"))],
    );
    let plain = broker.bootstrap();
    let tls = std::fs::read_to_string(broker.0.join("bootstrap_ssl"))
        .unwrap()
        .trim()
        .to_string();
    let kafka = Kafka::own(&plain);
    let topic = kafka.fresh_topic("tls", 2).await;
    let now = now_ms() - 600_000;
    let msgs: Vec<(String, Vec<u8>)> = (0..500)
        .map(|i| {
            let dd = now + i * 100;
            (
                "tq/inbound/01".to_string(),
                event_json(
                    &format!("t-{i}"),
                    "tq",
                    "inbound",
                    "01",
                    dd - 5_000,
                    None,
                    dd,
                )
                .into_bytes(),
            )
        })
        .collect();
    kafka.produce(&topic, &msgs);

    let secret = "Sup3r-S3cret-kafka-pa55";
    let cdir = tempfile::tempdir().unwrap();
    std::fs::write(cdir.path().join("checkpoints.toml"), "").unwrap();
    let ca = d.join("ca.crt");
    let text = format!(
        "registry = \"checkpoints.toml\"\n[source]\nbrokers = \"{tls}\"\ntopic = \"{topic}\"\ngroup_id = \"{}\"\ndead_letter_topic = \"\"\ncommit_interval = \"500ms\"\nstatistics_interval = \"500ms\"\n[kafka]\n\"security.protocol\" = \"ssl\"\n\"ssl.ca.location\" = \"{}\"\n\"ssl.key.password\" = \"{secret}\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
        unique("group"),
        ca.display()
    );
    let path = cdir.path().join("lanewatch.toml");
    std::fs::write(&path, &text).unwrap();
    let svc = Service::start(&path);
    let a = svc.addr;
    eventually(
        Duration::from_secs(60),
        "events consumed over TLS",
        || async {
            (scrape(a).await.get("lanewatch_events_received_total", &[]) == Some(500.0))
                .then_some(())
        },
    )
    .await;
    svc.signal("TERM");
    let log = svc.log_text();
    let (status, _) = svc.wait(Duration::from_secs(10));
    assert!(status.success());
    assert!(!log.is_empty());
    assert!(
        !log.contains(secret),
        "a configured password appeared in the log"
    );

    // A client that does not trust the broker's CA is refused: TLS is really in use.
    let bad = cdir.path().join("bad.toml");
    std::fs::write(
        &bad,
        text.replace(
            &ca.display().to_string(),
            "/etc/ssl/certs/ca-certificates.crt",
        ),
    )
    .unwrap();
    let svc = Service::start(&bad);
    let a = svc.addr;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        http_get(a, "/readyz").await.0,
        503,
        "an untrusted broker certificate must not connect"
    );
    assert!(!svc.log_text().contains(secret));
    svc.signal("TERM");
    assert!(svc.wait(Duration::from_secs(15)).0.success());
}
