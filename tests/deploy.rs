//! The deployment files, checked without Docker or a cluster: Prometheus config and rules
//! (`promtool check` and the `promtool test rules` unit tests), Alertmanager routing
//! (`amtool`), every file the compose file, the Dockerfile and the Kubernetes manifests
//! reference, the generated Kubernetes files being up to date, and every Grafana
//! dashboard querying through the datasource variable and only metrics lanewatch
//! exports. `promtool` and `amtool` come from Debian's `prometheus` and
//! `prometheus-alertmanager` packages (installed by tests/run.sh).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

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
    let out = run_ok(
        "promtool",
        &["check", "config", "deploy/prometheus/prometheus.yml"],
    );
    assert!(out.contains("2 rule files found"), "{out}");
}

#[test]
fn promtool_checks_the_rules() {
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
        assert!(
            duration_s(s(r, "for")) >= 120,
            "{name}: `for` under 2m would flap"
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

#[test]
fn compose_file_references_exist_and_agree_with_prometheus() {
    let compose = yaml("deploy/compose.yaml");
    let deploy = root().join("deploy");
    let services = compose["services"].as_object().expect("services");
    let volumes: BTreeSet<&String> = compose["volumes"]
        .as_object()
        .map(|v| v.keys().collect())
        .unwrap_or_default();
    for (name, svc) in services {
        if let Some(b) = svc.get("build") {
            let ctx = deploy.join(s(b, "context"));
            assert!(ctx.is_dir(), "{name}: build context {ctx:?} missing");
            let df = ctx.join(s(b, "dockerfile"));
            assert!(df.is_file(), "{name}: dockerfile {df:?} missing");
        }
        for v in svc
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let v = v.as_str().expect("short volume syntax");
            let host = v.split(':').next().unwrap();
            if host.starts_with('.') || host.starts_with('/') {
                let p = deploy.join(host);
                assert!(p.exists(), "{name}: volume source {host} ({p:?}) missing");
            } else {
                assert!(
                    volumes.contains(&host.to_string()),
                    "{name}: named volume {host} not declared"
                );
            }
        }
        if let Some(deps) = svc.get("depends_on") {
            let deps: Vec<String> = match deps {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect(),
                Value::Object(o) => o.keys().cloned().collect(),
                _ => panic!("{name}: depends_on"),
            };
            for d in deps {
                assert!(
                    services.contains_key(&d),
                    "{name} depends on unknown service {d}"
                );
            }
        }
        if let Some(img) = svc.get("image").and_then(Value::as_str) {
            assert!(img.contains(':'), "{name}: pin the image tag ({img})");
        }
    }
    for needed in [
        "kafka",
        "simulator",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(
            services.contains_key(needed),
            "compose has no {needed} service"
        );
    }
    assert!(
        s(&services["kafka"], "image").starts_with("apache/kafka:"),
        "Kafka must be the apache/kafka image"
    );
    let kafka_env = &services["kafka"]["environment"];
    assert_eq!(
        s(kafka_env, "KAFKA_PROCESS_ROLES"),
        "broker,controller",
        "KRaft"
    );
    let lanewatch: Vec<&String> = services
        .keys()
        .filter(|k| k.starts_with("lanewatch"))
        .collect();
    assert!(
        lanewatch.len() >= 2,
        "at least two lanewatch instances in one group"
    );

    // Prometheus scrapes the lanewatch services and sends to the alertmanager service.
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let host_of = |t: &str| t.split(':').next().unwrap().to_string();
    let job = arr(&prom, "scrape_configs")
        .iter()
        .find(|j| s(j, "job_name") == "lanewatch")
        .expect("a scrape job named lanewatch (the alert rules use job=\"lanewatch\")");
    let targets: Vec<String> = arr(&arr(job, "static_configs")[0], "targets")
        .iter()
        .map(|t| host_of(t.as_str().unwrap()))
        .collect();
    for l in &lanewatch {
        assert!(targets.contains(l), "Prometheus does not scrape {l}");
    }
    for t in &targets {
        assert!(
            services.contains_key(t),
            "Prometheus scrapes unknown host {t}"
        );
    }
    let am = &arr(&prom["alerting"], "alertmanagers")[0];
    let am_host = host_of(
        arr(&arr(am, "static_configs")[0], "targets")[0]
            .as_str()
            .unwrap(),
    );
    assert!(
        services.contains_key(&am_host),
        "alertmanager target {am_host}"
    );
    for f in arr(&prom, "rule_files") {
        let p = root().join("deploy/prometheus").join(f.as_str().unwrap());
        assert!(p.is_file(), "rule file {p:?}");
    }

    // Grafana: the datasource points at the prometheus service, the provider at the
    // directory the dashboards are mounted on.
    let dsp = yaml("grafana/provisioning/datasources/prometheus.yml");
    let url = s(&arr(&dsp, "datasources")[0], "url");
    assert!(url.contains("//prometheus:"), "datasource url {url}");
    let dbp = yaml("grafana/provisioning/dashboards/lanewatch.yml");
    let path = s(&arr(&dbp, "providers")[0]["options"], "path");
    let grafana_mounts: Vec<&str> = arr(&services["grafana"], "volumes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        grafana_mounts
            .iter()
            .any(|m| m.starts_with("../grafana/dashboards:") && m.contains(path)),
        "grafana does not mount the dashboards at {path}"
    );
    assert!(
        grafana_mounts
            .iter()
            .any(|m| m.starts_with("../grafana/provisioning:/etc/grafana/provisioning")),
        "grafana provisioning not mounted"
    );

    // The lanewatch configuration of the stack is valid (with the registry next to it).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("deploy/compose/lanewatch.toml"),
        dir.path().join("lanewatch.toml"),
    )
    .unwrap();
    std::fs::copy(
        root().join("config/checkpoints.toml"),
        dir.path().join("checkpoints.toml"),
    )
    .unwrap();
    lanewatch::Config::load(&dir.path().join("lanewatch.toml"))
        .unwrap_or_else(|e| panic!("deploy/compose/lanewatch.toml: {e}"));
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_copies_existing_files() {
    let df = read("deploy/Dockerfile");
    let froms = df.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage: {froms} FROM lines");
    let user = df
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    for l in df
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = l.split_whitespace().skip(1).collect();
        for src in &parts[..parts.len() - 1] {
            assert!(root().join(src).exists(), "Dockerfile copies missing {src}");
        }
    }
    assert!(df.contains("EXPOSE 9898"));
}

/// `deploy/k8s/*.yaml`, by kind.
fn k8s() -> BTreeMap<String, Value> {
    let kust = yaml("deploy/k8s/kustomization.yaml");
    let mut out = BTreeMap::new();
    for r in arr(&kust, "resources") {
        let rel = format!("deploy/k8s/{}", r.as_str().unwrap());
        assert!(
            root().join(&rel).is_file(),
            "kustomization lists missing {rel}"
        );
        let v = yaml(&rel);
        out.insert(s(&v, "kind").to_string(), v);
    }
    out
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .expect("matchLabels")
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn k8s_manifests_reference_each_other_and_the_rules() {
    let m = k8s();
    for kind in [
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "PodMonitor",
        "PrometheusRule",
    ] {
        assert!(m.contains_key(kind), "no {kind} in deploy/k8s");
    }
    let dep = &m["Deployment"];
    let spec = &dep["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2, "several replicas");
    let pod_labels = &spec["template"]["metadata"]["labels"];
    assert!(labels_match(&spec["selector"]["matchLabels"], pod_labels));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], Value::Bool(true));
    let c = &arr(pod, "containers")[0];
    assert_eq!(s(&c["livenessProbe"]["httpGet"], "path"), "/healthz");
    assert_eq!(s(&c["readinessProbe"]["httpGet"], "path"), "/readyz");
    let port_names: Vec<&str> = arr(c, "ports").iter().map(|p| s(p, "name")).collect();
    assert!(port_names.contains(&"http"));
    assert_eq!(c["ports"][0]["containerPort"], 9898);
    // The config volume is the ConfigMap, and the args name a file in it.
    let cm = &m["ConfigMap"];
    let vol = arr(pod, "volumes")
        .iter()
        .find(|v| v.get("configMap").is_some())
        .expect("a configMap volume");
    assert_eq!(s(&vol["configMap"], "name"), s(&cm["metadata"], "name"));
    let mount = arr(c, "volumeMounts")
        .iter()
        .find(|v| s(v, "name") == s(vol, "name"))
        .expect("the config volume is mounted");
    let args: Vec<&str> = arr(c, "args").iter().filter_map(Value::as_str).collect();
    let cfg_arg = args[args.iter().position(|a| *a == "--config").unwrap() + 1];
    let cfg_key = cfg_arg
        .strip_prefix(&format!("{}/", s(mount, "mountPath")))
        .expect("--config in the mounted ConfigMap");
    let data = cm["data"].as_object().unwrap();
    assert!(data.contains_key(cfg_key), "ConfigMap has no {cfg_key}");
    // The configuration in the ConfigMap is valid, with one group for every replica.
    let dir = tempfile::tempdir().unwrap();
    for (k, v) in data {
        std::fs::write(dir.path().join(k), v.as_str().unwrap()).unwrap();
    }
    let cfg = lanewatch::Config::load(&dir.path().join(cfg_key))
        .unwrap_or_else(|e| panic!("the ConfigMap's {cfg_key}: {e}"));
    assert!(!cfg.source.group_id.is_empty());

    // Service, PDB and PodMonitor select the Deployment's pods.
    assert!(labels_match(&m["Service"]["spec"]["selector"], pod_labels));
    assert!(labels_match(
        &m["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        pod_labels
    ));
    let pm = &m["PodMonitor"]["spec"];
    assert!(labels_match(&pm["selector"]["matchLabels"], pod_labels));
    assert_eq!(s(&arr(pm, "podMetricsEndpoints")[0], "port"), "http");
    // The job label comes from a pod label whose value is "lanewatch", as the rules expect.
    assert_eq!(pod_labels[s(pm, "jobLabel")], "lanewatch");

    // The PrometheusRule carries exactly the groups of the rule files.
    let mut groups = arr(&yaml("deploy/prometheus/recording.yml"), "groups").clone();
    groups.extend(arr(&yaml("deploy/prometheus/alerts.yml"), "groups").clone());
    assert_eq!(
        arr(&m["PrometheusRule"]["spec"], "groups"),
        &groups,
        "deploy/k8s/prometheusrule.yaml differs from the rule files: run deploy/k8s/gen-prometheusrule.sh"
    );
}

#[test]
fn generated_k8s_files_are_up_to_date() {
    run_ok("bash", &["deploy/k8s/gen-prometheusrule.sh", "--check"]);
    run_ok("bash", &["deploy/k8s/gen-configmap.sh", "--check"]);
}

// ---------------------------------------------------------------------------------------
// Metric names and dashboards

/// Every series name lanewatch exports, read from a real exposition: the live
/// service's registry (pipeline, lanes, congestion, source health, build info) after
/// one event, with `_bucket`, `_sum` and `_count` for the histograms.
fn exported_series() -> BTreeSet<String> {
    let config = lanewatch::Config::load(&root().join("config/lanewatch.toml")).unwrap();
    let mut pipeline = lanewatch::pipeline::Pipeline::new(&config);
    pipeline.apply(
        br#"{"event_id":"e1","checkpoint":"c","direction":"inbound","lane":"1","arrived_at":1000,"inspection_started_at":2000,"departed_at":3000}"#,
        None,
    );
    let metrics = lanewatch::export::metrics::Metrics::new();
    metrics.register(pipeline.collectors());
    metrics.add_lanes(pipeline.lane_series());
    metrics.register_event_age(pipeline.counters.newest_event.clone());
    let source = lanewatch::source::kafka::SourceMetrics::new();
    // Per-partition series exist once partitions are assigned.
    source.lag_messages.with_label_values(&["t", "0"]).set(0.0);
    source.lag_seconds.with_label_values(&["t", "0"]).set(0.0);
    metrics.register(source.collectors());
    let text = String::from_utf8(metrics.encode()).unwrap();
    let mut names = BTreeSet::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            names.insert(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    for must in [
        "lanewatch_passages_total",
        "lanewatch_passage_duration_seconds_bucket",
        "lanewatch_lane_throughput_per_minute",
        "lanewatch_checkpoint_congested",
        "lanewatch_consumer_lag_seconds",
        "lanewatch_build_info",
    ] {
        assert!(names.contains(must), "{must} not exported");
    }
    names
}

fn recorded_names() -> BTreeSet<String> {
    arr(&yaml("deploy/prometheus/recording.yml"), "groups")
        .iter()
        .flat_map(|g| arr(g, "rules").clone())
        .map(|r| s(&r, "record").to_string())
        .collect()
}

/// The metric names a PromQL expression selects: identifiers outside strings, label
/// matchers, grouping lists and range brackets that are not functions or keywords.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
    ];
    // Blank out strings, {…} and […].
    let mut clean = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_str: Option<char> = None;
    for c in expr.chars() {
        if let Some(q) = in_str {
            if c == q {
                in_str = None;
            }
            clean.push(' ');
            continue;
        }
        match c {
            '"' | '\'' | '`' => {
                in_str = Some(c);
                clean.push(' ');
            }
            '{' => {
                depth_brace += 1;
                clean.push(' ');
            }
            '}' => {
                depth_brace -= 1;
                clean.push(' ');
            }
            '[' => {
                depth_bracket += 1;
                clean.push(' ');
            }
            ']' => {
                depth_bracket -= 1;
                clean.push(' ');
            }
            _ if depth_brace > 0 || depth_bracket > 0 => clean.push(' '),
            c => clean.push(c),
        }
    }
    let chars: Vec<char> = clean.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let lower = word.to_ascii_lowercase();
            if [
                "by",
                "without",
                "on",
                "ignoring",
                "group_left",
                "group_right",
            ]
            .contains(&lower.as_str())
            {
                after_grouping = true;
                continue;
            }
            if next == Some(&'(') || KEYWORDS.contains(&lower.as_str()) {
                continue;
            }
            out.push(word);
        } else if c.is_ascii_digit() || c == '.' {
            // Numbers, including exponents (1e-9) and durations outside brackets.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c == '(' && after_grouping {
            // A label list: skip to its closing parenthesis.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            after_grouping = false;
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

/// The series selector of a Grafana `label_values(selector, label)` variable query.
fn variable_query(def: &str) -> &str {
    match def.strip_prefix("label_values(") {
        Some(rest) => &rest[..rest.rfind(',').unwrap_or(rest.len())],
        None => def,
    }
}

fn check_names(what: &str, expr: &str, allowed: &BTreeSet<String>) {
    let names = metric_names(expr);
    for n in names {
        assert!(
            allowed.contains(&n) || n == "up",
            "{what}: `{n}` is neither a metric lanewatch exports nor a recording rule (in `{expr}`)"
        );
    }
}

#[test]
fn promql_name_extraction() {
    assert_eq!(
        metric_names(
            r#"sum by (le, lane) (rate(lanewatch_passage_duration_seconds_bucket{lane=~"0.*"}[$__rate_interval])) / on(lane) group_left() x:y:z > bool 1e-9"#
        ),
        ["lanewatch_passage_duration_seconds_bucket", "x:y:z"]
    );
    assert_eq!(
        metric_names(variable_query(
            "label_values(lanewatch_passages_total{checkpoint=\"$checkpoint\"}, lane)"
        )),
        ["lanewatch_passages_total"]
    );
}

#[test]
fn rules_reference_only_exported_metrics() {
    let exported = exported_series();
    let mut allowed = exported.clone();
    allowed.extend(recorded_names());
    for file in [
        "deploy/prometheus/recording.yml",
        "deploy/prometheus/alerts.yml",
    ] {
        for g in arr(&yaml(file), "groups") {
            for r in arr(g, "rules") {
                let what = format!(
                    "{file}: {}",
                    r.get("record")
                        .or(r.get("alert"))
                        .and_then(Value::as_str)
                        .unwrap()
                );
                check_names(&what, s(r, "expr"), &allowed);
            }
        }
    }
}

fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(o) => o.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

/// Every dashboard file.
fn dashboards() -> Vec<(String, Value)> {
    let dir = root().join("grafana/dashboards");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let v = json(&rel);
            (rel, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Panels, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in arr(d, "panels") {
        if s(p, "type") == "row" {
            out.extend(
                p.get("panels")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn dashboards_query_through_the_datasource_variable_and_only_exported_metrics() {
    let mut allowed = exported_series();
    allowed.extend(recorded_names());
    let ds = dashboards();
    let titles: BTreeSet<&str> = ds.iter().map(|(_, d)| s(d, "title")).collect();
    for want in ["Commander overview", "Lane detail", "Pipeline health"] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "no {want} dashboard in {titles:?}"
        );
    }
    let mut uids = BTreeSet::new();
    for (file, d) in &ds {
        assert!(
            uids.insert(s(d, "uid").to_string()),
            "{file}: duplicate uid"
        );
        let vars = arr(&d["templating"], "list");
        let dsvar = vars
            .iter()
            .find(|v| s(v, "type") == "datasource")
            .unwrap_or_else(|| panic!("{file}: no datasource template variable"));
        assert_eq!(s(dsvar, "query"), "prometheus");
        let var_ref = format!("${{{}}}", s(dsvar, "name"));
        // No datasource anywhere is pinned to a UID other than the variable (Grafana's
        // built-in annotation source aside).
        walk(d, &mut |v| {
            if let Some(dsv) = v.get("datasource").filter(|x| x.is_object()) {
                let uid = dsv.get("uid").and_then(Value::as_str).unwrap_or("");
                assert!(
                    uid == var_ref || uid == "-- Grafana --",
                    "{file}: datasource uid {uid:?} is not {var_ref}"
                );
            }
        });
        // Query variables read exported metrics.
        for v in vars.iter().filter(|v| s(v, "type") == "query") {
            check_names(
                &format!("{file} variable {}", s(v, "name")),
                variable_query(s(v, "definition")),
                &allowed,
            );
        }
        let ps = panels(d);
        assert!(ps.len() >= 5, "{file}: only {} panels", ps.len());
        for p in ps {
            let title = s(p, "title");
            assert_eq!(
                s(&p["datasource"], "uid"),
                var_ref,
                "{file} panel {title:?}: not on the datasource variable"
            );
            let targets = arr(p, "targets");
            assert!(!targets.is_empty(), "{file} panel {title:?}: no queries");
            for t in targets {
                let expr = s(t, "expr");
                assert!(
                    !expr.trim().is_empty(),
                    "{file} panel {title:?}: empty query"
                );
                assert_eq!(
                    s(&t["datasource"], "uid"),
                    var_ref,
                    "{file} panel {title:?}"
                );
                let names = metric_names(expr);
                assert!(
                    !names.is_empty(),
                    "{file} panel {title:?}: `{expr}` selects no metric"
                );
                check_names(&format!("{file} panel {title:?}"), expr, &allowed);
            }
        }
    }
}

#[test]
fn every_yaml_and_json_file_parses() {
    let mut stack = vec![root().join("deploy"), root().join("grafana")];
    let mut n = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if rel.ends_with(".yml") || rel.ends_with(".yaml") {
                yaml(&rel);
                n += 1;
            } else if rel.ends_with(".json") {
                json(&rel);
                n += 1;
            }
        }
    }
    assert!(n >= 15, "only {n} files");
}

/// `check-config` refuses what `run` could not use (issue #14): values beyond what
/// librdkafka, tokio or event-time arithmetic accept are each named with their range.
/// Before, `http.max_connections = 9223372036854775807` passed and then panicked the
/// HTTP task, and a statistics interval of 99999999999h passed and then librdkafka
/// refused it.
#[test]
fn check_config_refuses_what_run_cannot_use_and_names_each_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lanewatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "registry = \"{}\"\n\
             [source]\nstatistics_interval = \"99999999999h\"\ncommit_interval = \"400days\"\nqueued_max_messages_kbytes = 0\n\
             [http]\nmax_connections = 9223372036854775807\nmax_header_bytes = 4294967296\n\
             [windows]\nsizes = [\"1m\", \"5000years\"]\n\
             [events]\ndedup_capacity = 9223372036854775807\n",
            root().join("config/checkpoints.toml").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "check-config accepted it: {stderr}");
    for field in [
        "source.statistics_interval",
        "source.commit_interval",
        "source.queued_max_messages_kbytes",
        "http.max_connections",
        "http.max_header_bytes",
        "windows.sizes",
        "events.dedup_capacity",
    ] {
        assert!(stderr.contains(field), "{field} not named:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}
