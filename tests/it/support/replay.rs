//! Helpers of the replay tests: a seeded dataset with known passage times (and
//! duplicates, malformed lines, out-of-order and late events), the expectations
//! computed from it independently of lanewatch (spec definitions only), and running
//! `lanewatch replay` through the library.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use lanewatch::cli::ReplayArgs;
use lanewatch::replay::run;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_util::sync::CancellationToken;

pub use super::passage::{Passage, nearest_rank_pct};

/// One line of the dataset.
#[derive(Debug, Clone)]
pub enum Line {
    Valid(Passage),
    /// Malformed bytes and the reason label they must be rejected with.
    Bad(Vec<u8>, &'static str),
}

pub const LANES: [(&str, &str, &str); 5] = [
    ("baimiao", "inbound", "01"),
    ("baimiao", "inbound", "02"),
    ("baimiao", "outbound", "01"),
    ("xianghe", "inbound", "A1"),
    ("xianghe", "outbound", "B-2"),
];

/// `n_per_lane` passages per lane departing over `[t0, t0 + span_ms)`; baimiao inbound
/// congests (passages of 12–40 min) in the second quarter of the span. Adjacent events
/// are swapped (out of order by less than a minute), some events are re-sent later
/// (duplicates), `late` events come 10 minutes behind their checkpoint's newest
/// departure, and malformed lines of each kind are mixed in.
pub fn dataset(seed: u64, t0: i64, span_ms: i64, n_per_lane: usize, late: usize) -> Vec<Line> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut evs = Vec::new();
    for (li, &(cp, dir, lane)) in LANES.iter().enumerate() {
        for k in 0..n_per_lane {
            let departed = t0 + rng.random_range(0..span_ms);
            let congested = cp == "baimiao"
                && dir == "inbound"
                && departed >= t0 + span_ms / 4
                && departed < t0 + span_ms / 2;
            let passage = if congested {
                rng.random_range(720_000..2_400_000)
            } else {
                rng.random_range(5_000..480_000)
            };
            let arrived = departed - passage;
            let inspection = rng
                .random_bool(0.7)
                .then(|| departed - rng.random_range(0..=passage.min(120_000)));
            evs.push(Passage {
                id: format!("{cp}-{dir}-{lane}-{li}-{k:06}"),
                cp,
                dir,
                lane,
                arrived,
                inspection,
                departed,
            });
        }
    }
    evs.sort_by_key(|e| e.departed);
    // Out of order: swap disjoint adjacent pairs less than a minute apart.
    let mut i = 0;
    while i + 1 < evs.len() {
        if evs[i + 1].departed - evs[i].departed < 60_000 && rng.random_bool(0.3) {
            evs.swap(i, i + 1);
            i += 2;
        } else {
            i += 1;
        }
    }
    let mut lines: Vec<Line> = evs.iter().cloned().map(Line::Valid).collect();
    // Duplicates: re-send 3% of the events a little later.
    let n = lines.len();
    for _ in 0..n / 33 {
        let i = rng.random_range(0..n);
        let at = (i + rng.random_range(1..50)).min(lines.len());
        let dup = lines[i].clone();
        lines.insert(at, dup);
    }
    // Late events: 10 minutes behind the newest departure of their checkpoint so far.
    for k in 0..late {
        let at = rng.random_range(lines.len() / 4..lines.len());
        let newest = lines[..at]
            .iter()
            .filter_map(|l| match l {
                Line::Valid(e) if e.cp == "xianghe" => Some(e.departed),
                _ => None,
            })
            .max()
            .unwrap_or(t0 + span_ms / 2);
        let departed = newest - 600_000;
        lines.insert(
            at,
            Line::Valid(Passage {
                id: format!("late-{k}"),
                cp: "xianghe",
                dir: "inbound",
                lane: "A1",
                arrived: departed - 30_000 - k as i64,
                inspection: None,
                departed,
            }),
        );
    }
    let bad: [(&[u8], &str); 6] = [
        (b"not json at all", "invalid_json"),
        (b"{\"event_id\":\"x\",\"checkpoint\":", "invalid_json"),
        (b"{\"event_id\":\"m1\",\"checkpoint\":\"baimiao\",\"direction\":\"inbound\",\"arrived_at\":1,\"departed_at\":2}", "missing_field"),
        (b"{\"event_id\":\"m2\",\"checkpoint\":\"baimiao\",\"direction\":\"inbound\",\"lane\":\"01\",\"arrived_at\":5000,\"departed_at\":4000}", "departed_before_arrived"),
        (b"{\"event_id\":\"\xff\xfe\"}", "not_utf8"),
        (b"{\"event_id\":\"m3\",\"checkpoint\":\"BAD CP\",\"direction\":\"inbound\",\"lane\":\"01\",\"arrived_at\":1,\"departed_at\":2}", "invalid_field"),
    ];
    for k in 0..30 {
        let (b, r) = bad[k % bad.len()];
        let at = rng.random_range(0..lines.len());
        lines.insert(at, Line::Bad(b.to_vec(), r));
    }
    lines
}

/// The dataset as JSONL bytes (times alternate between RFC 3339 and epoch ms).
pub fn jsonl(lines: &[Line]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match l {
            Line::Valid(e) => out.extend_from_slice(e.dataset_json(i % 2 == 0).as_bytes()),
            Line::Bad(b, _) => out.extend_from_slice(b),
        }
        out.push(b'\n');
    }
    out
}

/// What a replay of `[from, to)` must report, from the spec definitions.
#[derive(Debug, Default)]
pub struct Expected {
    pub read: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub late: u64,
    pub out_of_range: u64,
    pub rejected: BTreeMap<String, u64>,
    /// (checkpoint, direction, lane) → every accepted event (late ones included).
    pub lanes: BTreeMap<(String, String, String), Vec<Passage>>,
    /// (checkpoint, direction, lane) → window start → passage times (ms) of on-time events.
    pub windows: BTreeMap<(String, String, String), BTreeMap<i64, Vec<i64>>>,
}

pub fn expect(lines: &[Line], from: i64, to: i64, window: i64, lateness: i64) -> Expected {
    let mut x = Expected::default();
    let mut seen = HashSet::new();
    // The shipped lane idle timeout and a 1-minute smallest window are what a replay
    // with the default configuration uses; the report window is the only window.
    let mut oracle = LateOracle::new(lateness, 300_000, window);
    for l in lines {
        x.read += 1;
        let e = match l {
            Line::Bad(_, r) => {
                *x.rejected.entry(r.to_string()).or_default() += 1;
                continue;
            }
            Line::Valid(e) => e,
        };
        if e.departed < from || e.departed >= to {
            x.out_of_range += 1;
            continue;
        }
        if !seen.insert(e.id.clone()) {
            x.duplicates += 1;
            continue;
        }
        x.accepted += 1;
        let key = (e.cp.to_string(), e.dir.to_string(), e.lane.to_string());
        let late = oracle.apply(&format!("{}/{}", e.cp, e.dir), e.lane, e.departed);
        if late {
            x.late += 1;
        } else {
            x.windows
                .entry(key.clone())
                .or_default()
                .entry(e.departed.div_euclid(window) * window)
                .or_default()
                .push(e.departed - e.arrived);
        }
        x.lanes.entry(key).or_default().push(e.clone());
    }
    x
}

/// Run `lanewatch replay` with these arguments through the library.
pub fn replay(args: &[&str]) -> Result<(), lanewatch::replay::ReplayError> {
    let mut v = vec!["replay", "--no-progress"];
    v.extend_from_slice(args);
    let a = <ReplayArgs as clap::Parser>::try_parse_from(v).expect("arguments parse");
    run(a.into(), CancellationToken::new())
}

/// Run a replay writing `--format json` into `dir/name` and parse it.
pub fn replay_json(dir: &Path, name: &str, args: &[&str]) -> (Vec<u8>, serde_json::Value) {
    let out = dir.join(name);
    let mut v = args.to_vec();
    let o = out.to_str().unwrap().to_string();
    v.extend_from_slice(&["--format", "json", "--output", &o]);
    replay(&v).unwrap_or_else(|e| panic!("replay failed: {e}"));
    let bytes = std::fs::read(&out).unwrap();
    let json = serde_json::from_slice(&bytes).unwrap();
    (bytes, json)
}

/// 2025-11-26T06:00:00+08:00 (a multiple of one hour).
pub const T0: i64 = 1_764_108_000_000;

/// DESIGN §2 written from the definition (`lanes::clock`), for one source split read
/// as a file is (pending until its end): the split's time is the newest departure
/// read; a lane's stream time is its newest departure, and the stream is live while
/// within `lane_idle_timeout` of the split's time. An event is late when it departs
/// more than the allowed lateness before its stream's time, or — on an idle or new
/// stream — more than lateness + lane idle timeout before the split's time, or before
/// its checkpoint direction's watermark. The watermark is the oldest live stream of the
/// checkpoint direction, or the split's time minus the lane idle timeout if older,
/// minus the lateness, taken each time it passes the next boundary of the smallest
/// window. (`checkpoint` below names a checkpoint direction.)
pub struct LateOracle {
    lateness: i64,
    idle: i64,
    step: i64,
    split: i64,
    /// (checkpoint, lane) → newest departure.
    lanes: HashMap<(String, String), i64>,
    /// checkpoint → (watermark, next boundary).
    checkpoints: HashMap<String, (i64, i64)>,
}

impl LateOracle {
    /// `step`: the smallest window size.
    pub fn new(lateness: i64, idle: i64, step: i64) -> Self {
        LateOracle {
            lateness,
            idle,
            step,
            split: i64::MIN,
            lanes: HashMap::new(),
            checkpoints: HashMap::new(),
        }
    }

    fn live(&self, stream: i64) -> bool {
        stream >= self.split.saturating_sub(self.idle)
    }

    pub fn apply(&mut self, checkpoint: &str, lane: &str, t: i64) -> bool {
        let key = (checkpoint.to_string(), lane.to_string());
        let stream = self.lanes.get(&key).copied().unwrap_or(i64::MIN);
        let (wm, next) = self
            .checkpoints
            .get(checkpoint)
            .copied()
            .unwrap_or((i64::MIN, i64::MIN));
        let late = t < stream.saturating_sub(self.lateness)
            || t < wm
            || (!self.live(stream) && t < self.split.saturating_sub(self.lateness + self.idle));
        self.lanes.insert(key, stream.max(t));
        self.split = self.split.max(t);
        let next = if next == i64::MIN {
            (t - self.lateness).div_euclid(self.step) * self.step + self.step
        } else {
            next
        };
        let oldest_live = self
            .lanes
            .iter()
            .filter(|(k, s)| k.0 == checkpoint && self.live(**s))
            .map(|(_, &s)| s)
            .min()
            .unwrap_or(i64::MAX);
        let w = oldest_live.min(self.split - self.idle) - self.lateness;
        let (wm, next) = if w >= next {
            (wm.max(w), w.div_euclid(self.step) * self.step + self.step)
        } else {
            (wm, next)
        };
        self.checkpoints.insert(checkpoint.to_string(), (wm, next));
        late
    }
}

/// The congestion state written from its definition (`[congestion]`): entered when a
/// window's p95 reaches `enter`, left when below `leave`, each only `dwell` after the
/// last change (measured at window ends); a window without passages keeps the state,
/// and entering needs at least `min_passages`.
pub struct CongestionOracle {
    pub enter: f64,
    pub leave: f64,
    pub dwell: i64,
    pub min_passages: usize,
    congested: bool,
    since: i64,
}

impl CongestionOracle {
    pub fn new(enter_ms: i64, leave_ms: i64, dwell_ms: i64, min_passages: usize) -> Self {
        CongestionOracle {
            enter: enter_ms as f64,
            leave: leave_ms as f64,
            dwell: dwell_ms,
            min_passages,
            congested: false,
            since: i64::MIN,
        }
    }

    /// The state after a window ending at `end_ms` with `n` passages of p95 `p95_ms`.
    pub fn window(&mut self, n: usize, p95_ms: Option<f64>, end_ms: i64) -> bool {
        if let Some(p) = p95_ms {
            let change = if self.congested {
                p < self.leave
            } else {
                p >= self.enter && n >= self.min_passages
            };
            if change && end_ms.saturating_sub(self.since) >= self.dwell {
                self.congested = !self.congested;
                self.since = end_ms;
            }
        }
        self.congested
    }
}
