//! The metrics catalogue (`lanewatch::catalogue`) is the one declaration of every
//! family: the live exposition and the OpenMetrics backfill both hold to it — every
//! family either writes is declared there with the same type and help, the live service
//! writes every declared family, and the backfill carries every traffic family.

use std::collections::BTreeMap;

use lanewatch::catalogue::{self, ALL, Kind};

/// `name → (type, help)` of every `# TYPE`/`# HELP` pair in an exposition.
fn headers(text: &str) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            out.entry(name.into()).or_default().1 = help.into();
        } else if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.entry(name.into()).or_default().0 = kind.into();
        }
    }
    out
}

fn assert_declared(what: &str, found: &BTreeMap<String, (String, String)>) {
    for (name, (kind, help)) in found {
        let f = catalogue::family(name)
            .unwrap_or_else(|| panic!("{what}: {name} is not in the catalogue"));
        assert_eq!(f.name, name, "{what}: {name}");
        assert_eq!(kind, f.kind.as_str(), "{what}: type of {name}");
        assert_eq!(help, f.help, "{what}: help of {name}");
    }
}

#[test]
fn the_live_exposition_writes_every_family_as_declared() {
    let live = headers(&crate::support::live_exposition());
    assert_declared("live", &live);
    for f in ALL {
        assert!(
            live.contains_key(f.name),
            "live: {} is declared but not exported",
            f.name
        );
    }
}

#[test]
fn the_backfill_writes_its_families_as_the_live_exposition_does() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.jsonl");
    let om = dir.path().join("e.om");
    // An hour of a 2025 morning on two lanes (long before the 3-hour cutoff).
    let t0 = 1_764_108_000_000i64;
    let mut text = String::new();
    for i in 0..120 {
        let d = t0 + i * 30_000;
        text += &format!(
            "{{\"event_id\":\"e{i}\",\"checkpoint\":\"baimiao\",\"direction\":\"inbound\",\"lane\":\"0{}\",\"vehicle_class\":\"car\",\"arrived_at\":{},\"inspection_started_at\":{},\"departed_at\":{d}}}\n",
            1 + i % 2,
            d - 120_000,
            d - 30_000
        );
    }
    std::fs::write(&input, text).unwrap();
    let args = <lanewatch::cli::ReplayArgs as clap::Parser>::try_parse_from([
        "replay",
        "--no-progress",
        "--input",
        input.to_str().unwrap(),
        "--output",
        dir.path().join("r.txt").to_str().unwrap(),
        "--openmetrics",
        om.to_str().unwrap(),
    ])
    .unwrap();
    lanewatch::replay::run(args.into(), tokio_util::sync::CancellationToken::new()).unwrap();
    let backfill = headers(&std::fs::read_to_string(&om).unwrap());
    assert_declared("backfill", &backfill);
    let live = headers(&crate::support::live_exposition());
    for (name, h) in &backfill {
        assert_eq!(live.get(name), Some(h), "{name}: backfill and live differ");
    }
    // The traffic families a past day needs on the dashboards, congestion included.
    for f in ALL
        .iter()
        .filter(|f| f.labels.first() == Some(&"checkpoint"))
    {
        let process_only = f.name == catalogue::CHECKPOINT_PARTITIONS.name;
        assert_eq!(
            backfill.contains_key(f.name),
            !process_only,
            "backfill: {} ({:?})",
            f.name,
            f.kind == Kind::Histogram
        );
    }
}
