//! Erlang C (M/M/c): the probability that a vehicle waits, the tail of the waiting
//! time, and the smallest number of lanes that meets a wait target.

/// Probability that an arrival has to queue in an M/M/c system with offered load
/// `a = λ/μ` (Erlang) and `c` servers; 1 when `a ≥ c` (unstable).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if c == 0 {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    let cf = f64::from(c);
    if a >= cf {
        return 1.0;
    }
    // Erlang B by the stable recursion B(k) = a·B(k−1) / (k + a·B(k−1)), then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / cf;
    b / (1.0 - rho * (1.0 - b))
}

/// `P(W > t)` for M/M/c with arrival rate `lambda` and service rate `mu` per server
/// (same time unit as `t`): `C(c, λ/μ) · exp(−(cμ − λ)·t)`; 1 when unstable.
pub fn prob_wait_exceeds(c: u32, lambda: f64, mu: f64, t: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    if mu <= 0.0 || c == 0 {
        return 1.0;
    }
    let cap = f64::from(c) * mu;
    if lambda >= cap {
        return 1.0;
    }
    erlang_c(c, lambda / mu) * (-(cap - lambda) * t).exp()
}

/// The advice for one checkpoint direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recommendation {
    /// Smallest number of lanes with `P(wait > target) < risk`, capped at `max_lanes`.
    pub lanes: u32,
    /// Even `max_lanes` lanes do not meet the target (or the system is unstable).
    pub capacity_exceeded: bool,
    /// `P(wait > target)` with the recommended number of lanes.
    pub probability: f64,
}

/// Smallest `c` in `1..=max_lanes` with `P(W > target) < risk`; 0 lanes when nothing
/// arrives. Rates per minute, `target` in minutes.
pub fn recommend(lambda: f64, mu: f64, target: f64, risk: f64, max_lanes: u32) -> Recommendation {
    if lambda <= 0.0 {
        return Recommendation {
            lanes: 0,
            capacity_exceeded: false,
            probability: 0.0,
        };
    }
    let max = max_lanes.max(1);
    let mut p = 1.0;
    for c in 1..=max {
        p = prob_wait_exceeds(c, lambda, mu, target);
        if p < risk {
            return Recommendation {
                lanes: c,
                capacity_exceeded: false,
                probability: p,
            };
        }
    }
    Recommendation {
        lanes: max,
        capacity_exceeded: true,
        probability: p,
    }
}
