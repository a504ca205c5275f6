//! Headless Chromium on the board, and reading the tiles and lanes the page drew out
//! of the dumped DOM (their `data-*` attributes).

use std::collections::BTreeMap;
use std::time::Duration;

/// Headless Chromium on the board: `extra` flags, and eight seconds of virtual time
/// so that the page's polling has run; stdout, stderr and how long it took.
pub fn chromium(extra: &[&str], url: &str) -> (String, String, Duration) {
    let mut flags = vec!["--virtual-time-budget=8000"];
    flags.extend_from_slice(extra);
    super::chromium::run(&flags, url)
}

pub use super::chromium::page_errors;

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
