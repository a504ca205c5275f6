//! Whole-range statistics of one quantity over a replay: exact values while they are
//! few, an HdrHistogram beyond (memory per lane bounded whatever the range).

use hdrhistogram::Histogram;

use crate::engine::lanes::window::nearest_rank;

/// Whole-range statistics of one quantity (passage, queue wait or inspection time).
///
/// A lane's values are kept exactly (`u32` ms) until there are [`EXACT_MAX`] of them:
/// its quantiles are then the exact nearest-rank ones. Beyond, they go into an
/// HdrHistogram at 3 significant digits (a quantile at most 0.1% above the exact one),
/// so memory per lane is bounded whatever the range: a day of a thousand lanes (2,000
/// values a lane) needs 24 MB exact where the histograms took 169 MB (heaptrack).
/// In histogram mode, values are buffered and recorded in sorted batches: recording in
/// random order misses the cache on every value once there are many lanes (measured: a
/// sixth of the replay's time), in sorted order it walks the counts array once. Counts
/// are `u32` (saturating; one lane sees far fewer than 4·10⁹ vehicles of one
/// millisecond value): the counts array spans every value up to the largest seen, ~50
/// KB per histogram for passages up to half an hour.
#[derive(Debug, Clone)]
pub struct Dist {
    /// `None` while the values are kept exactly in `buf`.
    hist: Option<Histogram<u32>>,
    pub sum_ms: i64,
    pub max_ms: i64,
    /// Every value (exact mode), or the batch not yet recorded into `hist`.
    buf: Vec<u32>,
}

/// Values a [`Dist`] keeps exactly (32 KB) before it switches to a histogram.
pub const EXACT_MAX: usize = 8192;

const BATCH: usize = 4096;

impl Dist {
    pub fn new() -> Self {
        Dist {
            hist: None,
            sum_ms: 0,
            max_ms: 0,
            buf: Vec::new(),
        }
    }

    #[inline]
    pub fn record(&mut self, ms: i64) {
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
        let v = ms.max(0);
        match u32::try_from(v) {
            Ok(v) => {
                // Exact values are kept for the whole range: grow by a quarter, not by
                // doubling (a thousand lanes' buffers were up to half empty).
                if self.buf.len() == self.buf.capacity() && self.hist.is_none() {
                    self.buf.reserve_exact((self.buf.len() / 4).max(16));
                }
                self.buf.push(v);
                let limit = if self.hist.is_some() {
                    BATCH
                } else {
                    EXACT_MAX
                };
                if self.buf.len() > limit {
                    self.histogram();
                    self.flush();
                }
            }
            // Longer than 49 days (a configured max_passage_time can allow it).
            Err(_) => {
                let h = self.histogram();
                if h.record(v as u64).is_err() {
                    h.saturating_record(v as u64);
                }
            }
        }
    }

    /// The histogram, created (and fed the exact values) if needed.
    fn histogram(&mut self) -> &mut Histogram<u32> {
        if self.hist.is_none() {
            self.hist = Some(Histogram::new(3).expect("3 significant digits is valid"));
            self.flush();
        }
        self.hist.as_mut().expect("just created")
    }

    /// Sort the exact values, or record the buffered ones (before the quantiles are
    /// read).
    pub fn flush(&mut self) {
        self.buf.sort_unstable();
        let Some(hist) = &mut self.hist else {
            // Exact: these are the values for good (flushed when the replay ends).
            self.buf.shrink_to_fit();
            return;
        };
        let mut i = 0;
        while i < self.buf.len() {
            let v = self.buf[i];
            let n = self.buf[i..].iter().take_while(|&&x| x == v).count();
            // Auto-resizing: grows to the largest value seen (a few KB for short passages).
            let n32 = u32::try_from(n).unwrap_or(u32::MAX);
            if hist.record_n(u64::from(v), n32).is_err() {
                hist.saturating_record_n(u64::from(v), n32);
            }
            i += n;
        }
        self.buf.clear();
        if self.buf.capacity() > BATCH {
            self.buf.shrink_to(BATCH);
        }
    }

    pub fn count(&self) -> u64 {
        self.hist.as_ref().map_or(0, |h| h.len()) + self.buf.len() as u64
    }

    /// The nearest-rank `q` quantile in ms (after [`Dist::flush`]): exact while the
    /// values are kept, else as HdrHistogram reports it, the highest value equivalent
    /// to the recorded one (within 0.1% at 3 significant digits). 0 for no values.
    pub fn quantile_ms(&self, q: f64) -> u64 {
        match &self.hist {
            None if self.buf.is_empty() => 0,
            None => {
                debug_assert!(self.buf.is_sorted(), "quantile before flush");
                u64::from(nearest_rank(&self.buf, q))
            }
            Some(h) => h
                .highest_equivalent(h.value_at_quantile(q))
                .min(self.max_ms as u64),
        }
    }

    /// Whether the values are kept exactly (tests).
    pub fn is_exact(&self) -> bool {
        self.hist.is_none()
    }
}

impl Default for Dist {
    fn default() -> Self {
        Dist::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest-rank quantile from its definition: the smallest value with at least
    /// `q` of the values at or below it.
    fn reference(values: &[u32], q: f64) -> u64 {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len() as f64;
        u64::from(
            *v.iter()
                .find(|&&x| v.iter().filter(|&&y| y <= x).count() as f64 >= q * n)
                .unwrap(),
        )
    }

    fn values(n: usize, seed: u64) -> Vec<u32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                5_000 + (x >> 33) as u32 % 2_400_000
            })
            .collect()
    }

    #[test]
    fn few_values_give_the_exact_nearest_rank_quantiles() {
        let v = values(EXACT_MAX, 3);
        let mut d = Dist::new();
        v.iter().for_each(|&x| d.record(i64::from(x)));
        d.flush();
        assert!(d.is_exact());
        assert_eq!(d.count(), EXACT_MAX as u64);
        for q in [0.5, 0.9, 0.95, 0.99, 1.0] {
            assert_eq!(d.quantile_ms(q), reference(&v, q), "q={q}");
        }
        assert_eq!(Dist::new().quantile_ms(0.5), 0);
    }

    #[test]
    fn many_values_are_within_a_thousandth_above_the_exact_quantile() {
        let v = values(3 * EXACT_MAX + 17, 5);
        let mut d = Dist::new();
        v.iter().for_each(|&x| d.record(i64::from(x)));
        d.flush();
        assert!(!d.is_exact());
        assert_eq!(d.count(), v.len() as u64);
        for q in [0.5, 0.9, 0.95, 0.99] {
            let (got, want) = (d.quantile_ms(q), reference(&v, q));
            assert!(
                got >= want && (got - want) as f64 <= want as f64 * 0.001,
                "q={q}: {got} vs {want}"
            );
        }
        // A value too long for u32 milliseconds is kept too, not clamped.
        let mut long = Dist::new();
        long.record(1);
        long.record(5_000_000_000);
        long.flush();
        assert_eq!(long.count(), 2);
        assert_eq!(long.max_ms, 5_000_000_000);
        assert!(long.quantile_ms(1.0) >= 4_995_000_000);
    }
}
