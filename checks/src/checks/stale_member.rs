//! `stale-member`: a started member that no client URL answers. It still counts in the
//! membership, so it eats fault tolerance, and etcd (3.4 measured) refuses every member add
//! while a voter is unreachable: a stale member silently blocks every scale-out (the kops
//! incident: masters deleted before their etcd members were removed).

use super::removal_finding;
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::{Health, Snapshot};
use crate::quorum::Quorum;
use crate::registry::{Check, CheckInfo};

declare_check! {
    /// A member that is unreachable at every try while it still counts in the membership.
    StaleMember, "stale-member", Severity::Critical, "0.1.0",
    "A member is unreachable at every try but still in the member list"
}

impl Check for StaleMember {
    fn info(&self) -> &'static CheckInfo {
        &Self::INFO
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let id = Self::INFO.id;
        let started = snap.members.iter().filter(|m| !m.is_unstarted());
        if started.clone().any(|m| m.health() == Health::Unknown) {
            let unknown: Vec<String> = started.filter(|m| m.health() == Health::Unknown).map(|m| m.label()).collect();
            return vec![
                Finding::new(
                    id,
                    Severity::Info,
                    "cluster",
                    format!("could not decide for {}: their status was not collected (see gaps)", unknown.join(", ")),
                )
                .with("unknownMembers", &unknown),
            ];
        }
        let q = Quorum::of_members(&snap.members);
        snap.members
            .iter()
            .filter(|m| !m.is_unstarted() && m.health() == Health::Unreachable)
            .map(|m| {
                let severity = if !m.is_learner && q.fault_tolerance <= 0 { Severity::Critical } else { Severity::Warning };
                let role = if m.is_learner { "learner" } else { "voter" };
                let tried = m.probe.as_ref().map_or(0, |p| p.attempts.len());
                let first = m.probe_errors().into_iter().next().unwrap_or_default();
                let mut message =
                    format!("{role} {} did not answer at any of {tried} endpoint(s) tried ({first})", m.label());
                if !m.is_learner {
                    message.push_str(&format!(
                        "; it still counts as a voter (fault tolerance {}), and etcd refuses member add while it is down: remove it if its machine is gone",
                        q.fault_tolerance
                    ));
                }
                removal_finding(id, severity, m, message, q.fault_tolerance)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn healthy_cluster_is_silent() {
        assert!(StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3)])).is_empty());
    }

    #[test]
    fn one_dead_voter_of_five_is_a_warning() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), healthy(4), down(5)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].member_id.map(|m| m.0), Some(5));
        let errors = f[0].evidence["member"]["probeErrors"].to_string();
        assert!(errors.contains("connection refused"), "{errors}");
    }

    #[test]
    fn one_dead_voter_of_three_cuts_tolerance_to_zero_and_is_critical() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), down(3)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("fault tolerance 0"), "{}", f[0].message);
    }

    #[test]
    fn dead_voter_that_cuts_tolerance_to_zero_is_critical() {
        // 4 voters, 1 down: quorum 3, 3 healthy -> tolerance 0.
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), down(4)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
    }

    #[test]
    fn a_dead_learner_is_only_a_warning() {
        let f = StaleMember.run(&cluster(&[healthy(1), down(2), learner(down(3))]));
        let learner_f: Vec<_> = f.iter().filter(|f| f.member_id.map(|m| m.0) == Some(3)).collect();
        assert_eq!(learner_f.len(), 1);
        assert_eq!(learner_f[0].severity, Severity::Warning);
    }

    #[test]
    fn reachable_leaderless_and_unstarted_members_are_never_stale() {
        let f = StaleMember.run(&cluster(&[healthy(1), no_leader(2), unstarted(3)]));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn without_status_it_says_it_could_not_decide() {
        let f = StaleMember.run(&cluster(&[unprobed(1), unprobed(2)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("could not decide"));
    }
}
