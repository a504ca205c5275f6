//! Passed-over vehicles through a day of closures, against their definition computed
//! from the events.

use super::*;

/// Which vehicle classes a lane kind is meant for (written here from the registry's
/// documented kinds, not taken from the library).
fn kind_takes(kind: &str, class: &str) -> bool {
    match kind {
        "mixed" => true,
        "car" => ["car", "van", "motorcycle"].contains(&class),
        "bus" => class == "bus",
        _ => ["truck", "other"].contains(&class),
    }
}

/// `lanewatch_lane_passed_over_timestamp_seconds` and `lanewatch_lane_neighbour_lanes`,
/// as the live exposition shows them during a simulated day with closures, equal
/// their definition computed here from the events: of the vehicles a lane could have
/// taken (a class its kind is meant for, or one no lane of its direction is meant
/// for) that other lanes of its direction cleared having arrived after its newest
/// departure, the arrival of the (neighbours + 1)-th earliest, NaN while there are no
/// more than its neighbours. And every closed lane is passed over by more than its
/// neighbours during its closure (the signal LaneStalled pages on is there).
#[test]
fn passed_over_vehicles_follow_their_definition_through_a_day_of_closures() {
    const CLASSES: [&str; 6] = ["car", "bus", "truck", "van", "motorcycle", "other"];
    let config = lanewatch::Config::shipped();
    type Key = (String, String, String);
    // (checkpoint, direction, lane) → classes that may use it.
    let mut uses: BTreeMap<Key, Vec<&str>> = BTreeMap::new();
    for cp in &config.registry.checkpoints {
        for l in &cp.lanes {
            let kinds: Vec<String> = cp
                .lanes
                .iter()
                .filter(|o| o.direction == l.direction)
                .map(|o| format!("{:?}", o.kind).to_lowercase())
                .collect();
            let kind = format!("{:?}", l.kind).to_lowercase();
            let classes = CLASSES
                .into_iter()
                .filter(|c| kind_takes(&kind, c) || !kinds.iter().any(|k| kind_takes(k, c)))
                .collect();
            uses.insert(
                (cp.id.clone(), l.direction.to_string(), l.id.clone()),
                classes,
            );
        }
    }
    let neighbours = |x: &Key| {
        uses.iter()
            .filter(|(k, c)| {
                k.0 == x.0 && k.1 == x.1 && k.2 != x.2 && c.iter().any(|c| uses[x].contains(c))
            })
            .count()
    };

    let day = lanewatch::time::parse_timestamp("2026-03-03T00:00:00+08:00").unwrap();
    let mut opts = SimOptions::new(day, day + DAY);
    opts.seed = 41;
    opts.incidents = CLOSURES
        .iter()
        .map(|i| parse_incident_arg(i).unwrap())
        .collect();
    let closures: Vec<(Key, i64)> = CLOSURES
        .iter()
        .map(|s| {
            let (cp, dir, lane, at) = incident_at(s, day);
            ((cp, dir, lane), at)
        })
        .collect();
    let mut p = lanewatch::pipeline::Pipeline::new(&config);
    let mut last: BTreeMap<Key, i64> = BTreeMap::new();
    // Arrivals (ms) of the vehicles that passed each lane over.
    let mut passed: BTreeMap<Key, Vec<i64>> = BTreeMap::new();
    let mut signalled = vec![false; closures.len()];
    let (mut events, mut compared) = (0, 0);
    for e in Simulator::new(&config.registry, opts).unwrap() {
        p.apply(&e.payload, None);
        let v: Value = serde_json::from_slice(&e.payload).unwrap();
        let ms = |f: &str| lanewatch::time::parse_timestamp(v[f].as_str().unwrap()).unwrap();
        let y: Key = (
            v["checkpoint"].as_str().unwrap().into(),
            v["direction"].as_str().unwrap().into(),
            v["lane"].as_str().unwrap().into(),
        );
        let class = v["vehicle_class"].as_str().unwrap_or("other");
        let (arrived, departed) = (ms("arrived_at"), ms("departed_at"));
        if last.get(&y).is_none_or(|&l| departed >= l) {
            last.insert(y.clone(), departed);
            passed.insert(y.clone(), Vec::new());
        }
        for (x, classes) in &uses {
            if (&x.0, &x.1) == (&y.0, &y.1)
                && x.2 != y.2
                && classes.contains(&class)
                && last.get(x).is_some_and(|&l| arrived > l)
            {
                passed.entry(x.clone()).or_default().push(arrived);
            }
        }
        for (i, (x, at)) in closures.iter().enumerate() {
            if departed >= *at && departed < at + 30 * 60_000 && passed[x].len() > neighbours(x) {
                signalled[i] = true;
            }
        }
        events += 1;
        if events % 997 != 0 {
            continue;
        }
        // The exposition, series by series.
        let text = lanewatch::export::metrics::text_of(&p);
        for line in text.lines() {
            let Some(rest) = line
                .strip_prefix("lanewatch_lane_passed_over_timestamp_seconds{")
                .or_else(|| line.strip_prefix("lanewatch_lane_neighbour_lanes{"))
            else {
                continue;
            };
            let (labels, value) = rest.split_once("} ").unwrap();
            let label = |n: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{n}=\"")))
                    .unwrap()
                    .trim_end_matches('"')
                    .to_string()
            };
            let x: Key = (label("checkpoint"), label("direction"), label("lane"));
            let got: f64 = value.parse().unwrap();
            let want = if line.starts_with("lanewatch_lane_passed_over") {
                let mut a = passed.get(&x).cloned().unwrap_or_default();
                a.sort_unstable();
                a.get(neighbours(&x))
                    .map_or(f64::NAN, |&ms| ms as f64 / 1000.0)
            } else {
                neighbours(&x) as f64
            };
            assert!(
                got == want || got.is_nan() && want.is_nan(),
                "{line} after {events} events: want {want}"
            );
            compared += 1;
        }
    }
    assert!(compared > 1_000, "only {compared} values compared");
    for (i, (x, _)) in closures.iter().enumerate() {
        assert!(
            signalled[i],
            "{x:?} was never passed over by more than its neighbours"
        );
    }
}
