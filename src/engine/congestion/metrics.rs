//! The congestion cells per checkpoint direction, resolved once (the per-lane ones live
//! with the lane's series in `lanes::stats`), and a typed reading of all of them for the
//! live board and the exporter ([`CongestionFamilies::read`]). Plain cells: `export`
//! names them from the catalogue (`lanewatch_checkpoint_*`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::cells::F64Cell;
use crate::engine::event::Direction;

/// One checkpoint direction's cells (one writer: the congestion analysis).
#[derive(Default)]
pub struct DirCells {
    pub arrival: F64Cell,
    pub service: F64Cell,
    pub open: F64Cell,
    pub lanes: F64Cell,
    pub recommended: F64Cell,
    pub exceeded: F64Cell,
    pub wait_probability: F64Cell,
    pub p95: F64Cell,
    pub los: F64Cell,
    pub congested: F64Cell,
    pub partitions: F64Cell,
    /// Event time (ms) the direction entered the congested state; `i64::MIN` while not
    /// congested. Not exported (a timestamp per episode is for the board, not a series).
    pub congested_since: AtomicI64,
}

/// A handle on one direction's cells.
#[derive(Clone)]
pub struct DirGauges(Arc<DirCells>);

impl std::ops::Deref for DirGauges {
    type Target = DirCells;
    fn deref(&self) -> &DirCells {
        &self.0
    }
}

impl DirCells {
    /// Record the congestion state's start (`None`: not congested).
    pub fn set_congested_since(&self, since_ms: Option<i64>) {
        self.congested_since
            .store(since_ms.unwrap_or(i64::MIN), Ordering::Relaxed);
    }

    /// The start-up state: values every aggregation across instances ignores (0 for
    /// the summed ones, NaN for the maxima).
    pub fn reset(&self) {
        for g in [&self.arrival, &self.open, &self.recommended, &self.exceeded] {
            g.set(0.0);
        }
        for g in [&self.wait_probability, &self.congested, &self.partitions] {
            g.set(0.0);
        }
        for g in [&self.service, &self.p95, &self.los] {
            g.set(f64::NAN);
        }
        self.set_congested_since(None);
    }
}

/// The congestion cells of every direction resolved, in the order resolved.
#[derive(Clone, Default)]
pub struct CongestionFamilies {
    dirs: Arc<Mutex<Vec<DirCell>>>,
}

/// A direction's cells with its checkpoint and direction.
type DirCell = (String, Direction, Arc<DirCells>);

/// The congestion gauges of one checkpoint direction, read at one moment (NaN as the
/// gauge has it: unknown).
#[derive(Debug, Clone)]
pub struct DirReading {
    pub checkpoint: String,
    pub direction: Direction,
    pub arrival_per_minute: f64,
    pub service_per_minute: f64,
    pub open_lanes: f64,
    pub lanes: f64,
    pub recommended_lanes: f64,
    pub capacity_exceeded: bool,
    pub wait_probability: f64,
    pub p95_seconds: f64,
    pub level_of_service: f64,
    pub congested: bool,
    /// Source partitions that fed the direction recently.
    pub partitions: f64,
    pub congested_since_ms: Option<i64>,
}

impl DirReading {
    /// A direction with nothing known yet (the start-up state of its gauges).
    pub fn unknown(checkpoint: &str, direction: Direction) -> DirReading {
        DirReading {
            checkpoint: checkpoint.to_owned(),
            direction,
            arrival_per_minute: 0.0,
            service_per_minute: f64::NAN,
            open_lanes: 0.0,
            lanes: f64::NAN,
            recommended_lanes: 0.0,
            capacity_exceeded: false,
            wait_probability: 0.0,
            p95_seconds: f64::NAN,
            level_of_service: f64::NAN,
            congested: false,
            partitions: 0.0,
            congested_since_ms: None,
        }
    }
}

impl CongestionFamilies {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cells of `checkpoint`/`direction`, at their start-up state.
    pub fn dir(&self, checkpoint: &str, direction: Direction) -> DirGauges {
        let cells = Arc::new(DirCells::default());
        // Unknown until the first window: NaN, not a misleading zero.
        cells.reset();
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).push((
            checkpoint.to_owned(),
            direction,
            cells.clone(),
        ));
        DirGauges(cells)
    }

    /// Call `f` with every direction's cells, in the order resolved.
    pub fn each(&self, mut f: impl FnMut(&str, Direction, &DirCells)) {
        for (checkpoint, direction, cells) in
            self.dirs.lock().unwrap_or_else(|e| e.into_inner()).iter()
        {
            f(checkpoint, *direction, cells);
        }
    }

    /// Every direction's cells as they are now, in the order the directions were
    /// resolved (the registry's first).
    pub fn read(&self) -> Vec<DirReading> {
        let dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        dirs.into_iter()
            .map(|(checkpoint, direction, c)| {
                let since = c.congested_since.load(Ordering::Relaxed);
                DirReading {
                    arrival_per_minute: c.arrival.get(),
                    service_per_minute: c.service.get(),
                    open_lanes: c.open.get(),
                    lanes: c.lanes.get(),
                    recommended_lanes: c.recommended.get(),
                    capacity_exceeded: c.exceeded.get() == 1.0,
                    wait_probability: c.wait_probability.get(),
                    p95_seconds: c.p95.get(),
                    level_of_service: c.los.get(),
                    congested: c.congested.get() == 1.0,
                    partitions: c.partitions.get(),
                    congested_since_ms: (since != i64::MIN).then_some(since),
                    checkpoint,
                    direction,
                }
            })
            .collect()
    }
}
