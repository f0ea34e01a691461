//! A plan written to a file (`plan -o yaml`) and what `apply -f` needs to trust it: the
//! membership it was made from, its fingerprint, and the resume logic that recognises a
//! cluster on which the plan's first steps already happened.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::MemberId;
use crate::model::Snapshot;
use crate::plan::{Action, Plan, Step};

/// The membership facts a plan depends on, one per member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// Member id.
    pub id: MemberId,
    /// Name (empty when unstarted).
    #[serde(default)]
    pub name: String,
    /// Peer URLs, sorted.
    #[serde(rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    /// Learner flag.
    #[serde(rename = "isLearner")]
    pub is_learner: bool,
    /// Whether it answered.
    pub reachable: Option<bool>,
}

impl MemberState {
    fn line(&self) -> String {
        format!(
            "member={} learner={} reachable={:?} peers={}\n",
            self.id,
            self.is_learner,
            self.reachable,
            self.peer_urls.join(",")
        )
    }
}

/// The state a snapshot shows, sorted by id.
pub fn state_of(snap: &Snapshot) -> Vec<MemberState> {
    let mut v: Vec<MemberState> = snap
        .members
        .iter()
        .map(|m| {
            let mut peer_urls = m.peer_urls.clone();
            peer_urls.sort();
            MemberState {
                id: m.id,
                name: m.name.clone(),
                peer_urls,
                is_learner: m.is_learner,
                reachable: m.reachable(),
            }
        })
        .collect();
    v.sort_by_key(|m| m.id);
    v
}

/// The fingerprint of a cluster id and member states.
pub fn fingerprint_of(cluster_id: Option<MemberId>, state: &[MemberState]) -> String {
    let mut h = Sha256::new();
    h.update(format!("cluster={}\n", cluster_id.map(|c| c.to_string()).unwrap_or_default()));
    for m in state {
        h.update(m.line());
    }
    let digest = h.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The fingerprint of the membership facts a plan depends on.
pub fn fingerprint(snap: &Snapshot) -> String {
    fingerprint_of(snap.cluster_id, &state_of(snap))
}

/// A plan written to a file (`plan -o yaml`), with the state it was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFile {
    /// Always `etcd-doctor/v1`.
    pub api_version: String,
    /// Always `Plan`.
    pub kind: String,
    /// The cluster it is for.
    #[serde(rename = "clusterID")]
    pub cluster_id: Option<MemberId>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// `sha256:` of the state below.
    pub fingerprint: String,
    /// The membership it was made from.
    pub state: Vec<MemberState>,
    /// The steps.
    pub steps: Vec<Step>,
}

impl PlanFile {
    /// The document for a plan made from `snap`.
    pub fn new(snap: &Snapshot, plan: &Plan) -> Self {
        PlanFile {
            api_version: "etcd-doctor/v1".into(),
            kind: "Plan".into(),
            cluster_id: snap.cluster_id,
            created_at: snap.collected_at,
            fingerprint: plan.fingerprint.clone(),
            state: state_of(snap),
            steps: plan.steps.clone(),
        }
    }

    /// Member ids the steps name that the plan's own recorded state does not hold (an edited
    /// or mistyped plan): such a plan is refused, whatever the live cluster says.
    pub fn unknown_step_members(&self) -> Vec<(usize, MemberId)> {
        self.steps
            .iter()
            .filter_map(|s| s.member_id.map(|id| (s.n, id)))
            .filter(|(_, id)| !self.state.iter().any(|m| m.id == *id))
            .collect()
    }

    /// The plan inside.
    pub fn plan(&self) -> Plan {
        Plan { fingerprint: self.fingerprint.clone(), steps: self.steps.clone() }
    }

    /// Whether this plan may run against `live`: `Ok(k)` when the live membership is the one
    /// it was made from after its first `k` automatic steps (k = 0: unchanged; k > 0: an
    /// interrupted apply, resumed), else `Err` with what changed.
    pub fn check_against(&self, live: &Snapshot) -> Result<usize, Vec<String>> {
        if self.cluster_id.is_some() && live.cluster_id.is_some() && self.cluster_id != live.cluster_id {
            return Err(vec![format!(
                "cluster id {} is not the plan's {}",
                live.cluster_id.map(|c| c.to_string()).unwrap_or_default(),
                self.cluster_id.map(|c| c.to_string()).unwrap_or_default()
            )]);
        }
        if fingerprint_of(self.cluster_id, &self.state) != self.fingerprint {
            return Err(vec!["the plan file was edited: its state does not match its fingerprint".into()]);
        }
        let now = state_of(live);
        let plan = self.plan();
        let automatic = plan.steps.iter().filter(|s| s.automatic).count();
        for k in 0..=automatic {
            if same_membership(&state_after(&self.state, &plan, k), &now) {
                return Ok(k);
            }
        }
        Err(describe_changes(&self.state, &now))
    }
}

/// States equal in ids, peers, learner flags and reachability (names may appear once an
/// unstarted member starts; that alone is not a change the plan depends on).
/// A member the plan adds has no id yet (0) and no known reachability: both match anything.
fn same_membership(expected: &[MemberState], live: &[MemberState]) -> bool {
    let mut used = vec![false; live.len()];
    expected.len() == live.len()
        && expected.iter().all(|x| {
            let found = live.iter().enumerate().position(|(i, y)| {
                !used[i]
                    && (x.id == y.id || x.id.0 == 0)
                    && x.peer_urls == y.peer_urls
                    && x.is_learner == y.is_learner
                    && (x.reachable == y.reachable || x.id.0 == 0)
            });
            found.map(|i| used[i] = true).is_some()
        })
}

/// The state expected once the first `k` automatic steps of `plan` are done (for resuming an
/// interrupted apply: a live state equal to it means those steps already happened).
pub fn state_after(state: &[MemberState], plan: &Plan, k: usize) -> Vec<MemberState> {
    let mut s = state.to_vec();
    for step in plan.steps.iter().filter(|s| s.automatic).take(k) {
        match (step.action, step.member_id) {
            (Action::RemoveMember, Some(id)) => s.retain(|m| m.id != id),
            (Action::PromoteLearner, Some(id)) => {
                s.iter_mut().filter(|m| m.id == id).for_each(|m| m.is_learner = false)
            }
            (Action::PromoteLearner, None) => {
                let peer = step.peer_url.clone().unwrap_or_default();
                s.iter_mut().filter(|m| m.peer_urls == [peer.clone()]).for_each(|m| m.is_learner = false)
            }
            (Action::AddLearner, _) => s.push(MemberState {
                id: MemberId(0),
                name: String::new(),
                peer_urls: step.peer_url.iter().cloned().collect(),
                is_learner: true,
                reachable: None,
            }),
            _ => {}
        }
    }
    s
}

/// Reachability in words for people ("answered", not `Some(true)`).
fn reach_words(r: Option<bool>) -> &'static str {
    match r {
        Some(true) => "answered",
        Some(false) => "did not answer",
        None => "not asked",
    }
}

/// What differs between two states, in words ("member 3 (m2): did not answer then, answered now").
pub fn describe_changes(before: &[MemberState], now: &[MemberState]) -> Vec<String> {
    let mut out = Vec::new();
    for b in before {
        match now.iter().find(|n| n.id == b.id) {
            None => out.push(format!("member {} ({}) is gone", b.id, b.name)),
            Some(n) => {
                if n.reachable != b.reachable {
                    out.push(format!(
                        "member {} ({}): {} then, {} now",
                        b.id,
                        b.name,
                        reach_words(b.reachable),
                        reach_words(n.reachable)
                    ));
                }
                if n.is_learner != b.is_learner {
                    let role = |learner: bool| if learner { "a learner" } else { "a voter" };
                    out.push(format!(
                        "member {} ({}): {} then, {} now",
                        b.id,
                        b.name,
                        role(b.is_learner),
                        role(n.is_learner)
                    ));
                }
                if n.peer_urls != b.peer_urls {
                    out.push(format!(
                        "member {}: peer URLs {} then, {} now",
                        b.id,
                        b.peer_urls.join(", "),
                        n.peer_urls.join(", ")
                    ));
                }
            }
        }
    }
    for n in now.iter().filter(|n| !before.iter().any(|b| b.id == n.id)) {
        out.push(format!("member {} ({}) is new, peer URLs {}", n.id, n.name, n.peer_urls.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn step_ids_outside_the_recorded_state_are_named() {
        let snap = cluster(&[healthy(1), healthy(2), down(3)]);
        let mut doc = PlanFile::new(&snap, &Plan::default());
        doc.steps = vec![
            Step::manual(Some(MemberId(3)), "x", String::new(), Vec::new()),
            Step::manual(Some(MemberId(0x1111)), "x", String::new(), Vec::new()),
        ];
        doc.steps[1].n = 2;
        assert_eq!(doc.unknown_step_members(), vec![(2, MemberId(0x1111))]);
    }

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
