//! The fix plan and the fingerprint of the state it was made from. A plan applied later
//! (`apply -f`) is refused when the live fingerprint differs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::MemberId;
use crate::model::Snapshot;

/// An ordered list of steps and the state they were planned against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `sha256:<hex>` of the cluster id, member ids, peer URLs, learner flags and reachability.
    pub fingerprint: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// 1-based position.
    pub n: usize,
    /// What it does, e.g. `remove-member`, `promote-learner`, `manual`.
    pub action: String,
    /// The member it acts on.
    #[serde(rename = "memberID")]
    pub member_id: Option<MemberId>,
    /// Whether `--fix` may run it; manual steps are printed for a person.
    pub automatic: bool,
    /// The check id that asked for it.
    pub reason: String,
    /// One line for people.
    pub description: String,
    /// Exact commands for a manual step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
}

/// The fingerprint of the membership facts a plan depends on.
pub fn fingerprint(snap: &Snapshot) -> String {
    let mut members: Vec<_> = snap.members.iter().collect();
    members.sort_by_key(|m| m.id);
    let mut h = Sha256::new();
    h.update(format!("cluster={}\n", snap.cluster_id.map(|c| c.to_string()).unwrap_or_default()));
    for m in members {
        let mut peers = m.peer_urls.clone();
        peers.sort();
        h.update(format!(
            "member={} learner={} reachable={:?} peers={}\n",
            m.id,
            m.is_learner,
            m.reachable(),
            peers.join(",")
        ));
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn fingerprint_is_order_independent_and_changes_with_membership_or_reachability() {
        let a = fingerprint(&cluster(&[healthy(1), healthy(2), down(3)]));
        let b = fingerprint(&cluster(&[down(3), healthy(2), healthy(1)]));
        assert_eq!(a, b);
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
        assert_ne!(a, fingerprint(&cluster(&[healthy(1), healthy(2), healthy(3)])));
        assert_ne!(a, fingerprint(&cluster(&[healthy(1), healthy(2)])));
    }
}
