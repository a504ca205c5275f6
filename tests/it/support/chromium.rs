//! Headless Chromium for the tests that open a page (the board, the HTML report), and
//! the page problems its log shows.

use std::process::Command;
use std::time::{Duration, Instant};

/// Run headless Chromium (Debian's `chromium`, no network services, a fresh profile)
/// on `url` with `extra` flags; returns stdout, stderr and how long it took.
pub fn run(extra: &[&str], url: &str) -> (String, String, Duration) {
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
