use super::*;
use crate::engine::event::EventLimits;

fn limits() -> EventLimits {
    EventLimits {
        max_event_bytes: 4096,
        max_passage_ms: 6 * 3600 * 1000,
        max_clock_skew_ms: Some(300_000),
        dedup_capacity: 100,
    }
}

const GOOD: &str = r#"{"event_id":"baimiao-in-03-000184223","checkpoint":"baimiao","direction":"inbound","lane":"03","vehicle_class":"car","arrived_at":"2026-11-26T07:31:02.120+08:00","inspection_started_at":"2026-11-26T07:33:10.000+08:00","departed_at":"2026-11-26T07:33:40.500+08:00"}"#;

fn reason(s: &[u8]) -> Reason {
    parse(s, &limits(), None)
        .expect_err("must be rejected")
        .reason
}

/// Replace the value of `field` in the GOOD event (`None` removes the field).
fn with(field: &str, value: Option<&str>) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(GOOD).unwrap();
    match value {
        Some(raw) => {
            v.insert(field.into(), serde_json::from_str(raw).unwrap());
        }
        None => {
            v.remove(field);
        }
    }
    serde_json::to_string(&v).unwrap()
}

#[test]
fn parses_the_design_example() {
    let e = parse(GOOD.as_bytes(), &limits(), None).unwrap();
    assert_eq!(e.event_id, "baimiao-in-03-000184223");
    assert_eq!(e.checkpoint, "baimiao");
    assert_eq!(e.direction, Direction::Inbound);
    assert_eq!(e.lane, "03");
    assert_eq!(e.vehicle_class, VehicleClass::Car);
    // 07:31:02.120 → 07:33:40.500 is 158.380 s; queue 127.880 s; inspection 30.5 s.
    assert_eq!(e.passage_ms(), 158_380);
    assert_eq!(e.queue_wait_ms(), Some(127_880));
    assert_eq!(e.inspection_duration_ms(), Some(30_500));
    assert!(
        matches!(e.event_id, Cow::Borrowed(_)),
        "fields are borrowed"
    );
}

#[test]
fn epoch_milliseconds_equal_rfc3339() {
    let a = parse(GOOD.as_bytes(), &limits(), None).unwrap();
    let s = with("arrived_at", Some(&a.arrived_ms.to_string()));
    let s = s.replace(
        "\"2026-11-26T07:33:40.500+08:00\"",
        &a.departed_ms.to_string(),
    );
    let b = parse(s.as_bytes(), &limits(), None).unwrap();
    assert_eq!((a.arrived_ms, a.departed_ms), (b.arrived_ms, b.departed_ms));
}

#[test]
fn unknown_fields_are_ignored_and_class_defaults_to_other() {
    let s = with("vehicle_class", None);
    let s = s.replacen(
        '{',
        r#"{"plate":"京A12345","extra":{"nested":[1,2,{"x":null}]},"#,
        1,
    );
    let e = parse(s.as_bytes(), &limits(), None).unwrap();
    assert_eq!(e.vehicle_class, VehicleClass::Other);
}

#[test]
fn escaped_strings_are_accepted() {
    let s = GOOD.replace("\"baimiao\"", "\"\\u0062aimiao\"");
    let e = parse(s.as_bytes(), &limits(), None).unwrap();
    assert_eq!(e.checkpoint, "baimiao");
}

#[test]
fn every_missing_required_field_is_missing_field() {
    for f in [
        "event_id",
        "checkpoint",
        "direction",
        "lane",
        "arrived_at",
        "departed_at",
    ] {
        assert_eq!(
            reason(with(f, None).as_bytes()),
            Reason::MissingField,
            "{f}"
        );
        assert_eq!(
            reason(with(f, Some("null")).as_bytes()),
            Reason::MissingField,
            "{f}: null"
        );
    }
    // Optional ones may be missing.
    for f in ["vehicle_class", "inspection_started_at"] {
        assert!(
            parse(with(f, None).as_bytes(), &limits(), None).is_ok(),
            "{f}"
        );
    }
}

#[test]
fn malformed_fields_are_invalid_field() {
    let cases: &[(&str, &str)] = &[
        ("event_id", "\"\""),
        ("event_id", &format!("\"{}\"", "x".repeat(65))),
        ("event_id", "42"),
        ("checkpoint", "\"Baimiao\""),
        ("checkpoint", "\"bai miao\""),
        ("checkpoint", &format!("\"{}\"", "a".repeat(33))),
        ("direction", "\"north\""),
        ("direction", "true"),
        ("lane", "3"),
        ("lane", "\"03/04\""),
        ("lane", &format!("\"{}\"", "L".repeat(17))),
        ("vehicle_class", "\"tank\""),
        ("vehicle_class", "7"),
        ("arrived_at", "\"2026-11-26 morning\""),
        ("arrived_at", "\"2026-02-30T07:00:00+08:00\""),
        ("arrived_at", "\"2026-11-26T07:00:00\""),
        ("arrived_at", "1.5"),
        ("arrived_at", "-1"),
        ("arrived_at", "99999999999999999999"),
        ("arrived_at", "[1,2]"),
        ("departed_at", "{\"ms\":1}"),
        ("inspection_started_at", "\"soon\""),
    ];
    for (f, v) in cases {
        assert_eq!(
            reason(with(f, Some(v)).as_bytes()),
            Reason::InvalidField,
            "{f} = {v}"
        );
    }
}

#[test]
fn not_json_truncated_and_non_objects_are_invalid_json() {
    for s in [
        "",
        "not json",
        "{",
        &GOOD[..GOOD.len() - 3],
        "null",
        "[]",
        "42",
        "\"s\"",
        "{}{}",
    ] {
        assert_eq!(reason(s.as_bytes()), Reason::InvalidJson, "{s:?}");
    }
    // Deeper than serde_json's recursion limit, at the top and inside an unknown field.
    let deep = format!("{}{}", "[".repeat(1_500), "]".repeat(1_500));
    assert_eq!(reason(deep.as_bytes()), Reason::InvalidJson);
    // Deep nesting inside a field is skipped without recursion: ignored when the field
    // is unknown, invalid when it is a known one. Neither overflows the stack.
    let deep = format!("{}{}", "[".repeat(1_000), "]".repeat(1_000));
    let unknown = GOOD.replacen('{', &format!("{{\"x\":{deep},"), 1);
    assert!(parse(unknown.as_bytes(), &limits(), None).is_ok());
    let known = GOOD.replace("\"lane\":\"03\"", &format!("\"lane\":{deep}"));
    assert_eq!(reason(known.as_bytes()), Reason::InvalidField);
}

#[test]
fn duplicate_keys_are_rejected() {
    let s = GOOD.replacen('{', r#"{"lane":"09","#, 1);
    assert_eq!(reason(s.as_bytes()), Reason::InvalidField);
}

#[test]
fn non_utf8_is_not_utf8() {
    let mut b = GOOD.as_bytes().to_vec();
    b[20] = 0xff;
    assert_eq!(reason(&b), Reason::NotUtf8);
}

#[test]
fn oversized_is_too_large_before_parsing() {
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
    assert_eq!(reason(big.as_bytes()), Reason::TooLarge);
}

#[test]
fn time_order_rules() {
    let s = with("departed_at", Some("\"2026-11-26T07:30:00+08:00\""));
    assert_eq!(reason(s.as_bytes()), Reason::DepartedBeforeArrived);
    let s = with(
        "inspection_started_at",
        Some("\"2026-11-26T07:30:00+08:00\""),
    );
    assert_eq!(reason(s.as_bytes()), Reason::InspectionOutOfRange);
    let s = with(
        "inspection_started_at",
        Some("\"2026-11-26T07:34:00+08:00\""),
    );
    assert_eq!(reason(s.as_bytes()), Reason::InspectionOutOfRange);
    // Equal bounds are inside.
    let s = with(
        "inspection_started_at",
        Some("\"2026-11-26T07:33:40.500+08:00\""),
    );
    assert!(parse(s.as_bytes(), &limits(), None).is_ok());
    let s = with("arrived_at", Some("\"2026-11-26T01:33:40.499+08:00\""));
    let s = s.replace(
        ",\"inspection_started_at\":\"2026-11-26T07:33:10.000+08:00\"",
        "",
    );
    let s = with_removed(&s, "inspection_started_at");
    assert_eq!(reason(s.as_bytes()), Reason::PassageTooLong);
}

fn with_removed(s: &str, field: &str) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(s).unwrap();
    v.remove(field);
    serde_json::to_string(&v).unwrap()
}

#[test]
fn future_events_only_in_live_mode() {
    let e = parse(GOOD.as_bytes(), &limits(), None).unwrap();
    let now = e.departed_ms - 300_001; // departed 300.001 s after "now": beyond 300 s skew
    assert_eq!(
        parse(GOOD.as_bytes(), &limits(), Some(now))
            .unwrap_err()
            .reason,
        Reason::FutureEvent
    );
    assert!(parse(GOOD.as_bytes(), &limits(), Some(now + 1)).is_ok());
}

#[test]
fn reason_labels_are_unique_and_indexed() {
    let mut seen = std::collections::HashSet::new();
    for (i, r) in Reason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
        assert!(seen.insert(r.as_str()));
    }
}

#[test]
fn non_utf8_inside_an_ignored_field_is_still_not_utf8() {
    let mut b = GOOD.replacen('{', r#"{"note":"ab","#, 1).into_bytes();
    let at = b.iter().position(|&c| c == b'a').unwrap();
    b[at] = 0xc3; // a lone lead byte
    assert_eq!(reason(&b), Reason::NotUtf8);
}
