//! `etcd-release-to-avoid`: members running a release etcd tells users to leave (3.5.0-3.5.2
//! can corrupt data under load, etcd#13766; below the production minimum 3.4.22 / 3.5.6; 3.4
//! out of support), and a `--target-version` that is such a release. Runs without a target.

use std::collections::BTreeMap;

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;
use crate::upgrade::{self, Version, knowledge};

declare_check! {
    /// A release etcd's changelog tells users not to run.
    EtcdReleaseToAvoid, "etcd-release-to-avoid", Severity::Critical, "0.2.0",
    "Members run (or the upgrade targets) an etcd release etcd tells users to avoid"
}

impl Check for EtcdReleaseToAvoid {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        // One finding per release, naming its members.
        let mut by_version: BTreeMap<Version, Vec<String>> = BTreeMap::new();
        for r in upgrade::running(snap) {
            by_version.entry(r.version).or_default().push(r.member.label());
        }
        let mut out = Vec::new();
        // "Out of support" (info) is upgrade advice: said when an upgrade is being judged.
        let judging_upgrade = snap.audit.target_version.is_some();
        for (v, members) in &by_version {
            let Some(row) = knowledge::avoid(*v) else { continue };
            if row.severity == Severity::Info && !judging_upgrade {
                continue;
            }
            let verb = if members.len() == 1 { "runs" } else { "run" };
            let f = Finding::new(
                Self::INFO.id,
                row.severity,
                format!("etcd {v}"),
                format!("{} {verb} etcd {v}: {}; go to {}", members.join(", "), row.why, row.instead),
            )
            .with("version", v.to_string())
            .with("members", members)
            .with("source", row.source);
            // Info (3.4 out of support) is worth knowing, not a plan step.
            out.push(if row.severity == Severity::Info {
                f
            } else {
                f.remedy(Remedy::Manual {
                    description: format!(
                        "upgrade to {}: one member at a time (followers first, the leader last), after a snapshot",
                        row.instead
                    ),
                    commands: vec![
                        "etcdctl snapshot save backup.db".into(),
                        "kubectl etcd-doctor plan restart   # the order: followers first, the leader last".into(),
                    ],
                })
            });
        }
        if let Some(Ok(t)) = upgrade::snapshot_target(snap)
            && let Some(te) = t.etcd
            && let Some(row) = knowledge::avoid(te).filter(|r| r.severity >= Severity::Warning)
        {
            out.push(
                Finding::new(
                    Self::INFO.id,
                    row.severity,
                    "target version",
                    format!("the upgrade targets etcd {te}: {}; target {} instead", row.why, row.instead),
                )
                .with("target", &t)
                .with("source", row.source),
            );
        }
        out
    }

    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        upgrade::versions_missing(snap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::with_versions;

    #[test]
    fn a_3_5_1_cluster_is_critical_once_naming_every_member() {
        let f = EtcdReleaseToAvoid.run(&with_versions(&["3.5.1", "3.5.1", "3.5.1"]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("data inconsistency") && f[0].message.contains("etcd#13766"), "{f:?}");
        assert_eq!(f[0].evidence["members"].as_array().map(Vec::len), Some(3));
        assert!(f[0].evidence["source"]["url"].as_str().is_some_and(|u| u.contains("CHANGELOG")));
    }

    #[test]
    fn production_minimums_warn_and_supported_releases_stay_silent() {
        let sev =
            |vs: &[&str]| EtcdReleaseToAvoid.run(&with_versions(vs)).iter().map(|f| f.severity).collect::<Vec<_>>();
        assert_eq!(sev(&["3.5.5"]), vec![Severity::Warning]);
        assert_eq!(sev(&["3.4.20"]), vec![Severity::Warning]);
        assert!(sev(&["3.4.23"]).is_empty(), "out of support is said only when an upgrade is judged");
        let mut s = with_versions(&["3.4.23"]);
        s.audit.target_version = Some("3.5.21".into());
        let f = EtcdReleaseToAvoid.run(&s);
        assert_eq!(f.iter().map(|f| f.severity).collect::<Vec<_>>(), vec![Severity::Info], "{f:?}");
        assert!(sev(&["3.5.21", "3.6.5"]).is_empty());
    }

    #[test]
    fn a_target_to_avoid_is_named_and_missing_versions_are_not_a_pass() {
        let mut snap = with_versions(&["3.4.33"]);
        snap.audit.target_version = Some("3.5.2".into());
        let f = EtcdReleaseToAvoid.run(&snap);
        assert!(f.iter().any(|f| f.subject == "target version" && f.severity == Severity::Critical), "{f:?}");
        let none = crate::testing::cluster(&[crate::testing::down(1)]);
        assert!(EtcdReleaseToAvoid.missing_input(&none).is_some());
    }
}
