//! What `lanewatch simulate` is asked to do ([`SimulateOptions`]: its flags as values)
//! and the parsers of the incident and open-lanes specs; every parse error says what to
//! write instead.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::check::{Incident, OpenLanes};
use super::error::SimError;
use super::imperfect::Imperfections;
use super::profile::latest_six_am;
use super::sim::SimOptions;
use super::sink::Output;
use super::truth::TruthOptions;
use crate::config::LaneKind;
use crate::engine::event::{Direction, Reason};
use crate::simulate::traffic::{parse_clock, parse_incident};

/// What `lanewatch simulate` is asked to do: its flags as values (`--flag` below names
/// the flag each field comes from, where its help says more).
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Checkpoint registry: checkpoints, lanes and their [checkpoint.traffic] tables.
    pub registry: PathBuf,
    /// First simulated instant (Unix ms) [default: the latest 06:00 Beijing time].
    pub start: Option<i64>,
    /// Length of the simulated range, unless `end` is given.
    pub duration: Duration,
    /// End of the simulated range (Unix ms) instead of `duration`.
    pub end: Option<i64>,
    /// Pace of simulated time.
    pub speed: Speed,
    /// Random seed: the same seed and options give byte-identical output.
    pub seed: u64,
    /// Factor on every checkpoint's demand (arrivals per hour).
    pub demand: f64,
    /// Incidents, every simulated day (`--incident`).
    pub incidents: Vec<Incident>,
    /// Lanes staffed of a kind (`--open-lanes`; a later one wins).
    pub open_lanes: Vec<OpenLanes>,
    /// Fraction of passages whose event the sensor sends twice.
    pub duplicates: f64,
    /// Fraction of passages delivered late, out of order, by up to `late_by`.
    pub late: f64,
    /// Largest delay of a late event.
    pub late_by: Duration,
    /// Fraction of passages whose event is replaced by a malformed message.
    pub malformed: f64,
    /// Rejection reasons the malformed messages are spread over.
    pub malformed_reasons: Vec<Reason>,
    /// Size a too_large message exceeds (the consumer's events.max_event_bytes).
    pub max_event_bytes: usize,
    /// JSONL to this file, or to standard output with "-", instead of Kafka.
    pub output: Option<PathBuf>,
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Kafka topic (messages keyed <checkpoint>/<direction>).
    pub topic: String,
    /// librdkafka producer options (`-X KEY=VALUE`).
    pub kafka_options: Vec<(String, String)>,
    /// Also write the ground truth to this file (JSONL, `--truth`).
    pub truth: Option<PathBuf>,
    /// Window of the ground truth (tumbling, aligned to the Unix epoch).
    pub truth_window: Duration,
    /// Target wait of the truth's Erlang C advice [default: the shipped configuration's].
    pub truth_target_wait: Option<Duration>,
    /// Acceptable P(wait > target) of the truth's advice [default: the shipped
    /// configuration's].
    pub truth_risk: Option<f64>,
}

impl SimulateOptions {
    /// The simulation options; `now_ms` places the default start.
    pub fn options(&self, now_ms: i64) -> Result<SimOptions, SimError> {
        let start_ms = self.start.unwrap_or_else(|| latest_six_am(now_ms));
        let end_ms = match self.end {
            Some(e) => e,
            None => {
                let d = i64::try_from(self.duration.as_millis()).map_err(|_| {
                    SimError::Options("--duration is too long: give e.g. 24h or 30d".into())
                })?;
                start_ms.saturating_add(d)
            }
        };
        Ok(SimOptions {
            seed: self.seed,
            start_ms,
            end_ms,
            demand: self.demand,
            incidents: self.incidents.clone(),
            open_lanes: self.open_lanes.clone(),
            imperfections: Imperfections {
                duplicates: self.duplicates,
                late: self.late,
                late_by_ms: i64::try_from(self.late_by.as_millis()).unwrap_or(i64::MAX),
                malformed: self.malformed,
                malformed_reasons: self.malformed_reasons.clone(),
                max_event_bytes: self.max_event_bytes,
            },
        })
    }

    /// The truth options when `--truth` is given (the congestion thresholds are those
    /// of the shipped configuration).
    pub fn truth_options(&self) -> Result<Option<TruthOptions>, SimError> {
        let Some(path) = &self.truth else {
            return Ok(None);
        };
        if self.output.as_ref() == Some(path) {
            return Err(SimError::Options(format!(
                "--truth {} is also the --output file: give the truth its own file",
                path.display()
            )));
        }
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let mut o = TruthOptions::shipped();
        o.window_ms = ms(self.truth_window);
        if let Some(t) = self.truth_target_wait {
            o.target_wait_ms = ms(t);
        }
        if let Some(r) = self.truth_risk {
            o.risk = r;
        }
        Ok(Some(o))
    }

    /// Where the messages go.
    pub fn output(&self) -> Output {
        match &self.output {
            Some(p) if p.as_os_str() == "-" => Output::Stdout,
            Some(p) => Output::Jsonl(p.clone()),
            None => Output::Kafka {
                brokers: self.brokers.clone(),
                topic: self.topic.clone(),
                options: self.kafka_options.clone(),
            },
        }
    }
}

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Simulated seconds per wall-clock second.
    Factor(f64),
    /// As fast as the output takes messages.
    Max,
}

impl FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.trim_end_matches('x').parse::<f64>() {
            Ok(f) if f.is_finite() && (0.001..=1e9).contains(&f) => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "{s:?} is not a speed: give a factor from 0.001 to 1e9 (1 = real time, 60) or max"
            )),
        }
    }
}

/// `CHECKPOINT/DIRECTION/LANE|*@HH:MM+DURATION[:slow=F|:close]`
pub fn parse_incident_arg(s: &str) -> Result<Incident, String> {
    let (checkpoint, rest) = s
        .split_once('/')
        .ok_or("write CHECKPOINT/DIRECTION/LANE|*@HH:MM+DURATION[:slow=F], e.g. baimiao/inbound/03@07:30+45m")?;
    let spec = parse_incident(rest)?;
    Ok(Incident {
        checkpoint: checkpoint.to_string(),
        spec,
        origin: format!("--incident {s:?}"),
    })
}

/// `CHECKPOINT/DIRECTION/KIND=N[@HH:MM+DURATION]`
pub fn parse_open_lanes(s: &str) -> Result<OpenLanes, String> {
    const FORM: &str =
        "write CHECKPOINT/DIRECTION/KIND=N[@HH:MM+DURATION], e.g. baimiao/inbound/car=2@06:00+3h";
    let (target, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("no '=N': {FORM}"))?;
    let mut parts = target.split('/');
    let (Some(checkpoint), Some(direction), Some(kind), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "{target:?} is not CHECKPOINT/DIRECTION/KIND: {FORM}"
        ));
    };
    let direction = direction.parse::<Direction>().map_err(|e| e.to_string())?;
    let kind = match kind {
        "car" => LaneKind::Car,
        "bus" => LaneKind::Bus,
        "truck" => LaneKind::Truck,
        "mixed" => LaneKind::Mixed,
        k => {
            return Err(format!(
                "{k:?} is not a lane kind: use car, bus, truck or mixed"
            ));
        }
    };
    let (count, window) = match rest.split_once('@') {
        Some((n, w)) => (n, Some(w)),
        None => (rest, None),
    };
    let count: u32 = count
        .parse()
        .map_err(|_| format!("{count:?} is not a number of lanes: {FORM}"))?;
    let window = match window {
        None => None,
        Some(w) => {
            let (start, dur) = w
                .split_once('+')
                .ok_or_else(|| format!("no '+DURATION' after @HH:MM: {FORM}"))?;
            let start = parse_clock(start)
                .ok_or_else(|| format!("{start:?} is not a local time: write HH:MM"))?;
            let dur = humantime::parse_duration(dur)
                .ok()
                .map(|d| d.as_millis() as i64)
                .filter(|ms| (1..=86_400_000).contains(ms))
                .ok_or_else(|| format!("{dur:?} is not a duration up to 24h: write e.g. 90m"))?;
            Some((start, dur))
        }
    };
    Ok(OpenLanes {
        checkpoint: checkpoint.to_string(),
        direction,
        kind,
        count,
        window,
        origin: format!("--open-lanes {s:?}"),
    })
}
