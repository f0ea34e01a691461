//! Quorum arithmetic, exactly, with bounds. Voters are members that are not learners; an
//! unstarted or dead voter still counts as a voter, so it silently eats fault tolerance (3
//! healthy + 1 unstarted = tolerance 0). The often-quoted floor(n/2) "may fail" is wrong for
//! even n. Healthy voters are a range: at least the voters proven up (or a quorum, when a
//! voter's own leader claim proves one), at most every voter not proven unhealthy. Quorum is
//! lost only when even the upper bound is below the quorum.

use serde::{Deserialize, Serialize};

use crate::evidence::MemberState;
use crate::model::Snapshot;

/// The votes needed to commit anything with `voters` voting members: floor(v/2) + 1.
pub const fn quorum_of(voters: usize) -> usize {
    voters / 2 + 1
}

/// The quorum state of a membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quorum {
    /// Members that vote (not learners), whatever their health.
    pub voters: usize,
    /// Votes needed to commit: floor(voters/2) + 1.
    pub quorum: usize,
    /// Voters that answered and follow a leader (state `up`), as before bounds existed. Old
    /// scripts keep reading this; it equals `healthyVotersMin` unless a leader's claim raised
    /// the lower bound to a quorum.
    pub healthy_voters: usize,
    /// healthy voters − quorum: how many more voters may fail; negative: quorum is lost.
    /// `null` when the bounds leave it undecided (one value at the lower bound, another at the
    /// upper); when both bounds are negative it is the upper bound's (lost either way).
    pub fault_tolerance: Option<i64>,
    /// Voters whose health is not known (not probed); they are not counted as healthy.
    pub unknown_voters: usize,
    /// Voters proven healthy: up, or a quorum when a voter that claims leadership proves one.
    #[serde(default)]
    pub healthy_voters_min: usize,
    /// Voters not proven unhealthy: all but the down, gone and unstarted ones.
    #[serde(default)]
    pub healthy_voters_max: usize,
}

impl Quorum {
    /// Counts voters from (is_learner, state) pairs; `leader_proves_quorum` when a voter's own
    /// leader claim stands (see [`crate::state::proven_leader`]).
    pub fn from_states(members: impl IntoIterator<Item = (bool, MemberState)>, leader_proves_quorum: bool) -> Self {
        let (mut voters, mut up, mut unknown, mut not_proven_bad) = (0usize, 0usize, 0usize, 0usize);
        for (learner, state) in members {
            if learner {
                continue;
            }
            voters += 1;
            match state {
                MemberState::Up => up += 1,
                MemberState::Unknown => unknown += 1,
                _ => {}
            }
            if !state.proven_not_healthy() {
                not_proven_bad += 1;
            }
        }
        let quorum = quorum_of(voters);
        let min = if leader_proves_quorum { up.max(quorum).min(not_proven_bad) } else { up };
        let max = not_proven_bad.max(min);
        let (lo, hi) = (min as i64 - quorum as i64, max as i64 - quorum as i64);
        let fault_tolerance = if lo == hi || hi < 0 { Some(hi) } else { None };
        Quorum {
            voters,
            quorum,
            healthy_voters: up,
            fault_tolerance,
            unknown_voters: unknown,
            healthy_voters_min: min,
            healthy_voters_max: max,
        }
    }

    /// The quorum state of a snapshot, from its members' states.
    pub fn of(snap: &Snapshot) -> Self {
        let states = crate::state::judge_all(snap);
        Self::of_judged(snap, &states)
    }

    /// The same, with the states already judged (in member order).
    pub fn of_judged(snap: &Snapshot, states: &[crate::state::Judgement]) -> Self {
        Self::from_states(
            snap.members.iter().zip(states).map(|(m, j)| (m.is_learner, j.state)),
            crate::state::proven_leader(snap).is_some(),
        )
    }

    /// Whether the cluster proven can commit anything (a membership change included) now.
    pub fn has_quorum(&self) -> bool {
        self.voters > 0 && self.healthy_voters_min >= self.quorum
    }

    /// Whether quorum loss is proven: even counting every voter not proven unhealthy, fewer
    /// than a quorum remain.
    pub fn lost(&self) -> bool {
        self.voters > 0 && self.healthy_voters_max < self.quorum
    }

    /// Fault tolerance at the lower bound (the pessimistic view).
    pub fn tolerance_min(&self) -> i64 {
        self.healthy_voters_min as i64 - self.quorum as i64
    }

    /// Fault tolerance at the upper bound (the optimistic view).
    pub fn tolerance_max(&self) -> i64 {
        self.healthy_voters_max as i64 - self.quorum as i64
    }

    /// How many voters proven up may be down at the same time (a restart batch) without
    /// losing quorum: proven-up voters − quorum, never negative. 3 → 1, 4 → 1, 5 → 2.
    pub fn may_restart_together(&self) -> usize {
        (self.healthy_voters as i64 - self.quorum as i64).max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberState::*;

    fn q(voters_healthy: usize, voters_down: usize, unstarted: usize, learners: usize) -> Quorum {
        let mut v = Vec::new();
        v.extend(std::iter::repeat_n((false, Up), voters_healthy));
        v.extend(std::iter::repeat_n((false, Down), voters_down));
        v.extend(std::iter::repeat_n((false, Unstarted), unstarted));
        v.extend(std::iter::repeat_n((true, Up), learners));
        Quorum::from_states(v, false)
    }

    #[test]
    fn quorum_sizes_for_one_to_nine_voters() {
        let want = [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4), (8, 5), (9, 5)];
        for (v, qu) in want {
            assert_eq!(quorum_of(v), qu, "quorum of {v}");
        }
    }

    #[test]
    fn all_healthy_tolerance_for_one_to_nine_voters() {
        // tolerance = v - (v/2 + 1): 1→0, 2→0, 3→1, 4→1, 5→2, 6→2, 7→3, 8→3, 9→4
        let want = [0, 0, 1, 1, 2, 2, 3, 3, 4];
        for (i, t) in want.into_iter().enumerate() {
            let v = i + 1;
            let got = q(v, 0, 0, 0);
            assert_eq!(got.fault_tolerance, Some(t), "tolerance of {v} healthy voters");
            assert_eq!(got.may_restart_together(), t as usize);
            assert!(got.has_quorum());
        }
    }

    #[test]
    fn every_mix_of_healthy_and_down_voters_up_to_nine() {
        for v in 1..=9usize {
            for down in 0..=v {
                let got = q(v - down, down, 0, 0);
                let quorum = v / 2 + 1;
                assert_eq!(got.voters, v);
                assert_eq!(got.quorum, quorum);
                assert_eq!(got.fault_tolerance, Some((v - down) as i64 - quorum as i64));
                assert_eq!(got.has_quorum(), v - down >= quorum, "{v} voters, {down} down");
                assert_eq!(got.lost(), v - down < quorum, "{v} voters, {down} down");
            }
        }
    }

    #[test]
    fn even_member_counts_are_not_floor_n_over_two() {
        // 4 members, 2 down: floor(4/2)=2 would say fine; quorum is 3, so it is lost.
        let got = q(2, 2, 0, 0);
        assert!(!got.has_quorum() && got.lost());
        assert_eq!(got.fault_tolerance, Some(-1));
        assert_eq!(q(4, 0, 0, 0).may_restart_together(), 1);
    }

    #[test]
    fn an_unstarted_voter_eats_fault_tolerance() {
        let got = q(3, 0, 1, 0);
        assert_eq!((got.voters, got.quorum, got.healthy_voters), (4, 3, 3));
        assert_eq!(got.fault_tolerance, Some(0));
        assert_eq!(got.may_restart_together(), 0);
    }

    #[test]
    fn learners_never_count() {
        for learners in 0..=3 {
            let got = q(3, 0, 0, learners);
            assert_eq!((got.voters, got.quorum, got.fault_tolerance), (3, 2, Some(1)));
        }
        // A cluster of only learners has no voters and no quorum.
        let only = q(0, 0, 0, 2);
        assert_eq!(only.voters, 0);
        assert!(!only.has_quorum());
    }

    #[test]
    fn unknown_voters_leave_it_undecided_not_lost() {
        let got = Quorum::from_states([(false, Up), (false, Unknown), (false, Unknown)], false);
        assert_eq!((got.voters, got.healthy_voters, got.unknown_voters), (3, 1, 2));
        assert_eq!((got.healthy_voters_min, got.healthy_voters_max), (1, 3));
        assert_eq!(got.fault_tolerance, None);
        assert!(!got.lost() && !got.has_quorum());
    }

    #[test]
    fn a_leader_claim_raises_the_lower_bound_to_a_quorum() {
        // One endpoint captured, it says it is leader: a quorum is proven, tolerance 0 or 1.
        let got = Quorum::from_states([(false, Up), (false, Unknown), (false, Unknown)], true);
        assert_eq!((got.healthy_voters_min, got.healthy_voters_max), (2, 3));
        assert!(got.has_quorum() && !got.lost());
        assert_eq!(got.fault_tolerance, None);
        assert_eq!(got.healthy_voters, 1, "healthyVoters keeps counting only voters proven up");
    }

    #[test]
    fn only_down_gone_and_unstarted_lower_the_upper_bound() {
        let all = [Up, Alive, Down, Unreachable, Hung, Electing, Unknown, Gone, Unstarted];
        let got = Quorum::from_states(all.iter().map(|s| (false, *s)), false);
        assert_eq!((got.voters, got.quorum), (9, 5));
        assert_eq!((got.healthy_voters_min, got.healthy_voters_max), (1, 6));
        assert_eq!(got.fault_tolerance, None);
    }

    #[test]
    fn electing_voters_are_not_proven_healthy_nor_lost() {
        let got = Quorum::from_states([(false, Electing), (false, Electing), (false, Down)], false);
        assert_eq!((got.healthy_voters_min, got.healthy_voters_max), (0, 2));
        assert!(!got.lost() && !got.has_quorum());
        assert_eq!(got.fault_tolerance, None);
    }

    #[test]
    fn lost_either_way_reports_the_upper_bound() {
        let got = Quorum::from_states([(false, Unreachable), (false, Down), (false, Down)], false);
        assert_eq!((got.healthy_voters_min, got.healthy_voters_max), (0, 1));
        assert!(got.lost());
        assert_eq!(got.fault_tolerance, Some(-1));
    }
}
