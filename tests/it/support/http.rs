//! HTTP GETs with `reqwest` (no hand-written client: tests that are about raw HTTP keep
//! their sockets) and the one reader of a `/metrics` snapshot.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// `GET path` over HTTP/1.1; returns the status code and body. A fresh client per call
/// without idle connections: every test has a runtime of its own, and a pooled
/// connection must not outlive the runtime it was made on.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client");
    let r = client
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"));
    let status = r.status().as_u16();
    let body = r
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: body: {e}"));
    (status, body)
}

/// `GET path` with extra request headers, the body as sent (no decompression: the
/// client asks for no encoding by itself). Returns the status line and headers as
/// text (`HTTP/1.1 200 OK` then `name: value` lines) and the body bytes.
pub async fn http_get_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("HTTP client");
    let mut req = client.get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"));
    let mut head = format!("{:?} {}", r.version(), r.status());
    for (k, v) in r.headers() {
        head.push_str(&format!(
            "\r\n{k}: {}",
            String::from_utf8_lossy(v.as_bytes())
        ));
    }
    let body = r
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: body: {e}"));
    (head, body.to_vec())
}

/// Scrape `/metrics` (must answer 200) into a [`Metrics`] snapshot.
pub async fn scrape(addr: SocketAddr) -> Metrics {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200, "scrape failed: {body}");
    Metrics::parse(&body)
}

/// Samples of a text exposition: `(name, labels) → value`.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    pub samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Metrics {
    pub fn parse(body: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in body.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample line");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or(f64::NAN),
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n.to_string(), parse_labels(l.trim_end_matches('}'))),
                None => (series.to_string(), BTreeMap::new()),
            };
            samples.push((name, labels, value));
        }
        Metrics { samples }
    }

    /// Every sample of `name` whose labels include `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a (String, BTreeMap<String, String>, f64)> + 'a {
        self.samples.iter().filter(move |(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels).next().map(|s| s.2)
    }

    /// Sum over every sample of `name` whose labels include `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.2).sum()
    }

    pub fn count(&self, name: &str) -> usize {
        self.samples.iter().filter(|(n, _, _)| n == name).count()
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some((k, after)) = rest.split_once("=\"") {
        let mut val = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        val.push(match n {
                            'n' => '\n',
                            o => o,
                        });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        out.insert(k.trim_start_matches(',').trim().to_string(), val);
        rest = &after[end..];
    }
    out
}

/// What `curl` answered: the status code (`000` when nothing was), the response headers
/// and the body.
pub struct Curled {
    pub status: String,
    pub headers: String,
    pub body: String,
}

/// Run `curl -s` with `args` (a real TLS client for the web-config tests).
pub fn curl(args: &[&str]) -> Curled {
    let dir = tempfile::tempdir().unwrap();
    let (h, b) = (dir.path().join("h"), dir.path().join("b"));
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "%{http_code}", "-D"])
        .arg(&h)
        .arg("-o")
        .arg(&b)
        .args(args)
        .output()
        .expect("curl runs (apt-get install curl)");
    Curled {
        status: String::from_utf8_lossy(&out.stdout).into_owned(),
        headers: std::fs::read_to_string(&h).unwrap_or_default(),
        body: std::fs::read_to_string(&b).unwrap_or_default(),
    }
}
