//! The end-to-end run: Kafka, lanewatch, Prometheus and Alertmanager; the pager is paged
//! and resolved, and every dashboard query has data.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn congestion_pages_the_pager_and_resolves_and_every_dashboard_query_has_data() {
    let kafka = kafka!(
        Need::Tool("prometheus"),
        Need::Tool("prometheus-alertmanager")
    );
    let _alone = crate::support::heavy();
    let t_test = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // lanewatch, live, on a fresh topic.
    let topic = kafka.fresh_topic("e2e-alerts", 4).await;
    let dlq = kafka.fresh_topic("e2e-alerts-dlq", 1).await;
    std::fs::create_dir_all(d.join("lanewatch")).unwrap();
    let cfg = kafka.config(
        &d.join("lanewatch"),
        &topic,
        &unique("e2e-alerts"),
        &dlq,
        &registry(),
        "[events]\nmax_clock_skew = \"6h\"\n",
    );
    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&cfg, shutdown.clone())
        .await
        .expect("lanewatch starts");
    let lw = running.addr;

    // The pager / ticket webhook.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(webhook_server(listener, tx));

    // Alertmanager with the project's routing.
    let am_port = free_port();
    std::fs::write(
        d.join("alertmanager.yml"),
        test_alertmanager_config(webhook),
    )
    .unwrap();
    let mut am = Proc::spawn(
        "alertmanager",
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", d.join("alertmanager.yml").display()),
            format!("--storage.path={}", d.join("am-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=".into(),
            "--log.level=info".into(),
        ],
        d.join("alertmanager.log"),
    );

    // Prometheus with the project's rules, scraping lanewatch every second.
    let prom_port = free_port();
    std::fs::copy(
        repo("deploy/prometheus/recording.yml"),
        d.join("recording.yml"),
    )
    .unwrap();
    std::fs::write(d.join("alerts.yml"), test_alert_rules()).unwrap();
    std::fs::write(
        d.join("prometheus.yml"),
        format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [recording.yml, alerts.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: lanewatch
    static_configs:
      - targets: ["{lw}"]
"#
        ),
    )
    .unwrap();
    let mut prom = Proc::spawn(
        "prometheus",
        "prometheus",
        &[
            format!("--config.file={}", d.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", d.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
            "--log.level=info".into(),
        ],
        d.join("prometheus.log"),
    );
    let p = Prom {
        base: format!("http://127.0.0.1:{prom_port}"),
        http: reqwest::Client::new(),
    };

    // Everything up: lanewatch ready and scraped, the rules loaded, Alertmanager ready.
    eventually(Duration::from_secs(30), "lanewatch /readyz", || async {
        (http_get(lw, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "alertmanager ready", || {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://127.0.0.1:{am_port}/-/ready"))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;
    am.assert_running();
    eventually(
        Duration::from_secs(30),
        "prometheus scraping lanewatch with the rules loaded",
        || async { prom_ok(&p).await },
    )
    .await;
    prom.assert_running();
    eprintln!("services up after {:.1?}", t_test.elapsed());

    // The simulator, paced at SPEED× from now.
    let sc = Scenario::new(now_ms());
    let sim = Simulator::new(&cfg.registry, sc.options()).expect("simulator");
    let sim_stop = CancellationToken::new();
    let t_sim = Instant::now();
    let sim_task = tokio::spawn(run_simulator(
        sim,
        Output::Kafka {
            brokers: kafka.brokers(),
            topic: topic.clone(),
            options: vec![("linger.ms".into(), "5".into())],
        },
        Speed::Factor(SPEED),
        sim_stop.clone(),
    ));
    let wall = |sim_ms: i64| {
        t_sim + Duration::from_secs_f64((sim_ms - sc.start_ms) as f64 / 1000.0 / SPEED)
    };
    let t_incident = wall(sc.incident_ms);
    let t_incident_end = wall(sc.incident_ms + INCIDENT_MIN * 60_000);
    let t_sim_end = wall(sc.end_ms);

    // The page.
    let mut seen = Vec::new();
    let page = next_delivery(
        &mut rx,
        t_sim_end + Duration::from_secs(10),
        "the CheckpointCongested page",
        &mut seen,
        |d| {
            d.receiver == "pager"
                && alerts_named(&d.body, "CheckpointCongested")
                    .iter()
                    .any(|a| a["status"] == "firing")
        },
    )
    .await;
    let firing = alerts_named(&page.body, "CheckpointCongested");
    for a in &firing {
        assert_eq!(a["labels"]["checkpoint"], "baimiao", "{a}");
        assert_eq!(a["labels"]["direction"], "inbound", "{a}");
        assert_eq!(a["labels"]["severity"], "page", "{a}");
        assert!(
            a["annotations"]["description"]
                .as_str()
                .is_some_and(|s| s.contains("baimiao")),
            "{a}"
        );
    }
    assert_eq!(
        page.body["groupLabels"]["checkpoint"], "baimiao",
        "grouped by checkpoint"
    );
    let to_page = page.at.saturating_duration_since(t_incident);
    eprintln!(
        "PAGE: {:.1?} wall clock after the incident started (= {:.1} simulated minutes at {SPEED}x); the incident ended {:.1?} after it started",
        to_page,
        to_page.as_secs_f64() * SPEED / 60.0,
        t_incident_end.saturating_duration_since(t_incident)
    );

    // Resolved once the queue has drained.
    let resolved = next_delivery(
        &mut rx,
        t_sim_end + Duration::from_secs(20),
        "CheckpointCongested resolved",
        &mut seen,
        |d| {
            d.receiver == "pager"
                && alerts_named(&d.body, "CheckpointCongested")
                    .iter()
                    .any(|a| a["status"] == "resolved" && a["labels"]["checkpoint"] == "baimiao")
        },
    )
    .await;
    let to_resolve = resolved.at.saturating_duration_since(t_incident_end);
    eprintln!(
        "RESOLVED: {:.1?} wall clock after the incident ended (= {:.1} simulated minutes)",
        to_resolve,
        to_resolve.as_secs_f64() * SPEED / 60.0
    );
    // Nothing else congested, not even pending.
    assert!(
        p.query(
            "count_over_time(ALERTS{alertname=\"CheckpointCongested\",checkpoint!=\"baimiao\"}[1h])"
        )
        .await
        .is_empty(),
        "only baimiao may congest"
    );

    // Every dashboard query returns data (the simulation may still be running).
    check_dashboards(&p).await;

    sim_stop.cancel();
    let summary = sim_task.await.unwrap().expect("simulation");
    eprintln!("simulator wrote {} messages", summary.written);
    shutdown.cancel();
    running.wait().await.expect("lanewatch stops cleanly");
    am.assert_running();
    prom.assert_running();
    eprintln!("webhook deliveries:\n{}", seen.join("\n"));
    eprintln!("total {:.1?}", t_test.elapsed());
}

/// Prometheus scrapes lanewatch (up == 1) and has evaluated the recording rules.
async fn prom_ok(p: &Prom) -> Option<()> {
    let up = p
        .get("/api/v1/query", &[("query", "up{job=\"lanewatch\"} == 1")])
        .await?;
    let ready = p
        .get(
            "/api/v1/query",
            &[("query", "instance:lanewatch_ready:bool == 1")],
        )
        .await?;
    let rules = p.get("/api/v1/rules", &[]).await?;
    let n_rules: usize = rules["groups"]
        .as_array()?
        .iter()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum();
    (!up["result"].as_array()?.is_empty()
        && !ready["result"].as_array()?.is_empty()
        && n_rules > 30)
        .then_some(())
}

async fn check_dashboards(p: &Prom) {
    let vars: BTreeMap<&str, &str> = [
        ("checkpoint", "baimiao"),
        ("direction", "inbound"),
        ("lane", "04"),
        ("datasource", "lanewatch-prometheus"),
    ]
    .into();
    let mut n = 0;
    let mut empty = Vec::new();
    let dir = repo("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for f in files {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        // Template variables: their label_values queries offer the values used below.
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" {
                continue;
            }
            let def = v["definition"].as_str().unwrap();
            let inner = def
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .expect("label_values(selector, label)");
            let (selector, label) = inner.rsplit_once(',').unwrap();
            let selector = substitute(selector.trim(), &vars);
            let data = p
                .get(
                    &format!("/api/v1/label/{}/values", label.trim()),
                    &[("match[]", selector.as_str())],
                )
                .await
                .expect("label values");
            let want = vars[v["name"].as_str().unwrap()];
            assert!(
                data.as_array().unwrap().iter().any(|x| x == want),
                "{name}: variable {} offers {data}, not {want}",
                v["name"]
            );
            n += 1;
        }
        let mut panels: Vec<&Value> = Vec::new();
        for panel in d["panels"].as_array().unwrap() {
            panels.push(panel);
            panels.extend(panel["panels"].as_array().into_iter().flatten());
        }
        for panel in panels {
            for t in panel["targets"].as_array().into_iter().flatten() {
                let q = substitute(t["expr"].as_str().unwrap(), &vars);
                n += 1;
                if p.query(&q).await.is_empty() {
                    empty.push(format!("{name} / {}: {q}", panel["title"]));
                }
            }
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );
    eprintln!("{n} dashboard queries and variables returned data");
}
