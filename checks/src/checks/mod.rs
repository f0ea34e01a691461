//! The check modules, one file per check id. A new check is one file here plus one line in
//! `registry::ALL` and its docs page in `docs/checks/<id>.md`.

pub mod duplicate_peer_url;
pub mod join_endpoint_not_apiserver;
pub mod learner_pending;
pub mod quorum_at_risk;
pub mod split_brain;
pub mod stale_member;
pub mod unstarted_member;

use serde_json::{Value, json};

use crate::finding::{Finding, Remedy, Severity};
use crate::model::Member;

/// The facts about a member that most findings cite.
pub(crate) fn member_evidence(m: &Member) -> Value {
    json!({
        "id": m.id,
        "name": m.name,
        "peerURLs": m.peer_urls,
        "clientURLs": m.client_urls,
        "isLearner": m.is_learner,
        "health": m.health(),
        "probeErrors": m.probe_errors(),
    })
}

/// `member <id> (<name>)` as a finding subject.
pub(crate) fn subject(m: &Member) -> String {
    if m.name.is_empty() { format!("member {} (unstarted)", m.id) } else { format!("member {} ({})", m.id, m.name) }
}

/// A finding about a member that is not running, proposing its removal (the planner decides
/// whether that is safe and when).
pub(crate) fn removal_finding(check: &str, severity: Severity, m: &Member, message: String, tolerance: i64) -> Finding {
    Finding::new(check, severity, subject(m), message)
        .member(m.id, m.node.as_deref())
        .with("member", member_evidence(m))
        .with("faultTolerance", tolerance)
        .remedy(Remedy::RemoveMember { member_id: m.id })
}
