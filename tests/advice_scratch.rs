use lanewatch::bench::advice::{Score, score};
use lanewatch::config::Config;
use lanewatch::simulate::SimOptions;

#[test]
fn scratch() {
    let config = Config::shipped();
    let t0 = lanewatch::time::parse_timestamp("2026-04-13T00:00:00+08:00").unwrap();
    let mut total = Score::default();
    for (seed, demand, inc) in [
        (23u64, 1.0, ""),
        (24, 0.5, ""),
        (25, 1.5, ""),
        (26, 1.2, "baimiao/inbound/03@07:30+45m:close"),
        (27, 1.0, "yanjiao/outbound/*@18:00+30m:slow=2"),
    ] {
        let mut opts = SimOptions::new(t0, t0 + 72 * 3_600_000);
        opts.seed = seed;
        opts.demand = demand;
        if !inc.is_empty() {
            opts.incidents
                .push(lanewatch::simulate::args::parse_incident_arg(inc).unwrap());
        }
        let s = score(&config, opts);
        eprintln!(
            "seed {seed} demand {demand} {inc}: windows {} exact {:.1}% within1 {:.1}% exc<80 {} exc {}/{} cong differs {} of {} open {:.1}% worst {:?}",
            s.windows,
            s.pct(s.exact),
            s.pct(s.within_one),
            s.exceeded_below_80,
            s.exceeded,
            s.exceeded_truth,
            s.congested_differs,
            s.congested_truth,
            s.pct(s.open_exact),
            &s.worst[..3.min(s.worst.len())]
        );
        total.add(&s);
    }
    eprintln!(
        "TOTAL windows {} exact {:.1}% within1 {:.1}% exc<80 {}",
        total.windows,
        total.pct(total.exact),
        total.pct(total.within_one),
        total.exceeded_below_80
    );
}
