//! `lanewatch replay --input`: ground truth. A seeded dataset with known passage times
//! (duplicates, malformed lines, out-of-order and late events, events outside the
//! range) is replayed from a file; every count, quantile, window, peak hour and
//! congestion episode is checked against values computed here from the definitions.

use crate::support::replay as helpers;

use std::collections::BTreeMap;
use std::io::Write;

use helpers::{
    CongestionOracle, Passage, T0, dataset, expect, jsonl, nearest_rank_pct, replay, replay_json,
};
use serde_json::Value;

const W: i64 = 300_000;
const LATENESS: i64 = 120_000;

fn ms(v: &Value) -> i64 {
    jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", v.as_str().unwrap())
        .or_else(|_| v.as_str().unwrap().parse::<jiff::Timestamp>())
        .unwrap()
        .as_millisecond()
}

/// `got` (seconds) is the exact nearest-rank `want_ms` (whole-range quantiles are exact
/// at any range).
fn assert_exact(got: &Value, want_ms: i64, what: &str) {
    let got_ms = (got.as_f64().unwrap() * 1000.0).round() as i64;
    assert_eq!(
        got_ms, want_ms,
        "{what}: reported {got_ms} ms, exact nearest rank {want_ms} ms"
    );
}

fn check_summary(s: &Value, mut v: Vec<i64>, what: &str) {
    v.sort();
    let mean = v.iter().sum::<i64>() as f64 / v.len() as f64;
    assert!(
        (s["mean"].as_f64().unwrap() - mean / 1000.0).abs() <= 0.0005 + 1e-9,
        "{what} mean {} vs {}",
        s["mean"],
        mean / 1000.0
    );
    for (k, pct) in [("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)] {
        assert_exact(&s[k], nearest_rank_pct(&v, pct), &format!("{what} {k}"));
    }
    assert_eq!(
        s["max"].as_f64().unwrap(),
        *v.last().unwrap() as f64 / 1000.0,
        "{what} max"
    );
}

/// `per_lane` passages per lane over `hours`, replayed from 30 minutes after the start
/// to 30 minutes before the end, checked against the dataset's own record.
fn run_ground_truth(seed: u64, hours: i64, per_lane: usize) {
    let span = hours * 3_600_000;
    let lines = dataset(seed, T0, span, per_lane, 4);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, jsonl(&lines)).unwrap();
    let (from, to) = (T0 + 30 * 60_000, T0 + span - 30 * 60_000);
    let x = expect(&lines, from, to, W, LATENESS);
    assert!(
        x.late >= 1 && x.duplicates > 10 && x.out_of_range > 100,
        "dataset covers every case"
    );

    let from_s = jiff::Timestamp::from_millisecond(from).unwrap().to_string();
    // `to` in another spelling: Beijing time with its offset.
    let to_s = jiff::Timestamp::from_millisecond(to)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let to_s = to_s.as_str();
    assert!(to_s.ends_with("+08:00"), "{to_s}");
    assert_eq!(to, lanewatch::time::parse_timestamp(to_s).unwrap());
    let args = [
        "--input",
        input.to_str().unwrap(),
        "--from",
        &from_s,
        "--to",
        to_s,
    ];
    let (bytes, j) = replay_json(dir.path(), "a.json", &args);

    // Events.
    let e = &j["events"];
    assert_eq!(e["read"], x.read);
    assert_eq!(e["accepted"], x.accepted);
    assert_eq!(e["duplicates"], x.duplicates);
    assert_eq!(e["late"], x.late);
    assert_eq!(e["out_of_range"], x.out_of_range);
    let rejected: BTreeMap<String, u64> = e["rejected"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.as_u64() != Some(0))
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(rejected, x.rejected);
    assert_eq!(ms(&j["range"]["from"]), from);
    assert_eq!(ms(&j["range"]["to"]), to);

    // Lanes: sorted, every quantile, every window.
    let lanes = j["lanes"].as_array().unwrap();
    let keys: Vec<(String, String, String)> = lanes
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap().to_string();
            (s("checkpoint"), s("direction"), s("lane"))
        })
        .collect();
    assert_eq!(
        keys,
        x.lanes.keys().cloned().collect::<Vec<_>>(),
        "lanes sorted, all present"
    );
    let n_windows = ((to - from) / W) as usize;
    for (l, (key, evs)) in lanes.iter().zip(&x.lanes) {
        let what = format!("{key:?}");
        assert_eq!(l["passages"], evs.len() as u64, "{what} passages");
        let passage: Vec<i64> = evs.iter().map(|e| e.departed - e.arrived).collect();
        check_summary(&l["passage_seconds"], passage, &format!("{what} passage"));
        let queue: Vec<i64> = evs
            .iter()
            .filter_map(|e: &Passage| e.inspection.map(|i| i - e.arrived))
            .collect();
        let insp: Vec<i64> = evs
            .iter()
            .filter_map(|e| e.inspection.map(|i| e.departed - i))
            .collect();
        check_summary(&l["queue_wait_seconds"], queue, &format!("{what} queue"));
        check_summary(
            &l["inspection_seconds"],
            insp,
            &format!("{what} inspection"),
        );
        let tph = evs.len() as f64 / ((to - from) as f64 / 3_600_000.0);
        assert!(
            (l["throughput_per_hour"].as_f64().unwrap() - tph).abs() < 0.001,
            "{what} throughput"
        );

        let ws = l["windows"].as_array().unwrap();
        assert_eq!(
            ws.len(),
            n_windows,
            "{what}: one entry per window of the range"
        );
        let want = &x.windows[key];
        for (k, w) in ws.iter().enumerate() {
            let start = from + k as i64 * W;
            assert_eq!(ms(&w["start"]), start);
            let mut samples = want.get(&start).cloned().unwrap_or_default();
            assert_eq!(
                w["passages"],
                samples.len() as u64,
                "{what} window {k} count"
            );
            samples.sort();
            match samples.is_empty() {
                true => assert!(w["p95_seconds"].is_null()),
                false => assert_eq!(
                    w["p95_seconds"].as_f64().unwrap(),
                    nearest_rank_pct(&samples, 95) as f64 / 1000.0,
                    "{what} window {k} p95 (exact)"
                ),
            }
        }
    }

    // Checkpoint directions: passages, lanes, peak hour, congestion episodes.
    let cps = j["checkpoints"].as_array().unwrap();
    let mut by_dir: BTreeMap<(String, String), Vec<&Passage>> = BTreeMap::new();
    for ((cp, d, _), evs) in &x.lanes {
        by_dir
            .entry((cp.clone(), d.clone()))
            .or_default()
            .extend(evs.iter());
    }
    assert_eq!(cps.len(), by_dir.len());
    for (c, ((cp, d), evs)) in cps.iter().zip(&by_dir) {
        assert_eq!(
            (
                c["checkpoint"].as_str().unwrap(),
                c["direction"].as_str().unwrap()
            ),
            (cp.as_str(), d.as_str())
        );
        assert_eq!(c["passages"], evs.len() as u64);
        let lanes_used = x.lanes.keys().filter(|k| &k.0 == cp && &k.1 == d).count();
        assert_eq!(c["lanes_used"], lanes_used as u64);
        // Peak hour: brute force over every minute, start at its first departure.
        let minute = |t: i64| t.div_euclid(60_000);
        let mut best = (i64::MAX, 0u64);
        for m in minute(from) - 60..=minute(to) {
            let n = evs
                .iter()
                .filter(|e| (m..m + 60).contains(&minute(e.departed)))
                .count() as u64;
            if n > best.1 {
                let first = evs
                    .iter()
                    .map(|e| minute(e.departed))
                    .filter(|&x| x >= m)
                    .min()
                    .unwrap();
                best = (first, n);
            }
        }
        assert_eq!(c["peak_hour_passages"], best.1, "{cp} {d} peak hour");
        assert_eq!(
            ms(&c["peak_hour_start"]),
            best.0 * 60_000,
            "{cp} {d} peak hour start"
        );
        // Congestion: the state of the direction-wide p95 (on-time events) per window,
        // from the definition (enter at 10 min, leave below 7, 10 min dwell; a window
        // of fewer than 20 passages keeps it); episodes are its runs.
        let mut state = CongestionOracle::new(600_000, 420_000, 600_000, 20);
        let mut want_eps: Vec<(i64, i64, i64)> = Vec::new();
        let mut in_episode = false;
        for k in 0..n_windows as i64 {
            let start = from + k * W;
            let mut s: Vec<i64> = x
                .windows
                .iter()
                .filter(|(key, _)| &key.0 == cp && &key.1 == d)
                .flat_map(|(_, w)| w.get(&start).cloned().unwrap_or_default())
                .collect();
            s.sort();
            let p95 = (!s.is_empty()).then(|| nearest_rank_pct(&s, 95));
            if !state.window(s.len(), p95.map(|p| p as f64), start + W) {
                in_episode = false;
                continue;
            }
            match want_eps.last_mut() {
                Some(e) if in_episode => {
                    e.1 = start + W;
                    e.2 = e.2.max(p95.unwrap_or(0));
                }
                _ => want_eps.push((start, start + W, p95.unwrap_or(0))),
            }
            in_episode = true;
        }
        let got_eps: Vec<(i64, i64, i64)> = c["congestion_episodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    ms(&e["start"]),
                    ms(&e["end"]),
                    (e["peak_p95_seconds"].as_f64().unwrap() * 1000.0).round() as i64,
                )
            })
            .collect();
        assert_eq!(got_eps, want_eps, "{cp} {d} congestion episodes");
        if cp == "baimiao" && d == "inbound" {
            assert!(!got_eps.is_empty(), "the congested quarter is found");
        }
    }

    // Identical input → byte-identical JSON; gzip input → the same report.
    let (again, _) = replay_json(dir.path(), "b.json", &args);
    assert!(bytes == again, "JSON differs between two runs");
    let gz = dir.path().join("events.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&jsonl(&lines)).unwrap();
    enc.finish().unwrap();
    let gz_args = [
        "--input",
        gz.to_str().unwrap(),
        "--from",
        &from_s,
        "--to",
        to_s,
    ];
    let (from_gz, _) = replay_json(dir.path(), "c.json", &gz_args);
    assert!(bytes == from_gz, "gzip input gives another report");

    // CSV: a header and one row per lane and window, byte-identical across runs.
    let csv_path = dir.path().join("r.csv");
    let csv_s = csv_path.to_str().unwrap();
    let mut csv_args = args.to_vec();
    csv_args.extend_from_slice(&["--format", "csv", "--output", csv_s]);
    replay(&csv_args).unwrap();
    let csv1 = std::fs::read(&csv_path).unwrap();
    replay(&csv_args).unwrap();
    assert!(
        csv1 == std::fs::read(&csv_path).unwrap(),
        "CSV differs between two runs"
    );
    let text = String::from_utf8(csv1).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows[0][..6],
        [
            "checkpoint",
            "direction",
            "lane",
            "window_start",
            "window_end",
            "passages"
        ]
    );
    assert_eq!(rows.len() - 1, x.lanes.len() * n_windows);
    let total: u64 = rows[1..].iter().map(|r| r[5].parse::<u64>().unwrap()).sum();
    assert_eq!(
        total,
        x.accepted - x.late,
        "CSV window passages = on-time accepted events"
    );

    // Table: one row per lane.
    let table_path = dir.path().join("t.txt");
    let mut t_args = args.to_vec();
    t_args.extend_from_slice(&["--output", table_path.to_str().unwrap()]);
    replay(&t_args).unwrap();
    let table = std::fs::read_to_string(&table_path).unwrap();
    for (cp, d, lane) in x.lanes.keys() {
        assert!(
            table.lines().any(|l| l.split_whitespace().take(3).eq([
                cp.as_str(),
                d.as_str(),
                lane.as_str()
            ])),
            "table has no row for {cp} {d} {lane}:\n{table}"
        );
    }
}

#[test]
fn replay_of_a_file_matches_ground_truth() {
    run_ground_truth(7, 3, 600);
}

#[test]
fn replay_of_another_seed_matches_ground_truth() {
    run_ground_truth(20251126, 3, 600);
}

/// Two days of 6,000 passages a lane: what the replay keeps per lane (windows, values,
/// minutes, slots) outgrows its in-memory chunks and goes through the temporary file,
/// and every number still matches the dataset's own record.
#[test]
fn a_replay_kept_in_its_temporary_file_matches_ground_truth() {
    run_ground_truth(11, 48, 6_000);
}

#[test]
fn without_a_range_every_event_is_in_scope() {
    // Without a range every valid event is in scope; the file comes from a reader.
    let lines = dataset(3, T0, 3_600_000, 50, 0);
    let x = expect(&lines, i64::MIN, i64::MAX, W, LATENESS);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.jsonl");
    std::fs::write(&input, jsonl(&lines)).unwrap();
    let (_, j) = replay_json(
        dir.path(),
        "j.json",
        &["--input", input.to_str().unwrap(), "--window", "1m"],
    );
    assert_eq!(j["events"]["accepted"], x.accepted);
    assert_eq!(j["events"]["out_of_range"], 0);
    assert!(j["range"]["from"].is_null() && j["range"]["to"].is_null());
    let windows: u64 = j["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| {
            l["windows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["passages"].as_u64().unwrap())
        })
        .sum();
    assert_eq!(windows, x.accepted - x.late);
}

/// Ids come from sensors: a CSV cell that a spreadsheet would evaluate as a formula
/// (starting with `=`, `+`, `-` or `@`; of those, ids may start with `-`) is written
/// with a leading `'` (issue #14), and nothing else changes.
#[test]
fn csv_cells_that_a_spreadsheet_would_evaluate_are_made_inert() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.jsonl");
    let ids = [("-2-3", "-A1-B1"), ("-cp", "01"), ("cp", "-1")];
    let lines: String = ids
        .iter()
        .enumerate()
        .map(|(i, (cp, lane))| {
            format!(
                "{{\"event_id\":\"x{i}\",\"checkpoint\":\"{cp}\",\"direction\":\"inbound\",\"lane\":\"{lane}\",\"arrived_at\":\"2026-03-02T08:00:0{i}+08:00\",\"departed_at\":\"2026-03-02T08:01:0{i}+08:00\"}}\n"
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let out = dir.path().join("r.csv");
    replay(&[
        "--input",
        input.to_str().unwrap(),
        "--format",
        "csv",
        "--output",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let mut seen = Vec::new();
    for rec in csv::Reader::from_path(&out).unwrap().records() {
        let rec = rec.unwrap();
        for cell in rec.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "cell {cell:?} would be evaluated"
            );
        }
        seen.push((
            rec[0].strip_prefix('\'').unwrap_or(&rec[0]).to_string(),
            rec[2].strip_prefix('\'').unwrap_or(&rec[2]).to_string(),
        ));
    }
    for (cp, lane) in ids {
        assert!(
            seen.contains(&(cp.to_string(), lane.to_string())),
            "{cp}/{lane} missing from {seen:?}"
        );
    }
}

/// Input in descending time order (issue #14: 200k such events took 49 s, quadratic
/// in the per-lane window vectors) gives the report of the same input in ascending
/// order when the lateness admits both: lane windows, summaries and counts.
#[test]
fn descending_input_gives_the_report_of_ascending_input() {
    let mut lines = dataset(7, T0, 3 * 3_600_000, 400, 0);
    let departed = |l: &helpers::Line| match l {
        helpers::Line::Valid(e) => e.departed,
        helpers::Line::Bad(..) => i64::MIN,
    };
    lines.sort_by_key(departed);
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up.jsonl");
    std::fs::write(&up, jsonl(&lines)).unwrap();
    lines.reverse();
    let down = dir.path().join("down.jsonl");
    std::fs::write(&down, jsonl(&lines)).unwrap();
    let report = |f: &std::path::Path, name: &str| {
        let (_, j) = replay_json(
            dir.path(),
            name,
            &["--input", f.to_str().unwrap(), "--lateness", "30days"],
        );
        j
    };
    let (a, b) = (report(&up, "up.json"), report(&down, "down.json"));
    assert_eq!(a["events"], b["events"]);
    assert_eq!(a["events"]["late"], 0);
    assert_eq!(a["lanes"], b["lanes"]);
}

/// One outlier event (issue #14: departed 1970 in an hour of 2026 traffic asked for
/// 7.9 GB and aborted; two lines in years 0001 and 9999 asked for 67.5 GB): the report's
/// windows cover the days where the events are, the outlier is counted and listed.
#[test]
fn an_outlier_event_is_counted_and_listed_not_a_timeline_of_centuries() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |id: &str, arrived: &str, departed: &str| {
        format!(
            "{{\"event_id\":\"{id}\",\"checkpoint\":\"cp\",\"direction\":\"inbound\",\"lane\":\"01\",\"arrived_at\":\"{arrived}\",\"departed_at\":\"{departed}\"}}\n"
        )
    };
    let mut text: String = (0..60)
        .map(|i| {
            ev(
                &format!("e{i}"),
                &format!("2026-03-02T08:{i:02}:00+08:00"),
                &format!("2026-03-02T08:{i:02}:30+08:00"),
            )
        })
        .collect();
    text.push_str(&ev("stray", "1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z"));
    let f = dir.path().join("hour.jsonl");
    std::fs::write(&f, text).unwrap();
    let (_, j) = replay_json(dir.path(), "r.json", &["--input", f.to_str().unwrap()]);
    assert_eq!(j["events"]["accepted"], 61);
    assert_eq!(j["events"]["outliers"], 1);
    assert_eq!(j["outliers"][0]["event_id"], "stray");
    let windows = j["lanes"][0]["windows"].as_array().unwrap();
    assert!(windows.len() <= 13, "{} windows", windows.len());
    let in_windows: u64 = windows
        .iter()
        .map(|w| w["passages"].as_u64().unwrap())
        .sum();
    assert_eq!(in_windows, 60);

    // Two events eight thousand years apart: one of them is the outlier.
    let f = dir.path().join("two.jsonl");
    std::fs::write(
        &f,
        ev("a", "0001-01-01T00:00:00Z", "0001-01-01T00:01:00Z")
            + &ev("b", "9999-12-31T00:00:00Z", "9999-12-31T00:01:00Z"),
    )
    .unwrap();
    let (_, j) = replay_json(dir.path(), "two.json", &["--input", f.to_str().unwrap()]);
    assert_eq!(j["events"]["outliers"], 1);
    assert!(j["lanes"][0]["windows"].as_array().unwrap().len() <= 1);
}

/// `--threads 2` (a reader stage parsing and de-duplicating on a second thread) gives
/// the report of `--threads 1`, byte for byte, in every output: the pipeline sees the
/// same events in the same order. A dataset with duplicates, malformed lines, late
/// events and events outside the range, so every count crosses the stages.
#[test]
fn two_threads_write_the_reports_of_one_byte_for_byte() {
    let lines = dataset(11, T0, 3 * 3_600_000, 3000, 6);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, jsonl(&lines)).unwrap();
    let from = jiff::Timestamp::from_millisecond(T0 + 20 * 60_000)
        .unwrap()
        .to_string();
    let out = |threads: &str, format: &str| {
        let path = |ext: &str| dir.path().join(format!("t{threads}.{format}.{ext}"));
        let (report, html, om) = (path("report"), path("html"), path("om"));
        helpers::replay(&[
            "--input",
            input.to_str().unwrap(),
            "--from",
            &from,
            "--threads",
            threads,
            "--format",
            format,
            "--output",
            report.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
            "--openmetrics",
            om.to_str().unwrap(),
        ])
        .unwrap_or_else(|e| panic!("replay --threads {threads} failed: {e}"));
        [report, html, om].map(|p| std::fs::read(p).unwrap())
    };
    for format in ["json", "csv", "table"] {
        let (one, two) = (out("1", format), out("2", format));
        for (k, what) in ["report", "html", "openmetrics"].iter().enumerate() {
            assert!(!one[k].is_empty(), "{format} {what} empty");
            assert!(
                one[k] == two[k],
                "{format} {what}: --threads 2 differs from 1"
            );
        }
    }
    let (_, j) = replay_json(
        dir.path(),
        "counts.json",
        &[
            "--input",
            input.to_str().unwrap(),
            "--from",
            &from,
            "--threads",
            "2",
        ],
    );
    let e = &j["events"];
    assert!(
        e["duplicates"].as_u64() > Some(10)
            && e["out_of_range"].as_u64() > Some(100)
            && e["rejected"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| v.as_u64() > Some(0)),
        "the dataset crosses the stages with every kind of event: {e}"
    );
}
