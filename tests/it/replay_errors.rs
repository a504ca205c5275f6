//! Bad `lanewatch replay` arguments end in one clear line naming the fix, never a
//! panic: a missing range for Kafka, `--from` after `--to`, an unreadable file, an
//! unreachable broker, no input at all, unparsable times and windows.

use crate::support::replay as helpers;

use clap::Parser;
use helpers::replay;
use lanewatch::cli::ReplayArgs;
use lanewatch::replay::ReplayError;

fn err(args: &[&str]) -> (ReplayError, String) {
    let e = replay(args).expect_err("the replay must fail");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    (e, msg)
}

#[test]
fn kafka_without_a_range_is_refused() {
    let (e, msg) = err(&[
        "--brokers",
        "127.0.0.1:1",
        "--from",
        "2025-11-26T06:00:00+08:00",
    ]);
    assert!(matches!(e, ReplayError::MissingRange), "{e:?}");
    assert!(msg.contains("--from") && msg.contains("--to"), "{msg}");
}

#[test]
fn from_after_to_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.jsonl");
    std::fs::write(&f, "").unwrap();
    let (e, msg) = err(&[
        "--input",
        f.to_str().unwrap(),
        "--from",
        "2025-11-26T09:00:00+08:00",
        "--to",
        "2025-11-26T06:00:00+08:00",
    ]);
    assert!(matches!(e, ReplayError::EmptyRange { .. }), "{e:?}");
    assert!(
        msg.contains("2025-11-26T09:00:00+08:00") && msg.contains("not before"),
        "{msg}"
    );
}

#[test]
fn an_unreadable_file_is_named() {
    let (e, msg) = err(&["--input", "/nonexistent/dir/events.jsonl"]);
    assert!(matches!(e, ReplayError::File(_)), "{e:?}");
    assert!(
        msg.contains("/nonexistent/dir/events.jsonl") && msg.contains("--input"),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_, msg) = err(&["--input", dir.path().to_str().unwrap()]);
    assert!(msg.contains("directory"), "{msg}");
    // A corrupt gzip file: reading fails with the path named.
    let gz = dir.path().join("bad.jsonl.gz");
    std::fs::write(&gz, b"this is not gzip").unwrap();
    let (e, msg) = err(&["--input", gz.to_str().unwrap()]);
    assert!(
        matches!(e, ReplayError::File(_)) && msg.contains("bad.jsonl.gz"),
        "{msg}"
    );
}

#[test]
fn an_unreachable_broker_is_named() {
    // Port 1 on loopback: nothing listens.
    let (e, msg) = err(&["--brokers", "127.0.0.1:1", "--from", "1000", "--to", "2000"]);
    assert!(matches!(e, ReplayError::Unreachable { .. }), "{e:?}");
    assert!(
        msg.contains("127.0.0.1:1") && msg.contains("--brokers"),
        "{msg}"
    );
}

#[test]
fn no_input_says_what_to_give() {
    let (e, msg) = err(&[]);
    assert!(matches!(e, ReplayError::NoInput), "{e:?}");
    assert!(
        msg.contains("--input") && msg.contains("--brokers"),
        "{msg}"
    );
}

#[test]
fn a_bad_window_is_refused() {
    let (e, msg) = err(&["--input", "-", "--window", "1500ms"]);
    assert!(matches!(e, ReplayError::BadWindow(1500)), "{e:?}");
    assert!(msg.contains("--window"), "{msg}");
}

#[test]
fn unparsable_flags_are_clap_errors_naming_the_flag() {
    for (args, flag) in [
        (
            &["replay", "--input", "x", "--from", "yesterday"][..],
            "--from",
        ),
        (
            &["replay", "--input", "x", "--window", "five minutes"][..],
            "--window",
        ),
        (
            &["replay", "--input", "x", "--brokers", "h:1"][..],
            "--brokers",
        ),
        (
            &["replay", "--input", "x", "--format", "xml"][..],
            "--format",
        ),
    ] {
        let e = ReplayArgs::try_parse_from(args).expect_err("must not parse");
        let msg = e.to_string();
        assert!(
            msg.lines().next().unwrap().contains(flag),
            "{args:?}: {msg}"
        );
    }
}

/// A replay that analyses nothing says why and fails (issue #14), unless
/// `--allow-empty`: an empty input, or a range that none of the events falls in.
#[test]
fn a_replay_that_analyses_nothing_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let (e, msg) = err(&["--input", empty.to_str().unwrap()]);
    assert!(matches!(e, ReplayError::Empty { .. }), "{e:?}");
    assert!(
        msg.contains("no events") && msg.contains("--allow-empty"),
        "{msg}"
    );
    let f = dir.path().join("e.jsonl");
    std::fs::write(
        &f,
        r#"{"event_id":"a","checkpoint":"cp","direction":"inbound","lane":"01","arrived_at":"2026-03-02T08:00:00+08:00","departed_at":"2026-03-02T08:01:00+08:00"}"#,
    )
    .unwrap();
    let range = [
        "--input",
        f.to_str().unwrap(),
        "--from",
        "2026-03-03T08:00:00+08:00",
        "--to",
        "2026-03-03T09:00:00+08:00",
    ];
    let (_, msg) = err(&range);
    assert!(
        msg.contains("none of the 1 events read departed in") && msg.contains("1 outside"),
        "{msg}"
    );
    let mut allowed = range.to_vec();
    allowed.push("--allow-empty");
    replay(&allowed).expect("--allow-empty writes the empty report");
}

/// Unix milliseconds outside what a timestamp can be are refused by the flag parser
/// (issue #14): `--from=-9223372036854775808` used to wrap the range arithmetic.
#[test]
fn times_beyond_the_calendar_are_refused() {
    for t in ["-9223372036854775808", "9223372036854775807"] {
        let from = format!("--from={t}");
        let e = ReplayArgs::try_parse_from(["replay", "--input", "x", from.as_str()])
            .expect_err("refused");
        let msg = e.to_string();
        assert!(msg.contains("--from") && msg.contains("years"), "{msg}");
    }
}

/// A gzip bomb of one endless line (issue #14: 2 GB of zeros in 8.7 MB used to be read
/// into memory whole before the size limit was checked) is cut as it is read: the line
/// is rejected as too large and the events around it are replayed.
#[test]
fn an_endless_gzipped_line_is_rejected_as_too_large_and_the_rest_replays() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bomb.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&f).unwrap(),
        flate2::Compression::fast(),
    );
    let ev = |id: &str| {
        format!(
            r#"{{"event_id":"{id}","checkpoint":"cp","direction":"inbound","lane":"01","arrived_at":"2026-03-02T08:00:00+08:00","departed_at":"2026-03-02T08:01:00+08:00"}}"#
        )
    };
    writeln!(gz, "{}", ev("a")).unwrap();
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..32 {
        gz.write_all(&zeros).unwrap();
    }
    writeln!(gz).unwrap();
    writeln!(gz, "{}", ev("b")).unwrap();
    gz.finish().unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let (_, j) = helpers::replay_json(dir2.path(), "r.json", &["--input", f.to_str().unwrap()]);
    assert_eq!(j["events"]["read"], 3, "{}", j["events"]);
    assert_eq!(j["events"]["accepted"], 2);
    assert_eq!(j["events"]["rejected"]["too_large"], 1);
}

/// A window so small for the range that the report would hold millions of windows per
/// lane (issue #14: `--window 1s` over 2 days took 99.7 s and 2.85 GB) is refused,
/// naming the flag and the fix.
#[test]
fn a_window_too_small_for_the_range_is_refused_naming_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("two-days.jsonl");
    let mut text = String::new();
    // 60 lanes × 2 days of 1-second windows: 10.4 million lane-windows.
    for lane in 0..60 {
        for (i, day) in ["02", "04"].iter().enumerate() {
            text.push_str(&format!(
                "{{\"event_id\":\"{lane}-{i}\",\"checkpoint\":\"cp\",\"direction\":\"inbound\",\"lane\":\"L{lane}\",\"arrived_at\":\"2026-03-{day}T08:00:00+08:00\",\"departed_at\":\"2026-03-{day}T08:01:00+08:00\"}}\n"
            ));
        }
    }
    std::fs::write(&f, text).unwrap();
    let (e, msg) = err(&["--input", f.to_str().unwrap(), "--window", "1s"]);
    assert!(matches!(e, ReplayError::TooManyWindows { .. }), "{e:?}");
    assert!(
        msg.contains("--window 1s") && msg.contains("60 lanes") && msg.contains("larger --window"),
        "{msg}"
    );
    replay(&["--input", f.to_str().unwrap(), "--window", "5m"]).expect("5m windows fit");
}
