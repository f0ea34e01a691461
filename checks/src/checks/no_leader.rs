//! `no-leader`: members that answer but follow no leader (state `electing`). When no voter
//! that answers has a leader the cluster commits nothing: an election in progress (about a
//! second after a leader is lost), or elections that keep failing (lost quorum, clock or disk
//! stalls, a partition). Seen once it may be the former, so it is critical only when quorum
//! loss is proven or the collector waited a few election timeouts and still saw none; when only
//! some lack one, those are cut off from the rest (or were asked mid-election). A learner's
//! naming of a leader never counts: a member that names a leader whose own status denies it
//! is `electing` too.

use super::{cite, member_evidence, subject};
use crate::declare_check;
use crate::evidence::MemberState;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Check;
use crate::state::judge_all;

/// How long a collector must have waited, still without a leader, before no-leader is more than
/// an election in progress: a few election timeouts (etcd's default is 1 s).
pub const DECISIVE_WAIT_MS: u64 = 3000;

declare_check! {
    /// Reachable members without a leader.
    NoLeader, "no-leader", Severity::Critical, "0.1.0",
    "Members answer but have no leader"
}

impl Check for NoLeader {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_status(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let judged = judge_all(snap);
        let answered: Vec<_> = snap.members.iter().zip(&judged).filter(|(m, _)| m.status().is_some()).collect();
        let leaderless: Vec<_> = answered.iter().filter(|(_, j)| j.state == MemberState::Electing).collect();
        if leaderless.is_empty() {
            return Vec::new();
        }
        let voters_answering = answered.iter().filter(|(m, _)| !m.is_learner).count();
        let voters_leaderless = leaderless.iter().filter(|(m, _)| !m.is_learner).count();
        if voters_answering > 0 && voters_leaderless == voters_answering {
            let names: Vec<String> = leaderless.iter().map(|(m, _)| m.label()).collect();
            let q = crate::quorum::Quorum::of_judged(snap, &judged);
            let waited = snap.election_wait_ms;
            let decisive = q.lost() || waited.is_some_and(|w| w >= DECISIVE_WAIT_MS);
            let (severity, tail) = if decisive {
                (
                    Severity::Critical,
                    match waited {
                        Some(w) if w >= DECISIVE_WAIT_MS => format!(" and still none after waiting {w} ms"),
                        _ => " and quorum is proven lost".to_string(),
                    },
                )
            } else {
                (
                    Severity::Warning,
                    format!(
                        " when asked{}: an election takes about a second; look again in a few seconds before judging (live runs wait up to a few election timeouts)",
                        waited.map(|w| format!(" (waited {w} ms)")).unwrap_or_default()
                    ),
                )
            };
            return vec![
                Finding::new(
                    Self::INFO.id,
                    severity,
                    "cluster",
                    format!(
                        "no voter that answers has a leader ({}){tail}; while it lasts the cluster commits nothing; if it persists look for lost quorum (quorum-at-risk), disk or clock stalls in the members' logs",
                        names.join(", ")
                    ),
                )
                .with("members", names)
                .with("electionWaitMs", waited)
                .with("states", leaderless.iter().map(|(m, j)| serde_json::json!({"member": m.id, "state": j.state, "evidence": j.evidence})).collect::<Vec<_>>()),
            ];
        }
        leaderless
            .iter()
            .map(|(m, j)| {
                cite(
                    Finding::new(
                        Self::INFO.id,
                        Severity::Warning,
                        subject(m),
                        format!(
                            "{} answers but has no leader while other voters follow one ({}): it is cut off from its peers (peer port, firewall, peer certificates), or was asked mid-election",
                            m.label(),
                            j.summary()
                        ),
                    )
                    .member(m.id, m.node.as_deref())
                    .with("member", member_evidence(m)),
                    j,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::MemberId;
    use crate::testing::*;

    #[test]
    fn all_leaderless_is_a_warning_seen_once_critical_when_proven() {
        assert!(NoLeader.run(&cluster(&[healthy(1), healthy(2), healthy(3)])).is_empty());
        let f = NoLeader.run(&cluster(&[no_leader(1), no_leader(2), unreachable(3)]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
        assert!(f[0].message.contains("look again"), "{}", f[0].message);
        let mut waited = cluster(&[no_leader(1), no_leader(2), unreachable(3)]);
        waited.election_wait_ms = Some(5000);
        assert_eq!(NoLeader.run(&waited)[0].severity, Severity::Critical);
        let lost = NoLeader.run(&cluster(&[no_leader(1), down(2), down(3)]));
        assert_eq!(lost[0].severity, Severity::Critical);
        let f = NoLeader.run(&cluster(&[healthy(1), healthy(2), no_leader(3)]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
    }

    #[test]
    fn a_learner_naming_a_leader_does_not_soften_it() {
        // After quorum loss a learner still names voter 1; voter 1 says it has no leader.
        let mut l = learner(healthy(4));
        if let Some(Ok(s)) = l.probe.as_mut().map(|p| &mut p.attempts[0].result) {
            s.leader = Some(MemberId(1));
        }
        let mut snap = cluster(&[no_leader(1), no_leader(2), down(3), l]);
        snap.election_wait_ms = Some(5000);
        let f = NoLeader.run(&snap);
        assert_eq!((f.len(), f[0].severity), (1, Severity::Critical), "{f:?}");
        assert_eq!(snap.leader(), None);
    }
}
