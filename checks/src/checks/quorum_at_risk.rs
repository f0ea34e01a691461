//! `quorum-at-risk`: fault tolerance (healthy voters − quorum) at or below zero. Critical when
//! unreachable, leaderless or unstarted voters caused it; a healthy 2-voter cluster is a
//! warning (no tolerance: add a third); a single-member cluster is normal (single-server K3s).

use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::{Health, Snapshot};
use crate::quorum::Quorum;
use crate::registry::Check;

declare_check! {
    /// Fault tolerance at or below zero.
    QuorumAtRisk, "quorum-at-risk", Severity::Critical, "0.1.0",
    "The cluster cannot lose another voter (or has already lost quorum)"
}

impl Check for QuorumAtRisk {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let q = Quorum::of_members(&snap.members);
        let not_healthy: Vec<String> = snap
            .members
            .iter()
            .filter(|m| !m.is_learner && m.health() != Health::Healthy)
            .map(|m| format!("{} {}", m.label(), health_word(m.health())))
            .collect();
        let finding = |sev, msg: String| {
            Finding::new(Self::INFO.id, sev, "cluster", msg).with("quorum", q).with("unhealthyVoters", &not_healthy)
        };
        if q.voters == 0 {
            return vec![finding(Severity::Critical, "the member list has no voting member".into())];
        }
        if q.unknown_voters > 0 && q.healthy_voters + q.unknown_voters >= q.quorum && q.fault_tolerance <= 0 {
            return vec![finding(
                Severity::Info,
                format!(
                    "could not decide: {} of {} voters were not probed (see gaps); {} are known healthy, quorum is {}",
                    q.unknown_voters, q.voters, q.healthy_voters, q.quorum
                ),
            )];
        }
        let summary = format!("{} of {} voters healthy, quorum {}", q.healthy_voters, q.voters, q.quorum);
        if q.fault_tolerance < 0 {
            return vec![finding(
                Severity::Critical,
                format!(
                    "quorum lost: {summary}; nothing can be written and membership cannot change until a quorum of voters is back (or the cluster is restored from a snapshot). Not healthy: {}",
                    not_healthy.join(", ")
                ),
            )];
        }
        if q.fault_tolerance == 0 {
            if q.voters == 1 {
                return vec![finding(
                    Severity::Info,
                    "single-member cluster: no fault tolerance by design (normal for a single-server K3s); add two members for HA".into(),
                )];
            }
            if not_healthy.is_empty() {
                return vec![finding(
                    Severity::Warning,
                    format!("{summary}: with {} voters one failure stops the cluster; add a third member", q.voters),
                )];
            }
            return vec![finding(
                Severity::Critical,
                format!(
                    "fault tolerance 0 ({summary}): one more failure stops the cluster. Not healthy: {}",
                    not_healthy.join(", ")
                ),
            )];
        }
        if q.voters.is_multiple_of(2) && not_healthy.is_empty() {
            return vec![finding(
                Severity::Info,
                format!(
                    "{} voters tolerate {} failure(s), no more than {}: an even voter count adds load, not tolerance",
                    q.voters,
                    q.fault_tolerance,
                    q.voters - 1
                ),
            )];
        }
        Vec::new()
    }
}

fn health_word(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::NoLeader => "has no leader",
        Health::Unreachable => "unreachable",
        Health::Unstarted => "never started",
        Health::Unknown => "not probed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn sev(members: &[crate::model::Member]) -> Option<Severity> {
        let f = QuorumAtRisk.run(&cluster(members));
        assert!(f.len() <= 1);
        f.first().map(|f| f.severity)
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
        let f = QuorumAtRisk.run(&cluster(&[healthy(1), down(2), down(3)]));
        assert!(f[0].message.starts_with("quorum lost"), "{}", f[0].message);
    }

    #[test]
    fn leaderless_voters_count_as_unhealthy() {
        assert_eq!(sev(&[healthy(1), healthy(2), no_leader(3)]), Some(Severity::Critical));
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
        let f = QuorumAtRisk.run(&cluster(&[healthy(1), unprobed(2), unprobed(3)]));
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.starts_with("could not decide"));
    }
}
