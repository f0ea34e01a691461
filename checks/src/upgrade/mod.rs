//! Upgrade knowledge: etcd's published upgrade rules and known-bad releases ([`knowledge`]),
//! which etcd each Kubernetes distribution ships ([`distros`]), `--target-version` resolution
//! ([`target`]) and the honest pre-upgrade verdict ([`verdict`]).
//!
//! For `plan upgrade` and `apply` gates:
//! - [`target::resolve`]`(input, distribution) -> Result<Target, TargetError>`: the etcd an
//!   upgrade goes to (exact, or only its minor line) and how that was decided, with the source;
//!   unknown (`Target::known() == false`) for versions outside the cited map.
//! - [`blockers`]`(snap, &target) -> Vec<Finding>`: what etcd's rules say must be fixed before
//!   upgrading this cluster to `target` (skipped minor, minimum patch, releases to avoid,
//!   v2store), findings of severity warning or worse, each citing its source.
//! - [`verdict::judge`]: `UPGRADE: ready | blocked | not verified` from findings and coverage.

pub mod distros;
pub mod knowledge;
pub mod target;
pub mod verdict;
pub mod version;

use crate::finding::{Finding, Severity};
use crate::model::{Member, Snapshot};
use crate::registry::Check;

pub use target::{Target, TargetError, resolve};
pub use version::Version;

/// The target of `snap.audit.target_version`, resolved against the detected distribution;
/// `None` when no target was given.
pub fn snapshot_target(snap: &Snapshot) -> Option<Result<Target, TargetError>> {
    let input = snap.audit.target_version.as_deref()?;
    Some(resolve(input, crate::detect::distribution(snap).map(|d| d.0)))
}

/// A member that answered with a version etcd's rules can compare.
pub(crate) struct Running<'a> {
    pub member: &'a Member,
    pub raw: String,
    pub version: Version,
}

/// Members whose status carries a parseable version.
pub(crate) fn running(snap: &Snapshot) -> Vec<Running<'_>> {
    snap.members
        .iter()
        .filter_map(|m| {
            let raw = m.status()?.version.clone();
            Some(Running { member: m, version: Version::parse(&raw)?, raw })
        })
        .collect()
}

/// "no member reported its version" when none did.
pub(crate) fn versions_missing(snap: &Snapshot) -> Option<String> {
    running(snap).is_empty().then(|| {
        "no member reported its etcd version (none answered endpoint status; a bundle needs endpoint-status.json)"
            .to_string()
    })
}

/// What etcd's published rules say blocks upgrading `snap` to `target`: the upgrade checks run
/// with that target, findings of severity warning or worse.
pub fn blockers(snap: &Snapshot, target: &Target) -> Vec<Finding> {
    let mut s = snap.clone();
    s.audit.target_version = Some(target.input.clone());
    let checks: [&dyn Check; 3] = [
        &crate::checks::upgrade_path::UpgradePath,
        &crate::checks::etcd_release_to_avoid::EtcdReleaseToAvoid,
        &crate::checks::v2store_in_use::V2storeInUse,
    ];
    checks.iter().flat_map(|c| c.run(&s)).filter(|f| f.severity >= Severity::Warning).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::with_versions;

    #[test]
    fn blockers_of_a_3_5_16_cluster_going_to_3_6_name_the_minimum_patch() {
        let snap = with_versions(&["3.5.16", "3.5.16", "3.5.16"]);
        let t = resolve("3.6.0", None).expect("target");
        let b = blockers(&snap, &t);
        assert_eq!(b.len(), 3, "{b:?}");
        assert!(b.iter().all(|f| f.check == "upgrade-path" && f.severity == Severity::Critical), "{b:?}");
        assert!(b[0].message.contains("3.5.20") && b[0].message.contains("too many learner member"), "{b:?}");
        let ok = with_versions(&["3.5.32", "3.5.32", "3.5.32"]);
        assert!(blockers(&ok, &t).is_empty());
    }
}
