//! Sensor imperfections counted by the live pipeline, future events, user errors,
//! producing to Kafka (librdkafka's mock cluster) and paced runs.

use super::*;

#[test]
fn imperfections_are_produced_and_counted_by_the_pipeline() {
    let reg = registry();
    let t0 = midnight();
    let mut opts = SimOptions::new(t0, t0 + 24 * HOUR);
    opts.seed = 3;
    opts.imperfections = Imperfections {
        duplicates: 0.02,
        late: 0.03,
        late_by_ms: 600_000,
        malformed: 0.02,
        ..Imperfections::default()
    };
    let config = Config::with_registry(reg.clone());
    let mut sim = Simulator::new(&reg, opts.clone()).unwrap();
    let mut events = Vec::new();
    let mut max_pending = 0;
    while let Some(e) = sim.next() {
        max_pending = max_pending.max(sim.pending());
        events.push(e);
    }
    let stats = sim.stats().clone();
    assert!(
        max_pending < 5_000,
        "held back at most {max_pending} messages"
    );

    let mut pipeline = Pipeline::new(&config);
    // Read as `lanewatch replay` reads a file: one split, pending until its end.
    pipeline.set_split_pending(0, true);
    let mut by_kind: HashMap<EventKind, u64> = HashMap::new();
    let mut ids = HashSet::new();
    let mut oracle = LateOracle::new(
        config.windows.allowed_lateness_ms,
        config.windows.lane_idle_timeout_ms,
        config.windows.sizes_ms[0],
    );
    let mut expected_late = 0u64;
    let mut last_delivery = i64::MIN;
    for e in &events {
        assert!(e.deliver_at_ms >= last_delivery, "delivery order");
        last_delivery = e.deliver_at_ms;
        *by_kind.entry(e.kind).or_default() += 1;
        if let EventKind::Malformed(_) = e.kind {
            pipeline.apply(&e.payload, None);
            continue;
        }
        let ev = parse(&e.payload, &config.events, None).expect("valid event");
        assert_eq!(e.key, format!("{}/{}", ev.checkpoint, ev.direction));
        let short = if ev.direction == Direction::Inbound {
            "in"
        } else {
            "out"
        };
        let prefix = format!("{}-{short}-{}-", ev.checkpoint, ev.lane);
        let seq = ev.event_id.strip_prefix(&prefix).expect("event id prefix");
        assert!(
            seq.len() == 9 && seq.bytes().all(|b| b.is_ascii_digit()),
            "{}",
            ev.event_id
        );
        assert!(
            reg.checkpoint(&ev.checkpoint)
                .unwrap()
                .lanes
                .iter()
                .any(|l| l.id == ev.lane && l.direction == ev.direction)
        );
        match e.kind {
            EventKind::Passage => assert_eq!(e.deliver_at_ms, ev.departed_ms),
            EventKind::Late => {
                assert!((ev.departed_ms + 1..=ev.departed_ms + 600_000).contains(&e.deliver_at_ms))
            }
            _ => {}
        }
        if e.kind == EventKind::Duplicate {
            assert!(
                ids.contains(ev.event_id.as_ref()),
                "a duplicate repeats an earlier event"
            );
        } else {
            assert!(
                ids.insert(ev.event_id.to_string()),
                "event ids are unique per passage"
            );
            let direction = format!("{}/{}", ev.checkpoint, ev.direction);
            if oracle.apply(&direction, &ev.lane, ev.departed_ms) {
                expected_late += 1;
            }
        }
        pipeline.apply(&e.payload, None);
    }
    let count = |k: EventKind| by_kind.get(&k).copied().unwrap_or(0);
    let c = &pipeline.counters;
    assert_eq!(c.received.get(), events.len() as u64);
    assert_eq!(c.duplicates.get(), count(EventKind::Duplicate));
    assert_eq!(c.late.get(), expected_late);
    assert!(expected_late > 0 && expected_late <= count(EventKind::Late));
    for r in Reason::ALL {
        assert_eq!(
            c.rejected[r.index()].get(),
            count(EventKind::Malformed(r)),
            "{r}"
        );
        let expected_some = r != Reason::FutureEvent;
        assert_eq!(count(EventKind::Malformed(r)) > 0, expected_some, "{r}");
    }
    // Requested fractions, within binomial tolerances.
    let near = |got: u64, p: f64, n: u64| {
        let e = p * n as f64;
        (got as f64 - e).abs() <= 4.0 * (e * (1.0 - p)).sqrt() + 1.0
    };
    let n = stats.passages;
    let malformed: u64 = Reason::ALL
        .iter()
        .map(|r| count(EventKind::Malformed(*r)))
        .sum();
    assert_eq!(malformed, stats.malformed);
    assert!(near(malformed, 0.02, n), "{malformed} malformed of {n}");
    assert!(
        near(count(EventKind::Late), 0.03, n - malformed),
        "{} late",
        count(EventKind::Late)
    );
    assert!(
        near(count(EventKind::Duplicate), 0.02, n - malformed),
        "{} duplicates",
        count(EventKind::Duplicate)
    );
    assert_eq!(stats.messages, events.len() as u64);
}

#[test]
fn future_events_are_rejected_live() {
    let reg = registry();
    let t0 = midnight();
    let mut opts = SimOptions::new(t0 + 7 * HOUR, t0 + 8 * HOUR);
    opts.imperfections = Imperfections {
        malformed: 0.1,
        malformed_reasons: vec![Reason::FutureEvent],
        ..Imperfections::default()
    };
    let mut pipeline = Pipeline::new(&Config::with_registry(reg.clone()));
    let mut n = 0;
    for e in simulate(&reg, opts) {
        pipeline.apply(&e.payload, Some(e.deliver_at_ms));
        n += u64::from(e.kind == EventKind::Malformed(Reason::FutureEvent));
    }
    assert!(n > 0);
    assert_eq!(
        pipeline.counters.rejected[Reason::FutureEvent.index()].get(),
        n
    );
}

#[test]
fn user_errors_say_what_to_fix() {
    let reg = registry();
    let t0 = midnight();
    let err = |f: &dyn Fn(&mut SimOptions)| {
        let mut o = SimOptions::new(t0, t0 + HOUR);
        f(&mut o);
        Simulator::new(&reg, o).err().expect("rejected").to_string()
    };
    use lanewatch::simulate::options::{parse_incident_arg, parse_open_lanes};
    let e = err(&|o| {
        o.incidents
            .push(parse_incident_arg("baimao/inbound/03@07:30+45m").unwrap())
    });
    assert!(
        e.contains("unknown checkpoint \"baimao\"") && e.contains("baimiao, yanjiao"),
        "{e}"
    );
    let e = err(&|o| {
        o.incidents
            .push(parse_incident_arg("baimiao/outbound/06@07:30+45m").unwrap())
    });
    assert!(
        e.contains("no outbound lane \"06\"") && e.contains("01, 02, 03, 04, B1, B2, T1"),
        "{e}"
    );
    let e = err(&|o| {
        o.open_lanes
            .push(parse_open_lanes("baimiao/inbound/car=9").unwrap())
    });
    assert!(e.contains("has 7 inbound car lanes, fewer than 9"), "{e}");
    let e = err(&|o| o.end_ms = o.start_ms);
    assert!(e.contains("--end must be after --start"), "{e}");
    let e = err(&|o| o.imperfections.late = 1.5);
    assert!(e.contains("--late 1.5 is not a fraction"), "{e}");
}

fn night_options() -> SimOptions {
    let t0 = midnight();
    let mut o = SimOptions::new(t0 + 2 * HOUR, t0 + 3 * HOUR);
    o.seed = 5;
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produces_keyed_messages_to_kafka() {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let mock = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    mock.create_topic("passages", 3, 1).unwrap();
    let reg = registry();
    let expected: Vec<SimEvent> = simulate(&reg, night_options());
    let out = lanewatch::simulate::Output::Kafka {
        brokers: mock.bootstrap_servers(),
        topic: "passages".into(),
        options: vec![("linger.ms".into(), "1".into())],
    };
    let sim = Simulator::new(&reg, night_options()).unwrap();
    let sum = lanewatch::simulate::run_simulator(
        sim,
        out,
        lanewatch::simulate::Speed::Max,
        CancellationToken::new(),
    )
    .await
    .expect("produced");
    assert_eq!(
        sum.written,
        expected.len() as u64,
        "every message acknowledged"
    );

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "sim-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["passages"]).unwrap();
    let mut got: HashMap<String, (i32, Vec<Vec<u8>>)> = HashMap::new();
    let mut n = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while n < expected.len() && std::time::Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(std::time::Duration::from_millis(200)) {
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let e = got.entry(key).or_insert((m.partition(), Vec::new()));
            assert_eq!(e.0, m.partition(), "one direction, one partition");
            e.1.push(m.payload().unwrap().to_vec());
            n += 1;
        }
    }
    let mut want: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for e in expected {
        want.entry(e.key).or_default().push(e.payload);
    }
    let got: HashMap<String, Vec<Vec<u8>>> = got.into_iter().map(|(k, (_, v))| (k, v)).collect();
    assert!(
        got == want,
        "same messages, in order per key ({n} consumed)"
    );
}

#[tokio::test]
async fn paced_runs_match_and_stop_on_shutdown() {
    let reg = registry();
    let dir = tempfile::tempdir().unwrap();
    let (fast, paced) = (dir.path().join("fast"), dir.path().join("paced"));
    let run = |path: &Path, speed, token| {
        let sim = Simulator::new(&reg, night_options()).unwrap();
        lanewatch::simulate::run_simulator(
            sim,
            lanewatch::simulate::Output::Jsonl(path.to_path_buf()),
            speed,
            token,
        )
    };
    use lanewatch::simulate::Speed;
    run(&fast, Speed::Max, CancellationToken::new())
        .await
        .unwrap();
    // One simulated hour in about 0.2 s of wall time.
    let started = std::time::Instant::now();
    let s = run(&paced, Speed::Factor(18_000.0), CancellationToken::new())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(150),
        "paced, not flat out"
    );
    assert!(!s.interrupted);
    assert_eq!(
        std::fs::read(&fast).unwrap(),
        std::fs::read(&paced).unwrap()
    );
    // Real time: an hour to go, stopped by the token within moments.
    let token = CancellationToken::new();
    let stopper = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        stopper.cancel();
    });
    let started = std::time::Instant::now();
    let s = run(&paced, Speed::Factor(1.0), token).await.unwrap();
    assert!(s.interrupted && started.elapsed() < std::time::Duration::from_secs(5));
    let all = std::fs::read(&fast)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    assert!(s.written < all, "stopped early: {} of {all}", s.written);
}

// Ground truth (`--truth`): checked against the events it describes.
