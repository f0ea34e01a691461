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
use etcd_doctor_checks::{
    cert::{Port, Side},
    model::Member,
};
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
    let connect = async {
        let tcp = match &ep.host {
            HostKey::Ip(ip) => tokio::net::TcpStream::connect(SocketAddr::new(*ip, tcp_port)).await,
            HostKey::Name(n) => tokio::net::TcpStream::connect((n.as_str(), tcp_port)).await,
        }
        .map_err(|e| (false, e))?;
        connector.connect(name, tcp).await.map_err(|e| (true, e))
    };
    let mut stream = match tokio::time::timeout(dial, connect).await {
        Err(_) => {
            return (chain(&recorder), None, Some(format!("no TLS handshake within --dial-timeout {dial:?}")));
        }
        Ok(Err((false, e))) => return (Vec::new(), None, Some(format!("dial {host}:{tcp_port}: {e}"))),
        Ok(Err((true, e))) => {
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
