//! The queueing model of one checkpoint direction: Poisson arrivals, a vehicle class per
//! arrival, and one FIFO single-server queue per lane. A vehicle joins the shortest open
//! queue of a suitable lane kind; its inspection starts when it has driven up to the
//! booth and the vehicle before it has left, so passage times emerge from the load.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::profile::{Arrivals, in_daily_window, local_minute};
use crate::config::LaneKind;
use crate::engine::event::{Direction, VehicleClass};
use crate::simulate::traffic::{CLASSES, Effect, Traffic};

/// From the approach detector to the booth of an empty lane.
pub const APPROACH_MS: i64 = 5_000;
/// Pulling forward to the booth after the vehicle ahead has left.
pub const MOVE_UP_MS: i64 = 2_000;

/// Whether a lane of `kind` is meant for `class` (the registry's rule).
pub fn suits(kind: LaneKind, class: VehicleClass) -> bool {
    kind.serves(class)
}

/// A lane of a station with its queue.
#[derive(Debug)]
pub(crate) struct LaneState {
    /// Index of the lane over the whole simulation (keys, event-id prefixes).
    pub global: u32,
    pub kind: LaneKind,
    /// Position among the station's lanes of the same kind (registry order).
    pub rank: u32,
    /// Scheduled open intervals, minutes since local midnight (empty = always).
    pub schedule: Vec<(u32, u32)>,
    /// Daily incidents `(start ms of day, duration ms, effect)`.
    pub incidents: Vec<(i64, i64, Effect)>,
    /// Departure times of the vehicles in the lane (queued or in inspection), FIFO.
    in_system: VecDeque<i64>,
    /// When the booth is free again (the last departure).
    free_at: i64,
    /// Passages so far (the event-id sequence).
    seq: u64,
}

impl LaneState {
    pub fn new(global: u32, kind: LaneKind, rank: u32, schedule: Vec<(u32, u32)>) -> Self {
        LaneState {
            global,
            kind,
            rank,
            schedule,
            incidents: Vec::new(),
            in_system: VecDeque::new(),
            free_at: 0,
            seq: 0,
        }
    }
}

/// `--open-lanes`: exactly `count` lanes of `kind` open (the first in registry order),
/// during a daily window or the whole run.
#[derive(Debug, Clone)]
pub(crate) struct Staffing {
    pub kind: LaneKind,
    pub count: u32,
    pub window: Option<(i64, i64)>,
}

/// One served vehicle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Served {
    pub lane: u32,
    pub seq: u64,
    pub class: VehicleClass,
    pub arrived_ms: i64,
    pub inspection_ms: i64,
    pub departed_ms: i64,
}

/// Lane counts of a station at one instant (see [`Station::lanes_at`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LaneCounts {
    pub open: u32,
    pub closed_by_incident: u32,
    pub slowed_by_incident: u32,
}

/// One checkpoint direction.
#[derive(Debug)]
pub(crate) struct Station {
    arrivals: Arrivals,
    mix_cdf: [f64; 6],
    /// `ln(median ms)` of the inspection time per class.
    service_mu: [f64; 6],
    sigma: f64,
    pub lanes: Vec<LaneState>,
    pub staffing: Vec<Staffing>,
    rng: ChaCha8Rng,
    /// Time of the next arrival (UTC ms), `None` when the range is exhausted.
    pub next: Option<f64>,
}

impl Station {
    pub fn new(
        direction: Direction,
        traffic: &Traffic,
        scale: f64,
        lanes: Vec<LaneState>,
        rng: ChaCha8Rng,
    ) -> Self {
        let mut mix_cdf = [0.0; 6];
        let mut acc = 0.0;
        for (c, p) in mix_cdf.iter_mut().zip(traffic.mix) {
            acc += p;
            *c = acc;
        }
        Station {
            arrivals: Arrivals::new(traffic.demand(direction), scale),
            mix_cdf,
            service_mu: traffic
                .service_s
                .map(|s| (s * 1000.0 * traffic.demand(direction).service_factor).ln()),
            sigma: traffic.service_sigma,
            lanes,
            staffing: Vec::new(),
            rng,
            next: None,
        }
    }

    /// Expected arrivals in `[from, to)` (UTC ms).
    pub fn expected_arrivals(&self, from_ms: i64, to_ms: i64) -> f64 {
        self.arrivals.expected(from_ms, to_ms)
    }

    /// Schedule the first arrival at or after `start_ms`.
    pub fn begin(&mut self, start_ms: i64, end_ms: i64) {
        self.next = self.arrivals.next(start_ms as f64, end_ms, &mut self.rng);
    }

    /// Serve the pending arrival and schedule the next one. `None` when no lane was open
    /// (the vehicle is turned away). Draws the same random numbers whatever the lanes
    /// do, so two runs with one seed see the same vehicles (common random numbers).
    pub fn arrive(&mut self, end_ms: i64) -> Option<Served> {
        let t = self.next?;
        self.next = self.arrivals.next(t, end_ms, &mut self.rng);
        let u: f64 = self.rng.random();
        let z: f64 = StandardNormal.sample(&mut self.rng);
        let ci = self.mix_cdf.iter().position(|&c| u < c).unwrap_or(5);
        let class = CLASSES[ci];
        let arrived = t as i64;
        let lane = self.choose(arrived, class)?;
        let l = &mut self.lanes[lane];
        let start = (arrived + APPROACH_MS).max(l.free_at + MOVE_UP_MS);
        let slow: f64 = l
            .incidents
            .iter()
            .filter_map(|&(s, d, e)| match e {
                Effect::Slow(f) if in_daily_window(start, s, d) => Some(f),
                _ => None,
            })
            .product();
        let service = ((self.service_mu[ci] + self.sigma * z).exp() * slow).max(1.0) as i64;
        let departed = start + service;
        l.free_at = departed;
        l.in_system.push_back(departed);
        l.seq += 1;
        Some(Served {
            lane: l.global,
            seq: l.seq,
            class,
            arrived_ms: arrived,
            inspection_ms: start,
            departed_ms: departed,
        })
    }

    /// The open lane with the shortest queue among those suiting `class` (any open lane
    /// if none suits); ties go to the lane free soonest, then registry order.
    fn choose(&mut self, t: i64, class: VehicleClass) -> Option<usize> {
        let minute = local_minute(t);
        let mut best: Option<(bool, usize, i64, usize)> = None;
        for i in 0..self.lanes.len() {
            if !self.is_open(i, t, minute) {
                continue;
            }
            let l = &mut self.lanes[i];
            while l.in_system.front().is_some_and(|&d| d <= t) {
                l.in_system.pop_front();
            }
            // Lower is better: unsuitable last, then queue length, then free time.
            let key = (!suits(l.kind, class), l.in_system.len(), l.free_at, i);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        best.map(|b| b.3)
    }

    /// Whether lane `i` takes new vehicles at `t`: closed by an incident, else staffed
    /// by the last matching `--open-lanes`, else by its schedule.
    fn is_open(&self, i: usize, t: i64, minute: u32) -> bool {
        let l = &self.lanes[i];
        if l.incidents
            .iter()
            .any(|&(s, d, e)| e == Effect::Close && in_daily_window(t, s, d))
        {
            return false;
        }
        let staffed =
            self.staffing.iter().rev().find(|o| {
                o.kind == l.kind && o.window.is_none_or(|(s, d)| in_daily_window(t, s, d))
            });
        match staffed {
            Some(o) => l.rank < o.count,
            None => {
                l.schedule.is_empty() || l.schedule.iter().any(|&(s, e)| minute >= s && minute < e)
            }
        }
    }

    /// Lanes at `t`: how many take new vehicles (the rule of [`Station::is_open`]), how
    /// many a `close` incident shuts and how many a `slow` incident slows (a lane counts
    /// once however many incidents cover it). Pure: depends only on the configuration.
    pub fn lanes_at(&self, t: i64) -> LaneCounts {
        let minute = local_minute(t);
        let mut c = LaneCounts::default();
        for (i, l) in self.lanes.iter().enumerate() {
            c.open += u32::from(self.is_open(i, t, minute));
            let active = |want: fn(Effect) -> bool| {
                l.incidents
                    .iter()
                    .any(|&(s, d, e)| want(e) && in_daily_window(t, s, d))
            };
            c.closed_by_incident += u32::from(active(|e| e == Effect::Close));
            c.slowed_by_incident += u32::from(active(|e| matches!(e, Effect::Slow(_))));
        }
        c
    }

    /// Vehicles in the station now (bounded memory check in tests).
    #[cfg(test)]
    pub fn in_system(&self) -> usize {
        self.lanes.iter().map(|l| l.in_system.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::traffic::Demand;
    use rand::SeedableRng;

    const T0: i64 = 1_795_968_000_000; // 2026-11-30T00:00:00+08:00

    fn station(lanes: Vec<LaneState>, per_hour: f64, mix: [f64; 6]) -> Station {
        let traffic = Traffic {
            inbound: Demand {
                peak_per_hour: per_hour,
                profile: vec![1.0; 24],
                service_factor: 1.0,
            },
            mix,
            ..Traffic::default()
        };
        Station::new(
            Direction::Inbound,
            &traffic,
            1.0,
            lanes,
            ChaCha8Rng::seed_from_u64(5),
        )
    }

    #[test]
    fn fifo_per_lane_and_kinds_respected() {
        let lanes = vec![
            LaneState::new(0, LaneKind::Car, 0, vec![]),
            LaneState::new(1, LaneKind::Bus, 0, vec![]),
            LaneState::new(2, LaneKind::Truck, 0, vec![]),
        ];
        let mut s = station(lanes, 150.0, [0.7, 0.1, 0.1, 0.05, 0.05, 0.0]);
        let end = T0 + 6 * 3_600_000;
        s.begin(T0, end);
        let mut last = [(0i64, 0u64); 3];
        let mut n = 0;
        while s.next.is_some() {
            let v = s.arrive(end).expect("all lanes open");
            n += 1;
            let lane = s.lanes.iter().position(|l| l.global == v.lane).unwrap();
            assert!(suits(s.lanes[lane].kind, v.class), "{v:?}");
            assert!(
                v.arrived_ms + APPROACH_MS <= v.inspection_ms && v.inspection_ms < v.departed_ms
            );
            let (prev_dep, prev_seq) = last[lane];
            assert!(
                v.inspection_ms >= prev_dep + MOVE_UP_MS,
                "one vehicle at a time per booth"
            );
            assert_eq!(v.seq, prev_seq + 1);
            last[lane] = (v.departed_ms, v.seq);
            assert!(s.in_system() < 2_000, "queues stay bounded at this load");
        }
        assert!(n > 500, "{n}");
    }

    #[test]
    fn closed_lanes_take_no_vehicles_and_unsuited_classes_fall_back() {
        // Lane 0 closes by schedule after 01:00; lane 1 (bus) is then the only one open.
        let lanes = vec![
            LaneState::new(0, LaneKind::Car, 0, vec![(0, 60)]),
            LaneState::new(1, LaneKind::Bus, 0, vec![]),
        ];
        let mut s = station(lanes, 60.0, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let end = T0 + 2 * 3_600_000;
        s.begin(T0, end);
        while s.next.is_some() {
            let v = s.arrive(end).unwrap();
            let expect = if v.arrived_ms < T0 + 3_600_000 { 0 } else { 1 };
            assert_eq!(v.lane, expect, "{v:?}");
        }
    }

    #[test]
    fn staffing_and_close_incidents_override_the_schedule() {
        let lanes = (0..3)
            .map(|i| LaneState::new(i, LaneKind::Car, i, vec![]))
            .collect();
        let mut s = station(lanes, 2000.0, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        s.staffing.push(Staffing {
            kind: LaneKind::Car,
            count: 1,
            window: None,
        });
        s.staffing.push(Staffing {
            kind: LaneKind::Car,
            count: 3,
            window: Some((3_600_000, 3_600_000)),
        });
        s.lanes[0]
            .incidents
            .push((3_600_000 + 1_800_000, 600_000, Effect::Close));
        let end = T0 + 3 * 3_600_000;
        s.begin(T0, end);
        let mut turned_away = 0;
        while s.next.is_some() {
            let Some(v) = s.arrive(end) else {
                turned_away += 1;
                continue;
            };
            let in_window = (T0 + 3_600_000..T0 + 7_200_000).contains(&v.arrived_ms);
            let closed0 = (T0 + 5_400_000..T0 + 6_000_000).contains(&v.arrived_ms);
            if !in_window {
                assert_eq!(
                    v.lane, 0,
                    "only the first lane is staffed outside the window"
                );
            }
            if closed0 {
                assert_ne!(v.lane, 0, "lane 0 is closed by the incident");
            }
        }
        assert_eq!(turned_away, 0);
    }
}
