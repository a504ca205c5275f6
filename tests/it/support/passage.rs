//! The one passage builder of the tests (a lane-passage event as the test knows it, and
//! its JSON), and the one nearest-rank oracle.

/// A valid lane-passage event: times in Unix milliseconds.
#[derive(Debug, Clone)]
pub struct Passage {
    pub id: String,
    pub cp: &'static str,
    pub dir: &'static str,
    pub lane: &'static str,
    pub arrived: i64,
    pub inspection: Option<i64>,
    pub departed: i64,
}

impl Passage {
    /// The event as the live tests produce it: RFC 3339 (+08:00) times.
    pub fn json(&self) -> String {
        render(
            &self.id,
            self.cp,
            self.dir,
            self.lane,
            [self.arrived, self.departed],
            self.inspection,
            Times::Rfc3339,
            false,
        )
    }

    /// The event as the replay datasets write it: RFC 3339 (+08:00) or epoch-millisecond
    /// times, both allowed by §1, and an unknown field the parser skips.
    pub fn dataset_json(&self, rfc3339: bool) -> String {
        let times = if rfc3339 {
            Times::Rfc3339
        } else {
            Times::EpochMs
        };
        render(
            &self.id,
            self.cp,
            self.dir,
            self.lane,
            [self.arrived, self.departed],
            self.inspection,
            times,
            true,
        )
    }

    /// The message key producers use: `<checkpoint>/<direction>/<lane>`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.cp, self.dir, self.lane)
    }
}

/// A lane-passage event as JSON, times in Unix milliseconds rendered as RFC 3339 (+08:00)
/// (a [`Passage`] with borrowed names).
pub fn event_json(
    id: &str,
    cp: &str,
    dir: &str,
    lane: &str,
    arrived: i64,
    inspection: Option<i64>,
    departed: i64,
) -> String {
    render(
        id,
        cp,
        dir,
        lane,
        [arrived, departed],
        inspection,
        Times::Rfc3339,
        false,
    )
}

#[derive(Clone, Copy)]
enum Times {
    Rfc3339,
    EpochMs,
}

#[allow(clippy::too_many_arguments)]
fn render(
    id: &str,
    cp: &str,
    dir: &str,
    lane: &str,
    [arrived, departed]: [i64; 2],
    inspection: Option<i64>,
    times: Times,
    extra: bool,
) -> String {
    let ts = |ms: i64| match times {
        Times::Rfc3339 => {
            let t = jiff::Timestamp::from_millisecond(ms).unwrap();
            format!(
                "\"{}\"",
                t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                    .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
            )
        }
        Times::EpochMs => ms.to_string(),
    };
    let insp = inspection
        .map(|i| format!(",\"inspection_started_at\":{}", ts(i)))
        .unwrap_or_default();
    let extra = if extra { ",\"extra\":[1,2]" } else { "" };
    format!(
        r#"{{"event_id":"{id}","checkpoint":"{cp}","direction":"{dir}","lane":"{lane}","vehicle_class":"car","arrived_at":{}{insp},"departed_at":{}{extra}}}"#,
        ts(arrived),
        ts(departed)
    )
}

/// Independent nearest rank: the smallest value with at least `pct`% of the values ≤ it
/// (integer arithmetic, no floating point). `sorted` must not be empty.
pub fn nearest_rank_pct(sorted: &[i64], pct: usize) -> i64 {
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1]
}
