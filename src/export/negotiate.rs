//! Content negotiation of `/metrics`: gzip (`Accept-Encoding`) and the protobuf
//! exposition (`Accept`), read from list headers with their parameters.

use axum::http::{HeaderMap, HeaderName, header};

/// Whether `Accept` takes the protobuf exposition (as Prometheus asks with
/// `--enable-feature=native-histograms`): its media type with
/// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited`, not with `q=0`.
#[must_use]
pub fn accepts_protobuf(headers: &HeaderMap) -> bool {
    accepted(headers, header::ACCEPT).any(|(media, params)| {
        media.eq_ignore_ascii_case("application/vnd.google.protobuf")
            && params.contains(&("proto", "io.prometheus.client.MetricFamily"))
            && params.contains(&("encoding", "delimited"))
    })
}

/// Whether `Accept-Encoding` takes gzip (`gzip` or `*`, not with `q=0`).
#[must_use]
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    accepted(headers, header::ACCEPT_ENCODING)
        .any(|(coding, _)| coding.eq_ignore_ascii_case("gzip") || coding == "*")
}

/// The items of a list header (`Accept`, `Accept-Encoding`), each with its parameters,
/// but those refused with `q=0`.
fn accepted(
    headers: &HeaderMap,
    name: HeaderName,
) -> impl Iterator<Item = (&str, Vec<(&str, &str)>)> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let value = parts.next().unwrap_or("");
            let params = parts
                .map(|p| {
                    p.split_once('=')
                        .map_or((p, ""), |(k, v)| (k.trim(), v.trim()))
                })
                .collect();
            (value, params)
        })
        .filter(|(_, params): &(_, Vec<(&str, &str)>)| {
            !params
                .iter()
                .any(|&(k, v)| k == "q" && v.parse::<f32>().is_ok_and(|q| q == 0.0))
        })
}

#[cfg(test)]
mod tests {
    use super::{accepts_gzip, accepts_protobuf};
    use axum::http::{HeaderMap, HeaderValue, header};

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        assert!(accepts_gzip(&with("gzip")));
        assert!(accepts_gzip(&with("br, GZIP;q=0.5")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn protobuf_is_taken_when_prometheus_asks_for_it() {
        // What Prometheus 2.42 sends with --enable-feature=native-histograms, and
        // without it.
        let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let text = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(accepts_protobuf(&accept(native)));
        assert!(!accepts_protobuf(&accept(text)));
        assert!(!accepts_protobuf(&HeaderMap::new()));
        // Another message, the text encoding of protobuf, or refused: not this body.
        for no in [
            "application/vnd.google.protobuf;proto=other.Message;encoding=delimited",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; q=0",
        ] {
            assert!(!accepts_protobuf(&accept(no)), "{no}");
        }
    }
}
