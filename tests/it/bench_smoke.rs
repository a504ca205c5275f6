//! Smoke test of `lanewatch-bench`: every benchmark sub-command runs in a tiny size
//! against the suite's real broker and prints its `key=value` line with sane figures.
//! Not a timed test: the figures are only checked to exist and to be consistent.

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;

/// Run `lanewatch-bench ARGS`; the figures of its `bench=NAME` line.
fn bench(args: &[&str]) -> BTreeMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_lanewatch-bench"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run lanewatch-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lanewatch-bench {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("bench={} ", args[0])))
        .unwrap_or_else(|| panic!("no bench={} line in {stdout:?}", args[0]));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(m: &BTreeMap<String, String>, key: &str) -> f64 {
    m.get(key)
        .unwrap_or_else(|| panic!("no {key} in {m:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} not a number in {m:?}"))
}

#[test]
fn every_bench_command_runs_in_smoke_size() {
    let kafka = kafka!();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let file = file.to_str().unwrap();
    let brokers = kafka.brokers();

    let g = bench(&[
        "generate", "--output", file, "--events", "2000", "--lanes", "50",
    ]);
    assert_eq!(num(&g, "events"), 2000.0);
    for threads in ["1", "2"] {
        let r = bench(&["replay", "--input", file, "--threads", threads]);
        assert_eq!(num(&r, "events"), 2000.0);
        assert!(num(&r, "events_per_second") > 0.0);
    }

    let topic = support::unique("bench-smoke");
    // A command on the smoke topic: 3,000 events over 50 lanes.
    let on_topic = |command: &str, extra: &[&str]| {
        let mut args = vec![
            command,
            "--brokers",
            &brokers,
            "--topic",
            &topic,
            "--events",
            "3000",
            "--lanes",
            "50",
        ];
        args.extend_from_slice(extra);
        bench(&args)
    };
    let p = on_topic("produce", &["--partitions", "12"]);
    assert_eq!(num(&p, "loaded"), 3000.0);

    let d = on_topic("drain", &[]);
    assert_eq!(num(&d, "received_total"), 3000.0);
    assert!(num(&d, "events_per_second") > 0.0);
    assert!(num(&d, "rss_max_mib") > 0.0 && num(&d, "peak_rss_mib") >= num(&d, "rss_max_mib"));
    assert_eq!(d["final_commit_ok"], "true");

    let s = on_topic("scrape", &["--scrapes", "3"]);
    assert_eq!(num(&s, "lanes_exported"), 50.0);
    assert!(num(&s, "body_bytes") > 0.0 && num(&s, "scrape_ms_p99") >= num(&s, "scrape_ms_p50"));
    assert!(
        num(&s, "wire_bytes") > num(&s, "body_bytes"),
        "head and body"
    );
    let z = on_topic("scrape", &["--scrapes", "3", "--gzip"]);
    assert!(
        num(&z, "wire_bytes") * 4.0 < num(&z, "body_bytes"),
        "gzip on the wire: {z:?}"
    );
    let n = on_topic(
        "scrape",
        &["--scrapes", "3", "--protobuf", "--native-histograms"],
    );
    assert_eq!(n["protobuf"], "true", "{n:?}");
    assert_eq!(num(&n, "lanes_exported"), 50.0);

    let f = bench(&[
        "fresh",
        "--brokers",
        &brokers,
        "--topic",
        &support::unique("bench-fresh"),
        "--rate",
        "500",
        "--probes",
        "5",
        "--lanes",
        "10",
        "--warmup-s",
        "1",
    ]);
    assert_eq!(num(&f, "probes"), 5.0);
    assert_eq!(num(&f, "warmup_s"), 1.0);
    assert!(num(&f, "fresh_ms_p99") >= num(&f, "fresh_ms_p50"));
}
