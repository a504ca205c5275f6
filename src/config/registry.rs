//! Reading the checkpoint registry (`config/checkpoints.toml`): its raw TOML form and
//! its validation into the engine's [`crate::engine::registry::Registry`], with the simulator's
//! traffic tables as the registry's extra data.

use std::collections::HashSet;

use serde::Deserialize;

use super::Problems;
use crate::engine::event::{Direction, valid_checkpoint, valid_lane};
pub use crate::engine::registry::{
    INSPECTION_P999_OVER_MEAN, LaneDef, LaneKind, default_inspection_s,
};

/// A checkpoint's `[checkpoint.traffic]` table as written (`None`: absent): settings of
/// the simulator's traffic model, which validates them (`simulate::traffic`).
pub type TrafficTable = Option<toml::Table>;
/// The registry as the configuration reads it: lanes, and each checkpoint's traffic
/// table for the simulator.
pub type Registry = crate::engine::registry::Registry<TrafficTable>;
/// One checkpoint of it.
pub type Checkpoint = crate::engine::registry::Checkpoint<TrafficTable>;

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
    pub traffic: Option<toml::Table>,
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
        let mut inspection_s = default_inspection_s();
        for (class, d) in &rc.inspection {
            match crate::engine::event::VehicleClass::ALL
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
        let zone = match rc.time_zone.as_deref().map(crate::engine::time::zone) {
            None => crate::engine::time::default_zone(),
            Some(Ok(z)) => z,
            Some(Err(e)) => {
                p.push(format!("{at}.time_zone"), e);
                crate::engine::time::default_zone()
            }
        };
        checkpoints.push(Checkpoint {
            name: rc.name.unwrap_or_else(|| rc.id.clone()),
            id: rc.id,
            lanes,
            traffic: rc.traffic,
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
            crate::engine::time::zone_name(&r.checkpoints[0].zone),
            "Asia/Shanghai"
        );
        let (r, problems) = registry("[[checkpoint]]\nid = \"a\"\ntime_zone = \"Europe/Berlin\"\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            crate::engine::time::zone_name(&r.checkpoints[0].zone),
            "Europe/Berlin"
        );
        let (_, problems) = registry("[[checkpoint]]\nid = \"a\"\ntime_zone = \"Beijing\"\n");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "checkpoint[0].time_zone");
        assert!(problems[0].1.contains("Asia/Shanghai"), "{problems:?}");
    }
}
