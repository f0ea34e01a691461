//! The live etcd collector: the member list once, then Status of every member's client URL in
//! parallel, each bounded by dial + command timeout, so an unreachable member costs one
//! timeout, never a sum (etcdctl `endpoint status --cluster` waits 5 s per dead member, in
//! sequence). The tool's own `--endpoints` are asked in the same round, and a status is
//! credited to the member whose id is in its header, whatever URL reached it.

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use etcd_client::{Client, MemberListResponse};
use etcd_doctor_checks::endpoint::Endpoint;
use etcd_doctor_checks::{Attempt, Gap, Member, MemberId, OtherCluster, Probe, Snapshot, Source, Status};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use time::OffsetDateTime;

use super::resolve;
use super::tls::PATH_HINT;
pub use crate::etcd::grpc::Target;
use crate::etcd::grpc::members_of;

/// What one of the tool's own endpoints answered.
struct Answer {
    url: String,
    list: Result<(Client, MemberListResponse), String>,
    status: Result<Status, String>,
}

async fn ask(t: &Target, url: String) -> Answer {
    let (list, status) = tokio::join!(t.member_list(&url), t.status(&url));
    Answer { url, list: list.map_err(|e| e.to_string()), status: status.map_err(|e| e.to_string()) }
}

/// The certificate handshakes with every member, alongside the status probe (none without a
/// probe configuration).
async fn probe_certs(t: &Target, members: &[Member]) -> Vec<super::certs::Handshake> {
    match &t.probe {
        Some(p) => super::tls_probe::probe_all(p, members, t.dial, t.command).await,
        None => Vec::new(),
    }
}

/// Collects a snapshot from live etcd, and the certificates its members presented.
pub async fn collect(t: &Target) -> Result<(Snapshot, Vec<super::certs::Handshake>)> {
    let collected_at = OffsetDateTime::now_utc();
    let mut first: FuturesUnordered<_> = t.endpoints().iter().map(|u| ask(t, u.clone())).collect();
    let mut answers: Vec<Answer> = Vec::new();
    let mut winner = None;
    while let Some(a) = first.next().await {
        let ok = a.list.is_ok();
        answers.push(a);
        if ok {
            winner = Some(answers.len() - 1);
            break;
        }
    }
    let Some(w) = winner else { bail!(no_endpoint_answered(t, &answers)) };
    let mut list = match &answers[w].list {
        Ok((_, l)) => l.clone(),
        Err(_) => bail!("internal: winner without a member list"),
    };
    let mut members = members_of(&list);

    // Round two, while the rest of round one finishes: every member client URL not asked yet.
    let names = resolve::names_in(&members);
    let (mut probed, rest, (mut host_addrs, mut resolve_gaps), mut handshakes) = tokio::join!(
        probe_list(t, &members),
        first.collect::<Vec<Answer>>(),
        resolve::resolve(names, t.dial),
        probe_certs(t, &members)
    );
    answers.extend(rest);

    // Endpoints that answer for different clusters: a split brain (a wiped member that
    // bootstrapped its own cluster, kubespray#13261). Which list came first must not decide
    // what "the cluster" is: take the one with the most members, and say so.
    let mut split = Vec::new();
    let cluster_of = |l: &MemberListResponse| l.header().map(|h| h.cluster_id()).unwrap_or(0);
    let lists: Vec<&MemberListResponse> = answers.iter().filter_map(|a| a.list.as_ref().ok().map(|(_, l)| l)).collect();
    if lists.iter().any(|l| cluster_of(l) != cluster_of(&list)) {
        for a in &answers {
            if let Ok((_, l)) = &a.list {
                split.push(format!(
                    "{} answers for cluster {:x} ({} members)",
                    a.url,
                    cluster_of(l),
                    l.members().len()
                ));
            }
        }
        let best =
            lists.iter().max_by_key(|l| (l.members().len(), cluster_of(l) == cluster_of(&list))).map(|l| (*l).clone());
        if let Some(best) = best
            && cluster_of(&best) != cluster_of(&list)
        {
            list = best;
            members = members_of(&list);
            let names = resolve::names_in(&members);
            (probed, (host_addrs, resolve_gaps), handshakes) =
                tokio::join!(probe_list(t, &members), resolve::resolve(names, t.dial), probe_certs(t, &members));
        }
    }

    let mut snap = Snapshot::new(Source::Live, collected_at);
    snap.cluster_id = list.header().map(|h| MemberId(h.cluster_id()));
    snap.host_addrs = host_addrs;
    snap.gaps.extend(resolve_gaps);
    if !split.is_empty() {
        snap.gaps.push(Gap::new(
            "etcd",
            format!(
                "the endpoints answer for different clusters (split brain): {}; the one with the most members, {:x}, is diagnosed",
                split.join("; "),
                cluster_of(&list)
            ),
        ));
    }

    for a in &answers {
        if let Ok((_, l)) = &a.list
            && cluster_of(l) != cluster_of(&list)
        {
            snap.other_clusters.push(OtherCluster {
                endpoint: a.url.clone(),
                cluster_id: MemberId(cluster_of(l)),
                member_id: MemberId(l.header().map(|h| h.member_id()).unwrap_or(0)),
                members: l.members().iter().map(|m| format!("{}={}", m.name(), m.peer_urls().join(","))).collect(),
            });
        }
    }
    let mut attempts: Vec<Vec<Attempt>> = vec![Vec::new(); members.len()];
    for (i, url, result) in probed {
        credit(&members, &mut attempts, Some(i), url, result, &mut snap);
    }
    for a in answers {
        let owner = members.iter().position(|m| has_client_url(m, &a.url));
        credit(&members, &mut attempts, owner, a.url, a.status, &mut snap);
    }
    let reached_at_own_url = members
        .iter()
        .zip(&attempts)
        .any(|(m, at)| at.iter().any(|a| a.result.is_ok() && has_client_url(m, &a.endpoint)));
    for (m, at) in members.iter_mut().zip(attempts) {
        if !at.is_empty() {
            m.probe = Some(Probe { attempts: at });
        }
    }
    if !reached_at_own_url && members.iter().any(|m| !m.client_urls.is_empty()) {
        // Seen only through --endpoints (a port-forward, a load balancer): the members' own
        // URLs are not reachable from here, which says nothing about whether they are up.
        for m in members.iter_mut().filter(|m| m.reachable() != Some(true)) {
            m.probe = None;
        }
        snap.gaps.push(Gap::new(
            "etcd",
            "no member answered at its advertised client URLs, only through --endpoints; whether the others are up \
             cannot be told from here (run on a node that reaches them, e.g. a control-plane node)",
        ));
    }
    snap.members = members;
    // Every status carries the active alarms in its errors; the Alarm RPC would go through
    // raft and wait out an election when the leader is the member that hangs.
    snap.alarms = snap.alarms_from_statuses();
    Ok((snap, handshakes))
}

/// Status of every member client URL the tool's own endpoints did not already cover, in
/// parallel, each bounded.
async fn probe_list(t: &Target, members: &[Member]) -> Vec<(usize, String, Result<Status, String>)> {
    let asked: BTreeSet<Endpoint> = t.endpoints().iter().filter_map(|u| Endpoint::parse(u).ok()).collect();
    let mut to_probe: Vec<(usize, String)> = Vec::new();
    for (i, m) in members.iter().enumerate() {
        for u in &m.client_urls {
            let seen = Endpoint::parse(u).map(|e| asked.contains(&e)).unwrap_or(false);
            if !seen && !to_probe.iter().any(|(_, x)| x == u) {
                to_probe.push((i, u.clone()));
            }
        }
    }
    futures::future::join_all(to_probe.into_iter().map(|(i, u)| async move {
        let r = t.status(&u).await.map_err(|e| e.to_string());
        (i, u, r)
    }))
    .await
}

/// Files one status answer under the member it belongs to (by the id in its header).
/// A status from another cluster id is not this member answering: it is a member whose data
/// was wiped and that bootstrapped a new cluster with `--initial-cluster-state new` at the
/// same address (kubespray#13261), which silently splits the brain.
fn credit(
    members: &[Member],
    attempts: &mut [Vec<Attempt>],
    asked_for: Option<usize>,
    url: String,
    result: Result<Status, String>,
    snap: &mut Snapshot,
) {
    let cluster = snap.cluster_id;
    let (gaps, others) = (&mut snap.gaps, &mut snap.other_clusters);
    let result = match result {
        Ok(s) if cluster.is_some() && s.cluster_id.is_some() && s.cluster_id != cluster => {
            if let Some(c) = s.cluster_id
                && !others.iter().any(|o| o.endpoint == url)
            {
                others.push(OtherCluster {
                    endpoint: url.clone(),
                    cluster_id: c,
                    member_id: s.member_id,
                    members: Vec::new(),
                });
            }
            let msg = format!(
                "answers as member {} of another cluster {} (this cluster is {}): its data was wiped and it bootstrapped a new cluster",
                s.member_id,
                s.cluster_id.map(|c| c.to_string()).unwrap_or_default(),
                cluster.map(|c| c.to_string()).unwrap_or_default()
            );
            gaps.push(Gap::new("etcd", format!("{url} {msg}")));
            Err(msg)
        }
        other => other,
    };
    match result {
        Ok(s) => match members.iter().position(|m| m.id == s.member_id) {
            Some(j) => {
                if let Some(i) = asked_for.filter(|i| *i != j) {
                    let msg = format!("answered as member {} ({}), not as this member", s.member_id, members[j].name);
                    attempts[i].push(Attempt { endpoint: url.clone(), result: Err(msg) });
                }
                attempts[j].push(Attempt { endpoint: url, result: Ok(s) });
            }
            None => gaps.push(Gap::new(
                "etcd",
                format!("{url} answered as member {}, which is not in the member list", s.member_id),
            )),
        },
        Err(e) => match asked_for {
            Some(i) => attempts[i].push(Attempt { endpoint: url, result: Err(e) }),
            None => gaps.push(Gap::new("etcd", format!("{url} did not answer: {e}"))),
        },
    }
}

fn has_client_url(m: &Member, url: &str) -> bool {
    let Ok(e) = Endpoint::parse(url) else { return false };
    m.client_urls.iter().any(|u| Endpoint::parse(u).is_ok_and(|x| x == e))
}

/// "no etcd endpoint answered", each endpoint with its error, plus what to do.
fn no_endpoint_answered(t: &Target, answers: &[Answer]) -> String {
    let mut msg = String::from("no etcd endpoint answered:");
    let mut all = String::new();
    for a in answers {
        let e = a.list.as_ref().err().cloned().unwrap_or_default();
        msg.push_str(&format!("\n  {}: {e}", a.url));
        all.push_str(&e);
    }
    let ca = t.ca_path().map(|p| p.display().to_string()).unwrap_or_default();
    if all.contains("UnknownIssuer") || all.contains("unknown authority") || all.contains("BadSignature") {
        msg.push_str(&format!(
            "\nThe CA in --cacert {ca} did not sign the etcd server's certificate: pass the etcd CA, not the \
             Kubernetes one ({PATH_HINT})"
        ));
    } else if all.contains("NotValidForName") || all.contains("not valid for") {
        msg.push_str("\nThe server's certificate does not name the address dialled: use an address from its SANs");
    } else if all.contains("CertificateRequired")
        || all.contains("certificate required")
        || all.contains("bad certificate")
    {
        msg.push_str(&format!("\netcd wants a client certificate it trusts: pass --cert and --key ({PATH_HINT})"));
    } else if all.contains("deadline") || all.contains("no answer within") {
        msg.push_str(&format!(
            "\nNothing answered within --dial-timeout {:?} + --command-timeout {:?}: check the address, a firewall, \
             or raise the timeouts",
            t.dial, t.command
        ));
    }
    msg
}
