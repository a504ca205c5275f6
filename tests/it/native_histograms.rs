//! `buckets.native_histograms`: a real Prometheus with `--enable-feature=native-histograms`
//! asks for the protobuf exposition and stores the lane histograms as native
//! histograms, whose counts, sums and quantiles agree with the passages fed in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lanewatch::Config;
use lanewatch::export::http::HttpServer;
use lanewatch::export::metrics::Metrics;
use lanewatch::health::Health;
use lanewatch::pipeline::Pipeline;
use tokio_util::sync::CancellationToken;

/// Nearest-rank quantile of `v` (sorted).
fn nearest_rank(v: &[f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).max(1);
    v[rank - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_native_histograms_that_agree_with_the_passages() {
    require!(crate::support::Need::Tool("prometheus"));
    let _alone = crate::support::heavy();
    let mut config = Config::shipped();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.buckets.native_schema = Some(3);
    let mut pipeline = Pipeline::new(&config);
    // Passage times of 20 s to 40 min on four lanes; queue waits from the
    // inspection start.
    let (mut passages, mut waits) = (BTreeMap::<String, Vec<f64>>::new(), Vec::new());
    for i in 0..3_000i64 {
        let lane = format!("0{}", 1 + i % 4);
        let arrived = 1_000_000 + i * 3_001;
        let departed = arrived + 20_000 + (i * i * 7_919) % 2_400_000;
        let started = arrived + (departed - arrived) / 2;
        let ev = format!(
            r#"{{"event_id":"e{i}","checkpoint":"baimiao","direction":"inbound","lane":"{lane}","arrived_at":{arrived},"inspection_started_at":{started},"departed_at":{departed}}}"#
        );
        pipeline.apply(ev.as_bytes(), None);
        let seconds = |ms: i64| ms as f64 / 1000.0;
        passages
            .entry(lane)
            .or_default()
            .push(seconds(departed - arrived));
        waits.push(seconds(started - arrived));
    }
    let metrics = Metrics::new();
    metrics.register(lanewatch::export::engine::collectors(&pipeline));
    metrics.add_lanes(pipeline.lane_series());
    let server = HttpServer::bind(&config.http, metrics, Arc::new(Health::default()))
        .await
        .unwrap();
    let target = server.local_addr().to_string();
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));

    let dir = tempfile::tempdir().unwrap();
    let prom = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            crate::support::prometheus::Prometheus::scraping_with(
                &dir,
                &target,
                &["--enable-feature=native-histograms"],
            )
        }
    })
    .await
    .unwrap();
    let query = |q: String| {
        let prom = &prom;
        async move { prom.value(&q).await }
    };
    crate::support::eventually(Duration::from_secs(30), "a scrape", || async {
        (query("up{job=\"lanewatch\"}".into()).await? == 1.0).then_some(())
    })
    .await;

    for (lane, times) in &mut passages {
        times.sort_by(f64::total_cmp);
        let series = format!("lanewatch_passage_duration_seconds{{lane=\"{lane}\"}}");
        let count = query(format!("histogram_count({series})")).await;
        assert_eq!(count, Some(times.len() as f64), "lane {lane}");
        let sum = query(format!("histogram_sum({series})")).await.unwrap();
        let truth: f64 = times.iter().sum();
        assert!(
            (sum - truth).abs() < 1e-6 * truth,
            "lane {lane}: {sum} vs {truth}"
        );
        // Within the bucket of the true quantile: a factor 2^(1/8) at schema 3.
        let width = 2f64.powf(1.0 / 8.0);
        for q in [0.5, 0.95, 0.99] {
            let est = query(format!("histogram_quantile({q}, {series})"))
                .await
                .unwrap();
            let truth = nearest_rank(times, q);
            assert!(
                est <= truth * width && est >= truth / width,
                "lane {lane} q{q}: {est} vs {truth}"
            );
        }
        // The other families came through the same protobuf body.
        let passed = query(format!("lanewatch_passages_total{{lane=\"{lane}\"}}")).await;
        assert_eq!(passed, Some(times.len() as f64), "lane {lane}");
    }
    // A histogram exported per checkpoint direction: the sum of its lanes, native too.
    let dir_waits = query(
        "histogram_count(lanewatch_queue_wait_seconds{checkpoint=\"baimiao\",direction=\"inbound\"})"
            .into(),
    )
    .await;
    assert_eq!(dir_waits, Some(waits.len() as f64));
    waits.sort_by(f64::total_cmp);
    let est = query(
        "histogram_quantile(0.95, lanewatch_queue_wait_seconds{checkpoint=\"baimiao\",direction=\"inbound\"})"
            .into(),
    )
    .await
    .unwrap();
    let truth = nearest_rank(&waits, 0.95);
    assert!(
        est <= truth * 2f64.powf(0.125) && est >= truth / 2f64.powf(0.125),
        "{est} vs {truth}"
    );
    let info = query("lanewatch_build_info".into()).await;
    assert_eq!(info, Some(1.0));
    drop(prom);
    stop.cancel();
    let _ = task.await;
}
