//! The flags of `lanewatch simulate` ([`SimulateArgs`]) and the parsers of their values,
//! converted to [`SimulateOptions`]; every parse error says what to write instead.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::event::Reason;
use crate::simulate::options::{parse_incident_arg, parse_open_lanes};
use crate::simulate::{Incident, OpenLanes, SimulateOptions, Speed};

/// Realistic commuter traffic into Kafka or a JSONL file.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Checkpoint registry: checkpoints, lanes and their [checkpoint.traffic] tables.
    #[arg(long, value_name = "FILE", default_value = "config/checkpoints.toml")]
    pub registry: PathBuf,
    /// First simulated instant, RFC 3339 with offset, e.g. 2026-11-26T06:00:00+08:00
    /// [default: the latest 06:00 Beijing time].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start: Option<i64>,
    /// Length of the simulated range (vehicles that arrived in it are still served).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// End of the simulated range instead of --duration (RFC 3339 with offset).
    #[arg(long, value_name = "TIME", value_parser = parse_time, conflicts_with = "duration")]
    pub end: Option<i64>,
    /// Pace: simulated seconds per wall-clock second (1 = real time, 60 = an hour a
    /// minute), or "max" for as fast as the output takes them.
    #[arg(long, value_name = "FACTOR|max", default_value = "60")]
    pub speed: Speed,
    /// Random seed: the same seed and flags give byte-identical output.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Multiply every checkpoint's demand (arrivals per hour), e.g. 1.3 for a holiday;
    /// beyond the lanes' capacity the queues grow for as long as the peak lasts.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0)]
    pub demand: f64,
    /// An incident, every simulated day: CHECKPOINT/DIRECTION/LANE|*@HH:MM+DURATION,
    /// closing the lane(s), or with :slow=F multiplying inspection times by F.
    /// E.g. baimiao/inbound/03@07:30+45m or baimiao/inbound/*@07:30+45m:slow=3.
    #[arg(long = "incident", value_name = "SPEC", value_parser = parse_incident_arg)]
    pub incidents: Vec<Incident>,
    /// Staff exactly N lanes of a kind (the first in the registry), for the whole run or
    /// daily from HH:MM for a duration: CHECKPOINT/DIRECTION/KIND=N[@HH:MM+DURATION].
    /// A later flag wins, e.g. --open-lanes baimiao/inbound/car=2
    /// --open-lanes baimiao/inbound/car=6@07:30+2h.
    #[arg(long = "open-lanes", value_name = "SPEC", value_parser = parse_open_lanes)]
    pub open_lanes: Vec<OpenLanes>,
    /// Fraction of passages whose event the sensor sends twice.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub duplicates: f64,
    /// Fraction of passages delivered late, out of order, by up to --late-by.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub late: f64,
    /// Largest delay of a late event.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub late_by: Duration,
    /// Fraction of passages whose event is replaced by a malformed message.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub malformed: f64,
    /// Rejection reasons the malformed messages are spread over (comma-separated).
    /// future_event is only rejected by a live consumer near the simulated time.
    #[arg(
        long,
        value_name = "REASONS",
        value_delimiter = ',',
        value_parser = parse_reason,
        default_value = "too_large,not_utf8,invalid_json,missing_field,invalid_field,departed_before_arrived,inspection_out_of_range,passage_too_long"
    )]
    pub malformed_reasons: Vec<Reason>,
    /// Size a too_large message exceeds (the consumer's events.max_event_bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 65_536)]
    pub max_event_bytes: usize,
    /// Write JSONL (one event per line) to FILE, or to standard output with "-",
    /// instead of producing to Kafka.
    #[arg(long, short, value_name = "FILE|-", conflicts_with_all = ["brokers", "topic", "kafka_options"])]
    pub output: Option<PathBuf>,
    /// Kafka bootstrap servers.
    #[arg(long, value_name = "HOST:PORT,...", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Kafka topic (messages keyed <checkpoint>/<direction>).
    #[arg(long, value_name = "TOPIC", default_value = "checkpoint.passages")]
    pub topic: String,
    /// A librdkafka producer option, repeatable, e.g. -X compression.type=zstd.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub kafka_options: Vec<(String, String)>,
    /// Also write the ground truth to FILE (JSONL): per checkpoint direction and
    /// --truth-window, the true arrivals, passage times, queue, lanes open and the
    /// Erlang C advice on the true rates (every vehicle, whatever became of its event).
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Window of the ground truth (tumbling, aligned to the Unix epoch).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub truth_window: Duration,
    /// Target wait of the truth's Erlang C advice [default: congestion.target_wait of
    /// the shipped configuration, 10m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub truth_target_wait: Option<Duration>,
    /// Acceptable P(wait > target) of the truth's Erlang C advice [default:
    /// congestion.risk of the shipped configuration, 0.1].
    #[arg(long, value_name = "FRACTION")]
    pub truth_risk: Option<f64>,
}

impl From<SimulateArgs> for SimulateOptions {
    fn from(a: SimulateArgs) -> Self {
        SimulateOptions {
            registry: a.registry,
            start: a.start,
            duration: a.duration,
            end: a.end,
            speed: a.speed,
            seed: a.seed,
            demand: a.demand,
            incidents: a.incidents,
            open_lanes: a.open_lanes,
            duplicates: a.duplicates,
            late: a.late,
            late_by: a.late_by,
            malformed: a.malformed,
            malformed_reasons: a.malformed_reasons,
            max_event_bytes: a.max_event_bytes,
            output: a.output,
            brokers: a.brokers,
            topic: a.topic,
            kafka_options: a.kafka_options,
            truth: a.truth,
            truth_window: a.truth_window,
            truth_target_wait: a.truth_target_wait,
            truth_risk: a.truth_risk,
        }
    }
}

fn parse_time(s: &str) -> Result<i64, String> {
    crate::engine::time::parse_timestamp(s).ok_or_else(|| {
        format!("{s:?} is not an RFC 3339 time with offset: write e.g. 2026-11-26T06:00:00+08:00")
    })
}

fn parse_reason(s: &str) -> Result<Reason, String> {
    Reason::ALL
        .into_iter()
        .find(|r| r.as_str() == s)
        .ok_or_else(|| {
            let names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
            format!("{s:?} is not a rejection reason: use {}", names.join(", "))
        })
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "{s:?} is not KEY=VALUE: write e.g. -X compression.type=zstd"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LaneKind;
    use crate::simulate::imperfect::DEFAULT_MALFORMED;
    use crate::simulate::traffic::Effect;
    use crate::simulate::{Output, SimulateOptions, Speed};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(args: &[&str]) -> Result<SimulateOptions, String> {
        Cli::try_parse_from(std::iter::once("simulate").chain(args.iter().copied()))
            .map(|c| c.args.into())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse(&[
            "--start",
            "2026-11-26T06:00:00+08:00",
            "--duration",
            "2h",
            "--speed",
            "max",
            "-o",
            "-",
        ])
        .unwrap();
        let o = a.options(0).unwrap();
        assert_eq!(o.end_ms - o.start_ms, 2 * 3_600_000);
        assert_eq!(
            o.start_ms,
            crate::engine::time::parse_timestamp("2026-11-26T06:00:00+08:00").unwrap()
        );
        assert_eq!(a.speed, Speed::Max);
        assert_eq!(a.output(), Output::Stdout);
        assert_eq!(
            o.imperfections.malformed_reasons,
            DEFAULT_MALFORMED.to_vec()
        );
        let e = parse(&[
            "--start",
            "2026-11-26T06:00:00+08:00",
            "--end",
            "2026-11-26T09:00:00+08:00",
        ])
        .unwrap();
        let o = e.options(0).unwrap();
        assert_eq!(o.end_ms - o.start_ms, 3 * 3_600_000);
        let now = 1_795_968_000_000; // a local midnight: the default start is 18 h earlier
        assert_eq!(
            parse(&[]).unwrap().options(now).unwrap().start_ms,
            now - 18 * 3_600_000
        );
        let k = parse(&["-X", "linger.ms=5", "--brokers", "h:1", "--speed", "2.5"]).unwrap();
        assert_eq!(k.speed, Speed::Factor(2.5));
        assert_eq!(
            k.output(),
            Output::Kafka {
                brokers: "h:1".into(),
                topic: "checkpoint.passages".into(),
                options: vec![("linger.ms".into(), "5".into())]
            }
        );
    }

    #[test]
    fn specs_parse() {
        let a = parse(&[
            "--incident",
            "baimiao/inbound/*@07:30+45m:slow=3",
            "--open-lanes",
            "baimiao/inbound/car=2",
            "--open-lanes",
            "yanjiao/outbound/bus=1@17:00+2h",
        ])
        .unwrap();
        assert_eq!(a.incidents[0].checkpoint, "baimiao");
        assert_eq!(a.incidents[0].spec.effect, Effect::Slow(3.0));
        assert_eq!(a.open_lanes[0].count, 2);
        assert_eq!(a.open_lanes[0].window, None);
        assert_eq!(a.open_lanes[1].kind, LaneKind::Bus);
        assert_eq!(
            a.open_lanes[1].window,
            Some((17 * 3_600_000, 2 * 3_600_000))
        );
    }

    #[test]
    fn truth_flags() {
        assert_eq!(parse(&[]).unwrap().truth_options().unwrap(), None);
        let shipped = crate::config::Config::shipped().congestion;
        let o = parse(&["--truth", "t.jsonl", "-o", "e.jsonl"])
            .unwrap()
            .truth_options()
            .unwrap()
            .unwrap();
        assert_eq!(o.window_ms, 300_000);
        assert_eq!(o.target_wait_ms, shipped.target_wait_ms);
        assert_eq!(o.risk, shipped.risk);
        assert_eq!(o.enter_p95_ms, shipped.enter_p95_ms);
        assert_eq!(o.leave_p95_ms, shipped.leave_p95_ms);
        assert_eq!(o.min_dwell_ms, shipped.min_dwell_ms);
        let o = parse(&[
            "--truth",
            "t.jsonl",
            "--truth-window",
            "1m",
            "--truth-target-wait",
            "5m",
            "--truth-risk",
            "0.05",
        ])
        .unwrap()
        .truth_options()
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.window_ms, o.target_wait_ms, o.risk),
            (60_000, 300_000, 0.05)
        );
        let e = parse(&["--truth", "x.jsonl", "-o", "x.jsonl"])
            .unwrap()
            .truth_options()
            .unwrap_err()
            .to_string();
        assert!(e.contains("give the truth its own file"), "{e}");
        // Out-of-range values are refused when the simulator takes them.
        let registry = crate::config::Config::shipped().registry;
        for (flag, value, hint) in [
            (
                "--truth-risk",
                "1.5",
                "--truth-risk must lie strictly between 0 and 1",
            ),
            (
                "--truth-window",
                "500ms",
                "--truth-window must be between 1s and 24h",
            ),
        ] {
            let a = parse(&["--truth", "t.jsonl", flag, value]).unwrap();
            let now = 1_795_968_000_000;
            let sim =
                crate::simulate::sim::Simulator::new(&registry, a.options(now).unwrap()).unwrap();
            let e = sim
                .with_truth(a.truth_options().unwrap().unwrap())
                .err()
                .expect(hint)
                .to_string();
            assert!(e.contains(hint), "{e}");
        }
    }

    #[test]
    fn bad_values_say_what_to_write() {
        for (args, hint) in [
            (&["--incident", "baimiao"][..], "CHECKPOINT/DIRECTION/LANE"),
            (
                &["--incident", "baimiao/inbound/03@25:00+1h"],
                "not a local time",
            ),
            (&["--open-lanes", "baimiao/inbound/car"], "no '=N'"),
            (
                &["--open-lanes", "baimiao/inbound/van=2"],
                "not a lane kind",
            ),
            (
                &["--open-lanes", "baimiao/car=2"],
                "not CHECKPOINT/DIRECTION/KIND",
            ),
            (&["--speed", "fast"], "not a speed"),
            (&["--start", "yesterday"], "RFC 3339"),
            (
                &["--malformed-reasons", "invalid_json,bogus"],
                "not a rejection reason",
            ),
            (&["-X", "linger.ms"], "KEY=VALUE"),
            (
                &["--output", "x.jsonl", "--brokers", "h:1"],
                "cannot be used with",
            ),
            (
                &["--end", "2026-11-26T06:00:00+08:00", "--duration", "1h"],
                "cannot be used with",
            ),
        ] {
            let e = parse(args).expect_err(hint);
            assert!(e.contains(hint), "{args:?}: {e}");
        }
    }
}
