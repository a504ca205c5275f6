//! The fast path of event parsing: a single forward scan of the common case, a flat
//! JSON object whose values are strings without escapes, non-negative integers,
//! booleans or `null`. Anything else (escapes, nested values, fractions, negative or
//! huge numbers, a repeated known field, malformed JSON) returns `None`, and the caller
//! parses the message with serde_json instead, which also words every rejection; so the
//! scan never decides that an event is invalid, it only recognises valid-looking JSON
//! sooner. `tests` checks it against serde_json on generated and mutated messages.

use std::borrow::Cow;

use super::{Field, RawEvent};

/// The fields of `text` when it is a flat object this scan understands.
pub(super) fn raw(text: &str) -> Option<RawEvent<'_>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut raw = RawEvent::default();
    if b.get(i) == Some(&b'}') {
        return end(b, i + 1, raw);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key, after) = string(text, i + 1)?;
        i = skip_ws(b, after);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let (value, after) = value(text, i)?;
        i = skip_ws(b, after);
        match raw.slot(key) {
            // A repeated field: serde_json's path rejects it with its name.
            Some(Some(_)) => return None,
            Some(slot) => *slot = Some(value),
            None => {}
        }
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return end(b, i + 1, raw),
            _ => return None,
        }
    }
}

/// Only whitespace may follow the object.
fn end<'a>(b: &[u8], i: usize, raw: RawEvent<'a>) -> Option<RawEvent<'a>> {
    (skip_ws(b, i) == b.len()).then_some(raw)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The string starting after its opening quote at `start`, and the index after its
/// closing quote; `None` when it has an escape or a control character.
fn string(text: &str, start: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let end = start + memchr::memchr(b'"', &b[start..])?;
    // No short-circuit: this loop compiles to vector compares.
    let plain = b[start..end]
        .iter()
        .fold(true, |ok, &c| ok & (c != b'\\') & (c >= 0x20));
    // `end` is at an ASCII quote, so both slice bounds are character boundaries.
    plain.then(|| (&text[start..end], end + 1))
}

/// One value at `i` and the index after it.
fn value(text: &str, i: usize) -> Option<(Field<'_>, usize)> {
    let b = text.as_bytes();
    match *b.get(i)? {
        b'"' => string(text, i + 1).map(|(s, n)| (Field::Str(Cow::Borrowed(s)), n)),
        b'0'..=b'9' => number(b, i),
        b'n' => literal(b, i, b"null", Field::Null),
        b't' => literal(b, i, b"true", Field::Bool),
        b'f' => literal(b, i, b"false", Field::Bool),
        _ => None,
    }
}

fn literal<'a>(b: &[u8], i: usize, word: &[u8], f: Field<'a>) -> Option<(Field<'a>, usize)> {
    b[i..].starts_with(word).then_some((f, i + word.len()))
}

/// A non-negative integer of at most 18 digits (no overflow possible), without a
/// leading zero, not followed by a fraction or an exponent.
fn number(b: &[u8], i: usize) -> Option<(Field<'static>, usize)> {
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 18 || (digits > 1 && b[i] == b'0') {
        return None;
    }
    let end = i + digits;
    if let Some(b'.' | b'e' | b'E') = b.get(end) {
        return None;
    }
    let v = b[i..end]
        .iter()
        .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
    Some((Field::UInt(v), end))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What serde_json makes of `text` (the reference), `None` when it fails.
    fn reference(text: &str) -> Option<RawEvent<'_>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let raw: RawEvent = serde::Deserialize::deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(raw)
    }

    fn agrees(text: &str) -> Result<(), TestCaseError> {
        if let Some(fast) = raw(text) {
            prop_assert_eq!(Some(fast), reference(text), "input {:?}", text);
        }
        Ok(())
    }

    const TYPICAL: &str = r#"{"event_id":"e-1","checkpoint":"baimiao","direction":"inbound","lane":"03","vehicle_class":"car","arrived_at":"2026-11-26T06:30:00.000+08:00","inspection_started_at":1764109860000,"departed_at":"2026-11-26T06:31:30.250+08:00","sensor":{"fw":"1.2"}}"#;

    #[test]
    fn the_typical_event_takes_the_fast_path() {
        let flat = TYPICAL.replace(r#","sensor":{"fw":"1.2"}"#, r#","fw":null,"ok":true"#);
        let r = raw(&flat).expect("a flat event is scanned");
        assert_eq!(Some(r), reference(&flat));
        // Nested values, escapes and fractions go to serde_json.
        assert!(raw(TYPICAL).is_none());
        assert!(raw(&flat.replace("e-1", r"e\u002d1")).is_none());
        assert!(raw(&flat.replace("1764109860000", "1764109860000.5")).is_none());
    }

    #[test]
    fn whatever_the_scan_accepts_serde_json_reads_the_same() {
        for text in [
            "{}",
            " { } ",
            r#"{"a":1}"#,
            r#"{"lane":"1","lane":"2"}"#,
            r#"{"x":1,"x":2}"#,
            r#"{"arrived_at":01}"#,
            r#"{"arrived_at":0}"#,
            r#"{"arrived_at":123456789012345678}"#,
            r#"{"arrived_at":1234567890123456789}"#,
            r#"{"a":nul}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            "{\"a\":\"tab\there\"}",
            r#"{"lane":"车道"}"#,
        ] {
            agrees(text).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Byte-level mutations of a typical event: every input the scan accepts is
        /// read the same by serde_json.
        #[test]
        fn mutated_events_agree_with_serde_json(
            edits in proptest::collection::vec((0usize..400, any::<u8>(), 0u8..3), 0..4)
        ) {
            let flat = TYPICAL.replace(r#","sensor":{"fw":"1.2"}"#, r#","fw":null"#);
            let mut bytes = flat.into_bytes();
            for (at, byte, op) in edits {
                let at = at % (bytes.len() + 1);
                // Printable ASCII keeps most mutations inside valid UTF-8 and JSON-ish.
                let c = b' ' + byte % 95;
                match op {
                    0 if at < bytes.len() => bytes[at] = c,
                    1 => bytes.insert(at, c),
                    _ if at < bytes.len() => { bytes.remove(at); }
                    _ => {}
                }
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                agrees(text)?;
            }
        }
    }
}
