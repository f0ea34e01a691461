//! `duplicate-peer-url`: two members whose peer URLs name the same endpoint once normalised
//! (scheme and host case, trailing slash, default port, a host name and the IP it stands
//! for). etcd only rejects exact repeats ("Peer URLs already exists"), so `https://localhost:2380`
//! beside `https://127.0.0.1:2380` is accepted — and one of the two can never start. Also
//! two started members with one name, which K3s refuses on rejoin ("duplicate node name").

use std::collections::BTreeMap;

use super::{member_evidence, subject};
use crate::declare_check;
use crate::endpoint::Endpoint;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::{Health, Member, Snapshot};
use crate::registry::Check;

declare_check! {
    /// Two members whose peer URLs name one endpoint, or two members with one name.
    DuplicatePeerUrl, "duplicate-peer-url", Severity::Critical, "0.1.0",
    "Two members share a peer endpoint (or a name)"
}

impl Check for DuplicatePeerUrl {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out = shared_peer_endpoints(snap);
        out.extend(shared_names(snap));
        out
    }
}

fn shared_peer_endpoints(snap: &Snapshot) -> Vec<Finding> {
    // Every socket each member's peer URLs may dial.
    let sockets: Vec<Vec<(String, String)>> = snap
        .members
        .iter()
        .map(|m| {
            m.peer_urls
                .iter()
                .filter_map(|u| Endpoint::parse(u).ok().map(|e| (u.clone(), e)))
                .flat_map(|(u, e)| {
                    e.sockets(&snap.host_addrs).into_iter().map(move |(h, p)| {
                        let key = match p {
                            Some(p) => format!("{h}:{p}"),
                            None => h.to_string(),
                        };
                        (u.clone(), key)
                    })
                })
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    for i in 0..snap.members.len() {
        for j in i + 1..snap.members.len() {
            let shared: Vec<&(String, String)> =
                sockets[i].iter().filter(|(_, k)| sockets[j].iter().any(|(_, k2)| k2 == k)).collect();
            let Some((url_a, socket)) = shared.first() else { continue };
            let (a, b) = (&snap.members[i], &snap.members[j]);
            let url_b = sockets[j].iter().find(|(_, k)| k == socket).map(|(u, _)| u.clone()).unwrap_or_default();
            let suspect = suspect_of(a, b);
            let mut f = Finding::new(
                DuplicatePeerUrl::INFO.id,
                Severity::Critical,
                format!("{} and {}", subject(a), subject(b)),
                format!(
                    "{url_a} and {url_b} are the same peer endpoint {socket}: only one process can listen there, so one of these members can never run{}",
                    suspect.map(|s| format!("; {} is the one that is not running", s.label())).unwrap_or_default()
                ),
            )
            .with("endpoint", socket)
            .with("members", [member_evidence(a), member_evidence(b)]);
            if let Some(s) = suspect {
                // Only the one that is not running is ever proposed for removal.
                f = f.member(s.id, s.node.as_deref()).remedy(Remedy::RemoveMember { member_id: s.id });
            }
            out.push(f);
        }
    }
    out
}

/// Of two members on one endpoint, the one that is not running (unstarted first, then
/// unreachable); `None` when neither or both are.
fn suspect_of<'a>(a: &'a Member, b: &'a Member) -> Option<&'a Member> {
    let rank = |m: &Member| match m.health() {
        Health::Unstarted => 2,
        Health::Unreachable => 1,
        _ => 0,
    };
    match rank(a).cmp(&rank(b)) {
        std::cmp::Ordering::Greater => Some(a),
        std::cmp::Ordering::Less => Some(b),
        std::cmp::Ordering::Equal => None,
    }
}

fn shared_names(snap: &Snapshot) -> Vec<Finding> {
    let mut by_name: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
    for m in snap.members.iter().filter(|m| !m.is_unstarted()) {
        by_name.entry(node_part(&m.name).to_string()).or_default().push(m);
    }
    by_name
        .into_iter()
        .filter(|(_, ms)| ms.len() > 1)
        .map(|(name, ms)| {
            let exact = ms.iter().all(|m| m.name == ms[0].name);
            let labels: Vec<String> = ms.iter().map(|m| m.label()).collect();
            let message = if exact {
                format!("{} members are named {name:?}: {}; one is probably a leftover of an earlier join", ms.len(), labels.join(", "))
            } else {
                format!(
                    "{} members belong to K3s node {name:?}: {}; K3s refuses to rejoin with \"duplicate node name found\" until the old one is removed",
                    ms.len(),
                    labels.join(", ")
                )
            };
            let mut f = Finding::new(DuplicatePeerUrl::INFO.id, Severity::Warning, format!("name {name}"), message)
                .with("members", ms.iter().map(|m| member_evidence(m)).collect::<Vec<_>>());
            if let Some(s) = ms.iter().find(|m| m.health() != Health::Healthy) {
                f = f.member(s.id, s.node.as_deref());
            }
            f
        })
        .collect()
}

/// K3s names members `<node>-<8 hex>`; a rejoin of the same node gets a new suffix. Names
/// without that suffix are compared whole.
fn node_part(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((node, sfx)) if !node.is_empty() && sfx.len() == 8 && sfx.bytes().all(|b| b.is_ascii_hexdigit()) => node,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn distinct_members_are_silent() {
        assert!(DuplicatePeerUrl.run(&cluster(&[healthy(1), healthy(2), down(3)])).is_empty());
    }

    #[test]
    fn localhost_beside_127_0_0_1_is_one_endpoint_and_the_unstarted_one_is_named() {
        let mut a = healthy(1);
        a.peer_urls = vec!["https://127.0.0.1:2380".into()];
        let mut b = learner(unstarted(2));
        b.peer_urls = vec!["https://LOCALHOST:2380/".into()];
        let f = DuplicatePeerUrl.run(&cluster(&[a, healthy(3), b]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].member_id.map(|m| m.0), Some(2));
        assert_eq!(f[0].evidence.get("endpoint").and_then(|v| v.as_str()), Some("127.0.0.1:2380"));
    }

    #[test]
    fn a_resolved_name_matches_its_address_and_default_ports_fold() {
        let mut a = healthy(1);
        a.peer_urls = vec!["https://etcd-1.example:443".into()];
        let mut b = down(2);
        b.peer_urls = vec!["https://10.9.9.9".into()];
        let mut snap = cluster(&[a, b]);
        snap.host_addrs.insert("etcd-1.example".into(), vec![std::net::IpAddr::from([10, 9, 9, 9])]);
        let f = DuplicatePeerUrl.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].member_id.map(|m| m.0), Some(2));
    }

    #[test]
    fn same_port_on_different_hosts_is_not_a_duplicate() {
        let mut a = healthy(1);
        a.peer_urls = vec!["https://etcd-a:2380".into()];
        let mut b = healthy(2);
        b.peer_urls = vec!["https://etcd-b:2380".into()];
        assert!(DuplicatePeerUrl.run(&cluster(&[a, b])).is_empty());
    }

    #[test]
    fn two_members_with_one_name_and_k3s_rejoins_are_warnings() {
        let mut a = healthy(1);
        a.name = "etcd1".into();
        let mut b = down(2);
        b.name = "etcd1".into();
        let f = DuplicatePeerUrl.run(&cluster(&[a, b, healthy(3)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].member_id.map(|m| m.0), Some(2));

        let mut k1 = healthy(1);
        k1.name = "server-1-773673f4".into();
        let mut k2 = down(2);
        k2.name = "server-1-1568b3af".into();
        let mut other = healthy(3);
        other.name = "server-2-0d481970".into();
        let f = DuplicatePeerUrl.run(&cluster(&[k1, k2, other]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("server-1"));
    }

    #[test]
    fn names_that_only_share_a_prefix_are_not_duplicates() {
        let mut a = healthy(1);
        a.name = "etcd-a".into();
        let mut b = healthy(2);
        b.name = "etcd-b".into();
        assert!(DuplicatePeerUrl.run(&cluster(&[a, b])).is_empty());
    }
}
