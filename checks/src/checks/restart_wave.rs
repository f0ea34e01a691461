//! `restart-wave`: more voters restarted at the same moment than the cluster can lose — the
//! Kubespray incident seen after the fact: a "reload" handler that restarts every member at
//! once takes the cluster below quorum until enough are back. Read from each member's
//! `process_start_time_seconds` metric.
//!
//! What the data shows, and what is inferred: a start time says when a process started, not
//! when the one before it stopped or when the new one counted for quorum again. A member is
//! down from the moment it stops until some time after its process starts (it reopens its data
//! and reconnects to its peers; etcd 3.4 with a small store answered health 0.14-0.29 s after
//! starting, measured on loopback). So a group of starts closer together than that come-back
//! time were down at one moment, whatever their stop times; starts further apart may be a
//! correct rolling restart (each member back before the next stops) and prove nothing. The
//! come-back time is `--restart-window` (1 s by default: a rolling restart that waits for each
//! member to be healthy, across machines, spaces starts further apart; members replaying a large
//! WAL take longer, so raise it for them). Host clocks and the metric's whole-second boot time
//! add about a second of doubt between machines, so the overlap is never proven from start
//! times alone: the message says "most likely", never "quorum was lost".

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::quorum::quorum_of;
use crate::registry::Check;

/// How long a restarted member is assumed to need before it counts for quorum again, unless
/// `--restart-window` says otherwise: starts closer together than this overlapped.
pub const DEFAULT_WINDOW_SECS: u64 = 1;
/// Below this store revision there is too little history to tell a restart from a bootstrap.
pub(crate) const MIN_REVISION: i64 = 100;

declare_check! {
    /// Start times bunched together.
    RestartWave, "restart-wave", Severity::Warning, "0.1.0",
    "More voters were restarted at once than the cluster can lose"
}

impl Check for RestartWave {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        // Process start times come only from the members' /metrics pages.
        let started = snap.audit.metrics.values().filter(|x| x.process_start_time.is_some()).count();
        if snap.audit.metrics.is_empty() {
            return Some(
                "no metrics were read (live runs read each member's /metrics; a bundle needs metrics/)".into(),
            );
        }
        (started < 2).then(|| format!("process start times were read from {started} member(s); 2 are needed"))
    }

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
        let quorum = quorum_of(voters);
        // How many voters may be down at one moment with the rest still a quorum.
        let tolerance = voters.saturating_sub(quorum);
        // One restart is no wave, even where it costs quorum (2 voters: quorum-at-risk says so).
        if voters < 2 || starts.len() < 2 || starts.len() <= tolerance {
            return Vec::new();
        }
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        // The largest group of starts closer together than the come-back time: all of them
        // were down at the moment the last of them started.
        let (mut best, mut at) = (0usize, 0usize);
        let mut lo = 0;
        for hi in 0..starts.len() {
            while starts[hi].0 - starts[lo].0 >= window {
                lo += 1;
            }
            if hi - lo + 1 > best {
                best = hi - lo + 1;
                at = lo;
            }
        }
        if best < 2 || best <= tolerance {
            return Vec::new();
        }
        let wave = &starts[at..at + best];
        let spread = wave.last().map(|w| w.0).unwrap_or(0.0) - wave[0].0;
        let when = time::OffsetDateTime::from_unix_timestamp(wave[0].0 as i64)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        let names: Vec<String> = wave.iter().map(|w| w.1.clone()).collect();
        let can_lose = match tolerance {
            0 => "the cluster cannot lose any voter".to_string(),
            1 => "the cluster can lose 1 voter".to_string(),
            n => format!("the cluster can lose {n} voters"),
        };
        vec![
            Finding::new(
                Self::INFO.id,
                Severity::Warning,
                "cluster",
                format!(
                    "{best} of {voters} voters ({}) started within {spread:.1} s of each other at {when}, closer than a restarted member needs to count again (--restart-window {window:.0} s), while {can_lose} (quorum {quorum}): most likely they were restarted together, and then the cluster had no quorum until enough were back. Inferred from process start times (each host's clock, to about a second), not seen: a restart one member at a time that waits for each to be healthy does not look like this",
                    names.join(", ")
                ),
            )
            .with("members", &names)
            .with("startTimes", wave.iter().map(|w| w.0).collect::<Vec<f64>>())
            .with("firstStart", &when)
            .with("spreadSeconds", spread)
            .with("windowSeconds", window)
            .with("voters", voters)
            .with("faultTolerance", tolerance)
            .with("inferred", "overlap inferred from start times closer than --restart-window; stop times are not known")
            .remedy(Remedy::Manual {
                description: "find what restarted them together (a config-management handler, a node reboot wave) and make it restart one member at a time, waiting for each to be healthy".into(),
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
    fn more_voters_started_together_than_the_cluster_can_lose_is_a_wave() {
        let f = RestartWave.run(&started(&[1_763_980_000.0, 1_763_980_000.4, 1_763_980_000.7]));
        assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
        let m = &f[0].message;
        assert!(m.contains("3 of 3 voters") && m.contains("Inferred") && m.contains("most likely"), "{m}");
        assert!(!m.contains("quorum was lost") && !m.contains("lost quorum"), "never claimed as seen: {m}");
        // Four voters can lose one: two restarted together cut quorum.
        assert_eq!(RestartWave.run(&started(&[0.0, 0.5, 4000.0, 9000.0])).len(), 1);
        // Five voters can lose two: two together is survivable, three is not.
        assert!(RestartWave.run(&started(&[0.0, 0.5, 4000.0, 9000.0, 15000.0])).is_empty());
        assert_eq!(RestartWave.run(&started(&[0.0, 0.3, 0.6, 9000.0, 15000.0])).len(), 1);
        // Started together and applied every write since: the bootstrap, not a restart.
        assert!(RestartWave.run(&started_with(&[0.0, 0.1, 0.2], 249_999)).is_empty());
    }

    #[test]
    fn a_rolling_restart_one_member_at_a_time_is_silent() {
        // Issue 10: members restarted ~6 s apart, each back before the next stopped.
        assert!(RestartWave.run(&started(&[1_763_980_000.0, 1_763_980_006.1, 1_763_980_012.3])).is_empty());
        assert!(RestartWave.run(&started(&[0.0, 6.0, 12.0, 18.0, 24.0])).is_empty());
        assert!(RestartWave.run(&started(&[0.0, 3600.0, 7200.0])).is_empty());
        // Starts exactly one window apart are not closer than it.
        assert!(RestartWave.run(&started(&[0.0, 1.0, 2.0])).is_empty());
    }

    #[test]
    fn a_longer_come_back_time_widens_the_window() {
        // Members that replay a large WAL take longer to count again: the operator says so.
        let mut snap = started(&[0.0, 10.0, 20.0]);
        assert!(RestartWave.run(&snap).is_empty());
        snap.audit.restart_window_secs = Some(30);
        let f = RestartWave.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("--restart-window 30 s"), "{}", f[0].message);
    }
}
