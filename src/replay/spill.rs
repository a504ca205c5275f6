//! Where a replay keeps what grows with its range: per lane and kind, an append-only
//! stream of encoded records, written to one unlinked temporary file in chunks as they
//! fill and read back, a lane at a time, by the report writers. Memory is a chunk per
//! stream whatever the range; the rest is on disk (and in the page cache).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// A stream's in-memory part is written out once it reaches this many bytes.
const CHUNK: usize = 4096;
/// Full chunks are gathered up to this many bytes before one write.
const WRITE_BATCH: usize = 256 << 10;

/// The temporary file all streams write to, created on first use.
#[derive(Debug, Default)]
pub struct Spill {
    file: Option<File>,
    /// Bytes written to `file`.
    written: u64,
    /// Full chunks not yet written; they start at `written`.
    batch: Vec<u8>,
    /// The first write error: the replay fails with it at the end (see [`Spill::check`]).
    error: Option<io::Error>,
}

impl Spill {
    /// Append one chunk; returns where it starts in the file.
    fn append(&mut self, chunk: &[u8]) -> u64 {
        let at = self.written + self.batch.len() as u64;
        self.batch.extend_from_slice(chunk);
        if self.batch.len() >= WRITE_BATCH {
            self.write_batch();
        }
        at
    }

    fn write_batch(&mut self) {
        if self.batch.is_empty() || self.error.is_some() {
            self.written += self.batch.len() as u64;
            self.batch.clear();
            return;
        }
        let result = match &self.file {
            Some(f) => Ok(f),
            None => tempfile::tempfile().map(|f| &*self.file.insert(f)),
        }
        .and_then(|f| f.write_all_at(&self.batch, self.written));
        if let Err(e) = result {
            self.error = Some(e);
        }
        self.written += self.batch.len() as u64;
        self.batch.clear();
    }

    /// Report the first write error (a full disk: the temporary directory is
    /// `TMPDIR`). What is gathered and not yet written stays in memory (under 256 KB),
    /// so a small replay never creates the file.
    pub fn check(&mut self) -> io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Bytes appended so far (written or gathered).
    pub fn bytes(&self) -> u64 {
        self.written + self.batch.len() as u64
    }

    fn read(&self, at: u64, out: &mut [u8]) -> io::Result<()> {
        let batched = self.written;
        if at >= batched {
            let from = (at - batched) as usize;
            out.copy_from_slice(&self.batch[from..from + out.len()]);
            return Ok(());
        }
        match &self.file {
            Some(f) => f.read_exact_at(out, at),
            None => Err(io::Error::other("replay spill file missing")),
        }
    }
}

/// One append-only stream of records: the full chunks in the [`Spill`], the rest here.
#[derive(Debug, Default)]
pub struct Stream {
    buf: Vec<u8>,
    /// (offset in the spill file, length) of each chunk written.
    chunks: Vec<(u64, u32)>,
    /// Records in the stream.
    len: usize,
}

impl Stream {
    /// Append one record, written into the stream's buffer by `encode` (which captures
    /// what it needs, such as the previous record's key for deltas); a full chunk goes
    /// to the spill.
    #[inline]
    pub fn push(&mut self, spill: &mut Spill, encode: impl FnOnce(&mut Vec<u8>)) {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(CHUNK + 256);
        }
        encode(&mut self.buf);
        self.len += 1;
        if self.buf.len() >= CHUNK {
            let at = spill.append(&self.buf);
            self.chunks.push((at, self.buf.len() as u32));
            self.buf.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The whole stream's bytes (records never span chunks: they are whole here).
    pub fn load(&self, spill: &Spill) -> io::Result<Vec<u8>> {
        let total = self.chunks.iter().map(|c| c.1 as usize).sum::<usize>() + self.buf.len();
        let mut out = vec![0u8; total];
        let mut at = 0;
        for &(off, n) in &self.chunks {
            spill.read(off, &mut out[at..at + n as usize])?;
            at += n as usize;
        }
        out[at..].copy_from_slice(&self.buf);
        Ok(out)
    }
}

/// Append `v` as a LEB128 varint.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Append `v` zigzag-encoded as a varint.
#[inline]
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

#[inline]
pub fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Reads back what the `put_*` functions wrote (from this module's own streams: the
/// bytes are trusted; a short read gives zeros rather than a panic).
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    #[inline]
    pub fn u64(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        while let Some(&b) = self.bytes.get(self.at) {
            self.at += 1;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b < 0x80 {
                break;
            }
        }
        v
    }

    #[inline]
    pub fn i64(&mut self) -> i64 {
        let v = self.u64();
        ((v >> 1) as i64) ^ -((v & 1) as i64)
    }

    #[inline]
    pub fn f64(&mut self) -> f64 {
        let mut b = [0u8; 8];
        let end = (self.at + 8).min(self.bytes.len());
        b[..end - self.at].copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        f64::from_bits(u64::from_le_bytes(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_gives_back_what_was_pushed_across_chunks_and_batches() {
        let mut spill = Spill::default();
        let mut streams: Vec<Stream> = (0..3).map(|_| Stream::default()).collect();
        // Enough records for several chunks per stream and a written batch.
        let n = 200_000i64;
        for i in 0..n {
            let s = &mut streams[(i % 3) as usize];
            s.push(&mut spill, |b| {
                put_i64(b, i * 7919 - 1_000_000);
                put_u64(b, i as u64 * 31);
                put_f64(b, i as f64 / 3.0);
            });
        }
        spill.check().unwrap();
        assert!(
            spill.written > WRITE_BATCH as u64,
            "the test writes to the file"
        );
        for (k, s) in streams.iter().enumerate() {
            let bytes = s.load(&spill).unwrap();
            let mut r = Reader::new(&bytes);
            let mut i = k as i64;
            while !r.is_empty() {
                assert_eq!(r.i64(), i * 7919 - 1_000_000);
                assert_eq!(r.u64(), i as u64 * 31);
                assert_eq!(r.f64().to_bits(), (i as f64 / 3.0).to_bits());
                i += 3;
            }
            assert_eq!(i - 3 + 3, k as i64 + 3 * s.len() as i64);
        }
    }

    #[test]
    fn a_small_replay_never_creates_the_file() {
        let mut spill = Spill::default();
        let mut s = Stream::default();
        for i in 0..20_000u64 {
            s.push(&mut spill, |b| put_u64(b, i));
        }
        spill.check().unwrap();
        assert!(spill.bytes() > CHUNK as u64, "chunks were appended");
        assert!(spill.file.is_none(), "under WRITE_BATCH: no temporary file");
        let bytes = s.load(&spill).unwrap();
        let mut r = Reader::new(&bytes);
        assert!((0..20_000u64).all(|i| r.u64() == i) && r.is_empty());
    }

    #[test]
    fn extreme_values_round_trip() {
        let mut b = Vec::new();
        for v in [i64::MIN, i64::MAX, -1, 0, 1] {
            put_i64(&mut b, v);
        }
        put_u64(&mut b, u64::MAX);
        put_f64(&mut b, f64::NAN);
        let mut r = Reader::new(&b);
        for v in [i64::MIN, i64::MAX, -1, 0, 1] {
            assert_eq!(r.i64(), v);
        }
        assert_eq!(r.u64(), u64::MAX);
        assert!(r.f64().is_nan());
        assert!(r.is_empty());
    }
}
