//! What a person reads is in the checkpoint's local time (issue #16): the replay's
//! table, JSON, CSV and HTML write times in the registry's `time_zone` with its offset
//! (Asia/Shanghai by default), follow a daylight-saving zone's change of offset within
//! one report, and `--tz` overrides. Expected strings come from a reference written
//! here from the definitions (civil calendar arithmetic, the EU summer-time rule), not
//! from the time library lanewatch uses.

use crate::support::replay as helpers;

use helpers::{Passage, replay, replay_json};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// (year, month, day, hour, minute) → Unix ms, UTC (the inverse, by search-free math).
fn utc_ms(y: i64, m: i64, d: i64, hh: i64, mm: i64) -> i64 {
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 24 + hh) * HOUR + mm * MIN
}

/// `ms` (whole seconds) as RFC 3339 at `offset_min` minutes east of UTC.
fn rfc3339_at(ms: i64, offset_min: i64) -> String {
    let local = ms + offset_min * MIN;
    let (y, mo, d) = civil_from_days(local.div_euclid(86_400_000));
    let s = local.rem_euclid(86_400_000) / 1000;
    let sign = if offset_min < 0 { '-' } else { '+' };
    let o = offset_min.abs();
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        o / 60,
        o % 60
    )
}

/// `ms` as the tables write it: `2026-05-12 06:00 +08:00`.
fn human_at(ms: i64, offset_min: i64) -> String {
    let r = rfc3339_at(ms, offset_min);
    format!("{} {} {}", &r[..10], &r[11..16], &r[19..])
}

/// Central European time: UTC+2 from the last Sunday of March 01:00 UTC to the last
/// Sunday of October 01:00 UTC, else UTC+1 (EU Directive 2000/84/EC).
fn berlin_offset_min(ms: i64) -> i64 {
    let (y, _, _) = civil_from_days(ms.div_euclid(86_400_000));
    let last_sunday = |m: i64| {
        let last = utc_ms(y, m, 31, 0, 0) / 86_400_000;
        // 1970-01-01 was a Thursday: weekday 0 = Sunday at day 3.
        let back = (last - 3).rem_euclid(7);
        (last - back) * 86_400_000 + HOUR
    };
    if ms >= last_sunday(3) && ms < last_sunday(10) {
        120
    } else {
        60
    }
}

fn ev(id: usize, cp: &'static str, lane: &'static str, departed: i64) -> String {
    Passage {
        id: format!("{cp}-{id}"),
        cp,
        dir: "inbound",
        lane,
        arrived: departed - 3 * MIN,
        inspection: Some(departed - 40_000),
        departed,
    }
    .dataset_json(true)
}

/// One passage a minute on two lanes over `[from, to)`, more in `[busy, busy + 1h)`.
fn traffic(cp: &'static str, from: i64, to: i64, busy: i64) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut t = from;
    while t < to {
        for lane in ["01", "02"] {
            out += &ev(n, cp, lane, t + 7_000);
            out.push('\n');
            n += 1;
        }
        if (busy..busy + HOUR).contains(&t) {
            for k in 0..3 {
                out += &ev(n, cp, "01", t + 20_000 + k * 10_000);
                out.push('\n');
                n += 1;
            }
        }
        t += MIN;
    }
    out
}

fn s(v: &serde_json::Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The morning: asked for 06:00–10:00 Beijing time, everything a person reads
/// says 06:00–10:00 +08:00 (it said 22:00Z … 02:00Z: the evening before).
#[test]
fn a_beijing_morning_reads_in_beijing_time_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("day.jsonl");
    let from = utc_ms(2026, 5, 11, 22, 0); // 2026-05-12T06:00+08:00
    let to = from + 4 * HOUR;
    let busy = from + 87 * MIN; // 07:27 local
    std::fs::write(&input, traffic("baimiao", from - HOUR, to + HOUR, busy)).unwrap();
    let range = [
        "--input",
        input.to_str().unwrap(),
        "--from",
        "2026-05-12T06:00:00+08:00",
        "--to",
        "2026-05-12T10:00:00+08:00",
    ];

    // JSON: the range and every window in +08:00, each the reference string of the
    // instant it names.
    let (_, j) = replay_json(dir.path(), "r.json", &range);
    assert_eq!(s(&j["range"]["from"]), rfc3339_at(from, 480));
    assert_eq!(s(&j["range"]["to"]), rfc3339_at(to, 480));
    assert_eq!(s(&j["range"]["time_zone"]), "Asia/Shanghai");
    let lane = &j["lanes"][0];
    let windows = lane["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 48, "4 hours of 5-minute windows");
    for (i, w) in windows.iter().enumerate() {
        assert_eq!(s(&w["start"]), rfc3339_at(from + i as i64 * 5 * MIN, 480));
    }
    let cp = &j["checkpoints"][0];
    assert_eq!(s(&cp["time_zone"]), "Asia/Shanghai");
    assert_eq!(s(&cp["peak_hour_start"]), rfc3339_at(busy, 480));
    for row in cp["analysis"].as_array().unwrap() {
        assert!(s(&row["start"]).ends_with("+08:00"), "{row}");
    }

    // Table: the header and the peak hour as a person reads them.
    let table = dir.path().join("r.txt");
    let mut args = range.to_vec();
    args.extend(["--output", table.to_str().unwrap()]);
    replay(&args).unwrap();
    let text = std::fs::read_to_string(&table).unwrap();
    let first = text.lines().next().unwrap();
    let want = format!(
        "range {} .. {} (Asia/Shanghai)",
        human_at(from, 480),
        human_at(to, 480)
    );
    assert!(first.starts_with(&want), "{first}\nwanted {want}");
    assert!(first.contains("events read") && first.contains("late"));
    assert!(
        text.contains(&format!("peak hour from {} with", human_at(busy, 480))),
        "{text}"
    );
    assert!(text.contains("baimiao inbound (Asia/Shanghai)"), "{text}");

    // CSV: window bounds with the local offset.
    let csv = dir.path().join("r.csv");
    let mut args = range.to_vec();
    args.extend(["--format", "csv", "--output", csv.to_str().unwrap()]);
    replay(&args).unwrap();
    let csv = std::fs::read_to_string(&csv).unwrap();
    let row = csv.lines().nth(1).unwrap();
    let cells: Vec<&str> = row.split(',').collect();
    assert_eq!(cells[3], rfc3339_at(from, 480), "{row}");
    assert_eq!(cells[4], rfc3339_at(from + 5 * MIN, 480), "{row}");

    // HTML: the heading and the charts' time axes in local hours.
    let html = dir.path().join("r.html");
    let mut args = range.to_vec();
    args.extend(["--html", html.to_str().unwrap(), "--output", "/dev/null"]);
    replay(&args).unwrap();
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        html.contains(&want[6..]),
        "the heading names the local range"
    );
    assert!(html.contains("time (Asia/Shanghai, UTC+08"), "axis title");
    let hours = axis_hours(&html);
    assert!(hours.len() >= 6, "axis labels: {hours:?}");
    assert!(
        hours.iter().all(|h| (6..=10).contains(h)),
        "axis labels are local morning hours: {hours:?}"
    );
}

/// Hours of the `HH:MM` labels in the page's SVG text.
fn axis_hours(html: &str) -> Vec<u32> {
    html.split('>')
        .filter_map(|t| t.split('<').next())
        .map(str::trim)
        .filter(|t| t.len() == 5 && t.as_bytes()[2] == b':')
        .filter_map(|t| t[..2].parse().ok())
        .collect()
}

/// A checkpoint in Berlin over the night summer time ends (2026-10-25, 03:00 CEST →
/// 02:00 CET): one report carries both offsets, each window the offset of its instant,
/// the local 02:xx hour twice; `--tz` writes everything in the zone it names.
#[test]
fn a_daylight_saving_zone_changes_offset_within_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("checkpoints.toml");
    std::fs::write(
        &registry,
        "[[checkpoint]]\nid = \"berlin\"\ntime_zone = \"Europe/Berlin\"\n\n[[checkpoint.lane]]\ndirection = \"inbound\"\nids = [\"01\", \"02\"]\nkind = \"car\"\n",
    )
    .unwrap();
    let input = dir.path().join("night.jsonl");
    let from = utc_ms(2026, 10, 24, 22, 0); // 00:00 CEST
    let to = utc_ms(2026, 10, 25, 3, 0); // 04:00 CET
    std::fs::write(&input, traffic("berlin", from, to, from + HOUR)).unwrap();
    assert_eq!(berlin_offset_min(from), 120);
    assert_eq!(berlin_offset_min(to), 60);
    let from_arg = rfc3339_at(from, 120);
    let to_arg = rfc3339_at(to, 60);
    let range = [
        "--registry",
        registry.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--from",
        &from_arg,
        "--to",
        &to_arg,
    ];

    let (_, j) = replay_json(dir.path(), "b.json", &range);
    assert_eq!(s(&j["range"]["time_zone"]), "Europe/Berlin");
    assert_eq!(s(&j["range"]["from"]), "2026-10-25T00:00:00+02:00");
    assert_eq!(s(&j["range"]["to"]), "2026-10-25T04:00:00+01:00");
    let windows = j["lanes"][0]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 60, "5 hours of 5-minute windows");
    let mut local_0230 = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let t = from + i as i64 * 5 * MIN;
        let want = rfc3339_at(t, berlin_offset_min(t));
        assert_eq!(s(&w["start"]), want);
        if want.contains("T02:30:00") {
            local_0230.push(want);
        }
    }
    assert_eq!(
        local_0230,
        ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"],
        "the repeated hour appears twice, told apart by its offset"
    );
    for row in j["checkpoints"][0]["analysis"].as_array().unwrap() {
        let start = s(&row["start"]);
        let t = jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%:z", start)
            .unwrap()
            .as_millisecond();
        assert_eq!(start, rfc3339_at(t, berlin_offset_min(t)));
    }

    // The table's header spans both offsets; the chart axis says the offset changes.
    let table = dir.path().join("b.txt");
    let html = dir.path().join("b.html");
    let mut args = range.to_vec();
    args.extend([
        "--output",
        table.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    replay(&args).unwrap();
    let text = std::fs::read_to_string(&table).unwrap();
    assert!(
        text.starts_with(
            "range 2026-10-25 00:00 +02:00 .. 2026-10-25 04:00 +01:00 (Europe/Berlin)"
        ),
        "{text}"
    );
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        html.contains("time (Europe/Berlin, UTC+02") && html.contains("then UTC+01"),
        "axis title names both offsets"
    );

    // --tz overrides the registry for one report.
    let mut args = range.to_vec();
    args.extend(["--tz", "Asia/Shanghai"]);
    let (_, j) = replay_json(dir.path(), "tz.json", &args);
    assert_eq!(s(&j["range"]["time_zone"]), "Asia/Shanghai");
    assert_eq!(s(&j["checkpoints"][0]["time_zone"]), "Asia/Shanghai");
    for (i, w) in j["lanes"][0]["windows"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(s(&w["start"]), rfc3339_at(from + i as i64 * 5 * MIN, 480));
    }
}

/// A zone that does not exist is refused at the flag, naming the fix.
#[test]
fn an_unknown_tz_is_refused_naming_the_fix() {
    let e = <lanewatch::cli::ReplayArgs as clap::Parser>::try_parse_from([
        "replay", "--input", "x.jsonl", "--tz", "Beijing",
    ])
    .expect_err("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("--tz") && msg.contains("Asia/Shanghai"),
        "{msg}"
    );
}
