//! The checkpoint registry as the engine sees it: which checkpoints, directions and
//! lanes exist, what each lane serves, its open hours and the checkpoint's time zone.
//! `config` reads it from TOML (`config/checkpoints.toml`); the type parameter `T` is
//! what the file declares beyond the lanes (the simulator's traffic tables), carried for
//! the simulator and never read here.

use serde::Deserialize;

use crate::engine::event::Direction;

/// What a lane serves. The simulator sends vehicles to lanes of a suitable kind; the
/// live service only uses it for labels-free bookkeeping (lanes are keyed by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneKind {
    /// Cars, vans and motorcycles.
    Car,
    /// Buses and commuter coaches (passengers are checked: minutes per vehicle).
    Bus,
    /// Trucks and other heavy vehicles.
    Truck,
    /// Any vehicle.
    Mixed,
}

impl LaneKind {
    /// Whether this kind of lane is meant for `class` (vehicles of a class no lane of
    /// the direction is meant for take any lane).
    pub fn serves(self, class: crate::engine::event::VehicleClass) -> bool {
        use crate::engine::event::VehicleClass as V;
        match self {
            LaneKind::Mixed => true,
            LaneKind::Car => matches!(class, V::Car | V::Van | V::Motorcycle),
            LaneKind::Bus => class == V::Bus,
            LaneKind::Truck => matches!(class, V::Truck | V::Other),
        }
    }
}

/// The 99.9th percentile of a log-normal inspection time relative to its mean, at the
/// spread inspection times show (σ ≈ 0.45): `exp(3.09σ − σ²/2)`.
pub const INSPECTION_P999_OVER_MEAN: f64 = 3.6;

impl<T> Checkpoint<T> {
    /// Lanes of this lane's kind in its direction (itself included): several share
    /// their vehicles (drivers take the shortest queue), so each sees a steadier flow
    /// than a lane alone of its kind, which gets its class's arrivals as they come.
    pub fn lanes_of_kind(&self, lane: &LaneDef) -> usize {
        self.lanes
            .iter()
            .filter(|l| l.direction == lane.direction && l.kind == lane.kind)
            .count()
    }

    /// The classes whose vehicles may use this lane, as a bit set over
    /// `VehicleClass::ALL` (bit i: `ALL[i]`): those its kind is meant for, and those
    /// no lane of its direction is meant for (they take any lane).
    pub fn lane_uses(&self, lane: &LaneDef) -> u8 {
        let kinds = || {
            self.lanes
                .iter()
                .filter(|l| l.direction == lane.direction)
                .map(|l| l.kind)
        };
        crate::engine::event::VehicleClass::ALL
            .iter()
            .enumerate()
            .filter(|&(_, &c)| lane.kind.serves(c) || !kinds().any(|k| k.serves(c)))
            .fold(0, |m, (i, _)| m | 1 << i)
    }

    /// The other lanes of this lane's direction that take vehicles it takes: drivers
    /// take the shortest queue, so while this lane is open and free no more than these
    /// (each free longer) take a vehicle before it does.
    pub fn lane_neighbours(&self, lane: &LaneDef) -> usize {
        let uses = self.lane_uses(lane);
        self.lanes
            .iter()
            .filter(|l| l.direction == lane.direction && l.id != lane.id)
            .filter(|l| {
                crate::engine::event::VehicleClass::ALL
                    .iter()
                    .enumerate()
                    .any(|(i, &c)| uses & 1 << i != 0 && l.kind.serves(c))
            })
            .count()
    }

    /// The longest inspection a vehicle that uses this lane plausibly takes (seconds):
    /// over the classes of [`Checkpoint::lane_uses`], the registry's mean ×
    /// [`INSPECTION_P999_OVER_MEAN`]. A lane silent for less may just be inspecting
    /// one vehicle.
    pub fn lane_inspection_max_s(&self, lane: &LaneDef) -> f64 {
        let uses = self.lane_uses(lane);
        (0..self.inspection_s.len())
            .filter(|i| uses & 1 << i != 0)
            .map(|i| self.inspection_s[i] * INSPECTION_P999_OVER_MEAN)
            .fold(0.0, f64::max)
    }
}

/// Default median inspection time per class in seconds (`VehicleClass::ALL` order): an
/// ID check for a car, every passenger for a coach, papers and load for a truck.
pub const DEFAULT_SERVICE_S: [f64; 6] = [25.0, 150.0, 90.0, 30.0, 15.0, 60.0];

/// Default spread (σ of the log) of log-normal inspection times.
pub const DEFAULT_SERVICE_SIGMA: f64 = 0.45;

/// A validated registry.
#[derive(Debug, Clone)]
pub struct Registry<T = ()> {
    pub checkpoints: Vec<Checkpoint<T>>,
}

#[derive(Debug, Clone)]
pub struct Checkpoint<T = ()> {
    pub id: String,
    pub name: String,
    pub lanes: Vec<LaneDef>,
    /// What the registry declares beyond the lanes (the simulator's traffic tables).
    pub traffic: T,
    /// Mean inspection seconds per vehicle class (in `VehicleClass::ALL` order), used
    /// by the congestion advice only when events carry no inspection start.
    pub inspection_s: [f64; 6],
    /// The zone of its `open` hours and of the times people read about it.
    pub zone: crate::engine::time::Zone,
}

/// Mean inspection seconds per class when the registry names none: the means of the
/// simulator's default log-normal inspection times.
pub fn default_inspection_s() -> [f64; 6] {
    let f = (DEFAULT_SERVICE_SIGMA.powi(2) / 2.0).exp();
    DEFAULT_SERVICE_S.map(|s| s * f)
}

#[derive(Debug, Clone)]
pub struct LaneDef {
    pub direction: Direction,
    pub id: String,
    pub kind: LaneKind,
    /// Open intervals in minutes since local midnight, `[start, end)`; empty = always open.
    pub open: Vec<(u32, u32)>,
}

impl<T> Checkpoint<T> {
    /// The lane's open hours in the checkpoint's zone.
    pub fn schedule(&self, lane: &LaneDef) -> crate::engine::time::Schedule {
        crate::engine::time::Schedule {
            hours: lane.open.clone(),
            zone: self.zone.clone(),
        }
    }
}

impl LaneDef {
    /// Whether the lane is scheduled open at `minute` (minutes since local midnight).
    pub fn is_open_at(&self, minute: u32) -> bool {
        self.open.is_empty() || self.open.iter().any(|&(s, e)| minute >= s && minute < e)
    }
}

impl<T> Registry<T> {
    /// Number of registered lanes over all checkpoints.
    pub fn lane_count(&self) -> usize {
        self.checkpoints.iter().map(|c| c.lanes.len()).sum()
    }

    /// Every registered lane as `(checkpoint, direction, lane)`.
    pub fn lanes(&self) -> impl Iterator<Item = (&Checkpoint<T>, &LaneDef)> {
        self.checkpoints
            .iter()
            .flat_map(|c| c.lanes.iter().map(move |l| (c, l)))
    }

    pub fn checkpoint(&self, id: &str) -> Option<&Checkpoint<T>> {
        self.checkpoints.iter().find(|c| c.id == id)
    }
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            checkpoints: Vec::new(),
        }
    }
}

impl<T> Registry<T> {
    /// The same registry without what it declares beyond the lanes.
    pub fn lanes_only(&self) -> Registry {
        Registry {
            checkpoints: self
                .checkpoints
                .iter()
                .map(|c| Checkpoint {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    lanes: c.lanes.clone(),
                    traffic: (),
                    inspection_s: c.inspection_s,
                    zone: c.zone.clone(),
                })
                .collect(),
        }
    }
}
