//! Native (sparse, exponential) histogram buckets of a lane histogram, kept beside its
//! classic buckets when `buckets.native_histograms` is on, with one writer like
//! [`super::stats::Hist`]: the buckets are exported only in the protobuf exposition
//! (`export::proto`), which Prometheus asks for with `--enable-feature=native-histograms`.
//!
//! Bucket `i` of schema `s` holds the observations in `(2^((i-1)/2^s), 2^(i/2^s)]`
//! (Prometheus' definition), so a bucket is `2^(2^-s)` wide: 9% at the default schema 3.
//! The writer is hand-written (no lock per observation, unlike `prometheus-client`'s
//! histogram, whose buckets it matches: see the tests).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Observations at most this (2^-10 s, about a millisecond) are counted in the zero
/// bucket: a passage, a wait or a headway measured from millisecond timestamps is
/// either zero or at least a millisecond.
pub const ZERO_THRESHOLD: f64 = 1.0 / 1024.0;
/// Observations above 2^24 s (194 days: more than any duration an event may carry)
/// are counted in the top bucket.
const MAX_VALUE: f64 = (1u64 << 24) as f64;
/// Schemas Prometheus accepts: bucket factors from 2^(2^-8) (0.3%) to 2^16.
pub const SCHEMAS: std::ops::RangeInclusive<i8> = -4..=8;

/// The bucket of `v > 0` at `schema`: `i` with `2^((i-1)/2^s) < v <= 2^(i/2^s)`.
pub fn bucket_key(schema: i8, bounds: &[f64], v: f64) -> i32 {
    let (frac, exp) = frexp(v);
    if schema > 0 {
        // `bounds[j] = 2^(j/2^s - 1)`: the first bound at or above the mantissa.
        let j = bounds.partition_point(|&b| b < frac) as i32;
        j + (exp - 1) * bounds.len() as i32
    } else {
        // An exact power of two closes the bucket below.
        let key = exp - i32::from(frac == 0.5);
        let shift = -i32::from(schema);
        (key + (1 << shift) - 1) >> shift
    }
}

/// `v = frac * 2^exp` with `frac` in `[0.5, 1)`, for a positive, normal `v`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// `2^(j/2^s - 1)` for `j` in `0..2^s` (none for `s <= 0`).
pub fn mantissa_bounds(schema: i8) -> Box<[f64]> {
    if schema <= 0 {
        return Box::new([]);
    }
    let n = 1u32 << schema;
    (0..n)
        .map(|j| (f64::from(j) / f64::from(n) - 1.0).exp2())
        .collect()
}

/// The sparse buckets in chunks of `2^max(s,0)` consecutive counters (a power of two's
/// buckets for `s > 0`; one bucket, which spans `2^-s` powers of two, for `s <= 0`),
/// each allocated when a value first falls in it (a lane's passage times span a few
/// powers of two).
#[derive(Debug)]
pub struct NativeBuckets {
    schema: i8,
    bounds: Box<[f64]>,
    /// `key >> max(schema, 0)` of the buckets of `chunks[0]` (the chunk of bucket
    /// `key` is `chunks[(key >> max(schema, 0)) - first_chunk]`).
    first_chunk: i32,
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
    /// Bit `c`: `chunks[c]` is allocated (readers visit only those).
    allocated: AtomicU64,
    zero: AtomicU64,
}

impl NativeBuckets {
    pub fn new(schema: i8) -> Self {
        let bounds = mantissa_bounds(schema);
        let shift = schema.max(0);
        let lo = bucket_key(schema, &bounds, next_up(ZERO_THRESHOLD)) >> shift;
        let hi = bucket_key(schema, &bounds, MAX_VALUE) >> shift;
        // One bit of `allocated` per chunk: 35 chunks at most (2^-10 to 2^24).
        debug_assert!(hi - lo < 64);
        NativeBuckets {
            schema,
            bounds,
            first_chunk: lo,
            chunks: (lo..=hi).map(|_| OnceLock::new()).collect(),
            allocated: AtomicU64::new(0),
            zero: AtomicU64::new(0),
        }
    }

    pub fn schema(&self) -> i8 {
        self.schema
    }

    fn chunk_len(&self) -> usize {
        1 << self.schema.max(0)
    }

    /// Count `v` (one writer: a load and a store, not a read-modify-write).
    pub fn observe(&self, v: f64) {
        if v.is_nan() || v <= ZERO_THRESHOLD {
            // Zero, or NaN, which no event yields: counted, never lost.
            bump(&self.zero, 1);
            return;
        }
        let key = bucket_key(self.schema, &self.bounds, v.min(MAX_VALUE));
        let shift = self.schema.max(0);
        let counters = self.chunk(((key >> shift) - self.first_chunk) as usize);
        bump(&counters[(key & ((1 << shift) - 1)) as usize], 1);
    }

    /// Add `other`'s counts (same schema).
    pub fn absorb(&self, other: &NativeBuckets) {
        self.zero.fetch_add(other.zero_count(), Ordering::Relaxed);
        for (c, theirs) in other.chunks.iter().enumerate() {
            let Some(theirs) = theirs.get() else { continue };
            for (m, t) in self.chunk(c).iter().zip(theirs.iter()) {
                m.fetch_add(t.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }

    /// Chunk `c`'s counters, allocated on first use.
    fn chunk(&self, c: usize) -> &[AtomicU64] {
        if let Some(counters) = self.chunks[c].get() {
            return counters;
        }
        let counters = self.chunks[c]
            .get_or_init(|| (0..self.chunk_len()).map(|_| AtomicU64::new(0)).collect());
        self.allocated.fetch_or(1 << c, Ordering::Release);
        counters
    }

    pub fn zero_count(&self) -> u64 {
        self.zero.load(Ordering::Relaxed)
    }

    /// Every bucket with a count: `(key, count)` in ascending key order.
    pub fn for_each(&self, mut f: impl FnMut(i32, u64)) {
        self.for_each_block(|first, block| {
            for (j, &n) in block.iter().enumerate() {
                if n > 0 {
                    f(first + j as i32, n);
                }
            }
        });
    }

    /// Every block of counters written to: the key of its first bucket and its
    /// `2^max(schema, 0)` counts, in ascending key order.
    pub fn for_each_block(&self, mut f: impl FnMut(i32, &[u64])) {
        let len = self.chunk_len();
        let mut counts = vec![0; len];
        let mut allocated = self.allocated.load(Ordering::Acquire);
        while allocated != 0 {
            let c = allocated.trailing_zeros() as usize;
            allocated &= allocated - 1;
            let Some(counters) = self.chunks[c].get() else {
                continue;
            };
            for (n, a) in counts.iter_mut().zip(counters.iter()) {
                *n = a.load(Ordering::Relaxed);
            }
            f((self.first_chunk + c as i32) * len as i32, &counts);
        }
    }
}

/// The next float above a positive `x` (`f64::next_up` needs Rust 1.86).
fn next_up(x: f64) -> f64 {
    f64::from_bits(x.to_bits() + 1)
}

fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Sparse buckets as the protobuf exposition writes them: spans `(offset, length)` of
/// consecutive keys (the first offset is the first key, each next one the gap after
/// the previous span) and each bucket's count as a delta to the previous bucket's.
#[derive(Debug, Default, Clone)]
pub struct Spans {
    pub spans: Vec<(i32, u32)>,
    pub deltas: Vec<i64>,
    /// The key after the last bucket pushed, and its count.
    next_key: Option<i32>,
    last: i64,
    total: u64,
}

impl Spans {
    pub fn clear(&mut self) {
        self.spans.clear();
        self.deltas.clear();
        self.next_key = None;
        self.last = 0;
        self.total = 0;
    }

    /// The buckets' total count.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Append bucket `key` with `count` (keys ascending).
    pub fn push(&mut self, key: i32, count: u64) {
        match (self.spans.last_mut(), self.next_key) {
            (Some(last), Some(next)) if next == key => last.1 += 1,
            (_, next) => self.spans.push((key - next.unwrap_or(0), 1)),
        }
        self.next_key = Some(key + 1);
        self.total += count;
        let count = count as i64;
        self.deltas.push(count - self.last);
        self.last = count;
    }

    /// Every bucket's `(key, count)`, decoded.
    pub fn decode(&self) -> Vec<(i32, u64)> {
        decode(&self.spans, &self.deltas)
    }
}

/// Sparse buckets' `(key, count)` from their spans and deltas (the exposition's form).
pub fn decode(spans: &[(i32, u32)], deltas: &[i64]) -> Vec<(i32, u64)> {
    let (mut key, mut count, mut deltas) = (0, 0i64, deltas.iter());
    let mut out = Vec::new();
    for &(offset, len) in spans {
        key += offset;
        for _ in 0..len {
            count += deltas.next().copied().unwrap_or(0);
            out.push((key, count as u64));
            key += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::prometheus_protobuf::{encode, prometheus_data_model as pb};
    use prometheus_client::metrics::histogram::{Histogram, NativeHistogramConfig};
    use rand::{Rng, SeedableRng};

    /// Values across the whole tracked range, and each power of two with its
    /// neighbours (where an off-by-one would show); with `all_bounds`, every bucket
    /// boundary of the schema and its neighbours too.
    fn values(schema: i8, rng: &mut rand_chacha::ChaCha8Rng, all_bounds: bool) -> Vec<f64> {
        let mut v: Vec<f64> = (0..5_000)
            .map(|_| rng.random_range(-12.0..25.0f64).exp2())
            .collect();
        v.extend([0.0, ZERO_THRESHOLD, next_up(ZERO_THRESHOLD), MAX_VALUE]);
        let bounds = mantissa_bounds(schema);
        for e in -9..24 {
            let octave = f64::from(e).exp2();
            let take = if all_bounds { bounds.len() } else { 1 };
            for b in bounds
                .iter()
                .take(take)
                .map(|b| b * 2.0 * octave)
                .chain([octave])
            {
                v.extend([f64::from_bits(b.to_bits() - 1), b, next_up(b)]);
            }
        }
        v
    }

    fn ours(schema: i8, values: &[f64]) -> (u64, Vec<(i32, u64)>) {
        let n = NativeBuckets::new(schema);
        values.iter().for_each(|&v| n.observe(v));
        let mut spans = Spans::default();
        n.for_each(|k, c| spans.push(k, c));
        assert_eq!(spans.total() + n.zero_count(), values.len() as u64);
        (n.zero_count(), spans.decode())
    }

    #[test]
    fn bucket_keys_follow_the_definition() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for schema in SCHEMAS {
            let bounds = mantissa_bounds(schema);
            let width = f64::from(schema).exp2().recip();
            for v in values(schema, &mut rng, true) {
                if v <= ZERO_THRESHOLD || v > MAX_VALUE {
                    continue;
                }
                // Bucket i: 2^((i-1)/2^s) < v <= 2^(i/2^s), within rounding.
                let i = f64::from(bucket_key(schema, &bounds, v));
                let (lo, hi) = (((i - 1.0) * width).exp2(), (i * width).exp2());
                assert!(
                    v > lo * (1.0 - 1e-12) && v <= hi * (1.0 + 1e-12),
                    "schema {schema}: {v} in bucket {i} = ({lo}, {hi}]"
                );
            }
        }
    }

    /// The same observations in `prometheus-client`'s native histogram give the same
    /// zero count and buckets, at every schema. Not compared: values within an ulp of
    /// a boundary other than a power of two, where its table (Prometheus' Go table)
    /// and the correctly rounded `2^(j/2^s - 1)` used here differ by an ulp at some `j`
    /// (at schema 1, 0.7071067811865475 against 0.7071067811865476): an irrational
    /// bound that a duration in whole milliseconds is practically never within an ulp of.
    #[test]
    fn buckets_match_prometheus_client() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for schema in SCHEMAS {
            let values = values(schema, &mut rng, false);
            let theirs = Histogram::new_native(
                NativeHistogramConfig::with_schema(schema).zero_threshold(ZERO_THRESHOLD),
            );
            for &v in &values {
                theirs.observe(v.min(MAX_VALUE));
            }
            let mut registry = prometheus_client::registry::Registry::default();
            registry.register("h", "h", theirs);
            let families = encode(&registry).unwrap();
            let h = families[0].metric[0].histogram.clone().unwrap();
            let spans: Vec<_> = h
                .positive_span
                .iter()
                .map(|s: &pb::BucketSpan| (s.offset, s.length))
                .collect();
            let theirs: Vec<(i32, u64)> = decode(&spans, &h.positive_delta)
                .into_iter()
                .filter(|&(_, c)| c > 0)
                .collect();
            assert_eq!(h.schema, i32::from(schema));
            assert_eq!(
                ours(schema, &values),
                (h.zero_count, theirs),
                "schema {schema}"
            );
        }
    }

    /// A retired lane's buckets added to its direction's totals: as if every value had
    /// been observed there.
    #[test]
    fn absorbing_gives_the_buckets_of_every_value() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let all = values(3, &mut rng, true);
        let (a, b) = all.split_at(all.len() / 3);
        let (left, right) = (NativeBuckets::new(3), NativeBuckets::new(3));
        a.iter().for_each(|&v| left.observe(v));
        b.iter().for_each(|&v| right.observe(v));
        left.absorb(&right);
        let mut spans = Spans::default();
        left.for_each(|k, c| spans.push(k, c));
        assert_eq!((left.zero_count(), spans.decode()), ours(3, &all));
    }

    #[test]
    fn spans_join_consecutive_keys_and_count_by_deltas() {
        let mut s = Spans::default();
        for (k, c) in [(-3, 2), (-2, 5), (4, 1), (5, 1), (9, 7)] {
            s.push(k, c);
        }
        assert_eq!(s.spans, vec![(-3, 2), (5, 2), (3, 1)]);
        assert_eq!(s.deltas, vec![2, 3, -4, 0, 6]);
        assert_eq!(s.total(), 16);
        assert_eq!(s.decode(), vec![(-3, 2), (-2, 5), (4, 1), (5, 1), (9, 7)]);
        s.clear();
        s.push(1, 1);
        assert_eq!((s.spans.clone(), s.total()), (vec![(1, 1)], 1));
    }
}
