//! `lanewatch-bench advice`: the congestion advice against the simulator's ground
//! truth. Simulated days (seeds, demand factors, incidents, staffing) are replayed
//! through the shared pipeline as a file is; every checkpoint-direction window with
//! traffic is compared with what really happened there (`simulate --truth`): the
//! Erlang C recommendation on the true arrivals and inspection times, the true load,
//! the lanes really open, the congestion state of the true departures.

use std::collections::BTreeMap;

use lanewatch::config::Config;
use lanewatch::congestion::CheckpointWindow;
use lanewatch::event::Direction;
use lanewatch::lanes::Observer;
use lanewatch::pipeline::Pipeline;
use lanewatch::simulate::options::{parse_incident_arg, parse_open_lanes};
use lanewatch::simulate::{SimOptions, Simulator, TruthOptions, TruthWindow};

/// Every checkpoint-direction analysis, by (checkpoint, direction, window start).
#[derive(Default)]
struct Rows(BTreeMap<(String, Direction, i64), CheckpointWindow>);

impl Observer for Rows {}

impl lanewatch::pipeline::Observer for Rows {
    fn checkpoint_window(&mut self, w: &CheckpointWindow) {
        self.0
            .insert((w.checkpoint.clone(), w.direction, w.start_ms), w.clone());
    }
}

/// How the advice compares with the truth over a set of windows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    /// Windows in which vehicles arrived.
    pub windows: u64,
    /// Recommended lanes equal to the truth's.
    pub exact: u64,
    /// Within one lane of the truth's.
    pub within_one: u64,
    /// `capacity_exceeded` while the true load was below 80% of the lanes' capacity.
    pub exceeded_below_80: u64,
    /// `capacity_exceeded` raised, and in the truth.
    pub exceeded: u64,
    pub exceeded_truth: u64,
    /// `congested` differs from the state of the true departures.
    pub congested_differs: u64,
    pub congested_truth: u64,
    /// Open lanes equal to the lanes really open at the window's midpoint.
    pub open_exact: u64,
    /// The windows furthest off, for a look: `(checkpoint direction start, ours, truth)`.
    pub worst: Vec<(String, u32, u32)>,
}

impl Score {
    pub fn add(&mut self, o: &Score) {
        self.windows += o.windows;
        self.exact += o.exact;
        self.within_one += o.within_one;
        self.exceeded_below_80 += o.exceeded_below_80;
        self.exceeded += o.exceeded;
        self.exceeded_truth += o.exceeded_truth;
        self.congested_differs += o.congested_differs;
        self.congested_truth += o.congested_truth;
        self.open_exact += o.open_exact;
        self.worst.extend(o.worst.iter().cloned());
        self.worst
            .sort_by_key(|w| std::cmp::Reverse(w.1.abs_diff(w.2)));
        self.worst.truncate(10);
    }

    pub fn pct(&self, n: u64) -> f64 {
        100.0 * n as f64 / self.windows.max(1) as f64
    }
}

/// Simulate `opts` with the truth, analyse the events with `config` as a replay of a
/// file does, and score every window with traffic.
pub fn score(config: &Config, opts: SimOptions) -> Score {
    let truth_opts = TruthOptions {
        window_ms: config.windows.sizes_ms[config.congestion.window_idx],
        target_wait_ms: config.congestion.target_wait_ms,
        risk: config.congestion.risk,
        enter_p95_ms: config.congestion.enter_p95_ms,
        leave_p95_ms: config.congestion.leave_p95_ms,
        min_dwell_ms: config.congestion.min_dwell_ms,
        min_passages: config.congestion.min_passages,
    };
    let mut sim = Simulator::new(&config.registry, opts)
        .and_then(|s| s.with_truth(truth_opts))
        .expect("valid simulation options");
    let mut pipeline = Pipeline::with_observer(config, Rows::default());
    pipeline.set_split_pending(0, true);
    let mut truth: Vec<TruthWindow> = Vec::new();
    let mut payload = Vec::new();
    while sim.next_into(&mut payload).is_some() {
        pipeline.apply(&payload, None);
        truth.extend(sim.drain_truth());
    }
    truth.extend(sim.drain_truth());
    pipeline.set_split_pending(0, false);
    pipeline.flush();
    compare(&pipeline.observer.0, &truth)
}

fn compare(
    rows: &BTreeMap<(String, Direction, i64), CheckpointWindow>,
    truth: &[TruthWindow],
) -> Score {
    let mut s = Score::default();
    for t in truth.iter().filter(|t| t.arrivals > 0) {
        let ours = rows.get(&(t.checkpoint.clone(), t.direction, t.window_start_ms));
        let rec = ours.map_or(0, |r| r.recommended_lanes);
        let exceeded = ours.is_some_and(|r| r.capacity_exceeded);
        s.windows += 1;
        s.exact += u64::from(rec == t.recommended_lanes);
        s.within_one += u64::from(rec.abs_diff(t.recommended_lanes) <= 1);
        s.exceeded += u64::from(exceeded && t.capacity_exceeded);
        s.exceeded_truth += u64::from(t.capacity_exceeded);
        s.exceeded_below_80 += u64::from(exceeded && t.load.is_some_and(|l| l < 0.8));
        s.congested_truth += u64::from(t.congested);
        s.congested_differs += u64::from(ours.is_some_and(|r| r.congested) != t.congested);
        s.open_exact += u64::from(ours.is_some_and(|r| r.open_lanes == t.open_lanes));
        if rec != t.recommended_lanes {
            s.worst.push((
                format!("{} {} {}", t.checkpoint, t.direction, t.window_start),
                rec,
                t.recommended_lanes,
            ));
        }
    }
    s.worst
        .sort_by_key(|w| std::cmp::Reverse(w.1.abs_diff(w.2)));
    s.worst.truncate(10);
    s
}

/// `lanewatch-bench advice`: simulated days × seeds × demand factors, each also with
/// lane closures at the peak and with reduced staffing, scored against the truth.
#[derive(Debug, Clone, clap::Args)]
pub struct AdviceArgs {
    /// Simulated days per run (from 00:00 Beijing time of 2026-04-13).
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "23,24,25")]
    pub seeds: Vec<u64>,
    /// Demand factors, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.5,1.0,1.5")]
    pub demand: Vec<f64>,
}

/// One scenario of the matrix.
pub struct Scenario {
    pub label: String,
    pub opts: SimOptions,
}

/// Every day of a run gets these on top of the plain runs: two car lanes of Baimiao
/// closed at the morning peak, a slowdown at Yanjiao's evening peak, and Baimiao's
/// inbound car lanes staffed at four from 06:00 to 10:00.
const INCIDENTS: &[&str] = &[
    "baimiao/inbound/02@07:30+45m:close",
    "baimiao/inbound/05@08:00+30m:close",
    "yanjiao/outbound/*@18:00+30m:slow=2",
];
const STAFFING: &str = "baimiao/inbound/car=4@06:00+4h";

/// The matrix: seeds × demand factors × {plain, incidents, reduced staffing}.
pub fn scenarios(a: &AdviceArgs) -> Vec<Scenario> {
    let t0 = lanewatch::time::parse_timestamp("2026-04-13T00:00:00+08:00").expect("valid");
    let mut out = Vec::new();
    for &seed in &a.seeds {
        for &demand in &a.demand {
            for variant in ["plain", "incidents", "staffing"] {
                let mut opts = SimOptions::new(t0, t0 + i64::from(a.days) * 86_400_000);
                opts.seed = seed;
                opts.demand = demand;
                match variant {
                    "incidents" => opts.incidents.extend(
                        INCIDENTS
                            .iter()
                            .map(|i| parse_incident_arg(i).expect("valid incident")),
                    ),
                    "staffing" => opts
                        .open_lanes
                        .push(parse_open_lanes(STAFFING).expect("valid staffing")),
                    _ => {}
                }
                out.push(Scenario {
                    label: format!("seed {seed} demand {demand} {variant}"),
                    opts,
                });
            }
        }
    }
    out
}

/// Run the matrix with the shipped configuration and print a table.
pub fn run(a: &AdviceArgs) {
    let config = Config::shipped();
    let mut total = Score::default();
    let started = std::time::Instant::now();
    println!(
        "{:<34} {:>7} {:>7} {:>8} {:>9} {:>11} {:>10} {:>7}",
        "scenario", "windows", "exact%", "within1%", "exc<80%", "exceeded", "congested", "open%"
    );
    for sc in scenarios(a) {
        let s = score(&config, sc.opts);
        println!(
            "{:<34} {:>7} {:>7.1} {:>8.1} {:>9} {:>5}/{:<5} {:>4}/{:<5} {:>7.1}",
            sc.label,
            s.windows,
            s.pct(s.exact),
            s.pct(s.within_one),
            s.exceeded_below_80,
            s.exceeded,
            s.exceeded_truth,
            s.congested_differs,
            s.congested_truth,
            s.pct(s.open_exact)
        );
        total.add(&s);
    }
    println!(
        "bench=advice runs={} days={} windows={} exact_pct={:.2} within_one_pct={:.2} exceeded_below_80={} exceeded={}/{} congested_differs={} open_exact_pct={:.2} seconds={:.1}",
        a.seeds.len() * a.demand.len() * 3,
        a.days,
        total.windows,
        total.pct(total.exact),
        total.pct(total.within_one),
        total.exceeded_below_80,
        total.exceeded,
        total.exceeded_truth,
        total.congested_differs,
        total.pct(total.open_exact),
        started.elapsed().as_secs_f64()
    );
    for (w, ours, truth) in &total.worst {
        println!("  off: {w}: recommended {ours}, truth {truth}");
    }
}
