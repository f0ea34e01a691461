//! `version-skew`: members on different etcd versions. etcd supports rolling upgrades one minor
//! at a time (3.4 → 3.5 → 3.6); a mixed cluster runs at the lowest version's cluster version
//! until every member is upgraded. The target of an upgrade is judged by `upgrade-path`.

use super::version_of;
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// Mixed versions (an unfinished rolling upgrade or downgrade).
    VersionSkew, "version-skew", Severity::Warning, "0.1.0",
    "Members run different etcd versions"
}

impl Check for VersionSkew {
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
        out
    }

    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        crate::upgrade::versions_missing(snap)
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
    fn the_target_is_left_to_upgrade_path() {
        let mut snap = with_versions(&["3.4.23", "3.4.23", "3.4.23"]);
        snap.audit.target_version = Some("3.6.6".into());
        assert!(VersionSkew.run(&snap).is_empty());
    }
}
