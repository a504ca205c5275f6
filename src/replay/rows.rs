//! The congestion analysis of every checkpoint-direction window a replay saw: one
//! [`spill`](super::spill) stream of encoded rows per direction, read back (a direction
//! at a time) by the report and the OpenMetrics backfill.

use std::io;

use super::spill::{Reader, Spill, Stream, put_f64, put_i64, put_u64};
use crate::engine::congestion::CheckpointWindow;
use crate::engine::event::Direction;

/// The analysed windows of one checkpoint direction, in the order they were analysed.
#[derive(Debug, Default)]
pub struct Rows {
    stream: Stream,
    /// Start of the newest row (rows are delta-encoded).
    newest_start_ms: i64,
}

const CAPACITY_EXCEEDED: u64 = 1;
const CONGESTED: u64 = 2;
const P95: u64 = 4;
const MEAN: u64 = 8;
const SERVICE: u64 = 16;
const LOS: u64 = 32;

impl Rows {
    pub fn push(&mut self, w: &CheckpointWindow, spill: &mut Spill) {
        let prev = self.newest_start_ms;
        self.stream.push(spill, |b| {
            let flags = [
                (w.capacity_exceeded, CAPACITY_EXCEEDED),
                (w.congested, CONGESTED),
                (w.p95_s.is_some(), P95),
                (w.mean_passage_s.is_some(), MEAN),
                (w.service_rate.is_some(), SERVICE),
                (w.level_of_service.is_some(), LOS),
            ]
            .iter()
            .filter(|f| f.0)
            .fold(0, |acc, f| acc | f.1);
            put_u64(b, flags);
            put_i64(b, w.start_ms.wrapping_sub(prev));
            put_i64(b, w.size_ms);
            put_u64(b, w.passages);
            for v in [w.p95_s, w.mean_passage_s].into_iter().flatten() {
                put_f64(b, v);
            }
            put_f64(b, w.arrivals);
            put_f64(b, w.arrival_rate);
            if let Some(s) = w.service_rate {
                put_f64(b, s);
            }
            put_u64(b, u64::from(w.open_lanes));
            put_u64(b, u64::from(w.lanes));
            put_u64(b, u64::from(w.recommended_lanes));
            put_f64(b, w.wait_probability);
            if let Some(l) = w.level_of_service {
                put_u64(b, u64::from(l));
            }
            put_i64(b, w.closed_at_ms.wrapping_sub(w.start_ms));
            put_i64(b, w.advised_at_ms.wrapping_sub(w.start_ms));
        });
        self.newest_start_ms = w.start_ms;
    }

    /// The rows of `checkpoint`'s `direction`, in the order they were pushed.
    pub fn load(
        &self,
        spill: &Spill,
        checkpoint: &str,
        direction: Direction,
    ) -> io::Result<Vec<CheckpointWindow>> {
        let bytes = self.stream.load(spill)?;
        let mut r = Reader::new(&bytes);
        let mut out = Vec::with_capacity(self.stream.len());
        let mut prev = 0i64;
        while !r.is_empty() {
            let flags = r.u64();
            let start_ms = prev.wrapping_add(r.i64());
            let size_ms = r.i64();
            let passages = r.u64();
            let p95_s = (flags & P95 != 0).then(|| r.f64());
            let mean_passage_s = (flags & MEAN != 0).then(|| r.f64());
            let arrivals = r.f64();
            let arrival_rate = r.f64();
            let service_rate = (flags & SERVICE != 0).then(|| r.f64());
            let open_lanes = r.u64() as u32;
            let lanes = r.u64() as u32;
            let recommended_lanes = r.u64() as u32;
            let wait_probability = r.f64();
            let level_of_service = (flags & LOS != 0).then(|| r.u64() as u8);
            let closed_at_ms = start_ms.wrapping_add(r.i64());
            let advised_at_ms = start_ms.wrapping_add(r.i64());
            out.push(CheckpointWindow {
                checkpoint: checkpoint.to_string(),
                direction,
                start_ms,
                size_ms,
                passages,
                p95_s,
                mean_passage_s,
                arrivals,
                arrival_rate,
                service_rate,
                open_lanes,
                lanes,
                recommended_lanes,
                capacity_exceeded: flags & CAPACITY_EXCEEDED != 0,
                wait_probability,
                level_of_service,
                congested: flags & CONGESTED != 0,
                closed_at_ms,
                advised_at_ms,
            });
            prev = start_ms;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64, some: bool) -> CheckpointWindow {
        let f = i as f64;
        CheckpointWindow {
            checkpoint: "c".into(),
            direction: Direction::Outbound,
            start_ms: 1_776_000_000_000 + i * 300_000,
            size_ms: 300_000,
            passages: i as u64 * 3,
            p95_s: some.then_some(f * 1.5),
            mean_passage_s: some.then_some(f / 7.0),
            arrivals: f * 2.25,
            arrival_rate: f / 3.0,
            service_rate: some.then_some(f.sqrt()),
            open_lanes: i as u32 % 9,
            lanes: 12,
            recommended_lanes: i as u32 % 11,
            capacity_exceeded: i % 3 == 0,
            wait_probability: f / 1e4,
            level_of_service: some.then_some((i % 6 + 1) as u8),
            congested: i % 5 == 0,
            closed_at_ms: 1_776_000_000_000 + i * 300_000 + 300_000 + i,
            advised_at_ms: 1_776_000_000_000 + i * 300_000 + 420_000 - i,
        }
    }

    #[test]
    fn rows_come_back_field_for_field() {
        let mut spill = Spill::default();
        let mut rows = Rows::default();
        let want: Vec<CheckpointWindow> = (0..5_000).map(|i| row(i, i % 4 != 1)).collect();
        want.iter().for_each(|w| rows.push(w, &mut spill));
        spill.check().unwrap();
        let got = rows.load(&spill, "c", Direction::Outbound).unwrap();
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
    }
}
