//! `ca-mismatch`: a certificate that the CA which should sign it did not sign — a member's
//! server certificate that clients' CA does not verify, a peer certificate outside the peer
//! CA, the API server's etcd client certificate outside the CA etcd trusts for clients — or
//! members whose certificates come from different CAs. Such a member cannot talk to its peers
//! or is refused by the API server. Scale-outs and manual rejoins are when this slips in (the
//! Kubespray incident: new members got certificates from a CA of their own).

use std::collections::{BTreeMap, BTreeSet};

use super::{Seen, cert_subject, certs_seen, subject};
use crate::cert::{CertInfo, CertRole, Certs, Port};
use crate::cert_remedy::{Problem, remedy};
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::id::MemberId;
use crate::model::{Member, Snapshot};
use crate::registry::Check;

declare_check! {
    /// A certificate not signed by the CA that should sign it, or members from different CAs.
    CaMismatch, "ca-mismatch", Severity::Critical, "0.2.0",
    "A certificate does not chain to the CA the cluster trusts, or members use different CAs"
}

impl Check for CaMismatch {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        crate::cert::missing(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let Some(certs) = &snap.certs else { return Vec::new() };
        let mut flagged: BTreeSet<(MemberId, Port)> = BTreeSet::new();
        let mut out = Vec::new();
        for seen in unsigned_by_their_ca(snap).values() {
            let (f, ports) = unsigned_finding(snap, certs, seen);
            flagged.extend(ports);
            out.push(f);
        }
        for port in [Port::Client, Port::Peer] {
            out.extend(mixed_signers(snap, certs, port, &flagged));
        }
        out.extend(undecided(snap, certs));
        out
    }
}

/// Leaf certificates the CA of their role did not sign, one group per certificate however
/// many places and roles showed it (a Kubespray member.pem is both the server and the peer
/// certificate).
fn unsigned_by_their_ca(snap: &Snapshot) -> BTreeMap<String, Vec<Seen<'_>>> {
    let mut groups: BTreeMap<String, Vec<Seen<'_>>> = BTreeMap::new();
    for s in certs_seen(snap).into_iter().filter(|s| s.leaf) {
        let Some(ca) = s.role.signed_by() else { continue };
        if s.cert.chains_to.get(&ca) == Some(&false) {
            groups.entry(s.cert.sha256.clone()).or_default().push(s);
        }
    }
    groups
}

/// The finding for one unsigned certificate (`seen` is never empty), and the member ports it
/// covers, so the signer comparison does not report them again.
fn unsigned_finding(snap: &Snapshot, certs: &Certs, seen: &[Seen<'_>]) -> (Finding, Vec<(MemberId, Port)>) {
    let s = &seen[0];
    let role = s.role;
    let roles: Vec<CertRole> = unique(seen.iter().map(|o| o.role));
    let cas_of: Vec<CertRole> = unique(roles.iter().filter_map(|r| r.signed_by()));
    let cas: Vec<String> = unique(cas_of.iter().flat_map(|c| certs.files_with(*c).map(|f| f.path.clone())));
    let at: Vec<String> = unique(seen.iter().map(|o| o.at.clone()));
    let role_names = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("/");
    let ca_names = cas_of.iter().map(|r| r.as_str()).collect::<Vec<_>>().join("/");
    let who = s.member.map(|m| m.label()).unwrap_or_else(|| "this node".into());
    let what = match role {
        CertRole::ApiserverEtcdClient => "the API server's etcd client certificate".to_string(),
        CertRole::Client => "the etcd client certificate".to_string(),
        _ => format!("the {role_names} certificate of {who}"),
    };
    let message = format!(
        "{what} ({}, issuer {}) is not signed by the {ca_names} ({}): {}",
        at.join(", "),
        s.cert.issuer,
        cas.join(", "),
        consequence(role)
    );
    let mut f = Finding::new(CaMismatch::INFO.id, Severity::Critical, cert_subject(s), message)
        .with("certificate", s.cert.evidence())
        .with("role", &role_names)
        .with("seenAt", &at)
        .with("expectedCA", cas_of.iter().flat_map(|c| certs.ca_evidence(*c)).collect::<Vec<_>>())
        .remedy(remedy(snap, role, Problem::Ca, s.member, s.path));
    let mut ports = Vec::new();
    if let Some(m) = s.member {
        f = f.member(m.id, m.node.as_deref());
        ports.extend(roles.iter().filter_map(|r| port_of(*r)).map(|p| (m.id, p)));
    }
    (f, ports)
}

/// What goes wrong when a certificate with this role is not signed by its CA.
fn consequence(role: CertRole) -> &'static str {
    match role {
        CertRole::Server => "clients that trust it (the API server, etcdctl) refuse this member",
        CertRole::Peer => "the other members refuse its raft connections and it cannot take part in the cluster",
        CertRole::ApiserverEtcdClient => "etcd refuses the API server's connections",
        _ => "etcd refuses this client",
    }
}

/// Members whose certificates presented on `port` come from different signers, whatever CA is
/// known here (a K3s peer CA is not among the client's files). Members already `flagged` on
/// that port are not reported again.
fn mixed_signers(snap: &Snapshot, certs: &Certs, port: Port, flagged: &BTreeSet<(MemberId, Port)>) -> Vec<Finding> {
    let id = CaMismatch::INFO.id;
    let mut by_signer: BTreeMap<String, Vec<(&Member, &CertInfo, &str)>> = BTreeMap::new();
    for p in certs.presented.iter().filter(|p| p.port == port) {
        let (Some(m), Some(leaf)) = (snap.member(p.member_id), p.chain.first()) else { continue };
        let e = by_signer.entry(leaf.signer_key()).or_default();
        if !e.iter().any(|(x, _, _)| x.id == m.id) {
            e.push((m, leaf, &p.url));
        }
    }
    // Where the right CA is known for every member, `unsigned_by_their_ca` judged each one: two
    // signers that both chain to it (an intermediate beside the root, a CA rotation with
    // cross-signing) are no problem.
    let ca = if port == Port::Client { CertRole::ServerCa } else { CertRole::PeerCa };
    let all_judged = by_signer.values().flatten().all(|(_, leaf, _)| leaf.chains_to.contains_key(&ca));
    if by_signer.len() < 2 || all_judged {
        return Vec::new();
    }
    let total: usize = by_signer.values().map(Vec::len).sum();
    let majority = by_signer.iter().find(|(_, v)| v.len() * 2 > total).map(|(k, _)| k.clone());
    let summary: Vec<String> = by_signer
        .iter()
        .map(|(k, v)| format!("{} signed by {k}", v.iter().map(|(m, _, _)| m.label()).collect::<Vec<_>>().join(", ")))
        .collect();
    let role = if port == Port::Client { CertRole::Server } else { CertRole::Peer };
    let Some(major) = majority else {
        let message = format!(
            "members present {} certificates from {} different CAs ({}): members from different CAs refuse each other",
            port.as_str(),
            by_signer.len(),
            summary.join("; ")
        );
        return vec![Finding::new(id, Severity::Critical, "cluster", message).with("signers", &summary)];
    };
    let mut out = Vec::new();
    for (key, members) in by_signer.iter().filter(|(k, _)| **k != major) {
        for (m, leaf, url) in members.iter().filter(|(m, _, _)| !flagged.contains(&(m.id, port))) {
            let message = format!(
                "{} presents a {} certificate at {url} signed by {key}, while most members' are signed by {major}: members from different CAs refuse each other (a scale-out or rejoin that made its own certificates)",
                m.label(),
                port.as_str()
            );
            out.push(
                Finding::new(id, Severity::Critical, subject(m), message)
                    .member(m.id, m.node.as_deref())
                    .with("certificate", leaf.evidence())
                    .with("role", role.as_str())
                    .with("seenAt", [url])
                    .with("signers", &summary)
                    .remedy(remedy(snap, role, Problem::Ca, Some(m), None)),
            );
        }
    }
    out
}

/// A member that answers but showed no certificate: nothing to judge it by.
fn undecided(snap: &Snapshot, certs: &Certs) -> Option<Finding> {
    let undecided: Vec<String> = certs
        .presented
        .iter()
        .filter(|p| p.port == Port::Client && p.chain.is_empty())
        .filter_map(|p| snap.member(p.member_id).filter(|m| m.reachable() == Some(true)).map(|m| (m, p)))
        .map(|(m, p)| format!("{} ({})", m.label(), p.error.clone().unwrap_or_default()))
        .collect();
    if undecided.is_empty() {
        return None;
    }
    let message = format!("could not decide for {}: no certificate was captured", undecided.join(", "));
    Some(Finding::new(CaMismatch::INFO.id, Severity::Info, "cluster", message).with("undecided", &undecided))
}

/// The items in their first-seen order, each once.
fn unique<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut v: Vec<T> = Vec::new();
    for i in items {
        if !v.contains(&i) {
            v.push(i);
        }
    }
    v
}

fn port_of(role: CertRole) -> Option<Port> {
    match role {
        CertRole::Server => Some(Port::Client),
        CertRole::Peer => Some(Port::Peer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::CertFile;
    use crate::testing::*;

    #[test]
    fn silent_without_certificates_and_when_everything_chains() {
        assert!(CaMismatch.run(&cluster(&[healthy(1), healthy(2)])).is_empty());
        let snap = with_certs(cluster(&[healthy(1), healthy(2), healthy(3)]), |_, _| {});
        assert!(CaMismatch.run(&snap).is_empty(), "{:?}", CaMismatch.run(&snap));
    }

    #[test]
    fn a_server_certificate_outside_the_clients_ca_is_critical_with_evidence() {
        let snap = with_certs(cluster(&[healthy(1), healthy(2), healthy(3)]), |c, _| {
            let p = c.presented.iter_mut().find(|p| p.member_id.0 == 3 && p.port == Port::Client);
            if let Some(p) = p {
                p.chain[0] = foreign_leaf(&p.chain[0]);
            }
        });
        let f = CaMismatch.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].severity, f[0].member_id.map(|m| m.0)), (Severity::Critical, Some(3)));
        assert!(f[0].message.contains("not signed by the server-ca"), "{}", f[0].message);
        assert_eq!(f[0].evidence["certificate"]["issuer"], "CN=other-ca");
        assert_eq!(f[0].evidence["expectedCA"][0]["path"], "/pki/ca.crt");
        assert!(f[0].remedy.is_some());
    }

    #[test]
    fn peers_from_different_cas_are_found_without_knowing_the_peer_ca() {
        let snap = with_certs(cluster(&[healthy(1), healthy(2), healthy(3)]), |c, _| {
            c.files.retain(|f| !f.has(CertRole::PeerCa));
            for p in c.presented.iter_mut().filter(|p| p.port == Port::Peer) {
                p.chain[0].chains_to.clear();
                if p.member_id.0 == 2 {
                    p.chain[0] = foreign_leaf(&p.chain[0]);
                    p.chain[0].chains_to.clear();
                }
            }
        });
        let f = CaMismatch.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].member_id.map(|m| m.0), Some(2));
        assert!(f[0].message.contains("most members'"), "{}", f[0].message);
    }

    #[test]
    fn two_signers_that_both_chain_to_the_known_ca_are_fine() {
        let snap = with_certs(cluster(&[healthy(1), healthy(2), healthy(3)]), |c, _| {
            for p in c.presented.iter_mut().filter(|p| p.member_id.0 == 2) {
                p.chain[0].issuer_sha256 = Some("INTERMEDIATE".into());
            }
        });
        assert!(CaMismatch.run(&snap).is_empty(), "{:?}", CaMismatch.run(&snap));
    }

    #[test]
    fn an_apiserver_client_certificate_outside_the_client_ca_is_critical() {
        let snap = with_certs(cluster(&[healthy(1)]), |c, _| {
            let mut leaf = foreign_leaf(&c.presented[0].chain[0]);
            leaf.chains_to.insert(CertRole::ClientCa, false);
            c.files.push(CertFile {
                path: "/pki/apiserver-etcd-client.crt".into(),
                roles: vec![CertRole::ApiserverEtcdClient],
                from: "test".into(),
                member: None,
                certs: vec![leaf],
                key_path: None,
                key_matches: None,
                error: None,
            });
        });
        let f = CaMismatch.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.starts_with("the API server's etcd client certificate"), "{}", f[0].message);
        assert_eq!(f[0].subject, "certificate /pki/apiserver-etcd-client.crt");
    }
}
