//! The exec route's collector: the member list, then every member's status, each through its
//! own `etcdctl` exec in the etcd pod, all at once, so one dead member costs one timeout. The
//! client itself lives in `crate::etcd::exec`; this only reads.

use std::path::Path;

use anyhow::{Context, Result, bail};
use etcd_doctor_checks::model::{Attempt, Gap, Probe, Snapshot, Source};
use time::OffsetDateTime;

use crate::etcd::EtcdError;
use crate::etcd::etcdctl_json::members_into;
pub use crate::etcd::exec::ExecTarget;

impl ExecTarget {
    /// A snapshot: the member list, then every member's status, each through its own exec.
    pub async fn collect(&self) -> Result<Snapshot> {
        let collected_at = OffsetDateTime::now_utc();
        let ml = self.member_list_json(&self.url).await?;
        let mut snap = Snapshot::new(Source::Live, collected_at);
        members_into(&ml, Path::new(&format!("etcdctl member list (pod {})", self.pod)), &mut snap)
            .context("reading etcdctl's member list")?;
        let asks: Vec<(usize, String)> = snap
            .members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.client_urls.iter().map(move |u| (i, u.clone())))
            .collect();
        // Only what etcdctl itself answered is an attempt; a failed or stalled exec proves
        // nothing about the member (etcdctl's own timeouts end it before ours).
        let results = futures::future::join_all(asks.iter().map(|(_, u)| async {
            match self.status(u).await {
                Ok(s) => Ok(Ok(s)),
                Err(e @ (EtcdError::Exec { .. } | EtcdError::Timeout(_))) => Err(e.to_string()),
                Err(e) => Ok(Err(e.to_string())),
            }
        }))
        .await;
        let mut attempts: Vec<Vec<Attempt>> = vec![Vec::new(); snap.members.len()];
        let mut not_asked = Vec::new();
        for ((i, url), r) in asks.into_iter().zip(results) {
            // Only what etcdctl itself answered is an attempt; a failed exec proves nothing
            // about the member, which stays unknown unless another URL of it was asked.
            let r = match r {
                Err(e) => {
                    not_asked.push(format!("{url} ({e})"));
                    continue;
                }
                Ok(r) => r,
            };
            let r = match r {
                Ok(s) if snap.members[i].id != s.member_id => {
                    Err(format!("answered as member {}, not {}", s.member_id, snap.members[i].id))
                }
                other => other,
            };
            attempts[i].push(Attempt { endpoint: url, result: r });
        }
        for (m, at) in snap.members.iter_mut().zip(attempts) {
            if !at.is_empty() {
                m.probe = Some(Probe { attempts: at });
            }
        }
        snap.gaps.push(Gap::new(
            "etcd",
            format!("reached through the Kubernetes API: etcdctl in pod kube-system/{} (exec)", self.pod),
        ));
        if !not_asked.is_empty() {
            snap.gaps.push(Gap::new(
                "etcd",
                format!(
                    "the exec into pod {} failed, so these client URLs were not asked (their members stay unknown): {}",
                    self.pod,
                    not_asked.join("; ")
                ),
            ));
        }
        if snap.members.is_empty() {
            bail!("etcdctl in pod {} listed no members", self.pod);
        }
        Ok(snap)
    }
}
