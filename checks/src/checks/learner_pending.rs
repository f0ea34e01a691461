//! `learner-pending`: a learner that is running. A learner replicates but does not vote; one
//! that caught up and was never promoted (a join interrupted after `member add --learner`)
//! adds no fault tolerance, and etcd allows one learner at a time, so it blocks the next join.

use super::{member_evidence, subject};
use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::{Health, Snapshot};
use crate::registry::Check;

/// etcd promotes a learner only when its progress is within 90% of the leader's
/// (`learnerReadyPercent` in etcd's server); the same bar decides "caught up" here.
pub(crate) const READY_PERCENT: u64 = 90;

declare_check! {
    /// A running learner: in sync and waiting for promotion, or still catching up.
    LearnerPending, "learner-pending", Severity::Warning, "0.1.0",
    "A learner is running but not promoted"
}

impl Check for LearnerPending {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        // Only a learner's own status tells how far it caught up; no learner, nothing to judge.
        let silent = snap.members.iter().find(|m| m.is_learner && m.status().is_none())?;
        Some(format!("learner {} did not answer a status request: how far it caught up is unknown", silent.label()))
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let leader_index = snap.leader().and_then(|l| snap.member(l)).and_then(|m| m.status()).map(|s| s.raft_index);
        snap.members
            .iter()
            .filter(|m| m.is_learner && m.health() == Health::Healthy)
            .filter_map(|m| {
                let applied = m.status().map(|s| s.raft_applied_index.unwrap_or(s.raft_index))?;
                let base = Finding::new(Self::INFO.id, Severity::Info, subject(m), String::new())
                    .member(m.id, m.node.as_deref())
                    .with("member", member_evidence(m))
                    .with("learnerAppliedIndex", applied)
                    .with("leaderRaftIndex", leader_index);
                let Some(li) = leader_index else {
                    let mut f = base;
                    f.message = format!("could not decide whether learner {} caught up: no leader status", m.label());
                    return Some(f);
                };
                if applied.saturating_mul(100) >= li.saturating_mul(READY_PERCENT) {
                    let mut f = base.remedy(Remedy::PromoteLearner { member_id: m.id });
                    f.severity = Severity::Warning;
                    f.message = format!(
                        "learner {} caught up (applied index {applied} of the leader's {li}) but was never promoted: it replicates without voting and blocks the next learner add",
                        m.label()
                    );
                    Some(f)
                } else {
                    let mut f = base;
                    f.message = format!("learner {} is catching up (applied index {applied} of the leader's {li})", m.label());
                    Some(f)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn voters_and_dead_learners_are_silent() {
        assert!(
            LearnerPending.run(&cluster(&[healthy(1), healthy(2), learner(down(3)), learner(unstarted(4))])).is_empty()
        );
    }

    #[test]
    fn a_caught_up_learner_is_a_warning_with_a_promotion() {
        let f = LearnerPending.run(&cluster(&[healthy(1), healthy(2), healthy(3), learner(healthy(4))]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].remedy, Some(Remedy::PromoteLearner { member_id: crate::id::MemberId(4) }));
    }

    #[test]
    fn a_learner_far_behind_is_info_without_a_remedy() {
        let mut l = learner(healthy(4));
        if let Some(Ok(s)) = l.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
            s.raft_applied_index = Some(10);
        }
        let f = LearnerPending.run(&cluster(&[healthy(1), healthy(2), healthy(3), l]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].remedy.is_none());
    }
}
