//! `duplicate-peer-url`: two members whose peer URLs name the same endpoint once normalised
//! (scheme and host case, trailing slash, default port, a host name and the IP it stands
//! for). etcd only rejects exact repeats ("Peer URLs already exists"), so `https://localhost:2380`
//! beside `https://127.0.0.1:2380` is accepted — and one of the two can never start. Also
//! two started members with one name, which K3s refuses on rejoin ("duplicate node name"); and
//! a node's own initial cluster naming two members on one peer URL, which etcd refuses to start
//! with ("initial cluster ... has duplicate url").

use std::collections::BTreeMap;

use super::{member_evidence, subject};
use crate::declare_check;
use crate::endpoint::Endpoint;
use crate::evidence::MemberState;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::{Member, Snapshot};
use crate::registry::Check;

declare_check! {
    /// Two members whose peer URLs name one endpoint, or two members with one name.
    DuplicatePeerUrl, "duplicate-peer-url", Severity::Critical, "0.1.0",
    "Two members share a peer endpoint (or a name)"
}

impl Check for DuplicatePeerUrl {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_member_list(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out = shared_peer_endpoints(snap);
        out.extend(shared_names(snap));
        out.extend(initial_cluster_duplicates(snap));
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
            let suspect = suspect_of(snap, a, b);
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
                // Only the one that is not running is ever proposed for removal; the planner
                // decides from its state whether that is automatic.
                f = super::cite(
                    f.member(s.id, s.node.as_deref()).remedy(Remedy::RemoveMember { member_id: s.id }),
                    &crate::state::judge(snap, s),
                );
            }
            out.push(f);
        }
    }
    out
}

/// Of two members on one endpoint, the one that is not running (unstarted first, then one
/// that does not answer); `None` when neither or both are. Judged on their states, so a member
/// something proves alive is never the suspect.
fn suspect_of<'a>(snap: &Snapshot, a: &'a Member, b: &'a Member) -> Option<&'a Member> {
    let rank = |m: &Member| match crate::state::judge(snap, m).state {
        MemberState::Unstarted => 2,
        MemberState::Gone | MemberState::Down | MemberState::Unreachable | MemberState::Hung => 1,
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
            if let Some(s) = ms.iter().find(|m| crate::state::judge(snap, m).state != MemberState::Up) {
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

/// `--local` / a bundle's `local/`: this node's `ETCD_INITIAL_CLUSTER` (or `--initial-cluster`)
/// names two members on one peer URL. etcd refuses to bootstrap or join with it ("initial
/// cluster ... has duplicate url", exact spellings) — often a Kubespray inventory where two
/// hosts got one address — and the node then answers nothing, so this is the finding that
/// says why when no endpoint answers.
fn initial_cluster_duplicates(snap: &Snapshot) -> Vec<Finding> {
    let Some(local) = &snap.local else { return Vec::new() };
    let Some(ic) = &local.initial_cluster else { return Vec::new() };
    let entries = ic.entries();
    let socket = |u: &str| -> Vec<String> {
        Endpoint::parse(u)
            .map(|e| e.sockets(&snap.host_addrs).into_iter().map(|(h, p)| format!("{h}:{}", p.unwrap_or(0))).collect())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for i in 0..entries.len() {
        for j in i + 1..entries.len() {
            let ((na, ua), (nb, ub)) = (&entries[i], &entries[j]);
            // One member may list several peer URLs; two names on one URL is the fault.
            if na == nb {
                continue;
            }
            let exact = ua.trim_end_matches('/') == ub.trim_end_matches('/');
            let (sa, sb) = (socket(ua), socket(ub));
            let Some(shared) = sa.iter().find(|s| sb.contains(s)).cloned().or_else(|| exact.then(|| ua.clone())) else {
                continue;
            };
            out.push(initial_cluster_finding(snap, local, ic, (na, ua), (nb, ub), &shared, exact));
        }
    }
    out
}

fn initial_cluster_finding(
    snap: &Snapshot,
    local: &crate::node_local::LocalNode,
    ic: &crate::node_local::InitialCluster,
    a: (&String, &String),
    b: (&String, &String),
    shared: &str,
    exact: bool,
) -> Finding {
    let at = if ic.line > 0 { format!("{} line {}", ic.file, ic.line) } else { ic.file.clone() };
    let me = local.member_name.as_deref().and_then(|n| snap.members.iter().find(|m| m.name == n));
    let running = me.is_some_and(|m| crate::state::judge(snap, m).state == crate::evidence::MemberState::Up);
    let effect = if exact {
        "etcd refuses to bootstrap or join with it (\"initial cluster ... has duplicate url\")"
    } else {
        "only one process can listen there, so one of the two can never run"
    };
    let when = if running {
        "; this member runs on existing data, which ignores the initial cluster, so it bites on the next join or rebuild"
    } else {
        ""
    };
    let message = format!(
        "{} ({}) names {}={} and {}={}: two members on one peer endpoint {shared}; {effect}{when}",
        ic.key.trim_end_matches(['=', ':']),
        at,
        a.0,
        a.1,
        b.0,
        b.1
    );
    // The member list, when it was read, says which URL each member really has. This node's
    // member, added but never started, has no name there: when it is the only such member and
    // this node's name is not taken, it is that one (as `member add` printed the line).
    let unstarted: Vec<&crate::model::Member> = snap.members.iter().filter(|m| m.is_unstarted()).collect();
    let mine = local.member_name.as_deref().filter(|n| !snap.members.iter().any(|m| m.name == *n));
    let from_list: Vec<String> = snap
        .members
        .iter()
        .filter_map(|m| {
            let name = match (m.is_unstarted(), mine) {
                (false, _) => m.name.as_str(),
                (true, Some(n)) if unstarted.len() == 1 => n,
                (true, _) => return None,
            };
            m.peer_urls.first().map(|u| format!("{name}={u}"))
        })
        .collect();
    let mut commands = vec![format!(
        "# in {at}: give {} and {} each its own peer URL (the one its etcd advertises with --initial-advertise-peer-urls)",
        a.0, b.0
    )];
    if !from_list.is_empty() {
        commands.push(format!("# the member list has: {}{}", ic.key, from_list.join(",")));
    }
    // Who writes the line decides where it is fixed and how the change takes effect.
    match local.distribution.as_str() {
        "kubespray" => commands.push(
            "# Kubespray writes this line from the inventory: two hosts in the etcd group share an address (etcd_address / access_ip / ip); correct the inventory and rerun the etcd role".into(),
        ),
        "kubeadm" => commands.push(
            "# the kubelet restarts the etcd static pod by itself once the manifest is saved (keep the backup outside /etc/kubernetes/manifests)".into(),
        ),
        "k3s" | "rke2" => commands.push(format!(
            "# {} rewrites this file from the member list at every start: remove the stale member that holds this URL (kubectl delete node <node>, or the etcd.{}.cattle.io/remove=true annotation) instead of editing the file",
            local.distribution, local.distribution
        )),
        _ => {}
    }
    if local.distribution != crate::distribution::Distribution::Kubeadm {
        commands.push(format!("systemctl restart {}", local.service.as_deref().unwrap_or("etcd")));
    }
    let severity = if running { Severity::Warning } else { Severity::Critical };
    let mut f = Finding::new(DuplicatePeerUrl::INFO.id, severity, format!("initial cluster in {}", ic.file), message)
        .with("file", &ic.file)
        .with("key", &ic.key)
        .with("line", ic.line)
        .with("entries", [format!("{}={}", a.0, a.1), format!("{}={}", b.0, b.1)])
        .with("endpoint", shared)
        .with("identicalSpelling", exact)
        .remedy(Remedy::Manual {
            description: format!("give every member its own peer URL in {}, then restart this node's etcd", ic.file),
            commands,
        });
    if let Some(m) = me {
        f = f.member(m.id, m.node.as_deref());
    }
    f
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

    fn spray_local(value: &str) -> crate::node_local::LocalNode {
        let mut l =
            crate::node_local::LocalNode::new(crate::distribution::Distribution::Kubespray, "/etc/etcd.env".into());
        l.member_name = Some("etcd3".into());
        l.service = Some("etcd".into());
        l.initial_cluster = Some(crate::node_local::InitialCluster {
            value: value.into(),
            file: "/etc/etcd.env".into(),
            key: "ETCD_INITIAL_CLUSTER=".into(),
            line: 14,
        });
        l
    }

    #[test]
    fn an_initial_cluster_with_two_members_on_one_url_is_critical_even_with_no_member_list() {
        // --local on a node whose etcd refuses to start: nothing answered, the file still speaks.
        let mut snap = cluster(&[]);
        snap.local =
            Some(spray_local("etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380,etcd3=https://10.0.0.2:2380"));
        let f = DuplicatePeerUrl.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        let m = &f[0].message;
        assert!(m.contains("/etc/etcd.env line 14") && m.contains("etcd2=https://10.0.0.2:2380"), "{m}");
        assert!(m.contains("duplicate url"), "{m}");
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual remedy: {f:?}") };
        assert!(
            commands.iter().any(|c| c.contains("inventory"))
                && commands.last().is_some_and(|c| c == "systemctl restart etcd")
        );
    }

    #[test]
    fn one_member_with_two_urls_and_distinct_urls_are_silent_and_a_running_member_is_a_warning() {
        let mut snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        snap.local = Some(spray_local("m1=https://10.0.0.1:2380,m1=https://10.0.9.1:2380,m2=https://10.0.0.2:2380"));
        assert!(DuplicatePeerUrl.run(&snap).is_empty());
        let mut l = spray_local("m1=https://10.0.0.1:2380,m2=https://LOCALHOST:2380,m3=https://127.0.0.1:2380");
        l.member_name = Some("m3".into());
        snap.local = Some(l);
        let f = DuplicatePeerUrl.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Warning, "m3 runs on existing data");
        assert!(f[0].message.contains("next join"), "{}", f[0].message);
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual remedy: {f:?}") };
        assert!(
            commands.iter().any(|c| c.contains("the member list has: ETCD_INITIAL_CLUSTER=m1=https://10.0.0.1:2380")),
            "{commands:?}"
        );
    }

    #[test]
    fn the_fix_follows_who_writes_the_initial_cluster() {
        let dup = "a=https://10.0.0.1:2380,b=https://10.0.0.1:2380";
        use crate::distribution::Distribution;
        let commands = |dist: Distribution, service: &str| {
            let mut snap = cluster(&[]);
            let mut l = spray_local(dup);
            l.distribution = dist;
            l.service = Some(service.into());
            snap.local = Some(l);
            match DuplicatePeerUrl.run(&snap).first().and_then(|f| f.remedy.clone()) {
                Some(Remedy::Manual { commands, .. }) => commands.join("\n"),
                other => panic!("manual remedy: {other:?}"),
            }
        };
        let k3s = commands(Distribution::K3s, "k3s");
        assert!(k3s.contains("etcd.k3s.cattle.io/remove") && k3s.contains("systemctl restart k3s"), "{k3s}");
        let kubeadm = commands(Distribution::Kubeadm, "kubelet");
        assert!(kubeadm.contains("static pod") && !kubeadm.contains("systemctl restart"), "{kubeadm}");
    }
}
