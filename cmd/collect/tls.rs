//! Client TLS material from `--cacert`, `--cert`, `--key`: read once, checked for PEM shape,
//! every error naming the file. Key bytes are handed to the TLS stack and never printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use etcd_client::{Certificate, Identity, TlsOptions};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Where a kubeadm, K3s or Kubespray node keeps its etcd client files (for hints).
pub const PATH_HINT: &str = "kubeadm: /etc/kubernetes/pki/etcd/{ca.crt,healthcheck-client.crt,healthcheck-client.key}; \
K3s: /var/lib/rancher/k3s/server/tls/etcd/{server-ca.crt,client.crt,client.key}; \
Kubespray: /etc/ssl/etcd/ssl/{ca.pem,admin-<node>.pem,admin-<node>-key.pem}";

/// The client's TLS files, loaded.
#[derive(Clone, Default)]
pub struct TlsFiles {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The CA file's path, for messages.
    pub ca_path: Option<PathBuf>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TlsFiles").field("ca_path", &self.ca_path).field("identity", &self.identity.is_some()).finish()
    }
}

impl TlsFiles {
    /// Reads and checks the files the flags name.
    pub fn load(cacert: Option<&Path>, cert: Option<&Path>, key: Option<&Path>) -> Result<Self> {
        let ca = match cacert {
            Some(p) => {
                let pem = read("--cacert", p)?;
                let n = count_certs("--cacert", p, &pem)?;
                if n == 0 {
                    bail!("--cacert {} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", p.display());
                }
                Some(pem)
            }
            None => None,
        };
        let identity = match (cert, key) {
            (Some(c), Some(k)) => {
                let cert_pem = read("--cert", c)?;
                if count_certs("--cert", c, &cert_pem)? == 0 {
                    bail!("--cert {} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", c.display());
                }
                let key_pem = read("--key", k)?;
                PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
                    anyhow::anyhow!(
                        "--key {} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)",
                        k.display()
                    )
                })?;
                keys_match(c, &cert_pem, k, &key_pem)?;
                Some((cert_pem, key_pem))
            }
            (Some(c), None) => bail!("--cert {} was given without --key: pass both (or neither)", c.display()),
            (None, Some(k)) => bail!("--key {} was given without --cert: pass both (or neither)", k.display()),
            (None, None) => None,
        };
        Ok(TlsFiles { ca, identity, ca_path: cacert.map(Path::to_path_buf) })
    }

    /// Whether a client certificate and key were given.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// Whether a CA was given (https endpoints need one: TLS verification is always on).
    pub fn has_ca(&self) -> bool {
        self.ca.is_some()
    }

    /// A rustls client for plain HTTPS requests (metrics pages) with the same CA and identity;
    /// `None` without a CA.
    pub fn https_client(&self) -> Option<anyhow::Result<super::api_probe::ProbeTls>> {
        let ca = self.ca.as_deref()?;
        let id = self.identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice()));
        Some(super::api_probe::ProbeTls::new(ca, id))
    }

    /// The tonic TLS options for an https endpoint.
    pub fn options(&self) -> TlsOptions {
        let mut o = TlsOptions::new();
        if let Some(ca) = &self.ca {
            o = o.ca_certificate(Certificate::from_pem(ca));
        }
        if let Some((c, k)) = &self.identity {
            o = o.identity(Identity::from_pem(c, k));
        }
        o
    }
}

/// Refuses a --key that is not --cert's private key, naming both files: the TLS stack would
/// only say "KeyMismatch" once a connection is tried. A key type whose public half rustls
/// cannot derive is left to the handshake.
fn keys_match(cert: &Path, cert_pem: &[u8], key: &Path, key_pem: &[u8]) -> Result<()> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem).filter_map(|c| c.ok()).collect();
    let Ok(der) = PrivateKeyDer::from_pem_slice(key_pem) else { return Ok(()) };
    let Ok(signing) = rustls::crypto::ring::sign::any_supported_type(&der) else { return Ok(()) };
    match rustls::sign::CertifiedKey::new(chain, signing).keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => bail!(
            "--key {} is not the private key of --cert {}: pass the key that was made with that certificate \
             (on kubeadm, healthcheck-client.key goes with healthcheck-client.crt)",
            key.display(),
            cert.display()
        ),
        _ => Ok(()),
    }
}

fn read(flag: &str, p: &Path) -> Result<Vec<u8>> {
    let hint = if p.starts_with("/var/lib/rancher") || p.starts_with("/etc/kubernetes") {
        " (these files are readable by root only: try sudo)"
    } else {
        ""
    };
    std::fs::read(p).with_context(|| format!("cannot read {flag} {}{hint}", p.display()))
}

fn count_certs(flag: &str, p: &Path, pem: &[u8]) -> Result<usize> {
    let mut n = 0;
    for c in CertificateDer::pem_slice_iter(pem) {
        c.map_err(|e| anyhow::anyhow!("{flag} {}: {}", p.display(), super::certs::pem_error(&e)))?;
        n += 1;
    }
    Ok(n)
}
