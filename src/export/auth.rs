//! Basic authentication of `/metrics` as Prometheus' exporter-toolkit does it: bcrypt
//! hashes, the same work for an unknown user as for a wrong password, a cache of
//! verified credentials, and a bound on the CPU that checking wrong ones may take.

use crate::export::FamilyOpts;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::{Counter, IntCounterVec};

/// Share of one core that bcrypt checks may take: within each second, once checks of
/// uncached credentials have taken this long, further ones are answered
/// [`Verdict::Throttled`] until the next second (HTTP answers those after a second:
/// a tarpit). A flood of wrong passwords costs at
/// most this much CPU; credentials verified once are cached and never wait.
pub const BCRYPT_SHARE: Duration = Duration::from_millis(200);

/// What an `Authorization` header gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Denied,
    /// The bcrypt budget of this second is spent: retry in a second (HTTP 429).
    Throttled,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Denied => "denied",
            Verdict::Throttled => "throttled",
        }
    }
}

/// bcrypt work done in the current one-second window.
struct Budget {
    window: Instant,
    spent: Duration,
}

/// Basic-auth users with bcrypt hashes. Verified credentials are cached by a 128-bit
/// fingerprint (never the password), so a scrape costs one bcrypt check per user and
/// password, not one per request.
#[derive(Clone)]
pub struct BasicAuth {
    users: Arc<BTreeMap<String, String>>,
    /// A hash of a password nobody has, at the users' highest cost: an unknown user is
    /// checked against it, so a wrong user name answers as slowly as a wrong password
    /// and reveals nothing.
    dummy: Arc<String>,
    ok: Arc<Mutex<rustc_hash::FxHashSet<u128>>>,
    /// Held for the whole of a bcrypt check: one at a time.
    budget: Arc<Mutex<Budget>>,
    bcrypt_seconds: Counter,
    checks: IntCounterVec,
}

/// The cost factor of a bcrypt hash (`$2y$10$…` → 10).
fn cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

impl BasicAuth {
    /// `users`: name → bcrypt hash (validated by the caller).
    pub fn new(users: BTreeMap<String, String>) -> Self {
        let cost = users.values().filter_map(|h| cost(h)).max().unwrap_or(10);
        let secret = format!("{:?}{}", Instant::now(), std::process::id());
        let dummy =
            bcrypt::hash(secret, cost.clamp(4, 31)).unwrap_or_else(|_| "$2y$10$invalid".into());
        BasicAuth {
            users: Arc::new(users),
            dummy: Arc::new(dummy),
            ok: Arc::default(),
            budget: Arc::new(Mutex::new(Budget {
                window: Instant::now(),
                spent: Duration::ZERO,
            })),
            bcrypt_seconds: Counter::with_opts(
                crate::engine::catalogue::HTTP_AUTH_BCRYPT_SECONDS.opts(),
            )
            .expect("valid counter"),
            checks: IntCounterVec::new(
                crate::engine::catalogue::HTTP_AUTH_CHECKS.opts(),
                crate::engine::catalogue::HTTP_AUTH_CHECKS.labels,
            )
            .expect("valid counter"),
        }
    }

    /// The authentication counters, for `/metrics` (every result at 0 from the start,
    /// so a rate over them is defined before the first failure).
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        for v in [Verdict::Allowed, Verdict::Denied, Verdict::Throttled] {
            self.checks.with_label_values(&[v.label()]);
        }
        vec![
            Box::new(self.bcrypt_seconds.clone()),
            Box::new(self.checks.clone()),
        ]
    }

    /// Check an `Authorization` header value (blocking: may run bcrypt).
    pub fn check(&self, header: Option<&str>) -> Verdict {
        let v = self.verdict(header);
        self.checks.with_label_values(&[v.label()]).inc();
        v
    }

    fn verdict(&self, header: Option<&str>) -> Verdict {
        use base64::Engine;
        // RFC 7617: the scheme is case-insensitive.
        let Some((scheme, b64)) = header.and_then(|h| h.trim().split_once(' ')) else {
            return Verdict::Denied;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Verdict::Denied;
        }
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return Verdict::Denied;
        };
        let Ok(text) = std::str::from_utf8(&raw) else {
            return Verdict::Denied;
        };
        let Some((user, password)) = text.split_once(':') else {
            return Verdict::Denied;
        };
        let (known, hash) = match self.users.get(user) {
            Some(h) => (true, h.as_str()),
            None => (false, self.dummy.as_str()),
        };
        let fp = xxhash_rust::xxh3::xxh3_128(format!("{user}\0{password}\0{hash}").as_bytes());
        if known && self.ok.lock().map(|s| s.contains(&fp)).unwrap_or(false) {
            return Verdict::Allowed;
        }
        let good = {
            let mut b = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if now.duration_since(b.window) >= Duration::from_secs(1) {
                b.window = now;
                b.spent = Duration::ZERO;
            }
            if b.spent >= BCRYPT_SHARE {
                return Verdict::Throttled;
            }
            let good = bcrypt::verify(password, hash).unwrap_or(false);
            let took = now.elapsed();
            b.spent += took;
            self.bcrypt_seconds.inc_by(took.as_secs_f64());
            good && known
        };
        if !good {
            return Verdict::Denied;
        }
        if let Ok(mut s) = self.ok.lock() {
            if s.len() > 1024 {
                s.clear();
            }
            s.insert(fp);
        }
        Verdict::Allowed
    }
}
