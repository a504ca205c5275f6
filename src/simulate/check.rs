//! The simulation options ([`SimOptions`]) and their validation against the registry: ranges, fractions, and the
//! checkpoints, directions and lanes that incidents and staffing overrides name. Each
//! error says what exists, so the user can correct the flag.

use super::error::SimError;
use super::imperfect::Imperfections;
use crate::config::LaneKind;
use crate::config::Registry;
use crate::engine::event::Direction;
use crate::simulate::traffic::LaneSel;
use crate::simulate::traffic::{IncidentSpec, Traffic};

/// An incident at one checkpoint (from `--incident` or built by a caller).
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub checkpoint: String,
    pub spec: IncidentSpec,
    /// Where it came from, for error messages (e.g. `--incident "baimiao/…"`).
    pub origin: String,
}

/// Exactly `count` lanes of `kind` open (the first in registry order), daily during
/// `window` (`(start ms of local day, duration ms)`) or for the whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLanes {
    pub checkpoint: String,
    pub direction: Direction,
    pub kind: LaneKind,
    pub count: u32,
    pub window: Option<(i64, i64)>,
    /// Where it came from, for error messages.
    pub origin: String,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Same seed and options → byte-identical output.
    pub seed: u64,
    /// Arrivals in `[start_ms, end_ms)` (Unix ms); vehicles queued at the end are served.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Multiplies every checkpoint's demand (1.0 = as configured).
    pub demand: f64,
    /// Incidents in addition to those of the registry's traffic tables.
    pub incidents: Vec<Incident>,
    /// Lane staffing overrides; a later entry wins over an earlier one.
    pub open_lanes: Vec<OpenLanes>,
    pub imperfections: Imperfections,
}

impl SimOptions {
    /// Defaults (seed 1, configured demand, no incidents, no imperfections) for a range.
    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        SimOptions {
            seed: 1,
            start_ms,
            end_ms,
            demand: 1.0,
            incidents: Vec::new(),
            open_lanes: Vec::new(),
            imperfections: Imperfections::default(),
        }
    }
}

/// Unix ms of 1970-01-01 .. 8000-01-01: RFC 3339 years stay four digits even a year on.
const MAX_MS: i64 = 190_288_396_800_000;

/// The registry's spelling of a lane kind.
pub fn kind_name(k: LaneKind) -> &'static str {
    ["car", "bus", "truck", "mixed"][kind_index(k)]
}

pub(crate) fn kind_index(k: LaneKind) -> usize {
    match k {
        LaneKind::Car => 0,
        LaneKind::Bus => 1,
        LaneKind::Truck => 2,
        LaneKind::Mixed => 3,
    }
}

pub(crate) fn check_options(
    registry: &Registry,
    traffic: &[Traffic],
    o: &SimOptions,
) -> Result<(), SimError> {
    let bad = |m: String| Err(SimError::Options(m));
    if registry.lane_count() == 0 {
        return bad("the registry has no lanes: list [[checkpoint.lane]] groups in it".into());
    }
    // The simulated day (profiles, `open` hours, incidents, the events' `+08:00`) runs
    // on Beijing time; a checkpoint on another clock would be simulated wrongly.
    if let Some(cp) = registry.checkpoints.iter().find(|c| {
        c.zone.to_fixed_offset().ok()
            != Some(jiff::tz::offset(crate::engine::time::DEFAULT_OFFSET_HOURS))
            && crate::engine::time::zone_name(&c.zone) != crate::engine::time::DEFAULT_ZONE
    }) {
        return bad(format!(
            "checkpoint {:?} has time_zone {:?}: the simulator models Beijing time (UTC+8) only; simulate it with time_zone = \"Asia/Shanghai\" (or without the key)",
            cp.id,
            crate::engine::time::zone_name(&cp.zone)
        ));
    }
    if !(0..MAX_MS).contains(&o.start_ms) || !(0..=MAX_MS).contains(&o.end_ms) {
        return bad(
            "the simulated range must lie between 1970 and 8000: check --start and --end".into(),
        );
    }
    if o.start_ms >= o.end_ms {
        return bad(
            "the simulated range is empty: --end must be after --start (or give a --duration > 0)"
                .into(),
        );
    }
    if !(o.demand.is_finite() && o.demand >= 0.0 && o.demand <= 1000.0) {
        return bad(format!(
            "--demand {} is out of range: give a factor between 0 and 1000, e.g. 1.5",
            o.demand
        ));
    }
    let i = &o.imperfections;
    for (flag, f) in [
        ("--duplicates", i.duplicates),
        ("--late", i.late),
        ("--malformed", i.malformed),
    ] {
        if !(0.0..=1.0).contains(&f) {
            return bad(format!(
                "{flag} {f} is not a fraction: give a value between 0 and 1, e.g. 0.01"
            ));
        }
    }
    if i.late > 0.0 && i.late_by_ms < 1 {
        return bad("--late-by must be positive when --late is given, e.g. 5m".into());
    }
    if i.malformed > 0.0 && i.malformed_reasons.is_empty() {
        return bad(
            "--malformed-reasons is empty: name at least one reason, e.g. invalid_json".into(),
        );
    }
    let known = || {
        registry
            .checkpoints
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lanes_of = |cp: &crate::config::Checkpoint, d: Direction| {
        cp.lanes
            .iter()
            .filter(|l| l.direction == d)
            .map(|l| l.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for inc in &o.incidents {
        let spec_err = |message: String| SimError::Spec {
            origin: inc.origin.clone(),
            message,
        };
        let cp = registry.checkpoint(&inc.checkpoint).ok_or_else(|| {
            spec_err(format!(
                "unknown checkpoint {:?}: known are {}",
                inc.checkpoint,
                known()
            ))
        })?;
        if let LaneSel::One(id) = &inc.spec.lanes
            && !cp
                .lanes
                .iter()
                .any(|l| l.direction == inc.spec.direction && l.id == *id)
        {
            let d = inc.spec.direction;
            return Err(spec_err(format!(
                "{} has no {d} lane {id:?}: its {d} lanes are {}",
                cp.id,
                lanes_of(cp, d)
            )));
        }
    }
    for (ci, cp) in registry.checkpoints.iter().enumerate() {
        for (k, inc) in traffic[ci].incidents.iter().enumerate() {
            if let LaneSel::One(id) = &inc.lanes
                && !cp
                    .lanes
                    .iter()
                    .any(|l| l.direction == inc.direction && l.id == *id)
            {
                let d = inc.direction;
                return Err(SimError::Spec {
                    origin: format!("checkpoint[{ci}].traffic.incidents[{k}] ({})", cp.id),
                    message: format!("no {d} lane {id:?}: the {d} lanes are {}", lanes_of(cp, d)),
                });
            }
        }
    }
    for ol in &o.open_lanes {
        let spec_err = |message: String| SimError::Spec {
            origin: ol.origin.clone(),
            message,
        };
        let cp = registry.checkpoint(&ol.checkpoint).ok_or_else(|| {
            spec_err(format!(
                "unknown checkpoint {:?}: known are {}",
                ol.checkpoint,
                known()
            ))
        })?;
        let have = cp
            .lanes
            .iter()
            .filter(|l| l.direction == ol.direction && l.kind == ol.kind)
            .count();
        if ol.count as usize > have {
            return Err(spec_err(format!(
                "{} has {have} {} {} lanes, fewer than {}",
                cp.id,
                ol.direction,
                kind_name(ol.kind),
                ol.count
            )));
        }
    }
    Ok(())
}
