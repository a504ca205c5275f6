//! Things a test owns outright: an Apache Kafka broker of its own (for outages and TLS,
//! which must not disturb the shared broker) and a test CA with a certificate for
//! 127.0.0.1 made with the openssl CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/kafka/kafka.sh` (as exported by tests/run.sh, else from the source tree).
pub fn kafka_sh() -> PathBuf {
    std::env::var_os("LANEWATCH_KAFKA_SH")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/kafka.sh"))
}

/// Run `kafka.sh CMD DIR` with extra environment; panics with its output on failure.
pub fn kafka_sh_run(cmd: &str, dir: &Path, env: &[(&str, &Path)]) {
    let mut c = Command::new("bash");
    c.arg(kafka_sh()).arg(cmd).arg(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("kafka.sh runs");
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "kafka.sh {cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A broker of the test's own in `dir`, stopped when dropped.
pub struct OwnBroker(pub PathBuf);

impl OwnBroker {
    pub fn start(dir: &Path, env: &[(&str, &Path)]) -> OwnBroker {
        kafka_sh_run("start", dir, env);
        OwnBroker(dir.to_path_buf())
    }
    pub fn bootstrap(&self) -> String {
        std::fs::read_to_string(self.0.join("bootstrap"))
            .unwrap()
            .trim()
            .to_string()
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(kafka_sh())
            .arg("stop")
            .arg(&self.0)
            .output();
    }
}

/// A temp dir under the suite's scratch dir (removed with it by tests/run.sh).
pub fn scratch() -> tempfile::TempDir {
    let base = std::env::var_os("LANEWATCH_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::tempdir_in(base).unwrap()
}

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `lanewatch.toml` in `dir` listening on a free port with a web config: TLS with a
/// fresh `server` certificate (`ca.crt` signs it) and basic auth for `user` with the
/// password `s3cret-pass`; `extra` is appended to the web config. The loaded config.
pub fn tls_basic_auth_config(dir: &Path, user: &str, extra: &str) -> lanewatch::Config {
    make_certs(dir, "server");
    let hash = bcrypt::hash("s3cret-pass", 6).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  {user}: {hash}\n{extra}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("lanewatch.toml"),
        "[http]\nlisten = \"127.0.0.1:0\"\nweb_config_file = \"web.yml\"\n",
    )
    .unwrap();
    lanewatch::Config::load(&dir.join("lanewatch.toml")).expect("config with web config loads")
}

/// `ca.crt`/`ca.key` and `{name}.crt`/`{name}.key` (for IP 127.0.0.1) in `dir`, plus
/// `{name}.pem`: the unencrypted PKCS#8 key and the certificate (a PEM keystore).
pub fn make_certs(dir: &Path, name: &str) {
    if !dir.join("ca.crt").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=lanewatch-test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        );
    }
    let (key, csr, crt, p8) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.p8"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            &crt,
        ],
    );
    openssl(
        dir,
        &["pkcs8", "-topk8", "-nocrypt", "-in", &key, "-out", &p8],
    );
    let pem = [
        std::fs::read_to_string(dir.join(&p8)).unwrap(),
        std::fs::read_to_string(dir.join(&crt)).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
}
