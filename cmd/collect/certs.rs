//! Certificates for the certificate checks: PEM files read with rustls-pki-types, each
//! certificate parsed with x509-parser into the checks' `CertInfo`, signatures checked through
//! the chain up to the trusted CA files, and whether a key belongs to its certificate (its
//! public key compared with the certificate's). Key bytes never leave this module and are
//! never printed; every error names the file.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etcd_doctor_checks::{
    cert::{CertFile, CertInfo, CertRole, Certs, Port, Presented, Side},
    id::MemberId,
    model::Gap,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

/// A certificate file to read, and what it is for.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSpec {
    /// The certificate (or CA bundle) file.
    pub path: PathBuf,
    /// Its private key, when it has one and it is known.
    pub key: Option<PathBuf>,
    /// What it is for.
    pub roles: Vec<CertRole>,
    /// What named it, e.g. `--cacert` or `kubeadm etcd.yaml --peer-cert-file`.
    pub from: String,
    /// The member it belongs to, by name.
    pub member: Option<String>,
    /// Whether a missing file is worth a gap (it was configured, not guessed).
    pub required: bool,
}

impl FileSpec {
    /// A spec for `path` with these roles.
    pub fn new(path: impl Into<PathBuf>, roles: &[CertRole], from: impl Into<String>) -> Self {
        FileSpec {
            path: path.into(),
            key: None,
            roles: roles.to_vec(),
            from: from.into(),
            member: None,
            required: true,
        }
    }

    /// With its key.
    pub fn key(mut self, key: impl Into<PathBuf>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Belonging to a member.
    pub fn member(mut self, name: Option<&str>) -> Self {
        self.member = name.filter(|n| !n.is_empty()).map(str::to_string);
        self
    }

    /// Read only if it exists.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

/// One TLS handshake with a member URL, as the probe saw it.
#[derive(Clone, Debug)]
pub struct Handshake {
    /// The member.
    pub member_id: MemberId,
    /// Client or peer listener.
    pub port: Port,
    /// The URL dialled.
    pub url: String,
    /// The chain the member sent (DER), its own certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Which side refused, when one did.
    pub refused_by: Option<Side>,
    /// The error as one line.
    pub error: Option<String>,
}

/// Collects certificates (with their DER, for signature checks) into the checks' `Certs`.
#[derive(Default)]
pub struct CertSet {
    certs: Certs,
    ders: BTreeMap<String, Vec<u8>>,
    /// What could not be read.
    pub gaps: Vec<Gap>,
}

impl CertSet {
    /// Starts from summaries read elsewhere (a bundle's certs.json); they have no DER.
    pub fn from_certs(certs: Certs) -> Self {
        CertSet { certs, ..Default::default() }
    }

    /// Sets the layout the files came from.
    pub fn layout(&mut self, d: Option<etcd_doctor_checks::distribution::Distribution>) {
        if d.is_some() {
            self.certs.layout = d;
        }
    }

    /// Whether anything was added.
    pub fn is_empty(&self) -> bool {
        self.certs.presented.is_empty() && self.certs.files.is_empty()
    }

    /// Adds what a handshake showed.
    pub fn add_handshake(&mut self, h: Handshake) {
        let mut chain = Vec::new();
        let mut error = h.error;
        for (i, der) in h.chain.iter().enumerate() {
            match info(der) {
                Ok(c) => {
                    self.ders.insert(c.sha256.clone(), der.to_vec());
                    chain.push(c);
                }
                Err(e) => {
                    error.get_or_insert_with(|| format!("certificate {} of the chain: {e}", i + 1));
                }
            }
        }
        self.certs.presented.push(Presented {
            member_id: h.member_id,
            port: h.port,
            url: h.url,
            chain,
            refused_by: h.refused_by,
            error,
        });
    }

    /// Reads one file (and its key); an unreadable file is kept with its error and a gap.
    pub fn add_file(&mut self, spec: &FileSpec) {
        let path = spec.path.display().to_string();
        if !spec.required && !spec.path.is_file() {
            return;
        }
        if let Some(f) = self.certs.files.iter_mut().find(|f| f.path == path) {
            for r in &spec.roles {
                if !f.roles.contains(r) {
                    f.roles.push(*r);
                }
            }
            f.member = f.member.take().or_else(|| spec.member.clone());
            if f.key_path.is_some() || spec.key.is_none() {
                return;
            }
        }
        let mut file = CertFile {
            path: path.clone(),
            roles: spec.roles.clone(),
            from: spec.from.clone(),
            member: spec.member.clone(),
            certs: Vec::new(),
            key_path: spec.key.as_ref().map(|k| k.display().to_string()),
            key_matches: None,
            error: None,
        };
        match read_certs(&spec.path) {
            Ok(ders) => {
                for der in &ders {
                    match info(der) {
                        Ok(c) => {
                            self.ders.insert(c.sha256.clone(), der.to_vec());
                            file.certs.push(c);
                        }
                        Err(e) => {
                            file.error = Some(e);
                            break;
                        }
                    }
                }
                if let (Some(key), Some(leaf), None) = (&spec.key, ders.first(), &file.error) {
                    match key_matches(leaf, key) {
                        Ok(m) => file.key_matches = m,
                        Err(e) => self.gaps.push(Gap::new("certificates", e)),
                    }
                }
            }
            Err(e) => file.error = Some(e),
        }
        if let Some(e) = &file.error {
            self.gaps.push(Gap::new("certificates", format!("{path} ({}): {e}", spec.from)));
            file.certs.clear();
        }
        match self.certs.files.iter_mut().find(|f| f.path == path) {
            Some(existing) => {
                existing.key_path = file.key_path;
                existing.key_matches = file.key_matches;
            }
            None => self.certs.files.push(file),
        }
    }

    /// Works out, for every certificate with DER, who signed it and which trusted CA roles it
    /// chains to, and returns the summaries.
    pub fn finish(mut self) -> (Certs, Vec<Gap>) {
        let ders = &self.ders;
        let pool: Vec<&Vec<u8>> = ders.values().collect();
        let parsed: Vec<X509Certificate<'_>> =
            pool.iter().filter_map(|d| X509Certificate::from_der(d).ok().map(|(_, c)| c)).collect();
        let cas: Vec<&X509Certificate<'_>> = parsed.iter().filter(|c| c.is_ca()).collect();
        let mut anchors: BTreeMap<CertRole, Vec<X509Certificate<'_>>> = BTreeMap::new();
        for f in &self.certs.files {
            for role in f.roles.iter().filter(|r| r.is_ca()) {
                let list = anchors.entry(*role).or_default();
                for c in &f.certs {
                    if let Some(x) = ders.get(&c.sha256).and_then(|d| X509Certificate::from_der(d).ok()) {
                        list.push(x.1);
                    }
                }
            }
        }
        // A role whose CA file could not be read has no anchors: nothing is judged against it
        // (an empty set would fail every certificate).
        anchors.retain(|_, list| !list.is_empty());
        let annotate = |c: &mut CertInfo, intermediates: &[X509Certificate<'_>], leaf: bool| {
            let Some((_, x)) = ders.get(&c.sha256).and_then(|d| X509Certificate::from_der(d).ok()) else { return };
            if c.issuer_sha256.is_none() {
                c.issuer_sha256 = cas
                    .iter()
                    .copied()
                    .chain(intermediates.iter())
                    .find(|ca| signed_by(&x, ca) == Some(true))
                    .map(|ca| fingerprint(ca.as_raw()));
            }
            if leaf {
                for (role, list) in &anchors {
                    if let Some(ok) = chains(&x, intermediates, list, 4) {
                        c.chains_to.insert(*role, ok);
                    }
                }
            }
        };
        for p in &mut self.certs.presented {
            let inters: Vec<X509Certificate<'_>> = p
                .chain
                .iter()
                .skip(1)
                .filter_map(|c| ders.get(&c.sha256).and_then(|d| X509Certificate::from_der(d).ok()).map(|x| x.1))
                .collect();
            for (i, c) in p.chain.iter_mut().enumerate() {
                annotate(c, &inters, i == 0);
            }
        }
        for f in &mut self.certs.files {
            let leafy = f.roles.iter().any(|r| !r.is_ca());
            let inters: Vec<X509Certificate<'_>> = f
                .certs
                .iter()
                .skip(1)
                .filter_map(|c| ders.get(&c.sha256).and_then(|d| X509Certificate::from_der(d).ok()).map(|x| x.1))
                .collect();
            for (i, c) in f.certs.iter_mut().enumerate() {
                annotate(c, &inters, leafy && i == 0);
            }
        }
        (self.certs, self.gaps)
    }
}

/// A started member whose every status attempt failed, while its client URL completed a
/// handshake that etcd-doctor refused (its certificate is from another CA, misses the address,
/// or expired) or, from files, its server certificate is not signed by the clients' CA: it
/// may well be running, so its status is unknown (a gap), not "unreachable", and nothing
/// proposes to remove it. The certificate findings say what is wrong.
pub fn unknown_when_refused(snap: &mut etcd_doctor_checks::model::Snapshot) {
    let Some(certs) = snap.certs.clone() else { return };
    for m in snap.members.iter_mut().filter(|m| m.reachable() == Some(false) && !m.is_unstarted()) {
        let refused = certs.presented.iter().find(|p| {
            p.member_id == m.id
                && p.port == Port::Client
                && p.refused_by == Some(Side::EtcdDoctor)
                && !p.chain.is_empty()
        });
        let why = match refused {
            Some(p) => format!("answers TLS at {} but {}", p.url, p.error.clone().unwrap_or_default()),
            None => {
                let untrusted = certs.files.iter().find(|f| {
                    f.member.as_deref() == Some(m.name.as_str())
                        && f.has(CertRole::Server)
                        && f.leaf().and_then(|c| c.chains_to.get(&CertRole::ServerCa)) == Some(&false)
                });
                match untrusted {
                    Some(f) => format!(
                        "could not be read, and its server certificate {} is not signed by the clients' CA",
                        f.path
                    ),
                    None => continue,
                }
            }
        };
        snap.gaps.push(Gap::new(
            "etcd",
            format!("{} {why}: whether it runs is unknown (see the certificate findings)", m.label()),
        ));
        m.probe = None;
    }
}

/// Whether `child` chains to one of `anchors`, through `intermediates`, within `depth` links;
/// `None` when a signature on the way uses an algorithm this tool cannot verify (no guess).
fn chains(
    child: &X509Certificate<'_>,
    intermediates: &[X509Certificate<'_>],
    anchors: &[X509Certificate<'_>],
    depth: usize,
) -> Option<bool> {
    let mut unknown = false;
    for a in anchors {
        if a.as_raw() == child.as_raw() {
            return Some(true);
        }
        match signed_by(child, a) {
            Some(true) => return Some(true),
            None => unknown = true,
            Some(false) => {}
        }
    }
    if depth > 0 {
        for i in intermediates.iter().filter(|i| i.as_raw() != child.as_raw()) {
            match signed_by(child, i).map(|s| s.then(|| chains(i, intermediates, anchors, depth - 1))) {
                Some(Some(Some(true))) => return Some(true),
                Some(Some(None)) | None => unknown = true,
                _ => {}
            }
        }
    }
    if unknown { None } else { Some(false) }
}

/// Whether `parent` issued `child`: names match and the parent's key verifies the signature;
/// `None` for a signature algorithm that cannot be verified here.
fn signed_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> Option<bool> {
    if child.issuer().as_raw() != parent.subject().as_raw() {
        return Some(false);
    }
    match child.verify_signature(Some(parent.public_key())) {
        Ok(()) => Some(true),
        Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => None,
        Err(_) => Some(false),
    }
}

/// SHA-256 of DER as openssl prints it: `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Reads every certificate of a PEM file. Errors say what is wrong, for a message naming it.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = super::limits::read_bytes(path, &super::limits::PEM).map_err(|e| format!("cannot read it: {e:#}"))?;
    pem_certs(&bytes)
}

/// Every certificate in PEM bytes.
pub fn pem_certs(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(bytes) {
        out.push(c.map_err(|e| pem_error(&e))?);
    }
    if out.is_empty() {
        return Err("holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)".into());
    }
    Ok(out)
}

/// A PEM error in words.
pub fn pem_error(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "truncated PEM: a -----BEGIN line has no -----END line".into(),
        E::IllegalSectionStart { .. } => "malformed PEM: a broken -----BEGIN line".into(),
        E::Base64Decode(_) => "corrupt PEM: the base64 inside a section does not decode".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// Whether the key in `key_path` belongs to the certificate: `Ok(None)` when the key type
/// cannot say. Errors name the key file and never show key bytes.
pub fn key_matches(cert: &CertificateDer<'static>, key_path: &Path) -> Result<Option<bool>, String> {
    let shown = key_path.display();
    let bytes = super::limits::read_bytes(key_path, &super::limits::PEM)
        .map_err(|e| format!("cannot read key {shown}: {e:#}"))?;
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!(
            "key {shown} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"
        ),
        other => format!("key {shown}: {}", pem_error(&other)),
    })?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|_| format!("key {shown}: not an RSA, ECDSA or Ed25519 key this tool can read"))?;
    let pair = rustls::sign::CertifiedKey::new(vec![cert.clone()], signer);
    match pair.keys_match() {
        Ok(()) => Ok(Some(true)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Ok(Some(false)),
        Err(_) => Ok(None),
    }
}

/// The summary of one DER certificate (signer and chains are filled in by `CertSet::finish`).
pub fn info(der: &[u8]) -> Result<CertInfo, String> {
    let (_, x) = X509Certificate::from_der(der).map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let mut usages = Vec::new();
    for ext in x.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for n in &san.general_names {
                    match n {
                        GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                        GeneralName::IPAddress(b) => {
                            if let Some(ip) = ip_of(b) {
                                ip_addresses.push(ip);
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                if eku.server_auth {
                    usages.push("serverAuth".to_string());
                }
                if eku.client_auth {
                    usages.push("clientAuth".to_string());
                }
            }
            _ => {}
        }
    }
    let serial = x.raw_serial().iter().map(|b| format!("{b:02x}")).collect::<String>();
    Ok(CertInfo {
        subject: x.subject().to_string(),
        issuer: x.issuer().to_string(),
        serial,
        dns_names,
        ip_addresses,
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        sha256: fingerprint(der),
        issuer_sha256: None,
        is_ca: x.is_ca(),
        usages,
        chains_to: BTreeMap::new(),
    })
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let k = rcgen::KeyPair::generate().expect("key");
        let c = p.self_signed(&k).expect("ca");
        (c, rcgen::Issuer::new(p, k))
    }

    fn leaf(issuer: &rcgen::Issuer<'static, rcgen::KeyPair>) -> (rcgen::Certificate, rcgen::KeyPair) {
        let p = rcgen::CertificateParams::new(vec!["m1.example".to_string(), "10.0.0.1".to_string()]).expect("p");
        let k = rcgen::KeyPair::generate().expect("key");
        (p.signed_by(&k, issuer).expect("sign"), k)
    }

    #[test]
    fn summaries_signers_chains_and_key_matching() {
        let d = tempfile::tempdir().expect("tempdir");
        let (ca_cert, ca) = new_ca("etcd-ca");
        let (other_cert, other) = new_ca("etcd-ca");
        let (good, good_key) = leaf(&ca);
        let (bad, _) = leaf(&other);
        let w = |n: &str, s: String| {
            let p = d.path().join(n);
            std::fs::write(&p, s).expect("write");
            p
        };
        let ca_path = w("ca.crt", ca_cert.pem());
        let _ = other_cert;
        let good_path = w("good.crt", good.pem());
        let bad_path = w("bad.crt", bad.pem());
        let key_path = w("good.key", good_key.serialize_pem());
        let mut set = CertSet::default();
        set.add_file(&FileSpec::new(&ca_path, &[CertRole::ServerCa], "test"));
        set.add_file(&FileSpec::new(&good_path, &[CertRole::Server], "test").key(&key_path));
        set.add_file(&FileSpec::new(&bad_path, &[CertRole::Server], "test").key(&key_path));
        let (certs, gaps) = set.finish();
        assert!(gaps.is_empty(), "{gaps:?}");
        let by = |p: &Path| certs.files.iter().find(|f| f.path == p.display().to_string()).cloned();
        let g = by(&good_path).expect("good");
        let b = by(&bad_path).expect("bad");
        let c = by(&ca_path).expect("ca");
        assert_eq!(g.key_matches, Some(true));
        assert_eq!(b.key_matches, Some(false));
        assert_eq!(g.certs[0].chains_to.get(&CertRole::ServerCa), Some(&true));
        assert_eq!(b.certs[0].chains_to.get(&CertRole::ServerCa), Some(&false));
        // Same name, other key: told apart by fingerprint.
        assert_eq!(g.certs[0].issuer_sha256.as_deref(), Some(c.certs[0].sha256.as_str()));
        assert_eq!(b.certs[0].issuer_sha256, None);
        assert_eq!(g.certs[0].issuer, "CN=etcd-ca");
        assert_eq!(g.certs[0].dns_names, vec!["m1.example".to_string()]);
        assert_eq!(g.certs[0].ip_addresses, vec!["10.0.0.1".parse::<IpAddr>().expect("ip")]);
        assert_eq!(c.certs[0].issuer_sha256.as_deref(), Some(c.certs[0].sha256.as_str()));
        assert!(c.certs[0].sha256.len() == 95 && c.certs[0].sha256.contains(':'));
    }

    #[test]
    fn a_ca_file_that_cannot_be_read_judges_nothing() {
        let d = tempfile::tempdir().expect("tempdir");
        let (ca_cert, ca) = new_ca("etcd-ca");
        let (peer, _) = leaf(&ca);
        let ca_path = d.path().join("ca.crt");
        std::fs::write(&ca_path, ca_cert.pem()).expect("write");
        let peer_path = d.path().join("peer.crt");
        std::fs::write(&peer_path, peer.pem()).expect("write");
        let mut set = CertSet::default();
        set.add_file(&FileSpec::new(&ca_path, &[CertRole::ServerCa], "test"));
        set.add_file(&FileSpec::new(d.path().join("peer-ca.crt"), &[CertRole::PeerCa], "test"));
        set.add_file(&FileSpec::new(&peer_path, &[CertRole::Peer], "test"));
        let (certs, gaps) = set.finish();
        assert!(gaps.iter().any(|g| g.reason.contains("peer-ca.crt")), "{gaps:?}");
        let p = certs.files.iter().find(|f| f.path.ends_with("peer.crt")).expect("peer");
        assert_eq!(p.certs[0].chains_to.get(&CertRole::PeerCa), None, "no peer CA read: undecided");
        assert_eq!(p.certs[0].chains_to.get(&CertRole::ServerCa), Some(&true));
    }

    #[test]
    fn openssl_rsa_certificates_and_every_key_encoding() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pki/rsa-openssl");
        let mut set = CertSet::default();
        set.add_file(&FileSpec::new(dir.join("ca.crt"), &[CertRole::ServerCa], "test"));
        set.add_file(&FileSpec::new(dir.join("server.crt"), &[CertRole::Server], "test").key(dir.join("server.key")));
        let (certs, gaps) = set.finish();
        assert!(gaps.is_empty(), "{gaps:?}");
        let server = &certs.files[1];
        assert_eq!(server.key_matches, Some(true));
        let c = &server.certs[0];
        assert_eq!(c.subject, "CN=cp-1");
        assert_eq!(c.chains_to.get(&CertRole::ServerCa), Some(&true));
        assert_eq!(c.issuer_sha256.as_deref(), Some(certs.files[0].certs[0].sha256.as_str()));
        assert!(c.ip_addresses.contains(&"::1".parse::<IpAddr>().expect("ip")), "{:?}", c.ip_addresses);
        assert_eq!(c.usages, vec!["serverAuth".to_string(), "clientAuth".to_string()]);
        assert_eq!(
            c.sha256, "39:BA:51:CA:28:B3:AC:EE:05:1C:B5:98:18:F1:EA:3A:D0:D4:1C:55:D0:E1:FC:35:1C:30:32:66:BB:B8:C2:46",
            "as openssl x509 -fingerprint -sha256 prints it"
        );
        let der = read_certs(&dir.join("server.crt")).expect("read").remove(0);
        assert_eq!(key_matches(&der, &dir.join("server-pkcs1.key")), Ok(Some(true)));
        assert_eq!(key_matches(&der, &dir.join("other-ec.key")), Ok(Some(false)));
        let e = key_matches(&der, &dir.join("ca.crt")).err().unwrap_or_default();
        assert!(e.contains("ca.crt") && e.contains("no PEM private key"), "{e}");
    }

    #[test]
    fn garbage_and_truncated_files_are_named_errors_not_panics() {
        let d = tempfile::tempdir().expect("tempdir");
        let (ca_cert, _) = new_ca("x");
        let pem = ca_cert.pem();
        let cases = [
            ("garbage.crt", "this is not a certificate\n".to_string(), "holds no PEM certificate"),
            ("truncated.crt", pem[..pem.len() / 2].to_string(), "truncated PEM"),
            (
                "bad-der.crt",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string(),
                "not a valid X.509",
            ),
            ("empty.crt", String::new(), "holds no PEM certificate"),
        ];
        let mut set = CertSet::default();
        for (name, text, _) in &cases {
            let p = d.path().join(name);
            std::fs::write(&p, text).expect("write");
            set.add_file(&FileSpec::new(&p, &[CertRole::Server], "test"));
        }
        set.add_file(&FileSpec::new(d.path().join("missing.crt"), &[CertRole::Server], "test"));
        set.add_file(&FileSpec::new(d.path().join("guessed.crt"), &[CertRole::Server], "test").optional());
        let (certs, gaps) = set.finish();
        assert_eq!(certs.files.len(), 5);
        for (name, _, want) in &cases {
            let gap = gaps.iter().find(|g| g.reason.contains(name)).map(|g| g.reason.clone()).unwrap_or_default();
            assert!(gap.contains(want), "{name}: {gap}");
        }
        assert!(gaps.iter().any(|g| g.reason.contains("missing.crt") && g.reason.contains("cannot read")));
    }
}
