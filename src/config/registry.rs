//! The checkpoint registry (`config/checkpoints.toml`): which checkpoints, directions
//! and lanes exist, what each lane serves, and the simulator's traffic settings.

use std::collections::HashSet;

use serde::Deserialize;

use super::Problems;
use super::traffic::{RawTraffic, Traffic};
use crate::event::{Direction, valid_checkpoint, valid_lane};

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegistry {
    #[serde(default)]
    pub checkpoint: Vec<RawCheckpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheckpoint {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub lane: Vec<RawLaneGroup>,
    #[serde(default)]
    pub traffic: Option<RawTraffic>,
    /// The IANA time zone of the checkpoint's clocks: its `open` hours, and every time
    /// a person reads about it (default `Asia/Shanghai`).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Mean inspection time per vehicle class, for the congestion advice when events
    /// carry no `inspection_started_at`, e.g. `{ car = "28s", bus = "2m45s" }`.
    #[serde(default)]
    pub inspection: std::collections::BTreeMap<String, humantime_serde::Serde<std::time::Duration>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLaneGroup {
    pub direction: String,
    pub ids: Vec<String>,
    #[serde(default = "default_kind")]
    pub kind: LaneKind,
    /// Local hours (the checkpoint's `time_zone`) during which the lanes are open, e.g. `["06:30-09:30"]`;
    /// empty means always open.
    #[serde(default)]
    pub open: Vec<String>,
}

fn default_kind() -> LaneKind {
    LaneKind::Mixed
}

impl LaneKind {
    /// Whether this kind of lane is meant for `class` (vehicles of a class no lane of
    /// the direction is meant for take any lane).
    pub fn serves(self, class: crate::event::VehicleClass) -> bool {
        use crate::event::VehicleClass as V;
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

impl Checkpoint {
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
        crate::event::VehicleClass::ALL
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
                crate::event::VehicleClass::ALL
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

/// A validated registry.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub id: String,
    pub name: String,
    pub lanes: Vec<LaneDef>,
    pub traffic: Traffic,
    /// Mean inspection seconds per vehicle class (in `VehicleClass::ALL` order), used
    /// by the congestion advice only when events carry no inspection start.
    pub inspection_s: [f64; 6],
    /// The zone of its `open` hours and of the times people read about it.
    pub zone: crate::time::Zone,
}

/// Mean inspection seconds per class when the registry names none: the means of the
/// simulator's default log-normal inspection times.
pub fn default_inspection_s() -> [f64; 6] {
    let f = (super::traffic::DEFAULT_SERVICE_SIGMA.powi(2) / 2.0).exp();
    super::traffic::DEFAULT_SERVICE_S.map(|s| s * f)
}

#[derive(Debug, Clone)]
pub struct LaneDef {
    pub direction: Direction,
    pub id: String,
    pub kind: LaneKind,
    /// Open intervals in minutes since local midnight, `[start, end)`; empty = always open.
    pub open: Vec<(u32, u32)>,
}

impl Checkpoint {
    /// The lane's open hours in the checkpoint's zone.
    pub fn schedule(&self, lane: &LaneDef) -> crate::time::Schedule {
        crate::time::Schedule {
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

impl Registry {
    /// Number of registered lanes over all checkpoints.
    pub fn lane_count(&self) -> usize {
        self.checkpoints.iter().map(|c| c.lanes.len()).sum()
    }

    /// Every registered lane as `(checkpoint, direction, lane)`.
    pub fn lanes(&self) -> impl Iterator<Item = (&Checkpoint, &LaneDef)> {
        self.checkpoints
            .iter()
            .flat_map(|c| c.lanes.iter().map(move |l| (c, l)))
    }

    pub fn checkpoint(&self, id: &str) -> Option<&Checkpoint> {
        self.checkpoints.iter().find(|c| c.id == id)
    }
}

pub(crate) fn validate(raw: RawRegistry, p: &mut Problems) -> Registry {
    let mut seen_cp = HashSet::new();
    let mut checkpoints = Vec::new();
    for (i, rc) in raw.checkpoint.into_iter().enumerate() {
        let at = format!("checkpoint[{i}]");
        if !valid_checkpoint(&rc.id) {
            p.push(
                format!("{at}.id"),
                format!("{:?} is not a checkpoint id: use 1-32 of [a-z0-9_-]", rc.id),
            );
        }
        if !seen_cp.insert(rc.id.clone()) {
            p.push(
                format!("{at}.id"),
                format!("checkpoint {:?} is listed twice: merge the entries", rc.id),
            );
        }
        let mut lanes = Vec::new();
        let mut seen_lane = HashSet::new();
        for (j, g) in rc.lane.into_iter().enumerate() {
            let gat = format!("{at}.lane[{j}]");
            let direction = match g.direction.parse::<Direction>() {
                Ok(d) => d,
                Err(e) => {
                    p.push(format!("{gat}.direction"), e.to_string());
                    continue;
                }
            };
            if g.ids.is_empty() {
                p.push(format!("{gat}.ids"), "no lane ids: list at least one");
            }
            let mut open = Vec::new();
            for (k, s) in g.open.iter().enumerate() {
                match parse_hours(s) {
                    Some(iv) => open.push(iv),
                    None => p.push(
                        format!("{gat}.open[{k}]"),
                        format!("{s:?} is not an interval: write \"HH:MM-HH:MM\" (local time, start before end)"),
                    ),
                }
            }
            for (k, id) in g.ids.into_iter().enumerate() {
                if !valid_lane(&id) {
                    p.push(
                        format!("{gat}.ids[{k}]"),
                        format!("{id:?} is not a lane id: use 1-16 of [A-Za-z0-9_-]"),
                    );
                }
                if !seen_lane.insert((direction, id.clone())) {
                    p.push(
                        format!("{gat}.ids[{k}]"),
                        format!(
                            "lane {id:?} ({direction}) is listed twice in checkpoint {:?}",
                            rc.id
                        ),
                    );
                }
                lanes.push(LaneDef {
                    direction,
                    id,
                    kind: g.kind,
                    open: open.clone(),
                });
            }
        }
        let traffic = super::traffic::validate(rc.traffic, &format!("{at}.traffic"), p);
        let mut inspection_s = default_inspection_s();
        for (class, d) in &rc.inspection {
            match crate::event::VehicleClass::ALL
                .iter()
                .position(|c| c.as_str() == class)
            {
                Some(i) if d.as_secs_f64() > 0.0 => inspection_s[i] = d.as_secs_f64(),
                Some(_) => p.push(
                    format!("{at}.inspection.{class}"),
                    "must be longer than zero, e.g. \"30s\"",
                ),
                None => p.push(
                    format!("{at}.inspection.{class}"),
                    "is not a vehicle class: use car, bus, truck, van, motorcycle or other",
                ),
            }
        }
        let zone = match rc.time_zone.as_deref().map(crate::time::zone) {
            None => crate::time::default_zone(),
            Some(Ok(z)) => z,
            Some(Err(e)) => {
                p.push(format!("{at}.time_zone"), e);
                crate::time::default_zone()
            }
        };
        checkpoints.push(Checkpoint {
            name: rc.name.unwrap_or_else(|| rc.id.clone()),
            id: rc.id,
            lanes,
            traffic,
            inspection_s,
            zone,
        });
    }
    Registry { checkpoints }
}

/// `"HH:MM-HH:MM"` → minutes since midnight, start < end (end may be `24:00`).
fn parse_hours(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let hm = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    };
    let (a, b) = (hm(a)?, hm(b)?);
    (a < b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_parse_and_reject() {
        assert_eq!(parse_hours("06:30-09:30"), Some((390, 570)));
        assert_eq!(parse_hours("00:00-24:00"), Some((0, 1440)));
        assert_eq!(parse_hours("09:30-06:30"), None);
        assert_eq!(parse_hours("25:00-26:00"), None);
        assert_eq!(parse_hours("0630-0930"), None);
    }

    fn registry(text: &str) -> (Registry, Vec<(String, String)>) {
        let raw: RawRegistry = toml::from_str(text).unwrap();
        let mut p = Problems {
            file: None,
            list: Vec::new(),
        };
        let r = validate(raw, &mut p);
        (r, p.list)
    }

    #[test]
    fn time_zone_defaults_to_beijing_and_names_the_field_when_unknown() {
        let (r, problems) = registry("[[checkpoint]]\nid = \"a\"\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            crate::time::zone_name(&r.checkpoints[0].zone),
            "Asia/Shanghai"
        );
        let (r, problems) = registry("[[checkpoint]]\nid = \"a\"\ntime_zone = \"Europe/Berlin\"\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            crate::time::zone_name(&r.checkpoints[0].zone),
            "Europe/Berlin"
        );
        let (_, problems) = registry("[[checkpoint]]\nid = \"a\"\ntime_zone = \"Beijing\"\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "checkpoint[0].time_zone");
        assert!(problems[0].1.contains("Asia/Shanghai"), "{problems:?}");
    }
}
