//! The `lanewatch` binary as a child process: start with a config, find its `/metrics`
//! address in its JSON log, signal it, read its peak memory, collect its log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Service {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every log line so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Service {
    pub fn start(config: &Path) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lanewatch"))
            .args(["run", "--config"])
            .arg(config)
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("lanewatch starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("serving /metrics")
                    && let Some(t) = tx.take()
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(a) = v["fields"]["addr"].as_str()
                {
                    let _ = t.send(a.parse::<SocketAddr>().unwrap());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => panic!(
                "lanewatch did not log its address; log: {:?}",
                log.lock().unwrap()
            ),
        };
        Service { child, addr, log }
    }

    pub fn signal(&self, sig: &str) {
        let rc = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(rc.success());
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Wait for exit; returns the status and how long it took.
    pub fn wait(mut self, limit: Duration) -> (ExitStatus, Duration) {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s, t.elapsed());
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                panic!("lanewatch did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
