//! The Prometheus exporter-toolkit web configuration file (`--web.config.file` of the
//! official exporters): TLS for the metrics endpoint and basic-auth users with bcrypt
//! hashes, so operators can reuse theirs.
//!
//! Supported keys: `tls_server_config.{cert_file, key_file, client_auth_type,
//! client_ca_file, min_version}`, `basic_auth_users`, `http_server_config.headers`.
//! Relative paths are resolved against the file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::rustls;

/// Errors reading a web configuration; each names the key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("cannot read web config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("web config {path}: {source}")]
    Syntax {
        path: PathBuf,
        source: serde_norway::Error,
    },
    #[error("web config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl crate::exit::Failure for WebConfigError {
    /// The web config file named by `http.web_config_file` is missing or wrong.
    fn is_user_error(&self) -> bool {
        true
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    http_server_config: Option<RawHttpServer>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    #[serde(default)]
    client_auth_type: Option<String>,
    #[serde(default)]
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    min_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Accepted for compatibility with exporter configs; lanewatch serves HTTP/1.1.
    #[serde(default, rename = "http2")]
    _http2: Option<bool>,
}

/// A validated web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Basic-auth users and their bcrypt hashes (empty: no authentication).
    pub users: BTreeMap<String, String>,
    pub headers: Vec<(String, String)>,
}

impl WebConfig {
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawWebConfig =
            serde_norway::from_str(&text).map_err(|source| WebConfigError::Syntax {
                path: path.to_path_buf(),
                source,
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = raw
            .tls_server_config
            .map(|t| tls_config(t, base))
            .transpose()
            .map_err(invalid)?;
        for (user, hash) in &raw.basic_auth_users {
            if !hash.starts_with("$2") {
                return Err(invalid(format!(
                    "basic_auth_users.{user}: not a bcrypt hash (\"$2y$...\"): hash the password, e.g. `htpasswd -nbBC 10 '' PASSWORD | tr -d ':'`"
                )));
            }
        }

        let headers = raw
            .http_server_config
            .map(|h| h.headers.into_iter().collect())
            .unwrap_or_default();
        Ok(WebConfig {
            tls,
            users: raw.basic_auth_users,
            headers,
        })
    }
}

fn tls_config(t: RawTls, base: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let cert_path = abs(&t.cert_file);
    let key_path = abs(&t.key_file);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("tls_server_config.cert_file {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no PEM certificate in it",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("tls_server_config.key_file {}: {e}", key_path.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match t.min_version.as_deref() {
        None | Some("TLS12") => &[&rustls::version::TLS13, &rustls::version::TLS12],
        Some("TLS13") => &[&rustls::version::TLS13],
        Some(v) => {
            return Err(format!(
                "tls_server_config.min_version {v:?}: use TLS12 or TLS13"
            ));
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let builder = match (t.client_auth_type.as_deref(), &t.client_ca_file) {
        (None | Some("NoClientCert"), _) => builder.with_no_client_auth(),
        (Some("RequireAndVerifyClientCert"), Some(ca)) => {
            let ca = abs(ca);
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(&ca)
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?
            {
                roots
                    .add(c.map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?)
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        (Some("RequireAndVerifyClientCert"), None) => {
            return Err("tls_server_config.client_auth_type RequireAndVerifyClientCert needs client_ca_file".into());
        }
        (Some(other), _) => {
            return Err(format!(
                "tls_server_config.client_auth_type {other:?}: use NoClientCert or RequireAndVerifyClientCert"
            ));
        }
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|e| {
        format!("tls_server_config: certificate and key do not match or are unusable: {e}")
    })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
