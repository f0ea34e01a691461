//! The check modules, one file per check id. A new check is one file here plus one line in
//! `registry::ALL` and its docs page in `docs/checks/<id>.md`.

pub mod duplicate_peer_url;
pub mod learner_pending;
pub mod quorum_at_risk;
pub mod stale_member;
pub mod unstarted_member;

use serde_json::{Value, json};

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
