//! The product binary carries no benchmark code: the benchmarks are the second binary,
//! `lanewatch-bench`. Checked on the binaries this build made (`cargo test --release
//! --test product_binary` checks the release ones; `tests/bench/run.sh` checks the
//! release `lanewatch` it builds the same way): `lanewatch` has no `bench` sub-command,
//! and its bytes hold none of the benchmarks' output lines nor any symbol of the bench
//! binary's crate — markers that `lanewatch-bench` is checked to hold, so the scan is
//! known to find them where they are.

use std::process::Command;

const PRODUCT: &str = env!("CARGO_BIN_EXE_lanewatch");
const BENCH: &str = env!("CARGO_BIN_EXE_lanewatch-bench");

/// Literal pieces of every benchmark's `key=value` line (format strings live in the
/// binary's read-only data, stripped or not).
const OUTPUT_LINES: &[&str] = &[
    "bench=pipeline events=",
    "bench=generate events=",
    "bench=replay threads=",
    "bench=produce topic=",
    "bench=drain topic=",
    "bench=scrape lanes=",
    "bench=fresh rate_target=",
    "bench=advice runs=",
];

/// Symbol names of the bench crate (`lanewatch_bench::…`, in the symbol table and the
/// debug line tables) and of the library's former `lanewatch::bench` module.
const SYMBOLS: &[&str] = &["lanewatch_bench", "9lanewatch5bench"];

fn holds(binary: &[u8], marker: &str) -> bool {
    memchr::memmem::find(binary, marker.as_bytes()).is_some()
}

#[test]
fn lanewatch_has_no_bench_sub_command() {
    let help = Command::new(PRODUCT).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("replay"), "{help}");
    assert!(
        !help.lines().any(|l| l.trim_start().starts_with("bench")),
        "{help}"
    );
    let bench = Command::new(PRODUCT).arg("bench").output().unwrap();
    assert_eq!(bench.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bench.stderr);
    assert!(err.contains("unrecognized subcommand 'bench'"), "{err}");
}

#[test]
fn lanewatch_holds_no_benchmark_code() {
    let bench = std::fs::read(BENCH).unwrap();
    let product = std::fs::read(PRODUCT).unwrap();
    for line in OUTPUT_LINES {
        assert!(holds(&bench, line), "control: {BENCH} lacks {line:?}");
        assert!(!holds(&product, line), "{PRODUCT} holds {line:?}");
    }
    // A stripped build has no symbols to look for; the output lines above still hold.
    if holds(&bench, SYMBOLS[0]) {
        for sym in SYMBOLS {
            assert!(!holds(&product, sym), "{PRODUCT} holds the symbol {sym:?}");
        }
    }
}

#[test]
fn lanewatch_bench_lists_every_benchmark() {
    let help = Command::new(BENCH).arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for b in [
        "pipeline", "generate", "replay", "produce", "drain", "scrape", "fresh", "advice",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(b)),
            "{b} missing from {help}"
        );
    }
}
