//! `lanewatch replay --html`: the report opens in headless Chromium (Debian's
//! `chromium`) without network access, renders its SVG charts and logs no errors.

use crate::support::Need;
use crate::support::replay as helpers;

use crate::support::chromium::page_errors;
use helpers::{T0, dataset, jsonl, replay};

/// The report in headless Chromium, in a tall window (every chart in a screenshot).
fn chromium(extra: &[&str], url: &str) -> (String, String) {
    let mut flags = vec!["--window-size=1400,2000"];
    flags.extend_from_slice(extra);
    let (out, log, _) = crate::support::chromium::run(&flags, url);
    (out, log)
}

#[test]
fn the_html_report_renders_its_charts_in_chromium() {
    require!(Need::Tool("chromium"));
    let _alone = crate::support::heavy();
    let lines = dataset(5, T0, 3 * 3_600_000, 400, 2);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("e.jsonl");
    std::fs::write(&input, jsonl(&lines)).unwrap();
    let html = dir.path().join("report.html");
    let out = dir.path().join("report.txt");
    replay(&[
        "--input",
        input.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no script, and nothing fetched (`http` only in SVG namespaces).
    assert!(
        !page.contains("<script") && !page.contains("src=") && !page.contains("href="),
        "self-contained"
    );
    assert!(
        page.matches("http").count()
            == page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    let url = format!("file://{}", html.display());

    let (dom, log) = chromium(&["--dump-dom"], &url);
    assert!(
        page_errors(&log).is_empty(),
        "page errors: {:?}",
        page_errors(&log)
    );
    // Four checkpoint directions × (p95, throughput, heat map), each an SVG with lines
    // or cells, the congestion episodes of baimiao inbound shaded, the summary table.
    assert_eq!(dom.matches("<svg").count(), 4 * 3, "charts in the DOM");
    assert!(
        dom.matches("<polyline").count() >= 4 * 2 * 2,
        "line series drawn"
    );
    assert!(
        dom.matches("<rect").count() > 4 * 36,
        "heat-map cells drawn"
    );
    assert!(
        dom.contains("id=\"summary\"") && dom.contains("congested from"),
        "summary and episodes"
    );
    for lane in ["01", "02", "A1", "B-2"] {
        assert!(
            dom.contains(&format!("<td>{lane}</td>")),
            "lane {lane} in the summary"
        );
    }

    let shot = dir.path().join("shot.png");
    let (_, log) = chromium(&[&format!("--screenshot={}", shot.display())], &url);
    assert!(
        page_errors(&log).is_empty(),
        "page errors: {:?}",
        page_errors(&log)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[1..4], b"PNG");
    // A blank 1400×2000 page compresses to a few KB; charts make it far larger.
    assert!(
        png.len() > 50_000,
        "screenshot looks blank ({} bytes)",
        png.len()
    );
}
