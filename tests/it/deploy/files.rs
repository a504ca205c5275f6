//! The compose file, the Dockerfile and the Kubernetes manifests reference files that
//! exist and agree with each other.

use super::*;

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
