//! `restart-wave`: voters whose etcd processes all started within one short window — the
//! Kubespray incident seen after the fact: a "reload" handler that restarts every member at
//! once takes the cluster below quorum for that moment. Read from each member's
//! `process_start_time_seconds` metric.

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::quorum::quorum_of;
use crate::registry::Check;

/// Starts this close together count as one wave unless `--restart-window` says otherwise.
pub(crate) const DEFAULT_WINDOW_SECS: u64 = 120;
/// Below this store revision there is too little history to tell a restart from a bootstrap.
pub(crate) const MIN_REVISION: i64 = 100;

declare_check! {
    /// Start times bunched together.
    RestartWave, "restart-wave", Severity::Warning, "0.1.0",
    "A quorum of members was restarted at the same time"
}

impl Check for RestartWave {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let window = snap.audit.restart_window_secs.unwrap_or(DEFAULT_WINDOW_SECS) as f64;
        let voters = snap.members.iter().filter(|m| !m.is_learner).count();
        // A cluster bootstraps with every member started at once; a member counts only if its
        // process started on existing data: it applied far fewer writes since it started than
        // the store holds (etcd_mvcc_put_total + delete_total against the revision).
        let revision = snap.members.iter().filter_map(|m| m.status()?.revision).max().unwrap_or(0);
        let mut starts: Vec<(f64, String)> = snap
            .members
            .iter()
            .filter(|m| !m.is_learner)
            .filter_map(|m| {
                let x = snap.audit.metrics.get(&m.id)?;
                let writes = x.writes_since_start?;
                let on_existing_data = revision >= MIN_REVISION && (writes as i64).saturating_mul(2) < revision;
                on_existing_data.then_some((x.process_start_time?, m.label()))
            })
            .filter(|(t, _)| t.is_finite())
            .collect();
        if voters < 2 || starts.len() < 2 {
            return Vec::new();
        }
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The largest set of starts within one window.
        let (mut best, mut at) = (0usize, 0usize);
        let mut lo = 0;
        for hi in 0..starts.len() {
            while starts[hi].0 - starts[lo].0 > window {
                lo += 1;
            }
            if hi - lo + 1 > best {
                best = hi - lo + 1;
                at = lo;
            }
        }
        let quorum = quorum_of(voters);
        if best < quorum {
            return Vec::new();
        }
        let wave = &starts[at..at + best];
        let spread = wave.last().map(|w| w.0).unwrap_or(0.0) - wave[0].0;
        let when = time::OffsetDateTime::from_unix_timestamp(wave[0].0 as i64)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        let names: Vec<String> = wave.iter().map(|w| w.1.clone()).collect();
        vec![
            Finding::new(
                Self::INFO.id,
                Severity::Warning,
                "cluster",
                format!(
                    "{best} of {voters} voters (quorum {quorum}) started within {spread:.0} s of each other at {when}: they were restarted together, and the cluster had no quorum while they were down (the Kubespray scale-up incident); restart one member at a time"
                ),
            )
            .with("members", &names)
            .with("firstStart", &when)
            .with("spreadSeconds", spread)
            .with("windowSeconds", window)
            .remedy(Remedy::Manual {
                description: "find what restarted them together (a config-management handler, a node reboot wave) and make it restart one member at a time".into(),
                commands: vec!["kubectl etcd-doctor plan restart   # the safe order: followers first, the leader last".into()],
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_data::Metrics;
    use crate::testing::*;

    /// Members started at `ts`, each having applied `writes` since, in a store at revision 250000.
    fn started_with(ts: &[f64], writes: u64) -> Snapshot {
        let members: Vec<_> = (1..=ts.len() as u64).map(healthy).collect();
        let mut snap = cluster(&members);
        for m in &mut snap.members {
            if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
                s.revision = Some(250_000);
            }
        }
        for (m, t) in snap.members.clone().iter().zip(ts) {
            let x = Metrics { process_start_time: Some(*t), writes_since_start: Some(writes), ..Default::default() };
            snap.audit.metrics.insert(m.id, x);
        }
        snap
    }

    fn started(ts: &[f64]) -> Snapshot {
        started_with(ts, 420)
    }

    #[test]
    fn a_quorum_started_together_is_a_wave() {
        let f = RestartWave.run(&started(&[1_763_980_000.0, 1_763_980_004.5, 1_763_980_009.0]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
        assert!(f[0].message.contains("3 of 3 voters"), "{}", f[0].message);
        // Two of five within a minute: below quorum, a normal rolling restart.
        assert!(RestartWave.run(&started(&[0.0, 30.0, 4000.0, 9000.0, 15000.0])).is_empty());
        // Three of five within two minutes: a quorum went down at once.
        assert_eq!(RestartWave.run(&started(&[0.0, 30.0, 100.0, 9000.0, 15000.0])).len(), 1);
        assert!(RestartWave.run(&started(&[0.0, 3600.0, 7200.0])).is_empty());
        // Started together and applied every write since: the bootstrap, not a restart.
        assert!(RestartWave.run(&started_with(&[0.0, 1.0, 2.0], 249_999)).is_empty());
    }
}
