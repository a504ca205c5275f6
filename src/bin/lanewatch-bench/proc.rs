//! What this process costs, read from `/proc/self`: CPU seconds (user + system, all
//! threads, librdkafka's included), resident memory now (`VmRSS`) and at its peak
//! (`VmHWM`), and a sampler that records the RSS once a second during a run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of this process so far (0 when `/proc` is unreadable).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14, 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / USER_HZ
}

/// A `kB` field of `/proc/self/status`, in MiB (0 when missing).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resident set size now, MiB.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// Peak resident set size of the process, MiB.
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// RSS sampled every second until stopped.
pub struct RssSampler {
    samples: Arc<Mutex<Vec<f64>>>,
    stop: CancellationToken,
}

/// First, middle, last and largest of the samples, MiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct RssProfile {
    pub samples: usize,
    pub first: f64,
    pub mid: f64,
    pub last: f64,
    pub max: f64,
}

impl RssSampler {
    pub fn start() -> Self {
        let samples = Arc::new(Mutex::new(vec![rss_mib()]));
        let stop = CancellationToken::new();
        let (s, t) = (samples.clone(), stop.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.tick().await;
            loop {
                tokio::select! {
                    _ = t.cancelled() => break,
                    _ = every.tick() => s.lock().expect("sampler lock").push(rss_mib()),
                }
            }
        });
        RssSampler { samples, stop }
    }

    /// Stop sampling (one last sample is taken) and summarise.
    pub fn finish(self) -> RssProfile {
        self.stop.cancel();
        let mut v = std::mem::take(&mut *self.samples.lock().expect("sampler lock"));
        v.push(rss_mib());
        RssProfile {
            samples: v.len(),
            first: v[0],
            mid: v[v.len() / 2],
            last: v[v.len() - 1],
            max: v.iter().copied().fold(0.0, f64::max),
        }
    }
}

/// The `q` quantile (nearest rank) of `v`, sorted in place; NaN when empty.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}
