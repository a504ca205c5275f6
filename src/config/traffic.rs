//! Traffic settings of a checkpoint for the simulator (`[checkpoint.traffic]` in the
//! registry): demand per direction, the day profile, vehicle mix, incidents.

use serde::Deserialize;

use super::Problems;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTraffic {}

/// Validated traffic settings (defaults when the table is absent).
#[derive(Debug, Clone, Default)]
pub struct Traffic {}

pub(crate) fn validate(raw: Option<RawTraffic>, _at: &str, _p: &mut Problems) -> Traffic {
    let _ = raw;
    Traffic {}
}
