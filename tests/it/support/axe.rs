//! An accessibility pass with axe-core (npm) on a page as Chromium rendered it: the
//! dumped DOM is written next to the board's style sheet with axe instead of the board's
//! script, opened from a file in headless Chromium, and axe's WCAG 2 A/AA violations
//! (contrast, names, labels, landmarks…) are read back from the DOM.
//!
//! axe-core comes from `$LANEWATCH_AXE_JS` (a path to `axe.min.js`), else
//! `$LANEWATCH_CACHE` (default `~/.cache/lanewatch`)`/axe/node_modules/axe-core`, where
//! `tests/run.sh` installs it with npm. Without it the test is left out under a plain
//! `cargo test` and fails under `tests/run.sh` (see `support::require`).

use std::path::{Path, PathBuf};

/// Where axe-core is looked for (it may be missing).
pub fn axe_js_path() -> PathBuf {
    if let Some(p) = std::env::var_os("LANEWATCH_AXE_JS") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("LANEWATCH_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/lanewatch")))
        .expect("HOME or LANEWATCH_CACHE is set");
    cache.join("axe/node_modules/axe-core/axe.min.js")
}

fn axe_js() -> PathBuf {
    let js = axe_js_path();
    assert!(
        js.exists(),
        "axe-core is not installed at {}: run the suite with tests/run.sh, which installs it with npm",
        js.display()
    );
    js
}

const RUNNER: &str = r#"
axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
  .then(function (r) {
    var out = document.createElement("pre");
    out.id = "axe-result";
    out.textContent = JSON.stringify(r.violations.map(function (v) {
      return v.id + " (" + v.impact + "): " + v.help + " — " +
        v.nodes.slice(0, 3).map(function (n) { return n.target.join(" "); }).join(", ");
    })) + "|passes=" + r.passes.length;
    document.body.appendChild(out);
  });
"#;

/// axe-core's violations on `dom` (the board as dumped), and how many rules passed.
pub fn violations(dom: &str, chromium: impl Fn(&str) -> String) -> (Vec<String>, usize) {
    let js = axe_js();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&js, dir.path().join("axe.min.js")).unwrap();
    std::fs::write(dir.path().join("board.css"), lanewatch::board::PAGE_CSS).unwrap();
    std::fs::write(dir.path().join("run-axe.js"), RUNNER).unwrap();
    let page = dom
        .replace("<script src=\"board.js\" defer=\"\"></script>", "")
        .replace(
            "</body>",
            "<script src=\"axe.min.js\"></script><script src=\"run-axe.js\"></script></body>",
        );
    assert!(!page.contains("board.js"), "the board's script is left out");
    std::fs::write(dir.path().join("index.html"), page).unwrap();
    let url = format!("file://{}", dir.path().join("index.html").display());
    let out = chromium(&url);
    let result = out
        .split("<pre id=\"axe-result\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .unwrap_or_else(|| panic!("axe produced no result: {out}"))
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let (list, passes) = result.rsplit_once("|passes=").unwrap();
    let v: Vec<String> = serde_json::from_str(list).unwrap();
    (v, passes.parse().unwrap())
}
