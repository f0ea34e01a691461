//! The one planner: checks propose remedies, this merges them into one ordered plan and
//! simulates the membership after every step. A step is automatic only if the cluster can
//! commit it now (voters proven up >= quorum) and keeps quorum after it; a removal is
//! automatic only for a member proven `gone` or `unstarted` (or a learner on a duplicate peer
//! endpoint); any other member that is not up gets a "bring it back" step, the way its
//! distribution runs etcd, and its removal is the operator's decision (`--remove-member`).
//! Removals of unstarted and gone members come first: etcd refuses every member add (learners
//! too, measured on 3.4) while a voter is unreachable, so a stale member blocks any scale-out.
//! Recovery that loses data (`--force-new-cluster`, a snapshot restore) is advised only when
//! quorum loss is proven, and last.
//! The plan carries a fingerprint of the state it was made from (`plan_file`), so `apply -f`
//! can refuse it when the cluster changed.

mod procedures;
mod step;
pub mod upgrade;

pub use step::{Action, Plan, Step};

use crate::evidence::MemberState;
use crate::finding::{FileEdit, Finding, Remedy};
use crate::id::MemberId;
use crate::model::{Health, Member, Snapshot};
use crate::plan_file::fingerprint;
use crate::quorum::{Change, Quorum};
use crate::state::{judge_all, serves_other_cluster};
use procedures::{bring_back, distribution_removal, recovery_steps};

/// One voter or learner in the simulation.
#[derive(Clone, Copy, Debug)]
struct Sim {
    id: MemberId,
    learner: bool,
    healthy: bool,
}

impl Sim {
    /// The health the quorum arithmetic counts: healthy or not.
    fn health(&self) -> Health {
        if self.healthy { Health::Healthy } else { Health::Unreachable }
    }
}

fn quorum(state: &[Sim]) -> Quorum {
    Quorum::from_health(state.iter().map(|m| (m.learner, m.health())))
}

/// Merges the findings' remedies into one ordered, simulated plan.
pub fn plan(snap: &Snapshot, findings: &[Finding]) -> Plan {
    plan_with(snap, findings, &[])
}

/// The same, plus the removals the operator asked for by id (`--fix --remove-member ID`,
/// `plan remove-member ID`): planned through the same quorum simulation, never for a member
/// that answers. A removal is automatic on its own only for members proven `gone` or
/// `unstarted` and for duplicate learners; any other member not up gets a "bring it back" step.
pub fn plan_with(snap: &Snapshot, findings: &[Finding], operator_removals: &[MemberId]) -> Plan {
    let judged = judge_all(snap);
    let judgement = |id: MemberId| snap.members.iter().zip(&judged).find(|(m, _)| m.id == id).map(|(_, j)| j);
    let mut state: Vec<Sim> = snap
        .members
        .iter()
        .zip(&judged)
        .map(|(m, j)| Sim { id: m.id, learner: m.is_learner, healthy: j.state == MemberState::Up })
        .collect();
    let q = Quorum::of_judged(snap, &judged);
    let dist = crate::detect::distribution(snap).map(|d| d.0);
    let mut steps: Vec<Step> = Vec::new();
    // No member list (`--local` with no etcd answering) proves nothing about quorum.
    if !snap.members.is_empty() && q.lost() {
        steps.extend(recovery_steps(snap, &judged, dist));
        return numbered(snap, steps);
    }
    if !quorum(&state).has_quorum()
        && snap
            .members
            .iter()
            .zip(&judged)
            .any(|(m, j)| !m.is_learner && !matches!(j.state, MemberState::Up | MemberState::Unknown))
    {
        steps.push(Step::manual(
            None,
            "quorum-at-risk",
            format!(
                "could not decide whether quorum is lost ({} to {} of {} voters healthy, quorum {}): nothing is changed automatically, and no recovery that loses data is advised until quorum loss is proven; bring the members below back, then look again",
                q.healthy_voters_min, q.healthy_voters_max, q.voters, q.quorum
            ),
            vec!["kubectl etcd-doctor   # again, live (every member probed at its client and peer URLs), or a capture with --cluster".into()],
        ));
    }

    // The operator's removals first: they were asked for, and a dead voter blocks every add.
    for &id in operator_removals {
        let Some(m) = snap.member(id) else {
            steps.push(Step::manual(
                Some(id),
                "operator",
                format!("member {id} is not in the member list: nothing to remove"),
                vec![],
            ));
            continue;
        };
        let Some(j) = judgement(id) else { continue };
        let cmd = format!("etcdctl member remove {id}");
        if matches!(j.state, MemberState::Up | MemberState::Electing) {
            steps.push(Step::manual(
                Some(id),
                "operator",
                format!(
                    "{} answers ({}): it is not removed even on request, and the executor refuses it too; stop etcd there first if you mean to retire it, then run again",
                    m.label(),
                    j.because()
                ),
                vec![],
            ));
            continue;
        }
        if serves_other_cluster(snap, m) {
            steps.push(Step::manual(
                Some(id),
                "operator,split-brain",
                format!(
                    "{} answers for another cluster (split-brain): the executor would see it answer and refuse; once its process is stopped and its data dir moved aside, remove it by hand",
                    m.label()
                ),
                vec![cmd],
            ));
            continue;
        }
        let Some(pos) = state.iter().position(|s| s.id == id) else { continue };
        let alive_note = if j.state == MemberState::Alive {
            "; something proves it still runs: stop etcd on it first, or it keeps dialling the cluster"
        } else {
            ""
        };
        if quorum(&state).survives(Change::Remove { learner: state[pos].learner, health: state[pos].health() }) {
            match distribution_removal(dist, snap, m, "operator") {
                Some(step) => steps.push(step),
                None => {
                    let what = format!(
                        "remove {} {} on the operator's request (--remove-member); its state: {}{alive_note}",
                        role(m),
                        m.label(),
                        j.because()
                    );
                    steps.push(Step::automatic(Action::RemoveMember, id, "operator".into(), what, cmd));
                    state.remove(pos);
                }
            }
        } else {
            steps.push(Step::manual(
                Some(id),
                "operator",
                format!(
                    "removing {} now is not proven to keep quorum ({} to {} of {} voters healthy, quorum {}); not automatic",
                    m.label(),
                    q.healthy_voters_min,
                    q.healthy_voters_max,
                    q.voters,
                    q.quorum
                ),
                vec![cmd],
            ));
        }
    }

    // Merge: one proposal per (action, member), with every check that asked for it.
    let mut proposals: Vec<(Remedy, Vec<String>)> = Vec::new();
    for f in findings {
        let Some(r) = &f.remedy else { continue };
        if let Remedy::RemoveMember { member_id } = r
            && operator_removals.contains(member_id)
        {
            continue;
        }
        match proposals.iter_mut().find(|(p, _)| p == r) {
            Some((_, reasons)) if !reasons.contains(&f.check) => reasons.push(f.check.clone()),
            Some(_) => {}
            None => proposals.push((r.clone(), vec![f.check.clone()])),
        }
    }
    // Order: removals of never-started members, then of gone ones, then the rest.
    let rank = |r: &Remedy| match r {
        Remedy::RemoveMember { member_id } => match judgement(*member_id).map(|j| j.state) {
            Some(MemberState::Unstarted) => 0,
            Some(MemberState::Gone) => 1,
            _ => 2,
        },
        Remedy::PromoteLearner { .. } => 3,
        Remedy::SetServerUrl(_) => 4,
        Remedy::Manual { .. } => 5,
    };
    proposals.sort_by_key(|(r, _)| rank(r));

    for (remedy, reasons) in proposals {
        let reason = reasons.join(",");
        match remedy {
            Remedy::Manual { description, commands } => steps.push(Step::manual(None, &reason, description, commands)),
            Remedy::SetServerUrl(edit) => steps.push(set_server_url(snap, &state, &reason, edit)),
            Remedy::RemoveMember { member_id } => {
                let Some(m) = snap.member(member_id) else { continue };
                let Some(j) = judgement(member_id) else { continue };
                let Some(pos) = state.iter().position(|s| s.id == member_id) else { continue };
                let cmd = format!("etcdctl member remove {member_id}");
                let duplicate_learner = m.is_learner
                    && reasons.iter().any(|r| r == "duplicate-peer-url")
                    && matches!(
                        j.state,
                        MemberState::Down | MemberState::Unreachable | MemberState::Hung | MemberState::Unstarted
                    );
                if serves_other_cluster(snap, m) {
                    steps.push(Step::manual(
                        Some(member_id),
                        &reason,
                        format!(
                            "{} answers for another cluster (split-brain): that is a separate cluster, not a dead member; no removal is planned for it (see split-brain)",
                            m.label()
                        ),
                        vec![],
                    ));
                    continue;
                }
                match j.state {
                    MemberState::Up | MemberState::Electing => {
                        steps.push(Step::manual(
                            Some(member_id),
                            &reason,
                            format!("{} answers ({}): it is never removed", m.label(), j.because()),
                            vec![],
                        ));
                        continue;
                    }
                    MemberState::Unknown => {
                        steps.push(Step::manual(
                            Some(member_id),
                            &reason,
                            format!(
                                "{} was not probed: nothing is known about it, so it is not removed; look again live, or remove it yourself if its machine is really gone",
                                m.label()
                            ),
                            vec![format!("kubectl etcd-doctor --fix --remove-member {member_id}")],
                        ));
                        continue;
                    }
                    s if !s.removable_without_operator() && !duplicate_learner => {
                        steps.push(bring_back(dist, m, j, &reason));
                        continue;
                    }
                    _ => {}
                }
                let mut after = state.clone();
                after.remove(pos);
                if quorum(&state).survives(Change::Remove { learner: state[pos].learner, health: state[pos].health() })
                {
                    match distribution_removal(dist, snap, m, &reason) {
                        Some(step) => steps.push(step),
                        None => {
                            let why = if duplicate_learner && !j.state.removable_without_operator() {
                                format!(
                                    "a learner on a peer endpoint another member holds, so it can never run; {}",
                                    j.because()
                                )
                            } else {
                                j.because()
                            };
                            let what = format!("remove {} {}: {why}", role(m), m.label());
                            steps.push(Step::automatic(Action::RemoveMember, member_id, reason.clone(), what, cmd));
                            state = after;
                            if dist == Some(crate::distribution::Distribution::Kubeadm) && !m.is_unstarted() {
                                let node = m.node.clone().unwrap_or_else(|| m.name.clone());
                                steps.push(Step::manual(
                                    Some(member_id),
                                    &reason,
                                    format!("before {node} rejoins: reset it, or kubeadm join recreates the member on stale data"),
                                    vec![format!("# on {node}:"), "kubeadm reset -f".into(), "rm -rf /var/lib/etcd".into()],
                                ));
                            }
                        }
                    }
                } else {
                    steps.push(Step::manual(
                        Some(member_id),
                        &reason,
                        format!(
                            "removing {} ({}) is not proven to keep quorum now; not automatic",
                            m.label(),
                            j.because()
                        ),
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
                if quorum(&state).survives(Change::Promote { health: state[pos].health() }) && state[pos].healthy {
                    let what = format!("promote learner {} to a voter (it caught up with the leader)", m.label());
                    steps.push(Step::automatic(Action::PromoteLearner, member_id, reason, what, cmd));
                    state = after;
                } else {
                    steps.push(Step::manual(
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

fn numbered(snap: &Snapshot, mut steps: Vec<Step>) -> Plan {
    for (i, s) in steps.iter_mut().enumerate() {
        s.n = i + 1;
    }
    Plan { fingerprint: fingerprint(snap), steps }
}

pub(super) fn role(m: &Member) -> &'static str {
    if m.is_learner { "learner" } else { "voter" }
}

/// Rewriting the join URL restarts this node's K3s, and with it its etcd member: automatic only
/// if the cluster keeps quorum while that member is down.
fn set_server_url(snap: &Snapshot, state: &[Sim], reason: &str, edit: FileEdit) -> Step {
    let local = snap.local.as_ref();
    let me = local.and_then(|l| l.member_name.as_deref()).and_then(|n| snap.members.iter().find(|m| m.name == n));
    // A member this node runs but we could not name counts as a healthy voter: the safe guess.
    let down = match me.and_then(|m| state.iter().find(|s| s.id == m.id)) {
        Some(s) => Change::Down { learner: s.learner, health: s.health() },
        None => Change::Down { learner: false, health: Health::Healthy },
    };
    let keeps_quorum = quorum(state).survives(down);
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
        Step::set_server_url(me.map(|m| m.id), reason, description, commands, edit)
    } else {
        Step::manual(
            me.map(|m| m.id),
            reason,
            format!(
                "{description}; not automatic: restarting this node's etcd member now would leave the cluster without quorum"
            ),
            commands,
        )
    }
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

    fn plan_removing(members: &[Member], ids: &[u64]) -> Plan {
        let snap = cluster(members);
        let ids: Vec<MemberId> = ids.iter().map(|i| MemberId(*i)).collect();
        plan_with(&snap, &run_all(&snap, &Selection::default()), &ids)
    }

    fn auto(p: &Plan) -> Vec<(String, u64)> {
        p.steps.iter().filter(|s| s.automatic).map(|s| (s.action.to_string(), s.member_id.map_or(0, |m| m.0))).collect()
    }

    fn text(p: &Plan) -> String {
        p.steps.iter().map(|s| format!("{} {}", s.description, s.commands.join(" "))).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn actions_serialize_as_their_kebab_case_words() {
        for a in [
            Action::RemoveMember,
            Action::PromoteLearner,
            Action::AddLearner,
            Action::SetServerUrl,
            Action::Manual,
            Action::Backup,
            Action::RestartMember,
            Action::Gate,
        ] {
            assert_eq!(serde_json::to_value(a).ok(), Some(serde_json::Value::String(a.as_str().into())));
        }
    }

    #[test]
    fn healthy_cluster_has_an_empty_plan() {
        assert!(plan_of(&[healthy(1), healthy(2), healthy(3)]).steps.is_empty());
    }

    #[test]
    fn a_gone_voter_is_removed_automatically() {
        let p = plan_of(&[healthy(1), healthy(2), gone(3)]);
        assert_eq!(auto(&p), vec![("remove-member".into(), 3)]);
        assert_eq!(p.steps[0].reason, "stale-member");
        assert!(p.steps[0].description.contains("gone") && p.steps[0].description.contains("NXDOMAIN"));
    }

    #[test]
    fn down_unreachable_hung_and_alive_voters_are_brought_back_not_removed() {
        for m in [down(5), unreachable(5), hung(5), alive(5), refused_client_only(5)] {
            let p = plan_of(&[healthy(1), healthy(2), healthy(3), healthy(4), m]);
            assert!(auto(&p).is_empty(), "{:?}", p.steps);
            let d = &p.steps[0].description;
            assert!(
                d.starts_with("bring voter m5 (5) back") || d.starts_with("repair the client URL of voter m5 (5)"),
                "{d}"
            );
            assert!(p.steps[0].commands.iter().any(|c| c.contains("--remove-member 5")), "{:?}", p.steps[0].commands);
        }
        let p = plan_of(&[healthy(1), healthy(2), healthy(3), healthy(4), down(5)]);
        assert!(p.steps[0].commands.iter().any(|c| c == "systemctl restart etcd"), "{:?}", p.steps[0].commands);
    }

    #[test]
    fn the_operator_may_remove_a_member_that_does_not_answer_but_never_one_that_does() {
        let p = plan_removing(&[healthy(1), healthy(2), healthy(3), healthy(4), down(5)], &[5]);
        assert_eq!(auto(&p), vec![("remove-member".into(), 5)]);
        assert_eq!(p.steps[0].reason, "operator");
        assert!(p.steps[0].description.contains("down"), "{}", p.steps[0].description);
        let p = plan_removing(&[healthy(1), healthy(2), healthy(3), healthy(4), healthy(5)], &[5]);
        assert!(auto(&p).is_empty());
        assert!(p.steps[0].description.contains("answers"), "{}", p.steps[0].description);
        // Not if it costs quorum: 1 of 3 voters up.
        let p = plan_removing(&[healthy(1), down(2), hung(3)], &[3]);
        assert!(auto(&p).is_empty(), "{:?}", p.steps);
        let p = plan_removing(&[healthy(1), healthy(2)], &[9]);
        assert!(p.steps[0].description.contains("not in the member list"));
    }

    #[test]
    fn two_down_of_three_is_proven_quorum_loss_with_recovery_last() {
        let p = plan_of(&[healthy(1), down(2), down(3)]);
        assert!(auto(&p).is_empty());
        let n = p.steps.len();
        assert!(p.steps[..n - 2].iter().all(|s| s.description.starts_with("bring voter")), "{:?}", p.steps);
        assert!(p.steps[n - 2].commands.iter().any(|c| c.contains("--force-new-cluster")));
        assert!(p.steps[n - 2].commands.iter().any(|c| c.contains("--cluster-reset")));
        assert!(p.steps[n - 2].description.contains("DATA LOSS"));
        assert!(p.steps[n - 1].commands.iter().any(|c| c.contains("etcdutl snapshot restore")));
        assert!(p.steps[n - 1].description.contains("DATA LOSS"));
    }

    #[test]
    fn quorum_lost_through_unstarted_voters_starts_them_first() {
        // etcd#3000: 1 running member, 2 added that never started.
        let p = plan_of(&[healthy(1), unstarted(2), unstarted(3)]);
        let first = &p.steps[0];
        assert!(first.description.starts_with("start the added member 2"), "{}", first.description);
        assert!(first.commands.iter().any(|c| c == "ETCD_INITIAL_CLUSTER_STATE=existing"), "{:?}", first.commands);
        assert!(
            first
                .commands
                .iter()
                .any(|c| c == "ETCD_INITIAL_CLUSTER=\"m1=https://10.0.0.1:2380,etcd-10-0-0-2=https://10.0.0.2:2380\""),
            "{:?}",
            first.commands
        );
        assert!(first.commands.iter().any(|c| c.contains("--initial-cluster-state existing")));
        assert!(p.steps[1].description.starts_with("start the added member 3"));
        assert!(p.steps.last().is_some_and(|s| s.description.contains("DATA LOSS")));
    }

    #[test]
    fn an_added_member_on_a_peer_url_that_can_never_work_is_not_offered_as_the_way_back() {
        // etcd#7134: `member add` with peer port 111111, quorum lost at once.
        let mut bad = unstarted(2);
        bad.peer_urls = vec!["http://localhost:111111".into()];
        let p = plan_of(&[healthy(1), bad]);
        assert!(p.steps[0].description.contains("can never start"), "{}", p.steps[0].description);
        assert!(p.steps[0].commands.is_empty());
        assert!(!p.steps.iter().any(|s| s.commands.iter().any(|c| c.contains("ETCD_NAME=etcd-"))), "{:?}", p.steps);
        assert!(p.steps.iter().any(|s| s.description.contains("--force-new-cluster")), "{:?}", p.steps);
    }

    #[test]
    fn a_one_endpoint_capture_of_a_healthy_leader_gets_no_recovery_advice() {
        let p = plan_of(&[healthy(1), unprobed(2), unprobed(3)]);
        assert!(!text(&p).contains("force-new-cluster") && !text(&p).contains("snapshot restore"), "{}", text(&p));
        assert!(auto(&p).is_empty());
    }

    #[test]
    fn an_election_is_not_quorum_loss_and_the_dead_leader_is_not_removed() {
        let p = plan_of(&[down(1), electing(2), electing(3)]);
        assert!(auto(&p).is_empty(), "{:?}", p.steps);
        assert!(!text(&p).contains("force-new-cluster"), "{}", text(&p));
        assert!(p.steps[0].description.starts_with("could not decide whether quorum is lost"), "{:?}", p.steps);
    }

    #[test]
    fn unstarted_before_gone_and_removals_before_promotions() {
        let p = plan_of(&[healthy(1), healthy(2), healthy(3), healthy(4), gone(5), unstarted(6), learner(healthy(7))]);
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

    #[test]
    fn a_started_learner_on_a_duplicate_endpoint_that_does_not_answer_is_removed() {
        let mut a = healthy(1);
        a.peer_urls = vec!["https://127.0.0.1:2380".into()];
        let mut b = learner(unreachable(2));
        b.peer_urls = vec!["https://localhost:2380".into()];
        let p = plan_of(&[a, healthy(3), healthy(4), b]);
        assert_eq!(auto(&p), vec![("remove-member".into(), 2)], "{:?}", p.steps);
    }

    #[test]
    fn split_brain_gets_no_removal() {
        let mut rogue = unreachable(3);
        if let Some(p) = rogue.probe.as_mut() {
            p.attempts[0].result = Err("answers as member 99 of another cluster c2".into());
        }
        let p = plan_of(&[healthy(1), healthy(2), rogue]);
        assert!(auto(&p).is_empty(), "{:?}", p.steps);
        assert!(!text(&p).contains("member remove 3"), "{}", text(&p));
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
            cluster(&[healthy(1), healthy(2), gone(3)]),
            None,
            Some("kops.k8s.io/instancegroup"),
            &["m1", "m2"],
        );
        let p = plan_snap(&snap);
        assert!(auto(&p).is_empty());
        assert!(p.steps[0].description.contains("etcd-manager"), "{:?}", p.steps);
        // A member that is only down is brought back through etcd-manager.
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            None,
            Some("kops.k8s.io/instancegroup"),
            &["m1", "m2", "m3"],
        );
        assert!(text(&plan_snap(&snap)).contains("etcd-manager-main"));
    }

    #[test]
    fn k3s_removes_through_the_node_annotation_while_the_node_exists_and_directly_when_it_is_gone() {
        // NotReady nodes of unknown since do not prove a member gone: brought back with k3s.
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            Some("k3s.io/node-args"),
            None,
            &["m1", "m2", "m3"],
        );
        let p = plan_snap(&snap);
        assert!(auto(&p).is_empty());
        assert!(p.steps[0].commands.iter().any(|c| c == "systemctl restart k3s"), "{:?}", p.steps);
        // The operator's removal of it goes the annotation way while its Node exists.
        let ids = [MemberId(3)];
        let p = plan_with(&snap, &run_all(&snap, &Selection::default()), &ids);
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
    fn kubeadm_removals_add_a_reset_of_the_node_and_bring_back_restarts_the_static_pod() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            Some("kubeadm.alpha.kubernetes.io/cri-socket"),
            None,
            &["m1", "m2"],
        );
        let p = plan_snap(&snap);
        assert_eq!(auto(&p), vec![("remove-member".into(), 3)]);
        assert!(p.steps[1].commands.iter().any(|c| c == "kubeadm reset -f"), "{:?}", p.steps);
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            Some("kubeadm.alpha.kubernetes.io/cri-socket"),
            None,
            &["m1", "m2", "m3"],
        );
        assert!(text(&plan_snap(&snap)).contains("/etc/kubernetes/manifests/etcd.yaml"));
    }

    #[test]
    fn without_status_nothing_is_planned() {
        assert!(plan_of(&[unprobed(1), unprobed(2), unprobed(3)]).steps.is_empty());
    }

    mod property {
        use super::*;
        use crate::evidence::PeerReach;
        use crate::model::{Attempt, Node, Probe};
        use proptest::prelude::*;

        /// One generated member: (learner, unstarted, client outcome, peer outcome, node fact, claims leadership).
        type Spec = (bool, bool, u8, u8, u8, bool);

        fn spec() -> impl Strategy<Value = Spec> {
            (
                proptest::bool::weighted(0.2),
                proptest::bool::weighted(0.15),
                0u8..7,
                0u8..4,
                0u8..5,
                proptest::bool::weighted(0.3),
            )
        }

        fn member(n: u64, (is_learner, unstarted_, client, peer, _, claims): Spec) -> Member {
            let mut m = match client {
                0 => healthy(n),
                1 => no_leader(n),
                2 => refused_client_only(n),
                3 => unreachable(n),
                4 => hung(n),
                5 => unprobed(n),
                _ => {
                    let mut m = unprobed(n);
                    m.probe = Some(Probe {
                        attempts: vec![Attempt {
                            endpoint: m.client_urls[0].clone(),
                            result: Err("absent from endpoint-status.json".into()),
                        }],
                    });
                    m
                }
            };
            if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| &mut a.result) {
                s.leader = if claims { Some(m.id) } else { s.leader.filter(|l| *l != m.id).or(Some(MemberId(1))) };
                if client == 1 {
                    s.leader = None;
                }
            }
            let url = m.peer_urls[0].clone();
            m.peer_probe = match peer {
                0 => None,
                1 => Some(vec![PeerReach { url, result: Ok(()) }]),
                2 => Some(vec![PeerReach { url, result: Err("connect: connection refused".into()) }]),
                _ => Some(vec![PeerReach { url, result: Err("i/o timeout".into()) }]),
            };
            if unstarted_ {
                m.name.clear();
                m.client_urls.clear();
                m.probe = None;
            }
            if is_learner { learner(m) } else { m }
        }

        fn snapshot(specs: &[Spec]) -> Snapshot {
            let members: Vec<Member> = specs.iter().enumerate().map(|(i, s)| member(i as u64 + 1, *s)).collect();
            let mut snap = cluster(&members);
            let at = snap.collected_at;
            // Node facts: 0 no node API, else per member: 1 Ready, 2 NotReady long, 3 NotReady of
            // unknown since, 4 deleted. The API is consulted when any member has a fact.
            if specs.iter().any(|s| s.4 > 0) {
                let nodes = snap
                    .members
                    .iter()
                    .zip(specs)
                    .filter(|(_, s)| s.4 != 4)
                    .map(|(m, s)| Node {
                        name: m.name.clone(),
                        ready: Some(s.4 <= 1),
                        ready_since: (s.4 == 2).then(|| at - time::Duration::hours(2)),
                        ..Default::default()
                    })
                    .filter(|n| !n.name.is_empty())
                    .collect();
                snap.nodes = Some(nodes);
                snap.map_nodes();
            }
            snap
        }

        fn forbidden(c: &str) -> bool {
            c.contains("--force-new-cluster") || c.contains("snapshot restore") || c.contains("--cluster-reset")
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1500))]
            #[test]
            fn removals_and_data_losing_advice_only_on_proof(specs in proptest::collection::vec(spec(), 1..8)) {
                let snap = snapshot(&specs);
                let judged = judge_all(&snap);
                let q = Quorum::of_judged(&snap, &judged);
                let findings = run_all(&snap, &Selection::default());
                let p = plan(&snap, &findings);
                let mut state: Vec<Sim> = snap.members.iter().zip(&judged)
                    .map(|(m, j)| Sim { id: m.id, learner: m.is_learner, healthy: j.state == MemberState::Up })
                    .collect();
                for s in p.steps.iter().filter(|s| s.automatic) {
                    let id = s.member_id.expect("automatic steps name a member");
                    let (m, j) = snap.members.iter().zip(&judged).find(|(m, _)| m.id == id).expect("member exists");
                    prop_assert!(quorum(&state).has_quorum(), "step {} planned without quorum", s.n);
                    let pos = state.iter().position(|x| x.id == id).expect("in state");
                    match s.action {
                        Action::RemoveMember => {
                            let duplicate_learner = m.is_learner && s.reason.contains("duplicate-peer-url");
                            prop_assert!(
                                j.state.removable_without_operator() || duplicate_learner,
                                "automatic removal of {id} in state {}", j.state
                            );
                            prop_assert!(m.reachable() != Some(true), "automatic removal of reachable {id}");
                            state.remove(pos);
                        }
                        Action::PromoteLearner => state[pos].learner = false,
                        other => prop_assert!(false, "unexpected automatic action {other}"),
                    }
                    prop_assert!(quorum(&state).has_quorum(), "step {} loses quorum", s.n);
                }
                let advice = p.steps.iter().flat_map(|s| s.commands.iter()).any(|c| forbidden(c))
                    || findings.iter().any(|f| f.message.contains("force-new-cluster"));
                prop_assert!(!advice || q.lost(), "data-losing advice without proven quorum loss: {:?}", p.steps);
                let said_lost = findings.iter().any(|f| f.message.starts_with("quorum lost"));
                prop_assert!(!said_lost || q.lost(), "\"quorum lost\" without proof");
            }

            #[test]
            fn operator_removals_never_target_a_member_that_answers(specs in proptest::collection::vec(spec(), 1..8), pick in 0usize..8) {
                let snap = snapshot(&specs);
                let Some(target) = snap.members.get(pick % snap.members.len()).map(|m| m.id) else { return Ok(()) };
                let p = plan_with(&snap, &run_all(&snap, &Selection::default()), &[target]);
                for s in p.steps.iter().filter(|s| s.automatic && s.action == Action::RemoveMember) {
                    let m = snap.member(s.member_id.expect("names a member")).expect("exists");
                    prop_assert!(m.status().is_none(), "automatic removal of {} that answers", m.id);
                }
            }
        }
    }
}
