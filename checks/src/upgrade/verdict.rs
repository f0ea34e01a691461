//! The pre-upgrade verdict. "ready" only when every check the verdict rests on ran on its
//! input and every member answered with its version; otherwise "not verified", naming what was
//! not read and what would read it. A finding worse than info blocks, and blocked wins.

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Coverage;

/// The checks an upgrade verdict rests on: the upgrade rules, consistency, certificates, and
/// the membership and quorum state a rolling restart depends on.
pub const NEEDED: &[&str] = &[
    "upgrade-path",
    "etcd-release-to-avoid",
    "v2store-in-use",
    "version-skew",
    "hash-mismatch",
    "ca-mismatch",
    "cert-expiry",
    "cert-san-mismatch",
    "cert-key-mismatch",
    "stale-member",
    "unstarted-member",
    "quorum-at-risk",
    "no-leader",
    "split-brain",
    "learner-pending",
    "alarm-active",
    "raft-lag",
];

/// The certificate checks: one missing input for all four, so it is said once.
const CERT_CHECKS: &[&str] = &["ca-mismatch", "cert-expiry", "cert-san-mismatch", "cert-key-mismatch"];

/// ready / blocked / not verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every needed check ran, every member answered, nothing worse than info.
    Ready,
    /// A finding worse than info.
    Blocked,
    /// Nothing blocks, but something the verdict needs was not read.
    NotVerified,
}

/// The verdict with its reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// ready, blocked or not-verified.
    pub status: Status,
    /// The checks whose findings block (worse than info), each once.
    pub blocked_by: Vec<String>,
    /// What was not read, and what would read it.
    pub not_verified: Vec<String>,
}

impl Verdict {
    /// `upgradeReady`: true, false, or null (not verified).
    pub fn ready(&self) -> Option<bool> {
        match self.status {
            Status::Ready => Some(true),
            Status::Blocked => Some(false),
            Status::NotVerified => None,
        }
    }

    /// The table's closing line, e.g. `UPGRADE: not verified: no certificates were read (...)`.
    pub fn line(&self) -> String {
        match self.status {
            Status::Ready => "UPGRADE: ready (every check it needs ran; no finding worse than info)".into(),
            Status::Blocked => {
                let n = self.blocked_by.len();
                let mut s = format!(
                    "UPGRADE: blocked by {} ({n} check{}); fix them first",
                    self.blocked_by.join(", "),
                    if n == 1 { "" } else { "s" }
                );
                if !self.not_verified.is_empty() {
                    s.push_str(&format!("; also not verified: {}", self.not_verified.join("; ")));
                }
                s
            }
            Status::NotVerified => format!("UPGRADE: not verified: {}", self.not_verified.join("; ")),
        }
    }
}

/// Judges readiness from the findings and which checks ran on their input.
pub fn judge(snap: &Snapshot, findings: &[Finding], cov: &Coverage) -> Verdict {
    let mut blocked_by: Vec<String> = Vec::new();
    for f in findings.iter().filter(|f| f.severity > Severity::Info) {
        if !blocked_by.contains(&f.check) {
            blocked_by.push(f.check.clone());
        }
    }
    let mut not_verified = Vec::new();
    if snap.members.is_empty() {
        not_verified.push("no member was read (give --endpoints, or a bundle with member-list.json)".to_string());
    }
    let mut certs_said = false;
    for s in cov.skipped.iter().filter(|s| NEEDED.contains(&s.id.as_str())) {
        let cert = CERT_CHECKS.contains(&s.id.as_str());
        if cert && !s.deselected {
            if !certs_said {
                not_verified.push(format!("certificates: {}", s.reason));
                certs_said = true;
            }
            continue;
        }
        not_verified.push(format!("{}: {}", s.id, s.reason));
    }
    for m in &snap.members {
        match m.status() {
            None => not_verified.push(format!(
                "{} was not reached (its version, hash and health are unknown; a client URL that answers, or a bundle with its endpoint status, would read it)",
                m.label()
            )),
            Some(s) if crate::upgrade::Version::parse(&s.version).is_none() => {
                not_verified.push(format!("{} did not report a version etcd's rules can compare ({:?})", m.label(), s.version))
            }
            Some(_) => {}
        }
    }
    let status = if !blocked_by.is_empty() {
        Status::Blocked
    } else if !not_verified.is_empty() {
        Status::NotVerified
    } else {
        Status::Ready
    };
    Verdict { status, blocked_by, not_verified }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Selection, coverage, run_all};
    use crate::testing::*;

    fn verdict(snap: &Snapshot, sel: &Selection) -> Verdict {
        judge(snap, &run_all(snap, sel), &coverage(snap, sel))
    }

    /// A 3.5.32 cluster with certificates, hashes and flags read, targeting 3.6.0.
    fn complete() -> Snapshot {
        let mut s = with_versions(&["3.5.32", "3.5.32", "3.5.32"]);
        s.audit.target_version = Some("3.6.0".into());
        s.audit.hashes = Some(
            s.members
                .iter()
                .map(|m| crate::audit_data::HashKv { member_id: m.id, revision: 10, compact_revision: 1, hash: 7 })
                .collect(),
        );
        s.etcd_pods = Some(vec![crate::model::EtcdPod {
            name: "etcd-a".into(),
            command: vec!["etcd".into()],
            ..Default::default()
        }]);
        with_certs(s, |_, _| {})
    }

    #[test]
    fn ready_only_when_everything_was_read() {
        let s = complete();
        let v = verdict(&s, &Selection::default());
        assert_eq!(v.ready(), Some(true), "{v:?}");
        assert!(v.line().starts_with("UPGRADE: ready"));
    }

    #[test]
    fn missing_certificates_and_hashes_are_named_and_make_it_null() {
        let mut s = complete();
        s.certs = None;
        s.audit.hashes = None;
        let v = verdict(&s, &Selection::default());
        assert_eq!(v.ready(), None, "{v:?}");
        let line = v.line();
        assert!(line.starts_with("UPGRADE: not verified: "), "{line}");
        assert!(line.contains("certificates: no certificates were read"), "{line}");
        assert!(
            line.contains("hash-mismatch: no HashKV was read") && line.matches("certificates:").count() == 1,
            "{line}"
        );
    }

    #[test]
    fn an_unreached_member_or_a_skipped_needed_check_is_not_verified() {
        let mut s = complete();
        s.members[2] = unprobed(3);
        let v = verdict(&s, &Selection::default());
        assert_eq!(v.ready(), None, "{v:?}");
        assert!(v.not_verified.iter().any(|n| n.contains("was not reached")), "{v:?}");
        let sel = Selection::new(&[], &["hash-mismatch".to_string()]).unwrap_or_default();
        let v = verdict(&complete(), &sel);
        assert!(v.not_verified.iter().any(|n| n.starts_with("hash-mismatch: not selected")), "{v:?}");
        // A check the verdict does not rest on may be skipped.
        let sel = Selection::new(&[], &["fragmented-db".to_string()]).unwrap_or_default();
        assert_eq!(verdict(&complete(), &sel).ready(), Some(true));
    }

    #[test]
    fn blocked_wins_over_not_verified() {
        let mut s = complete();
        s.certs = None;
        for m in &mut s.members {
            if let Some(Ok(st)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
                st.version = "3.5.16".into();
            }
        }
        let v = verdict(&s, &Selection::default());
        assert_eq!(v.ready(), Some(false), "{v:?}");
        assert!(v.line().contains("blocked by upgrade-path") && v.line().contains("also not verified"), "{}", v.line());
    }

    #[test]
    fn without_a_target_it_is_not_verified() {
        let mut s = complete();
        s.audit.target_version = None;
        let v = verdict(&s, &Selection::default());
        assert_eq!(v.ready(), None);
        assert!(v.line().contains("upgrade-path: no --target-version"), "{}", v.line());
    }
}
