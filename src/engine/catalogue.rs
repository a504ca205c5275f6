//! The metrics catalogue: every family lanewatch exports — name, type, help, labels and
//! which configured buckets a histogram uses — declared once, as data. The live
//! exposition (the prometheus registry's families and the lanes' hand encoder), the
//! OpenMetrics backfill (`replay --openmetrics`) and the board read their names and help
//! here, so they cannot drift apart; `tests/it/catalogue.rs` holds both outputs to it.

/// The exposition type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    /// Quantiles over a sliding window (without `_sum`/`_count`).
    Summary,
}

impl Kind {
    /// As written after `# TYPE` (text format and OpenMetrics alike).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

/// Which `[buckets]` list of the configuration a histogram uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buckets {
    Passage,
    QueueWait,
    Inspection,
    Headway,
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// The name samples carry (counters with `_total`, as the text format writes it).
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Label names besides `le` (histograms) and `quantile` (summaries).
    pub labels: &'static [&'static str],
    pub buckets: Option<Buckets>,
}

impl Family {
    /// `# HELP` and `# TYPE` lines of the family into `out` (text format; the backfill
    /// writes the same, see `replay::openmetrics`).
    pub fn write_header(&self, out: &mut Vec<u8>) {
        for (what, text) in [("HELP", self.help), ("TYPE", self.kind.as_str())] {
            out.extend_from_slice(b"# ");
            out.extend_from_slice(what.as_bytes());
            out.push(b' ');
            out.extend_from_slice(self.name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
    }
}

const LANE: &[&str] = &["checkpoint", "direction", "lane"];
const LANE_WINDOW: &[&str] = &["checkpoint", "direction", "lane", "window"];
const DIR: &[&str] = &["checkpoint", "direction"];

// The pipeline: what became of the messages read.
pub const EVENTS_RECEIVED: Family = Family {
    name: "lanewatch_events_received_total",
    kind: Kind::Counter,
    help: "Messages received from the source.",
    labels: &[],
    buckets: None,
};
pub const EVENTS_REJECTED: Family = Family {
    name: "lanewatch_events_rejected_total",
    kind: Kind::Counter,
    help: "Messages rejected as invalid, by reason (each is dead-lettered).",
    labels: &["reason"],
    buckets: None,
};
pub const EVENTS_DUPLICATE: Family = Family {
    name: "lanewatch_events_duplicate_total",
    kind: Kind::Counter,
    help: "Valid events whose event_id was already seen within the de-duplication window (not recorded again).",
    labels: &[],
    buckets: None,
};
pub const EVENTS_LATE: Family = Family {
    name: "lanewatch_events_late_total",
    kind: Kind::Counter,
    help: "Events older than their checkpoint's watermark: in the cumulative histograms, in no window.",
    labels: &[],
    buckets: None,
};
pub const LANE_OVERFLOW_EVENTS: Family = Family {
    name: "lanewatch_lane_overflow_events_total",
    kind: Kind::Counter,
    help: "Valid events of unregistered lanes over lanes.max_dynamic_lanes (no series created).",
    labels: &[],
    buckets: None,
};
pub const LANES_DYNAMIC: Family = Family {
    name: "lanewatch_lanes_dynamic",
    kind: Kind::Gauge,
    help: "Lanes not in the registry that have series (capped by lanes.max_dynamic_lanes).",
    labels: &[],
    buckets: None,
};
pub const NEWEST_EVENT_TIMESTAMP: Family = Family {
    name: "lanewatch_newest_event_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Event time (departed_at, Unix seconds) of the newest accepted event.",
    labels: &[],
    buckets: None,
};
pub const NEWEST_EVENT_AGE: Family = Family {
    name: "lanewatch_newest_event_age_seconds",
    kind: Kind::Gauge,
    help: "Wall clock minus the event time of the newest accepted event (NaN before the first).",
    labels: &[],
    buckets: None,
};
pub const BUILD_INFO: Family = Family {
    name: "lanewatch_build_info",
    kind: Kind::Gauge,
    help: "Build of the running lanewatch (value 1).",
    labels: &["version", "librdkafka_version"],
    buckets: None,
};

// The Kafka source.
pub const CONSUMER_LAG_MESSAGES: Family = Family {
    name: "lanewatch_consumer_lag_messages",
    kind: Kind::Gauge,
    help: "Messages between the consumer's position and the partition's high watermark.",
    labels: &["topic", "partition"],
    buckets: None,
};
pub const CONSUMER_LAG_SECONDS: Family = Family {
    name: "lanewatch_consumer_lag_seconds",
    kind: Kind::Gauge,
    help: "How far behind the partition the consumer is in time: now minus the Kafka timestamp of the last processed message while messages are waiting, else 0.",
    labels: &["topic", "partition"],
    buckets: None,
};
pub const BROKER_CONNECTED: Family = Family {
    name: "lanewatch_broker_connected",
    kind: Kind::Gauge,
    help: "1 while at least one Kafka broker connection is up, else 0.",
    labels: &[],
    buckets: None,
};
pub const OFFSET_COMMITS: Family = Family {
    name: "lanewatch_offset_commits_total",
    kind: Kind::Counter,
    help: "Offset commits by result (ok, error).",
    labels: &["result"],
    buckets: None,
};
pub const DEAD_LETTERS: Family = Family {
    name: "lanewatch_dead_letter_total",
    kind: Kind::Counter,
    help: "Rejected messages sent to the dead-letter topic, by result (delivered, failed, disabled).",
    labels: &["result"],
    buckets: None,
};
pub const ASSIGNED_PARTITIONS: Family = Family {
    name: "lanewatch_assigned_partitions",
    kind: Kind::Gauge,
    help: "Partitions currently assigned to this instance.",
    labels: &[],
    buckets: None,
};
pub const PARTITION_PAUSES: Family = Family {
    name: "lanewatch_partition_pauses_total",
    kind: Kind::Counter,
    help: "Times a partition was paused while a backlog drained because its event time ran more than source.max_partition_drift ahead of the slowest partition with messages waiting (watermark alignment).",
    labels: &[],
    buckets: None,
};
pub const REBALANCES: Family = Family {
    name: "lanewatch_rebalances_total",
    kind: Kind::Counter,
    help: "Consumer-group rebalances by kind (assign, revoke).",
    labels: &["kind"],
    buckets: None,
};

// The HTTP server's basic auth.
pub const HTTP_AUTH_CHECKS: Family = Family {
    name: "lanewatch_http_auth_checks_total",
    kind: Kind::Counter,
    help: "Basic-auth checks of /metrics requests by result: allowed, denied (wrong user, password or header), throttled (bcrypt budget of the second spent: 429).",
    labels: &["result"],
    buckets: None,
};
pub const HTTP_AUTH_BCRYPT_SECONDS: Family = Family {
    name: "lanewatch_http_auth_bcrypt_seconds_total",
    kind: Kind::Counter,
    help: "Time spent in bcrypt checks of basic-auth credentials (at most 0.2 s per second).",
    labels: &[],
    buckets: None,
};

// Per lane.
pub const PASSAGES: Family = Family {
    name: "lanewatch_passages_total",
    kind: Kind::Counter,
    help: "Vehicles that passed the lane (accepted, de-duplicated events).",
    labels: LANE,
    buckets: None,
};
pub const PASSAGE_DURATION: Family = Family {
    name: "lanewatch_passage_duration_seconds",
    kind: Kind::Histogram,
    help: "Passage time of a vehicle through the lane: departed_at - arrived_at.",
    labels: LANE,
    buckets: Some(Buckets::Passage),
};
pub const QUEUE_WAIT: Family = Family {
    name: "lanewatch_queue_wait_seconds",
    kind: Kind::Histogram,
    help: "Time queued before inspection: inspection_started_at - arrived_at (events that carry it).",
    labels: LANE,
    buckets: Some(Buckets::QueueWait),
};
pub const INSPECTION_DURATION: Family = Family {
    name: "lanewatch_inspection_duration_seconds",
    kind: Kind::Histogram,
    help: "Inspection time: departed_at - inspection_started_at (events that carry it).",
    labels: LANE,
    buckets: Some(Buckets::Inspection),
};
pub const DEPARTURE_HEADWAY: Family = Family {
    name: "lanewatch_departure_headway_seconds",
    kind: Kind::Histogram,
    help: "Time between consecutive departures of the lane, in event-time order (out-of-order events give none).",
    labels: LANE,
    buckets: Some(Buckets::Headway),
};
pub const LANE_LAST_DEPARTURE: Family = Family {
    name: "lanewatch_lane_last_departure_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Event time (Unix seconds) of the newest departure seen on the lane; 0 before the first.",
    labels: LANE,
    buckets: None,
};
pub const LANE_THROUGHPUT: Family = Family {
    name: "lanewatch_lane_throughput_per_minute",
    kind: Kind::Gauge,
    help: "Departures per minute over the newest closed event-time window.",
    labels: LANE_WINDOW,
    buckets: None,
};
pub const LANE_PASSAGE_QUANTILE: Family = Family {
    name: "lanewatch_lane_passage_quantile_seconds",
    kind: Kind::Summary,
    help: "Exact nearest-rank passage-time quantiles over the newest closed event-time window (a summary over a sliding window, without _sum/_count: see lanewatch_passage_duration_seconds; NaN: no passages). Not summable across instances.",
    labels: LANE_WINDOW,
    buckets: None,
};
pub const LANE_LEVEL_OF_SERVICE: Family = Family {
    name: "lanewatch_lane_level_of_service",
    kind: Kind::Gauge,
    help: "Level of service of the lane's mean passage time in the congestion window, 1 (A) to 6 (F).",
    labels: LANE,
    buckets: None,
};
pub const LANE_QUEUE_LENGTH: Family = Family {
    name: "lanewatch_lane_queue_length_vehicles",
    kind: Kind::Gauge,
    help: "Vehicles queued at the lane by Little's law: departures per minute x mean queue wait (passage - inspection).",
    labels: LANE,
    buckets: None,
};
pub const LANE_INSPECTION_MAX: Family = Family {
    name: "lanewatch_lane_inspection_max_seconds",
    kind: Kind::Gauge,
    help: "The longest inspection a vehicle that uses the lane plausibly takes (the registry's per-class mean inspection x 3.6, the 99.9th percentile of log-normal inspection times), over the classes the lane serves and those no lane of its direction serves: a shorter silence of the lane may be one vehicle inspected.",
    labels: LANE,
    buckets: None,
};
pub const LANE_KIND_LANES: Family = Family {
    name: "lanewatch_lane_kind_lanes",
    kind: Kind::Gauge,
    help: "Lanes of this lane's kind (car, bus, truck, mixed) in its direction, from the registry: several share their vehicles and each sees a steady flow; a lane alone of its kind gets its class's arrivals as they come (longer natural lulls).",
    labels: LANE,
    buckets: None,
};
pub const LANE_NEIGHBOUR_LANES: Family = Family {
    name: "lanewatch_lane_neighbour_lanes",
    kind: Kind::Gauge,
    help: "Other lanes of its direction that take vehicles this lane takes, from the registry: drivers take the shortest queue, so while the lane is open and free no more than these take a vehicle before it does.",
    labels: LANE,
    buckets: None,
};
pub const LANE_PASSED_OVER: Family = Family {
    name: "lanewatch_lane_passed_over_timestamp_seconds",
    kind: Kind::Gauge,
    help: "Event time (Unix seconds) by which more vehicles had passed the lane over than it has neighbour lanes: of the vehicles it takes that another lane of its direction cleared, having arrived after its newest departure, the (neighbour lanes + 1)-th earliest arrival; NaN while fewer did, and again at its next departure. Once its direction's newest departure is more than one longest inspection past it, the lane was free and drivers passed it over: it takes no vehicles (LaneStalled).",
    labels: LANE,
    buckets: None,
};
pub const LANE_SCHEDULED_OPEN: Family = Family {
    name: "lanewatch_lane_scheduled_open",
    kind: Kind::Gauge,
    help: "1 while the registry's `open` hours have the lane open (in the checkpoint's time zone; always for lanes without hours or not in the registry), else 0. A lane the schedule closes is not a stalled lane.",
    labels: LANE,
    buckets: None,
};

// Per checkpoint direction: the congestion analysis.
pub const CHECKPOINT_ARRIVAL_RATE: Family = Family {
    name: "lanewatch_checkpoint_arrival_rate_per_minute",
    kind: Kind::Gauge,
    help: "Vehicles arriving per minute (λ) over the congestion window, recovered from departures and the change of passage time.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_SERVICE_RATE: Family = Family {
    name: "lanewatch_checkpoint_service_rate_per_minute",
    kind: Kind::Gauge,
    help: "Vehicles one open lane clears per minute (μ): 1/mean inspection time, else the lanes' saturation flow. NaN until measurable.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_OPEN_LANES: Family = Family {
    name: "lanewatch_checkpoint_open_lanes",
    kind: Kind::Gauge,
    help: "Lanes open in the congestion window: with departures, or scheduled open in the registry.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_LANES: Family = Family {
    name: "lanewatch_checkpoint_lanes",
    kind: Kind::Gauge,
    help: "Lanes the checkpoint direction has (registered and seen).",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_RECOMMENDED_LANES: Family = Family {
    name: "lanewatch_checkpoint_recommended_lanes",
    kind: Kind::Gauge,
    help: "Smallest number of open lanes for which M/M/c (Erlang C) gives P(wait > congestion.target_wait) < congestion.risk, capped at the lanes the direction has.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_CAPACITY_EXCEEDED: Family = Family {
    name: "lanewatch_checkpoint_capacity_exceeded",
    kind: Kind::Gauge,
    help: "1 when even every lane of the direction cannot meet the wait target (arrivals beyond capacity), else 0.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_WAIT_PROBABILITY: Family = Family {
    name: "lanewatch_checkpoint_wait_probability",
    kind: Kind::Gauge,
    help: "Erlang C probability that a vehicle waits longer than congestion.target_wait with the lanes open now.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_PASSAGE_P95: Family = Family {
    name: "lanewatch_checkpoint_passage_p95_seconds",
    kind: Kind::Gauge,
    help: "Nearest-rank p95 passage time over all lanes of the direction in the congestion window (NaN: no passages).",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_LEVEL_OF_SERVICE: Family = Family {
    name: "lanewatch_checkpoint_level_of_service",
    kind: Kind::Gauge,
    help: "Level of service of the mean passage time, 1 (A) to 6 (F); bands in congestion.los_bands.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_CONGESTED: Family = Family {
    name: "lanewatch_checkpoint_congested",
    kind: Kind::Gauge,
    help: "1 while congested: entered when p95 passage >= congestion.enter_p95, left when below congestion.leave_p95, each after congestion.min_dwell.",
    labels: DIR,
    buckets: None,
};
pub const CHECKPOINT_PARTITIONS: Family = Family {
    name: "lanewatch_checkpoint_partitions",
    kind: Kind::Gauge,
    help: "Source partitions this instance reads the direction's events from. The analysis needs all of a direction's lanes in one instance: producers key by <checkpoint>/<direction>; more than one partition (or instance) means they do not.",
    labels: DIR,
    buckets: None,
};

/// Every family, in exposition order of kind: pipeline, source, HTTP, lanes, directions.
pub const ALL: &[Family] = &[
    EVENTS_RECEIVED,
    EVENTS_REJECTED,
    EVENTS_DUPLICATE,
    EVENTS_LATE,
    LANE_OVERFLOW_EVENTS,
    LANES_DYNAMIC,
    NEWEST_EVENT_TIMESTAMP,
    NEWEST_EVENT_AGE,
    BUILD_INFO,
    CONSUMER_LAG_MESSAGES,
    CONSUMER_LAG_SECONDS,
    BROKER_CONNECTED,
    OFFSET_COMMITS,
    DEAD_LETTERS,
    ASSIGNED_PARTITIONS,
    PARTITION_PAUSES,
    REBALANCES,
    HTTP_AUTH_CHECKS,
    HTTP_AUTH_BCRYPT_SECONDS,
    PASSAGES,
    PASSAGE_DURATION,
    QUEUE_WAIT,
    INSPECTION_DURATION,
    DEPARTURE_HEADWAY,
    LANE_LAST_DEPARTURE,
    LANE_THROUGHPUT,
    LANE_PASSAGE_QUANTILE,
    LANE_LEVEL_OF_SERVICE,
    LANE_QUEUE_LENGTH,
    LANE_INSPECTION_MAX,
    LANE_KIND_LANES,
    LANE_NEIGHBOUR_LANES,
    LANE_PASSED_OVER,
    LANE_SCHEDULED_OPEN,
    CHECKPOINT_ARRIVAL_RATE,
    CHECKPOINT_SERVICE_RATE,
    CHECKPOINT_OPEN_LANES,
    CHECKPOINT_LANES,
    CHECKPOINT_RECOMMENDED_LANES,
    CHECKPOINT_CAPACITY_EXCEEDED,
    CHECKPOINT_WAIT_PROBABILITY,
    CHECKPOINT_PASSAGE_P95,
    CHECKPOINT_LEVEL_OF_SERVICE,
    CHECKPOINT_CONGESTED,
    CHECKPOINT_PARTITIONS,
];

/// The family named `name` (a sample's name with `_bucket`, `_sum` or `_count` of a
/// histogram is its family's).
pub fn family(name: &str) -> Option<&'static Family> {
    ALL.iter().find(|f| f.name == name).or_else(|| {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))?;
        ALL.iter()
            .find(|f| f.name == base && f.kind == Kind::Histogram)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_follow_the_conventions() {
        let mut names: Vec<&str> = ALL.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a family is declared twice");
        for f in ALL {
            assert!(f.name.starts_with("lanewatch_"), "{}", f.name);
            assert_eq!(
                f.kind == Kind::Counter,
                f.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                f.name
            );
            assert_eq!(f.kind == Kind::Histogram, f.buckets.is_some(), "{}", f.name);
            assert!(f.help.len() > 20 && !f.help.contains('\n'), "{}", f.name);
        }
    }
}
