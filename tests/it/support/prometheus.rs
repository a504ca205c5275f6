//! Debian's Prometheus as a child process on a TSDB directory of the test's (blocks
//! made with `promtool tsdb create-blocks-from openmetrics`) or scraping a target of
//! the test's, killed when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Prometheus: its base URL; killed (and reaped) when dropped.
pub struct Prometheus {
    child: Child,
    pub base: String,
}

/// `promtool tsdb create-blocks-from openmetrics OM TSDB`: the backfill file as TSDB
/// blocks under `tsdb` (panics with promtool's output when it rejects the file).
pub fn create_blocks(om: &Path, tsdb: &Path) {
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(om)
        .arg(tsdb)
        .output()
        .expect("promtool runs (apt-get install prometheus)");
    assert!(
        out.status.success(),
        "promtool rejected the file: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Prometheus {
    /// Start Prometheus on `tsdb` with its config and log in `dir`, keeping
    /// `retention` of data, and wait until it is ready (panics with its log after
    /// `ready_within`).
    pub fn on_tsdb(dir: &Path, tsdb: &Path, retention: &str, ready_within: Duration) -> Self {
        Self::start(
            dir,
            "global:\n  scrape_interval: 1m\n",
            tsdb,
            (retention, ready_within),
            &[],
        )
    }

    /// Start Prometheus scraping `target` (`host:port`) every second, as job
    /// `lanewatch`, with its TSDB, config and log in `dir`.
    pub fn scraping(dir: &Path, target: &str) -> Self {
        Self::scraping_with(dir, target, &[], &[])
    }

    /// As [`Self::scraping`], with more command-line flags (feature flags) and rule
    /// files (evaluated every second).
    pub fn scraping_with(dir: &Path, target: &str, flags: &[&str], rules: &[&Path]) -> Self {
        let mut rule_files: String = rules
            .iter()
            .map(|r| format!("  - '{}'\n", r.display()))
            .collect();
        if !rule_files.is_empty() {
            rule_files.insert_str(0, "rule_files:\n");
        }
        let cfg = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{rule_files}scrape_configs:\n  - job_name: lanewatch\n    static_configs:\n      - targets: ['{target}']\n"
        );
        Self::start(
            dir,
            &cfg,
            &dir.join("tsdb"),
            ("1d", Duration::from_secs(30)),
            flags,
        )
    }

    fn start(
        dir: &Path,
        config: &str,
        tsdb: &Path,
        (retention, ready_within): (&str, Duration),
        flags: &[&str],
    ) -> Self {
        let port = super::free_port();
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).unwrap();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.retention.time={retention}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts (tests/run.sh installs Debian's prometheus)");
        let prom = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + ready_within;
        while reqwest::blocking::get(format!("{}/-/ready", prom.base))
            .map(|r| r.status().as_u16())
            .ok()
            != Some(200)
        {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        prom
    }
}

impl Prometheus {
    /// The first value an instant query gives (`None`: no result yet, or no answer).
    pub async fn value(&self, query: &str) -> Option<f64> {
        let text = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", query)])
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v["data"]["result"][0]["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
