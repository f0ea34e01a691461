//! `cert-key-mismatch`: a certificate file whose private key file does not belong to it (the
//! public keys differ). etcd fails to start with such a pair ("private key does not match
//! public key"), and a client using it cannot connect. It happens when one file of a pair is
//! replaced (a renewal that wrote only the certificate, a copy from another node).

use super::{cert_subject, certs_seen};
use crate::cert::CertRole;
use crate::cert_remedy::{Problem, remedy};
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// A private key file that does not belong to its certificate.
    CertKeyMismatch, "cert-key-mismatch", Severity::Critical, "0.2.0",
    "A private key does not belong to its certificate"
}

impl Check for CertKeyMismatch {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        crate::cert::missing(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let Some(certs) = &snap.certs else { return Vec::new() };
        let seen = certs_seen(snap);
        certs
            .files
            .iter()
            .filter(|f| f.key_matches == Some(false))
            .filter_map(|f| {
                let leaf = f.leaf()?;
                let s = seen.iter().find(|s| s.path == Some(f.path.as_str()) && s.leaf)?;
                let role = f.roles.iter().copied().find(|r| !r.is_ca()).unwrap_or(CertRole::Other);
                let key = f.key_path.clone().unwrap_or_default();
                let message = format!(
                    "the private key {key} does not belong to the certificate {} ({}, {} role): their public keys differ, so whatever uses this pair fails its TLS handshake (etcd refuses to start with it)",
                    f.path,
                    leaf.subject,
                    role.as_str()
                );
                let mut out = Finding::new(Self::INFO.id, Severity::Critical, cert_subject(s), message)
                    .with("certificate", leaf.evidence())
                    .with("certificatePath", &f.path)
                    .with("keyPath", &key)
                    .with("role", role.as_str())
                    .remedy(remedy(snap, role, Problem::Key, s.member, Some(&f.path)));
                if let Some(m) = s.member {
                    out = out.member(m.id, m.node.as_deref());
                }
                Some(out)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::CertFile;
    use crate::testing::*;

    fn pair(matches: Option<bool>) -> Snapshot {
        with_certs(cluster(&[healthy(1)]), |c, _| {
            c.files.push(CertFile {
                path: "/pki/server.crt".into(),
                roles: vec![CertRole::Server],
                from: "test".into(),
                member: Some("m1".into()),
                certs: vec![cert_info("m1", &["10.0.0.1"])],
                key_path: Some("/pki/server.key".into()),
                key_matches: matches,
                error: None,
            })
        })
    }

    #[test]
    fn a_key_of_another_certificate_is_critical_and_names_both_files_but_no_key_material() {
        assert!(CertKeyMismatch.run(&pair(Some(true))).is_empty());
        assert!(CertKeyMismatch.run(&pair(None)).is_empty());
        let f = CertKeyMismatch.run(&pair(Some(false)));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].severity, f[0].member_id.map(|m| m.0)), (Severity::Critical, Some(1)));
        assert_eq!(f[0].evidence["keyPath"], "/pki/server.key");
        assert!(!serde_json::to_string(&f[0]).unwrap_or_default().contains("PRIVATE KEY"));
    }
}
