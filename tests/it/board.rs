//! The live board in a real browser (Debian's `chromium`, headless): what the DOM shows
//! after the page's script has polled `/api/v1/board` equals `/metrics` and the counts
//! of a known set of events fed through a real Kafka broker; against the running demo
//! there is a tile for every checkpoint direction of the shipped registry, the page logs
//! no error (a CSP violation would be one), and a screenshot is taken
//! (`$CARGO_TARGET_TMPDIR/board-screenshot.png`, its path printed); both pages pass
//! axe-core's WCAG 2.1 A/AA rules ([`axe`]).

use crate::support;
use crate::support::axe;
use crate::support::board_dom;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use board_dom::{chromium, dom_num, page_errors, tags, tiles};
use support::*;
use tokio_util::sync::CancellationToken;

/// Metric names the comparison reads (the exposition contract, DESIGN §3).
const PASSAGES: &str = "lanewatch_passages_total";
const LANE_THROUGHPUT: &str = "lanewatch_lane_throughput_per_minute";
const LANE_QUANTILE: &str = "lanewatch_lane_passage_quantile_seconds";
const DIR_P95: &str = "lanewatch_checkpoint_passage_p95_seconds";
const DIR_LOS: &str = "lanewatch_checkpoint_level_of_service";
const DIR_CONGESTED: &str = "lanewatch_checkpoint_congested";
const DIR_OPEN: &str = "lanewatch_checkpoint_open_lanes";
const DIR_RECOMMENDED: &str = "lanewatch_checkpoint_recommended_lanes";

/// axe-core's WCAG 2.1 A/AA pass on a dumped board: no violation.
fn accessible(dom: &str, what: &str) {
    let (v, passes) = axe::violations(dom, |url| chromium(&["--dump-dom"], url).0);
    assert!(
        passes > 10,
        "axe-core ran few rules on the {what}: {passes}"
    );
    eprintln!(
        "axe-core on the {what}: {passes} rules pass, {} violations",
        v.len()
    );
    assert!(v.is_empty(), "axe-core violations on the {what}: {v:#?}");
}

fn same(dom: f64, metric: Option<f64>, what: &str) {
    let m = metric.unwrap_or_else(|| panic!("{what}: not in /metrics"));
    assert!(
        (dom.is_nan() && m.is_nan()) || dom == m,
        "{what}: the board shows {dom}, /metrics {m}"
    );
}

const REGISTRY: &str = r#"
[[checkpoint]]
id = "bq"
[[checkpoint.lane]]
direction = "inbound"
ids = ["01", "02"]
[[checkpoint.lane]]
direction = "outbound"
ids = ["01"]
"#;

/// The p95 in seconds of passage times in milliseconds (the one nearest-rank oracle).
fn nearest_rank_95(mut v: Vec<i64>) -> f64 {
    v.sort_unstable();
    nearest_rank_pct(&v, 95) as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_what_metrics_and_the_known_events_say() {
    let kafka = kafka!(Need::Tool("chromium"), Need::Axe);
    let _alone = crate::support::heavy();
    let topic = kafka.fresh_topic("board", 1).await;
    let dir = tempfile::tempdir().unwrap();
    // Congested from a p95 of 100 s with 5 passages, so the page shows a page.
    let config = kafka.config(
        dir.path(),
        &topic,
        &unique("group"),
        "",
        REGISTRY,
        "[windows]\nallowed_lateness = \"30s\"\nidle_timeout = \"1h\"\n\
         [congestion]\nenter_p95 = \"100s\"\nleave_p95 = \"60s\"\nmin_passages = 5\n",
    );
    // One 5-minute window W with 12 vehicles on lane 01 and 6 on lane 02; then one
    // vehicle on each a minute into the next window, which closes W (lateness 30 s).
    let w = (now_ms() - 15 * 60_000).div_euclid(300_000) * 300_000;
    let mut events: Vec<(&str, i64, i64)> = Vec::new(); // lane, arrived, departed
    for i in 0..12 {
        let d = w + 10_000 + i * 20_000;
        events.push(("01", d - (40_000 + 7_000 * i), d));
    }
    for i in 0..6 {
        let d = w + 15_000 + i * 40_000;
        events.push(("02", d - (90_000 + 11_000 * i), d));
    }
    for lane in ["01", "02"] {
        let d = w + 360_000;
        events.push((lane, d - 20_000, d));
    }
    let messages: Vec<(String, Vec<u8>)> = events
        .iter()
        .enumerate()
        .map(|(i, &(lane, a, d))| {
            let id = format!("bq-{lane}-{i}");
            let json = event_json(&id, "bq", "inbound", lane, a, None, d);
            ("bq/inbound".to_owned(), json.into_bytes())
        })
        .collect();
    kafka.produce(&topic, &messages);
    let in_w = |lane: &str| -> Vec<i64> {
        events
            .iter()
            .filter(|e| e.0 == lane && e.2 < w + 300_000)
            .map(|e| e.2 - e.1)
            .collect()
    };
    let truth_passages = |lane: &str| events.iter().filter(|e| e.0 == lane).count() as f64;

    let shutdown = CancellationToken::new();
    let running = lanewatch::start(&config, shutdown.clone()).await.unwrap();
    let addr = running.addr;
    let inbound = [("checkpoint", "bq"), ("direction", "inbound")];
    let m = eventually(Duration::from_secs(60), "window W analysed", || async {
        let m = scrape(addr).await;
        (m.get(DIR_CONGESTED, &inbound) == Some(1.0)
            && m.sum(PASSAGES, &inbound) == events.len() as f64)
            .then_some(m)
    })
    .await;

    // Three more minutes of history (the service samples once a minute).
    let now = now_ms();
    for k in [3, 2, 1] {
        running.board.sample(now - k * 60_000);
    }
    let url = format!("http://{addr}/");
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("board-known-events.png");
    let s = shot.clone();
    let ((dom, log, took), (_, shot_log, _)) = tokio::task::spawn_blocking(move || {
        (
            chromium(&["--dump-dom"], &url),
            chromium(
                &[
                    &format!("--screenshot={}", s.display()),
                    "--window-size=900,700",
                ],
                &url,
            ),
        )
    })
    .await
    .unwrap();
    assert!(page_errors(&log).is_empty(), "{:?}", page_errors(&log));
    assert!(
        page_errors(&shot_log).is_empty(),
        "{:?}",
        page_errors(&shot_log)
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let after = scrape(addr).await;
    for name in [DIR_P95, DIR_CONGESTED, PASSAGES] {
        assert_eq!(
            m.sum(name, &inbound),
            after.sum(name, &inbound),
            "{name} moved while the page loaded"
        );
    }
    let tiles = tiles(&dom);
    assert_eq!(
        tiles.keys().cloned().collect::<Vec<_>>(),
        [
            ("bq".into(), "inbound".into()),
            ("bq".into(), "outbound".into())
        ],
        "one tile per checkpoint direction"
    );
    let t = &tiles[&("bq".to_owned(), "inbound".to_owned())];
    let a = |k: &str| t.attrs[k].as_str();
    // Direction figures: /metrics and the truth.
    let all: Vec<i64> = [in_w("01"), in_w("02")].concat();
    assert_eq!(dom_num(a("data-p95")), nearest_rank_95(all.clone()));
    same(dom_num(a("data-p95")), m.get(DIR_P95, &inbound), "p95");
    same(
        dom_num(a("data-open")),
        m.get(DIR_OPEN, &inbound),
        "open lanes",
    );
    same(
        dom_num(a("data-recommended")),
        m.get(DIR_RECOMMENDED, &inbound),
        "recommended lanes",
    );
    let los = m.get(DIR_LOS, &inbound).unwrap();
    assert_eq!(
        a("data-los"),
        ((b'A' + los as u8 - 1) as char).to_string(),
        "level of service {los}"
    );
    let mean = all.iter().sum::<i64>() as f64 / all.len() as f64;
    assert_eq!(a("data-los"), if mean <= 75_000.0 { "A" } else { "B" });
    assert_eq!(a("data-congested"), "1");
    assert!(t.html.contains("CONGESTED"), "the state is written out");
    // Congested since the end of W, in Beijing time (with its date on another day).
    let end_w = jiff::Timestamp::from_millisecond(w + 300_000)
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
    let since = [
        end_w.strftime("since %H:%M").to_string(),
        end_w.strftime("since %Y-%m-%d %H:%M").to_string(),
    ];
    assert!(
        since.iter().any(|s| t.html.contains(s)),
        "{since:?} in {}",
        t.html
    );
    assert!(
        t.html.contains("data-alert=\"CheckpointCongested\""),
        "the page the duty officer receives is shown: {}",
        t.html
    );
    assert!(a("aria-label").contains("congested"));
    // The sparkline: a line through the history points with p95, described in words.
    let svg = &tags(&t.html, "svg")[0].1;
    let polyline = &tags(&t.html, "polyline")[0].1;
    assert!(polyline["points"].split(' ').count() >= 3, "{polyline:?}");
    assert!(
        svg["aria-label"].ends_with("now 2m 25s"),
        "{}",
        svg["aria-label"]
    );
    // Lane figures: /metrics and the truth.
    for lane in ["01", "02"] {
        let l = &t.lanes[lane];
        let labels = [
            ("checkpoint", "bq"),
            ("direction", "inbound"),
            ("lane", lane),
        ];
        let mut wl = labels.to_vec();
        wl.push(("window", "5m"));
        let mut ql = wl.clone();
        ql.push(("quantile", "0.95"));
        let passages = dom_num(&l["data-passages"]);
        assert_eq!(passages, truth_passages(lane), "lane {lane} passages");
        same(passages, m.get(PASSAGES, &labels), "passages");
        let thr = dom_num(&l["data-throughput"]);
        assert_eq!(thr, in_w(lane).len() as f64 / 5.0, "lane {lane} throughput");
        same(thr, m.get(LANE_THROUGHPUT, &wl), "throughput");
        let p95 = dom_num(&l["data-p95"]);
        assert_eq!(p95, nearest_rank_95(in_w(lane)), "lane {lane} p95");
        same(p95, m.get(LANE_QUANTILE, &ql), "lane p95");
        assert_eq!(l["data-stalled"], "0");
        assert!(l["aria-label"].starts_with(&format!("Lane {lane}: ")));
    }
    // The direction without traffic: a tile with its lane at zero and nothing known.
    let out = &tiles[&("bq".to_owned(), "outbound".to_owned())];
    assert_eq!(out.attrs["data-p95"], "");
    assert_eq!(out.attrs["data-congested"], "0");
    assert_eq!(out.lanes["01"]["data-passages"], "0");
    let d = dom.clone();
    tokio::task::spawn_blocking(move || accessible(&d, "board with known events"))
        .await
        .unwrap();
    let first = dom
        .split("data-first-render-ms=\"")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().to_owned());
    eprintln!(
        "board with known events: {} ({} bytes); dump-dom took {took:?}, first render at {} ms (page clock)",
        shot.display(),
        png.len(),
        first.unwrap_or_default()
    );
    shutdown.cancel();
    running.wait().await.unwrap();
}

/// Start `lanewatch demo` on a free port; returns the child and the board's URL (the
/// first URL it prints).
fn start_demo() -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
        .args(["demo", "--listen", "127.0.0.1:0", "--speed", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lanewatch demo starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("http://")
                && let Some(t) = tx.take()
            {
                let _ = t.send(line);
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo prints its URLs");
    let url = line
        .trim()
        .strip_prefix("board")
        .unwrap_or_else(|| panic!("the first URL is the board's: {line:?}"))
        .trim()
        .to_owned();
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_board_has_a_tile_for_every_checkpoint_direction_and_a_screenshot() {
    require!(Need::Tool("chromium"), Need::Axe);
    let _alone = crate::support::heavy();
    let (mut child, url) = start_demo();
    let addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    // Wait for traffic: a closed window with a p95 and lane advice on the first tile.
    eventually(Duration::from_secs(90), "the demo's first p95", || async {
        let (code, body) = http_get(addr, "/api/v1/board").await;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let t = &v["checkpoints"][0];
        // A p95 (a closed window) and the advice on it (given `congestion.settle` later).
        (code == 200 && t["p95_seconds"].is_number() && t["open_lanes"].as_u64() > Some(0))
            .then_some(())
    })
    .await;
    let shipped = lanewatch::Config::shipped().registry;
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("board-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let (u, s) = (url.clone(), shot.clone());
    let ((dom, log, took), (_, shot_log, _)) = tokio::task::spawn_blocking(move || {
        (
            chromium(&["--dump-dom"], &u),
            chromium(
                &[
                    &format!("--screenshot={}", s.display()),
                    "--window-size=1280,900",
                    "--hide-scrollbars",
                ],
                &u,
            ),
        )
    })
    .await
    .unwrap();
    let tiles = tiles(&dom);
    for cp in &shipped.checkpoints {
        for d in lanewatch::event::Direction::ALL {
            let lanes: Vec<&str> = cp
                .lanes
                .iter()
                .filter(|l| l.direction == d)
                .map(|l| l.id.as_str())
                .collect();
            if lanes.is_empty() {
                continue;
            }
            let t = tiles
                .get(&(cp.id.clone(), d.as_str().to_owned()))
                .unwrap_or_else(|| panic!("no tile for {} {}", cp.id, d.as_str()));
            for l in lanes {
                assert!(t.lanes.contains_key(l), "{} {} lane {l}", cp.id, d.as_str());
            }
            assert!(!t.attrs["aria-label"].is_empty());
            // The sparkline (empty in the first minute: one point a minute) is labelled.
            let svg = tags(&t.html, "svg");
            assert!(
                svg.len() == 1 && svg[0].1["aria-label"].starts_with("p95 passage time, last hour"),
                "sparkline: {svg:?}"
            );
        }
    }
    assert!(page_errors(&log).is_empty(), "{:?}", page_errors(&log));
    assert!(
        page_errors(&shot_log).is_empty(),
        "{:?}",
        page_errors(&shot_log)
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 20_000,
        "a screenshot of a drawn board: {} bytes",
        png.len()
    );
    let first = dom
        .split("data-first-render-ms=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("?")
        .to_owned();
    eprintln!(
        "board screenshot: {} ({} bytes); {} tiles; dump-dom took {took:?}, first render at {first} ms (page clock)",
        shot.display(),
        png.len(),
        tiles.len()
    );
    let d = dom.clone();
    tokio::task::spawn_blocking(move || accessible(&d, "demo board"))
        .await
        .unwrap();
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "demo stops on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
