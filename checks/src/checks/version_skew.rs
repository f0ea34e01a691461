//! `version-skew`: members on different etcd versions, or an upgrade (`--target-version`) that
//! skips a minor version. etcd supports rolling upgrades one minor at a time (3.4 → 3.5 → 3.6);
//! a mixed cluster runs at the lowest version's cluster version until every member is upgraded.

use super::version_of;
use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// Mixed versions, or a planned upgrade that skips a minor.
    VersionSkew, "version-skew", Severity::Critical, "0.1.0",
    "Members run different etcd versions, or the target version skips a minor"
}

impl Check for VersionSkew {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_status(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let running: Vec<(String, String, (u64, u64, u64))> = snap
            .members
            .iter()
            .filter_map(|m| {
                let s = m.status()?;
                Some((m.label(), s.version.clone(), version_of(&s.version)?))
            })
            .collect();
        let mut out = Vec::new();
        let mut minors: Vec<(u64, u64)> = running.iter().map(|(_, _, v)| (v.0, v.1)).collect();
        minors.sort();
        minors.dedup();
        let mut versions: Vec<&str> = running.iter().map(|(_, v, _)| v.as_str()).collect();
        versions.sort();
        versions.dedup();
        let by_member: Vec<String> = running.iter().map(|(m, v, _)| format!("{m}: {v}")).collect();
        if minors.len() > 1 {
            out.push(
                Finding::new(
                    Self::INFO.id,
                    Severity::Warning,
                    "cluster",
                    format!(
                        "members run different minor versions ({}): a rolling upgrade or downgrade is unfinished; finish it one member at a time before any other change",
                        versions.join(", ")
                    ),
                )
                .with("versions", &by_member),
            );
        } else if versions.len() > 1 {
            out.push(
                Finding::new(
                    Self::INFO.id,
                    Severity::Info,
                    "cluster",
                    format!("members run different patch releases ({})", versions.join(", ")),
                )
                .with("versions", &by_member),
            );
        }
        let Some(target) = snap.audit.target_version.as_deref() else { return out };
        let Some(t) = version_of(target) else {
            out.push(Finding::new(
                Self::INFO.id,
                Severity::Info,
                "cluster",
                format!("could not decide: --target-version {target:?} is not a version like 3.5.17"),
            ));
            return out;
        };
        for (label, v, cur) in &running {
            let (severity, what) = if t.0 != cur.0 {
                (Severity::Critical, format!("a major version change ({v} → {target}) is not a rolling upgrade"))
            } else if t.1 > cur.1 + 1 {
                let next = format!("{}.{}", cur.0, cur.1 + 1);
                (
                    Severity::Critical,
                    format!(
                        "upgrading {v} → {target} skips {next}: etcd upgrades one minor version at a time; go to the latest {next}.x first"
                    ),
                )
            } else if (t.1, t.2) < (cur.1, cur.2) {
                (
                    Severity::Warning,
                    format!(
                        "{target} is older than {v}: that is a downgrade (etcd 3.5+: etcdctl downgrade enable first; before 3.5 not supported)"
                    ),
                )
            } else {
                continue;
            };
            out.push(
                Finding::new(Self::INFO.id, severity, label.clone(), format!("{label}: {what}"))
                    .with("version", v)
                    .with("targetVersion", target)
                    .remedy(Remedy::Manual {
                        description: format!("plan the upgrade of {label} in one-minor steps, one member at a time"),
                        commands: vec![
                            "kubectl etcd-doctor plan restart   # the order: followers first, the leader last".into(),
                        ],
                    }),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn with_versions(vs: &[&str]) -> Snapshot {
        let members: Vec<_> = (1..=vs.len() as u64).map(healthy).collect();
        let mut snap = cluster(&members);
        for (m, v) in snap.members.iter_mut().zip(vs) {
            if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
                s.version = v.to_string();
            }
        }
        snap
    }

    #[test]
    fn mixed_minors_warn_and_patches_inform() {
        let f = VersionSkew.run(&with_versions(&["3.4.23", "3.5.16", "3.5.16"]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        let f = VersionSkew.run(&with_versions(&["3.5.15", "3.5.16", "3.5.16"]));
        assert_eq!(f[0].severity, Severity::Info);
        assert!(VersionSkew.run(&with_versions(&["3.5.16", "3.5.16", "3.5.16"])).is_empty());
    }

    #[test]
    fn a_target_that_skips_a_minor_is_critical() {
        let mut snap = with_versions(&["3.4.23", "3.4.23", "3.4.23"]);
        snap.audit.target_version = Some("3.6.6".into());
        let f = VersionSkew.run(&snap);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| f.severity == Severity::Critical && f.message.contains("skips 3.5")), "{f:?}");
        snap.audit.target_version = Some("v3.5.17".into());
        assert!(VersionSkew.run(&snap).is_empty());
        snap.audit.target_version = Some("3.4.1".into());
        assert_eq!(VersionSkew.run(&snap)[0].severity, Severity::Warning);
        snap.audit.target_version = Some("latest".into());
        assert_eq!(VersionSkew.run(&snap)[0].severity, Severity::Info);
    }
}
