//! `lanewatch-bench fresh`: freshness. A paced producer sends `--rate` events/s
//! (departed_at = the time of sending) over `--lanes` lanes; every
//! `--probe-interval-ms` one of them is a probe on the dedicated lane
//! `probe/inbound/P0`. The benchmark scrapes `/metrics` over HTTP in a loop and takes,
//! per probe, the time from just before the producer's `send` to the end of the first
//! scrape whose `lanewatch_passages_total` of the probe lane counts it (producer
//! linger, broker, fetch, apply and the scrape included). As a control, a bare rdkafka
//! consumer (own group, no processing) reads the same topic and reports when it got
//! each probe: the share of Kafka itself (`kafka_ms_*`); the difference per probe is
//! lanewatch's (`own_ms_*`, apply and scrape-polling resolution included).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use tokio_util::sync::CancellationToken;

use crate::live::{self, LiveArgs};
use crate::{BenchError, data, kafka, proc};

#[derive(Debug, Clone, clap::Args)]
pub struct FreshArgs {
    #[arg(long)]
    pub brokers: String,
    /// Topic (created with 12 partitions when missing; use a fresh one).
    #[arg(long)]
    pub topic: String,
    #[arg(long, default_value_t = 10_000)]
    pub rate: u32,
    #[arg(long, default_value_t = 200)]
    pub probes: usize,
    #[arg(long, default_value_t = 50)]
    pub probe_interval_ms: u64,
    /// Lanes of the background traffic.
    #[arg(long, default_value_t = 100)]
    pub lanes: usize,
    /// The producer's `linger.ms` (librdkafka's default is 5).
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u32,
    /// Seconds of background traffic before the first probe. A freshly started broker
    /// answers its first fetches slowly (JIT, page cache, fetch sessions: p99 above a
    /// second in the first seconds on the 2-core machine); a checkpoint's broker has
    /// been up for days, so the steady state is what is measured.
    #[arg(long, default_value_t = 10)]
    pub warmup_s: u64,
}

const PROBE: &str = "checkpoint=\"probe\"";
const PROBE_KEY: &str = "probe/inbound/P0";

pub async fn run(a: FreshArgs, shutdown: CancellationToken) -> Result<(), BenchError> {
    kafka::create_topic(&a.brokers, &a.topic, 12).await?;
    let live_args = LiveArgs {
        brokers: a.brokers.clone(),
        topic: a.topic.clone(),
        group: None,
        lanes: a.lanes + 1,
        queued_max_kbytes: None,
        max_partition_drift: None,
        native_histograms: false,
        web_config: None,
    };
    let stop = shutdown.child_token();
    let (running, _) = live::start(&live_args, stop.clone()).await?;
    let addr = running.addr;
    let result = async {
        live::wait_ready(addr, Duration::from_secs(60)).await?;
        let sent_at = Arc::new(Mutex::new(Vec::<Instant>::with_capacity(a.probes)));
        let done = Arc::new(AtomicBool::new(false));
        let control = {
            let (a, sent_at, done) = (a.clone(), sent_at.clone(), done.clone());
            tokio::task::spawn_blocking(move || bare_consumer(&a, &sent_at, &done))
        };
        let producer = {
            let (a, sent_at, done) = (a.clone(), sent_at.clone(), done.clone());
            tokio::task::spawn_blocking(move || produce_paced(&a, &sent_at, &done))
        };
        let probed = probe(addr, &a, &sent_at).await;
        done.store(true, Ordering::Relaxed);
        let (events, seconds) = producer.await.expect("producer thread")?;
        let mut kafka_ms = control.await.expect("control consumer thread")?;
        let (mut delays, mut scrape_ms) = probed?;
        let mean = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
        // Per probe, visible in /metrics minus polled by the bare consumer.
        let mut own: Vec<f64> = delays.iter().zip(&kafka_ms).map(|(l, k)| l - k).collect();
        println!(
            "bench=fresh rate_target={} rate_achieved={:.0} lanes={} linger_ms={} probes={} \
             warmup_s={} fresh_ms_p50={:.1} fresh_ms_p99={:.1} fresh_ms_max={:.1} fresh_ms_mean={mean:.1} scrape_ms_p50={:.2} \
             kafka_ms_p50={:.1} kafka_ms_p99={:.1} kafka_probes={} \
             own_ms_p50={:.1} own_ms_p99={:.1}",
            a.rate,
            events as f64 / seconds,
            a.lanes,
            a.linger_ms,
            delays.len(),
            a.warmup_s,
            proc::quantile(&mut delays, 0.5),
            proc::quantile(&mut delays, 0.99),
            proc::quantile(&mut delays, 1.0),
            proc::quantile(&mut scrape_ms, 0.5),
            proc::quantile(&mut kafka_ms, 0.5),
            proc::quantile(&mut kafka_ms, 0.99),
            kafka_ms.len(),
            proc::quantile(&mut own, 0.5),
            proc::quantile(&mut own, 0.99),
        );
        Ok(())
    }
    .await;
    stop.cancel();
    running.wait().await?;
    result
}

/// Scrape until every probe was seen; the delay of each (ms) and each scrape's time.
async fn probe(
    addr: std::net::SocketAddr,
    a: &FreshArgs,
    sent_at: &Mutex<Vec<Instant>>,
) -> Result<(Vec<f64>, Vec<f64>), BenchError> {
    let mut delays = Vec::with_capacity(a.probes);
    let mut scrape_ms = Vec::new();
    let mut seen = 0usize;
    let mut waiting_since = Instant::now();
    while seen < a.probes {
        let sent: Vec<Instant> = sent_at.lock().expect("probe lock")[seen..].to_vec();
        if sent.is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
            waiting_since = Instant::now();
            continue;
        }
        let t = Instant::now();
        let (_, body) = live::get(addr, "/metrics").await?;
        let now = Instant::now();
        scrape_ms.push((now - t).as_secs_f64() * 1000.0);
        let count =
            live::sample(&body, "lanewatch_passages_total", &[PROBE]).unwrap_or(0.0) as usize;
        let newly = count.saturating_sub(seen).min(sent.len());
        for s in &sent[..newly] {
            delays.push((now - *s).as_secs_f64() * 1000.0);
        }
        seen += newly;
        if newly > 0 {
            waiting_since = now;
        } else if now - waiting_since > Duration::from_secs(15) {
            return Err(BenchError::Incomplete(format!(
                "probe {seen} not visible in /metrics after 15 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((delays, scrape_ms))
}

/// The control: a bare consumer on its own group; per probe, ms from send to poll.
fn bare_consumer(
    a: &FreshArgs,
    sent_at: &Mutex<Vec<Instant>>,
    done: &AtomicBool,
) -> Result<Vec<f64>, BenchError> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &a.brokers)
        .set(
            "group.id",
            format!("{}-control-{}", a.topic, std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(BenchError::Kafka)?;
    c.subscribe(&[&a.topic]).map_err(BenchError::Kafka)?;
    let mut delays = Vec::with_capacity(a.probes);
    // Runs until it saw every probe, or 10 s after the benchmark ended.
    let mut give_up: Option<Instant> = None;
    while delays.len() < a.probes && give_up.is_none_or(|g| Instant::now() < g) {
        if give_up.is_none() && done.load(Ordering::Relaxed) {
            give_up = Some(Instant::now() + Duration::from_secs(10));
        }
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100))
            && m.key() == Some(PROBE_KEY.as_bytes())
        {
            let now = Instant::now();
            if let Some(s) = sent_at.lock().expect("probe lock").get(delays.len()) {
                delays.push((now - *s).as_secs_f64() * 1000.0);
            }
        }
    }
    Ok(delays)
}

/// Produce at `rate` until `done`, a probe every `probe_interval_ms` (at most
/// `probes`). Returns the events sent and the seconds taken.
fn produce_paced(
    a: &FreshArgs,
    sent_at: &Mutex<Vec<Instant>>,
    done: &AtomicBool,
) -> Result<(u64, f64), BenchError> {
    let p = kafka::producer(&a.brokers, "none", a.linger_ms)?;
    let rate = f64::from(a.rate.max(1));
    let probe_every = ((rate * a.probe_interval_ms as f64 / 1000.0) as u64).max(1);
    let start_ms = lanewatch::time::now_ms();
    let t0 = Instant::now();
    let warm_at = t0 + Duration::from_secs(a.warmup_s);
    let mut buf = String::with_capacity(512);
    let mut i = 0u64;
    let mut probes = 0usize;
    while !done.load(Ordering::Relaxed) {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if due > now + Duration::from_micros(500) {
            p.poll(Duration::ZERO);
            std::thread::sleep(due - now);
        }
        buf.clear();
        if i % probe_every == probe_every - 1 && probes < a.probes && now >= warm_at {
            let now_ms = lanewatch::time::now_ms();
            let ev = format!(
                r#"{{"event_id":"probe-{probes}","checkpoint":"probe","direction":"inbound","lane":"P0","vehicle_class":"car","arrived_at":{},"inspection_started_at":{},"departed_at":{now_ms}}}"#,
                now_ms - 20_000,
                now_ms - 10_000
            );
            sent_at.lock().expect("probe lock").push(Instant::now());
            kafka::send(&p, &a.topic, PROBE_KEY, ev.as_bytes());
            probes += 1;
        } else {
            let key = data::event_json(&mut buf, i as usize, a.lanes, start_ms, rate);
            kafka::send(&p, &a.topic, &key, buf.as_bytes());
        }
        i += 1;
    }
    let seconds = t0.elapsed().as_secs_f64();
    p.flush(Duration::from_secs(30))
        .map_err(BenchError::Kafka)?;
    Ok((i, seconds))
}
