//! Kafka over TLS through the passed-through librdkafka options, against a broker of
//! this test's own with a TLS listener (certificates made by the test); and secrets
//! configured in `[kafka]` never appear in the logs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::service::Service;
use common::*;

fn kafka_sh() -> PathBuf {
    std::env::var_os("LANEWATCH_KAFKA_SH")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/kafka.sh"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct OwnBroker(PathBuf);
impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(kafka_sh())
            .arg("stop")
            .arg(&self.0)
            .output();
    }
}

/// A CA, and a broker key + certificate for 127.0.0.1 as one PEM keystore.
fn make_keystore(d: &Path) {
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=kafka-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "broker.key",
            "-out",
            "broker.csr",
        ],
    );
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "broker.crt",
        ],
    );
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "broker.key",
            "-out",
            "broker.p8",
        ],
    );
    let pem = [
        std::fs::read_to_string(d.join("broker.p8")).unwrap(),
        std::fs::read_to_string(d.join("broker.crt")).unwrap(),
    ]
    .concat();
    std::fs::write(d.join("keystore.pem"), pem).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumes_over_tls_and_never_logs_the_configured_secrets() {
    let base = std::env::var_os("LANEWATCH_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let d = dir.path();
    make_keystore(d);
    let bdir = d.join("broker");
    let out = Command::new("bash")
        .arg(kafka_sh())
        .arg("start")
        .arg(&bdir)
        .env("KAFKA_SSL_KEYSTORE_PEM", d.join("keystore.pem"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "TLS broker: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _broker = OwnBroker(bdir.clone());
    let plain = std::fs::read_to_string(bdir.join("bootstrap"))
        .unwrap()
        .trim()
        .to_string();
    let tls = std::fs::read_to_string(bdir.join("bootstrap_ssl"))
        .unwrap()
        .trim()
        .to_string();
    // SAFETY: only this test runs in this binary; the helpers read the variable.
    unsafe { std::env::set_var("LANEWATCH_TEST_BROKERS", &plain) };
    let topic = fresh_topic("tls", 2).await;
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
    produce(&topic, &msgs);

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
