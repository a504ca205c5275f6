//! Ground truth of a simulation (`lanewatch simulate --truth FILE`): what really
//! happened at each checkpoint direction per event-time window, for checking the
//! service's measurements and its congestion advice against.
//!
//! The simulator knows every vehicle, so the truth counts physical reality: a vehicle
//! whose event was later dropped, delayed, duplicated or made malformed by the
//! imperfection options counts once, like any other. Collecting it changes nothing in
//! the events (same seed, same bytes, with or without `--truth`).
//!
//! # Format
//!
//! JSONL: one [`TruthWindow`] object per line for every checkpoint direction (that has
//! lanes) and every tumbling window of `--truth-window` (default 5 min, aligned to the
//! Unix epoch like the service's windows) that overlaps the simulated range
//! `[start, end)`, windows without traffic included; sorted by
//! `(window_start_ms, checkpoint, direction)`. Times in seconds with millisecond
//! precision; `null` where a value is undefined. Fields, for the window `[s, s + w)`:
//!
//! | field | meaning |
//! |---|---|
//! | `checkpoint`, `direction` | the checkpoint direction (`inbound` / `outbound`) |
//! | `window_start`, `window_start_ms`, `window_ms` | `s` as RFC 3339 (`+08:00`) and Unix ms; `w` in ms |
//! | `arrivals` | vehicles with `arrived_at` in the window that joined a lane |
//! | `turned_away` | vehicles arriving in the window that found no lane open |
//! | `inspection_sum_s`, `inspection_mean_s` | sum and mean of `departed − inspection start` of those `arrivals` (mean `null` without arrivals) |
//! | `departures` | vehicles with `departed_at` in the window |
//! | `p95_passage_s`, `mean_passage_s` | nearest-rank 95th percentile (smallest value with ≥ 95% of samples ≤ it) and mean of `departed − arrived` of those departures (`null` without departures) |
//! | `lanes` | lanes of the direction in the registry |
//! | `open_lanes` | lanes taking new vehicles at the midpoint `s + w/2` (closing incidents, `--open-lanes`, schedules) |
//! | `closed_by_incident`, `slowed_by_incident` | lanes a `close` / `slow` incident covers at the midpoint |
//! | `queue_vehicles` | vehicles arrived before `s + w` and not departed before it (queued or in inspection), all lanes |
//! | `arrival_rate_per_min` | λ = `arrivals` / window minutes |
//! | `service_rate_per_min` | μ = 60 / `inspection_mean_s` (`null` without arrivals) |
//! | `load` | λ / (`lanes` · μ) (`null` without arrivals) |
//! | `recommended_lanes`, `capacity_exceeded` | Erlang C (M/M/c) advice on λ and μ: the smallest `c` in `1..=lanes` with `P(wait > target) < risk`; if none, `lanes` and `capacity_exceeded = true`; 0 and `false` without arrivals |
//! | `congested` | the congestion state with hysteresis on `p95_passage_s` in window order (see [`TruthOptions`]) |
//!
//! Departures after the end of the last window of the range (vehicles still queued when
//! arrivals stop) are in no window. A window is written once the arrival clock of every
//! station has passed its end (a vehicle departs after it arrives, so nothing can change
//! it afterwards): memory stays bounded by the vehicles in the system, whatever the
//! length of the run. A run stopped early writes the windows completed until then.
//!
//! The Erlang C reference and the congestion state are written here from their
//! textbook definitions, independently of [`crate::engine::congestion`], which they check.
//!
//! Numbers are written in the shortest form that reads back to the same `f64`; a
//! reader comparing them exactly needs a correctly rounding parser (Python's `json`,
//! Rust's `str::parse`; serde_json only with its `float_roundtrip` feature, by default
//! it can be one ulp off).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SimError;
use super::model::Station;
use super::payload::Writer;
use crate::engine::event::Direction;

/// How the truth is cut into windows and judged.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthOptions {
    /// Tumbling window length (ms), aligned to the Unix epoch.
    pub window_ms: i64,
    /// The Erlang C target: `P(wait > target_wait) < risk`.
    pub target_wait_ms: i64,
    pub risk: f64,
    /// Congestion state: entered when not congested and a window's p95 passage time is
    /// `≥ enter_p95`, left when congested and p95 `< leave_p95`, a change only when
    /// `min_dwell` has passed since the last (times at window ends; a window without
    /// departures is no evidence, and entering needs `min_passages` of them).
    pub enter_p95_ms: i64,
    pub leave_p95_ms: i64,
    pub min_dwell_ms: i64,
    pub min_passages: u64,
}

impl TruthOptions {
    /// 5-minute windows and the shipped `[congestion]` settings
    /// (`config/lanewatch.toml`).
    pub fn shipped() -> TruthOptions {
        let c = crate::config::Config::shipped().congestion;
        TruthOptions {
            window_ms: 300_000,
            target_wait_ms: c.target_wait_ms,
            risk: c.risk,
            enter_p95_ms: c.enter_p95_ms,
            leave_p95_ms: c.leave_p95_ms,
            min_dwell_ms: c.min_dwell_ms,
            min_passages: c.min_passages,
        }
    }

    fn check(&self) -> Result<(), SimError> {
        let bad = |m: &str| Err(SimError::Options(m.into()));
        if !(1_000..=86_400_000).contains(&self.window_ms) {
            return bad("--truth-window must be between 1s and 24h, e.g. 5m");
        }
        if self.target_wait_ms < 0 {
            return bad("--truth-target-wait must not be negative, e.g. 10m");
        }
        if !(self.risk > 0.0 && self.risk < 1.0) {
            return bad("--truth-risk must lie strictly between 0 and 1, e.g. 0.1");
        }
        Ok(())
    }
}

impl Default for TruthOptions {
    fn default() -> Self {
        TruthOptions::shipped()
    }
}

/// What really happened at one checkpoint direction in one window (one JSONL line; the
/// module doc defines each field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthWindow {
    pub checkpoint: String,
    #[serde(with = "direction_str")]
    pub direction: Direction,
    pub window_start: String,
    pub window_start_ms: i64,
    pub window_ms: i64,
    pub arrivals: u64,
    pub turned_away: u64,
    pub inspection_sum_s: f64,
    pub inspection_mean_s: Option<f64>,
    pub departures: u64,
    pub p95_passage_s: Option<f64>,
    pub mean_passage_s: Option<f64>,
    pub lanes: u32,
    pub open_lanes: u32,
    pub closed_by_incident: u32,
    pub slowed_by_incident: u32,
    pub queue_vehicles: u64,
    pub arrival_rate_per_min: f64,
    pub service_rate_per_min: Option<f64>,
    pub load: Option<f64>,
    pub recommended_lanes: u32,
    pub capacity_exceeded: bool,
    pub congested: bool,
}

mod direction_str {
    use super::Direction;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Direction, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Direction, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with `c` servers
/// and offered load `a = λ/μ`, from the explicit sum
/// `C = (aᶜ/c!)·(c/(c−a)) / (Σ_{k<c} aᵏ/k! + (aᶜ/c!)·(c/(c−a)))` for `a < c`, summed in
/// logarithms (no overflow for any `c`); 1 when `a ≥ c` (or `c = 0`), 0 when `a ≤ 0`.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if c == 0 || a >= f64::from(c) {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    let cf = f64::from(c);
    let ln_a = a.ln();
    // Running log-sum-exp of ln(aᵏ/k!) for k < c: the sum is exp(m)·s.
    let (mut m, mut s) = (f64::NEG_INFINITY, 0.0);
    let mut ln_fact = 0.0;
    for k in 0..c {
        if k > 0 {
            ln_fact += f64::from(k).ln();
        }
        let t = f64::from(k) * ln_a - ln_fact;
        if t > m {
            s = s * (m - t).exp() + 1.0;
            m = t;
        } else {
            s += (t - m).exp();
        }
    }
    ln_fact += cf.ln();
    let ln_top = cf * ln_a - ln_fact + (cf / (cf - a)).ln();
    // top / (sum + top) = 1 / (1 + sum/top)
    1.0 / (1.0 + s * (m - ln_top).exp())
}

/// `P(wait > t)` in M/M/c with arrival rate `lambda`, service rate `mu` per server
/// (same time unit as `t`): `C(c, λ/μ)·exp(−(cμ − λ)·t)`; 0 when `λ = 0`, 1 when
/// `λ ≥ cμ`.
pub fn prob_wait_exceeds(c: u32, lambda: f64, mu: f64, t: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    let cap = f64::from(c) * mu;
    if mu.is_nan() || mu <= 0.0 || lambda >= cap {
        return 1.0;
    }
    erlang_c(c, lambda / mu) * (-(cap - lambda) * t).exp()
}

/// The Erlang C advice `(lanes, capacity_exceeded)`: the smallest `c` in `1..=lanes`
/// with `P(wait > target) < risk`, else `(lanes, true)`; `(0, false)` when `λ = 0`.
/// Rates per minute, `target` in minutes (any one unit for all three).
pub fn recommend(lambda: f64, mu: f64, target: f64, risk: f64, lanes: u32) -> (u32, bool) {
    if lambda <= 0.0 {
        return (0, false);
    }
    match (1..=lanes).find(|&c| prob_wait_exceeds(c, lambda, mu, target) < risk) {
        Some(c) => (c, false),
        None => (lanes, true),
    }
}

/// One window of one station while it is open.
#[derive(Debug, Default)]
struct Acc {
    arrivals: u64,
    turned_away: u64,
    inspection_sum_ms: i64,
    /// Passage times (ms) of the vehicles departing in the window.
    passages_ms: Vec<i64>,
}

#[derive(Debug)]
struct StationTruth {
    checkpoint: String,
    direction: Direction,
    lanes: u32,
    /// Open windows from `Truth::base` on.
    accs: VecDeque<Acc>,
    served_before: u64,
    departed_before: u64,
    congested: bool,
    last_flip_ms: Option<i64>,
}

/// Collects the truth of every station of a [`super::Simulator`] (same indices).
#[derive(Debug)]
pub(crate) struct Truth {
    opts: TruthOptions,
    stations: Vec<StationTruth>,
    /// Station indices sorted by `(checkpoint, direction)`: the output order.
    order: Vec<usize>,
    /// Index (`start_ms / window_ms`) of the oldest window not yet written.
    base: i64,
    /// Index of the last window overlapping the range.
    last: i64,
    ready: VecDeque<TruthWindow>,
    writer: Writer,
}

impl Truth {
    pub fn new(
        opts: TruthOptions,
        stations: &[(String, Direction, u32)],
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Truth, SimError> {
        opts.check()?;
        let w = opts.window_ms;
        let mut order: Vec<usize> = (0..stations.len()).collect();
        order.sort_by(|&a, &b| {
            let (ca, da, _) = &stations[a];
            let (cb, db, _) = &stations[b];
            (ca, da.as_str()).cmp(&(cb, db.as_str()))
        });
        Ok(Truth {
            stations: stations
                .iter()
                .map(|(c, d, lanes)| StationTruth {
                    checkpoint: c.clone(),
                    direction: *d,
                    lanes: *lanes,
                    accs: VecDeque::new(),
                    served_before: 0,
                    departed_before: 0,
                    congested: false,
                    last_flip_ms: None,
                })
                .collect(),
            order,
            base: start_ms.div_euclid(w),
            last: (end_ms - 1).div_euclid(w),
            ready: VecDeque::new(),
            writer: Writer::default(),
            opts,
        })
    }

    fn acc(&mut self, si: usize, at_ms: i64) -> Option<&mut Acc> {
        let k = at_ms.div_euclid(self.opts.window_ms);
        if k > self.last {
            return None;
        }
        debug_assert!(
            k >= self.base,
            "window {k} already written (base {})",
            self.base
        );
        let i = usize::try_from(k - self.base).ok()?;
        let accs = &mut self.stations[si].accs;
        if accs.len() <= i {
            accs.resize_with(i + 1, Acc::default);
        }
        Some(&mut accs[i])
    }

    /// An arrival at station `si`: `served` is `(inspection start, departure)` (ms) for
    /// a vehicle that joined a lane, `None` for one turned away.
    pub fn arrival(&mut self, si: usize, arrived_ms: i64, served: Option<(i64, i64)>) {
        let Some((inspection_ms, departed_ms)) = served else {
            if let Some(a) = self.acc(si, arrived_ms) {
                a.turned_away += 1;
            }
            return;
        };
        if let Some(a) = self.acc(si, arrived_ms) {
            a.arrivals += 1;
            a.inspection_sum_ms += departed_ms - inspection_ms;
        }
        if let Some(a) = self.acc(si, departed_ms) {
            a.passages_ms.push(departed_ms - arrived_ms);
        }
    }

    /// End (ms) of the oldest window not yet written, `None` when all are.
    pub fn pending_end(&self) -> Option<i64> {
        (self.base <= self.last).then(|| (self.base + 1) * self.opts.window_ms)
    }

    /// Write every window ending at or before `clock_ms`: no arrival (hence no
    /// departure) before it is still to come.
    pub fn complete(&mut self, stations: &[Station], clock_ms: i64) {
        while let Some(end) = self.pending_end()
            && end <= clock_ms
        {
            for i in 0..self.order.len() {
                let si = self.order[i];
                let lanes = stations[si].lanes_at(end - self.opts.window_ms / 2);
                let w = self.window(si, end, lanes);
                self.ready.push_back(w);
            }
            self.base += 1;
        }
    }

    fn window(&mut self, si: usize, end: i64, lanes: super::model::LaneCounts) -> TruthWindow {
        let o = &self.opts;
        let w = o.window_ms;
        let start = end - w;
        let st = &mut self.stations[si];
        let mut a = st.accs.pop_front().unwrap_or_default();
        let departures = a.passages_ms.len() as u64;
        st.served_before += a.arrivals;
        st.departed_before += departures;
        a.passages_ms.sort_unstable();
        let p95_ms = (!a.passages_ms.is_empty())
            .then(|| a.passages_ms[(a.passages_ms.len() * 95).div_ceil(100) - 1]);
        let passage_sum_ms: i64 = a.passages_ms.iter().sum();
        let inspection_mean_s =
            (a.arrivals > 0).then(|| a.inspection_sum_ms as f64 / a.arrivals as f64 / 1000.0);
        let lambda = a.arrivals as f64 / (w as f64 / 60_000.0);
        let mu = inspection_mean_s.map(|m| 60.0 / m);
        let (recommended_lanes, capacity_exceeded) = match mu {
            Some(mu) => recommend(
                lambda,
                mu,
                o.target_wait_ms as f64 / 60_000.0,
                o.risk,
                st.lanes,
            ),
            None => (0, false),
        };
        if let Some(p95) = p95_ms {
            let dwelt = st.last_flip_ms.is_none_or(|f| end - f >= o.min_dwell_ms);
            let flip = if st.congested {
                p95 < o.leave_p95_ms
            } else {
                p95 >= o.enter_p95_ms && departures >= o.min_passages
            };
            if flip && dwelt {
                st.congested = !st.congested;
                st.last_flip_ms = Some(end);
            }
        }
        let mut stamp = Vec::with_capacity(29);
        self.writer.timestamp(&mut stamp, start);
        TruthWindow {
            checkpoint: st.checkpoint.clone(),
            direction: st.direction,
            window_start: String::from_utf8(stamp).expect("timestamps are ASCII"),
            window_start_ms: start,
            window_ms: w,
            arrivals: a.arrivals,
            turned_away: a.turned_away,
            inspection_sum_s: a.inspection_sum_ms as f64 / 1000.0,
            inspection_mean_s,
            departures,
            p95_passage_s: p95_ms.map(|p| p as f64 / 1000.0),
            mean_passage_s: (departures > 0)
                .then(|| passage_sum_ms as f64 / departures as f64 / 1000.0),
            lanes: st.lanes,
            open_lanes: lanes.open,
            closed_by_incident: lanes.closed_by_incident,
            slowed_by_incident: lanes.slowed_by_incident,
            queue_vehicles: st.served_before - st.departed_before,
            arrival_rate_per_min: lambda,
            service_rate_per_min: mu,
            load: mu.map(|mu| lambda / (f64::from(st.lanes) * mu)),
            recommended_lanes,
            capacity_exceeded,
            congested: st.congested,
        }
    }

    /// Windows written since the last call, in output order.
    pub fn drain(&mut self) -> std::collections::vec_deque::Drain<'_, TruthWindow> {
        self.ready.drain(..)
    }
}

/// Writes [`TruthWindow`]s as JSONL to a file.
pub struct TruthWriter {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
}

impl TruthWriter {
    /// Create (or truncate) `path`.
    pub fn create(path: &Path) -> Result<TruthWriter, SimError> {
        let f = File::create(path).map_err(|source| SimError::Write {
            path: path.display().to_string(),
            source,
        })?;
        Ok(TruthWriter {
            out: BufWriter::with_capacity(1 << 16, f),
            path: path.to_path_buf(),
            written: 0,
        })
    }

    /// Append one window as a line.
    pub fn write(&mut self, w: &TruthWindow) -> Result<(), SimError> {
        serde_json::to_writer(&mut self.out, w)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|source| SimError::Write {
                path: self.path.display().to_string(),
                source,
            })?;
        self.written += 1;
        Ok(())
    }

    /// Flush to the file; the number of windows written.
    pub fn finish(mut self) -> Result<u64, SimError> {
        self.out.flush().map_err(|source| SimError::Write {
            path: self.path.display().to_string(),
            source,
        })?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `P(N ≥ c)` and `P(W > t)` of M/M/c by brute force over the birth–death chain
    /// (truncated far out): stationary probabilities from detailed balance, and the wait
    /// of an arrival that finds `k ≥ c` vehicles as the sum of `k − c + 1` exponential
    /// service completions at rate `cμ` (an Erlang distribution).
    fn brute_force(c: u32, lambda: f64, mu: f64, t: f64) -> (f64, f64) {
        let n = 20_000;
        let mut p = vec![1.0f64; n];
        for k in 1..n {
            let rate = f64::from(c.min(k as u32)) * mu;
            p[k] = p[k - 1] * lambda / rate;
        }
        let total: f64 = p.iter().sum();
        let cu = c as usize;
        let waits: f64 = p[cu..].iter().sum::<f64>() / total;
        // P(Erlang(j + 1, cμ) > t) = Σ_{i ≤ j} e^{−cμt} (cμt)^i / i!
        let x = f64::from(c) * mu * t;
        let mut tail = 0.0;
        let (mut term, mut cdf_sum) = ((-x).exp(), 0.0);
        for (j, pk) in p[cu..].iter().enumerate() {
            if j > 0 {
                term *= x / j as f64;
            }
            cdf_sum += term;
            tail += pk / total * cdf_sum;
        }
        (waits, tail)
    }

    #[test]
    fn erlang_c_textbook_values() {
        // c = 2, a = 1: (1/2·2) / (1 + 1 + 1) = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // c = 3, a = 2: (8/6·3) / (1 + 2 + 2 + 4) = 4/9.
        assert!((erlang_c(3, 2.0) - 4.0 / 9.0).abs() < 1e-12);
        // One server: the probability of waiting is the utilisation.
        for a in [0.01, 0.3, 0.5, 0.9, 0.999] {
            assert!((erlang_c(1, a) - a).abs() < 1e-12, "{a}");
        }
        assert_eq!(erlang_c(4, 4.0), 1.0);
        assert_eq!(erlang_c(4, 5.0), 1.0);
        assert_eq!(erlang_c(0, 1.0), 1.0);
        assert_eq!(erlang_c(3, 0.0), 0.0);
        // Large c stays finite and in (0, 1), falling as servers are added.
        let big = erlang_c(64, 60.0);
        assert!(big > 0.0 && big < 1.0, "{big}");
        assert!(erlang_c(64, 50.0) < big);
        assert!(erlang_c(500, 480.0).is_finite());
    }

    #[test]
    fn erlang_c_agrees_with_the_birth_death_chain() {
        for (c, lambda, mu, t) in [
            (1, 0.5, 1.0, 0.0),
            (1, 0.8, 1.0, 2.0),
            (2, 1.0, 1.0, 0.5),
            (3, 2.5, 1.0, 1.0),
            (6, 10.0, 2.4, 0.3),
            (8, 7.9, 1.0, 0.1),
            (12, 9.0, 1.1, 0.25),
        ] {
            let (waits, tail) = brute_force(c, lambda, mu, t);
            let a = lambda / mu;
            assert!((erlang_c(c, a) - waits).abs() < 1e-9, "C({c}, {a})");
            let p = prob_wait_exceeds(c, lambda, mu, t);
            assert!(
                (p - tail).abs() < 1e-9,
                "P(W > {t}) c={c} a={a}: {p} vs {tail}"
            );
        }
    }

    #[test]
    fn wait_tail_is_monotone_and_bounded() {
        let (lambda, mu) = (20.0, 2.4);
        assert_eq!(prob_wait_exceeds(8, lambda, mu, 1.0), 1.0, "λ ≥ cμ");
        assert_eq!(prob_wait_exceeds(9, 0.0, mu, 1.0), 0.0);
        let mut prev = f64::INFINITY;
        for i in 0..100 {
            let p = prob_wait_exceeds(9, lambda, mu, f64::from(i) * 0.1);
            assert!(p <= prev && (0.0..=1.0).contains(&p));
            prev = p;
        }
        let mut prev = f64::INFINITY;
        for c in 9..30 {
            let p = prob_wait_exceeds(c, lambda, mu, 0.5);
            assert!(p < prev, "more lanes, less waiting");
            prev = p;
        }
    }

    #[test]
    fn advice_is_the_smallest_sufficient_lane_count() {
        assert_eq!(recommend(0.0, 2.0, 10.0, 0.1, 6), (0, false));
        // 20/min at 2.4/min per lane needs at least 9 lanes to be stable.
        let (c, exceeded) = recommend(20.0, 2.4, 10.0, 0.1, 12);
        assert!(!exceeded && c >= 9);
        assert!(prob_wait_exceeds(c, 20.0, 2.4, 10.0) < 0.1);
        assert!(prob_wait_exceeds(c - 1, 20.0, 2.4, 10.0) >= 0.1);
        assert_eq!(recommend(20.0, 2.4, 10.0, 0.1, 6), (6, true));
        // A short target asks for more lanes than a long one.
        assert!(recommend(20.0, 2.4, 0.1, 0.1, 20).0 > recommend(20.0, 2.4, 30.0, 0.1, 20).0);
    }
}
