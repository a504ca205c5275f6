//! `lanewatch-bench replay`: `lanewatch replay --input FILE --threads N` with the
//! default configuration and a 5-minute window, timed, its report not written.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use lanewatch::cli::ReplayArgs;
use lanewatch::replay::ReplayError;
use tokio_util::sync::CancellationToken;

/// Replay `path` as `lanewatch replay` does: `(events read, seconds)`.
pub fn file(path: &Path, threads: u8) -> Result<(u64, f64), ReplayError> {
    let args = ReplayArgs::try_parse_from([
        OsString::from("replay"),
        "--input".into(),
        path.into(),
        "--window".into(),
        "5m".into(),
        "--no-progress".into(),
        "--allow-empty".into(),
        "--threads".into(),
        threads.to_string().into(),
    ])
    .expect("valid replay arguments");
    let t = Instant::now();
    let r = lanewatch::replay::replay(&args.into(), &CancellationToken::new())?;
    let secs = t.elapsed().max(Duration::from_nanos(1)).as_secs_f64();
    Ok((r.report.events.read, secs))
}
