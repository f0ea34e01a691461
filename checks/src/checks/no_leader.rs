//! `no-leader`: members that answer but follow no leader. When none has a leader the cluster
//! commits nothing (elections keep failing: lost quorum, clock or disk stalls, a partition);
//! when only some lack one, those are cut off from the rest.

use super::{member_evidence, subject};
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::{Health, Snapshot};
use crate::registry::Check;

declare_check! {
    /// Reachable members without a leader.
    NoLeader, "no-leader", Severity::Critical, "0.1.0",
    "Members answer but have no leader"
}

impl Check for NoLeader {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let answered: Vec<_> = snap.members.iter().filter(|m| m.status().is_some()).collect();
        let leaderless: Vec<_> = answered.iter().filter(|m| m.health() == Health::NoLeader).collect();
        if leaderless.is_empty() {
            return Vec::new();
        }
        if leaderless.len() == answered.len() {
            let names: Vec<String> = leaderless.iter().map(|m| m.label()).collect();
            return vec![
                Finding::new(
                    Self::INFO.id,
                    Severity::Critical,
                    "cluster",
                    format!(
                        "no member that answers has a leader ({}): the cluster commits nothing; look for lost quorum (quorum-at-risk), disk or clock stalls in the members' logs",
                        names.join(", ")
                    ),
                )
                .with("members", names),
            ];
        }
        leaderless
            .iter()
            .map(|m| {
                Finding::new(
                    Self::INFO.id,
                    Severity::Warning,
                    subject(m),
                    format!(
                        "{} answers but has no leader while the others follow one: it is cut off from its peers (peer port, firewall, peer certificates)",
                        m.label()
                    ),
                )
                .member(m.id, m.node.as_deref())
                .with("member", member_evidence(m))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn all_leaderless_is_critical_some_is_a_warning() {
        assert!(NoLeader.run(&cluster(&[healthy(1), healthy(2), healthy(3)])).is_empty());
        let f = NoLeader.run(&cluster(&[no_leader(1), no_leader(2), down(3)]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Critical));
        let f = NoLeader.run(&cluster(&[healthy(1), healthy(2), no_leader(3)]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
    }
}
