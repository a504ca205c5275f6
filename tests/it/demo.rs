//! `lanewatch demo` as a newcomer runs it: a child process with nothing installed;
//! registered lanes show passages within seconds; Ctrl-C (SIGINT) exits 0 promptly.
//! What a person reads: in a terminal (tmux) a status table of every checkpoint
//! direction redrawn in place; without one, parseable `status …` lines on stderr.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_live_lane_metrics_and_stops_cleanly_on_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lanewatch demo starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("metrics  http://")
                && let Some(t) = tx.take()
            {
                let _ = t.send(
                    rest.trim_end_matches("/metrics")
                        .parse::<SocketAddr>()
                        .unwrap(),
                );
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo prints where /metrics is");
    let started = Instant::now();
    let m = eventually(
        Duration::from_secs(60),
        "registered lanes show passages",
        || async {
            let m = scrape(addr).await;
            let baimiao = m.sum(
                "lanewatch_passages_total",
                &[("checkpoint", "baimiao"), ("direction", "inbound")],
            );
            (baimiao > 0.0 && m.get("lanewatch_events_received_total", &[]).unwrap_or(0.0) > 50.0)
                .then_some(m)
        },
    )
    .await;
    eprintln!(
        "demo: lane metrics moving {:?} after start",
        started.elapsed()
    );
    // Histograms and windowed gauges of a registered lane move too.
    let lane = [("checkpoint", "baimiao"), ("direction", "inbound")];
    assert!(m.sum("lanewatch_passage_duration_seconds_count", &lane) > 0.0);
    eventually(
        Duration::from_secs(60),
        "a 1m window closed with throughput",
        || async {
            let m = scrape(addr).await;
            let t = m.sum(
                "lanewatch_lane_throughput_per_minute",
                &[
                    ("checkpoint", "baimiao"),
                    ("direction", "inbound"),
                    ("window", "1m"),
                ],
            );
            (t > 0.0).then_some(())
        },
    )
    .await;
    let rc = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "demo did not stop within 10 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "demo exit status {status:?}");
}

/// Every (checkpoint, direction) of the shipped registry.
fn shipped_directions() -> BTreeSet<(String, String)> {
    lanewatch::Config::shipped()
        .registry
        .checkpoints
        .iter()
        .flat_map(|c| {
            c.lanes
                .iter()
                .map(|l| (c.id.clone(), l.direction.as_str().to_owned()))
        })
        .collect()
}

/// The demo child, killed if the test fails before stopping it.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGINT, then the exit status within 10 s.
fn ctrl_c(child: &mut Child) -> std::process::ExitStatus {
    let rc = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "demo did not stop within 10 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `key=value` pairs of a `status …` line, in order.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .skip(1)
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {kv:?} in {line:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn is_one_decimal(v: &str) -> bool {
    v.split_once('.').is_some_and(|(i, f)| {
        i.parse::<u64>().is_ok() && f.len() == 1 && f.chars().all(|c| c.is_ascii_digit())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_without_a_terminal_prints_a_status_line_per_checkpoint_direction() {
    let child = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
        .args(["demo", "--listen", "127.0.0.1:0", "--speed", "120"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lanewatch demo starts");
    let mut demo = Demo(child);
    let stdout = demo.0.stdout.take().unwrap();
    let stderr = demo.0.stderr.take().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(addr_tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("metrics  http://")
                && let Some(t) = tx.take()
            {
                let _ = t.send(rest.trim_end_matches("/metrics").parse::<SocketAddr>());
            }
        }
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("status ") && tx.send(line).is_err() {
                return;
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo prints where /metrics is")
        .expect("a socket address");
    let want = shipped_directions();

    // A whole report (events line, then one line per direction) once events arrived.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events: Option<u64> = None;
    let mut newest = String::new();
    let mut report: BTreeMap<(String, String), BTreeMap<String, String>> = BTreeMap::new();
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!("no complete status report within 60 s; lines seen: {seen:#?}")
        });
        seen.push(line.clone());
        let f = fields(&line);
        if f[0].0 == "events" {
            let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["events", "newest_event"], "{line}");
            events = Some(
                f[0].1
                    .parse()
                    .unwrap_or_else(|_| panic!("events an integer: {line}")),
            );
            newest = f[1].1.clone();
            report.clear();
            continue;
        }
        let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "checkpoint",
                "direction",
                "p95_min",
                "arriving_per_min",
                "open_lanes",
                "recommended_lanes",
                "los",
                "congested",
                "capacity_exceeded"
            ],
            "{line}"
        );
        let kv: BTreeMap<String, String> = f.into_iter().collect();
        for k in ["open_lanes", "recommended_lanes"] {
            assert!(kv[k].parse::<u32>().is_ok(), "{k} an integer: {line}");
        }
        for k in ["congested", "capacity_exceeded"] {
            assert!(
                ["yes", "no"].contains(&kv[k].as_str()),
                "{k} yes/no: {line}"
            );
        }
        assert!(is_one_decimal(&kv["arriving_per_min"]), "{line}");
        assert!(
            kv["p95_min"] == "-" || is_one_decimal(&kv["p95_min"]),
            "{line}"
        );
        assert!(
            ["-", "A", "B", "C", "D", "E", "F"].contains(&kv["los"].as_str()),
            "{line}"
        );
        let key = (kv["checkpoint"].clone(), kv["direction"].clone());
        assert!(
            report.insert(key, kv).is_none(),
            "a direction twice: {line}"
        );
        if events.is_some_and(|e| e > 0) && report.keys().cloned().collect::<BTreeSet<_>>() == want
        {
            break;
        }
    }
    let events = events.unwrap();
    assert!(
        newest.starts_with("20") && newest.ends_with("+08:00"),
        "newest event in Beijing time (RFC 3339): {newest}"
    );

    // A scrape just after agrees where the values are stable.
    let m = scrape(addr).await;
    let scraped: BTreeSet<(String, String)> = m
        .samples
        .iter()
        .filter(|(n, _, _)| n == "lanewatch_checkpoint_open_lanes")
        .map(|(_, l, _)| (l["checkpoint"].clone(), l["direction"].clone()))
        .collect();
    assert_eq!(
        scraped, want,
        "the directions on /metrics are the reported ones"
    );
    for ((c, d), kv) in &report {
        let l = [("checkpoint", c.as_str()), ("direction", d.as_str())];
        let open = m.get("lanewatch_checkpoint_open_lanes", &l).unwrap();
        assert_eq!(open.fract(), 0.0, "{c}/{d}: open lanes {open}");
        let lanes = m.get("lanewatch_checkpoint_lanes", &l).unwrap();
        for k in ["open_lanes", "recommended_lanes"] {
            let v: f64 = kv[k].parse().unwrap();
            assert!(v <= lanes, "{c}/{d}: {k} {v} of {lanes} lanes");
        }
    }
    let received = m.get("lanewatch_events_received_total", &[]).unwrap();
    assert!(
        events as f64 <= received,
        "reported {events} events, /metrics counts {received} later"
    );

    let status = ctrl_c(&mut demo.0);
    assert!(status.success(), "demo exit status {status:?}");
}

/// A tmux server of its own (a unique socket), killed with its panes when dropped.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs (apt-get install tmux)")
    }

    /// The pane's process and its threads as `ps` sees them (for a failure message).
    fn pane_process(&self) -> String {
        let o = self.run(&["display-message", "-p", "-t", &self.session, "#{pane_pid}"]);
        let pid = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        Command::new("ps")
            .args(["-L", "-o", "pid,lwp,stat,wchan:24,comm", "-p", &pid])
            .output()
            .map_or_else(
                |e| format!("ps: {e}"),
                |o| String::from_utf8_lossy(&o.stdout).into_owned(),
            )
    }

    fn capture(&self) -> String {
        let o = self.run(&["capture-pane", "-p", "-t", &self.session]);
        assert!(o.status.success(), "capture-pane: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The table's row of each shipped direction, when every one is there with integer
/// lane counts and yes/no flags; the events received from the title line.
fn table_of(pane: &str, want: &BTreeSet<(String, String)>) -> Option<u64> {
    let title = lanewatch::demo::status::TABLE_TITLE;
    let events: u64 = pane
        .lines()
        .find_map(|l| l.strip_prefix(title))?
        .trim()
        .split(',')
        .next()?
        .parse()
        .ok()?;
    for (c, d) in want {
        let row = pane.lines().find_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            (t.len() == 10 && t[0] == c && t[1] == d).then_some(t)
        })?;
        // checkpoint direction p95 arriving open / recommended LOS congested exceeded
        let ok = row[4].parse::<u32>().is_ok()
            && row[5] == "/"
            && row[6].parse::<u32>().is_ok()
            && ["yes", "no"].contains(&row[8])
            && ["yes", "no"].contains(&row[9]);
        if !ok {
            return None;
        }
    }
    Some(events)
}

#[test]
fn demo_in_a_terminal_redraws_a_table_of_every_checkpoint_direction_in_place() {
    require!(Need::Tool("tmux"));
    let tmux = Tmux {
        socket: support::unique("lanewatch-demo"),
        session: "demo".into(),
    };
    let o = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        &tmux.session,
        "-x",
        "160",
        "-y",
        "50",
        "env",
        "-u",
        "RUST_LOG",
        env!("CARGO_BIN_EXE_lanewatch"),
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--speed",
        "120",
    ]);
    assert!(o.status.success(), "tmux new-session: {o:?}");
    // Keep the pane after the demo exits, to read its exit status.
    let o = tmux.run(&["set-option", "-t", &tmux.session, "remain-on-exit", "on"]);
    assert!(o.status.success(), "tmux set-option: {o:?}");
    let want = shipped_directions();
    let title = lanewatch::demo::status::TABLE_TITLE;
    let once = |pane: &str, what: &str| {
        let n = pane.lines().filter(|l| l.starts_with(what)).count();
        assert!(n <= 1, "{what:?} {n} times: the table scrolled\n{pane}");
        n
    };

    // The table with new numbers three times (redrawn at least twice), never scrolled.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut counts = BTreeSet::new();
    let mut pane = String::new();
    while counts.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no table of {} directions redrawn within 60 s; pane:\n{pane}",
            want.len()
        );
        std::thread::sleep(Duration::from_millis(250));
        pane = tmux.capture();
        once(&pane, title);
        once(&pane, "checkpoint  direction");
        if let Some(events) = table_of(&pane, &want) {
            if events > 0 {
                counts.insert(events);
            }
            for (c, d) in &want {
                let rows = pane
                    .lines()
                    .filter(|l| l.split_whitespace().take(2).eq([c.as_str(), d.as_str()]))
                    .count();
                assert_eq!(rows, 1, "{c}/{d} rows\n{pane}");
            }
        }
    }
    assert_eq!(once(&pane, title), 1, "{pane}");
    assert_eq!(
        once(&pane, "  metrics  http://"),
        1,
        "the startup lines stay\n{pane}"
    );
    assert!(
        !pane.contains(" INFO "),
        "no log lines tear the table\n{pane}"
    );

    let o = tmux.run(&["send-keys", "-t", &tmux.session, "C-c"]);
    assert!(o.status.success(), "tmux send-keys: {o:?}");
    // The pane is dead once the demo's terminal closed (it exited). tmux learns the
    // exit status only when it reaps the process, which tmux 3.3 sometimes misses
    // (the process stays a zombie): the status is checked when tmux has it, and the
    // clean-exit line always.
    let pane_state = || {
        let o = tmux.run(&[
            "display-message",
            "-p",
            "-t",
            &tmux.session,
            "#{pane_dead} #{pane_dead_status}",
        ]);
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let t = Instant::now();
    while !pane_state().starts_with('1') {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "demo did not stop within 10 s of Ctrl-C: pane {:?}, process\n{}\n{}",
            pane_state(),
            tmux.pane_process(),
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = Instant::now();
    let mut dead = pane_state();
    while dead == "1" && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(100));
        dead = pane_state();
    }
    assert!(
        dead == "1" || dead == "1 0",
        "exit status 0: {dead:?}\n{}",
        tmux.capture()
    );
    let pane = tmux.capture();
    assert_eq!(once(&pane, title), 1, "the last table stays\n{pane}");
    assert!(
        pane.contains("lanewatch stopped:"),
        "stopped cleanly after Ctrl-C\n{pane}"
    );
}
