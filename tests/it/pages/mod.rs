//! Pages in simulated time, through the real rules on a real Prometheus: simulated days
//! with lane closures at the peaks and incident-free days are replayed into an
//! OpenMetrics backfill (event time = Prometheus time), loaded with `promtool tsdb
//! create-blocks-from openmetrics` into Debian's Prometheus, and every paging alert of
//! `deploy/prometheus/alerts.yml` is evaluated over the days as Prometheus evaluates
//! it: its expression (recording rules of `recording.yml` substituted) every 15 s, and
//! firing once it held for its `for:`. Every closure must page within 5 simulated
//! minutes of its start; nothing may page on an incident-free day.
//!
//! CI runs one incident-free day and one day of closures (seed 41). The study of the
//! closing note is `LANEWATCH_PAGES_SEEDS=23,24,25 LANEWATCH_PAGES_DAYS=3` (three of
//! each kind of day per seed, plus one day of slowdowns, whose delays are reported).
//! What any rule that reads departures could do on the same days is
//! `tests/bench/pages_frontier.py` (`frontier` checks that it runs).

use crate::support::Need;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lanewatch::simulate::options::parse_incident_arg;
use lanewatch::simulate::{SimOptions, Simulator};
use serde_json::Value;

mod frontier;
mod passed_over;

const DAY: i64 = 86_400_000;
/// Prometheus' evaluation interval in deploy/prometheus/prometheus.yml.
const STEP_S: i64 = 15;

/// Lane closures at the morning (inbound) and evening (outbound) peaks.
const CLOSURES: &[&str] = &[
    "baimiao/inbound/03@07:30+40m:close",
    "yanjiao/inbound/02@08:00+30m:close",
    "xianghe/inbound/02@07:15+30m:close",
    "xuyin/inbound/01@07:40+30m:close",
    "baimiao/outbound/02@18:00+30m:close",
    "yanjiao/outbound/01@17:45+30m:close",
];
const SLOWDOWNS: &[&str] = &[
    "baimiao/inbound/02@07:45+30m:slow=3",
    "yanjiao/outbound/03@18:00+30m:slow=3",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(root().join(rel)).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn env_list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().parse().expect("a number"))
        .collect()
}

/// One simulated day of the scenario.
struct Day {
    start_ms: i64,
    seed: u64,
    incidents: Vec<&'static str>,
}

impl Day {
    fn kind(&self) -> &'static str {
        match self.incidents.first() {
            None => "incident-free",
            Some(i) if i.contains("slow") => "slowdowns",
            Some(_) => "closures",
        }
    }
}

/// `"baimiao/inbound/03@07:30+40m:close"` → (checkpoint, direction, lane, start ms on
/// the day starting at `day_ms` (local midnight)).
fn incident_at(spec: &str, day_ms: i64) -> (String, String, String, i64) {
    let (target, rest) = spec.split_once('@').unwrap();
    let mut t = target.split('/');
    let (cp, dir, lane) = (t.next().unwrap(), t.next().unwrap(), t.next().unwrap());
    let hm = &rest[..5];
    let (h, m): (i64, i64) = (hm[..2].parse().unwrap(), hm[3..].parse().unwrap());
    (
        cp.into(),
        dir.into(),
        lane.into(),
        day_ms + (h * 60 + m) * 60_000,
    )
}

/// Replace every recorded series name by its expression (recursively), so an alert's
/// expression reads only exported series: `name` → `(expr)`, `name[5m]` → `(expr)[5m:30s]`.
fn expand(expr: &str, records: &BTreeMap<String, String>) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = expr.to_string();
    for _ in 0..10 {
        let mut changed = false;
        let mut next = String::new();
        let chars: Vec<char> = out.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if is_name(chars[i]) && (i == 0 || !is_name(chars[i - 1])) {
                let mut j = i;
                while j < chars.len() && is_name(chars[j]) {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                if let Some(e) = records.get(&word) {
                    next.push('(');
                    next.push_str(e.trim());
                    next.push(')');
                    changed = true;
                    // A range selector on a recorded series becomes a subquery.
                    if chars.get(j) == Some(&'[') {
                        let close = (j..chars.len()).find(|&k| chars[k] == ']').unwrap();
                        let range: String = chars[j..close].iter().collect();
                        next.push_str(&format!("{range}:{STEP_S}s]"));
                        i = close + 1;
                        continue;
                    }
                } else {
                    next.push_str(&word);
                }
                i = j;
            } else {
                next.push(chars[i]);
                i += 1;
            }
        }
        out = next;
        if !changed {
            break;
        }
    }
    out
}

fn seconds(d: &str) -> i64 {
    let (n, unit) = d.split_at(d.len() - 1);
    let n: i64 = n.parse().unwrap();
    match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => panic!("duration {d}"),
    }
}

/// A paging alert instance: its labels and when it fired (Unix seconds).
#[derive(Debug, Clone)]
struct Page {
    alert: String,
    labels: BTreeMap<String, String>,
    at_s: i64,
}

/// Evaluate `expr` every 15 s over [start, end] and return when each series first held
/// for `for_s` (and again after each time it stopped holding).
fn firings(base: &str, alert: &str, expr: &str, for_s: i64, start_s: i64, end_s: i64) -> Vec<Page> {
    let mut pages = Vec::new();
    // Prometheus returns at most 11,000 points per series: query a day at a time.
    let mut from = start_s;
    let mut open: BTreeMap<String, (i64, i64, bool)> = BTreeMap::new();
    while from <= end_s {
        let to = (from + 86_400 - STEP_S).min(end_s);
        let body = reqwest::blocking::Client::new()
            .get(format!("{base}/api/v1/query_range"))
            .query(&[
                ("query", expr.to_string()),
                ("start", from.to_string()),
                ("end", to.to_string()),
                ("step", STEP_S.to_string()),
            ])
            .send()
            .unwrap()
            .text()
            .unwrap();
        let resp: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(resp["status"], "success", "{alert}: {resp}\n{expr}");
        if std::env::var("LANEWATCH_PAGES_DEBUG").is_ok() {
            eprintln!(
                "{alert} {from}: {} series\n{expr}",
                resp["data"]["result"].as_array().unwrap().len()
            );
        }
        for series in resp["data"]["result"].as_array().unwrap() {
            let labels: BTreeMap<String, String> = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let key = format!("{labels:?}");
            for p in series["values"].as_array().unwrap() {
                let t = p[0].as_f64().unwrap() as i64;
                // (first true, last true, fired)
                let e = open.entry(key.clone()).or_insert((t, t - STEP_S, false));
                if t - e.1 > STEP_S {
                    *e = (t, t, false); // it stopped holding: pending again
                }
                e.1 = t;
                if !e.2 && t - e.0 >= for_s {
                    e.2 = true;
                    pages.push(Page {
                        alert: alert.into(),
                        labels: labels.clone(),
                        at_s: t,
                    });
                }
            }
        }
        from = to + STEP_S;
    }
    pages.sort_by_key(|p| p.at_s);
    pages
}

/// The page alerts read from event-time series (the pipeline's own pages — process
/// down, no events — read the wall clock and scrape health, not the traffic).
const TRAFFIC_PAGES: &[&str] = &[
    "CheckpointCongested",
    "CheckpointCapacityExceeded",
    "LaneStalled",
];

#[test]
fn closures_at_the_peak_page_within_five_minutes_and_quiet_days_never() {
    require!(Need::Tool("prometheus"), Need::Tool("promtool"));
    let _alone = crate::support::heavy();
    let seeds = env_list("LANEWATCH_PAGES_SEEDS", "41");
    let per_kind = env_list("LANEWATCH_PAGES_DAYS", "1")[0] as usize;
    let t0 = lanewatch::time::parse_timestamp("2026-03-02T00:00:00+08:00").unwrap();
    let mut failures = Vec::new();
    let mut delays = Vec::new();
    let (mut n_days, mut n_quiet, mut n_pages) = (0, 0, 0);
    // One Prometheus per seed keeps each backfill file to a few hundred MB.
    for &seed in &seeds {
        let mut days = Vec::new();
        for k in 0..per_kind {
            for incidents in [Vec::new(), CLOSURES.to_vec()] {
                days.push(Day {
                    start_ms: t0 + days.len() as i64 * DAY,
                    seed: seed * 100 + k as u64,
                    incidents,
                });
            }
        }
        if per_kind > 1 {
            days.push(Day {
                start_ms: t0 + days.len() as i64 * DAY,
                seed: seed * 100 + 99,
                incidents: SLOWDOWNS.to_vec(),
            });
        }
        n_days += days.len();
        n_quiet += days.iter().filter(|d| d.incidents.is_empty()).count();
        n_pages += evaluate(&days, &mut failures, &mut delays);
    }
    delays.sort_by(f64::total_cmp);
    eprintln!(
        "{n_days} days ({n_quiet} incident-free), {} closures: page delay min {:.1} / median {:.1} / max {:.1} simulated minutes; {n_pages} pages in all",
        delays.len(),
        delays.first().copied().unwrap_or(f64::NAN),
        delays.get(delays.len() / 2).copied().unwrap_or(f64::NAN),
        delays.last().copied().unwrap_or(f64::NAN),
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Simulate, replay and backfill `days`, evaluate the page alerts over them; push what
/// fails to `failures` and each closure's page delay (minutes) to `delays`. Returns
/// the number of pages.
fn evaluate(days: &[Day], failures: &mut Vec<String>, delays: &mut Vec<f64>) -> usize {
    // Simulate the days one after another into one file, and replay it.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("days.jsonl");
    let reg = lanewatch::Config::shipped().registry;
    let limits = lanewatch::Config::shipped().events;
    // (arrived, departed) per lane.
    let mut last_departures: BTreeMap<(String, String, String), Vec<(i64, i64)>> = BTreeMap::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for d in days {
            let mut opts = SimOptions::new(d.start_ms, d.start_ms + DAY);
            opts.seed = d.seed;
            opts.incidents = d
                .incidents
                .iter()
                .map(|i| parse_incident_arg(i).unwrap())
                .collect();
            // Event ids restart with every simulation: make them unique per day, or
            // de-duplication would drop the second day.
            let tag = format!("\"event_id\":\"d{}-", d.start_ms / DAY);
            for e in Simulator::new(&reg, opts).unwrap() {
                if let Ok(ev) = lanewatch::event::parse(&e.payload, &limits, None) {
                    last_departures
                        .entry((
                            ev.checkpoint.to_string(),
                            ev.direction.to_string(),
                            ev.lane.to_string(),
                        ))
                        .or_default()
                        .push((ev.arrived_ms, ev.departed_ms));
                }
                let line = String::from_utf8(e.payload).unwrap();
                f.write_all(line.replacen("\"event_id\":\"", &tag, 1).as_bytes())
                    .unwrap();
                f.write_all(b"\n").unwrap();
            }
        }
    }
    let om = dir.path().join("days.om");
    let report = dir.path().join("report.json");
    let args = <lanewatch::cli::ReplayArgs as clap::Parser>::try_parse_from([
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--registry",
        root().join("config/checkpoints.toml").to_str().unwrap(),
        "--openmetrics",
        om.to_str().unwrap(),
        "--format",
        "json",
        "--output",
        report.to_str().unwrap(),
        "--no-progress",
    ])
    .unwrap();
    lanewatch::replay::run(args.into(), tokio_util::sync::CancellationToken::new()).unwrap();
    let tsdb = dir.path().join("tsdb");
    crate::support::prometheus::create_blocks(&om, &tsdb);
    if let Ok(keep) = std::env::var("LANEWATCH_PAGES_KEEP") {
        let _ = Command::new("cp")
            .args(["-r"])
            .arg(&tsdb)
            .arg(&keep)
            .status();
        let _ = std::fs::copy(&om, format!("{keep}.om"));
    }
    let prom = crate::support::prometheus::Prometheus::on_tsdb(
        dir.path(),
        &tsdb,
        "3650d",
        Duration::from_secs(90),
    );
    let base = prom.base.clone();

    // The rules, as Prometheus would evaluate them.
    let mut records = BTreeMap::new();
    for g in yaml("deploy/prometheus/recording.yml")["groups"]
        .as_array()
        .unwrap()
    {
        for r in g["rules"].as_array().unwrap() {
            records.insert(
                r["record"].as_str().unwrap().to_string(),
                r["expr"].as_str().unwrap().to_string(),
            );
        }
    }
    let start_s = days[0].start_ms / 1000;
    let end_s = (days.last().unwrap().start_ms + DAY) / 1000;
    let mut pages = Vec::new();
    let mut paging = Vec::new();
    for g in yaml("deploy/prometheus/alerts.yml")["groups"]
        .as_array()
        .unwrap()
    {
        for r in g["rules"].as_array().unwrap() {
            if r["labels"]["severity"] != "page" {
                continue;
            }
            let name = r["alert"].as_str().unwrap();
            paging.push(name.to_string());
            if !TRAFFIC_PAGES.contains(&name) {
                continue;
            }
            let expr = expand(r["expr"].as_str().unwrap(), &records);
            let for_s = r["for"].as_str().map_or(0, seconds);
            pages.extend(firings(&base, name, &expr, for_s, start_s, end_s));
        }
    }
    for p in TRAFFIC_PAGES {
        assert!(paging.iter().any(|a| a == p), "{p} is not a page any more");
    }
    pages.sort_by_key(|p| p.at_s);
    if std::env::var("LANEWATCH_PAGES_DEBUG").is_ok() {
        for p in &pages {
            eprintln!(
                "page {} {:?} {}",
                p.alert,
                p.labels,
                lanewatch::time::format_ms(p.at_s * 1000)
            );
        }
    }

    // Each closure: the first page of its checkpoint direction after it started.
    for d in days {
        let day_pages: Vec<&Page> = pages
            .iter()
            .filter(|p| p.at_s * 1000 >= d.start_ms && p.at_s * 1000 < d.start_ms + DAY)
            .collect();
        if d.incidents.is_empty() {
            for p in &day_pages {
                failures.push(format!("incident-free day (seed {}): {p:?}", d.seed));
            }
            continue;
        }
        for spec in &d.incidents {
            let (cp, dir, lane, at) = incident_at(spec, d.start_ms);
            let first = day_pages.iter().find(|p| {
                p.at_s * 1000 >= at
                    && p.labels.get("checkpoint") == Some(&cp)
                    && p.labels.get("direction") == Some(&dir)
            });
            let delay_min = first.map(|p| (p.at_s * 1000 - at) as f64 / 60_000.0);
            // The closed lane still clears its queue: nothing shows before the last
            // vehicle that arrived before the closure has left.
            let drained = last_departures
                .get(&(cp.clone(), dir.clone(), lane.clone()))
                .and_then(|v| {
                    v.iter()
                        .filter(|&&(a, t)| a < at && t >= at)
                        .map(|&(_, t)| t)
                        .max()
                })
                .map_or(0.0, |t| (t - at) as f64 / 60_000.0);
            eprintln!(
                "{} seed {}: {spec} → {} (queue cleared {drained:.1} min after the start)",
                d.kind(),
                d.seed,
                first.map_or("no page".to_string(), |p| format!(
                    "{} after {:.1} min ({} {})",
                    p.alert,
                    delay_min.unwrap(),
                    p.labels.get("lane").map_or("", String::as_str),
                    lanewatch::time::format_ms(p.at_s * 1000)
                ))
            );
            if d.kind() == "closures" {
                delays.push(delay_min.unwrap_or(f64::INFINITY));
                if delay_min.is_none_or(|m| m > 5.0) {
                    failures.push(format!(
                        "{spec} (seed {}): paged after {delay_min:?} min",
                        d.seed
                    ));
                }
            }
        }
    }
    pages.len()
}
