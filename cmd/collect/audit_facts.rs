//! The audit's extra reads, after the statuses: every answering member's `/metrics` page (on
//! its client URL; process start time, backend quota) and, for `audit`, HashKV at one revision.
//! All in parallel and bounded like the status probes; what fails is a gap, never an error.

use std::collections::BTreeMap;

use etcd_doctor_checks::audit_data::{HashKv, Metrics};
use etcd_doctor_checks::{
    id::MemberId,
    model::{Gap, Snapshot},
};
use url::Url;

use super::etcd::Target;

/// The URL each answering member answered on.
fn answered(snap: &Snapshot) -> Vec<(MemberId, String)> {
    snap.members
        .iter()
        .filter_map(|m| {
            let a = m.probe.as_ref()?.attempts.iter().find(|a| a.result.is_ok())?;
            Some((m.id, a.endpoint.clone()))
        })
        .collect()
}

/// Reads every answering member's metrics into `snap.audit.metrics`.
pub async fn metrics(t: &Target, snap: &mut Snapshot) {
    let tls = match t.https_client() {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            snap.gaps.push(Gap::new("metrics", format!("cannot set up TLS for /metrics: {e:#}")));
            return;
        }
        None => None,
    };
    let budget = t.budget();
    let asks = answered(snap);
    let results = futures::future::join_all(asks.iter().map(|(_, u)| {
        let tls = tls.clone();
        async move {
            let url = Url::parse(u).map_err(|e| e.to_string())?;
            // A metrics page is tens to hundreds of KiB; 16 MiB bounds a misbehaving one.
            let get = super::api_probe::get(&url, "/metrics", tls.as_ref(), 16 << 20);
            match tokio::time::timeout(budget, get).await {
                Err(_) => Err(format!("no answer within {budget:?}")),
                Ok(Err(e)) => Err(crate::collect::error_line(e.as_ref())),
                Ok(Ok((200, body))) => Ok(Metrics::parse(&String::from_utf8_lossy(&body))),
                Ok(Ok((status, _))) => Err(format!("HTTP {status}")),
            }
        }
    }))
    .await;
    let mut failed = Vec::new();
    for ((id, url), r) in asks.into_iter().zip(results) {
        match r {
            Ok(m) => {
                snap.audit.metrics.insert(id, m);
            }
            Err(e) => failed.push(format!("{url}: {e}")),
        }
    }
    if !failed.is_empty() {
        snap.gaps.push(Gap::new(
            "metrics",
            format!("/metrics not read (restart-wave and the quota metric cannot use them): {}", failed.join("; ")),
        ));
    }
}

/// The revision every answering member has reached: the lowest current one.
fn common_revision(snap: &Snapshot) -> Option<i64> {
    snap.members.iter().filter_map(|m| m.status()?.revision).filter(|r| *r > 0).min()
}

/// HashKV of every answering member at one revision into `snap.audit.hashes`.
pub async fn hashes(t: &Target, snap: &mut Snapshot) {
    let Some(rev) = common_revision(snap) else {
        snap.gaps.push(Gap::new("hashkv", "no member reported a revision: data hashes not compared"));
        return;
    };
    let budget = t.budget();
    let asks = answered(snap);
    let results = futures::future::join_all(asks.iter().map(|(id, u)| async move {
        let fut = async {
            let mut c = t.client(u).await.map_err(|e| e.to_string())?;
            let r = c.hash_kv(rev).await.map_err(|e| crate::collect::etcd_error_line(&e))?;
            Ok::<HashKv, String>(HashKv {
                member_id: r.header().map(|h| MemberId(h.member_id())).unwrap_or(*id),
                revision: rev,
                compact_revision: r.compact_version(),
                hash: r.hash(),
            })
        };
        tokio::time::timeout(budget * 3, fut)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", budget * 3)))
    }))
    .await;
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for ((_, url), r) in asks.into_iter().zip(results) {
        match r {
            Ok(h) => out.push(h),
            Err(e) => failed.push(format!("{url}: {e}")),
        }
    }
    if !failed.is_empty() {
        snap.gaps.push(Gap::new("hashkv", format!("HashKV at revision {rev} failed: {}", failed.join("; "))));
    }
    snap.audit.hashes = Some(out);
}

/// Metrics pages by member id, from a bundle's `metrics/<member name>.prom` files.
pub fn metrics_from_dir(dir: &std::path::Path, snap: &mut Snapshot) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut found: BTreeMap<MemberId, Metrics> = BTreeMap::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let p = e.with_context(|| format!("cannot read {}", dir.display()))?.path();
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else { continue };
        let Some(m) = snap.members.iter().find(|m| !m.name.is_empty() && m.name == stem) else {
            snap.gaps.push(Gap::new("bundle", format!("{}: no member is named {stem}", p.display())));
            continue;
        };
        let text = super::limits::read(&p, &super::limits::METRICS)?;
        found.insert(m.id, Metrics::parse(&text));
    }
    snap.audit.metrics.extend(found);
    Ok(())
}
