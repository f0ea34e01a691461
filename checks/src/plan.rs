//! The one planner: checks propose remedies, this merges them into one ordered plan and
//! simulates the membership after every step. A step is automatic only if the cluster can
//! commit it now (healthy voters >= quorum) and keeps quorum after it (healthy voters >=
//! quorum of the new voter set); a reachable member is never removed automatically. Removals
//! of unstarted and dead members come first: etcd refuses every member add (learners too,
//! measured on 3.4) while a voter is unreachable, so a stale member blocks any scale-out.
//! The plan carries a fingerprint of the state it was made from, so `apply -f` can refuse it
//! when the cluster changed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::finding::{FileEdit, Finding, Remedy};
use crate::id::MemberId;
use crate::model::{Health, Member, Snapshot};
use crate::quorum::quorum_of;

/// An ordered list of steps and the state they were planned against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `sha256:<hex>` of the cluster id, member ids, peer URLs, learner flags and reachability.
    pub fingerprint: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// 1-based position.
    pub n: usize,
    /// What it does, e.g. `remove-member`, `promote-learner`, `manual`.
    pub action: String,
    /// The member it acts on.
    #[serde(rename = "memberID")]
    pub member_id: Option<MemberId>,
    /// Whether `--fix` may run it; manual steps are printed for a person.
    pub automatic: bool,
    /// The check id that asked for it.
    pub reason: String,
    /// One line for people.
    pub description: String,
    /// The commands a person would type (exact for manual steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// The peer URL of a member to add.
    #[serde(default, rename = "peerURL", skip_serializing_if = "Option::is_none")]
    pub peer_url: Option<String>,
    /// The file edit of a `set-server-url` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit: Option<FileEdit>,
}

/// Step actions, as they appear in `action`.
pub mod action {
    /// `etcdctl member remove`.
    pub const REMOVE_MEMBER: &str = "remove-member";
    /// `etcdctl member promote`.
    pub const PROMOTE_LEARNER: &str = "promote-learner";
    /// `etcdctl member add --learner`.
    pub const ADD_LEARNER: &str = "add-learner";
    /// Rewrite the K3s/RKE2 join URL on this node and restart its service (`--local`).
    pub const SET_SERVER_URL: &str = "set-server-url";
    /// Something only a person can do; `commands` says what.
    pub const MANUAL: &str = "manual";
}

/// One voter or learner in the simulation.
#[derive(Clone, Copy, Debug)]
struct Sim {
    id: MemberId,
    learner: bool,
    healthy: bool,
}

fn quorum_ok(state: &[Sim]) -> bool {
    let voters = state.iter().filter(|m| !m.learner).count();
    let healthy = state.iter().filter(|m| !m.learner && m.healthy).count();
    voters > 0 && healthy >= quorum_of(voters)
}

/// Merges the findings' remedies into one ordered, simulated plan.
pub fn plan(snap: &Snapshot, findings: &[Finding]) -> Plan {
    let mut state: Vec<Sim> = snap
        .members
        .iter()
        .map(|m| Sim { id: m.id, learner: m.is_learner, healthy: m.health() == Health::Healthy })
        .collect();
    let mut steps: Vec<Step> = Vec::new();
    if !quorum_ok(&state) {
        if snap.members.iter().any(|m| m.health() == Health::Unknown) {
            return Plan { fingerprint: fingerprint(snap), steps };
        }
        steps.push(recovery_step(snap));
        return numbered(snap, steps);
    }

    let dist = crate::detect::distribution(snap).map(|d| d.0);
    // Merge: one proposal per (action, member), with every check that asked for it.
    let mut proposals: Vec<(Remedy, Vec<String>)> = Vec::new();
    for f in findings {
        let Some(r) = &f.remedy else { continue };
        match proposals.iter_mut().find(|(p, _)| p == r) {
            Some((_, reasons)) if !reasons.contains(&f.check) => reasons.push(f.check.clone()),
            Some(_) => {}
            None => proposals.push((r.clone(), vec![f.check.clone()])),
        }
    }
    // Order: removals of never-started members, then of dead ones, then promotions.
    let rank = |r: &Remedy| match r {
        Remedy::RemoveMember { member_id } => match snap.member(*member_id).map(Member::health) {
            Some(Health::Unstarted) => 0,
            _ => 1,
        },
        Remedy::PromoteLearner { .. } => 2,
        Remedy::SetServerUrl(_) => 3,
        Remedy::Manual { .. } => 4,
    };
    proposals.sort_by_key(|(r, _)| rank(r));

    for (remedy, reasons) in proposals {
        let reason = reasons.join(",");
        match remedy {
            Remedy::Manual { description, commands } => steps.push(manual(None, &reason, description, commands)),
            Remedy::SetServerUrl(edit) => steps.push(set_server_url(snap, &state, &reason, edit)),
            Remedy::RemoveMember { member_id } => {
                let Some(m) = snap.member(member_id) else { continue };
                let Some(pos) = state.iter().position(|s| s.id == member_id) else { continue };
                let cmd = format!("etcdctl member remove {member_id}");
                if matches!(m.health(), Health::Healthy | Health::NoLeader | Health::Unknown) {
                    steps.push(manual(
                        Some(member_id),
                        &reason,
                        format!("{} answers (or was not probed): it is never removed automatically; remove it by hand only if its machine is really gone", m.label()),
                        vec![cmd],
                    ));
                    continue;
                }
                let mut after = state.clone();
                after.remove(pos);
                if quorum_ok(&state) && quorum_ok(&after) {
                    match distribution_removal(dist, snap, m, &reason) {
                        Some(step) => steps.push(step),
                        None => {
                            let what = format!("remove {} {}: {}", role(m), m.label(), why_remove(m));
                            steps.push(automatic(action::REMOVE_MEMBER, member_id, reason.clone(), what, cmd));
                            state = after;
                            if dist == Some(crate::distribution::Distribution::Kubeadm) && !m.is_unstarted() {
                                let node = m.node.clone().unwrap_or_else(|| m.name.clone());
                                steps.push(manual(
                                    Some(member_id),
                                    &reason,
                                    format!("before {node} rejoins: reset it, or kubeadm join recreates the member on stale data"),
                                    vec![format!("# on {node}:"), "kubeadm reset -f".into(), "rm -rf /var/lib/etcd".into()],
                                ));
                            }
                        }
                    }
                } else {
                    steps.push(manual(
                        Some(member_id),
                        &reason,
                        format!("removing {} would leave the cluster without quorum; not automatic", m.label()),
                        vec![cmd],
                    ));
                }
            }
            Remedy::PromoteLearner { member_id } => {
                let Some(m) = snap.member(member_id) else { continue };
                let Some(pos) = state.iter().position(|s| s.id == member_id && s.learner) else { continue };
                let mut after = state.clone();
                after[pos].learner = false;
                let cmd = format!("etcdctl member promote {member_id}");
                if quorum_ok(&state) && quorum_ok(&after) && state[pos].healthy {
                    let what = format!("promote learner {} to a voter (it caught up with the leader)", m.label());
                    steps.push(automatic(action::PROMOTE_LEARNER, member_id, reason, what, cmd));
                    state = after;
                } else {
                    steps.push(manual(
                        Some(member_id),
                        &reason,
                        format!("promote {} once it is healthy", m.label()),
                        vec![cmd],
                    ));
                }
            }
        }
    }
    numbered(snap, steps)
}

/// Where the distribution owns membership, the removal is a manual step done its way: kops's
/// etcd-manager would fight or undo a direct remove; K3s/RKE2 remove a member whose Node still
/// exists through the Node's remove annotation (their controller also cleans up the node's
/// annotations; it runs only on servers that serve the API).
fn distribution_removal(
    dist: Option<crate::distribution::Distribution>,
    snap: &Snapshot,
    m: &Member,
    reason: &str,
) -> Option<Step> {
    use crate::distribution::Distribution::*;
    match dist? {
        Kops => Some(manual(
            Some(m.id),
            reason,
            format!("{}: on kops, etcd-manager owns etcd membership and would fight or undo a direct member remove; replace the lost control-plane instance through kops and let etcd-manager re-form the cluster", m.label()),
            vec![
                "kubectl -n kube-system logs -l k8s-app=etcd-manager-main --tail=50   # what etcd-manager sees".into(),
                "kops update cluster --yes && kops rolling-update cluster --cloudonly --instance-group <the lost control-plane group> --yes".into(),
            ],
        )),
        d @ (K3s | Rke2) => {
            let node = m.node.as_deref().filter(|n| snap.node(n).is_some())?;
            let key = if d == K3s { "etcd.k3s.cattle.io/remove" } else { "etcd.rke2.cattle.io/remove" };
            Some(manual(
                Some(m.id),
                reason,
                format!("remove {} the {} way: its Node {node} still exists, so annotate it and let the etcd controller remove the member", m.label(), if d == K3s { "K3s" } else { "RKE2" }),
                vec![
                    format!("kubectl annotate node {node} {key}=true"),
                    "kubectl etcd-doctor members   # the member is gone once a server that runs the API reconciled it".into(),
                    format!("# before {node} rejoins: delete /var/lib/rancher/{}/server/db on it", if d == K3s { "k3s" } else { "rke2" }),
                ],
            ))
        }
        _ => None,
    }
}

fn numbered(snap: &Snapshot, mut steps: Vec<Step>) -> Plan {
    for (i, s) in steps.iter_mut().enumerate() {
        s.n = i + 1;
    }
    Plan { fingerprint: fingerprint(snap), steps }
}

fn role(m: &Member) -> &'static str {
    if m.is_learner { "learner" } else { "voter" }
}

fn why_remove(m: &Member) -> &'static str {
    match m.health() {
        Health::Unstarted => "added but never started",
        _ => "unreachable at every client URL",
    }
}

fn automatic(action: &str, member_id: MemberId, reason: String, description: String, command: String) -> Step {
    Step {
        n: 0,
        action: action.into(),
        member_id: Some(member_id),
        automatic: true,
        reason,
        description,
        commands: vec![command],
        peer_url: None,
        edit: None,
    }
}

fn manual(member_id: Option<MemberId>, reason: &str, description: String, commands: Vec<String>) -> Step {
    Step {
        n: 0,
        action: action::MANUAL.into(),
        member_id,
        automatic: false,
        reason: reason.to_string(),
        description,
        commands,
        peer_url: None,
        edit: None,
    }
}

/// Rewriting the join URL restarts this node's K3s, and with it its etcd member: automatic only
/// if the cluster keeps quorum while that member is down.
fn set_server_url(snap: &Snapshot, state: &[Sim], reason: &str, edit: FileEdit) -> Step {
    let local = snap.local.as_ref();
    let me = local.and_then(|l| l.member_name.as_deref()).and_then(|n| snap.members.iter().find(|m| m.name == n));
    let voters = state.iter().filter(|m| !m.learner).count();
    let healthy = state.iter().filter(|m| !m.learner && m.healthy).count();
    // A member this node runs but we could not name counts as a healthy voter: the safe guess.
    let down = match me.and_then(|m| state.iter().find(|s| s.id == m.id)) {
        Some(s) => usize::from(s.healthy && !s.learner),
        None => 1,
    };
    let keeps_quorum = voters > 0 && healthy.saturating_sub(down) >= quorum_of(voters);
    let commands = vec![
        format!(
            "# in {} line {}: {} {} -> {} (a timestamped backup is kept)",
            edit.file, edit.line, edit.key, edit.from, edit.to
        ),
        format!("systemctl restart {}", edit.service),
    ];
    let description = format!(
        "on this node, point {} at {} (it serves the Kubernetes API) instead of {}, then restart {}",
        edit.service, edit.to, edit.from, edit.service
    );
    if keeps_quorum {
        Step {
            n: 0,
            action: action::SET_SERVER_URL.into(),
            member_id: me.map(|m| m.id),
            automatic: true,
            reason: reason.to_string(),
            description,
            commands,
            peer_url: None,
            edit: Some(edit),
        }
    } else {
        manual(
            me.map(|m| m.id),
            reason,
            format!(
                "{description}; not automatic: restarting this node's etcd member now would leave the cluster without quorum"
            ),
            commands,
        )
    }
}

/// With quorum lost nothing can be committed, so no membership change works: the way back is
/// a restore from one member's data, which only a person should decide.
fn recovery_step(snap: &Snapshot) -> Step {
    let best = snap
        .members
        .iter()
        .filter(|m| m.status().is_some())
        .max_by_key(|m| m.status().map(|s| s.raft_applied_index.unwrap_or(s.raft_index)).unwrap_or(0));
    let (name, peer) = best
        .map(|m| (m.name.clone(), m.peer_urls.first().cloned().unwrap_or_default()))
        .unwrap_or_else(|| ("<surviving member>".into(), "<its peer URL>".into()));
    Step {
        n: 0,
        action: action::MANUAL.into(),
        member_id: best.map(|m| m.id),
        automatic: false,
        reason: "quorum-at-risk".into(),
        description: format!(
            "quorum is lost: no member can be removed or added. First try to bring the dead voters back. If their data is gone, rebuild from {name}, the member with the most recent data"
        ),
        commands: vec![
            format!("# on {name}: save what it has (works while it still serves reads)"),
            "etcdctl snapshot save /var/backups/etcd-before-recovery.db".into(),
            format!("# either restart etcd on {name} once with --force-new-cluster (keeps its data, makes it a one-member cluster)"),
            format!("# or restore: etcdutl snapshot restore /var/backups/etcd-before-recovery.db --name {name} --initial-cluster {name}={peer} --initial-advertise-peer-urls {peer} --data-dir /var/lib/etcd-restored"),
            "# K3s/RKE2: on one server, k3s server --cluster-reset (rke2 server --cluster-reset); then delete the db dir on the others and rejoin them".into(),
            "# then add the other members back one at a time (kubectl etcd-doctor plan add-member)".into(),
        ],
        peer_url: None,
        edit: None,
    }
}

/// The membership facts a plan depends on, one per member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// Member id.
    pub id: MemberId,
    /// Name (empty when unstarted).
    #[serde(default)]
    pub name: String,
    /// Peer URLs, sorted.
    #[serde(rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    /// Learner flag.
    #[serde(rename = "isLearner")]
    pub is_learner: bool,
    /// Whether it answered.
    pub reachable: Option<bool>,
}

impl MemberState {
    fn line(&self) -> String {
        format!(
            "member={} learner={} reachable={:?} peers={}\n",
            self.id,
            self.is_learner,
            self.reachable,
            self.peer_urls.join(",")
        )
    }
}

/// The state a snapshot shows, sorted by id.
pub fn state_of(snap: &Snapshot) -> Vec<MemberState> {
    let mut v: Vec<MemberState> = snap
        .members
        .iter()
        .map(|m| {
            let mut peer_urls = m.peer_urls.clone();
            peer_urls.sort();
            MemberState {
                id: m.id,
                name: m.name.clone(),
                peer_urls,
                is_learner: m.is_learner,
                reachable: m.reachable(),
            }
        })
        .collect();
    v.sort_by_key(|m| m.id);
    v
}

/// The fingerprint of a cluster id and member states.
pub fn fingerprint_of(cluster_id: Option<MemberId>, state: &[MemberState]) -> String {
    let mut h = Sha256::new();
    h.update(format!("cluster={}\n", cluster_id.map(|c| c.to_string()).unwrap_or_default()));
    for m in state {
        h.update(m.line());
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The fingerprint of the membership facts a plan depends on.
pub fn fingerprint(snap: &Snapshot) -> String {
    fingerprint_of(snap.cluster_id, &state_of(snap))
}

/// A plan written to a file (`plan -o yaml`), with the state it was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    /// Always `etcd-doctor/v1`.
    pub api_version: String,
    /// Always `Plan`.
    pub kind: String,
    /// The cluster it is for.
    #[serde(rename = "clusterID")]
    pub cluster_id: Option<MemberId>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// `sha256:` of the state below.
    pub fingerprint: String,
    /// The membership it was made from.
    pub state: Vec<MemberState>,
    /// The steps.
    pub steps: Vec<Step>,
}

impl PlanFile {
    /// The document for a plan made from `snap`.
    pub fn new(snap: &Snapshot, plan: &Plan) -> Self {
        PlanFile {
            api_version: "etcd-doctor/v1".into(),
            kind: "Plan".into(),
            cluster_id: snap.cluster_id,
            created_at: snap.collected_at,
            fingerprint: plan.fingerprint.clone(),
            state: state_of(snap),
            steps: plan.steps.clone(),
        }
    }

    /// The plan inside.
    pub fn plan(&self) -> Plan {
        Plan { fingerprint: self.fingerprint.clone(), steps: self.steps.clone() }
    }

    /// Whether this plan may run against `live`: `Ok(k)` when the live membership is the one
    /// it was made from after its first `k` automatic steps (k = 0: unchanged; k > 0: an
    /// interrupted apply, resumed), else `Err` with what changed.
    pub fn check_against(&self, live: &Snapshot) -> Result<usize, Vec<String>> {
        if self.cluster_id.is_some() && live.cluster_id.is_some() && self.cluster_id != live.cluster_id {
            return Err(vec![format!(
                "cluster id {} is not the plan's {}",
                live.cluster_id.map(|c| c.to_string()).unwrap_or_default(),
                self.cluster_id.map(|c| c.to_string()).unwrap_or_default()
            )]);
        }
        if fingerprint_of(self.cluster_id, &self.state) != self.fingerprint {
            return Err(vec!["the plan file was edited: its state does not match its fingerprint".into()]);
        }
        let now = state_of(live);
        let plan = self.plan();
        let automatic = plan.steps.iter().filter(|s| s.automatic).count();
        for k in 0..=automatic {
            if same_membership(&state_after(&self.state, &plan, k), &now) {
                return Ok(k);
            }
        }
        Err(describe_changes(&self.state, &now))
    }
}

/// States equal in ids, peers, learner flags and reachability (names may appear once an
/// unstarted member starts; that alone is not a change the plan depends on).
/// A member the plan adds has no id yet (0) and no known reachability: both match anything.
fn same_membership(expected: &[MemberState], live: &[MemberState]) -> bool {
    let mut used = vec![false; live.len()];
    expected.len() == live.len()
        && expected.iter().all(|x| {
            let found = live.iter().enumerate().position(|(i, y)| {
                !used[i]
                    && (x.id == y.id || x.id.0 == 0)
                    && x.peer_urls == y.peer_urls
                    && x.is_learner == y.is_learner
                    && (x.reachable == y.reachable || x.id.0 == 0)
            });
            found.map(|i| used[i] = true).is_some()
        })
}

/// The state expected once the first `k` automatic steps of `plan` are done (for resuming an
/// interrupted apply: a live state equal to it means those steps already happened).
pub fn state_after(state: &[MemberState], plan: &Plan, k: usize) -> Vec<MemberState> {
    let mut s = state.to_vec();
    for step in plan.steps.iter().filter(|s| s.automatic).take(k) {
        match (step.action.as_str(), step.member_id) {
            (action::REMOVE_MEMBER, Some(id)) => s.retain(|m| m.id != id),
            (action::PROMOTE_LEARNER, Some(id)) => {
                s.iter_mut().filter(|m| m.id == id).for_each(|m| m.is_learner = false)
            }
            (action::PROMOTE_LEARNER, None) => {
                let peer = step.peer_url.clone().unwrap_or_default();
                s.iter_mut().filter(|m| m.peer_urls == [peer.clone()]).for_each(|m| m.is_learner = false)
            }
            (action::ADD_LEARNER, _) => s.push(MemberState {
                id: MemberId(0),
                name: String::new(),
                peer_urls: step.peer_url.iter().cloned().collect(),
                is_learner: true,
                reachable: None,
            }),
            _ => {}
        }
    }
    s
}

/// What differs between two states, in words ("member 3 (m2): reachable false -> true").
pub fn describe_changes(before: &[MemberState], now: &[MemberState]) -> Vec<String> {
    let mut out = Vec::new();
    for b in before {
        match now.iter().find(|n| n.id == b.id) {
            None => out.push(format!("member {} ({}) is gone", b.id, b.name)),
            Some(n) => {
                if n.reachable != b.reachable {
                    out.push(format!("member {} ({}): reachable {:?} -> {:?}", b.id, b.name, b.reachable, n.reachable));
                }
                if n.is_learner != b.is_learner {
                    out.push(format!("member {} ({}): learner {} -> {}", b.id, b.name, b.is_learner, n.is_learner));
                }
                if n.peer_urls != b.peer_urls {
                    out.push(format!("member {}: peer URLs {:?} -> {:?}", b.id, b.peer_urls, n.peer_urls));
                }
            }
        }
    }
    for n in now.iter().filter(|n| !before.iter().any(|b| b.id == n.id)) {
        out.push(format!("member {} ({}) is new, peer URLs {:?}", n.id, n.name, n.peer_urls));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Selection, run_all};
    use crate::testing::*;

    fn plan_of(members: &[Member]) -> Plan {
        let snap = cluster(members);
        plan(&snap, &run_all(&snap, &Selection::default()))
    }

    fn auto(p: &Plan) -> Vec<(String, u64)> {
        p.steps.iter().filter(|s| s.automatic).map(|s| (s.action.clone(), s.member_id.map_or(0, |m| m.0))).collect()
    }

    #[test]
    fn fingerprint_is_order_independent_and_changes_with_membership_or_reachability() {
        let a = fingerprint(&cluster(&[healthy(1), healthy(2), down(3)]));
        let b = fingerprint(&cluster(&[down(3), healthy(2), healthy(1)]));
        assert_eq!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        assert_ne!(a, fingerprint(&cluster(&[healthy(1), healthy(2), healthy(3)])));
        assert_ne!(a, fingerprint(&cluster(&[healthy(1), healthy(2)])));
    }

    #[test]
    fn healthy_cluster_has_an_empty_plan() {
        assert!(plan_of(&[healthy(1), healthy(2), healthy(3)]).steps.is_empty());
    }

    #[test]
    fn one_dead_of_three_is_removed_automatically() {
        let p = plan_of(&[healthy(1), healthy(2), down(3)]);
        assert_eq!(auto(&p), vec![("remove-member".into(), 3)]);
        assert_eq!(p.steps[0].reason, "stale-member");
    }

    #[test]
    fn two_dead_of_three_is_quorum_lost_and_only_manual() {
        let p = plan_of(&[healthy(1), down(2), down(3)]);
        assert!(auto(&p).is_empty());
        assert_eq!(p.steps.len(), 1);
        assert!(p.steps[0].commands.iter().any(|c| c.contains("--force-new-cluster")));
        assert!(p.steps[0].commands.iter().any(|c| c.contains("--cluster-reset")));
    }

    #[test]
    fn unstarted_before_dead_and_removals_before_promotions() {
        let p = plan_of(&[healthy(1), healthy(2), healthy(3), healthy(4), down(5), unstarted(6), learner(healthy(7))]);
        assert_eq!(
            auto(&p),
            vec![("remove-member".into(), 6), ("remove-member".into(), 5), ("promote-learner".into(), 7)]
        );
        assert_eq!(p.steps.iter().map(|s| s.n).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn a_duplicate_and_an_unstarted_finding_make_one_step() {
        let mut a = healthy(1);
        a.peer_urls = vec!["https://127.0.0.1:2380".into()];
        let mut b = learner(unstarted(2));
        b.peer_urls = vec!["https://localhost:2380".into()];
        let p = plan_of(&[a, healthy(3), healthy(4), b]);
        assert_eq!(auto(&p), vec![("remove-member".into(), 2)]);
        assert!(p.steps[0].reason.contains("unstarted-member") && p.steps[0].reason.contains("duplicate-peer-url"));
    }

    fn with_nodes(mut snap: Snapshot, annotation: Option<&str>, label: Option<&str>, names: &[&str]) -> Snapshot {
        snap.nodes = Some(
            names
                .iter()
                .map(|n| {
                    let mut node = crate::model::Node { name: n.to_string(), ready: Some(false), ..Default::default() };
                    if let Some(a) = annotation {
                        node.annotations.insert(a.into(), "x".into());
                    }
                    if let Some(l) = label {
                        node.labels.insert(l.into(), "x".into());
                    }
                    node
                })
                .collect(),
        );
        snap.map_nodes();
        snap
    }

    fn plan_snap(snap: &Snapshot) -> Plan {
        plan(snap, &run_all(snap, &Selection::default()))
    }

    #[test]
    fn kops_removals_are_manual_because_etcd_manager_owns_membership() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            None,
            Some("kops.k8s.io/instancegroup"),
            &["m1", "m2"],
        );
        let p = plan_snap(&snap);
        assert!(auto(&p).is_empty());
        assert!(p.steps[0].description.contains("etcd-manager"), "{:?}", p.steps);
    }

    #[test]
    fn k3s_removes_through_the_node_annotation_while_the_node_exists_and_directly_when_it_is_gone() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            Some("k3s.io/node-args"),
            None,
            &["m1", "m2", "m3"],
        );
        let p = plan_snap(&snap);
        assert!(auto(&p).is_empty());
        assert!(
            p.steps[0].commands[0].contains("kubectl annotate node m3 etcd.k3s.cattle.io/remove=true"),
            "{:?}",
            p.steps
        );
        let gone =
            with_nodes(cluster(&[healthy(1), healthy(2), down(3)]), Some("k3s.io/node-args"), None, &["m1", "m2"]);
        assert_eq!(auto(&plan_snap(&gone)), vec![("remove-member".into(), 3)]);
    }

    #[test]
    fn kubeadm_removals_add_a_reset_of_the_node() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            Some("kubeadm.alpha.kubernetes.io/cri-socket"),
            None,
            &["m1", "m2", "m3"],
        );
        let p = plan_snap(&snap);
        assert_eq!(auto(&p), vec![("remove-member".into(), 3)]);
        assert!(p.steps[1].commands.iter().any(|c| c == "kubeadm reset -f"), "{:?}", p.steps);
    }

    #[test]
    fn without_status_nothing_is_planned() {
        assert!(plan_of(&[unprobed(1), unprobed(2), unprobed(3)]).steps.is_empty());
    }

    mod property {
        use super::*;
        use proptest::prelude::*;

        fn member_strategy() -> impl Strategy<Value = (bool, u8)> {
            (proptest::bool::weighted(0.2), 0u8..4)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn no_automatic_step_loses_quorum_or_targets_a_reachable_member(spec in proptest::collection::vec(member_strategy(), 1..9)) {
                let members: Vec<Member> = spec.iter().enumerate().map(|(i, (is_learner, h))| {
                    let n = i as u64 + 1;
                    let m = match h { 0 => healthy(n), 1 => down(n), 2 => unstarted(n), _ => no_leader(n) };
                    if *is_learner { learner(m) } else { m }
                }).collect();
                let snap = cluster(&members);
                let p = plan(&snap, &run_all(&snap, &Selection::default()));
                let mut state: Vec<Sim> = snap.members.iter()
                    .map(|m| Sim { id: m.id, learner: m.is_learner, healthy: m.health() == Health::Healthy })
                    .collect();
                for s in p.steps.iter().filter(|s| s.automatic) {
                    let id = s.member_id.expect("automatic steps name a member");
                    let m = snap.member(id).expect("member exists");
                    prop_assert!(quorum_ok(&state), "step {} planned without quorum", s.n);
                    let pos = state.iter().position(|x| x.id == id).expect("in state");
                    match s.action.as_str() {
                        action::REMOVE_MEMBER => {
                            prop_assert!(m.reachable() != Some(true), "automatic removal of reachable {id}");
                            state.remove(pos);
                        }
                        action::PROMOTE_LEARNER => state[pos].learner = false,
                        other => prop_assert!(false, "unexpected automatic action {other}"),
                    }
                    prop_assert!(quorum_ok(&state), "step {} loses quorum", s.n);
                }
            }
        }
    }
}
