//! The check modules, one file per check id. A new check is one file here plus one line in
//! `registry::ALL` and its docs page in `docs/checks/<id>.md`.

pub(crate) mod alarm_active;
pub(crate) mod ca_mismatch;
pub(crate) mod cert_expiry;
pub(crate) mod cert_key_mismatch;
pub(crate) mod cert_san_mismatch;
pub(crate) mod client_url_unreachable;
pub(crate) mod db_near_quota;
pub(crate) mod duplicate_peer_url;
pub(crate) mod fragmented_db;
pub(crate) mod hash_mismatch;
pub(crate) mod invalid_member_url;
pub(crate) mod join_endpoint_not_apiserver;
pub(crate) mod learner_pending;
pub(crate) mod no_leader;
pub(crate) mod quorum_at_risk;
pub(crate) mod raft_lag;
pub(crate) mod restart_wave;
pub(crate) mod split_brain;
pub(crate) mod stale_member;
pub(crate) mod unstarted_member;
pub(crate) mod version_skew;

use serde_json::{Value, json};

use crate::cert::{CertInfo, CertRole, Port};
use crate::finding::{Finding, Remedy, Severity};
use crate::model::{Member, Snapshot};
use crate::state::Judgement;

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
/// whether that is safe and when, from the member's state).
pub(crate) fn removal_finding(
    check: &str,
    severity: Severity,
    m: &Member,
    message: String,
    tolerance: Option<i64>,
    judged: &Judgement,
) -> Finding {
    cite(
        Finding::new(check, severity, subject(m), message)
            .member(m.id, m.node.as_deref())
            .with("member", member_evidence(m))
            .with("faultTolerance", tolerance)
            .remedy(Remedy::RemoveMember { member_id: m.id }),
        judged,
    )
}

/// Adds the member state a finding rests on, and its observations, to the evidence.
pub(crate) fn cite(f: Finding, judged: &Judgement) -> Finding {
    f.with("state", judged.state).with("stateEvidence", &judged.evidence)
}

/// `etcdctl defrag` for every member that answers, one at a time: followers first, the leader
/// last (a defrag blocks its member; the leader's blocks the cluster's writes for that time).
pub(crate) fn defrag_commands(snap: &crate::model::Snapshot) -> Vec<String> {
    let leader = snap.leader();
    let mut ms: Vec<&Member> = snap.members.iter().filter(|m| m.status().is_some()).collect();
    ms.sort_by_key(|m| (Some(m.id) == leader, m.name.clone()));
    ms.iter()
        .filter_map(|m| m.client_urls.first().map(|u| format!("etcdctl --endpoints {u} defrag   # {}", m.label())))
        .collect()
}

/// `3.5.16`, `v3.5.16`, `3.6.0-rc.1` as (major, minor, patch).
pub fn version_of(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let patch = it.next().map(|p| p.parse().ok()).unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// One certificate where it was seen: presented at a member URL, or in a file.
pub(crate) struct Seen<'a> {
    /// The certificate.
    pub cert: &'a CertInfo,
    /// What it is for there (a presented leaf is `server` or `peer`; chain CAs are CAs).
    pub role: CertRole,
    /// The member it belongs to, when known.
    pub member: Option<&'a Member>,
    /// The URL that presented it or the file that holds it.
    pub at: String,
    /// The file, when it came from one.
    pub path: Option<&'a str>,
    /// Whether it is the first certificate of its chain or file (the leaf).
    pub leaf: bool,
}

/// Every certificate seen, presented chains first, then files (readable ones only).
pub(crate) fn certs_seen(snap: &Snapshot) -> Vec<Seen<'_>> {
    let Some(certs) = &snap.certs else { return Vec::new() };
    let mut out = Vec::new();
    for p in &certs.presented {
        let member = snap.member(p.member_id);
        for (i, c) in p.chain.iter().enumerate() {
            let role = match (i, p.port) {
                (0, Port::Client) => CertRole::Server,
                (0, Port::Peer) => CertRole::Peer,
                (_, Port::Client) => CertRole::ServerCa,
                (_, Port::Peer) => CertRole::PeerCa,
            };
            out.push(Seen { cert: c, role, member, at: p.url.clone(), path: None, leaf: i == 0 });
        }
    }
    for f in certs.files.iter().filter(|f| f.error.is_none()) {
        let member = f.member.as_deref().and_then(|n| snap.members.iter().find(|m| !n.is_empty() && m.name == n));
        for (i, c) in f.certs.iter().enumerate() {
            for role in &f.roles {
                out.push(Seen { cert: c, role: *role, member, at: f.path.clone(), path: Some(&f.path), leaf: i == 0 });
            }
        }
    }
    out
}

/// `member <id> (<name>)` for a member's certificate, else the file or the certificate subject.
pub(crate) fn cert_subject(s: &Seen<'_>) -> String {
    match (s.member, s.path) {
        (Some(m), _) => subject(m),
        (None, Some(p)) => format!("certificate {p}"),
        (None, None) => format!("certificate {}", s.cert.subject),
    }
}

/// What a check that judges the member list lacks: no member list was read (`--local` with no
/// etcd answering). `None` when there is one.
pub(crate) fn no_member_list(snap: &Snapshot) -> Option<String> {
    snap.members.is_empty().then(|| "no member list was read (no etcd endpoint answered)".to_string())
}

/// What a check that judges members' statuses lacks: no member list, or no member answered a
/// status request. `None` when at least one status was read.
pub(crate) fn no_status(snap: &Snapshot) -> Option<String> {
    no_member_list(snap).or_else(|| {
        snap.members
            .iter()
            .all(|m| m.status().is_none())
            .then(|| "no member answered a status request (a bundle needs endpoint-status.json)".to_string())
    })
}

/// What a check that judges one field of the statuses lacks: no status carried it (etcd
/// before 3.4 reports neither the applied index nor the size in use).
pub(crate) fn no_status_field(
    snap: &Snapshot,
    has: impl Fn(&crate::model::Status) -> bool,
    what: &str,
) -> Option<String> {
    no_status(snap).or_else(|| {
        (!snap.members.iter().filter_map(|m| m.status()).any(has))
            .then(|| format!("no member status reported {what} (etcd 3.4 and later do)"))
    })
}
