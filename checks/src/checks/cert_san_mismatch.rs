//! `cert-san-mismatch`: a member advertises a client or peer URL whose host its certificate
//! does not name. TLS clients check the dialled host against the SANs (an IP against the IP
//! SANs, a name against the DNS SANs; Go ignores the CN), so every client or peer that uses
//! that URL refuses the member. It slips in when an address changes or a member is rejoined
//! on a new address with its old certificates.

use std::collections::BTreeSet;

use super::{Seen, certs_seen, subject};
use crate::cert::CertRole;
use crate::cert_remedy::{Problem, remedy};
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// An advertised URL whose host is not in the member's certificate SANs.
    CertSanMismatch, "cert-san-mismatch", Severity::Critical, "0.2.0",
    "A member's certificate does not name an address it advertises"
}

impl Check for CertSanMismatch {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        crate::cert::missing(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out = Vec::new();
        // One finding per member, role and certificate (a Kubespray member.pem is both).
        let mut done: BTreeSet<(String, String)> = BTreeSet::new();
        let seen: Vec<Seen<'_>> = certs_seen(snap)
            .into_iter()
            .filter(|s| s.leaf && matches!(s.role, CertRole::Server | CertRole::Peer) && s.member.is_some())
            .collect();
        for s in &seen {
            let Some(m) = s.member else { continue };
            if !done.insert((m.id.to_string(), format!("{} {}", s.role.as_str(), s.cert.sha256))) {
                continue;
            }
            let (urls, kind) =
                if s.role == CertRole::Server { (&m.client_urls, "client") } else { (&m.peer_urls, "peer") };
            let missing: Vec<&String> = urls.iter().filter(|u| s.cert.covers(u) == Some(false)).collect();
            if missing.is_empty() {
                continue;
            }
            let all = missing.len() == urls.len();
            let who = if s.role == CertRole::Server {
                "clients dialling it (the API server, etcdctl, endpoint sync)"
            } else {
                "the other members dialling it for raft"
            };
            let mut at: Vec<String> = Vec::new();
            for o in seen.iter().filter(|o| o.cert.sha256 == s.cert.sha256 && o.member.map(|x| x.id) == Some(m.id)) {
                if !at.contains(&o.at) {
                    at.push(o.at.clone());
                }
            }
            let message = format!(
                "{} advertises {kind} URL(s) {} but its {} certificate ({}) names only {}: {who} refuse it there{}",
                m.label(),
                missing.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", "),
                s.role.as_str(),
                at.join(", "),
                sans(s),
                if all { "" } else { " (its other URLs are covered)" }
            );
            out.push(
                Finding::new(
                    Self::INFO.id,
                    if all { Severity::Critical } else { Severity::Warning },
                    subject(m),
                    message,
                )
                .member(m.id, m.node.as_deref())
                .with("certificate", s.cert.evidence())
                .with("role", s.role.as_str())
                .with("uncoveredURLs", &missing)
                .with("seenAt", &at)
                .remedy(remedy(snap, s.role, Problem::San, Some(m), s.path)),
            );
        }
        out
    }
}

fn sans(s: &Seen<'_>) -> String {
    let mut v: Vec<String> = s.cert.dns_names.clone();
    v.extend(s.cert.ip_addresses.iter().map(|ip| ip.to_string()));
    if v.is_empty() { "no address (no subjectAltName)".into() } else { v.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::Port;
    use crate::testing::*;

    #[test]
    fn silent_when_the_sans_name_every_advertised_url() {
        let snap = with_certs(cluster(&[healthy(1), healthy(2), healthy(3)]), |_, _| {});
        assert!(CertSanMismatch.run(&snap).is_empty());
        assert!(CertSanMismatch.run(&cluster(&[healthy(1)])).is_empty());
    }

    #[test]
    fn a_peer_certificate_without_the_peer_address_is_critical() {
        let snap = with_certs(cluster(&[healthy(1), healthy(2), healthy(3)]), |c, _| {
            for p in c.presented.iter_mut().filter(|p| p.member_id.0 == 2 && p.port == Port::Peer) {
                p.chain[0].ip_addresses = vec!["10.9.9.9".parse().expect("ip")];
                p.chain[0].dns_names = vec!["m2.example".into()];
            }
        });
        let f = CertSanMismatch.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].severity, f[0].member_id.map(|m| m.0)), (Severity::Critical, Some(2)));
        assert!(f[0].message.contains("https://10.0.0.2:2380") && f[0].message.contains("m2.example, 10.9.9.9"));
        assert_eq!(f[0].evidence["uncoveredURLs"][0], "https://10.0.0.2:2380");
    }

    #[test]
    fn one_uncovered_url_of_two_is_a_warning() {
        let mut m = healthy(1);
        m.client_urls.push("https://etcd-1.example:2379".into());
        let snap = with_certs(cluster(&[m]), |_, _| {});
        let f = CertSanMismatch.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Warning);
    }
}
