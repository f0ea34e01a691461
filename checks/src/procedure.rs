//! Plans an operator asks for, rather than ones findings call for: adding a member safely
//! (learner first, then start it, then promote) and a rolling restart (followers first, the
//! leader last, never more at once than the fault tolerance). The Kubespray incident scaled
//! 3 → 5 by restarting every member at once and lost quorum; existing members never need a
//! restart to admit a new one.

use crate::endpoint::Endpoint;
use crate::id::MemberId;
use crate::model::{Health, Snapshot};
use crate::plan::{Action, Plan, Step};
use crate::plan_file::fingerprint;
use crate::quorum::Quorum;

/// Why an add-member plan was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddMemberError {
    /// The peer URL is not usable.
    #[error("--peer-url: {0}")]
    BadUrl(String),
    /// A member already has this peer endpoint: adding it again would fail ("Peer URLs already
    /// exists") or, spelled differently, create a duplicate.
    #[error("already a member: {id} ({name}) has peer URL {url}; nothing to add")]
    AlreadyMember {
        /// The existing member.
        id: MemberId,
        /// Its name.
        name: String,
        /// Its matching peer URL.
        url: String,
    },
    /// A member already has this name: two members of one name confuse etcd's initial cluster
    /// string (`name=url,...`) and every tool that maps members to nodes by name.
    #[error(
        "the name {name} is already used by member {id} ({url}): pick another --name (remove {id} first if it is the machine being replaced: kubectl etcd-doctor plan remove-member {id})"
    )]
    NameInUse {
        /// The existing member.
        id: MemberId,
        /// The name asked for.
        name: String,
        /// Its peer URL, to tell it apart.
        url: String,
    },
}

/// What may be wrong with an add-member plan that is not a reason to refuse it: a peer URL
/// whose scheme differs from the one every present member uses (an `http://` peer on a TLS
/// cluster is refused by the others' peer listeners; the reverse has no certificate to use).
pub fn add_member_warnings(snap: &Snapshot, peer_url: &str) -> Vec<String> {
    let Some((scheme, _)) = peer_url.split_once("://") else { return Vec::new() };
    let scheme = scheme.to_ascii_lowercase();
    let others: Vec<String> = snap
        .members
        .iter()
        .flat_map(|m| &m.peer_urls)
        .filter_map(|u| u.split_once("://").map(|(s, _)| s.to_ascii_lowercase()))
        .collect();
    let Some(first) = others.first() else { return Vec::new() };
    if others.iter().any(|o| o != first) || *first == scheme {
        return Vec::new();
    }
    vec![match scheme.as_str() {
        "http" => format!(
            "the peer URL {peer_url} is plain http while every member's peer URL is {first}: the other members' peer listeners expect TLS, so the new member could not join; use {first}:// with a peer certificate from the cluster's peer CA"
        ),
        _ => format!(
            "the peer URL {peer_url} is {scheme} while every member's peer URL is {first}: the cluster has no peer TLS for the new member to use; use {first}://, or enable peer TLS on every member first"
        ),
    }]
}

/// Learner first, start it (manual), then promote it.
pub fn add_member(snap: &Snapshot, name: &str, peer_url: &str) -> Result<Plan, AddMemberError> {
    let new = Endpoint::parse(peer_url).map_err(|e| AddMemberError::BadUrl(e.to_string()))?;
    let new_sockets = new.sockets(&snap.host_addrs);
    if let Some(m) = snap.members.iter().find(|m| !m.name.is_empty() && m.name == name) {
        return Err(AddMemberError::NameInUse {
            id: m.id,
            name: name.to_string(),
            url: m.peer_urls.first().cloned().unwrap_or_default(),
        });
    }
    for m in &snap.members {
        for u in &m.peer_urls {
            let Ok(e) = Endpoint::parse(u) else { continue };
            if e.sockets(&snap.host_addrs).iter().any(|s| new_sockets.contains(s)) {
                return Err(AddMemberError::AlreadyMember { id: m.id, name: m.name.clone(), url: u.clone() });
            }
        }
    }
    let not_running: Vec<String> =
        snap.members.iter().filter(|m| !m.is_learner && m.health() != Health::Healthy).map(|m| m.label()).collect();
    let learners = snap.members.iter().filter(|m| m.is_learner).count();
    let mut steps = Vec::new();
    let ready = not_running.is_empty() && learners == 0;
    if !not_running.is_empty() {
        steps.push(manual(
            format!(
                "first remove or repair the voters that are not running ({}): etcd refuses every member add while one exists (\"etcdserver: unhealthy cluster\")",
                not_running.join(", ")
            ),
            vec!["kubectl etcd-doctor --fix".into()],
        ));
    }
    if learners > 0 {
        steps.push(manual(
            "first promote or remove the existing learner: etcd allows one learner at a time".into(),
            vec!["kubectl etcd-doctor --fix".into()],
        ));
    }
    steps.push(Step::by_peer_url(
        Action::AddLearner,
        ready,
        "add-member",
        format!("add {name} ({peer_url}) as a learner: it replicates without voting, so quorum is unchanged"),
        format!("etcdctl member add {name} --learner --peer-urls={peer_url}"),
        peer_url,
    ));
    let warnings = add_member_warnings(snap, peer_url);
    if let (Some(w), Some(add)) = (warnings.first(), steps.last_mut()) {
        add.description.push_str(&format!(" (warning: {w})"));
    }
    let mut initial: Vec<String> = snap
        .members
        .iter()
        .filter(|m| !m.is_unstarted())
        .flat_map(|m| m.peer_urls.iter().map(move |u| format!("{}={u}", m.name)))
        .collect();
    initial.push(format!("{name}={peer_url}"));
    let (description, commands) = start_new_member(snap, name, peer_url, &initial.join(","));
    steps.push(manual(description, commands));
    steps.push(Step::by_peer_url(
        Action::PromoteLearner,
        ready,
        "add-member",
        format!("promote {name} once it caught up (apply waits for it, bounded by --wait-learner)"),
        "etcdctl member promote <id of the new learner>".into(),
        peer_url,
    ));
    Ok(numbered(snap, steps))
}

/// The manual step between the learner add and its promotion: start etcd on the new machine,
/// joining the existing cluster (`--initial-cluster-state existing`, the members' names and
/// peer URLs plus its own), with the distribution's own way when the snapshot shows one. The
/// executor prints it as "start it now" while it waits for the learner.
fn start_new_member(snap: &Snapshot, name: &str, peer_url: &str, initial: &str) -> (String, Vec<String>) {
    use crate::distribution::Distribution::*;
    let tls = peer_url.to_ascii_lowercase().starts_with("https://");
    let client = client_url_for(peer_url);
    let mut commands = vec![
        format!("etcd --name {name} --data-dir /var/lib/etcd   # an EMPTY data dir \\"),
        format!("  --initial-advertise-peer-urls {peer_url} --listen-peer-urls {peer_url} \\"),
        format!("  --advertise-client-urls {client} --listen-client-urls {client} \\"),
        format!("  --initial-cluster {initial} \\"),
        if tls {
            "  --initial-cluster-state existing \\".to_string()
        } else {
            "  --initial-cluster-state existing".to_string()
        },
    ];
    if tls {
        commands.push(
            "  --cert-file <server.crt> --key-file <server.key> --trusted-ca-file <ca.crt> --client-cert-auth \\"
                .into(),
        );
        commands.push(
            "  --peer-cert-file <peer.crt> --peer-key-file <peer.key> --peer-trusted-ca-file <ca.crt> --peer-client-cert-auth   # certificates from the cluster's CAs, for this machine's name and address".into(),
        );
    }
    let dist = crate::detect::distribution(snap).map(|(d, _)| d);
    let way = match dist {
        Some(Kubeadm) => Some(
            "# kubeadm: write these flags into /etc/kubernetes/manifests/etcd.yaml on the new machine (the kubelet starts the static pod); `kubeadm join --control-plane` would add the member itself, so do not also apply this plan's add step there",
        ),
        Some(K3s) => Some(
            "# K3s: `k3s server --server https://<an existing server>:6443 --token <token>` adds and starts the member itself (K3s ships no etcdctl): use it instead of this plan",
        ),
        Some(Rke2) => Some(
            "# RKE2: put `server: https://<an existing server>:9345` and `token:` in /etc/rancher/rke2/config.yaml and `systemctl start rke2-server`: RKE2 adds and starts the member itself; use it instead of this plan",
        ),
        Some(Kubespray) => Some(
            "# Kubespray: the same settings as ETCD_* in /etc/etcd.env (ETCD_INITIAL_CLUSTER_STATE=existing), then `systemctl start etcd`; or add the host to the [etcd] group and run cluster.yml --limit=etcd,kube_control_plane -e ignore_assert_errors=yes",
        ),
        Some(Kops) => Some(
            "# kops: etcd-manager owns the members: change the etcd cluster in the cluster spec (kops edit cluster; kops update cluster --yes) instead of this plan",
        ),
        None => None,
    };
    if let Some(w) = way {
        commands.push(w.to_string());
    }
    (
        format!(
            "start etcd on the new machine now, joining the existing cluster as {name}; do not restart the existing members, they need no restart"
        ),
        commands,
    )
}

/// The client URL a new member most likely serves: its peer URL's host on etcd's client port.
fn client_url_for(peer_url: &str) -> String {
    let (scheme, rest) = peer_url.split_once("://").unwrap_or(("https", peer_url));
    let host = rest.trim_end_matches('/');
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    format!("{scheme}://{host}:2379")
}

/// Followers first, leader last, at most healthy voters − quorum at a time.
pub fn restart(snap: &Snapshot) -> Plan {
    let q = Quorum::of(snap);
    let batch = q.may_restart_together();
    let leader = snap.leader();
    let mut steps = Vec::new();
    let unhealthy: Vec<String> =
        snap.members.iter().filter(|m| m.health() != Health::Healthy).map(|m| m.label()).collect();
    if batch == 0 {
        steps.push(manual(
            format!(
                "no member can restart without losing quorum ({} of {} voters healthy, quorum {}): fix the cluster first{}",
                q.healthy_voters,
                q.voters,
                q.quorum,
                if unhealthy.is_empty() { ", or add a member".to_string() } else { format!(" (not healthy: {})", unhealthy.join(", ")) }
            ),
            vec!["kubectl etcd-doctor --fix".into()],
        ));
        return numbered(snap, steps);
    }
    let mut order: Vec<_> =
        snap.members.iter().filter(|m| m.health() == Health::Healthy && Some(m.id) != leader).collect();
    order.sort_by_key(|m| (!m.is_learner, m.name.clone()));
    let leader_member = leader.and_then(|l| snap.member(l)).filter(|m| m.health() == Health::Healthy);
    let mut batches: Vec<Vec<String>> = order.chunks(batch).map(|c| c.iter().map(|m| m.label()).collect()).collect();
    if let Some(l) = leader_member {
        batches.push(vec![format!("{} (the leader, last)", l.label())]);
    }
    for b in batches {
        steps.push(manual(
            format!("restart {}; wait until they are reachable and follow a leader before the next batch", b.join(", ")),
            vec![
                "systemctl restart etcd   # kubeadm static pod: move /etc/kubernetes/manifests/etcd.yaml out and back; K3s: systemctl restart k3s".into(),
                "kubectl etcd-doctor members   # every member reachable, one leader".into(),
            ],
        ));
    }
    if !unhealthy.is_empty() {
        steps.push(manual(
            format!("not in the order above because they are not healthy: {}", unhealthy.join(", ")),
            vec![],
        ));
    }
    numbered(snap, steps)
}

/// The members in the order to restart them one at a time: healthy followers (learners first,
/// then by name), the leader last. `None` when no member can restart without losing quorum.
pub(crate) fn restart_order(snap: &Snapshot) -> Option<Vec<String>> {
    if Quorum::of(snap).may_restart_together() == 0 {
        return None;
    }
    let leader = snap.leader();
    let mut order: Vec<_> =
        snap.members.iter().filter(|m| m.health() == Health::Healthy && Some(m.id) != leader).collect();
    order.sort_by_key(|m| (!m.is_learner, m.name.clone()));
    let mut out: Vec<String> = order.iter().map(|m| m.label()).collect();
    if let Some(l) = leader.and_then(|l| snap.member(l)).filter(|m| m.health() == Health::Healthy) {
        out.push(format!("{} (the leader, last)", l.label()));
    }
    Some(out)
}

fn manual(description: String, commands: Vec<String>) -> Step {
    Step::manual(None, "operator", description, commands)
}

fn numbered(snap: &Snapshot, mut steps: Vec<Step>) -> Plan {
    for (i, s) in steps.iter_mut().enumerate() {
        s.n = i + 1;
    }
    Plan { fingerprint: fingerprint(snap), steps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn add_member_is_learner_then_start_then_promote() {
        let p = add_member(&cluster(&[healthy(1), healthy(2), healthy(3)]), "m4", "https://10.0.0.4:2380").ok();
        let actions: Vec<(String, bool)> =
            p.iter().flat_map(|p| p.steps.iter().map(|s| (s.action.to_string(), s.automatic))).collect();
        assert_eq!(
            actions,
            vec![("add-learner".into(), true), ("manual".into(), false), ("promote-learner".into(), true)]
        );
        let start = &p.as_ref().map(|p| p.steps[1].commands.join(" ")).unwrap_or_default();
        assert!(
            start.contains("--initial-cluster-state existing") && start.contains("m4=https://10.0.0.4:2380"),
            "{start}"
        );
    }

    #[test]
    fn add_member_with_a_present_peer_url_is_refused_even_spelled_differently() {
        let r = add_member(&cluster(&[healthy(1), healthy(2)]), "x", "HTTPS://10.0.0.2:2380/");
        assert!(matches!(r, Err(AddMemberError::AlreadyMember { id, .. }) if id == MemberId(2)));
    }

    #[test]
    fn add_member_refuses_a_name_in_use_and_warns_about_a_plain_peer_on_a_tls_cluster() {
        let c = cluster(&[healthy(1), healthy(2), healthy(3)]);
        let r = add_member(&c, "m2", "https://10.0.0.9:2380");
        assert!(matches!(&r, Err(AddMemberError::NameInUse { id, .. }) if *id == MemberId(2)), "{r:?}");
        assert!(r.err().map(|e| e.to_string()).unwrap_or_default().contains("pick another --name"));
        let w = add_member_warnings(&c, "http://10.0.0.9:2380");
        assert!(w.first().is_some_and(|w| w.contains("plain http") && w.contains("https")), "{w:?}");
        assert!(add_member_warnings(&c, "https://10.0.0.9:2380").is_empty());
        let p = add_member(&c, "m9", "http://10.0.0.9:2380").ok();
        assert!(p.is_some_and(|p| p.steps[0].description.contains("warning: the peer URL")));
        let start = add_member(&c, "m9", "https://10.0.0.9:2380").map(|p| p.steps[1].commands.join("\n"));
        let start = start.unwrap_or_default();
        for flag in [
            "--name m9",
            "--initial-cluster-state existing",
            "--advertise-client-urls https://10.0.0.9:2379",
            "--peer-cert-file",
        ] {
            assert!(start.contains(flag), "{flag}: {start}");
        }
    }

    #[test]
    fn add_member_waits_for_dead_voters_to_be_removed() {
        let p = add_member(&cluster(&[healthy(1), healthy(2), down(3)]), "m4", "https://10.0.0.4:2380").ok();
        assert!(p.is_some_and(
            |p| p.steps.iter().all(|s| !s.automatic) && p.steps[0].description.contains("unhealthy cluster")
        ));
    }

    #[test]
    fn restart_batches_are_tolerance_sized_with_the_leader_last() {
        let p = restart(&cluster(&[healthy(1), healthy(2), healthy(3)]));
        let d: Vec<&str> = p.steps.iter().map(|s| s.description.as_str()).collect();
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[2].contains("m1") && d[2].contains("leader"), "{d:?}");
        let five = restart(&cluster(&[healthy(1), healthy(2), healthy(3), healthy(4), healthy(5)]));
        assert!(five.steps[0].description.contains("m2") && five.steps[0].description.contains("m3"));
        assert_eq!(five.steps.len(), 3);
        // 4 voters tolerate 1 at a time, not floor(4/2) = 2.
        let four = restart(&cluster(&[healthy(1), healthy(2), healthy(3), healthy(4)]));
        assert_eq!(four.steps.len(), 4);
    }

    #[test]
    fn restart_with_no_tolerance_is_refused() {
        let p = restart(&cluster(&[healthy(1), healthy(2), down(3)]));
        assert_eq!(p.steps.len(), 1);
        assert!(p.steps[0].description.starts_with("no member can restart"));
    }
}
