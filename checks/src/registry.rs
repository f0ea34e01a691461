//! The one list of checks. It drives `checks`, `explain`, `--checks`/`--skip` and the
//! meta-test; ids are forever: a retired id moves to `RETIRED` and is never reused.

use crate::checks;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;

/// What a check is: its stable id, title, the worst severity it raises, and its docs page.
#[derive(Debug)]
pub struct CheckInfo {
    /// Stable kebab-case id, e.g. `stale-member`.
    pub id: &'static str,
    /// One line.
    pub title: &'static str,
    /// The worst severity it can raise.
    pub severity: Severity,
    /// The etcd-doctor version that introduced it.
    pub since: &'static str,
    /// Its docs page (`docs/checks/<id>.md`), compiled in.
    pub docs: &'static str,
}

/// What `declare_check!` implements for a check: its declaration.
pub trait Declared {
    /// Its declaration.
    fn info(&self) -> &'static CheckInfo;
}

/// A check: a pure function of the snapshot, declared with [`crate::declare_check!`].
pub trait Check: Declared + Sync {
    /// Judges the snapshot. Never does I/O; says "could not decide" (info) when its data is
    /// missing instead of raising a false alarm.
    fn run(&self, snap: &Snapshot) -> Vec<Finding>;

    /// What this check needs and the snapshot lacks (e.g. "no certificates were read"): then
    /// it could not run, and a clean result from it would prove nothing. `None` = it ran on
    /// what it needs. Reports list such checks as skipped with this reason, never as passed.
    fn missing_input(&self, _snap: &Snapshot) -> Option<String> {
        None
    }
}

/// Declares a check's [`CheckInfo`] and implements [`Declared`] for it, pulling in
/// `docs/checks/<id>.md` so a check without its docs page does not compile. The check then
/// implements only [`Check::run`].
#[macro_export]
macro_rules! declare_check {
    ($(#[$meta:meta])* $name:ident, $id:literal, $severity:expr, $since:literal, $title:literal) => {
        $(#[$meta])*
        pub struct $name;
        impl $name {
            /// The declaration of this check.
            pub const INFO: $crate::registry::CheckInfo = $crate::registry::CheckInfo {
                id: $id,
                title: $title,
                severity: $severity,
                since: $since,
                docs: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/checks/", $id, ".md")),
            };
        }
        impl $crate::registry::Declared for $name {
            fn info(&self) -> &'static $crate::registry::CheckInfo {
                &Self::INFO
            }
        }
    };
}

/// Every check, in the order they are listed.
pub static ALL: &[&dyn Check] = &[
    &checks::stale_member::StaleMember,
    &checks::unstarted_member::UnstartedMember,
    &checks::duplicate_peer_url::DuplicatePeerUrl,
    &checks::invalid_member_url::InvalidMemberUrl,
    &checks::quorum_at_risk::QuorumAtRisk,
    &checks::client_url_unreachable::ClientUrlUnreachable,
    &checks::learner_pending::LearnerPending,
    &checks::join_endpoint_not_apiserver::JoinEndpointNotApiserver,
    &checks::split_brain::SplitBrain,
    &checks::version_skew::VersionSkew,
    &checks::alarm_active::AlarmActive,
    &checks::db_near_quota::DbNearQuota,
    &checks::fragmented_db::FragmentedDb,
    &checks::no_leader::NoLeader,
    &checks::raft_lag::RaftLag,
    &checks::hash_mismatch::HashMismatch,
    &checks::restart_wave::RestartWave,
    &checks::ca_mismatch::CaMismatch,
    &checks::cert_san_mismatch::CertSanMismatch,
    &checks::cert_expiry::CertExpiry,
    &checks::cert_key_mismatch::CertKeyMismatch,
    &checks::upgrade_path::UpgradePath,
    &checks::etcd_release_to_avoid::EtcdReleaseToAvoid,
    &checks::v2store_in_use::V2storeInUse,
];

/// Ids that existed once and must never be reused, with what replaced them.
pub(crate) static RETIRED: &[(&str, &str)] = &[];

/// The check with this id.
pub fn find(id: &str) -> Option<&'static dyn Check> {
    ALL.iter().copied().find(|c| c.info().id == id)
}

/// Which checks to run (`--checks` / `--skip`).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    only: Vec<String>,
    skip: Vec<String>,
}

/// A `--checks` / `--skip` list named an id that does not exist.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectionError {
    /// Not an id of any check, ever.
    #[error("unknown check id {id:?}{hint}; `kubectl etcd-doctor checks` lists them")]
    Unknown {
        /// The id given.
        id: String,
        /// ", did you mean …?" or empty.
        hint: String,
    },
    /// An id that was retired.
    #[error("check {id:?} was retired: {why}")]
    Retired {
        /// The id given.
        id: String,
        /// What replaced it.
        why: String,
    },
}

impl Selection {
    /// Validates the ids; empty `only` means every check.
    pub fn new(only: &[String], skip: &[String]) -> Result<Self, SelectionError> {
        for id in only.iter().chain(skip) {
            validate(id)?;
        }
        Ok(Selection { only: only.to_vec(), skip: skip.to_vec() })
    }

    /// Whether the check with this id runs.
    pub(crate) fn includes(&self, id: &str) -> bool {
        (self.only.is_empty() || self.only.iter().any(|o| o == id)) && !self.skip.iter().any(|s| s == id)
    }
}

/// The known id a mistyped one most likely meant: a prefix or part of one (`stale`), else the
/// closest by edit distance (`stale-memebr`, `quorum-at-rsk`), within a third of its length.
fn suggest(id: &str) -> Option<&'static str> {
    let id = id.trim().to_ascii_lowercase();
    if id.is_empty() {
        return None;
    }
    let known: Vec<&'static str> = ALL.iter().map(|c| c.info().id).collect();
    if let Some(k) = known.iter().find(|k| k.contains(id.as_str()) || id.contains(**k)) {
        return Some(k);
    }
    known
        .into_iter()
        .map(|k| (edit_distance(&id, k), k))
        .filter(|(d, k)| *d <= (k.len().max(id.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance (ids are short: a two-row table is plenty).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn validate(id: &str) -> Result<(), SelectionError> {
    if find(id).is_some() {
        return Ok(());
    }
    if let Some((_, why)) = RETIRED.iter().find(|(r, _)| *r == id) {
        return Err(SelectionError::Retired { id: id.to_string(), why: why.to_string() });
    }
    let hint = suggest(id).map(|k| format!(", did you mean {k:?}?")).unwrap_or_default();
    Err(SelectionError::Unknown { id: id.to_string(), hint })
}

/// Runs the selected checks; findings come out worst first, then by check id and subject.
pub fn run_all(snap: &Snapshot, sel: &Selection) -> Vec<Finding> {
    let mut out: Vec<Finding> = ALL.iter().filter(|c| sel.includes(c.info().id)).flat_map(|c| c.run(snap)).collect();
    out.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.check.cmp(&b.check)).then_with(|| a.subject.cmp(&b.subject))
    });
    out
}

/// Why a selected-or-not check produced no verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedCheck {
    /// The check id.
    pub id: String,
    /// In words: "not selected (--skip)", or what it needed and did not get.
    pub reason: String,
    /// `true` when the operator deselected it (`--checks` / `--skip`), `false` when its input
    /// was missing.
    pub deselected: bool,
}

/// Which checks ran and which did not, and why: what a verdict can rest on.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// Ids of the checks that ran on the input they need, in registry order.
    pub ran: Vec<String>,
    /// The others, in registry order.
    pub skipped: Vec<SkippedCheck>,
}

impl Coverage {
    /// Whether the check with this id ran on its input.
    pub fn ran(&self, id: &str) -> bool {
        self.ran.iter().any(|r| r == id)
    }
}

/// Which of the checks ran on `snap` under `sel`, and why the others did not.
pub fn coverage(snap: &Snapshot, sel: &Selection) -> Coverage {
    let mut cov = Coverage::default();
    for c in ALL {
        let id = c.info().id;
        if !sel.includes(id) {
            let why = if sel.only.is_empty() { "not selected (--skip)" } else { "not selected (--checks)" };
            cov.skipped.push(SkippedCheck { id: id.to_string(), reason: why.to_string(), deselected: true });
        } else if let Some(reason) = c.missing_input(snap) {
            cov.skipped.push(SkippedCheck { id: id.to_string(), reason, deselected: false });
        } else {
            cov.ran.push(id.to_string());
        }
    }
    cov
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_never_retired() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ALL {
            let id = c.info().id;
            assert!(seen.insert(id), "duplicate id {id}");
            // Lowercase words and digits (`v2store-in-use`), starting with a letter.
            let kebab = id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && id.starts_with(|c: char| c.is_ascii_lowercase());
            assert!(kebab, "{id} is not kebab-case");
            assert!(!RETIRED.iter().any(|(r, _)| *r == id), "{id} is retired");
        }
    }

    #[test]
    fn selection_rejects_unknown_ids_with_a_hint() {
        let err = Selection::new(&["stale".to_string()], &[]).err();
        assert!(matches!(&err, Some(SelectionError::Unknown { hint, .. }) if hint.contains("stale-member")), "{err:?}");
        // Typos are matched by edit distance; something unlike any id gets no guess.
        for (typo, meant) in
            [("stale-memebr", "stale-member"), ("quorum-at-rsk", "quorum-at-risk"), ("Stale", "stale-member")]
        {
            let err = Selection::new(&[typo.to_string()], &[]).err();
            assert!(
                matches!(&err, Some(SelectionError::Unknown { hint, .. }) if hint.contains(meant)),
                "{typo}: {err:?}"
            );
        }
        let err = Selection::new(&["zzzzzzzzzzzzzz".to_string()], &[]).err();
        assert!(matches!(&err, Some(SelectionError::Unknown { hint, .. }) if hint.is_empty()), "{err:?}");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let sel = Selection::new(&[], &["stale-member".to_string()]).ok();
        assert!(sel.is_some_and(|s| !s.includes("stale-member") && s.includes("unstarted-member")));
    }

    #[test]
    fn coverage_names_deselected_checks_and_checks_without_their_input() {
        let snap = crate::testing::cluster(&[
            crate::testing::healthy(1),
            crate::testing::healthy(2),
            crate::testing::healthy(3),
        ]);
        let sel = Selection::new(&[], &["stale-member".to_string()]).unwrap_or_default();
        let cov = coverage(&snap, &sel);
        let skipped = |id: &str| cov.skipped.iter().find(|s| s.id == id).cloned();
        assert!(skipped("stale-member").is_some_and(|s| s.deselected && s.reason.contains("--skip")), "{cov:?}");
        // A healthy test snapshot has no HashKV and no certificates: those checks did not run.
        assert!(skipped("hash-mismatch").is_some_and(|s| !s.deselected), "{cov:?}");
        assert!(skipped("ca-mismatch").is_some_and(|s| !s.deselected), "{cov:?}");
        assert!(cov.ran("unstarted-member") && !cov.ran("stale-member"));
        assert_eq!(cov.ran.len() + cov.skipped.len(), ALL.len());
    }
}
