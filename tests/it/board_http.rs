//! The live board over HTTP without a browser: protected like `/metrics` (TLS and basic
//! auth from the web config, real TLS client: curl), served with a strict
//! Content-Security-Policy and nothing from another origin, small; and an accessibility
//! pass on the embedded page: every level-of-service colour pair (and the page's other
//! text colours) has a WCAG 2 contrast ratio of at least 4.5:1, computed from the CSS
//! custom properties, and every figure the script draws carries a text equivalent.

use crate::support;
use crate::support::Need;

use std::sync::Arc;

use lanewatch::board::{PAGE_CSS, PAGE_HTML, PAGE_JS};
use lanewatch::export::http::HttpServer;
use lanewatch::export::metrics::Metrics;
use lanewatch::health::Health;
use support::http::curl;
use support::own::tls_basic_auth_config;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_and_its_api_need_the_credentials_metrics_needs_over_tls() {
    require!(Need::Tool("curl"), Need::Tool("openssl"));
    let dir = tempfile::tempdir().unwrap();
    let config = tls_basic_auth_config(dir.path(), "commander", "");
    let server = HttpServer::bind(&config.http, Metrics::new(), Arc::new(Health::default()))
        .await
        .unwrap();
    let base = format!("https://127.0.0.1:{}", server.local_addr().port());
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(stop.clone()));
    let ca = dir.path().join("ca.crt").to_str().unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        for path in ["/", "/board.js", "/board.css", "/api/v1/board", "/metrics"] {
            let url = format!("{base}{path}");
            let r = curl(&["--cacert", &ca, &url]);
            let (code, head) = (r.status, r.headers);
            assert_eq!(code, "401", "{path} without credentials");
            assert!(
                head.to_ascii_lowercase()
                    .contains("www-authenticate: basic"),
                "{path}: {head}"
            );
            let code = curl(&["--cacert", &ca, "-u", "commander:wrong", &url]).status;
            assert_eq!(code, "401", "{path} with a wrong password");
            let r = curl(&["--cacert", &ca, "-u", "commander:s3cret-pass", &url]);
            let (code, head, body) = (r.status, r.headers, r.body);
            assert_eq!(code, "200", "{path} with credentials: {body}");
            let head = head.to_ascii_lowercase();
            match path {
                "/" => {
                    assert!(head.contains("content-type: text/html"), "{head}");
                    assert!(
                        head.contains("content-security-policy: default-src 'self'"),
                        "{head}"
                    );
                    assert!(head.contains("cache-control: no-cache"), "{head}");
                    assert_eq!(body, PAGE_HTML);
                }
                "/api/v1/board" => {
                    assert!(head.contains("content-type: application/json"), "{head}");
                    assert!(head.contains("cache-control: no-store"), "{head}");
                    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(v["version"], 1);
                    assert!(v["checkpoints"].as_array().unwrap().is_empty());
                    assert!(v["generated_at"].as_str().unwrap().ends_with("+08:00"));
                }
                _ => {}
            }
        }
        // Health probes stay open; plain HTTP to the TLS port is refused.
        let code = curl(&["--cacert", &ca, &format!("{base}/healthz")]).status;
        assert_eq!(code, "200");
        let code = curl(&[&base.replace("https", "http")]).status;
        assert_ne!(code, "200");
    })
    .await
    .unwrap();
    stop.cancel();
    task.await.unwrap();
}

#[test]
fn the_page_loads_nothing_from_elsewhere_and_is_small() {
    let all = [PAGE_HTML, PAGE_CSS, PAGE_JS];
    for text in all {
        for bad in ["http://", "https://", "//cdn", "@import", "url("] {
            // The SVG namespace is a name, not a request.
            let hits = text
                .matches(bad)
                .count()
                .saturating_sub(text.matches("http://www.w3.org/2000/svg").count());
            assert_eq!(hits, 0, "{bad} in an asset");
        }
    }
    // No inline script or style (the CSP forbids them): the script is a file.
    assert!(!PAGE_HTML.contains("<script>") && !PAGE_HTML.contains("<style"));
    assert!(!PAGE_HTML.contains(" style=") && !PAGE_JS.contains("innerHTML"));
    let size: usize = all.iter().map(|t| t.len()).sum();
    eprintln!(
        "board assets: {size} bytes (HTML {}, CSS {}, JS {})",
        PAGE_HTML.len(),
        PAGE_CSS.len(),
        PAGE_JS.len()
    );
    assert!(size < 50_000, "{size} bytes");
}

/// `#rrggbb` → relative luminance (WCAG 2.1).
fn luminance(hex: &str) -> f64 {
    let h = hex.trim().trim_start_matches('#');
    assert_eq!(h.len(), 6, "colour {hex}");
    let c = |i: usize| {
        let v = f64::from(u8::from_str_radix(&h[i..i + 2], 16).unwrap()) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * c(0) + 0.7152 * c(2) + 0.0722 * c(4)
}

fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The value of CSS custom property `--name` in the embedded style sheet.
fn var(name: &str) -> String {
    let key = format!("--{name}:");
    let at = PAGE_CSS
        .find(&key)
        .unwrap_or_else(|| panic!("--{name} in board.css"));
    PAGE_CSS[at + key.len()..]
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn every_colour_pair_has_a_contrast_of_at_least_4_5() {
    let mut pairs: Vec<(String, String, String)> = ["A", "B", "C", "D", "E", "F", "none"]
        .iter()
        .map(|l| {
            (
                format!("level of service {l}"),
                var(&format!("los-{l}-fg")),
                var(&format!("los-{l}-bg")),
            )
        })
        .collect();
    for (what, fg, bg) in [
        ("page text", "fg", "bg"),
        ("muted text", "muted", "bg"),
        ("tile text", "fg", "tile-bg"),
        ("tile labels", "muted", "tile-bg"),
        ("page alerts", "page-fg", "page-bg"),
    ] {
        pairs.push((what.into(), var(fg), var(bg)));
    }
    for (what, fg, bg) in &pairs {
        let r = contrast(fg, bg);
        eprintln!("contrast {what}: {fg} on {bg} = {r:.2}");
        assert!(r >= 4.5, "{what}: {fg} on {bg} is {r:.2}:1, below 4.5:1");
    }
    // Each level of service has a rule using its pair.
    for l in ["A", "B", "C", "D", "E", "F"] {
        assert!(
            PAGE_CSS.contains(&format!(
                ".los-{l} {{ background: var(--los-{l}-bg); color: var(--los-{l}-fg); }}"
            )),
            "rule for {l}"
        );
    }
}

#[test]
fn every_drawn_figure_has_a_text_equivalent() {
    // The level-of-service badge, the sparkline and tiles/lanes get aria-labels; the
    // page has a language, a title and labelled landmarks.
    for needle in [
        "\"aria-label\", letter ? \"Level of service \"",
        "svg.setAttribute(\"role\", \"img\")",
        "svg.setAttribute(\"aria-label\", label)",
        "s.setAttribute(\"aria-label\", name",
        "li.setAttribute(\"aria-label\", \"Lane \"",
        "lanes.setAttribute(\"aria-label\"",
    ] {
        assert!(PAGE_JS.contains(needle), "board.js lacks {needle}");
    }
    assert_eq!(PAGE_JS.matches("createElementNS(SVG, \"svg\")").count(), 1);
    for needle in [
        "<html lang=\"en\">",
        "<title>",
        "<main id=\"board\" class=\"grid\" aria-label=",
        "role=\"status\"",
        "name=\"viewport\"",
    ] {
        assert!(PAGE_HTML.contains(needle), "board.html lacks {needle}");
    }
}
