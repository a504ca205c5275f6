//! The deployment files, checked without Docker or a cluster: Prometheus config and rules
//! (`promtool check` and the `promtool test rules` unit tests), Alertmanager routing
//! (`amtool`), every file the compose file, the Dockerfile and the Kubernetes manifests
//! reference, the generated Kubernetes files being up to date, and every Grafana
//! dashboard querying through the datasource variable and only metrics lanewatch
//! exports. `promtool` and `amtool` come from Debian's `prometheus` and
//! `prometheus-alertmanager` packages (installed by tests/run.sh).

use crate::support::Need;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

mod files;
mod names;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// Run a tool from the repository root; panic with its output unless it succeeds.
/// Returns standard output and standard error together.
fn run_ok(program: &str, args: &[&str]) -> String {
    run(program, args).1
}

/// Run a tool from the repository root; panic unless it succeeds.
/// Returns (standard output, standard output + standard error).
fn run(program: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (tests/run.sh installs Debian's prometheus and prometheus-alertmanager)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), text)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string {key:?} in {v}"))
}

fn arr<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("missing list {key:?} in {v}"))
}

// ---------------------------------------------------------------------------------------
// Prometheus and Alertmanager

#[test]
fn promtool_checks_the_scrape_config_and_its_rule_files() {
    require!(Need::Tool("promtool"));
    let out = run_ok(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
    );
    assert!(out.contains("2 rule files found"), "{out}");
}

#[test]
fn promtool_checks_the_rules() {
    require!(Need::Tool("promtool"));
    run_ok(
        "promtool",
        &[
            "check",
            "rules",
            "deploy/prometheus/recording.yml",
            "deploy/prometheus/alerts.yml",
        ],
    );
}

#[test]
fn promtool_unit_tests_pass() {
    require!(Need::Tool("promtool"));
    let out = run_ok(
        "promtool",
        &["test", "rules", "deploy/prometheus/tests/alerts_test.yml"],
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

fn alert_rules() -> Vec<Value> {
    arr(&yaml("deploy/prometheus/alerts.yml"), "groups")
        .iter()
        .flat_map(|g| arr(g, "rules").clone())
        .collect()
}

/// Go duration → seconds (`90s`, `2m`, `1h30m`).
fn duration_s(d: &str) -> u64 {
    let mut total = 0;
    let mut num = String::new();
    for c in d.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().unwrap_or_else(|_| panic!("bad duration {d}"));
            num.clear();
            total += n * match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => panic!("bad duration {d}"),
            };
        }
    }
    assert!(num.is_empty(), "bad duration {d}");
    total
}

#[test]
fn every_alert_is_actionable_and_unit_tested_both_ways() {
    let rules = alert_rules();
    let required = [
        "CheckpointCongested",
        "LaneStalled",
        "MoreLanesNeeded",
        "LaneSensorSilent",
        "CheckpointSilent",
        "LanewatchDown",
        "LanewatchInstanceNotReady",
        "LanewatchConsumerLagging",
        "LanewatchHighRejectRate",
    ];
    let names: BTreeSet<&str> = rules.iter().map(|r| s(r, "alert")).collect();
    for r in required {
        assert!(names.contains(r), "alerts.yml has no {r}");
    }
    for r in &rules {
        let name = s(r, "alert");
        let labels = &r["labels"];
        let sev = s(labels, "severity");
        assert!(
            sev == "page" || sev == "ticket",
            "{name}: severity {sev:?} is neither page nor ticket"
        );
        assert!(
            ["checkpoint", "lane", "pipeline", "instance"].contains(&s(labels, "scope")),
            "{name}: unknown scope"
        );
        let ann = &r["annotations"];
        assert!(s(ann, "summary").len() > 10, "{name}: no summary");
        assert!(
            s(ann, "description").len() > 120,
            "{name}: the description must tell the duty officer what to do"
        );
        // Two minutes of `for:` keep an alert from flapping. An alert whose measures
        // grow steadily while its condition lasts (event-time silences) may instead
        // start each threshold its `for:` early, so that it pages when the measure
        // reaches the threshold: a minute at least then, every head start equal to it.
        let for_s = duration_s(s(r, "for"));
        let head_starts: Vec<u64> = s(r, "expr")
            .lines()
            .filter_map(|l| l.trim_end().rsplit_once(" - "))
            .filter_map(|(_, n)| n.parse().ok())
            .collect();
        assert!(
            for_s >= 120
                || for_s >= 60 && head_starts.len() >= 2 && head_starts.iter().all(|&h| h == for_s),
            "{name}: `for` under 2m would flap (head starts {head_starts:?})"
        );
    }
    assert_eq!(
        rules
            .iter()
            .find(|r| s(r, "alert") == "CheckpointCongested")
            .map(|r| s(&r["labels"], "severity")),
        Some("page")
    );

    // Each alert has a unit test where it fires and one where it does not.
    let tests = yaml("deploy/prometheus/tests/alerts_test.yml");
    let mut fires = BTreeSet::new();
    let mut silent = BTreeSet::new();
    for t in arr(&tests, "tests") {
        for a in t
            .get("alert_rule_test")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s(a, "alertname").to_string();
            let exp = a.get("exp_alerts").and_then(Value::as_array);
            if exp.is_some_and(|e| !e.is_empty()) {
                fires.insert(name);
            } else {
                silent.insert(name);
            }
        }
    }
    for name in &names {
        assert!(fires.contains(*name), "no unit test shows {name} firing");
        assert!(
            silent.contains(*name),
            "no unit test shows {name} not firing"
        );
    }
}

#[test]
fn amtool_accepts_the_routing_and_routes_pages_to_the_pager() {
    require!(Need::Tool("amtool"));
    let cfg = "--config.file=deploy/alertmanager/alertmanager.yml";
    run_ok(
        "amtool",
        &["check-config", "deploy/alertmanager/alertmanager.yml"],
    );
    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", cfg];
        args.extend_from_slice(labels);
        run("amtool", &args).0.trim().to_string()
    };
    assert_eq!(
        route(&[
            "alertname=CheckpointCongested",
            "severity=page",
            "checkpoint=baimiao"
        ]),
        "pager"
    );
    assert_eq!(
        route(&["alertname=LanewatchDown", "severity=page"]),
        "pager"
    );
    assert_eq!(
        route(&[
            "alertname=MoreLanesNeeded",
            "severity=ticket",
            "checkpoint=baimiao"
        ]),
        "ticket"
    );
    assert_eq!(route(&["alertname=Unknown"]), "ticket");

    let am = yaml("deploy/alertmanager/alertmanager.yml");
    let group_by: Vec<&str> = arr(&am["route"], "group_by")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        group_by.contains(&"checkpoint"),
        "not grouped by checkpoint"
    );
    // Lane alerts are inhibited by their checkpoint direction's congestion.
    let inhibit = arr(&am, "inhibit_rules");
    let lane_rule = inhibit
        .iter()
        .find(|r| {
            arr(r, "source_matchers").iter().any(|m| {
                m.as_str()
                    .is_some_and(|m| m.contains("CheckpointCongested"))
            })
        })
        .expect("an inhibit rule with CheckpointCongested as source");
    assert!(
        arr(lane_rule, "target_matchers")
            .iter()
            .any(|m| m.as_str() == Some("scope = \"lane\"")),
        "{lane_rule}"
    );
    let equal: Vec<&str> = arr(lane_rule, "equal")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(equal, ["checkpoint", "direction"]);
    // Every alert named in an inhibit rule exists, and lane alerts carry scope=lane.
    let rules = alert_rules();
    let names: BTreeSet<&str> = rules.iter().map(|r| s(r, "alert")).collect();
    let text = read("deploy/alertmanager/alertmanager.yml");
    for line in text.lines().filter(|l| l.contains("alertname")) {
        let quoted = line.split('"').nth(1).unwrap_or("");
        for n in quoted.split('|') {
            assert!(
                names.contains(n),
                "alertmanager.yml names unknown alert {n}"
            );
        }
    }
    for r in &rules {
        let name = s(r, "alert");
        if name.starts_with("Lane") && !name.starts_with("Lanewatch") {
            assert_eq!(s(&r["labels"], "scope"), "lane", "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Compose, Dockerfile, Kubernetes
