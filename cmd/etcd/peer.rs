//! Whether a member's peer listener answers now: a TLS server that presents a certificate
//! there is an etcd process that is running, whatever its client URL says (a wrong
//! `--advertise-client-urls`, a firewall). The executor never removes such a member. Nothing is
//! sent after the handshake and the certificate is only looked at, never trusted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use etcd_doctor_checks::endpoint::Endpoint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Notes that a certificate came, and accepts it: we only ask whether something answers.
#[derive(Debug)]
struct Seen {
    provider: Arc<CryptoProvider>,
    presented: AtomicBool,
}

impl ServerCertVerifier for Seen {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.presented.store(true, Ordering::SeqCst);
        Ok(ServerCertVerified::assertion())
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

/// `Some(what answered)` when the https peer URL completes a TLS handshake within `dial`
/// (or presents its certificate and then refuses ours: it runs all the same); `None` when it
/// refuses TCP, times out (a hung process accepts TCP but never answers TLS) or is not https.
pub async fn answers(peer_url: &str, dial: Duration, _command: Duration) -> Option<String> {
    let ep = Endpoint::parse(peer_url).ok()?;
    if ep.scheme != "https" {
        return None;
    }
    let url = url::Url::parse(peer_url.trim()).ok()?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port_or_known_default()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = Arc::new(Seen { provider: provider.clone(), presented: AtomicBool::new(false) });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(seen.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone()).ok()?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.ok()?;
        Some(connector.connect(name, tcp).await)
    };
    match tokio::time::timeout(dial, connect).await {
        Ok(Some(Ok(_))) => Some(format!("its peer listener {peer_url} completed a TLS handshake just now")),
        Ok(Some(Err(e))) if seen.presented.load(Ordering::SeqCst) => {
            Some(format!("its peer listener {peer_url} presented its certificate just now (then: {e})"))
        }
        _ => None,
    }
}
