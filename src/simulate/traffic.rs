//! The simulator's traffic model settings per checkpoint (`[checkpoint.traffic]` in the
//! registry, which `config` carries as written): demand per direction, the day profile,
//! vehicle mix, inspection times and incidents. Raw serde structs
//! (`deny_unknown_fields`) become a validated [`Traffic`]; absent settings take
//! commuter defaults.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, Problems, Registry};
use crate::engine::event::{Direction, VehicleClass};

/// Default inbound day profile, one factor of the peak rate per local half hour from
/// 00:00: quiet night, commuter peak 06:30–09:00, steady day, light evening return.
pub const DEFAULT_INBOUND_PROFILE: [f64; 48] = [
    0.04, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.04, 0.06, 0.10, 0.18, // 00:00-05:30
    0.35, 0.75, 0.95, 1.00, 1.00, 0.85, 0.50, 0.40, 0.30, 0.28, 0.26, 0.25, // 06:00-11:30
    0.24, 0.24, 0.25, 0.26, 0.27, 0.28, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30, // 12:00-17:30
    0.28, 0.26, 0.24, 0.20, 0.17, 0.14, 0.12, 0.10, 0.08, 0.07, 0.06, 0.05, // 18:00-23:30
];

/// Default outbound day profile (half hours from 00:00): the evening return peak
/// 17:00–19:30 mirrors the morning.
pub const DEFAULT_OUTBOUND_PROFILE: [f64; 48] = [
    0.05, 0.04, 0.03, 0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.04, 0.06, 0.10, // 00:00-05:30
    0.18, 0.25, 0.28, 0.28, 0.26, 0.24, 0.22, 0.22, 0.22, 0.22, 0.22, 0.22, // 06:00-11:30
    0.22, 0.22, 0.23, 0.24, 0.25, 0.27, 0.30, 0.34, 0.40, 0.50, 0.80, 1.00, // 12:00-17:30
    1.00, 0.95, 0.80, 0.50, 0.35, 0.25, 0.18, 0.14, 0.10, 0.08, 0.06, 0.05, // 18:00-23:30
];

/// Peak arrivals per hour per direction when a checkpoint has no traffic table.
pub const DEFAULT_PEAK_PER_HOUR: f64 = 500.0;

/// Vehicle classes in a fixed order (indexes [`Traffic::mix`] and [`Traffic::service`]).
pub const CLASSES: [VehicleClass; 6] = VehicleClass::ALL;

/// Default mix (same order as [`CLASSES`]): mostly cars, some commuter coaches, some
/// trucks and vans.
pub const DEFAULT_MIX: [f64; 6] = [0.84, 0.04, 0.04, 0.05, 0.02, 0.01];

/// Default median inspection time per class and its spread: the engine's defaults.
pub use crate::engine::registry::{DEFAULT_SERVICE_S, DEFAULT_SERVICE_SIGMA};

/// Default factor of inspection times leaving Beijing: the check is lighter outbound.
pub const DEFAULT_OUTBOUND_SERVICE_FACTOR: f64 = 0.6;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTraffic {
    /// Arrivals per hour into Beijing when the inbound profile is 1.0.
    inbound_peak_per_hour: Option<f64>,
    /// Arrivals per hour out of Beijing when the outbound profile is 1.0.
    outbound_peak_per_hour: Option<f64>,
    /// 24 factors of the peak rate, one per local hour from 00:00.
    inbound_profile: Option<Vec<f64>>,
    outbound_profile: Option<Vec<f64>>,
    /// Multiplies the inspection times of a direction (default 1.0 in, 0.6 out).
    inbound_service_factor: Option<f64>,
    outbound_service_factor: Option<f64>,
    /// Relative weights per vehicle class (normalized; absent classes are 0).
    mix: Option<RawPerClass<f64>>,
    /// Median inspection time per vehicle class (absent classes keep the default).
    service: Option<RawPerClass<humantime_serde::Serde<Duration>>>,
    /// σ of the log of inspection times (0.45 ≈ most within ×0.4–×2.5 of the median).
    service_sigma: Option<f64>,
    /// `"<direction>/<lane|*>@HH:MM+<duration>[:slow=<factor>]"`, every simulated day.
    #[serde(default)]
    incidents: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerClass<T> {
    car: Option<T>,
    bus: Option<T>,
    truck: Option<T>,
    van: Option<T>,
    motorcycle: Option<T>,
    other: Option<T>,
}

impl<T> RawPerClass<T> {
    fn into_array(self) -> [Option<T>; 6] {
        [
            self.car,
            self.bus,
            self.truck,
            self.van,
            self.motorcycle,
            self.other,
        ]
    }
}

/// Demand of one direction: `peak_per_hour × profile[slot]`, the slots evenly dividing
/// the local day (24 hourly or 48 half-hourly factors).
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub peak_per_hour: f64,
    pub profile: Vec<f64>,
    /// Multiplies the inspection times in this direction.
    pub service_factor: f64,
}

impl Demand {
    /// Arrivals per hour at `minute` since local midnight.
    pub fn rate_per_hour_at(&self, minute: u32) -> f64 {
        let slot = (minute as usize % 1440) * self.profile.len() / 1440;
        self.peak_per_hour * self.profile[slot]
    }
}

/// What an incident does to the lanes it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// The lane takes no new vehicles (those queued are still served).
    Close,
    /// Inspections starting in the incident take this many times longer.
    Slow(f64),
}

/// Which lanes of a direction an incident names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaneSel {
    One(String),
    All,
}

/// An incident of one checkpoint, repeated every simulated day at the same local time.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentSpec {
    pub direction: Direction,
    pub lanes: LaneSel,
    /// Start, milliseconds since local midnight.
    pub start_ms: i64,
    /// Length in milliseconds, 1 ms to 24 h.
    pub duration_ms: i64,
    pub effect: Effect,
}

/// Validated traffic settings (defaults when the table is absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    pub inbound: Demand,
    pub outbound: Demand,
    /// Probability of each class, in [`CLASSES`] order, summing to 1.
    pub mix: [f64; 6],
    /// Median inspection seconds per class, in [`CLASSES`] order.
    pub service_s: [f64; 6],
    pub service_sigma: f64,
    pub incidents: Vec<IncidentSpec>,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            inbound: Demand {
                peak_per_hour: DEFAULT_PEAK_PER_HOUR,
                profile: DEFAULT_INBOUND_PROFILE.to_vec(),
                service_factor: 1.0,
            },
            outbound: Demand {
                peak_per_hour: DEFAULT_PEAK_PER_HOUR,
                profile: DEFAULT_OUTBOUND_PROFILE.to_vec(),
                service_factor: DEFAULT_OUTBOUND_SERVICE_FACTOR,
            },
            mix: DEFAULT_MIX,
            service_s: DEFAULT_SERVICE_S,
            service_sigma: DEFAULT_SERVICE_SIGMA,
            incidents: Vec::new(),
        }
    }
}

impl Traffic {
    pub fn demand(&self, direction: Direction) -> &Demand {
        match direction {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
        }
    }
}

/// The validated traffic settings of every checkpoint of `registry`, in its order;
/// `file` (the registry's path) is named in the errors.
pub fn of_registry(registry: &Registry, file: Option<&Path>) -> Result<Vec<Traffic>, ConfigError> {
    let mut p = Problems {
        file: file.map(Path::to_path_buf),
        list: Vec::new(),
    };
    let traffic = registry
        .checkpoints
        .iter()
        .enumerate()
        .map(|(i, cp)| {
            from_table(
                cp.traffic.as_ref(),
                &format!("checkpoint[{i}].traffic"),
                &mut p,
            )
        })
        .collect();
    if p.is_empty() {
        Ok(traffic)
    } else {
        Err(ConfigError::Invalid(p))
    }
}

/// One `[checkpoint.traffic]` table as written (`None`: absent) → validated settings;
/// what is wrong goes to `p` under `at`.
pub fn from_table(table: Option<&toml::Table>, at: &str, p: &mut Problems) -> Traffic {
    let raw = match table.map(|t| RawTraffic::deserialize(t.clone())) {
        None => None,
        Some(Ok(raw)) => Some(raw),
        Some(Err(e)) => {
            p.push(at, e.message().to_string());
            None
        }
    };
    validate(raw, at, p)
}

pub(crate) fn validate(raw: Option<RawTraffic>, at: &str, p: &mut Problems) -> Traffic {
    let mut t = Traffic::default();
    let Some(raw) = raw else { return t };
    for (name, peak, profile, factor, demand) in [
        (
            "inbound",
            raw.inbound_peak_per_hour,
            raw.inbound_profile,
            raw.inbound_service_factor,
            &mut t.inbound,
        ),
        (
            "outbound",
            raw.outbound_peak_per_hour,
            raw.outbound_profile,
            raw.outbound_service_factor,
            &mut t.outbound,
        ),
    ] {
        if let Some(f) = factor {
            if f.is_finite() && f > 0.0 && f <= 100.0 {
                demand.service_factor = f;
            } else {
                p.push(
                    format!("{at}.{name}_service_factor"),
                    format!("{f} is out of range: use a factor in (0, 100], e.g. 0.6"),
                );
            }
        }
        if let Some(peak) = peak {
            if peak.is_finite() && (0.0..=100_000.0).contains(&peak) {
                demand.peak_per_hour = peak;
            } else {
                p.push(
                    format!("{at}.{name}_peak_per_hour"),
                    format!("{peak} is not a rate: give vehicles per hour between 0 and 100000, e.g. 800"),
                );
            }
        }
        if let Some(profile) = profile {
            let field = format!("{at}.{name}_profile");
            if profile.len() != 24 {
                p.push(
                    &field,
                    format!(
                        "has {} values: give 24, one per local hour from 00:00",
                        profile.len()
                    ),
                );
            } else if let Some(i) = profile.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                p.push(
                    format!("{field}[{i}]"),
                    "must be a factor of the peak rate >= 0, e.g. 0.25",
                );
            } else {
                demand.profile = profile;
            }
        }
    }
    if let Some(mix) = raw.mix {
        let w = mix.into_array().map(|v| v.unwrap_or(0.0));
        let sum: f64 = w.iter().sum();
        if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            p.push(
                format!("{at}.mix.{}", CLASSES[i].as_str()),
                "must be a weight >= 0, e.g. 0.05",
            );
        } else if sum <= 0.0 || !sum.is_finite() {
            p.push(
                format!("{at}.mix"),
                "all weights are 0: give e.g. { car = 0.9, bus = 0.05, truck = 0.05 }",
            );
        } else {
            t.mix = w.map(|v| v / sum);
        }
    }
    if let Some(service) = raw.service {
        for (i, d) in service.into_array().into_iter().enumerate() {
            let Some(d) = d else { continue };
            let s = d.as_secs_f64();
            if s > 0.0 && s <= 3600.0 {
                t.service_s[i] = s;
            } else {
                p.push(
                    format!("{at}.service.{}", CLASSES[i].as_str()),
                    "must be a median inspection time between 1ms and 1h, e.g. \"25s\"",
                );
            }
        }
    }
    if let Some(sigma) = raw.service_sigma {
        if sigma.is_finite() && (0.0..=2.0).contains(&sigma) {
            t.service_sigma = sigma;
        } else {
            p.push(
                format!("{at}.service_sigma"),
                format!("{sigma} is out of range: use 0 to 2, e.g. 0.45"),
            );
        }
    }
    for (i, s) in raw.incidents.iter().enumerate() {
        match parse_incident(s) {
            Ok(inc) => t.incidents.push(inc),
            Err(e) => p.push(format!("{at}.incidents[{i}]"), format!("{s:?}: {e}")),
        }
    }
    t
}

/// Parse `"<direction>/<lane|*>@HH:MM+<duration>[:slow=<factor>|:close]"` (the checkpoint
/// is known from the context). The error says what to write instead.
pub fn parse_incident(s: &str) -> Result<IncidentSpec, String> {
    const FORM: &str =
        "write <direction>/<lane|*>@HH:MM+<duration>[:slow=<factor>], e.g. inbound/03@07:30+45m";
    let (target, when) = s
        .split_once('@')
        .ok_or_else(|| format!("no '@' before the start time: {FORM}"))?;
    let (direction, lane) = target
        .split_once('/')
        .ok_or_else(|| format!("no '/' between direction and lane: {FORM}"))?;
    let direction = direction.parse::<Direction>().map_err(|e| e.to_string())?;
    let lanes = match lane {
        "*" => LaneSel::All,
        l if crate::engine::event::valid_lane(l) => LaneSel::One(l.to_string()),
        l => {
            return Err(format!(
                "{l:?} is not a lane id ([A-Za-z0-9_-]{{1,16}}) or '*'"
            ));
        }
    };
    let (start, rest) = when
        .split_once('+')
        .ok_or_else(|| format!("no '+<duration>' after the start time: {FORM}"))?;
    let start_ms = parse_clock(start)
        .ok_or_else(|| format!("{start:?} is not a local time: write HH:MM, e.g. 07:30"))?;
    let (duration, effect) = match rest.split_once(':') {
        Some((d, e)) => (d, Some(e)),
        None => (rest, None),
    };
    let duration_ms = humantime::parse_duration(duration)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|ms| (1..=86_400_000).contains(ms))
        .ok_or_else(|| {
            format!("{duration:?} is not a duration up to 24h: write e.g. 45m or 1h30m")
        })?;
    let effect = match effect {
        None | Some("close") => Effect::Close,
        Some(e) => {
            let f = e
                .strip_prefix("slow=")
                .and_then(|f| f.parse::<f64>().ok())
                .filter(|f| f.is_finite() && *f > 0.0 && *f <= 100.0)
                .ok_or_else(|| format!("{e:?} is not an effect: write close or slow=<factor in (0, 100]>, e.g. slow=3"))?;
            Effect::Slow(f)
        }
    };
    Ok(IncidentSpec {
        direction,
        lanes,
        start_ms,
        duration_ms,
        effect,
    })
}

/// `HH:MM` → milliseconds since midnight (00:00–23:59).
pub fn parse_clock(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h * 60 + m) * 60_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str) -> (Traffic, Problems) {
        let raw: RawTraffic = toml::from_str(toml_text).expect("syntax");
        let mut p = Problems::default();
        let t = validate(Some(raw), "checkpoint[0].traffic", &mut p);
        (t, p)
    }

    #[test]
    fn absent_table_gives_defaults_and_profiles_peak_at_one() {
        let t = validate(None, "x", &mut Problems::default());
        assert_eq!(t, Traffic::default());
        assert!((t.mix.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        // Inbound peaks in the morning, outbound in the evening.
        assert_eq!(
            t.inbound.rate_per_hour_at(7 * 60 + 45),
            DEFAULT_PEAK_PER_HOUR
        );
        assert_eq!(
            t.outbound.rate_per_hour_at(18 * 60 + 10),
            DEFAULT_PEAK_PER_HOUR
        );
        assert!(t.inbound.rate_per_hour_at(3 * 60) < 0.05 * DEFAULT_PEAK_PER_HOUR);
    }

    #[test]
    fn values_are_taken_and_mix_normalized() {
        let profile: Vec<String> = (0..24).map(|h| format!("{}", h as f64 / 23.0)).collect();
        let (t, p) = check(&format!(
            "inbound_peak_per_hour = 900\ninbound_profile = [{}]\nmix = {{ car = 3, bus = 1 }}\n\
             service = {{ bus = \"4m\" }}\nincidents = [\"inbound/03@07:30+45m\", \"outbound/*@17:00+1h:slow=2.5\"]",
            profile.join(", ")
        ));
        assert!(p.is_empty(), "{p}");
        assert_eq!(t.inbound.peak_per_hour, 900.0);
        assert_eq!(t.inbound.rate_per_hour_at(23 * 60 + 59), 900.0);
        assert_eq!(t.mix[0], 0.75);
        assert_eq!(t.mix[1], 0.25);
        assert_eq!(t.mix[2], 0.0);
        assert_eq!(t.service_s[1], 240.0);
        assert_eq!(t.service_s[0], DEFAULT_SERVICE_S[0]);
        assert_eq!(t.incidents.len(), 2);
        assert_eq!(t.incidents[1].effect, Effect::Slow(2.5));
        assert_eq!(t.incidents[1].lanes, LaneSel::All);
        assert_eq!(t.incidents[0].start_ms, (7 * 60 + 30) * 60_000);
        assert_eq!(t.incidents[0].duration_ms, 45 * 60_000);
    }

    #[test]
    fn problems_name_the_field() {
        let (_, p) = check(
            "inbound_peak_per_hour = -1\noutbound_profile = [1, 2]\ninbound_service_factor = 0\nmix = { car = 0 }\n\
             service = { truck = \"0s\" }\nservice_sigma = 5\nincidents = [\"sideways/03@07:30+45m\"]",
        );
        let paths: Vec<&str> = p.list.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            paths,
            [
                "checkpoint[0].traffic.inbound_service_factor",
                "checkpoint[0].traffic.inbound_peak_per_hour",
                "checkpoint[0].traffic.outbound_profile",
                "checkpoint[0].traffic.mix",
                "checkpoint[0].traffic.service.truck",
                "checkpoint[0].traffic.service_sigma",
                "checkpoint[0].traffic.incidents[0]",
            ]
        );
        assert!(
            toml::from_str::<RawTraffic>("peak = 3").is_err(),
            "unknown fields are denied"
        );
        assert!(
            toml::from_str::<RawTraffic>("mix = { tank = 1 }").is_err(),
            "unknown classes are denied"
        );
    }

    #[test]
    fn incident_errors_say_what_to_write() {
        for (bad, hint) in [
            ("inbound/03", "no '@'"),
            ("inbound@07:30+1h", "no '/'"),
            ("in/03@07:30+1h", "not a direction"),
            ("inbound/0 3@07:30+1h", "not a lane id"),
            ("inbound/03@7:30+1h", "not a local time"),
            ("inbound/03@07:30", "no '+<duration>'"),
            ("inbound/03@07:30+2d", "up to 24h"),
            ("inbound/03@07:30+1h:slow=0", "not an effect"),
            ("inbound/03@07:30+1h:fast", "not an effect"),
        ] {
            let e = parse_incident(bad).expect_err(bad);
            assert!(e.contains(hint), "{bad}: {e}");
        }
        assert_eq!(
            parse_incident("inbound/B1@23:30+1h:close").unwrap().effect,
            Effect::Close
        );
    }
}
