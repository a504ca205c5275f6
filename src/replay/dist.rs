//! Whole-range statistics of one quantity over a replay: count, sum, maximum and the
//! exact nearest-rank quantiles, its values kept in a [`spill`](super::spill) stream
//! (memory per lane bounded whatever the range; a lane's values are read back and
//! sorted once, when the report is built).

use std::io;

use super::spill::{Reader, Spill, Stream, put_u64};

/// Whole-range statistics of one quantity (passage, queue wait or inspection time).
///
/// Every value is kept (a varint of its milliseconds, negative ones as 0), in the
/// replay's temporary file beyond a chunk: its quantiles are the exact nearest-rank
/// ones whatever the range. (An HdrHistogram per lane was ~50 KB at 0.1% error: a
/// thousand lanes' three of them were most of a multi-day replay's memory.)
#[derive(Debug, Default)]
pub struct Dist {
    pub sum_ms: i64,
    pub max_ms: i64,
    count: u64,
    values: Stream,
}

impl Dist {
    pub fn new() -> Self {
        Dist::default()
    }

    #[inline]
    pub fn record(&mut self, ms: i64, spill: &mut Spill) {
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
        self.count += 1;
        self.values.push(spill, |b| put_u64(b, ms.max(0) as u64));
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The values, ascending (ms).
    pub fn sorted(&self, spill: &Spill) -> io::Result<Vec<u64>> {
        let bytes = self.values.load(spill)?;
        let mut r = Reader::new(&bytes);
        let mut v = Vec::with_capacity(self.count as usize);
        while !r.is_empty() {
            v.push(r.u64());
        }
        v.sort_unstable();
        Ok(v)
    }
}

/// The nearest-rank `q` quantile of ascending `sorted` values: the smallest value with
/// at least `q` of them at or below it. 0 for no values.
pub fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    let n = sorted.len();
    if n == 0 {
        return 0;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest-rank quantile from its definition: the smallest value with at least
    /// `q` of the values at or below it.
    fn reference(values: &[u64], q: f64) -> u64 {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len() as f64;
        *v.iter()
            .find(|&&x| v.partition_point(|&y| y <= x) as f64 >= q * n)
            .unwrap()
    }

    fn values(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                5_000 + (x >> 33) % 2_400_000
            })
            .collect()
    }

    #[test]
    fn quantiles_are_the_exact_nearest_rank_ones_at_any_count() {
        for (n, seed) in [(1, 1), (17, 2), (8_192, 3), (3 * 8_192 + 17, 5)] {
            let v = values(n, seed);
            let mut spill = Spill::default();
            let mut d = Dist::new();
            v.iter().for_each(|&x| d.record(x as i64, &mut spill));
            spill.check().unwrap();
            assert_eq!(d.count(), n as u64);
            assert_eq!(d.sum_ms, v.iter().sum::<u64>() as i64);
            let sorted = d.sorted(&spill).unwrap();
            for q in [0.5, 0.9, 0.95, 0.99, 1.0] {
                assert_eq!(nearest_rank(&sorted, q), reference(&v, q), "n={n} q={q}");
            }
        }
        assert_eq!(nearest_rank(&[], 0.5), 0);
    }

    #[test]
    fn a_value_too_long_for_u32_milliseconds_is_kept_not_clamped() {
        let mut spill = Spill::default();
        let mut long = Dist::new();
        long.record(1, &mut spill);
        long.record(5_000_000_000, &mut spill);
        long.record(-3, &mut spill);
        assert_eq!(long.count(), 3);
        assert_eq!(long.max_ms, 5_000_000_000);
        let sorted = long.sorted(&spill).unwrap();
        assert_eq!(sorted, [0, 1, 5_000_000_000]);
        assert_eq!(nearest_rank(&sorted, 1.0), 5_000_000_000);
    }
}
