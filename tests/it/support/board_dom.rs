//! Headless Chromium for the board tests, and reading the tiles and lanes the page drew
//! out of the dumped DOM (their `data-*` attributes).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// Run headless Chromium on `url` with `extra` flags; returns stdout, stderr and how
/// long it took.
pub fn chromium(extra: &[&str], url: &str) -> (String, String, Duration) {
    let profile = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs (apt-get install chromium)");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        took,
    )
}

/// Console messages, uncaught exceptions, failed loads and CSP violations in the log.
pub fn page_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("net::ERR")
                || l.contains("Failed to load")
                || l.contains("Content Security Policy")
        })
        .collect()
}

/// Start tags `<tag …>` in `dom`: (position, attributes), entities in values decoded.
pub fn tags(dom: &str, tag: &str) -> Vec<(usize, BTreeMap<String, String>)> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = dom[from..].find(&open) {
        let at = from + i;
        let end = at + dom[at..].find('>').unwrap();
        let mut attrs = BTreeMap::new();
        let mut rest = &dom[at + open.len()..end];
        while let Some((k, after)) = rest.split_once("=\"") {
            let (v, after) = after.split_once('"').unwrap();
            let v = v
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            attrs.insert(k.trim().to_owned(), v);
            rest = after;
        }
        out.push((at, attrs));
        from = end;
    }
    out
}

/// A tile and the lanes inside it.
pub struct TileDom {
    pub attrs: BTreeMap<String, String>,
    pub lanes: BTreeMap<String, BTreeMap<String, String>>,
    pub html: String,
}

pub fn tiles(dom: &str) -> BTreeMap<(String, String), TileDom> {
    let sections = tags(dom, "section");
    let lis = tags(dom, "li");
    let mut out = BTreeMap::new();
    for (k, (at, attrs)) in sections.iter().enumerate() {
        let end = sections.get(k + 1).map_or(dom.len(), |s| s.0);
        let lanes = lis
            .iter()
            .filter(|(p, a)| *p > *at && *p < end && a.contains_key("data-lane"))
            .map(|(_, a)| (a["data-lane"].clone(), a.clone()))
            .collect();
        out.insert(
            (
                attrs["data-checkpoint"].clone(),
                attrs["data-direction"].clone(),
            ),
            TileDom {
                attrs: attrs.clone(),
                lanes,
                html: dom[*at..end].to_owned(),
            },
        );
    }
    out
}

/// A `data-*` number as the page wrote it (`""`: null in the API, NaN in /metrics).
pub fn dom_num(v: &str) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.parse()
            .unwrap_or_else(|_| panic!("number in the DOM: {v:?}"))
    }
}
