//! `lanewatch demo`: the whole system in one process with nothing installed — an
//! embedded Kafka broker (librdkafka's mock cluster), the traffic simulator producing a
//! morning peak into it at an accelerated pace, and the live service consuming it with
//! the shipped configuration, serving `/metrics` — and the status it shows while it
//! runs (`status`: a table redrawn in place on a terminal, `status …` lines otherwise).

pub mod status;

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::run::{RunError, start};
use crate::simulate::profile::{DAY_MS, local_midnight};
use crate::simulate::{Output, SimError, SimOptions, Simulator, Speed, run_simulator};

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the embedded Kafka broker: {0}")]
    Broker(#[source] rdkafka::error::KafkaError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Simulate(#[from] SimError),
    #[error(
        "--speed must be between 1 and 120 (the embedded broker delivers about 2,000 messages/s)"
    )]
    Speed,
}

impl crate::exit::Failure for DemoError {
    fn is_user_error(&self) -> bool {
        match self {
            DemoError::Speed => true,
            DemoError::Broker(_) => false,
            DemoError::Run(e) => e.is_user_error(),
            DemoError::Simulate(e) => e.is_user_error(),
        }
    }
}

/// What `lanewatch demo` is asked to do: its flags as values.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where to serve /metrics, /healthz and /readyz (port 0: any free port).
    pub listen: SocketAddr,
    /// Simulated minutes per real minute (1 to 120).
    pub speed: f64,
    /// Simulator seed (same seed, same traffic).
    pub seed: u64,
}

const TOPIC: &str = "checkpoint.passages";
const DLQ: &str = "checkpoint.passages.dlq";

/// Start of the simulated range: 06:30 Beijing time yesterday — in the past, so that the
/// accelerated simulation stays behind the wall clock for a whole simulated day.
fn morning_peak_start(now_ms: i64) -> i64 {
    local_midnight(now_ms) - DAY_MS + 6 * 3_600_000 + 30 * 60_000
}

pub async fn run(args: DemoOptions, shutdown: CancellationToken) -> Result<(), DemoError> {
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
    println!("  board    http://{addr}/");
    println!("  metrics  http://{addr}/metrics");
    println!("  ready    http://{addr}/readyz");
    println!(
        "  try      curl -s http://{addr}/metrics | grep 'checkpoint=\"baimiao\",direction=\"inbound\"'"
    );
    println!("  Ctrl-C stops everything.");

    let start_ms = morning_peak_start(crate::engine::time::now_ms());
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

    let registry = running.metrics.registry().clone();
    let mut screen = std::io::stderr().is_terminal().then(Screen::new);
    // A terminal gets the table at once and every 2 s; a pipe or file a report every 10 s.
    let mut tick = tokio::time::interval(if screen.is_some() {
        Duration::from_secs(2)
    } else {
        Duration::from_secs(10)
    });
    if screen.is_none() {
        tick.tick().await;
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                let snap = status::snapshot(&registry);
                match screen.as_mut() {
                    Some(s) => s.draw(&status::table(&snap, s.colour)),
                    None => report(&status::lines(&snap)),
                }
            }
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

/// The status table on the terminal behind stderr, redrawn in place: the lines drawn
/// last are cleared and the new ones written in one flush (nothing else writes to the
/// terminal meanwhile: the startup lines come before, and main logs only warnings).
struct Screen {
    term: console::Term,
    colour: bool,
    drawn: usize,
}

impl Screen {
    fn new() -> Self {
        Screen {
            term: console::Term::buffered_stderr(),
            colour: console::colors_enabled_stderr(),
            drawn: 0,
        }
    }

    fn draw(&mut self, lines: &[String]) {
        if let Err(e) = self.try_draw(lines) {
            tracing::debug!(error = %e, "cannot draw the status table");
        }
    }

    fn try_draw(&mut self, lines: &[String]) -> std::io::Result<()> {
        // Lines wider or more than the terminal would wrap or scroll, and the next
        // redraw would clear too little: cut them to the terminal.
        let (rows, cols) = self.term.size();
        let keep = usize::from(rows).saturating_sub(1).max(1);
        if self.drawn > 0 {
            self.term.clear_last_lines(self.drawn)?;
        }
        self.drawn = 0;
        for l in lines.iter().take(keep) {
            self.term
                .write_line(&console::truncate_str(l, usize::from(cols), ""))?;
            self.drawn += 1;
        }
        self.term.flush()
    }
}

/// Status lines on stderr (a closed stderr is not an error of the demo).
fn report(lines: &[String]) {
    let mut err = std::io::stderr().lock();
    for l in lines {
        if writeln!(err, "{l}").is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_starts_at_yesterdays_morning_peak_in_beijing() {
        // 2026-11-26T10:00:00+08:00 → 2026-11-25T06:30:00+08:00.
        let now = crate::engine::time::parse_timestamp("2026-11-26T10:00:00+08:00").unwrap();
        let want = crate::engine::time::parse_timestamp("2026-11-25T06:30:00+08:00").unwrap();
        assert_eq!(super::morning_peak_start(now), want);
        // Just after midnight Beijing time (16:30 UTC the day before).
        let now = crate::engine::time::parse_timestamp("2026-11-26T00:10:00+08:00").unwrap();
        let want = crate::engine::time::parse_timestamp("2026-11-25T06:30:00+08:00").unwrap();
        assert_eq!(super::morning_peak_start(now), want);
    }
}
