//! The hand-written RFC 3339 parser of the hot path agrees with the reference (jiff)
//! on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(
            lanewatch::time::parse_timestamp(s),
            lanewatch::time::parse_timestamp_reference(s),
            "{s:?}"
        );
    }
});
