//! `GET /version` on a K3s/RKE2 join URL: does it serve the Kubernetes API? TLS is verified
//! against the cluster's server CA; a client certificate (the node's kubelet pair) is offered
//! because K3s runs its API server with anonymous auth off, and `/version` is readable by any
//! authenticated identity.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use etcd_doctor_checks::node_local::ApiProbe;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls_pki_types::pem::PemObject;
use url::Url;

/// The TLS material a probe uses; loaded once, shared by all probes.
#[derive(Clone)]
pub struct ProbeTls {
    config: Arc<rustls::ClientConfig>,
}

impl ProbeTls {
    /// A client that trusts `ca_pem` only and offers `identity` (cert PEM, key PEM) if given.
    pub fn new(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            roots
                .add(c.context("the server CA is not valid PEM")?)
                .context("the server CA is not a usable certificate")?;
        }
        anyhow::ensure!(!roots.is_empty(), "the server CA file holds no certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(cert).collect::<Result<_, _>>().context("client certificate PEM")?;
                let key = PrivateKeyDer::from_pem_slice(key).context("client key PEM")?;
                builder.with_client_auth_cert(chain, key).context("client certificate and key do not fit together")?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(ProbeTls { config: Arc::new(config) })
    }
}

/// Asks `api_url` for `/version`; the result is reported under `url` (the join URL as written,
/// which differs from `api_url` on RKE2: supervisor port 9345, API port 6443).
pub async fn probe(url: &str, api_url: &str, tls: &ProbeTls, timeout: Duration) -> ApiProbe {
    let (serves_api, version, detail) = match tokio::time::timeout(timeout, get_version(api_url, tls)).await {
        Err(_) => (false, None, format!("no answer within {:?}", timeout)),
        Ok(Err(e)) => (false, None, crate::collect::error_line(e.as_ref())),
        Ok(Ok((status, body))) => judge(status, &body),
    };
    ApiProbe { url: url.to_string(), serves_api, version, detail }
}

/// A 200 with a version document (`gitVersion`, `major`, `minor`) is an API; anything else is not.
fn judge(status: u16, body: &[u8]) -> (bool, Option<String>, String) {
    let doc: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let version = doc
        .as_ref()
        .filter(|d| d.get("major").is_some() && d.get("minor").is_some())
        .and_then(|d| d.get("gitVersion"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    match version {
        Some(v) if status == 200 => (true, Some(v.clone()), format!("{status} {v}")),
        _ => {
            let text = String::from_utf8_lossy(body);
            let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(120).collect();
            (false, None, if line.is_empty() { format!("{status}") } else { format!("{status} {line}") })
        }
    }
}

async fn get_version(api_url: &str, tls: &ProbeTls) -> Result<(u16, Vec<u8>)> {
    let url = Url::parse(api_url).with_context(|| format!("{api_url} is not a URL"))?;
    anyhow::ensure!(url.scheme() == "https", "{api_url}: K3s and RKE2 serve https only");
    // A version document is a few hundred bytes; never read an unbounded body.
    get(&url, "/version", Some(tls), 64 * 1024).await
}

/// `GET <url><path>` over http, or https verified with `tls`; the status and at most `limit`
/// bytes of the body.
pub async fn get(url: &Url, path: &str, tls: Option<&ProbeTls>, limit: usize) -> Result<(u16, Vec<u8>)> {
    let host = url.host_str().context("no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.context("connect")?;
    let authority = if url.port().is_some() { format!("{host}:{port}") } else { host.clone() };
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json, text/plain")
        .body(Empty::<Bytes>::new())
        .context("request")?;
    let (status, body) = if url.scheme() == "https" {
        let tls = tls.context("https without a CA to verify it")?;
        let name = ServerName::try_from(host.clone()).with_context(|| format!("{host} is no valid TLS server name"))?;
        let stream = tokio_rustls::TlsConnector::from(tls.config.clone()).connect(name, tcp).await.context("TLS")?;
        send(hyper_util::rt::TokioIo::new(stream), req, limit).await?
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), req, limit).await?
    };
    Ok((status, body))
}

async fn send<T>(io: T, req: hyper::Request<Empty<Bytes>>, limit: usize) -> Result<(u16, Vec<u8>)>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.context("HTTP")?;
    let driver = tokio::spawn(conn);
    let resp = sender.send_request(req).await.context("GET")?;
    let status = resp.status().as_u16();
    let body = Limited::new(resp.into_body(), limit)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
        .to_bytes()
        .to_vec();
    driver.abort();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn only_a_version_document_counts_as_an_api() {
        let doc = br#"{"major":"1","minor":"31","gitVersion":"v1.31.4+k3s1","platform":"linux/amd64"}"#;
        assert_eq!(judge(200, doc), (true, Some("v1.31.4+k3s1".into()), "200 v1.31.4+k3s1".into()));
        assert!(!judge(503, b"apiserver disabled\n").0);
        assert_eq!(judge(503, b"apiserver disabled\n").2, "503 apiserver disabled");
        assert!(!judge(401, br#"{"kind":"Status","code":401}"#).0);
        assert!(!judge(200, br#"{"gitVersion":"x"}"#).0, "no major/minor: not a version document");
        assert!(!judge(200, b"<html>").0);
    }
}
