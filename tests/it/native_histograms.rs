//! `buckets.native_histograms`: a real Prometheus with `--enable-feature=native-histograms`
//! asks for the protobuf exposition and stores the lane histograms as native
//! histograms, whose counts, sums and quantiles agree with the passages fed in; the
//! shipped recording rules and dashboard panels that read buckets read them too.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lanewatch::Config;
use lanewatch::export::http::HttpServer;
use lanewatch::export::metrics::Metrics;
use lanewatch::health::Health;
use lanewatch::pipeline::Pipeline;
use tokio_util::sync::CancellationToken;

use crate::support::prometheus::Prometheus;

/// A bucket's width at schema 3: an estimate within it of the truth is right.
const WIDTH: f64 = 1.090_507_732_665_257_7; // 2^(1/8)

/// Nearest-rank quantile of `v` (sorted).
fn nearest_rank(v: &[f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).max(1);
    v[rank - 1]
}

fn within_a_bucket(est: f64, truth: f64) -> bool {
    est <= truth * WIDTH && est >= truth / WIDTH
}

/// Passages on Baimiao's inbound lanes 01–04, and what they were.
#[derive(Default)]
struct Truth {
    /// Passage times by lane, seconds.
    passages: BTreeMap<String, Vec<f64>>,
    /// Queue waits of the direction, seconds.
    waits: Vec<f64>,
}

impl Truth {
    /// Passages `from..to` (20 s to 40 min; queue waits of 10 s or of a minute and
    /// more, none near the 30 s the queued-vehicles rule splits at).
    fn feed(&mut self, pipeline: &mut Pipeline, from: i64, to: i64) {
        for i in from..to {
            let lane = format!("0{}", 1 + i % 4);
            let arrived = 1_000_000 + i * 3_001;
            let departed = arrived + 20_000 + (i * i * 7_919) % 2_400_000;
            let wait = if i % 3 == 0 {
                10_000
            } else {
                60_000 + (i * 7_001) % 600_000
            };
            let started = (arrived + wait).min(departed);
            let ev = format!(
                r#"{{"event_id":"e{i}","checkpoint":"baimiao","direction":"inbound","lane":"{lane}","arrived_at":{arrived},"inspection_started_at":{started},"departed_at":{departed}}}"#
            );
            pipeline.apply(ev.as_bytes(), None);
            let seconds = |ms: i64| ms as f64 / 1000.0;
            self.passages
                .entry(lane)
                .or_default()
                .push(seconds(departed - arrived));
            self.waits.push(seconds(started - arrived));
        }
        self.passages
            .values_mut()
            .for_each(|v| v.sort_by(f64::total_cmp));
        self.waits.sort_by(f64::total_cmp);
    }
}

/// The shipped registry's lanes with native histograms, served on a free port, and a
/// Prometheus with native histograms on scraping it every second (with `rules`).
async fn serve(
    pipeline: &Pipeline,
    config: &Config,
    dir: &Path,
    rules: &[&Path],
) -> (Prometheus, CancellationToken, tokio::task::JoinHandle<()>) {
    let metrics = Metrics::new();
    metrics.register(lanewatch::export::engine::collectors(pipeline));
    metrics.add_lanes(pipeline.lane_series());
    let server = HttpServer::bind(&config.http, metrics, Arc::new(Health::default()))
        .await
        .unwrap();
    let target = server.local_addr().to_string();
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));
    let prom = tokio::task::spawn_blocking({
        let dir = dir.to_path_buf();
        let rules: Vec<_> = rules.iter().map(|r| r.to_path_buf()).collect();
        move || {
            let rules: Vec<&Path> = rules.iter().map(|r| r.as_path()).collect();
            Prometheus::scraping_with(
                &dir,
                &target,
                &["--enable-feature=native-histograms"],
                &rules,
            )
        }
    })
    .await
    .unwrap();
    crate::support::eventually(Duration::from_secs(30), "a scrape", || async {
        (prom.value("up{job=\"lanewatch\"}").await? == 1.0).then_some(())
    })
    .await;
    (prom, stop, task)
}

/// Poll `query` until its value passes `ok` (a rule is evaluated every second);
/// panics with the last value after 20 s.
async fn until(prom: &Prometheus, what: &str, query: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let last = std::sync::Mutex::new(None);
    let seen = || format!("{:?}", *last.lock().unwrap());
    crate::support::eventually_or(Duration::from_secs(20), what, seen, || async {
        let v = prom.value(query).await;
        *last.lock().unwrap() = v;
        v.filter(|&v| ok(v))
    })
    .await
}

fn native_config() -> Config {
    let mut config = Config::shipped();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.buckets.native_schema = Some(3);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_native_histograms_that_agree_with_the_passages() {
    require!(crate::support::Need::Tool("prometheus"));
    let _alone = crate::support::heavy();
    let config = native_config();
    let mut pipeline = Pipeline::new(&config);
    let mut truth = Truth::default();
    truth.feed(&mut pipeline, 0, 3_000);
    let dir = tempfile::tempdir().unwrap();
    let (prom, stop, task) = serve(&pipeline, &config, dir.path(), &[]).await;

    for (lane, times) in &truth.passages {
        let series = format!("lanewatch_passage_duration_seconds{{lane=\"{lane}\"}}");
        let count = prom.value(&format!("histogram_count({series})")).await;
        assert_eq!(count, Some(times.len() as f64), "lane {lane}");
        let sum = prom
            .value(&format!("histogram_sum({series})"))
            .await
            .unwrap();
        let want: f64 = times.iter().sum();
        assert!(
            (sum - want).abs() < 1e-6 * want,
            "lane {lane}: {sum} vs {want}"
        );
        for q in [0.5, 0.95, 0.99] {
            let est = prom
                .value(&format!("histogram_quantile({q}, {series})"))
                .await
                .unwrap();
            let want = nearest_rank(times, q);
            assert!(
                within_a_bucket(est, want),
                "lane {lane} q{q}: {est} vs {want}"
            );
        }
        // The other families came through the same protobuf body.
        let passed = prom
            .value(&format!("lanewatch_passages_total{{lane=\"{lane}\"}}"))
            .await;
        assert_eq!(passed, Some(times.len() as f64), "lane {lane}");
    }
    // A histogram exported per checkpoint direction: the sum of its lanes, native too.
    let dir_series = "lanewatch_queue_wait_seconds{checkpoint=\"baimiao\",direction=\"inbound\"}";
    let waits = prom.value(&format!("histogram_count({dir_series})")).await;
    assert_eq!(waits, Some(truth.waits.len() as f64));
    let est = prom
        .value(&format!("histogram_quantile(0.95, {dir_series})"))
        .await
        .unwrap();
    let want = nearest_rank(&truth.waits, 0.95);
    assert!(within_a_bucket(est, want), "{est} vs {want}");
    assert_eq!(prom.value("lanewatch_build_info").await, Some(1.0));
    drop(prom);
    stop.cancel();
    let _ = task.await;
}

/// The recording rules and the lane-detail panels that read classic buckets have a
/// native form: on a Prometheus that stores only native histograms they still give
/// the p95 passage times (within a bucket of the truth) and the queued vehicles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_and_panels_that_read_buckets_read_native_histograms_too() {
    require!(crate::support::Need::Tool("prometheus"));
    let _alone = crate::support::heavy();
    let config = native_config();
    let mut pipeline = Pipeline::new(&config);
    let dir = tempfile::tempdir().unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/recording.yml");
    let (prom, stop, task) = serve(&pipeline, &config, dir.path(), &[&rules]).await;
    // Scraped at zero first, then the passages in four steps: rates see all of them.
    crate::support::eventually(Duration::from_secs(30), "a scrape of the lanes", || async {
        prom.value("sum(lanewatch_passages_total)").await
    })
    .await;
    let mut truth = Truth::default();
    for step in 0..4 {
        truth.feed(&mut pipeline, step * 600, (step + 1) * 600);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
    let passages = |lane: &str| truth.passages[lane].clone();
    // Prometheus has scraped the last step (the rules then see it within a second or
    // two: each check below waits for its rule's evaluation).
    let fed = truth.waits.len() as f64;
    crate::support::eventually(
        Duration::from_secs(20),
        "a scrape of every passage",
        || async {
            let n = prom.value("sum(lanewatch_passages_total)").await?;
            (n == fed).then_some(())
        },
    )
    .await;
    let mut all: Vec<f64> = truth.passages.values().flatten().copied().collect();
    all.sort_by(f64::total_cmp);

    for lane in ["01", "02", "03", "04"] {
        let want = nearest_rank(&passages(lane), 0.95);
        let q = format!(
            "checkpoint_direction_lane:lanewatch_passage_duration_seconds:p95_rate5m{{lane=\"{lane}\"}}"
        );
        until(&prom, &format!("lane {lane}'s p95 near {want}"), &q, |v| {
            within_a_bucket(v, want)
        })
        .await;
    }
    let want = nearest_rank(&all, 0.95);
    let q = "checkpoint_direction:lanewatch_passage_duration_seconds:p95_rate5m{checkpoint=\"baimiao\",direction=\"inbound\"}";
    let what = format!("the direction's p95 near {want}");
    until(&prom, &what, q, |v| within_a_bucket(v, want)).await;

    // Queued vehicles: the share of the waits over 30 s (no wait is near 30 s, so the
    // share is exact but for the rate's extrapolation between the rule's evaluation and
    // this query, a few parts in a thousand).
    let want = truth.waits.iter().filter(|&&w| w > 30.0).count() as f64 / fed;
    let q = "checkpoint_direction:lanewatch_queued_vehicles:rate10m / histogram_count(sum by (checkpoint, direction) (rate(lanewatch_queue_wait_seconds[10m])))";
    let what = format!("a share queued near {want}");
    until(&prom, &what, q, |share| (share - want).abs() < 0.02).await;

    // The lane-detail panels' p95 queries, as Grafana sends them.
    let board: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards/lane-detail.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    collect_exprs(&board, &mut exprs);
    let p95: Vec<&String> = exprs
        .iter()
        .filter(|e| e.contains("histogram_quantile"))
        .collect();
    assert_eq!(p95.len(), 3, "{p95:?}");
    let want01 = nearest_rank(&passages("01"), 0.95);
    for e in p95 {
        let q = e
            .replace("$checkpoint", "baimiao")
            .replace("$direction", "inbound")
            .replace("$lane", "01")
            .replace("$__rate_interval", "10m");
        let v = prom
            .value(&q)
            .await
            .unwrap_or_else(|| panic!("no data: {q}"));
        assert!(v.is_finite() && v > 0.0, "{q}: {v}");
        if e.contains("lanewatch_passage_duration_seconds") {
            assert!(within_a_bucket(v, want01), "{q}: {v} vs {want01}");
        }
    }
    drop(prom);
    stop.cancel();
    let _ = task.await;
}

/// Every `expr` string of a dashboard.
fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}
