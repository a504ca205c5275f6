//! Exit statuses of the `lanewatch` binary, the same in every sub-command: 2 and one
//! line naming the fix when a flag, the configuration or a path the user gave is
//! refused; 1 when the work started and then failed (here: writing to a full disk).
//! No broker is needed: every case ends before one would be reached.

use std::path::Path;
use std::process::Command;

/// Run `lanewatch ARGS` from the repository root with logging off: the exit status and
/// the lines on stderr.
fn lanewatch(args: &[&str]) -> (Option<i32>, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "off")
        .output()
        .expect("run lanewatch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    (out.status.code(), lines)
}

/// Status `code` and one line `lanewatch: …` containing every one of `words`.
fn assert_ends(args: &[&str], code: i32, words: &[&str]) {
    let (status, lines) = lanewatch(args);
    assert_eq!(status, Some(code), "{args:?}: {lines:#?}");
    assert_eq!(lines.len(), 1, "{args:?}: one line, got {lines:#?}");
    let line = &lines[0];
    assert!(line.starts_with("lanewatch: "), "{args:?}: {line}");
    for w in words {
        assert!(line.contains(w), "{args:?}: {w:?} not in {line}");
    }
}

const EVENT: &str = r#"{"event_id":"e-1","checkpoint":"baimiao","direction":"inbound","lane":"03","vehicle_class":"car","arrived_at":"2026-11-26T07:31:02.120+08:00","inspection_started_at":"2026-11-26T07:33:10.000+08:00","departed_at":"2026-11-26T07:33:40.500+08:00"}"#;

#[test]
fn a_bad_configuration_exits_2_in_check_config_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[source]\ntopik = \"passages\"\n").unwrap();
    let bad = bad.to_str().unwrap();
    for cmd in ["check-config", "run"] {
        assert_ends(&[cmd, "--config", bad], 2, &["bad.toml", "topik"]);
        assert_ends(
            &[cmd, "--config", "/nonexistent/lanewatch.toml"],
            2,
            &["/nonexistent/lanewatch.toml", "--config"],
        );
    }
}

/// The registry's traffic tables belong to the simulator, which validates them; a bad
/// one is still refused by `check-config` and by `simulate`, naming the registry file
/// and the field.
#[test]
fn a_bad_traffic_table_is_refused_by_check_config_and_simulate() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("lanes.toml");
    std::fs::write(
        &registry,
        "[[checkpoint]]\nid = \"t\"\n[[checkpoint.lane]]\ndirection = \"inbound\"\nids = [\"01\"]\n\
         [checkpoint.traffic]\ninbound_peak_per_hour = -5\n",
    )
    .unwrap();
    let config = dir.path().join("lanewatch.toml");
    std::fs::write(&config, "registry = \"lanes.toml\"\n").unwrap();
    let words = ["lanes.toml", "checkpoint[0].traffic.inbound_peak_per_hour"];
    assert_ends(
        &["check-config", "--config", config.to_str().unwrap()],
        2,
        &words,
    );
    let out = dir.path().join("day.jsonl");
    assert_ends(
        &[
            "simulate",
            "--registry",
            registry.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        2,
        &words,
    );
    // A field the traffic model does not know is named too.
    std::fs::write(
        &registry,
        "[[checkpoint]]\nid = \"t\"\n[checkpoint.traffic]\ninbound_peak = 5\n",
    )
    .unwrap();
    assert_ends(
        &["check-config", "--config", config.to_str().unwrap()],
        2,
        &["lanes.toml", "checkpoint[0].traffic", "inbound_peak"],
    );
}

#[test]
fn bad_simulate_options_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("day.jsonl");
    let out = out.to_str().unwrap();
    // Checked by the simulator, not by clap: exited 1 before.
    assert_ends(
        &["simulate", "-o", out, "--demand", "2000"],
        2,
        &["--demand", "between 0 and 1000"],
    );
    assert_ends(
        &[
            "simulate",
            "-o",
            out,
            "--incident",
            "nowhere/inbound/01@07:30+45m",
        ],
        2,
        &["unknown checkpoint", "nowhere", "baimiao"],
    );
    assert_ends(
        &[
            "simulate",
            "-o",
            "/nonexistent/dir/day.jsonl",
            "--duration",
            "1m",
        ],
        2,
        &["/nonexistent/dir/day.jsonl"],
    );
    assert_ends(
        &["simulate", "--registry", "/nonexistent/checkpoints.toml"],
        2,
        &["/nonexistent/checkpoints.toml"],
    );
    // Refused by clap.
    let (status, _) = lanewatch(&["simulate", "--no-such-flag"]);
    assert_eq!(status, Some(2));
}

#[test]
fn bad_replay_flags_exit_2() {
    assert_ends(&["replay"], 2, &["nothing to replay", "--input"]);
    assert_ends(
        &["replay", "--input", "-", "--window", "1500ms"],
        2,
        &["--window"],
    );
    assert_ends(
        &["replay", "--input", "/nonexistent/events.jsonl"],
        2,
        &["/nonexistent/events.jsonl", "--input"],
    );
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("bad.jsonl.gz");
    std::fs::write(&gz, b"this is not gzip").unwrap();
    assert_ends(
        &["replay", "--input", gz.to_str().unwrap()],
        2,
        &["bad.jsonl.gz"],
    );
}

#[test]
fn a_bad_demo_speed_exits_2() {
    assert_ends(
        &["demo", "--speed", "500", "--listen", "127.0.0.1:0"],
        2,
        &["--speed", "between 1 and 120"],
    );
}

#[test]
fn writing_to_a_full_disk_exits_1() {
    if !Path::new("/dev/full").exists() {
        eprintln!("no /dev/full: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, format!("{EVENT}\n")).unwrap();
    assert_ends(
        &[
            "replay",
            "--input",
            input.to_str().unwrap(),
            "--output",
            "/dev/full",
        ],
        1,
        &["/dev/full"],
    );
    assert_ends(
        &[
            "simulate",
            "-o",
            "/dev/full",
            "--speed",
            "max",
            "--start",
            "2026-11-26T07:00:00+08:00",
            "--duration",
            "1h",
        ],
        1,
        &["/dev/full"],
    );
}
