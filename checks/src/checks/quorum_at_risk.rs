//! `quorum-at-risk`: fault tolerance (healthy voters − quorum) at or below zero, judged on
//! bounds: at least the voters proven up (a quorum when a voter's own leader claim proves one),
//! at most every voter not proven unhealthy. "Quorum lost" only when even the upper bound is
//! below the quorum; otherwise, when the bounds disagree, "could not decide" with what is
//! missing. Critical when voters that were tried do not answer (or are proven down, gone or
//! unstarted) and the lower bound leaves no tolerance; a healthy 2-voter cluster is a warning
//! (no tolerance: add a third); a single-member cluster is normal (single-server K3s).

use crate::declare_check;
use crate::evidence::MemberState;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::quorum::Quorum;
use crate::registry::Check;
use crate::state::{judge_all, serves_other_cluster};

declare_check! {
    /// Fault tolerance at or below zero.
    QuorumAtRisk, "quorum-at-risk", Severity::Critical, "0.1.0",
    "The cluster cannot lose another voter (or has already lost quorum)"
}

impl Check for QuorumAtRisk {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_member_list(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let judged = judge_all(snap);
        let q = Quorum::of_judged(snap, &judged);
        let voters = || snap.members.iter().zip(&judged).filter(|(m, _)| !m.is_learner);
        let not_healthy: Vec<String> = voters()
            .filter(|(_, j)| j.state != MemberState::Up)
            .map(|(m, j)| format!("{} {}", m.label(), j.state))
            .collect();
        // Tried and not answering, or proven not running: facts, not gaps. A member serving
        // another cluster is not a voter of this one whatever its process does.
        let hard = voters().any(|(m, j)| {
            matches!(
                j.state,
                MemberState::Down
                    | MemberState::Gone
                    | MemberState::Unstarted
                    | MemberState::Unreachable
                    | MemberState::Hung
            ) || serves_other_cluster(snap, m)
        });
        let electing = voters().any(|(_, j)| j.state == MemberState::Electing);
        let leader = crate::state::proven_leader(snap);
        let finding = |sev, msg: String| {
            Finding::new(Self::INFO.id, sev, "cluster", msg)
                .with("quorum", q)
                .with("unhealthyVoters", &not_healthy)
                .with("provenLeader", leader)
                .with(
                    "states",
                    voters().map(|(m, j)| serde_json::json!({"member": m.id, "state": j.state})).collect::<Vec<_>>(),
                )
        };
        // No member list at all (`--local` with no etcd answering): nothing is known.
        if snap.members.is_empty() {
            return vec![finding(Severity::Info, "could not decide: no member list was read (see gaps)".into())];
        }
        if q.voters == 0 {
            return vec![finding(Severity::Critical, "the member list has no voting member".into())];
        }
        let (lo, hi) = (q.tolerance_min(), q.tolerance_max());
        let range = format!(
            "{}{} of {} voters healthy, quorum {}",
            q.healthy_voters_min,
            if lo == hi { String::new() } else { format!(" to {}", q.healthy_voters_max) },
            q.voters,
            q.quorum
        );
        let list = not_healthy.join(", ");
        if q.lost() {
            return vec![finding(
                Severity::Critical,
                format!(
                    "quorum lost: at most {range}; nothing can be written and membership cannot change until a quorum of voters is back (or the cluster is restored from a snapshot). Not healthy: {list}"
                ),
            )];
        }
        if lo < 0 {
            let missing = "capture `etcdctl endpoint status --cluster` (every member's client URL), or run live so members are probed at client and peer URLs";
            let (sev, why) = if hard {
                (Severity::Critical, "voters that were tried do not answer")
            } else if electing {
                (
                    Severity::Warning,
                    "members answer without a leader: an election may be in progress; look again in a few seconds",
                )
            } else {
                (Severity::Info, "voters were not probed (see gaps)")
            };
            return vec![finding(
                sev,
                format!(
                    "could not decide whether quorum is lost ({range}): {why}. Not proven healthy: {list}. To decide: {missing}"
                ),
            )];
        }
        if lo == 0 && hi > 0 {
            let sev = if hard { Severity::Critical } else { Severity::Info };
            let msg = if hard {
                format!(
                    "fault tolerance 0 ({range}; at most {hi} if the others are healthy): one more failure may stop the cluster. Not healthy: {list}"
                )
            } else {
                format!(
                    "could not decide the fault tolerance ({range}: 0 to {hi}){}. Not proven healthy: {list}",
                    if leader.is_some() { "; a voter that claims leadership proves a quorum" } else { "" }
                )
            };
            return vec![finding(sev, msg)];
        }
        if lo == 0 {
            if q.voters == 1 {
                return vec![finding(
                    Severity::Info,
                    "single-member cluster: no fault tolerance by design (normal for a single-server K3s); add two members for HA".into(),
                )];
            }
            if not_healthy.is_empty() {
                return vec![finding(
                    Severity::Warning,
                    format!("{range}: with {} voters one failure stops the cluster; add a third member", q.voters),
                )];
            }
            // Both bounds say 0: every voter that is not up is proven not to count (down, gone,
            // unstarted, or cut off from the leader's raft), so this is a fact, not a guess.
            return vec![finding(
                Severity::Critical,
                format!("fault tolerance 0 ({range}): one more failure stops the cluster. Not healthy: {list}"),
            )];
        }
        if q.voters.is_multiple_of(2) && not_healthy.is_empty() {
            return vec![finding(
                Severity::Info,
                format!(
                    "{} voters tolerate {} failure(s), no more than {}: an even voter count adds load, not tolerance",
                    q.voters,
                    lo,
                    q.voters - 1
                ),
            )];
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn run(members: &[crate::model::Member]) -> Vec<Finding> {
        let f = QuorumAtRisk.run(&cluster(members));
        assert!(f.len() <= 1);
        f
    }

    fn sev(members: &[crate::model::Member]) -> Option<Severity> {
        run(members).first().map(|f| f.severity)
    }

    #[test]
    fn healthy_odd_clusters_are_silent() {
        assert_eq!(sev(&[healthy(1), healthy(2), healthy(3)]), None);
        assert_eq!(sev(&[healthy(1), healthy(2), healthy(3), healthy(4), down(5)]), None);
    }

    #[test]
    fn three_healthy_plus_one_unstarted_voter_is_critical() {
        assert_eq!(sev(&[healthy(1), healthy(2), healthy(3), unstarted(4)]), Some(Severity::Critical));
    }

    #[test]
    fn one_down_of_three_is_critical_and_two_down_is_quorum_lost() {
        assert_eq!(sev(&[healthy(1), healthy(2), down(3)]), Some(Severity::Critical));
        let f = run(&[healthy(1), down(2), down(3)]);
        assert!(f[0].message.starts_with("quorum lost"), "{}", f[0].message);
    }

    #[test]
    fn two_unreachable_of_three_is_critical_but_not_called_lost() {
        // Member 2 follows 1, which does not answer: nothing proves a quorum.
        let f = run(&[unreachable(1), healthy(2), hung(3)]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.starts_with("could not decide whether quorum is lost"), "{}", f[0].message);
        // The same with the answering member claiming leadership: a quorum is proven (check-quorum).
        let f = run(&[healthy(1), unreachable(2), hung(3)]);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.starts_with("fault tolerance 0"), "{}", f[0].message);
    }

    #[test]
    fn a_one_endpoint_capture_of_a_leader_is_no_critical() {
        let f = run(&[healthy(1), unprobed(2), unprobed(3)]);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("claims leadership"), "{}", f[0].message);
        // A follower alone proves nothing: still only undecided.
        let f = run(&[unprobed(1), healthy(2), unprobed(3)]);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.starts_with("could not decide"), "{}", f[0].message);
    }

    #[test]
    fn an_election_in_progress_is_not_quorum_lost() {
        let f = run(&[down(1), electing(2), electing(3)]);
        assert!(!f[0].message.contains("quorum lost"), "{}", f[0].message);
        let f = run(&[healthy(1), electing(2), electing(3)]);
        assert_eq!(f[0].severity, Severity::Info);
        let f = run(&[electing(1), electing(2), electing(3)]);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn an_alive_voter_leaves_tolerance_undecided_not_critical() {
        assert_eq!(sev(&[healthy(1), healthy(2), alive(3)]), Some(Severity::Info));
    }

    #[test]
    fn healthy_two_voters_warn_single_member_is_info() {
        assert_eq!(sev(&[healthy(1), healthy(2)]), Some(Severity::Warning));
        assert_eq!(sev(&[healthy(1)]), Some(Severity::Info));
        assert_eq!(sev(&[healthy(1), learner(healthy(2))]), Some(Severity::Info));
    }

    #[test]
    fn an_even_healthy_cluster_is_info() {
        assert_eq!(sev(&[healthy(1), healthy(2), healthy(3), healthy(4)]), Some(Severity::Info));
    }

    #[test]
    fn learners_do_not_save_a_cluster() {
        assert_eq!(sev(&[healthy(1), down(2), learner(healthy(3)), learner(healthy(4))]), Some(Severity::Critical));
    }

    #[test]
    fn unknown_voters_make_it_undecided_not_alarming() {
        let f = run(&[no_leader(1), unprobed(2), unprobed(3)]);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.starts_with("could not decide"));
    }
}
