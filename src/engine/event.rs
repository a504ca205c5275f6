//! Lane-passage events: parsing and validation of one Kafka message value (README,
//! The event),
//! with every rejection classified by a bounded [`Reason`]. Fields are borrowed from the
//! message bytes; nothing is allocated unless a string carries JSON escapes. The common
//! flat event is read by a single scan (`scan`); everything else by serde_json.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

mod scan;

use crate::engine::time::parse_timestamp;

/// Limits an event must satisfy (README, The event): the `[events]` section of the
/// configuration, validated there.
#[derive(Debug, Clone)]
pub struct EventLimits {
    pub max_event_bytes: usize,
    pub max_passage_ms: i64,
    /// `None` in replay: the future is only checked against the wall clock live.
    pub max_clock_skew_ms: Option<i64>,
    pub dedup_capacity: usize,
}

/// Travel direction through the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Into Beijing.
    Inbound,
    /// Out of Beijing.
    Outbound,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Inbound, Direction::Outbound];
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A direction that is neither `inbound` nor `outbound` (the text as given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a direction: use \"inbound\" or \"outbound\"")]
pub struct UnknownDirection(pub String);

impl std::str::FromStr for Direction {
    type Err = UnknownDirection;
    fn from_str(s: &str) -> Result<Self, UnknownDirection> {
        match s {
            "inbound" => Ok(Direction::Inbound),
            "outbound" => Ok(Direction::Outbound),
            _ => Err(UnknownDirection(s.to_string())),
        }
    }
}

/// Vehicle class reported by the sensor (missing → `Other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VehicleClass {
    Car,
    Bus,
    Truck,
    Van,
    Motorcycle,
    Other,
}

impl VehicleClass {
    pub const ALL: [VehicleClass; 6] = [
        VehicleClass::Car,
        VehicleClass::Bus,
        VehicleClass::Truck,
        VehicleClass::Van,
        VehicleClass::Motorcycle,
        VehicleClass::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleClass::Car => "car",
            VehicleClass::Bus => "bus",
            VehicleClass::Truck => "truck",
            VehicleClass::Van => "van",
            VehicleClass::Motorcycle => "motorcycle",
            VehicleClass::Other => "other",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        VehicleClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Why an event was rejected; the `reason` label of `lanewatch_events_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    TooLarge,
    NotUtf8,
    InvalidJson,
    MissingField,
    InvalidField,
    DepartedBeforeArrived,
    InspectionOutOfRange,
    PassageTooLong,
    FutureEvent,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::TooLarge,
        Reason::NotUtf8,
        Reason::InvalidJson,
        Reason::MissingField,
        Reason::InvalidField,
        Reason::DepartedBeforeArrived,
        Reason::InspectionOutOfRange,
        Reason::PassageTooLong,
        Reason::FutureEvent,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::NotUtf8 => "not_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::DepartedBeforeArrived => "departed_before_arrived",
            Reason::InspectionOutOfRange => "inspection_out_of_range",
            Reason::PassageTooLong => "passage_too_long",
            Reason::FutureEvent => "future_event",
        }
    }
    /// Dense index, for per-reason counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected event: the reason label and a human detail (for logs and DLQ headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// A valid lane-passage event, borrowing from the message bytes. Times are Unix
/// milliseconds (sub-millisecond digits are truncated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub checkpoint: Cow<'a, str>,
    pub direction: Direction,
    pub lane: Cow<'a, str>,
    pub vehicle_class: VehicleClass,
    pub arrived_ms: i64,
    pub inspection_ms: Option<i64>,
    pub departed_ms: i64,
}

impl Event<'_> {
    /// Passage time (the commuter's latency) in milliseconds.
    pub fn passage_ms(&self) -> i64 {
        self.departed_ms - self.arrived_ms
    }
    pub fn queue_wait_ms(&self) -> Option<i64> {
        self.inspection_ms.map(|i| i - self.arrived_ms)
    }
    pub fn inspection_duration_ms(&self) -> Option<i64> {
        self.inspection_ms.map(|i| self.departed_ms - i)
    }
}

/// `[a-z0-9_-]{1,32}`
pub fn valid_checkpoint(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `[A-Za-z0-9_-]{1,16}`
pub fn valid_lane(s: &str) -> bool {
    (1..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Latest epoch-millisecond value accepted (9999-12-31T23:59:59.999Z).
const MAX_EPOCH_MS: i64 = 253_402_300_799_999;

/// Parse and validate one message value. `now_ms` is the wall clock in live mode (for
/// the clock-skew check) and `None` in replay.
pub fn parse<'a>(
    bytes: &'a [u8],
    limits: &EventLimits,
    now_ms: Option<i64>,
) -> Result<Event<'a>, Rejection> {
    if bytes.len() > limits.max_event_bytes {
        return Err(Rejection::new(
            Reason::TooLarge,
            format!(
                "{} bytes, over the limit of {}",
                bytes.len(),
                limits.max_event_bytes
            ),
        ));
    }
    // simdutf8 for the check, std for the wording of an error.
    let text = match simdutf8::basic::from_utf8(bytes) {
        Ok(t) => t,
        Err(_) => {
            let detail = std::str::from_utf8(bytes)
                .err()
                .map_or_else(|| "invalid UTF-8".to_string(), |e| e.to_string());
            return Err(Rejection::new(Reason::NotUtf8, detail));
        }
    };
    let raw = match scan::raw(text) {
        Some(raw) => raw,
        None => {
            let mut de = serde_json::Deserializer::from_str(text);
            let raw = de::Deserialize::deserialize(&mut de)
                .map_err(|e: serde_json::Error| classify(e, text))?;
            de.end()
                .map_err(|e| Rejection::new(Reason::InvalidJson, e.to_string()))?;
            raw
        }
    };
    validate(raw, limits, now_ms)
}

/// The reason of a serde_json error on `text`: by its category, not its wording. Our
/// field types accept any JSON value, so a data error in an object is a duplicate key
/// (an invalid field); anything else (syntax, a top-level value that is not an object,
/// an early end) is invalid JSON.
fn classify(e: serde_json::Error, text: &str) -> Rejection {
    let object = text.trim_start().starts_with('{');
    let reason = match e.classify() {
        serde_json::error::Category::Data if object => Reason::InvalidField,
        _ => Reason::InvalidJson,
    };
    Rejection::new(reason, e.to_string())
}

fn validate<'a>(
    raw: RawEvent<'a>,
    limits: &EventLimits,
    now_ms: Option<i64>,
) -> Result<Event<'a>, Rejection> {
    let event_id = required_str(raw.event_id, "event_id")?;
    let checkpoint = required_str(raw.checkpoint, "checkpoint")?;
    let direction = required_str(raw.direction, "direction")?;
    let lane = required_str(raw.lane, "lane")?;
    let arrived = required(raw.arrived_at, "arrived_at")?;
    let departed = required(raw.departed_at, "departed_at")?;

    if event_id.is_empty() || event_id.len() > 64 {
        return Err(Rejection::new(
            Reason::InvalidField,
            "event_id: must be 1-64 bytes",
        ));
    }
    if !valid_checkpoint(&checkpoint) {
        return Err(Rejection::new(
            Reason::InvalidField,
            "checkpoint: must match [a-z0-9_-]{1,32}",
        ));
    }
    let direction = direction.parse::<Direction>().map_err(|_| {
        Rejection::new(
            Reason::InvalidField,
            "direction: must be \"inbound\" or \"outbound\"",
        )
    })?;
    if !valid_lane(&lane) {
        return Err(Rejection::new(
            Reason::InvalidField,
            "lane: must match [A-Za-z0-9_-]{1,16}",
        ));
    }
    let vehicle_class = match raw.vehicle_class {
        None | Some(Field::Null) => VehicleClass::Other,
        Some(Field::Str(s)) => VehicleClass::parse(&s).ok_or_else(|| {
            Rejection::new(
                Reason::InvalidField,
                "vehicle_class: must be car, bus, truck, van, motorcycle or other",
            )
        })?,
        Some(_) => {
            return Err(Rejection::new(
                Reason::InvalidField,
                "vehicle_class: must be a string",
            ));
        }
    };
    let arrived_ms = timestamp(arrived, "arrived_at")?;
    let departed_ms = timestamp(departed, "departed_at")?;
    let inspection_ms = match raw.inspection_started_at {
        None | Some(Field::Null) => None,
        Some(f) => Some(timestamp(f, "inspection_started_at")?),
    };
    if departed_ms < arrived_ms {
        return Err(Rejection::new(
            Reason::DepartedBeforeArrived,
            "departed_at is before arrived_at",
        ));
    }
    if let Some(i) = inspection_ms
        && (i < arrived_ms || i > departed_ms)
    {
        return Err(Rejection::new(
            Reason::InspectionOutOfRange,
            "inspection_started_at lies outside [arrived_at, departed_at]",
        ));
    }
    if departed_ms - arrived_ms > limits.max_passage_ms {
        return Err(Rejection::new(
            Reason::PassageTooLong,
            format!(
                "passage time {} s exceeds the maximum of {} s",
                (departed_ms - arrived_ms) / 1000,
                limits.max_passage_ms / 1000
            ),
        ));
    }
    if let (Some(now), Some(skew)) = (now_ms, limits.max_clock_skew_ms)
        && departed_ms > now.saturating_add(skew)
    {
        return Err(Rejection::new(
            Reason::FutureEvent,
            format!(
                "departed_at is {} s in the future",
                (departed_ms - now) / 1000
            ),
        ));
    }
    Ok(Event {
        event_id,
        checkpoint,
        direction,
        lane,
        vehicle_class,
        arrived_ms,
        inspection_ms,
        departed_ms,
    })
}

fn required<'a>(f: Option<Field<'a>>, name: &str) -> Result<Field<'a>, Rejection> {
    match f {
        None | Some(Field::Null) => Err(Rejection::new(
            Reason::MissingField,
            format!("{name} is missing"),
        )),
        Some(f) => Ok(f),
    }
}

fn required_str<'a>(f: Option<Field<'a>>, name: &str) -> Result<Cow<'a, str>, Rejection> {
    match required(f, name)? {
        Field::Str(s) => Ok(s),
        other => Err(Rejection::new(
            Reason::InvalidField,
            format!("{name}: must be a string, not {}", other.kind()),
        )),
    }
}

fn timestamp(f: Field<'_>, name: &str) -> Result<i64, Rejection> {
    match f {
        Field::Str(s) => parse_timestamp(&s).ok_or_else(|| {
            Rejection::new(
                Reason::InvalidField,
                format!("{name}: not an RFC 3339 timestamp with offset"),
            )
        }),
        Field::UInt(ms) if ms as i128 <= MAX_EPOCH_MS as i128 => Ok(ms as i64),
        Field::Int(ms) if (0..=MAX_EPOCH_MS).contains(&ms) => Ok(ms),
        Field::Int(_) | Field::UInt(_) => Err(Rejection::new(
            Reason::InvalidField,
            format!("{name}: epoch milliseconds out of range"),
        )),
        other => Err(Rejection::new(
            Reason::InvalidField,
            format!(
                "{name}: must be an RFC 3339 string or epoch milliseconds, not {}",
                other.kind()
            ),
        )),
    }
}

/// One JSON value of a known field, without committing to a type yet.
#[derive(Debug, PartialEq)]
enum Field<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float,
    Bool,
    Null,
    Compound,
}

impl Field<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Field::Str(_) => "a string",
            Field::Int(_) | Field::UInt(_) | Field::Float => "a number",
            Field::Bool => "a boolean",
            Field::Null => "null",
            Field::Compound => "an array or object",
        }
    }
}

impl<'de> de::Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::UInt(v))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Float)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Compound)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[derive(Default, Debug, PartialEq)]
struct RawEvent<'a> {
    event_id: Option<Field<'a>>,
    checkpoint: Option<Field<'a>>,
    direction: Option<Field<'a>>,
    lane: Option<Field<'a>>,
    vehicle_class: Option<Field<'a>>,
    arrived_at: Option<Field<'a>>,
    inspection_started_at: Option<Field<'a>>,
    departed_at: Option<Field<'a>>,
}

impl<'a> RawEvent<'a> {
    /// Where the value of field `key` goes; `None` for a field lanewatch ignores.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Field<'a>>> {
        Some(match key {
            "event_id" => &mut self.event_id,
            "checkpoint" => &mut self.checkpoint,
            "direction" => &mut self.direction,
            "lane" => &mut self.lane,
            "vehicle_class" => &mut self.vehicle_class,
            "arrived_at" => &mut self.arrived_at,
            "inspection_started_at" => &mut self.inspection_started_at,
            "departed_at" => &mut self.departed_at,
            _ => return None,
        })
    }
}

impl<'de> de::Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = RawEvent<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawEvent::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let Some(slot) = raw.slot(&key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if slot.is_some() {
                return Err(de::Error::custom(format_args!("duplicate field {key}")));
            }
            *slot = Some(map.next_value::<Field<'de>>()?);
        }
        Ok(raw)
    }
}

#[cfg(test)]
mod tests;
