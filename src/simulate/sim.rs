//! [`Simulator`]: every checkpoint direction of the registry as a [`Station`], merged
//! into one stream of messages in delivery order. Memory is bounded by the vehicles in
//! the system plus those held back for late delivery: arrivals are generated lazily and
//! a passage waits in a min-heap only until its delivery time is certain to be next.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::SimError;
pub use super::check::SimOptions;
use super::imperfect::{Imperfections, write_malformed};
use super::model::{LaneState, Served, Staffing, Station};
use super::payload::{Fields, Writer, lane_parts};
use super::truth::{Truth, TruthOptions, TruthWindow};
use crate::config::Registry;
use crate::engine::event::{Direction, Reason};
use crate::simulate::traffic::LaneSel;

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A valid event delivered on time.
    Passage,
    /// A valid event delivered late (out of order).
    Late,
    /// A re-sent copy of an earlier valid event (same bytes).
    Duplicate,
    /// A malformed message, rejected by the consumer with this reason.
    Malformed(Reason),
}

/// One Kafka message in delivery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEvent {
    /// `<checkpoint>/<direction>` (a direction stays in one partition).
    pub key: String,
    pub payload: Vec<u8>,
    /// When the sensor delivers it (simulated Unix ms); non-decreasing along the stream.
    pub deliver_at_ms: i64,
    pub kind: EventKind,
}

/// Counts so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    pub arrivals: u64,
    /// Arrivals that found no lane open.
    pub turned_away: u64,
    pub passages: u64,
    pub messages: u64,
    pub late: u64,
    pub duplicates: u64,
    pub malformed: u64,
}

struct LaneOut {
    key: String,
    head: String,
    middle: String,
}

struct Pending {
    deliver_at: i64,
    order: u64,
    served: Served,
    kind: EventKind,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    /// Reversed: the earliest delivery (then the earliest pushed) is the heap's top.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.deliver_at, o.order).cmp(&(self.deliver_at, self.order))
    }
}

/// The traffic of every registered lane as an iterator of messages in delivery order.
pub struct Simulator {
    stations: Vec<Station>,
    /// `(checkpoint, direction)` of each station.
    station_ids: Vec<(String, Direction)>,
    lanes: Vec<LaneOut>,
    heap: BinaryHeap<Pending>,
    order: u64,
    start_ms: i64,
    end_ms: i64,
    imperfections: Imperfections,
    any_imperfection: bool,
    rng: ChaCha8Rng,
    writer: Writer,
    stats: SimStats,
    truth: Option<Truth>,
}

impl Simulator {
    pub fn new(registry: &Registry, opts: SimOptions) -> Result<Simulator, SimError> {
        let traffic = super::traffic::of_registry(registry, None)?;
        super::check::check_options(registry, &traffic, &opts)?;
        let mut stations = Vec::new();
        let mut station_ids = Vec::new();
        let mut lanes = Vec::new();
        for (ci, cp) in registry.checkpoints.iter().enumerate() {
            for (di, direction) in Direction::ALL.into_iter().enumerate() {
                let mut states = Vec::new();
                let mut rank = [0u32; 4];
                for l in cp.lanes.iter().filter(|l| l.direction == direction) {
                    let r = &mut rank[super::check::kind_index(l.kind)];
                    let (head, middle) = lane_parts(&cp.id, direction.as_str(), &l.id);
                    lanes.push(LaneOut {
                        // A checkpoint direction in one partition: its lanes are
                        // analysed as one pool by one instance (README, The event).
                        key: format!("{}/{}", cp.id, direction),
                        head,
                        middle,
                    });
                    let mut st = LaneState::new(lanes.len() as u32 - 1, l.kind, *r, l.open.clone());
                    *r += 1;
                    let incidents = traffic[ci].incidents.iter().chain(
                        opts.incidents
                            .iter()
                            .filter(|i| i.checkpoint == cp.id)
                            .map(|i| &i.spec),
                    );
                    for inc in incidents.filter(|i| i.direction == direction) {
                        if matches!(&inc.lanes, LaneSel::One(id) if *id != l.id) {
                            continue;
                        }
                        st.incidents
                            .push((inc.start_ms, inc.duration_ms, inc.effect));
                    }
                    states.push(st);
                }
                if states.is_empty() {
                    continue;
                }
                let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
                rng.set_stream(1 + (ci * 2 + di) as u64);
                let mut s = Station::new(direction, &traffic[ci], opts.demand, states, rng);
                for o in opts
                    .open_lanes
                    .iter()
                    .filter(|o| o.checkpoint == cp.id && o.direction == direction)
                {
                    s.staffing.push(Staffing {
                        kind: o.kind,
                        count: o.count,
                        window: o.window,
                    });
                }
                s.begin(opts.start_ms, opts.end_ms);
                stations.push(s);
                station_ids.push((cp.id.clone(), direction));
            }
        }
        let imp = opts.imperfections;
        Ok(Simulator {
            stations,
            station_ids,
            lanes,
            heap: BinaryHeap::new(),
            order: 0,
            start_ms: opts.start_ms,
            end_ms: opts.end_ms,
            any_imperfection: imp.duplicates > 0.0 || imp.late > 0.0 || imp.malformed > 0.0,
            imperfections: imp,
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            writer: Writer::default(),
            stats: SimStats::default(),
            truth: None,
        })
    }

    /// Also collect the ground truth per checkpoint direction and window (see
    /// [`super::truth`]); take it with [`Simulator::drain_truth`]. The messages are the
    /// same as without. Call it before taking the first message.
    pub fn with_truth(mut self, opts: TruthOptions) -> Result<Simulator, SimError> {
        if self.stats.arrivals > 0 || self.stats.messages > 0 {
            return Err(SimError::Options(
                "the truth must be requested before the simulation starts".into(),
            ));
        }
        let ids: Vec<(String, Direction, u32)> = self
            .station_ids
            .iter()
            .zip(&self.stations)
            .map(|((c, d), s)| (c.clone(), *d, s.lanes.len() as u32))
            .collect();
        self.truth = Some(Truth::new(opts, &ids, self.start_ms, self.end_ms)?);
        self.advance_truth();
        Ok(self)
    }

    /// Truth windows completed since the last call, sorted by (window start,
    /// checkpoint, direction); all of them once [`Simulator::next_into`] returned
    /// `None`. Empty without [`Simulator::with_truth`].
    pub fn drain_truth(&mut self) -> impl Iterator<Item = TruthWindow> + '_ {
        self.truth.iter_mut().flat_map(|t| t.drain())
    }

    /// Write out the truth windows that no future arrival can change.
    fn advance_truth(&mut self) {
        let Some(truth) = &mut self.truth else {
            return;
        };
        let Some(end) = truth.pending_end() else {
            return;
        };
        // The arrival clock: the earliest next arrival of any station.
        let clock = self
            .stations
            .iter()
            .map(|s| s.next.map_or(i64::MAX, |t| t as i64))
            .min()
            .unwrap_or(i64::MAX);
        if clock >= end {
            truth.complete(&self.stations, clock);
        }
    }

    /// Counts of what has been generated so far.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Start of the simulated range (Unix ms).
    pub fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Expected arrivals of a checkpoint direction in `[from_ms, to_ms)` by its profile
    /// and the demand factor (the integral of the Poisson rate); `None` if unknown.
    pub fn expected_arrivals(
        &self,
        checkpoint: &str,
        direction: Direction,
        from_ms: i64,
        to_ms: i64,
    ) -> Option<f64> {
        let i = self
            .station_ids
            .iter()
            .position(|(c, d)| c == checkpoint && *d == direction)?;
        Some(self.stations[i].expected_arrivals(from_ms, to_ms))
    }

    /// Messages held for later delivery (memory check).
    pub fn pending(&self) -> usize {
        self.heap.len()
    }

    fn push(&mut self, deliver_at: i64, served: Served, kind: EventKind) {
        self.order += 1;
        self.heap.push(Pending {
            deliver_at,
            order: self.order,
            served,
            kind,
        });
    }

    fn arrival(&mut self, si: usize) {
        self.stats.arrivals += 1;
        let arrived_ms = self.stations[si].next.map(|t| t as i64);
        let served = self.stations[si].arrive(self.end_ms);
        if let Some(truth) = &mut self.truth {
            if let Some(at) = arrived_ms {
                truth.arrival(si, at, served.map(|v| (v.inspection_ms, v.departed_ms)));
            }
            if self.stations[si]
                .next
                .is_none_or(|t| truth.pending_end().is_some_and(|e| t as i64 >= e))
            {
                self.advance_truth();
            }
        }
        let Some(v) = served else {
            self.stats.turned_away += 1;
            return;
        };
        self.stats.passages += 1;
        if !self.any_imperfection {
            self.push(v.departed_ms, v, EventKind::Passage);
            return;
        }
        let fate = self.imperfections.fate(&mut self.rng);
        if let Some(reason) = fate.malformed {
            self.stats.malformed += 1;
            self.push(v.departed_ms, v, EventKind::Malformed(reason));
            return;
        }
        let at = v.departed_ms + fate.delay_ms;
        if fate.delay_ms > 0 {
            self.stats.late += 1;
            self.push(at, v, EventKind::Late);
        } else {
            self.push(at, v, EventKind::Passage);
        }
        if let Some(after) = fate.duplicate_after_ms {
            self.stats.duplicates += 1;
            self.push(at + after, v, EventKind::Duplicate);
        }
    }

    /// The next message without allocating: its bytes replace the contents of
    /// `payload`; returns its key, delivery time (simulated Unix ms) and kind.
    pub fn next_into(&mut self, payload: &mut Vec<u8>) -> Option<(&str, i64, EventKind)> {
        let p = loop {
            let mut next: Option<(usize, f64)> = None;
            for (i, s) in self.stations.iter().enumerate() {
                if let Some(t) = s.next
                    && next.is_none_or(|(_, b)| t < b)
                {
                    next = Some((i, t));
                }
            }
            // A future arrival departs after it arrives: whatever is due by then is next.
            if let Some(top) = self.heap.peek()
                && next.is_none_or(|(_, t)| top.deliver_at <= t as i64)
            {
                break self.heap.pop()?;
            }
            let Some((si, _)) = next else {
                self.advance_truth();
                return None;
            };
            self.arrival(si);
        };
        let lane = &self.lanes[p.served.lane as usize];
        let v = p.served;
        let f = Fields {
            head: &lane.head,
            seq: v.seq,
            middle: &lane.middle,
            vehicle_class: v.class.as_str(),
            arrived_ms: Some(v.arrived_ms),
            inspection_ms: Some(v.inspection_ms),
            departed_ms: Some(v.departed_ms),
        };
        payload.clear();
        match p.kind {
            EventKind::Malformed(r) => write_malformed(
                &mut self.writer,
                payload,
                &f,
                r,
                self.imperfections.max_event_bytes,
            ),
            _ => self.writer.write(payload, &f),
        }
        self.stats.messages += 1;
        Some((&lane.key, p.deliver_at, p.kind))
    }
}

impl Iterator for Simulator {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        let mut payload = Vec::with_capacity(256);
        let (key, deliver_at_ms, kind) = self.next_into(&mut payload)?;
        Some(SimEvent {
            key: key.to_string(),
            payload,
            deliver_at_ms,
            kind,
        })
    }
}
