//! `hash-mismatch`: members whose key-value store hashes differ at one revision (HashKV). etcd
//! replicates a log, so equal revisions must hash equally; a difference is data corruption or
//! a member that applied something else (a bad restore, a disk fault). Asked by `audit`.

use std::collections::BTreeMap;

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// HashKV differs at one revision.
    HashMismatch, "hash-mismatch", Severity::Critical, "0.1.0",
    "Members' data differs at the same revision (HashKV)"
}

impl Check for HashMismatch {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        snap.audit
            .hashes
            .is_none()
            .then(|| "no HashKV was read: `audit` asks each member for it (a bundle needs hashkv.json)".to_string())
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let Some(hashes) = &snap.audit.hashes else { return Vec::new() };
        // Only hashes over the same revision and compaction are comparable.
        let mut groups: BTreeMap<(i64, i64), Vec<_>> = BTreeMap::new();
        for h in hashes {
            groups.entry((h.revision, h.compact_revision)).or_default().push(h);
        }
        let mut out = Vec::new();
        for ((rev, compact), hs) in groups {
            let mut by_hash: BTreeMap<u32, Vec<String>> = BTreeMap::new();
            for h in &hs {
                let label = snap.member(h.member_id).map(|m| m.label()).unwrap_or_else(|| h.member_id.to_string());
                by_hash.entry(h.hash).or_default().push(label);
            }
            if by_hash.len() < 2 {
                continue;
            }
            // The biggest group is most likely right; name the others.
            let majority = by_hash.values().map(Vec::len).max().unwrap_or(0);
            let odd: Vec<String> = by_hash.values().filter(|v| v.len() < majority).flatten().cloned().collect();
            let detail: Vec<String> = by_hash.iter().map(|(h, ms)| format!("{h:08x}: {}", ms.join(", "))).collect();
            let suspects = if odd.is_empty() { "no majority".to_string() } else { odd.join(", ") };
            out.push(
                Finding::new(
                    Self::INFO.id,
                    Severity::Critical,
                    "cluster",
                    format!(
                        "at revision {rev} (compacted at {compact}) the members' data hashes differ ({}): data is inconsistent; suspect {suspects}",
                        detail.join("; ")
                    ),
                )
                .with("revision", rev)
                .with("compactRevision", compact)
                .with("hashes", &detail)
                .with("suspects", &odd)
                .remedy(Remedy::Manual {
                    description: "snapshot the majority side, then replace each suspect member: remove it, wipe its data dir, add it back as a learner".into(),
                    commands: vec![
                        "etcdctl --endpoints <a majority member> snapshot save /var/backups/etcd-before-repair.db".into(),
                        "etcdctl endpoint hashkv --cluster -w table   # confirm which members differ".into(),
                        "kubectl etcd-doctor plan add-member --name <name> --peer-url <url>   # after removing and wiping a suspect".into(),
                    ],
                }),
            );
        }
        let revisions: std::collections::BTreeSet<i64> = hashes.iter().map(|h| h.revision).collect();
        if out.is_empty() && hashes.len() > 1 && revisions.len() == hashes.len() {
            out.push(Finding::new(
                Self::INFO.id,
                Severity::Info,
                "cluster",
                "could not compare data hashes: every member answered at a different revision (writes while asking)",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_data::HashKv;
    use crate::testing::*;

    fn hashed(hs: &[(i64, u32)]) -> Snapshot {
        let members: Vec<_> = (1..=hs.len() as u64).map(healthy).collect();
        let mut snap = cluster(&members);
        snap.audit.hashes = Some(
            snap.members
                .iter()
                .zip(hs)
                .map(|(m, (rev, h))| HashKv { member_id: m.id, revision: *rev, compact_revision: 10, hash: *h })
                .collect(),
        );
        snap
    }

    #[test]
    fn a_minority_hash_at_one_revision_is_named() {
        assert!(HashMismatch.run(&hashed(&[(100, 7), (100, 7), (100, 7)])).is_empty());
        let snap = hashed(&[(100, 7), (100, 7), (100, 9)]);
        let f = HashMismatch.run(&snap);
        assert_eq!((f.len(), f[0].severity), (1, Severity::Critical));
        assert_eq!(f[0].evidence["suspects"], serde_json::json!([snap.members[2].label()]));
        // Different revisions are not compared.
        let f = HashMismatch.run(&hashed(&[(100, 7), (101, 8), (102, 9)]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Info));
        assert!(HashMismatch.run(&cluster(&[healthy(1)])).is_empty(), "not asked: silent");
    }
}
