//! `lanewatch replay --openmetrics`: the file is accepted by
//! `promtool tsdb create-blocks-from openmetrics`, and a real Prometheus started on the
//! blocks answers a query for a lane's passage count with the replayed number.
//! Samples from the last 3 hours are left out.

#[path = "common/replay_helpers.rs"]
mod helpers;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use helpers::{Ev, Line, dataset, expect, jsonl, replay_json};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn query(base: &str, q: &str, at_s: i64) -> Option<f64> {
    let body = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", q), ("time", &at_s.to_string())])
        .send()
        .and_then(|r| r.text())
        .expect("query prometheus");
    let r: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
    assert_eq!(r["status"], "success", "{r}");
    let res = r["data"]["result"].as_array()?;
    res.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_answers_with_the_replayed_counts() {
    let now = lanewatch::time::now_ms();
    let t0 = (now - 30 * 3_600_000).div_euclid(3_600_000) * 3_600_000;
    let mut lines = dataset(11, t0, 3 * 3_600_000, 300, 0);
    // Two passages one hour ago: inside Prometheus's head-block range, left out.
    for k in 0..2 {
        let departed = now - 3_600_000 + k;
        lines.push(Line::Valid(Ev {
            id: format!("recent-{k}"),
            cp: "baimiao",
            dir: "inbound",
            lane: "01",
            arrived: departed - 60_000,
            inspection: None,
            departed,
        }));
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.jsonl");
    std::fs::write(&input, jsonl(&lines)).unwrap();
    let om = dir.path().join("lanes.om");
    let (_, j) = replay_json(
        dir.path(),
        "r.json",
        &[
            "--input",
            input.to_str().unwrap(),
            "--openmetrics",
            om.to_str().unwrap(),
        ],
    );
    let x = expect(&lines, i64::MIN, i64::MAX, 300_000, 120_000);
    assert_eq!(j["events"]["accepted"], x.accepted);

    let text = std::fs::read_to_string(&om).unwrap();
    assert!(text.ends_with("# EOF\n"));
    let cutoff_s = (now - 3 * 3_600_000) / 1000 + 60;
    let newest = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert!(
        newest <= cutoff_s,
        "a sample from the last 3 hours was written ({newest})"
    );

    let tsdb = dir.path().join("tsdb");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&tsdb)
        .output()
        .expect("promtool runs (apt-get install prometheus)");
    assert!(
        out.status.success(),
        "promtool rejected the file: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let port = free_port();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, "global:\n  scrape_interval: 1m\n").unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _prom = Kill(
        Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=30d")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::blocking::get(format!("{base}/-/ready"))
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "prometheus not ready: {}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // At several window ends, the passage count of each lane is the number of its
    // accepted events that departed before then.
    for (cp, d, lane) in x.lanes.keys() {
        let evs = &x.lanes[&(cp.clone(), d.clone(), lane.to_string())];
        for hours in [1, 2, 3] {
            let at = t0 + hours * 3_600_000 - 600_000;
            let want = evs.iter().filter(|e| e.departed < at).count() as f64;
            let sel = format!("{{checkpoint=\"{cp}\",direction=\"{d}\",lane=\"{lane}\"}}");
            let got = query(&base, &format!("lanewatch_passages_total{sel}"), at / 1000);
            assert_eq!(got, Some(want), "passages of {cp} {d} {lane} at {at}");
            let le = query(
                &base,
                &format!(
                    "lanewatch_passage_duration_seconds_bucket{{checkpoint=\"{cp}\",direction=\"{d}\",lane=\"{lane}\",le=\"300\"}}"
                ),
                at / 1000,
            );
            let want_le = evs
                .iter()
                .filter(|e| e.departed < at && e.departed - e.arrived <= 300_000)
                .count() as f64;
            assert_eq!(
                le,
                Some(want_le),
                "bucket le=300 of {cp} {d} {lane} at {at}"
            );
        }
    }
}
