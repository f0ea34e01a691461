//! Quorum arithmetic, exactly. Voters are members that are not learners; an unstarted or dead
//! voter still counts as a voter, so it silently eats fault tolerance (3 healthy + 1 unstarted
//! = tolerance 0). The often-quoted floor(n/2) "may fail" is wrong for even n.

use serde::{Deserialize, Serialize};

use crate::model::{Health, Member};

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
    /// Voters that answered and follow a leader.
    pub healthy_voters: usize,
    /// healthy voters − quorum: how many more voters may fail. Negative: quorum is lost.
    pub fault_tolerance: i64,
    /// Voters whose health is not known (not probed); they are not counted as healthy.
    pub unknown_voters: usize,
}

impl Quorum {
    /// Counts voters and healthy voters from a list of (is_learner, health).
    pub fn from_health(members: impl IntoIterator<Item = (bool, Health)>) -> Self {
        let (mut voters, mut healthy, mut unknown) = (0usize, 0usize, 0usize);
        for (learner, health) in members {
            if learner {
                continue;
            }
            voters += 1;
            match health {
                Health::Healthy => healthy += 1,
                Health::Unknown => unknown += 1,
                _ => {}
            }
        }
        let quorum = quorum_of(voters);
        Quorum {
            voters,
            quorum,
            healthy_voters: healthy,
            fault_tolerance: healthy as i64 - quorum as i64,
            unknown_voters: unknown,
        }
    }

    /// The quorum state of a member list.
    pub fn of_members(members: &[Member]) -> Self {
        Self::from_health(members.iter().map(|m| (m.is_learner, m.health())))
    }

    /// Whether the cluster can commit anything (a membership change included) right now.
    pub fn has_quorum(&self) -> bool {
        self.voters > 0 && self.healthy_voters >= self.quorum
    }

    /// How many healthy voters may be down at the same time (a restart batch) without
    /// losing quorum: healthy voters − quorum, never negative. 3 → 1, 4 → 1, 5 → 2.
    pub fn may_restart_together(&self) -> usize {
        self.fault_tolerance.max(0) as usize
    }

    /// The one rule the planner and the executor share: the cluster can commit `change` now
    /// (it has quorum) and still has quorum once it is made.
    pub fn survives(&self, change: Change) -> bool {
        self.has_quorum() && self.after(change).has_quorum()
    }

    /// The quorum once `change` is made.
    pub fn after(&self, change: Change) -> Self {
        let (mut voters, mut healthy, mut unknown) = (self.voters, self.healthy_voters, self.unknown_voters);
        match change {
            Change::Remove { learner: true, .. } | Change::Down { learner: true, .. } => {}
            Change::Remove { learner: false, health } => {
                voters = voters.saturating_sub(1);
                match health {
                    Health::Healthy => healthy = healthy.saturating_sub(1),
                    Health::Unknown => unknown = unknown.saturating_sub(1),
                    _ => {}
                }
            }
            // A member that goes down for a while still votes: only the healthy count drops.
            Change::Down { learner: false, health } => match health {
                Health::Healthy => healthy = healthy.saturating_sub(1),
                Health::Unknown => unknown = unknown.saturating_sub(1),
                _ => {}
            },
            Change::Promote { health } => {
                voters += 1;
                match health {
                    Health::Healthy => healthy += 1,
                    Health::Unknown => unknown += 1,
                    _ => {}
                }
            }
        }
        let quorum = quorum_of(voters);
        Quorum {
            voters,
            quorum,
            healthy_voters: healthy,
            fault_tolerance: healthy as i64 - quorum as i64,
            unknown_voters: unknown,
        }
    }
}

/// A membership change whose effect on quorum is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `member remove` of a member in this health.
    Remove {
        /// A learner: removing it changes no vote.
        learner: bool,
        /// Its health now.
        health: Health,
    },
    /// A member goes down for a while (a restart): it still counts as a voter.
    Down {
        /// A learner: its restart changes no vote.
        learner: bool,
        /// Its health now; a member whose health is not known is assumed healthy by callers.
        health: Health,
    },
    /// `member promote` of a learner in this health.
    Promote {
        /// Its health now.
        health: Health,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use Health::*;

    fn q(voters_healthy: usize, voters_down: usize, unstarted: usize, learners: usize) -> Quorum {
        let mut v = Vec::new();
        v.extend(std::iter::repeat_n((false, Healthy), voters_healthy));
        v.extend(std::iter::repeat_n((false, Unreachable), voters_down));
        v.extend(std::iter::repeat_n((false, Unstarted), unstarted));
        v.extend(std::iter::repeat_n((true, Healthy), learners));
        Quorum::from_health(v)
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
            assert_eq!(got.fault_tolerance, t, "tolerance of {v} healthy voters");
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
                assert_eq!(got.fault_tolerance, (v - down) as i64 - quorum as i64);
                assert_eq!(got.has_quorum(), v - down >= quorum, "{v} voters, {down} down");
            }
        }
    }

    #[test]
    fn even_member_counts_are_not_floor_n_over_two() {
        // 4 members, 2 down: floor(4/2)=2 would say fine; quorum is 3, so it is lost.
        let got = q(2, 2, 0, 0);
        assert!(!got.has_quorum());
        assert_eq!(got.fault_tolerance, -1);
        assert_eq!(q(4, 0, 0, 0).may_restart_together(), 1);
    }

    #[test]
    fn an_unstarted_voter_eats_fault_tolerance() {
        let got = q(3, 0, 1, 0);
        assert_eq!((got.voters, got.quorum, got.healthy_voters), (4, 3, 3));
        assert_eq!(got.fault_tolerance, 0);
        assert_eq!(got.may_restart_together(), 0);
    }

    #[test]
    fn learners_never_count() {
        for learners in 0..=3 {
            let got = q(3, 0, 0, learners);
            assert_eq!((got.voters, got.quorum, got.fault_tolerance), (3, 2, 1));
        }
        // A cluster of only learners has no voters and no quorum.
        let only = q(0, 0, 0, 2);
        assert_eq!(only.voters, 0);
        assert!(!only.has_quorum());
    }

    #[test]
    fn unknown_voters_are_counted_but_not_healthy() {
        let got = Quorum::from_health([(false, Healthy), (false, Unknown), (false, Unknown)]);
        assert_eq!((got.voters, got.healthy_voters, got.unknown_voters), (3, 1, 2));
        assert_eq!(got.fault_tolerance, -1);
    }

    #[test]
    fn changes_keep_or_lose_quorum_as_the_arithmetic_says() {
        let three = q(3, 0, 0, 0);
        assert!(three.survives(Change::Remove { learner: false, health: Healthy }));
        assert!(three.survives(Change::Down { learner: false, health: Healthy }));
        let two_of_three = q(2, 1, 0, 0);
        // Removing the dead voter leaves 2 of 2; restarting a healthy one leaves 1 of 3.
        assert!(two_of_three.survives(Change::Remove { learner: false, health: Unreachable }));
        assert!(!two_of_three.survives(Change::Down { learner: false, health: Healthy }));
        assert!(!two_of_three.survives(Change::Remove { learner: false, health: Healthy }));
        // Learners change no vote.
        assert!(two_of_three.survives(Change::Remove { learner: true, health: Healthy }));
        // Promoting an unhealthy learner to 4 voters needs 3 healthy: only 2 are.
        assert!(!two_of_three.survives(Change::Promote { health: Unreachable }));
        assert!(q(3, 0, 0, 0).survives(Change::Promote { health: Healthy }));
        assert_eq!(q(3, 0, 0, 0).after(Change::Promote { health: Healthy }).fault_tolerance, 1);
        // Every mix up to nine voters: removal of a dead voter is the arithmetic of v-1.
        for v in 2..=9usize {
            for down in 1..=v {
                let got = q(v - down, down, 0, 0).after(Change::Remove { learner: false, health: Unreachable });
                assert_eq!(got, q(v - down, down - 1, 0, 0), "{v} voters, {down} down");
            }
        }
    }

    #[test]
    fn no_leader_voters_are_not_healthy() {
        let got = Quorum::from_health([(false, Healthy), (false, Healthy), (false, NoLeader)]);
        assert_eq!(got.healthy_voters, 2);
        assert_eq!(got.fault_tolerance, 0);
    }
}
