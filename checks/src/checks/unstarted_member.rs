//! `unstarted-member`: a member that was added but never started (no name, no client URLs),
//! typically left by a join that failed half-way (kubeadm #2005, K3s #2306). As a voter it
//! counts toward quorum without ever voting: 3 healthy + 1 unstarted = fault tolerance 0.

use super::removal_finding;
use crate::declare_check;
use crate::evidence::MemberState;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::quorum::Quorum;
use crate::registry::Check;

declare_check! {
    /// A member that was added but never started.
    UnstartedMember, "unstarted-member", Severity::Critical, "0.1.0",
    "A member was added but never started"
}

impl Check for UnstartedMember {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_member_list(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let judged = crate::state::judge_all(snap);
        let q = Quorum::of_judged(snap, &judged);
        snap.members
            .iter()
            .zip(&judged)
            .filter(|(m, _)| m.is_unstarted())
            .map(|(m, j)| {
                let peers = m.peer_urls.join(", ");
                let starting = if j.state == MemberState::Alive {
                    format!("; but something runs there ({}): it may be starting, so it is not removed automatically", j.summary())
                } else {
                    String::new()
                };
                let (severity, message) = if m.is_learner {
                    (
                        Severity::Warning,
                        format!(
                            "learner {} was added (peer URL {peers}) but never started; etcd allows one learner at a time, so it blocks the next join{starting}",
                            m.id
                        ),
                    )
                } else {
                    let sev = if q.tolerance_min() <= 0 { Severity::Critical } else { Severity::Warning };
                    let tolerance = match q.fault_tolerance {
                        Some(t) => format!("fault tolerance {t}"),
                        None => format!("fault tolerance between {} and {}", q.tolerance_min(), q.tolerance_max()),
                    };
                    (
                        sev,
                        format!(
                            "voter {} was added (peer URL {peers}) but never started; it counts toward quorum without voting ({} voters, quorum {}, {tolerance}) and etcd refuses further member adds while it exists{starting}",
                            m.id, q.voters, q.quorum
                        ),
                    )
                };
                removal_finding(Self::INFO.id, severity, m, message, q.fault_tolerance, j)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn started_members_are_silent() {
        assert!(UnstartedMember.run(&cluster(&[healthy(1), down(2), healthy(3)])).is_empty());
    }

    #[test]
    fn three_healthy_plus_one_unstarted_voter_is_critical() {
        let f = UnstartedMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), unstarted(4)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("fault tolerance 0"), "{}", f[0].message);
        assert_eq!(f[0].member_id.map(|m| m.0), Some(4));
    }

    #[test]
    fn five_healthy_plus_one_unstarted_voter_is_a_warning() {
        let f =
            UnstartedMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), healthy(4), healthy(5), unstarted(6)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn an_unstarted_learner_is_a_warning() {
        let f = UnstartedMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), learner(unstarted(4))]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.starts_with("learner"));
    }
}
