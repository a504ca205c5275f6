//! The pipeline shared by every driver (live Kafka, replay from Kafka or a file, the
//! demo): parse + validate → de-duplicate → resolve the lane → record. It owns the
//! pipeline counters; it does not know which source fed it.

use std::sync::Arc;

use crate::engine::cells::{Counter, F64Cell};
use crate::engine::congestion::CheckpointWindow;
use crate::engine::congestion::Congestion;
use crate::engine::dedup::Dedup;
use crate::engine::event::EventLimits;
use crate::engine::event::{self, Event, Reason, Rejection};
use crate::engine::lanes::{ClosedWindow, LaneSeries, Lanes, Resolve};
use crate::engine::settings::Settings;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded on a lane; `late` when older than the checkpoint's watermark.
    Accepted { lane: u32, late: bool },
    /// A repeated `event_id` within the de-duplication window.
    Duplicate,
    /// A valid event of an unregistered lane over the cardinality cap.
    Overflow,
    /// Out of the observer's scope (replay range).
    OutOfScope,
    /// Invalid: to be dead-lettered.
    Rejected(Rejection),
}

/// The pipeline's counters: plain cells, shared with the exporter (which names them
/// from the catalogue: `lanewatch_events_*`, `lanewatch_lanes_dynamic`, …).
#[derive(Clone, Default)]
pub struct PipelineCounters(Arc<Counters>);

impl std::ops::Deref for PipelineCounters {
    type Target = Counters;
    fn deref(&self) -> &Counters {
        &self.0
    }
}

#[derive(Default)]
pub struct Counters {
    pub received: Counter,
    /// Per [`Reason`], in `Reason::ALL` order.
    pub rejected: [Counter; Reason::ALL.len()],
    pub duplicates: Counter,
    pub late: Counter,
    pub overflow: Counter,
    pub dynamic_lanes: F64Cell,
    /// Departure of the newest accepted event, Unix seconds (0 before the first).
    pub newest_event: F64Cell,
}

impl PipelineCounters {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Parse → de-duplicate → lane → record.
pub struct Pipeline<O: Observer = ()> {
    limits: EventLimits,
    dedup: Dedup,
    pub lanes: Lanes,
    pub counters: PipelineCounters,
    pub congestion: Congestion,
    idle_timeout_ms: i64,
    pub observer: O,
    newest_event_ms: i64,
}

/// Fans closed windows out to the congestion analysis and the pipeline's observer, and
/// the analyses to the observer.
struct Fanout<'a, O> {
    congestion: &'a mut Congestion,
    observer: &'a mut O,
}

/// What a pipeline reports as it goes: the lanes' events and windows, and the
/// congestion analysis of each checkpoint direction's window.
pub trait Observer: crate::engine::lanes::Observer {
    /// The congestion analysis of a checkpoint direction's window.
    fn checkpoint_window(&mut self, _window: &CheckpointWindow) {}
}

impl Observer for () {}

impl<O: Observer> crate::engine::lanes::Observer for Fanout<'_, O> {
    fn window_closed(&mut self, lane: u32, w: &ClosedWindow<'_>) {
        self.congestion.window_closed(lane, w);
        self.observer.window_closed(lane, w);
    }
    fn swept(&mut self, checkpoint: u32, watermark_ms: i64) {
        for cw in self.congestion.swept(checkpoint, watermark_ms) {
            self.observer.checkpoint_window(cw);
        }
        self.observer.swept(checkpoint, watermark_ms);
    }
    fn passed_over(&mut self, lane: u32, since_ms: Option<i64>, at_ms: i64) {
        self.observer.passed_over(lane, since_ms, at_ms);
    }
}

impl Pipeline<()> {
    /// A pipeline on `settings` (a `&Config` converts into them).
    pub fn new(settings: impl Into<Settings>) -> Self {
        Pipeline::with_observer(settings, ())
    }
}

impl<O: Observer> Pipeline<O> {
    pub fn with_observer(settings: impl Into<Settings>, observer: O) -> Self {
        let config = &settings.into();
        let series = LaneSeries::new(&config.buckets, &config.windows);
        let lanes = Lanes::new(config, series);
        let congestion = Congestion::new(
            &config.congestion,
            &config.registry,
            &lanes,
            config.windows.sizes_ms[config
                .congestion
                .window_idx
                .min(config.windows.sizes_ms.len() - 1)],
        );
        Pipeline {
            limits: config.events.clone(),
            dedup: Dedup::new(config.events.dedup_capacity),
            lanes,
            counters: PipelineCounters::new(),
            congestion,
            idle_timeout_ms: config.windows.idle_timeout_ms,
            observer,
            newest_event_ms: i64::MIN,
        }
    }

    /// The lanes' series, for `/metrics`.
    pub fn lane_series(&self) -> LaneSeries {
        self.lanes.series().clone()
    }

    /// Apply one message value of a single-split source (a file, a test). `now_ms` is
    /// the wall clock in live mode, `None` in replay (no clock-skew check).
    pub fn apply(&mut self, bytes: &[u8], now_ms: Option<i64>) -> Outcome {
        self.apply_from(bytes, 0, now_ms)
    }

    /// The source's split `split` (a Kafka partition) has messages waiting, or not:
    /// a pending split holds every checkpoint's watermark at its own event time
    /// (`lanes::clock`).
    pub fn set_split_pending(&mut self, split: u32, pending: bool) {
        let mut fanout = Fanout {
            congestion: &mut self.congestion,
            observer: &mut self.observer,
        };
        self.lanes.set_split_pending(split, pending, &mut fanout);
    }

    /// The event time of source split `split` as the watermark reads it: its newest
    /// departure, never later than the wall clock in live mode (`i64::MIN` before its
    /// first event).
    pub fn split_reference(&self, split: u32) -> i64 {
        self.lanes.clock.split_reference(split)
    }

    /// The source's split `split` went to another consumer (a rebalance): it holds no
    /// window open, and what only it fed stops being exported here.
    pub fn revoke_split(&mut self, split: u32) {
        self.lanes.revoke_split(split);
        self.congestion.revoke_split(split);
    }

    /// Apply one message value read from source split `split` (a Kafka partition).
    pub fn apply_from(&mut self, bytes: &[u8], split: u32, now_ms: Option<i64>) -> Outcome {
        self.counters.received.inc();
        let ev = match event::parse(bytes, &self.limits, now_ms) {
            Ok(ev) => ev,
            Err(r) => {
                self.counters.rejected[r.reason.index()].inc();
                return Outcome::Rejected(r);
            }
        };
        if !self.observer.in_scope(&ev) {
            return Outcome::OutOfScope;
        }
        if !self.dedup.insert(&ev.event_id) {
            self.counters.duplicates.inc();
            return Outcome::Duplicate;
        }
        self.apply_unique(&ev, split, now_ms)
    }

    /// The rest of [`Pipeline::apply_from`] for an event already parsed, in scope and
    /// de-duplicated by a reader stage on another thread (`replay::staged`), which
    /// hands its counts over with [`Pipeline::count_read`].
    pub fn apply_unique(&mut self, ev: &Event<'_>, split: u32, now_ms: Option<i64>) -> Outcome {
        let lane = match self.lanes.resolve(&ev.checkpoint, ev.direction, &ev.lane) {
            Resolve::Lane(id) => id,
            Resolve::Overflow => {
                self.counters.overflow.inc();
                return Outcome::Overflow;
            }
        };
        let mut fanout = Fanout {
            congestion: &mut self.congestion,
            observer: &mut self.observer,
        };
        let late = self.lanes.record(lane, ev, split, now_ms, &mut fanout);
        let checkpoint = self.lanes.lanes[lane as usize].checkpoint;
        self.congestion.observe(lane, checkpoint, split, ev);
        if late {
            self.counters.late.inc();
        }
        if ev.departed_ms > self.newest_event_ms {
            self.newest_event_ms = ev.departed_ms;
            self.counters
                .newest_event
                .set(ev.departed_ms as f64 / 1000.0);
        }
        self.counters
            .dynamic_lanes
            .set(self.lanes.dynamic_count() as f64);
        self.observer.accepted(lane, ev, late);
        Outcome::Accepted { lane, late }
    }

    /// What a reader stage (see [`Pipeline::apply_unique`]) counted: messages received,
    /// rejected per [`Reason`] (in `Reason::ALL` order) and duplicates.
    pub fn count_read(&self, received: u64, rejected: &[u64], duplicates: u64) {
        self.counters.received.add(received);
        for (c, &n) in self.counters.rejected.iter().zip(rejected) {
            c.add(n);
        }
        self.counters.duplicates.add(duplicates);
    }

    /// The event limits (a reader stage parses with them).
    pub fn limits(&self) -> &EventLimits {
        &self.limits
    }

    /// Swap the de-duplication state (a reader stage takes it for the run and gives
    /// it back).
    pub fn swap_dedup(&mut self, dedup: Dedup) -> Dedup {
        std::mem::replace(&mut self.dedup, dedup)
    }

    /// `windows.idle_timeout` (ms): silence after which a checkpoint or a pending
    /// source split stops holding windows open.
    pub fn idle_timeout_ms(&self) -> i64 {
        self.idle_timeout_ms
    }

    /// Event time of the newest accepted event (`None` before the first).
    pub fn newest_event_ms(&self) -> Option<i64> {
        (self.newest_event_ms != i64::MIN).then_some(self.newest_event_ms)
    }

    /// Live mode, when the source has nothing waiting: let silent checkpoints' windows
    /// close (see `Lanes::advance_idle`).
    pub fn tick(&mut self, now_ms: i64) {
        let mut fanout = Fanout {
            congestion: &mut self.congestion,
            observer: &mut self.observer,
        };
        self.lanes
            .advance_idle(now_ms, self.idle_timeout_ms, &mut fanout);
    }

    /// Live mode, about once a second: remove the lanes not in the registry that have
    /// been silent for `lanes.dynamic_lane_expiry` (see `Lanes::expire_dynamic`).
    pub fn expire_dynamic(&mut self, now_ms: i64) {
        if self.lanes.expire_dynamic(now_ms) > 0 {
            self.counters
                .dynamic_lanes
                .set(self.lanes.dynamic_count() as f64);
        }
    }

    /// Close every open window (end of a replay).
    pub fn flush(&mut self) {
        let mut fanout = Fanout {
            congestion: &mut self.congestion,
            observer: &mut self.observer,
        };
        self.lanes.flush(&mut fanout);
        for cw in self.congestion.flush() {
            self.observer.checkpoint_window(cw);
        }
    }
}
