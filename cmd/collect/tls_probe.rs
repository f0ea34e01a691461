//! The live certificate probe: a TLS handshake with every member's client and peer URL, in
//! parallel, each bounded like the status probe (the handshake by --dial-timeout, the one
//! request after it by --command-timeout). A verifier records the chain the member presents,
//! then verifies it against the CA that should sign it, so the chain is known even when a
//! side refuses: etcd-doctor (unknown CA, wrong name, expired) or the member (our client
//! certificate, which the peer port checks against the peer CA and its SANs against our
//! address). With TLS 1.3 the member's verdict on our certificate comes after our Finished,
//! so one `GET /version` is sent: an HTTP answer means it accepted us.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_doctor_checks::endpoint::{Endpoint, HostKey};
use etcd_doctor_checks::{Member, Port, Side};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::certs::Handshake;

/// What the probe trusts and offers.
#[derive(Default)]
pub struct ProbeTls {
    /// CA certificates that should sign the members' server certificates (`--cacert`).
    pub server_roots: Vec<CertificateDer<'static>>,
    /// CA certificates that should sign their peer certificates (the peer CA when known).
    pub peer_roots: Vec<CertificateDer<'static>>,
    /// The client certificate chain and key offered at client URLs.
    pub client_identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// The pair offered at peer URLs (a member's own peer pair with --local).
    pub peer_identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl std::fmt::Debug for ProbeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("ProbeTls")
            .field("server_roots", &self.server_roots.len())
            .field("peer_roots", &self.peer_roots.len())
            .field("client_identity", &self.client_identity.is_some())
            .field("peer_identity", &self.peer_identity.is_some())
            .finish()
    }
}

/// Records the presented chain, then lets the WebPKI verifier for the right CA decide.
#[derive(Debug)]
struct Recorder {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut c) = self.chain.lock() {
            *c = std::iter::once(end_entity).chain(intermediates).map(|d| d.clone().into_owned()).collect();
        }
        match &self.inner {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(rustls::Error::General("no CA to verify it against".into())),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Probes every https client and peer URL of `members`, all at once.
pub async fn probe_all(tls: &ProbeTls, members: &[Member], dial: Duration, command: Duration) -> Vec<Handshake> {
    let mut jobs = Vec::new();
    for m in members {
        for (port, urls) in [(Port::Client, &m.client_urls), (Port::Peer, &m.peer_urls)] {
            for u in urls.iter().filter(|u| u.trim().to_ascii_lowercase().starts_with("https://")) {
                if !jobs.iter().any(|(_, p, x): &(_, Port, String)| *p == port && x == u) {
                    jobs.push((m.id, port, u.clone()));
                }
            }
        }
    }
    futures::future::join_all(jobs.into_iter().map(|(id, port, url)| async move {
        let (chain, refused_by, error) = probe(tls, &url, port, dial, command).await;
        Handshake { member_id: id, port, url, chain, refused_by, error }
    }))
    .await
}

type Outcome = (Vec<CertificateDer<'static>>, Option<Side>, Option<String>);

/// One handshake and one request, bounded.
pub async fn probe(tls: &ProbeTls, url: &str, port: Port, dial: Duration, command: Duration) -> Outcome {
    let ep = match Endpoint::parse(url) {
        Ok(e) => e,
        Err(e) => return (Vec::new(), None, Some(e.to_string())),
    };
    let Some(tcp_port) = ep.port else { return (Vec::new(), None, Some("no port".into())) };
    let (name, host) = match &ep.host {
        HostKey::Ip(ip) => (ServerName::IpAddress((*ip).into()), ip.to_string()),
        HostKey::Name(n) => match ServerName::try_from(n.clone()) {
            Ok(s) => (s, n.clone()),
            Err(e) => return (Vec::new(), None, Some(format!("{n}: {e}"))),
        },
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = if port == Port::Peer && !tls.peer_roots.is_empty() { &tls.peer_roots } else { &tls.server_roots };
    let mut store = RootCertStore::empty();
    for r in roots {
        let _ = store.add(r.clone());
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build().ok();
    let recorder = Arc::new(Recorder { inner, provider: provider.clone(), chain: Mutex::new(Vec::new()) });
    let builder = match ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.dangerous().with_custom_certificate_verifier(recorder.clone()),
        Err(e) => return (Vec::new(), None, Some(e.to_string())),
    };
    let identity = if port == Port::Peer {
        tls.peer_identity.as_ref().or(tls.client_identity.as_ref())
    } else {
        tls.client_identity.as_ref()
    };
    let config = match identity {
        Some((chain, key)) => match builder.with_client_auth_cert(chain.clone(), key.clone_key()) {
            Ok(c) => c,
            Err(e) => return (Vec::new(), None, Some(format!("our client certificate: {e}"))),
        },
        None => builder.with_no_client_auth(),
    };
    let chain = |r: &Recorder| r.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    // TCP and TLS are timed apart, within one --dial-timeout: no TCP connection says nothing
    // about the process (`unreachable`), TCP accepted but no handshake is a paused or
    // overloaded process (`hung`). The words are what `Failure::classify` reads.
    let authority = ep.authority();
    let started = std::time::Instant::now();
    let tcp = match tokio::time::timeout(dial, tcp_connect(&ep.host, tcp_port)).await {
        Err(_) => {
            return (
                Vec::new(),
                None,
                Some(format!("dial tcp {authority}: i/o timeout (no TCP connection within --dial-timeout {dial:?})")),
            );
        }
        Ok(Err(e)) => return (Vec::new(), None, Some(format!("dial tcp {authority}: {e}"))),
        Ok(Ok(t)) => t,
    };
    let left = dial.saturating_sub(started.elapsed());
    let mut stream = match tokio::time::timeout(left, connector.connect(name, tcp)).await {
        Err(_) => {
            return (
                chain(&recorder),
                None,
                Some(format!("hung: TCP accepted at {authority}, no TLS handshake within --dial-timeout {dial:?}")),
            );
        }
        Ok(Err(e)) => {
            let (side, line) = classify(&e);
            return (chain(&recorder), side, Some(line));
        }
        Ok(Ok(s)) => s,
    };
    let request = format!("GET /version HTTP/1.1\r\nHost: {host}:{tcp_port}\r\nConnection: close\r\n\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut buf = [0u8; 16];
        stream.read(&mut buf).await.map(|n| buf[..n].to_vec())
    };
    let got = chain(&recorder);
    match tokio::time::timeout(command, exchange).await {
        Err(_) => (got, None, Some(format!("no answer within --command-timeout {command:?} after the handshake"))),
        Ok(Ok(b)) if b.starts_with(b"HTTP/") => (got, None, None),
        Ok(Ok(b)) if b.is_empty() => (
            got,
            Some(Side::Member),
            Some("the member closed the connection after the handshake: it refused our client certificate (etcd also checks a peer's certificate names our address)".into()),
        ),
        Ok(Ok(_)) => (got, None, None),
        Ok(Err(e)) => {
            let (side, line) = classify(&e);
            (got, side.or(Some(Side::Member)), Some(line))
        }
    }
}

/// A TCP connection to a host and port (a name is resolved by the system resolver).
async fn tcp_connect(host: &HostKey, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    match host {
        HostKey::Ip(ip) => tokio::net::TcpStream::connect(SocketAddr::new(*ip, port)).await,
        HostKey::Name(n) => tokio::net::TcpStream::connect((n.as_str(), port)).await,
    }
}

/// What a bare TCP connect to a URL's host and port found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpReach {
    /// The connection was accepted: something listens (it may still never answer TLS).
    Accepted,
    /// No connection; the line reads as etcdctl's (`dial tcp …: connection refused`,
    /// `… i/o timeout`), so `Failure::classify` reads it right.
    Failed(String),
}

/// One TCP connect to `url`'s host and port, bounded by `timeout`; `None` when the URL has
/// no TCP address (unparsable, a unix socket). Beside a status probe, it tells a member that
/// refuses or cannot be reached from one that accepts and then hangs.
pub async fn tcp_reach(url: &str, timeout: Duration) -> Option<TcpReach> {
    let ep = Endpoint::parse(url).ok()?;
    let port = ep.port.filter(|_| !ep.scheme.starts_with("unix"))?;
    let authority = ep.authority();
    Some(match tokio::time::timeout(timeout, tcp_connect(&ep.host, port)).await {
        Ok(Ok(_)) => TcpReach::Accepted,
        Ok(Err(e)) => TcpReach::Failed(format!("dial tcp {authority}: {e}")),
        Err(_) => TcpReach::Failed(format!("dial tcp {authority}: i/o timeout (no TCP connection within {timeout:?})")),
    })
}

/// What one peer handshake proves. `Ok` when a process answered TLS there: the handshake
/// completed, or the member presented a certificate (whether or not our roots trust it: K3s
/// and RKE2 sign peer certificates with a peer CA we often do not have), or it judged our
/// client certificate. That is proof of a running listener, not of a healthy member; the
/// certificate verdict itself stays with the certificate checks (the `Handshake`).
pub fn peer_result(h: &Handshake) -> Result<(), String> {
    match &h.error {
        None => Ok(()),
        Some(_) if !h.chain.is_empty() || h.refused_by == Some(Side::Member) => Ok(()),
        Some(e) => Err(e.clone()),
    }
}

/// Dials every member's peer URLs: a TLS handshake for https (reusing `handshakes` where
/// the certificate probe already made one, else one with no trust roots, which still
/// records what answered), a TCP connect for http. In parallel, each bounded by `dial`.
/// Returns one entry per member: `None` when it has no peer URL.
pub async fn peer_reach(
    handshakes: &[Handshake],
    members: &[Member],
    dial: Duration,
    command: Duration,
) -> Vec<Option<Vec<etcd_doctor_checks::evidence::PeerReach>>> {
    use etcd_doctor_checks::evidence::PeerReach;
    let done = |u: &str| handshakes.iter().find(|h| h.port == Port::Peer && h.url == u);
    let mut todo: Vec<String> = Vec::new();
    for u in members.iter().flat_map(|m| &m.peer_urls) {
        if done(u).is_none() && !todo.contains(u) {
            todo.push(u.clone());
        }
    }
    let bare = ProbeTls::default();
    let dialled: Vec<(String, Result<(), String>)> = futures::future::join_all(todo.into_iter().map(|url| {
        let bare = &bare;
        async move {
            let r = if url.trim().to_ascii_lowercase().starts_with("https://") {
                let (chain, refused_by, error) = probe(bare, &url, Port::Peer, dial, command).await;
                let h = Handshake {
                    member_id: etcd_doctor_checks::MemberId(0),
                    port: Port::Peer,
                    url: url.clone(),
                    chain,
                    refused_by,
                    error,
                };
                peer_result(&h)
            } else {
                match tcp_reach(&url, dial).await {
                    Some(TcpReach::Accepted) => Ok(()),
                    Some(TcpReach::Failed(e)) => Err(e),
                    None => Err(format!("{url}: not a TCP address")),
                }
            };
            (url, r)
        }
    }))
    .await;
    members
        .iter()
        .map(|m| {
            (!m.peer_urls.is_empty()).then(|| {
                m.peer_urls
                    .iter()
                    .map(|u| {
                        let result = match done(u) {
                            Some(h) => peer_result(h),
                            None => dialled
                                .iter()
                                .find(|(x, _)| x == u)
                                .map(|(_, r)| r.clone())
                                .unwrap_or_else(|| Err("not dialled".into())),
                        };
                        PeerReach { url: u.clone(), result }
                    })
                    .collect()
            })
        })
        .collect()
}

/// Who refused, from a TLS error: our verifier's verdict, or an alert the member sent.
fn classify(e: &std::io::Error) -> (Option<Side>, String) {
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(err @ (rustls::Error::InvalidCertificate(_) | rustls::Error::General(_))) => {
            (Some(Side::EtcdDoctor), format!("etcd-doctor refused the member's certificate: {err}"))
        }
        Some(err @ rustls::Error::AlertReceived(_)) => {
            (Some(Side::Member), format!("the member refused our client certificate: {err}"))
        }
        Some(err) => (None, err.to_string()),
        None => (None, e.to_string()),
    }
}
