//! `fragmented-db`: a database file much larger than the data in it. Compaction frees pages
//! inside the file but never shrinks it; only `defrag` does. A fragmented file counts fully
//! against the quota and slows snapshots and member joins.

use super::{defrag_commands, member_evidence, subject};
use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

/// Files smaller than this are not worth a defrag.
pub(crate) const MIN_BYTES: i64 = 100 << 20;
/// In use below this share of the file: fragmented.
pub(crate) const IN_USE_PERCENT: i64 = 50;

declare_check! {
    /// db size far above db size in use.
    FragmentedDb, "fragmented-db", Severity::Warning, "0.1.0",
    "A member's database file is mostly free pages: defragment it"
}

impl Check for FragmentedDb {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_status_field(snap, |s| s.db_size_in_use.is_some(), "the database size in use")
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        snap.members
            .iter()
            .filter_map(|m| {
                let s = m.status()?;
                let in_use = s.db_size_in_use?;
                if s.db_size < MIN_BYTES || in_use.saturating_mul(100) >= s.db_size.saturating_mul(IN_USE_PERCENT) {
                    return None;
                }
                let free = s.db_size - in_use;
                Some(
                    Finding::new(
                        Self::INFO.id,
                        Severity::Warning,
                        subject(m),
                        format!(
                            "{}: database file {} MiB holds {} MiB of data; {} MiB would be returned by a defrag",
                            m.label(),
                            s.db_size >> 20,
                            in_use >> 20,
                            free >> 20
                        ),
                    )
                    .member(m.id, m.node.as_deref())
                    .with("member", member_evidence(m))
                    .with("dbSizeBytes", s.db_size)
                    .with("dbSizeInUseBytes", in_use)
                    .remedy(Remedy::Manual {
                        description: "defragment one member at a time, followers first and the leader last (a defrag blocks that member for its duration)".into(),
                        commands: defrag_commands(snap),
                    }),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn large_and_mostly_free_is_flagged_with_one_ordered_plan() {
        let mut snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        assert!(FragmentedDb.run(&snap).is_empty());
        for (i, m) in snap.members.iter_mut().enumerate() {
            if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
                s.db_size = 900 << 20;
                s.db_size_in_use = Some(if i == 2 { 800 << 20 } else { 200 << 20 });
            }
        }
        let f = FragmentedDb.run(&snap);
        assert_eq!(f.len(), 2);
        let plan = crate::plan::plan(&snap, &f);
        assert_eq!(plan.steps.len(), 1, "one merged manual step: {plan:?}");
        let cmds = &plan.steps[0].commands;
        let leader_url = &snap.members[0].client_urls[0];
        assert!(cmds.last().is_some_and(|c| c.contains(leader_url)), "leader last: {cmds:?}");
    }
}
