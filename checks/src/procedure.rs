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
}

/// Learner first, start it (manual), then promote it.
pub fn add_member(snap: &Snapshot, name: &str, peer_url: &str) -> Result<Plan, AddMemberError> {
    let new = Endpoint::parse(peer_url).map_err(|e| AddMemberError::BadUrl(e.to_string()))?;
    let new_sockets = new.sockets(&snap.host_addrs);
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
    let mut initial: Vec<String> = snap
        .members
        .iter()
        .filter(|m| !m.is_unstarted())
        .flat_map(|m| m.peer_urls.iter().map(move |u| format!("{}={u}", m.name)))
        .collect();
    initial.push(format!("{name}={peer_url}"));
    steps.push(manual(
        "start etcd on the new machine, joining the existing cluster; do not restart the existing members, they need no restart".to_string(),
        vec![
            format!("etcd --name {name} --initial-advertise-peer-urls {peer_url} --listen-peer-urls {peer_url} \\"),
            format!("  --initial-cluster {} --initial-cluster-state existing \\", initial.join(",")),
            "  --data-dir <an EMPTY data dir> <the client URLs and TLS flags of the other members>".into(),
        ],
    ));
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
pub fn restart_order(snap: &Snapshot) -> Option<Vec<String>> {
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
