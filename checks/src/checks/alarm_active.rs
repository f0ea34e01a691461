//! `alarm-active`: an alarm raised in the cluster. NOSPACE means the backend hit its quota and
//! the cluster accepts only reads and deletes; CORRUPT means a member's data differs from the
//! others (found by the corruption check) and the cluster refuses writes.

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// NOSPACE or CORRUPT raised.
    AlarmActive, "alarm-active", Severity::Critical, "0.1.0",
    "An etcd alarm (NOSPACE, CORRUPT) is active"
}

impl Check for AlarmActive {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        // Alarms are read from the statuses' errors (gather): without a status none could be seen.
        if !snap.alarms.is_empty() {
            return None;
        }
        super::no_status(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        snap.alarms
            .iter()
            .map(|a| {
                let m = snap.member(a.member_id);
                let who = m.map(|m| m.label()).unwrap_or_else(|| a.member_id.to_string());
                let (why, commands) = match a.alarm.as_str() {
                    "NOSPACE" => (
                        "the backend reached its quota: the cluster serves reads and deletes but refuses every write (Kubernetes cannot update anything)",
                        vec![
                            "etcdctl endpoint status -w table --cluster            # revision and db size".into(),
                            "etcdctl compact <current revision>                     # drop old revisions".into(),
                            "etcdctl defrag --endpoints <one member at a time, the leader last>".into(),
                            "etcdctl alarm disarm".into(),
                        ],
                    ),
                    "CORRUPT" => (
                        "a member's data differs from the others: the cluster refuses writes until the corrupt member is replaced",
                        vec![
                            "kubectl etcd-doctor audit            # hash-mismatch names the member whose data differs".into(),
                            "# remove that member, wipe its data dir, add it back as a learner (plan add-member)".into(),
                            "etcdctl alarm disarm".into(),
                        ],
                    ),
                    _ => ("etcd raised an alarm", vec!["etcdctl alarm list".into()]),
                };
                let mut f = Finding::new(
                    Self::INFO.id,
                    Severity::Critical,
                    format!("alarm {} on {who}", a.alarm),
                    format!("alarm {} is active on {who}: {why}", a.alarm),
                )
                .with("alarm", &a.alarm)
                .with("memberID", a.member_id)
                .remedy(Remedy::Manual { description: format!("clear the {} alarm", a.alarm), commands });
                if let Some(m) = m {
                    f = f.member(m.id, m.node.as_deref());
                }
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Alarm;
    use crate::testing::*;

    #[test]
    fn each_alarm_is_critical_with_its_own_way_out() {
        let mut snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        assert!(AlarmActive.run(&snap).is_empty());
        snap.alarms = vec![
            Alarm { member_id: snap.members[0].id, alarm: "NOSPACE".into() },
            Alarm { member_id: snap.members[2].id, alarm: "CORRUPT".into() },
        ];
        let f = AlarmActive.run(&snap);
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.severity == Severity::Critical));
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual") };
        assert!(commands.iter().any(|c| c.contains("defrag")) && commands.iter().any(|c| c.contains("alarm disarm")));
        assert_eq!(f[1].member_id, Some(snap.members[2].id));
    }
}
