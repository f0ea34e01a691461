//! `raft-lag`: a voter whose applied index is far behind the leader's raft index, or far
//! behind its own committed index. etcd refuses new requests on a member whose committed
//! entries run more than 5000 ahead of the applied ones ("too many requests"), and a far
//! follower is slow to serve linearizable reads.

use super::{member_evidence, subject};
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

/// Entries behind the leader that make a warning (statuses are taken a few ms apart).
pub(crate) const WARN_BEHIND: u64 = 1000;
/// etcd's own limit between committed and applied (`maxGapBetweenApplyAndCommitIndex`).
pub(crate) const APPLY_GAP_LIMIT: u64 = 5000;

declare_check! {
    /// Applied index far behind.
    RaftLag, "raft-lag", Severity::Critical, "0.1.0",
    "A member's applied index is far behind"
}

impl Check for RaftLag {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_status_field(snap, |s| s.raft_applied_index.is_some(), "its raft applied index")
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let leader_index = snap.leader().and_then(|l| snap.member(l)).and_then(|m| m.status()).map(|s| s.raft_index);
        snap.members
            .iter()
            .filter(|m| !m.is_learner)
            .filter_map(|m| {
                let s = m.status()?;
                let applied = s.raft_applied_index?;
                let own_gap = s.raft_index.saturating_sub(applied);
                let behind = leader_index.map(|li| li.saturating_sub(applied)).unwrap_or(0);
                let (severity, why) = if own_gap > APPLY_GAP_LIMIT {
                    (
                        Severity::Critical,
                        format!("its applied index {applied} is {own_gap} entries behind its own committed index {}: over etcd's limit of {APPLY_GAP_LIMIT}, it answers \"too many requests\" (slow disk or a huge transaction)", s.raft_index),
                    )
                } else if behind >= WARN_BEHIND {
                    (
                        Severity::Warning,
                        format!("its applied index {applied} is {behind} entries behind the leader's {}: slow disk, CPU or network on that member", leader_index.unwrap_or(0)),
                    )
                } else {
                    return None;
                };
                Some(
                    Finding::new(Self::INFO.id, severity, subject(m), format!("{}: {why}", m.label()))
                        .member(m.id, m.node.as_deref())
                        .with("member", member_evidence(m))
                        .with("raftIndex", s.raft_index)
                        .with("raftAppliedIndex", applied)
                        .with("leaderRaftIndex", leader_index),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn set(snap: &mut Snapshot, i: usize, index: u64, applied: u64) {
        if let Some(Ok(s)) =
            snap.members[i].probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut())
        {
            s.raft_index = index;
            s.raft_applied_index = Some(applied);
        }
    }

    #[test]
    fn behind_the_leader_warns_and_over_the_apply_gap_is_critical() {
        let mut snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        assert!(RaftLag.run(&snap).is_empty());
        set(&mut snap, 0, 50_000, 50_000);
        set(&mut snap, 1, 49_990, 49_990);
        set(&mut snap, 2, 48_000, 47_500);
        let f = RaftLag.run(&snap);
        assert_eq!((f.len(), f[0].severity), (1, Severity::Warning), "{f:?}");
        set(&mut snap, 2, 49_990, 40_000);
        assert_eq!(RaftLag.run(&snap)[0].severity, Severity::Critical);
    }
}
