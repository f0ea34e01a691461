//! `db-near-quota`: a member's database file approaches the backend quota. At the quota etcd
//! raises NOSPACE and refuses writes cluster-wide. The quota is, in order: `--quota-bytes`,
//! the member's `etcd_server_quota_backend_bytes` metric, the quota its status reports (3.6),
//! else etcd's default of 2 GiB.

use super::{defrag_commands, member_evidence, subject};
use crate::audit_data::DEFAULT_QUOTA_BYTES;
use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

/// At or above this share of the quota: warning.
pub(crate) const WARN_PERCENT: i64 = 75;
/// At or above this share: critical (NOSPACE is near; compaction and defrag take time).
pub(crate) const CRITICAL_PERCENT: i64 = 90;

declare_check! {
    /// The db size against the backend quota.
    DbNearQuota, "db-near-quota", Severity::Critical, "0.1.0",
    "A member's database is close to the backend quota"
}

impl Check for DbNearQuota {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_status(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        snap.members
            .iter()
            .filter_map(|m| {
                let s = m.status()?;
                let (quota, from) = if let Some(q) = snap.audit.quota_bytes {
                    (q, "--quota-bytes")
                } else if let Some(q) = snap.audit.metrics.get(&m.id).and_then(|x| x.quota_backend_bytes) {
                    (q, "etcd_server_quota_backend_bytes")
                } else if let Some(q) = s.db_size_quota {
                    (q, "endpoint status dbSizeQuota")
                } else {
                    (DEFAULT_QUOTA_BYTES, "etcd's default (2 GiB); pass --quota-bytes if yours differs")
                };
                if quota <= 0 {
                    return None;
                }
                let pct = s.db_size.saturating_mul(100) / quota;
                let severity = match pct {
                    p if p >= CRITICAL_PERCENT => Severity::Critical,
                    p if p >= WARN_PERCENT => Severity::Warning,
                    _ => return None,
                };
                let in_use = s.db_size_in_use.map(|u| format!(" ({} MiB in use)", u >> 20)).unwrap_or_default();
                Some(
                    Finding::new(
                        Self::INFO.id,
                        severity,
                        subject(m),
                        format!(
                            "{}: database {} MiB{in_use} is {pct}% of the {} MiB quota ({from}); at 100% etcd raises NOSPACE and refuses all writes",
                            m.label(),
                            s.db_size >> 20,
                            quota >> 20
                        ),
                    )
                    .member(m.id, m.node.as_deref())
                    .with("member", member_evidence(m))
                    .with("dbSizeBytes", s.db_size)
                    .with("dbSizeInUseBytes", s.db_size_in_use)
                    .with("quotaBytes", quota)
                    .with("quotaFrom", from)
                    .with("percent", pct)
                    .remedy(Remedy::Manual {
                        description: "compact old revisions, then defragment one member at a time, the leader last; raise --quota-backend-bytes (up to 8 GiB) if the data really grew".into(),
                        commands: [vec!["etcdctl compact $(etcdctl endpoint status -w json | grep -o '\"revision\":[0-9]*' | head -1 | cut -d: -f2)".to_string()], defrag_commands(snap)].concat(),
                    }),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_data::Metrics;
    use crate::testing::*;

    fn sized(bytes: i64) -> Snapshot {
        let mut snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        for m in &mut snap.members {
            if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
                s.db_size = bytes;
            }
        }
        snap
    }

    #[test]
    fn thresholds_against_the_default_quota_the_metric_and_the_flag() {
        assert!(DbNearQuota.run(&sized(1 << 30)).is_empty(), "50% is fine");
        let f = DbNearQuota.run(&sized(1_700_000_000));
        assert_eq!((f.len(), f[0].severity), (3, Severity::Warning));
        assert_eq!(DbNearQuota.run(&sized(2_000_000_000))[0].severity, Severity::Critical);
        let mut snap = sized(2_000_000_000);
        let id = snap.members[0].id;
        snap.audit.metrics.insert(id, Metrics { quota_backend_bytes: Some(8 << 30), ..Default::default() });
        let f = DbNearQuota.run(&snap);
        assert_eq!(f.len(), 2, "member 1 has an 8 GiB quota: {f:?}");
        snap.audit.quota_bytes = Some(8 << 30);
        assert!(DbNearQuota.run(&snap).is_empty());
    }
}
