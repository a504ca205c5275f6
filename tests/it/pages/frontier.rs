//! Smoke test of `tests/bench/pages_frontier.py`, the study of what any LaneStalled
//! rule that reads departures can achieve (closing note of issue #11): on one seed's
//! incident-free day and day of closures it runs, reports every closure, and its
//! tables are consistent (a larger bound never pages more on incident-free days nor
//! sooner on closures; an event at inspection start never makes a closure page later
//! than departures alone). The study itself runs over many seeds, outside the suite.

use std::process::Command;

#[test]
fn the_page_frontier_study_runs_and_its_trade_off_is_monotone() {
    let out = Command::new("python3")
        .arg(super::root().join("tests/bench/pages_frontier.py"))
        .args([
            "--lanewatch",
            env!("CARGO_BIN_EXE_lanewatch"),
            "--seeds",
            "41",
            "--days",
            "1",
        ])
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pages_frontier.py failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(", 6 closures"), "{stdout}");
    // Two tables: departures alone, then with an event at each inspection start.
    let (departures, starts) = stdout
        .split_once("If sensors also sent an event when an inspection starts")
        .unwrap_or_else(|| panic!("no second table\n{stdout}"));
    let departures = rows(departures);
    let starts = rows(starts);
    assert_eq!(departures.len(), 15, "{stdout}");
    assert_eq!(starts.len(), 12, "{stdout}");
    for table in [&departures, &starts] {
        for w in table.windows(2) {
            let (a, b) = (w[0], w[1]);
            assert!(
                a.0 < b.0 && a.1 >= b.1 && a.2 <= b.2 && a.3 <= b.3,
                "not monotone: {a:?} then {b:?}\n{stdout}"
            );
        }
    }
    // At a 5-minute bound every closure pages after 5 minutes.
    assert_eq!(departures.last().unwrap().2, 6, "{stdout}");
    // Knowing when inspections start only adds knowledge: at the same bound a closure
    // is never paged later.
    for s in &starts {
        if let Some(d) = departures.iter().find(|d| d.0 == s.0) {
            assert!(
                s.2 <= d.2 && s.3 <= d.3,
                "starts {s:?} against departures {d:?}\n{stdout}"
            );
        }
    }
}

/// A table's rows: bound, false pages, late closures, latest closure page (minutes).
fn rows(text: &str) -> Vec<(u64, u64, u64, f64)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[0].parse::<u64>().is_ok()).then(|| {
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                )
            })
        })
        .collect()
}
