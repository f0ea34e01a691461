//! Certificates as the collectors saw them: the chains members presented in TLS handshakes
//! and the certificate files of a node, a bundle or the flags, each reduced to the facts the
//! checks compare (names, SANs, validity, fingerprints, which trusted CA it chains to).
//! X.509 parsing and signature checks happen in the collector; nothing here touches a key.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::distribution::Distribution;
use crate::endpoint::{Endpoint, HostKey};
use crate::id::MemberId;

/// Everything learned about certificates; `Snapshot::certs` is `None` when nothing was read.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Certs {
    /// What each member's client and peer URL presented in a TLS handshake.
    #[serde(default)]
    pub presented: Vec<Presented>,
    /// Certificate files read (`--local`, a bundle's `pki/`, `--cacert`/`--cert`).
    #[serde(default)]
    pub files: Vec<CertFile>,
    /// The distribution whose file layout the files came from (`--local`).
    #[serde(default)]
    pub layout: Option<Distribution>,
}

/// Why the certificate checks could not run on `snap`: no handshake was recorded and no
/// certificate file read. `None` when there is something to judge.
pub(crate) fn missing(snap: &crate::model::Snapshot) -> Option<String> {
    let none = snap.certs.as_ref().is_none_or(|c| c.presented.is_empty() && c.files.is_empty());
    none.then(|| {
        "no certificates were read: no TLS handshake recorded and no certificate files (a bundle needs pki/, a node --local)"
            .to_string()
    })
}

/// Which listener of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Port {
    /// The client URL (2379): its certificate is `--cert-file`, checked by clients.
    Client,
    /// The peer URL (2380): its certificate is `--peer-cert-file`, checked by the other members.
    Peer,
}

impl Port {
    /// "client" or "peer".
    pub fn as_str(self) -> &'static str {
        match self {
            Port::Client => "client",
            Port::Peer => "peer",
        }
    }
}

/// Which side ended a TLS handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// etcd-doctor refused the member's certificate (unknown CA, wrong name, expired).
    EtcdDoctor,
    /// The member refused etcd-doctor's client certificate (or closed the connection).
    Member,
}

/// One TLS handshake with one member URL.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Presented {
    /// The member whose URL this is.
    #[serde(rename = "memberID")]
    pub member_id: MemberId,
    /// Client or peer listener.
    pub port: Port,
    /// The URL dialled.
    pub url: String,
    /// The chain the member sent, its own certificate first; empty when none arrived.
    pub chain: Vec<CertInfo>,
    /// Which side refused the handshake, when one did.
    pub refused_by: Option<Side>,
    /// The error, as one line, when the handshake or the request after it failed.
    pub error: Option<String>,
}

/// What a certificate file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertRole {
    /// The CA clients trust for etcd's client port (`--cacert`, the API server's `--etcd-cafile`).
    ServerCa,
    /// The CA etcd trusts for peers (`--peer-trusted-ca-file`).
    PeerCa,
    /// The CA etcd trusts for clients (`--trusted-ca-file`).
    ClientCa,
    /// etcd's client-port certificate (`--cert-file`).
    Server,
    /// etcd's peer certificate (`--peer-cert-file`).
    Peer,
    /// A client certificate for etcdctl (kubeadm healthcheck-client, K3s client, Kubespray admin).
    Client,
    /// The API server's etcd client certificate (`--etcd-certfile`).
    ApiserverEtcdClient,
    /// A certificate whose role is not known (a bundle file with another name).
    Other,
}

impl CertRole {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CertRole::ServerCa => "server-ca",
            CertRole::PeerCa => "peer-ca",
            CertRole::ClientCa => "client-ca",
            CertRole::Server => "server",
            CertRole::Peer => "peer",
            CertRole::Client => "client",
            CertRole::ApiserverEtcdClient => "apiserver-etcd-client",
            CertRole::Other => "other",
        }
    }

    /// Whether this role is a trusted CA.
    pub fn is_ca(self) -> bool {
        matches!(self, CertRole::ServerCa | CertRole::PeerCa | CertRole::ClientCa)
    }

    /// The CA a certificate of this role must chain to.
    pub fn signed_by(self) -> Option<CertRole> {
        match self {
            CertRole::Server => Some(CertRole::ServerCa),
            CertRole::Peer => Some(CertRole::PeerCa),
            CertRole::Client | CertRole::ApiserverEtcdClient => Some(CertRole::ClientCa),
            _ => None,
        }
    }
}

/// One certificate file (or PEM bundle) and, when known, its key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertFile {
    /// The file's path as read.
    pub path: String,
    /// What it is for (one CA file often serves several roles).
    pub roles: Vec<CertRole>,
    /// What named it: a flag, a config file, a bundle.
    pub from: String,
    /// The member these files belong to (by name), when known.
    #[serde(default)]
    pub member: Option<String>,
    /// Every certificate in the file, in file order.
    #[serde(default)]
    pub certs: Vec<CertInfo>,
    /// The private key paired with it, when known (only the path: a key is never printed).
    #[serde(default)]
    pub key_path: Option<String>,
    /// Whether that key belongs to the first certificate; `None` when not checked.
    #[serde(default)]
    pub key_matches: Option<bool>,
    /// Why the file (or its key) could not be read, as one line.
    #[serde(default)]
    pub error: Option<String>,
}

impl CertFile {
    /// Whether it has this role.
    pub fn has(&self, role: CertRole) -> bool {
        self.roles.contains(&role)
    }

    /// Its first certificate (the leaf, for a certificate and key pair).
    pub fn leaf(&self) -> Option<&CertInfo> {
        self.certs.first()
    }
}

/// One certificate, reduced to what the checks compare and an operator verifies with openssl.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertInfo {
    /// Subject distinguished name, e.g. `CN=etcd-ca`.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// DNS names in the subjectAltName extension.
    #[serde(rename = "dnsNames")]
    pub dns_names: Vec<String>,
    /// IP addresses in the subjectAltName extension.
    #[serde(rename = "ipAddresses")]
    pub ip_addresses: Vec<IpAddr>,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER, as `openssl x509 -fingerprint -sha256` prints it.
    pub sha256: String,
    /// SHA-256 of the certificate whose key signed this one, when that certificate was seen.
    pub issuer_sha256: Option<String>,
    /// Whether it is a CA (basicConstraints CA:TRUE).
    pub is_ca: bool,
    /// Extended key usages: serverAuth, clientAuth.
    #[serde(default)]
    pub usages: Vec<String>,
    /// For each trusted CA role known: whether this certificate chains to that CA.
    #[serde(default)]
    pub chains_to: BTreeMap<CertRole, bool>,
}

impl CertInfo {
    /// Whether the certificate names the host of `url` in its SANs, as Go's crypto/tls checks:
    /// an IP host against the IP SANs only, a name against the DNS SANs (one `*.` label wild).
    /// `None` when the URL cannot be parsed.
    pub fn covers(&self, url: &str) -> Option<bool> {
        let ep = Endpoint::parse(url).ok()?;
        Some(match &ep.host {
            HostKey::Ip(ip) => self.ip_addresses.iter().any(|a| a.to_canonical() == *ip),
            HostKey::Name(name) => self.dns_names.iter().any(|d| dns_matches(d, name)),
        })
    }

    /// Days (rounded down) from `now` to the end of validity; negative once expired.
    pub(crate) fn days_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_days()
    }

    /// The facts an operator checks: subject, issuer, SANs, validity, fingerprints.
    pub fn evidence(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": self.subject,
            "issuer": self.issuer,
            "dnsNames": self.dns_names,
            "ipAddresses": self.ip_addresses,
            "notBefore": rfc3339(self.not_before),
            "notAfter": rfc3339(self.not_after),
            "sha256": self.sha256,
            "issuerSha256": self.issuer_sha256,
        })
    }

    /// Who signed it, as a key to compare members by: the issuer's fingerprint when known,
    /// else its name (two CAs with one name and no fingerprint cannot be told apart).
    pub(crate) fn signer_key(&self) -> String {
        match &self.issuer_sha256 {
            Some(f) => format!("sha256 {f}"),
            None => format!("an issuer named {} whose certificate was not seen", self.issuer),
        }
    }
}

/// RFC 3339, or the debug form if formatting fails.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| format!("{t}"))
}

fn dns_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(rest) => h.split_once('.').is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == h,
    }
}

impl Certs {
    /// The readable files with this role.
    pub(crate) fn files_with(&self, role: CertRole) -> impl Iterator<Item = &CertFile> {
        self.files.iter().filter(move |f| f.has(role) && f.error.is_none() && !f.certs.is_empty())
    }

    /// What the member presented at this port (the first handshake that got a chain).
    pub fn presented(&self, member: MemberId, port: Port) -> Option<&Presented> {
        self.presented.iter().find(|p| p.member_id == member && p.port == port && !p.chain.is_empty())
    }

    /// The trusted CA files of a role, as evidence: path and the fingerprint of each certificate.
    pub(crate) fn ca_evidence(&self, role: CertRole) -> Vec<serde_json::Value> {
        self.files_with(role)
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "from": f.from,
                    "subjects": f.certs.iter().map(|c| c.subject.clone()).collect::<Vec<_>>(),
                    "sha256": f.certs.iter().map(|c| c.sha256.clone()).collect::<Vec<_>>(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(dns: &[&str], ips: &[&str]) -> CertInfo {
        CertInfo {
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            ip_addresses: ips.iter().filter_map(|s| s.parse().ok()).collect(),
            not_before: time::macros::datetime!(2026-01-01 0:00 UTC),
            not_after: time::macros::datetime!(2027-01-01 0:00 UTC),
            sha256: "AA".into(),
            issuer_sha256: None,
            is_ca: false,
            usages: vec![],
            chains_to: BTreeMap::new(),
        }
    }

    #[test]
    fn san_coverage_is_what_go_checks() {
        let c = cert(&["etcd-a.internal.example.com", "*.etcd.example.com"], &["10.0.0.1", "::1"]);
        assert_eq!(c.covers("https://10.0.0.1:2379"), Some(true));
        assert_eq!(c.covers("https://10.0.0.2:2379"), Some(false));
        assert_eq!(c.covers("https://[::1]:2379"), Some(true));
        assert_eq!(c.covers("https://ETCD-A.internal.example.com:2380/"), Some(true));
        assert_eq!(c.covers("https://m1.etcd.example.com:2380"), Some(true));
        assert_eq!(c.covers("https://a.m1.etcd.example.com:2380"), Some(false));
        // A name is never checked against IP SANs, nor an IP against DNS SANs.
        assert_eq!(cert(&["10.0.0.1"], &[]).covers("https://10.0.0.1:2379"), Some(false));
        assert_eq!(c.covers("not a url"), None);
    }

    #[test]
    fn days_left_rounds_down_and_goes_negative() {
        let c = cert(&[], &[]);
        assert_eq!(c.days_left(time::macros::datetime!(2026-12-29 12:00 UTC)), 2);
        assert!(c.days_left(time::macros::datetime!(2027-01-02 0:00 UTC)) < 0);
    }
}
