//! Test PKI made with rcgen: a CA and certificates for servers, peers and clients, with chosen
//! SANs and validity, written as PEM files the way etcd and the tool read them.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// What a certificate is for (its extended key usage).
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// serverAuth + clientAuth (etcd uses one pair for both on the client port).
    Server,
    /// serverAuth + clientAuth (peers dial each other).
    Peer,
    /// clientAuth only.
    Client,
}

/// A certificate authority that writes its files into `dir`.
pub struct Pki {
    /// Where the PEM files go.
    pub dir: PathBuf,
    /// The CA certificate.
    pub ca_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// A new self-signed CA (ECDSA P-256, valid from yesterday for ten years).
    pub fn new(dir: &Path, common_name: &str) -> Pki {
        fs::create_dir_all(dir).expect("create pki dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("self-sign ca");
        let ca_path = dir.join(format!("{}.crt", file_stem(common_name)));
        fs::write(&ca_path, cert.pem()).expect("write ca");
        Pki { dir: dir.to_path_buf(), ca_path, issuer: Issuer::new(params, key) }
    }

    /// Issues `<name>.crt` / `<name>.key`, valid from yesterday for a year.
    pub fn issue(&self, name: &str, sans: &[&str], kind: Kind) -> (PathBuf, PathBuf) {
        let now = OffsetDateTime::now_utc();
        self.issue_with(name, sans, kind, now - Duration::days(1), now + Duration::days(365))
    }

    /// Issues a certificate with a chosen validity window (expired, expiring soon, ...).
    pub fn issue_with(
        &self,
        name: &str,
        sans: &[&str],
        kind: Kind,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> (PathBuf, PathBuf) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("cert params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = match kind {
            Kind::Server | Kind::Peer => vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
            Kind::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let crt = self.dir.join(format!("{}.crt", file_stem(name)));
        let keyf = self.dir.join(format!("{}.key", file_stem(name)));
        fs::write(&crt, cert.pem()).expect("write cert");
        fs::write(&keyf, key.serialize_pem()).expect("write key");
        (crt, keyf)
    }
}

fn file_stem(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}
