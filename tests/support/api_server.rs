//! A TLS HTTP server on a loopback address that answers `GET /version` the way a K3s server
//! does: a Kubernetes API answers the version document (401 without a client certificate, as
//! K3s runs with anonymous auth off); an etcd-only server's supervisor answers 503.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the server answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// A Kubernetes API (K3s), with this gitVersion.
    Api(&'static str),
    /// An etcd-only K3s server: no API behind the supervisor.
    EtcdOnly,
}

/// The running server; stops when dropped.
pub struct ApiServer {
    /// `https://<ip>:<port>`.
    pub url: String,
    /// Requests answered so far.
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Serves on `addr` (e.g. `127.0.4.1:6443`) with `cert`/`key`; client certificates from
    /// `client_ca` are accepted (and required for the version document).
    pub fn start(addr: &str, cert: &Path, key: &Path, client_ca: &Path, answer: Answer) -> ApiServer {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).expect("cert").collect::<Result<_, _>>().expect("cert pem");
        let key = PrivateKeyDer::from_pem_file(key).expect("key pem");
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(client_ca).expect("client ca") {
            roots.add(c.expect("client ca pem")).expect("client ca");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .expect("client verifier");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .expect("server config"),
        );
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let _ = tcp.set_nonblocking(false);
                        let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                        serve(tcp, config.clone(), answer, &r);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ApiServer { url: format!("https://{addr}"), requests, stop, thread: Some(thread) }
    }
}

fn serve(mut tcp: std::net::TcpStream, config: Arc<rustls::ServerConfig>, answer: Answer, n: &AtomicUsize) {
    let Ok(mut conn) = rustls::ServerConnection::new(config) else { return };
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => head.extend_from_slice(&buf[..k]),
        }
    }
    n.fetch_add(1, Ordering::Relaxed);
    let authenticated = tls.conn.peer_certificates().is_some_and(|c| !c.is_empty());
    let (status, body) = match answer {
        Answer::EtcdOnly => ("503 Service Unavailable", "apiserver disabled\n".to_string()),
        Answer::Api(_) if !authenticated => (
            "401 Unauthorized",
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#.to_string(),
        ),
        Answer::Api(v) => (
            "200 OK",
            format!(
                r#"{{"major":"1","minor":"31","gitVersion":"{v}","gitCommit":"d9b2a3a0a5e4e0f51b2c8c0fd7e5e0d0c56e7ab0","gitTreeState":"clean","buildDate":"2024-12-10T19:11:48Z","goVersion":"go1.22.9","compiler":"gc","platform":"linux/amd64"}}"#
            ),
        ),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(resp.as_bytes());
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
