//! `lanewatch demo`: the whole system in one process with nothing installed — an
//! embedded Kafka broker (librdkafka's mock cluster), the traffic simulator producing a
//! morning peak into it at an accelerated pace, and the live service consuming it with
//! the shipped configuration, serving `/metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::run::{RunError, start};
use crate::simulate::{Output, SimError, SimOptions, Simulator, Speed, run_simulator};

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the embedded Kafka broker: {0}")]
    Broker(rdkafka::error::KafkaError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Simulate(#[from] SimError),
    #[error(
        "--speed must be between 1 and 120 (the embedded broker delivers about 2,000 messages/s)"
    )]
    Speed,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where to serve /metrics, /healthz and /readyz (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9898")]
    pub listen: SocketAddr,
    /// Simulated minutes per real minute.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Simulator seed (same seed, same traffic).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

const TOPIC: &str = "checkpoint.passages";
const DLQ: &str = "checkpoint.passages.dlq";
const DAY_MS: i64 = 86_400_000;

/// Start of the simulated range: 06:30 Beijing time yesterday — in the past, so that the
/// accelerated simulation stays behind the wall clock for a whole simulated day.
fn morning_peak_start(now_ms: i64) -> i64 {
    let beijing = now_ms + 8 * 3_600_000;
    let local_midnight = beijing.div_euclid(DAY_MS) * DAY_MS - 8 * 3_600_000;
    local_midnight - DAY_MS + 6 * 3_600_000 + 30 * 60_000
}

pub async fn run(args: DemoArgs, shutdown: CancellationToken) -> Result<(), DemoError> {
    if !(1.0..=120.0).contains(&args.speed) {
        return Err(DemoError::Speed);
    }
    let mock = MockCluster::new(1).map_err(DemoError::Broker)?;
    mock.create_topic(TOPIC, 4, 1).map_err(DemoError::Broker)?;
    mock.create_topic(DLQ, 1, 1).map_err(DemoError::Broker)?;
    let bootstrap = mock.bootstrap_servers();

    let mut config = Config::shipped();
    config.source.brokers = bootstrap.clone();
    config.source.topic = TOPIC.into();
    config.source.dead_letter_topic = Some(DLQ.into());
    config.source.commit_interval = Duration::from_secs(2);
    config.source.statistics_interval = Duration::from_secs(1);
    config.http.listen = args.listen;
    // The simulated day is in the past: never close windows by the wall clock.
    config.windows.idle_timeout_ms = 30 * DAY_MS;
    let running = start(&config, shutdown.clone()).await?;
    let addr = running.addr;
    println!(
        "lanewatch demo: embedded Kafka at {bootstrap}, simulated traffic from yesterday 06:30 (Beijing) at {}x",
        args.speed
    );
    println!("  metrics  http://{addr}/metrics");
    println!("  ready    http://{addr}/readyz");
    println!(
        "  try      curl -s http://{addr}/metrics | grep 'checkpoint=\"baimiao\",direction=\"inbound\"'"
    );
    println!("  Ctrl-C stops everything.");

    let start_ms = morning_peak_start(crate::time::now_ms());
    let mut opts = SimOptions::new(start_ms, start_ms + DAY_MS);
    opts.seed = args.seed;
    let sim = Simulator::new(&config.registry, opts)?;
    let output = Output::Kafka {
        brokers: bootstrap,
        topic: TOPIC.into(),
        options: Vec::new(),
    };
    let sim_task = tokio::spawn(run_simulator(
        sim,
        output,
        Speed::Factor(args.speed),
        shutdown.clone(),
    ));

    let metrics = running.metrics.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => println!("{}", status(&metrics)),
        }
    }
    match sim_task.await {
        Ok(Ok(s)) => println!("simulator stopped after {} messages", s.written),
        Ok(Err(e)) => tracing::warn!(error = %e, "simulator stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "simulator task failed"),
    }
    let (summary, _) = running.wait().await?;
    println!(
        "lanewatch stopped: {} messages consumed, offsets committed: {}",
        summary.messages, summary.final_commit_ok
    );
    drop(mock);
    Ok(())
}

/// One line: events so far and the busiest checkpoint direction's state.
fn status(metrics: &crate::export::metrics::Metrics) -> String {
    let text = String::from_utf8(metrics.encode()).unwrap_or_default();
    let value = |prefix: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let dir = "{checkpoint=\"baimiao\",direction=\"inbound\"}";
    let fmt = |v: Option<f64>, scale: f64| {
        v.filter(|x| x.is_finite())
            .map_or("-".to_string(), |x| format!("{:.1}", x / scale))
    };
    format!(
        "events {} | baimiao inbound: p95 passage {} min, {} veh/min arriving, lanes open {} / recommended {}, congested {}",
        fmt(value("lanewatch_events_received_total "), 1.0),
        fmt(
            value(&format!("lanewatch_checkpoint_passage_p95_seconds{dir}")),
            60.0
        ),
        fmt(
            value(&format!(
                "lanewatch_checkpoint_arrival_rate_per_minute{dir}"
            )),
            1.0
        ),
        fmt(value(&format!("lanewatch_checkpoint_open_lanes{dir}")), 1.0),
        fmt(
            value(&format!("lanewatch_checkpoint_recommended_lanes{dir}")),
            1.0
        ),
        fmt(value(&format!("lanewatch_checkpoint_congested{dir}")), 1.0),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_starts_at_yesterdays_morning_peak_in_beijing() {
        // 2026-11-26T10:00:00+08:00 → 2026-11-25T06:30:00+08:00.
        let now = crate::time::parse_timestamp("2026-11-26T10:00:00+08:00").unwrap();
        let want = crate::time::parse_timestamp("2026-11-25T06:30:00+08:00").unwrap();
        assert_eq!(super::morning_peak_start(now), want);
        // Just after midnight Beijing time (16:30 UTC the day before).
        let now = crate::time::parse_timestamp("2026-11-26T00:10:00+08:00").unwrap();
        let want = crate::time::parse_timestamp("2026-11-25T06:30:00+08:00").unwrap();
        assert_eq!(super::morning_peak_start(now), want);
    }
}
