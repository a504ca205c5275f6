//! Synthetic lane-passage events for benchmarks: realistic JSON (RFC 3339 with +08:00
//! offsets, inspection times, vehicle classes), spread over a given number of lanes.

use std::io::Write;
use std::path::Path;

use crate::BenchError;

/// Lane `i` of `lanes`: checkpoint `cp{i/16}`, alternating directions, lane `L{i%16}`.
pub fn lane_of(i: usize) -> (String, &'static str, String) {
    let dir = if (i / 8) % 2 == 0 {
        "inbound"
    } else {
        "outbound"
    };
    (format!("cp{:03}", i / 16), dir, format!("L{:02}", i % 16))
}

/// `ms` as RFC 3339 with millisecond digits and a fixed `+08:00` offset, appended to
/// `out` (hand-rolled: generating 10 million events must not take longer than draining
/// them; checked against jiff in the tests).
fn rfc3339(out: &mut String, ms: i64) {
    use std::fmt::Write as _;
    let local = ms + lanewatch::simulate::profile::OFFSET_MS;
    let days = local.div_euclid(86_400_000);
    let in_day = local.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}+08:00"
    );
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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

/// `lanewatch-bench generate`: `events` events over `lanes` lanes into `output`, 30 days
/// ago at `rate` events/s of event time; prints the `bench=generate` line.
pub fn generate(output: &Path, events: usize, lanes: usize, rate: f64) -> Result<(), BenchError> {
    let err = |source| BenchError::Write {
        path: output.to_path_buf(),
        source,
    };
    let f = std::fs::File::create(output).map_err(err)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    let start = lanewatch::time::now_ms() - 30 * 86_400_000;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(BenchError::Incomplete(format!(
            "--rate {rate}: give events per second of event time above 0, e.g. 23.15 for a day of 2M"
        )));
    }
    let bytes = write_jsonl(&mut w, events, lanes, start, rate)
        .and_then(|b| w.flush().map(|()| b))
        .map_err(err)?;
    println!(
        "bench=generate events={events} lanes={lanes} rate={rate} bytes={bytes} path={}",
        output.display()
    );
    Ok(())
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
        r#"{{"event_id":"{cp}-{dir}-{lane}-{i:09}","checkpoint":"{cp}","direction":"{dir}","lane":"{lane}","vehicle_class":"{class}","arrived_at":""#
    );
    rfc3339(out, arrived);
    out.push_str(r#"","inspection_started_at":""#);
    rfc3339(out, insp_start);
    out.push_str(r#"","departed_at":""#);
    rfc3339(out, departed);
    out.push_str(r#"","sensor":"v2"}"#);
    format!("{cp}/{dir}/{lane}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_jiff() {
        for ms in [
            0i64,
            -1,
            951_782_400_000,
            1_764_115_862_120,
            4_102_444_799_999,
            1_709_164_800_123,
        ] {
            let mut s = String::new();
            rfc3339(&mut s, ms);
            let want = jiff::Timestamp::from_millisecond(ms)
                .unwrap()
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(
                    lanewatch::time::DEFAULT_OFFSET_HOURS,
                )))
                .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
                .to_string();
            assert_eq!(s, want, "{ms}");
        }
    }

    #[test]
    fn events_parse_as_json_and_every_lane_is_touched() {
        let mut lanes = std::collections::HashSet::new();
        for i in 0..100 {
            let mut s = String::new();
            let key = event_json(&mut s, i, 100, 1_764_115_862_120, 2_000.0);
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert_eq!(
                key,
                format!(
                    "{}/{}/{}",
                    v["checkpoint"].as_str().unwrap(),
                    v["direction"].as_str().unwrap(),
                    v["lane"].as_str().unwrap()
                )
            );
            lanes.insert(key);
        }
        assert_eq!(lanes.len(), 100);
    }
}
