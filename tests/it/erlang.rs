//! Erlang C against values computed independently here (the textbook sum formula in
//! exact factorial form), including the edges ρ ≥ 1, λ = 0 and a single lane.

use lanewatch::congestion::erlang::{erlang_c, prob_wait_exceeds, recommend};

/// C(c, a) = (a^c/c! · c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c−a)).
fn textbook(c: u32, a: f64) -> f64 {
    let fact = |n: u32| (1..=n).map(f64::from).product::<f64>();
    let top = a.powi(c as i32) / fact(c) * (c as f64 / (c as f64 - a));
    let sum: f64 = (0..c).map(|k| a.powi(k as i32) / fact(k)).sum();
    top / (sum + top)
}

#[test]
fn erlang_c_matches_the_textbook_formula() {
    for &(c, a) in &[
        (1, 0.5),
        (2, 1.0),
        (3, 2.5),
        (5, 4.0),
        (8, 6.3),
        (12, 11.5),
        (20, 15.0),
        (4, 0.01),
    ] {
        let (got, want) = (erlang_c(c, a), textbook(c, a));
        assert!(
            (got - want).abs() < 1e-9,
            "C({c}, {a}) = {got}, want {want}"
        );
    }
}

#[test]
fn single_lane_is_rho() {
    // M/M/1: P(wait) = ρ, P(W > t) = ρ·e^{−(μ−λ)t}.
    for &(l, m) in &[(0.5, 1.0), (0.9, 1.0), (1.2, 2.0)] {
        assert!((erlang_c(1, l / m) - l / m).abs() < 1e-12);
        let t = 3.0;
        let want = (l / m) * (-(m - l) * t).exp();
        assert!((prob_wait_exceeds(1, l, m, t) - want).abs() < 1e-12);
    }
}

#[test]
fn unstable_and_empty_edges() {
    assert_eq!(erlang_c(3, 3.0), 1.0);
    assert_eq!(erlang_c(3, 4.5), 1.0);
    assert_eq!(prob_wait_exceeds(2, 5.0, 2.0, 10.0), 1.0);
    assert_eq!(prob_wait_exceeds(2, 0.0, 2.0, 10.0), 0.0);
    let r = recommend(0.0, 2.0, 10.0, 0.1, 6);
    assert_eq!((r.lanes, r.capacity_exceeded), (0, false));
    // 30 veh/min against 6 lanes of 2 veh/min: capacity exceeded, all lanes advised.
    let r = recommend(30.0, 2.0, 10.0, 0.1, 6);
    assert_eq!((r.lanes, r.capacity_exceeded), (6, true));
}

#[test]
fn recommendation_is_the_smallest_meeting_the_target() {
    for &(l, m, t, risk, max) in &[
        (7.0, 2.0, 2.0, 0.1, 10),
        (3.0, 1.0, 0.5, 0.05, 10),
        (0.5, 1.0, 10.0, 0.1, 4),
        (9.5, 2.0, 1.0, 0.2, 8),
    ] {
        let r = recommend(l, m, t, risk, max);
        assert!(!r.capacity_exceeded);
        let p = |c: u32| textbook(c, l / m) * (-(c as f64 * m - l) * t).exp();
        let stable = |c: u32| (c as f64) * m > l;
        assert!(stable(r.lanes) && p(r.lanes) < risk, "{r:?}");
        let fewer = r.lanes - 1;
        assert!(
            fewer == 0 || !stable(fewer) || p(fewer) >= risk,
            "{fewer} lanes would do: {r:?}"
        );
    }
}
