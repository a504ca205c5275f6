//! End to end, real services: Apache Kafka (from tests/run.sh) ← the traffic simulator
//! (library API) → lanewatch's live service (in process) ← Debian's Prometheus scraping
//! it every second with the project's rule files → Debian's Alertmanager with the
//! project's routing → a webhook listener in this test standing in for the pager.
//!
//! An incident closes three of Baimiao's four inbound lanes; the congestion page must
//! reach the pager with checkpoint="baimiao", and resolve once the queue has drained.
//! Then every panel query of every Grafana dashboard, with its template variables
//! substituted, must return data from that Prometheus.
//!
//! Time: the simulator runs at `SPEED`× from now, so its events run ahead of the wall
//! clock (by up to `SIM_MIN` minutes); the test raises `events.max_clock_skew` so the
//! live service accepts them. lanewatch's windows, watermarks and congestion state are
//! in event time, so they behave as on a real morning, compressed. Consequences for the
//! rules: the event-time lane alerts (LaneStalled, LaneSensorSilent) see what they would
//! see live; the wall-clock staleness alerts (CheckpointSilent, the freshness panel) see
//! events "from the future", i.e. fresh, and stay quiet. The rule files are used as they
//! are except that CheckpointCongested's `for: 2m` becomes 2 simulated minutes (1 s at
//! 120×; the other `for:`s stay, so those alerts cannot fire within the test), and
//! Alertmanager's group waits and intervals are 1 s. The page's delay is printed in
//! wall-clock seconds and in simulated minutes.

use crate::support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lanewatch::congestion::CheckpointWindow;
use lanewatch::pipeline::Observer;
use lanewatch::pipeline::Pipeline;
use lanewatch::simulate::options::parse_incident_arg;
use lanewatch::simulate::{Output, SimOptions, Simulator, Speed, run_simulator};
use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod pager;

/// Simulated seconds per wall-clock second.
const SPEED: f64 = 120.0;
/// Simulated minutes before the incident, of the incident, and in all.
const WARMUP_MIN: i64 = 10;
const INCIDENT_MIN: i64 = 20;
const SIM_MIN: i64 = 100;
/// Lanes the incident closes (of 01–04).
const CLOSED: [&str; 3] = ["01", "02", "03"];

/// Two checkpoints with a flat day profile (the simulation starts at whatever time of
/// day the test runs) and only cars. Baimiao inbound: 300 cars/h on four lanes of about
/// 120 cars/h each (load 0.63); with three lanes closed the one left gets 2.5× its
/// capacity. Xuyin: the same load, no incident — it must not page.
fn registry() -> String {
    let flat = vec!["1.0"; 24].join(", ");
    format!(
        r#"
[[checkpoint]]
id = "baimiao"
[[checkpoint.lane]]
direction = "inbound"
kind = "car"
ids = ["01", "02", "03", "04"]
[[checkpoint.lane]]
direction = "outbound"
kind = "car"
ids = ["01", "02"]
[checkpoint.traffic]
inbound_peak_per_hour = 300
outbound_peak_per_hour = 120
inbound_profile = [{flat}]
outbound_profile = [{flat}]
mix = {{ car = 1.0 }}

[[checkpoint]]
id = "xuyin"
[[checkpoint.lane]]
direction = "inbound"
kind = "car"
ids = ["01", "02", "03"]
[[checkpoint.lane]]
direction = "outbound"
kind = "car"
ids = ["01", "02"]
[checkpoint.traffic]
inbound_peak_per_hour = 225
outbound_peak_per_hour = 120
inbound_profile = [{flat}]
outbound_profile = [{flat}]
mix = {{ car = 1.0 }}
"#
    )
}

/// The simulated range and the incident, from a start instant.
struct Scenario {
    start_ms: i64,
    incident_ms: i64,
    end_ms: i64,
}

impl Scenario {
    fn new(start_ms: i64) -> Self {
        // Incidents are given as a local (Beijing) HH:MM: start on a whole minute.
        let incident_ms = (start_ms + WARMUP_MIN * 60_000).div_euclid(60_000) * 60_000 + 60_000;
        Scenario {
            start_ms,
            incident_ms,
            end_ms: start_ms + SIM_MIN * 60_000,
        }
    }

    fn options(&self) -> SimOptions {
        let local_min = (self.incident_ms.div_euclid(60_000) + 8 * 60).rem_euclid(1440);
        let mut o = SimOptions::new(self.start_ms, self.end_ms);
        o.seed = 7;
        for lane in CLOSED {
            let spec = format!(
                "baimiao/inbound/{lane}@{:02}:{:02}+{INCIDENT_MIN}m",
                local_min / 60,
                local_min % 60
            );
            o.incidents
                .push(parse_incident_arg(&spec).unwrap_or_else(|e| panic!("{spec}: {e}")));
        }
        o
    }
}

/// The congestion analyses of a pipeline, in order.
#[derive(Default)]
struct Analyses(Vec<CheckpointWindow>);

impl lanewatch::lanes::Observer for Analyses {}

impl Observer for Analyses {
    fn checkpoint_window(&mut self, w: &CheckpointWindow) {
        self.0.push(w.clone());
    }
}

fn offline_config(dir: &Path) -> lanewatch::Config {
    std::fs::write(dir.join("checkpoints.toml"), registry()).unwrap();
    std::fs::write(
        dir.join("lanewatch.toml"),
        "registry = \"checkpoints.toml\"\n",
    )
    .unwrap();
    lanewatch::Config::load(&dir.join("lanewatch.toml")).expect("scenario config")
}

/// The scenario itself, through the pipeline in replay mode (no services): Baimiao
/// inbound enters congestion during the incident and leaves it before the end of the
/// run; nothing else congests. Keeps the end-to-end test's premise checked in
/// milliseconds, and prints the timeline.
#[test]
fn scenario_congests_baimiao_inbound_during_the_incident_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = offline_config(dir.path());
    let sc = Scenario::new(now_ms());
    let sim = Simulator::new(&cfg.registry, sc.options()).expect("simulator");
    let mut p = Pipeline::with_observer(&cfg, Analyses::default());
    for ev in sim {
        p.apply(&ev.payload, None);
    }
    p.flush();
    let mut entered = None;
    let mut left = None;
    for w in &p.observer.0 {
        let at = (w.start_ms + w.size_ms - sc.incident_ms) / 60_000;
        if w.checkpoint == "baimiao" && w.direction.as_str() == "inbound" {
            eprintln!(
                "baimiao inbound window ending {at:>4} min after the incident: {:>3} passages, p95 {:>6.0} s, open {} recommended {}, congested {}",
                w.passages,
                w.p95_s.unwrap_or(f64::NAN),
                w.open_lanes,
                w.recommended_lanes,
                w.congested
            );
            if w.congested && entered.is_none() {
                entered = Some(at);
            }
            if !w.congested && entered.is_some() && left.is_none() {
                left = Some(at);
            }
        } else {
            assert!(
                !w.congested,
                "{} {} congested: {w:?}",
                w.checkpoint, w.direction
            );
        }
    }
    let entered = entered.expect("baimiao inbound never congested");
    let left = left.expect("baimiao inbound never recovered");
    assert!(
        (5..=INCIDENT_MIN + 15).contains(&entered),
        "entered {entered} min after the incident"
    );
    assert!(
        left < SIM_MIN - WARMUP_MIN - 10,
        "left {left} min after the incident: too late for the run"
    );
}

// ---------------------------------------------------------------------------------------
// Services

/// A child process, killed (and its log tail printed if the test is failing) on drop.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, program: &str, args: &[String], log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program}: {e} (tests/run.sh installs Debian's prometheus and prometheus-alertmanager)")
            });
        Proc { name, child, log }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited ({status}):\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "--- last lines of {} ({:?}) ---", self.name, self.log);
            for l in tail.iter().rev() {
                let _ = writeln!(e, "{l}");
            }
        }
    }
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The project's alert rules with CheckpointCongested's `for:` scaled to simulated time.
fn test_alert_rules() -> String {
    let text = std::fs::read_to_string(repo("deploy/prometheus/alerts.yml")).unwrap();
    let mut out = String::new();
    let mut in_congested = false;
    let mut replaced = false;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- alert: ") {
            in_congested = name.trim() == "CheckpointCongested";
        }
        if in_congested && t.starts_with("for: ") {
            let indent = &line[..line.len() - t.len()];
            // The 2 minutes of the real rule, in simulated time.
            let secs = ((120.0 / SPEED).ceil() as u64).max(1);
            out.push_str(&format!("{indent}for: {secs}s\n"));
            replaced = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(replaced, "CheckpointCongested has no `for:` in alerts.yml");
    out
}

/// The project's Alertmanager config with the webhooks pointed at this test and the
/// group timers shortened.
fn test_alertmanager_config(webhook: u16) -> String {
    let text = std::fs::read_to_string(repo("deploy/alertmanager/alertmanager.yml")).unwrap();
    let mut cfg: Value = serde_norway::from_str(&text).expect("alertmanager.yml");
    fn timers(route: &mut Value) {
        let r = route.as_object_mut().unwrap();
        for (k, v) in [
            ("group_wait", "1s"),
            ("group_interval", "1s"),
            ("repeat_interval", "1h"),
        ] {
            if r.contains_key(k) || k == "group_wait" {
                r.insert(k.into(), Value::String(v.into()));
            }
        }
        if let Some(Value::Array(routes)) = r.get_mut("routes") {
            routes.iter_mut().for_each(timers);
        }
    }
    timers(&mut cfg["route"]);
    for rcv in cfg["receivers"].as_array_mut().unwrap() {
        let name = rcv["name"].as_str().unwrap().to_string();
        for w in rcv["webhook_configs"].as_array_mut().unwrap() {
            w["url"] = Value::String(format!("http://127.0.0.1:{webhook}/{name}"));
        }
    }
    serde_norway::to_string(&cfg).unwrap()
}

/// One webhook delivery: the receiver (URL path), when, and the Alertmanager payload.
#[derive(Debug)]
struct Delivery {
    receiver: String,
    at: Instant,
    body: Value,
}

/// A minimal HTTP/1.1 server that answers 200 to every POST and forwards the JSON body.
async fn webhook_server(listener: tokio::net::TcpListener, tx: mpsc::UnboundedSender<Delivery>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                // Headers.
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    let mut chunk = [0u8; 4096];
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let mut chunk = [0u8; 8192];
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body: Value =
                    serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
                buf.drain(..head_end + len);
                let _ = tx.send(Delivery {
                    receiver: path.trim_start_matches('/').to_string(),
                    at: Instant::now(),
                    body,
                });
                if sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

/// A Prometheus HTTP API client.
struct Prom {
    base: String,
    http: reqwest::Client,
}

impl Prom {
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .query(params)
            .send()
            .await
            .ok()?;
        let v: Value = serde_json::from_str(&r.text().await.ok()?).ok()?;
        (v["status"] == "success").then(|| v["data"].clone())
    }

    /// The result vector of an instant query (panics on a query error).
    async fn query(&self, q: &str) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", q)])
            .send()
            .await
            .expect("prometheus reachable");
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert_eq!(v["status"], "success", "query `{q}` failed: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

/// Alerts named `alertname` in a webhook payload, with their status.
fn alerts_named<'a>(body: &'a Value, alertname: &str) -> Vec<&'a Value> {
    body["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["labels"]["alertname"] == alertname)
        .collect()
}

async fn next_delivery(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    deadline: Instant,
    what: &str,
    seen: &mut Vec<String>,
    mut want: impl FnMut(&Delivery) -> bool,
) -> Delivery {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(d)) => {
                seen.push(format!(
                    "{} {} {:?}",
                    d.receiver,
                    d.body["status"],
                    d.body["alerts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| format!(
                            "{}{}={}",
                            a["labels"]["alertname"], a["labels"], a["status"]
                        ))
                        .collect::<Vec<_>>()
                ));
                if want(&d) {
                    return d;
                }
            }
            _ => panic!(
                "timed out waiting for {what}; webhook deliveries so far:\n{}",
                seen.join("\n")
            ),
        }
    }
}

/// Substitute a dashboard's template variables in a query.
fn substitute(expr: &str, vars: &BTreeMap<&str, &str>) -> String {
    let mut out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "15s");
    for (k, v) in vars {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    assert!(!out.contains('$'), "unsubstituted variable in `{out}`");
    out
}
