//! A file replay on two threads: a reader stage reads, parses, checks the range of and
//! de-duplicates the events (in file order, with the pipeline's own de-duplication
//! state), and hands the unique ones in batches to the pipeline on the caller's
//! thread. The pipeline sees the same events in the same order as on one thread, so
//! the report is the same, byte for byte (`tests/it/replay_file.rs` checks it).

use std::borrow::Cow;
use std::sync::mpsc;

use tokio_util::sync::CancellationToken;

use super::observer::in_range;
use super::report::Events;
use crate::engine::dedup::Dedup;
use crate::engine::event::{self, Direction, Event, EventLimits, Reason, VehicleClass};
use crate::engine::pipeline::{Outcome, Pipeline};
use crate::source::file::{FileError, Input};

/// Events per batch handed between the stages.
const BATCH: usize = 2048;
/// Batches in flight (each way): enough to keep both threads busy, few enough that
/// the reader cannot run far ahead in memory.
const IN_FLIGHT: usize = 2;

/// One unique event, its strings in its batch's `text`.
struct Packed {
    id: (u32, u32),
    checkpoint: (u32, u32),
    lane: (u32, u32),
    direction: Direction,
    vehicle_class: VehicleClass,
    arrived_ms: i64,
    inspection_ms: Option<i64>,
    departed_ms: i64,
}

struct Batch {
    text: String,
    events: Vec<Packed>,
    /// Lines read before the end of this batch (the progress bar).
    read: u64,
}

impl Batch {
    /// Sized for a batch of typical events (their ids, checkpoints and lanes are a few
    /// dozen bytes), so filling it does not grow it step by step.
    fn new() -> Batch {
        Batch {
            text: String::with_capacity(BATCH * 48),
            events: Vec::with_capacity(BATCH),
            read: 0,
        }
    }

    fn push_str(&mut self, s: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(s);
        // A batch holds at most BATCH events of lines of at most max_event_bytes.
        (start as u32, self.text.len() as u32)
    }

    fn push(&mut self, ev: &Event<'_>) {
        let id = self.push_str(&ev.event_id);
        let checkpoint = self.push_str(&ev.checkpoint);
        let lane = self.push_str(&ev.lane);
        self.events.push(Packed {
            id,
            checkpoint,
            lane,
            direction: ev.direction,
            vehicle_class: ev.vehicle_class,
            arrived_ms: ev.arrived_ms,
            inspection_ms: ev.inspection_ms,
            departed_ms: ev.departed_ms,
        });
    }

    fn str(&self, (a, b): (u32, u32)) -> &str {
        &self.text[a as usize..b as usize]
    }

    fn event(&self, p: &Packed) -> Event<'_> {
        Event {
            event_id: Cow::Borrowed(self.str(p.id)),
            checkpoint: Cow::Borrowed(self.str(p.checkpoint)),
            direction: p.direction,
            lane: Cow::Borrowed(self.str(p.lane)),
            vehicle_class: p.vehicle_class,
            arrived_ms: p.arrived_ms,
            inspection_ms: p.inspection_ms,
            departed_ms: p.departed_ms,
        }
    }

    fn clear(&mut self) {
        self.text.clear();
        self.events.clear();
    }
}

/// What the reader stage counted (the rest is counted by the pipeline's outcomes).
struct ReadCounts {
    read: u64,
    rejected: [u64; Reason::ALL.len()],
    out_of_range: u64,
    duplicates: u64,
}

/// Everything the reader stage needs, moved to its thread.
struct Reader<'a> {
    input: &'a mut Input,
    limits: EventLimits,
    dedup: Dedup,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
}

impl Reader<'_> {
    /// Read every line, sending full batches to `tx` (taking empty ones from `spare`).
    fn run(
        mut self,
        tx: mpsc::SyncSender<Batch>,
        spare: mpsc::Receiver<Batch>,
        shutdown: &CancellationToken,
    ) -> (Result<u64, FileError>, ReadCounts, Dedup) {
        let mut c = ReadCounts {
            read: 0,
            rejected: [0; Reason::ALL.len()],
            out_of_range: 0,
            duplicates: 0,
        };
        let mut batch = Batch::new();
        let max_line = self.limits.max_event_bytes;
        let r = self.input.for_each_line(max_line, |line, _| {
            c.read += 1;
            match event::parse(line, &self.limits, None) {
                Err(r) => c.rejected[r.reason.index()] += 1,
                Ok(ev) if !in_range(self.from_ms, self.to_ms, ev.departed_ms) => {
                    c.out_of_range += 1;
                }
                Ok(ev) if !self.dedup.insert(&ev.event_id) => c.duplicates += 1,
                Ok(ev) => batch.push(&ev),
            }
            if batch.events.len() == BATCH {
                batch.read = c.read;
                let next = spare.try_recv().unwrap_or_else(|_| Batch::new());
                if tx.send(std::mem::replace(&mut batch, next)).is_err() {
                    return false;
                }
            }
            !(c.read & 0x3FF == 0 && shutdown.is_cancelled())
        });
        batch.read = c.read;
        if !batch.events.is_empty() {
            let _ = tx.send(batch);
        }
        (r, c, self.dedup)
    }
}

/// Feed every line of `input` to `pipeline` through a reader stage on another thread,
/// counting into `events` as `Driver::feed` does; `progress` is given the lines read.
pub fn feed_file<O: crate::engine::pipeline::Observer>(
    input: &mut Input,
    pipeline: &mut Pipeline<O>,
    events: &mut Events,
    (from_ms, to_ms): (Option<i64>, Option<i64>),
    shutdown: &CancellationToken,
    progress: impl Fn(u64),
) -> Result<u64, FileError> {
    let (tx, rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let (spare_tx, spare_rx) = mpsc::sync_channel::<Batch>(IN_FLIGHT);
    let reader = Reader {
        input,
        limits: pipeline.limits().clone(),
        dedup: pipeline.swap_dedup(Dedup::new(1)),
        from_ms,
        to_ms,
    };
    let (result, counts, dedup) = std::thread::scope(|s| {
        let stage = s.spawn(move || reader.run(tx, spare_rx, shutdown));
        for mut batch in rx {
            for p in &batch.events {
                match pipeline.apply_unique(&batch.event(p), 0, None) {
                    Outcome::Accepted { late, .. } => {
                        events.accepted += 1;
                        events.late += u64::from(late);
                    }
                    Outcome::Overflow => events.overflow += 1,
                    // apply_unique gives nothing else.
                    _ => {}
                }
            }
            progress(batch.read);
            batch.clear();
            let _ = spare_tx.try_send(batch);
        }
        stage.join().expect("the reader stage does not panic")
    });
    pipeline.swap_dedup(dedup);
    pipeline.count_read(counts.read, &counts.rejected, counts.duplicates);
    events.read += counts.read;
    events.out_of_range += counts.out_of_range;
    events.duplicates += counts.duplicates;
    for (r, n) in Reason::ALL.iter().zip(counts.rejected) {
        *events.rejected.entry(r.as_str()).or_default() += n;
    }
    result
}
