//! Quorum arithmetic, exactly, with bounds. Voters are members that are not learners; an
//! unstarted or dead voter still counts as a voter, so it silently eats fault tolerance (3
//! healthy + 1 unstarted = tolerance 0). The often-quoted floor(n/2) "may fail" is wrong for
//! even n. Healthy voters are a range: at least the voters proven up (or a quorum, when a
//! voter's own leader claim proves one), at most every voter not proven unhealthy. Quorum is
//! lost only when even the upper bound is below the quorum.

use serde::{Deserialize, Serialize};

use crate::evidence::MemberState;
use crate::model::{Health, Snapshot};

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
        Self::count(members.into_iter().map(|(l, s)| (l, s, false)), leader_proves_quorum)
    }

    /// `from_states`, where a member flagged `cut_off` is proven not to count for the leader
    /// even though its own state leaves it open (the leader's raft sees no link to it).
    fn count(members: impl IntoIterator<Item = (bool, MemberState, bool)>, leader_proves_quorum: bool) -> Self {
        let (mut voters, mut up, mut unknown, mut not_proven_bad) = (0usize, 0usize, 0usize, 0usize);
        for (learner, state, cut_off) in members {
            if learner {
                continue;
            }
            voters += 1;
            match state {
                MemberState::Up => up += 1,
                MemberState::Unknown => unknown += 1,
                _ => {}
            }
            if !(state.proven_not_healthy() || cut_off && state != MemberState::Up) {
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
    /// A voter that is not up and to which the proven leader's own raft reports no active peer
    /// link (`etcd_network_active_peers 0`), or that answers without a leader while a leader is
    /// proven by a quorum of followers, cannot be acknowledging that leader: it does not count toward the healthy
    /// voters, whatever else says its process runs.
    pub fn of_judged(snap: &Snapshot, states: &[crate::state::Judgement]) -> Self {
        let leader = crate::state::proven_leader(snap);
        let links = leader.and_then(|l| snap.audit.metrics.get(&l)).map(|m| &m.peers_active);
        let followed_by_quorum = leader.is_some_and(|l| crate::state::followed_by_quorum(snap, l));
        Self::count(
            snap.members.iter().zip(states).map(|(m, j)| {
                // Answering without a leader while a quorum answered as the leader's followers:
                // not following it now (with fewer followers the two views conflict: undecided).
                // One that answers for another cluster (split brain) votes there, not here.
                let cut_off = links.is_some_and(|p| p.get(&m.id) == Some(&false))
                    || unlinked_from_all_others(snap, m.id)
                    || (followed_by_quorum && j.state == MemberState::Electing)
                    || crate::state::serves_other_cluster(snap, m);
                (m.is_learner, j.state, cut_off)
            }),
            leader.is_some(),
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

    /// Counts voters from (is_learner, health), the coarser view the executor has of a live
    /// member list; no leader claim is taken into account.
    pub fn from_health(members: impl IntoIterator<Item = (bool, Health)>) -> Self {
        Self::from_states(members.into_iter().map(|(l, h)| (l, state_of_health(h))), false)
    }

    /// The one rule the planner and the executor share: the cluster proven can commit `change`
    /// now (it has quorum) and still has quorum once it is made.
    pub fn survives(&self, change: Change) -> bool {
        self.has_quorum() && self.after(change).has_quorum()
    }

    /// The quorum once `change` is made: counts and both bounds move with the member's health.
    pub fn after(&self, change: Change) -> Self {
        let (mut voters, mut up, mut unknown) = (self.voters, self.healthy_voters, self.unknown_voters);
        let (mut min, mut max) = (self.healthy_voters_min, self.healthy_voters_max);
        let counted = |h: Health| {
            let s = state_of_health(h);
            (s == MemberState::Up, s == MemberState::Unknown, !s.proven_not_healthy())
        };
        match change {
            Change::Remove { learner: true, .. } | Change::Down { learner: true, .. } => {}
            Change::Remove { learner: false, health } | Change::Down { learner: false, health } => {
                if matches!(change, Change::Remove { .. }) {
                    voters = voters.saturating_sub(1);
                }
                let (is_up, is_unknown, in_max) = counted(health);
                if is_up {
                    up = up.saturating_sub(1);
                    min = min.saturating_sub(1);
                }
                if is_unknown {
                    unknown = unknown.saturating_sub(1);
                }
                if in_max {
                    max = max.saturating_sub(1);
                }
            }
            Change::Promote { health } => {
                voters += 1;
                let (is_up, is_unknown, in_max) = counted(health);
                up += usize::from(is_up);
                min += usize::from(is_up);
                unknown += usize::from(is_unknown);
                max += usize::from(in_max);
            }
        }
        let quorum = quorum_of(voters);
        // The caller's health may be coarser than the state behind the bounds: never let the
        // upper bound fall below the proven lower one.
        let max = max.max(min);
        let (lo, hi) = (min as i64 - quorum as i64, max as i64 - quorum as i64);
        Quorum {
            voters,
            quorum,
            healthy_voters: up,
            fault_tolerance: if lo == hi || hi < 0 { Some(hi) } else { None },
            unknown_voters: unknown,
            healthy_voters_min: min,
            healthy_voters_max: max,
        }
    }
}

/// The state a coarse health stands for, as far as quorum arithmetic needs it.
fn state_of_health(h: Health) -> MemberState {
    match h {
        Health::Healthy => MemberState::Up,
        Health::NoLeader => MemberState::Electing,
        Health::Unreachable => MemberState::Unreachable,
        Health::Unstarted => MemberState::Unstarted,
        Health::Unknown => MemberState::Unknown,
    }
}

/// The coarse health a member state maps to, for [`Change`].
pub fn health_of_state(s: MemberState) -> Health {
    match s {
        MemberState::Up => Health::Healthy,
        MemberState::Electing => Health::NoLeader,
        MemberState::Unstarted => Health::Unstarted,
        MemberState::Unknown => Health::Unknown,
        _ => Health::Unreachable,
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

/// Whether every other voter's raft was read and none has an active link to `id`
/// (`etcd_network_active_peers 0` on each): then no leader can count `id` in its quorum, and
/// `id` cannot lead one, whoever the others still name as leader for a moment.
fn unlinked_from_all_others(snap: &Snapshot, id: crate::id::MemberId) -> bool {
    let mut others = snap.members.iter().filter(|m| !m.is_learner && m.id != id).peekable();
    others.peek().is_some()
        && others.all(|o| snap.audit.metrics.get(&o.id).and_then(|x| x.peers_active.get(&id)) == Some(&false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberState::*;

    #[test]
    fn a_member_the_leaders_raft_has_no_link_to_does_not_count_as_healthy() {
        use crate::testing::{alive, cluster, healthy};
        let mut snap = cluster(&[healthy(1), healthy(2), alive(3)]);
        // Its peer listener answers, but it is cut off: the leader (m1) sees no raft link.
        let open = Quorum::of(&snap);
        assert_eq!((open.healthy_voters_min, open.healthy_voters_max, open.fault_tolerance), (2, 3, None));
        let mut m = crate::audit_data::Metrics::default();
        m.peers_active.insert(crate::id::MemberId(2), true);
        m.peers_active.insert(crate::id::MemberId(3), false);
        snap.audit.metrics.insert(crate::id::MemberId(1), m);
        let cut = Quorum::of(&snap);
        assert_eq!((cut.healthy_voters_min, cut.healthy_voters_max, cut.fault_tolerance), (2, 2, Some(0)));
        // No proven leader (both still name the cut-off member for a moment), but neither
        // other voter's raft has a link to it: it is not in any quorum.
        let mut stale = cluster(&[healthy(1), healthy(2), alive(3)]);
        for id in [1u64, 2] {
            let mut m = crate::audit_data::Metrics::default();
            m.peers_active.insert(crate::id::MemberId(3), false);
            stale.audit.metrics.insert(crate::id::MemberId(id), m);
        }
        for m in stale.members.iter_mut().take(2) {
            if let Some(Ok(st)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
                st.leader = Some(crate::id::MemberId(3));
            }
        }
        assert_eq!(crate::state::proven_leader(&stale), None);
        assert_eq!(Quorum::of(&stale).healthy_voters_max, 2);
        // An active link leaves it open again.
        if let Some(m) = snap.audit.metrics.get_mut(&crate::id::MemberId(1)) {
            m.peers_active.insert(crate::id::MemberId(3), true);
        }
        assert_eq!(Quorum::of(&snap).healthy_voters_max, 3);
    }

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
    fn changes_keep_or_lose_quorum_as_the_arithmetic_says() {
        use Health::{Healthy, Unreachable as Unr};
        let three = q(3, 0, 0, 0);
        assert!(three.survives(Change::Remove { learner: false, health: Healthy }));
        assert!(three.survives(Change::Down { learner: false, health: Healthy }));
        let two_of_three = q(2, 1, 0, 0);
        // Removing the dead voter leaves 2 of 2; restarting a healthy one leaves 1 of 3.
        assert!(two_of_three.survives(Change::Remove { learner: false, health: Unr }));
        assert!(!two_of_three.survives(Change::Down { learner: false, health: Healthy }));
        assert!(!two_of_three.survives(Change::Remove { learner: false, health: Healthy }));
        // Learners change no vote.
        assert!(two_of_three.survives(Change::Remove { learner: true, health: Healthy }));
        // Promoting an unhealthy learner to 4 voters needs 3 healthy: only 2 are.
        assert!(!two_of_three.survives(Change::Promote { health: Unr }));
        assert!(q(3, 0, 0, 0).survives(Change::Promote { health: Healthy }));
        assert_eq!(q(3, 0, 0, 0).after(Change::Promote { health: Healthy }).fault_tolerance, Some(1));
        // Every mix up to nine voters: removal of a dead voter is the arithmetic of v-1.
        for v in 2..=9usize {
            for down in 1..=v {
                let got = q(v - down, down, 0, 0).after(Change::Remove { learner: false, health: Unr });
                let want = q(v - down, down - 1, 0, 0);
                assert_eq!(
                    (got.voters, got.quorum, got.healthy_voters, got.healthy_voters_min),
                    (want.voters, want.quorum, want.healthy_voters, want.healthy_voters_min),
                    "{v} voters, {down} down"
                );
            }
        }
    }

    #[test]
    fn no_leader_voters_are_not_healthy() {
        let got = Quorum::from_health([(false, Health::Healthy), (false, Health::Healthy), (false, Health::NoLeader)]);
        assert_eq!(got.healthy_voters, 2);
        assert_eq!((got.healthy_voters_min, got.healthy_voters_max), (2, 3));
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
