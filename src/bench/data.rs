//! Synthetic lane-passage events for benchmarks: realistic JSON (RFC 3339 with +08:00
//! offsets, inspection times, vehicle classes), spread over a given number of lanes.

use std::io::Write;

/// Lane `i` of `lanes`: checkpoint `cp{i/16}`, alternating directions, lane `L{i%16}`.
pub fn lane_of(i: usize) -> (String, &'static str, String) {
    let dir = if (i / 8) % 2 == 0 {
        "inbound"
    } else {
        "outbound"
    };
    (format!("cp{:03}", i / 16), dir, format!("L{:02}", i % 16))
}

fn rfc3339(ms: i64) -> String {
    let t = jiff::Timestamp::from_millisecond(ms).expect("in range");
    t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// Write `n` events as JSONL, in departure order, starting at `start_ms`, `rate` events
/// per second of event time. Returns the bytes written.
pub fn write_jsonl(
    out: &mut impl Write,
    n: usize,
    lanes: usize,
    start_ms: i64,
    rate: f64,
) -> std::io::Result<u64> {
    let mut bytes = 0u64;
    let mut line = String::with_capacity(400);
    for i in 0..n {
        line.clear();
        event_json(&mut line, i, lanes, start_ms, rate);
        line.push('\n');
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
    }
    Ok(bytes)
}

/// Event `i` (JSON, no newline) appended to `out`; also returns its Kafka key.
pub fn event_json(out: &mut String, i: usize, lanes: usize, start_ms: i64, rate: f64) -> String {
    use std::fmt::Write as _;
    let lane_idx = (i.wrapping_mul(2_654_435_761)) % lanes.max(1);
    let (cp, dir, lane) = lane_of(lane_idx);
    let departed = start_ms + (i as f64 * 1000.0 / rate) as i64;
    // Deterministic spread of passage and inspection times (seconds to ~40 min).
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let passage = 5_000 + (h >> 40) as i64 % 2_400_000;
    let inspection = 10_000 + (h >> 20) as i64 % 120_000;
    let arrived = departed - passage;
    let insp_start = (departed - inspection).max(arrived);
    let class = ["car", "car", "car", "bus", "truck", "van"][(h >> 8) as usize % 6];
    let _ = write!(
        out,
        r#"{{"event_id":"{cp}-{dir}-{lane}-{i:09}","checkpoint":"{cp}","direction":"{dir}","lane":"{lane}","vehicle_class":"{class}","arrived_at":"{}","inspection_started_at":"{}","departed_at":"{}","sensor":"v2"}}"#,
        rfc3339(arrived),
        rfc3339(insp_start),
        rfc3339(departed)
    );
    format!("{cp}/{dir}/{lane}")
}
