//! The live etcd collector: the member list once, then Status of every member's client URL in
//! parallel, each bounded by dial + command timeout, so an unreachable member costs one
//! timeout, never a sum (etcdctl `endpoint status --cluster` waits 5 s per dead member, in
//! sequence). The tool's own `--endpoints` are asked in the same round, and a status is
//! credited to the member whose id is in its header, whatever URL reached it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use etcd_client::{Client, MemberListResponse};
use etcd_doctor_checks::endpoint::Endpoint;
use etcd_doctor_checks::evidence::{Failure, PeerReach};
use etcd_doctor_checks::{
    id::MemberId,
    model::{Attempt, Gap, Member, OtherCluster, Probe, Snapshot, Source, Status},
};
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
    let (list, status) = tokio::join!(t.member_list(&url), probe_status(t, &url));
    Answer { url, list: list.map_err(|e| e.to_string()), status }
}

/// Status of one endpoint, with a bare TCP connect to the same address beside it, so a
/// failure says how it failed: refused, unreachable, or hung (TCP accepted, TLS or gRPC never
/// answered). Both run at once: this costs no more time than the status alone.
pub async fn probe_status(t: &Target, url: &str) -> Result<Status, String> {
    let (status, tcp) = tokio::join!(t.status(url), super::tls_probe::tcp_reach(url, t.dial));
    status.map_err(|e| failure_line(e.to_string(), tcp))
}

/// The status error, prefixed with what the TCP connect found when that tells more. The
/// words are those `Failure::classify` reads ("hung:", "connection refused", "i/o timeout").
fn failure_line(err: String, tcp: Option<super::tls_probe::TcpReach>) -> String {
    use super::tls_probe::TcpReach;
    let class = Failure::classify(&err);
    match tcp {
        None => err,
        Some(TcpReach::Accepted) => {
            let timed_out = ["deadline", "within", "timed out", "timeout", "elapsed"]
                .iter()
                .any(|k| err.to_ascii_lowercase().contains(k));
            if class == Failure::Unknown && timed_out {
                format!("hung: TCP accepted, but TLS or gRPC did not answer: {err}")
            } else {
                err
            }
        }
        Some(TcpReach::Failed(line)) => match class {
            // The status got further than the bare connect did (a race, a backlog): its word wins.
            Failure::Tls | Failure::Answered | Failure::Hung => err,
            c if c == Failure::classify(&line) => err,
            _ => format!("{line}; {err}"),
        },
    }
}

/// The certificate handshakes with every member (none without a probe configuration), and
/// every member's peer listeners dialled, reusing those handshakes; beside the status probe.
async fn probe_transport(t: &Target, members: &[Member]) -> (Vec<super::certs::Handshake>, PeerDials) {
    let handshakes = match &t.probe {
        Some(p) => super::tls_probe::probe_all(p, members, t.dial, t.command).await,
        None => Vec::new(),
    };
    let peers = super::tls_probe::peer_reach(&handshakes, members, t.dial, t.command).await;
    (handshakes, peers)
}

/// Per member, what dialling its peer URLs found.
type PeerDials = Vec<Option<Vec<PeerReach>>>;

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
    let (mut probed, rest, mut resolved, (mut handshakes, mut peers)) = tokio::join!(
        probe_list(t, &members),
        first.collect::<Vec<Answer>>(),
        resolve::resolve(names, t.dial),
        probe_transport(t, &members)
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
            (probed, resolved, (handshakes, peers)) =
                tokio::join!(probe_list(t, &members), resolve::resolve(names, t.dial), probe_transport(t, &members));
        }
    }

    let mut snap = Snapshot::new(Source::Live, collected_at);
    snap.cluster_id = list.header().map(|h| MemberId(h.cluster_id()));
    snap.host_addrs = resolved.addrs;
    snap.gaps.extend(resolved.gaps);
    snap.unresolvable_hosts = resolved.nxdomain;
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
    snap.election_wait_ms = relook_elections(t, &members, &mut attempts, &peers).await;
    for (m, p) in members.iter_mut().zip(peers) {
        m.peer_probe = p;
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
        let r = probe_status(t, &u).await;
        (i, u, r)
    }))
    .await
}

/// How long to look again at voters that answered without a leader: a few election timeouts
/// (etcd's default is 1 s), so an election in progress is seen to end instead of being read
/// as quorum loss.
const ELECTION_WAIT: Duration = Duration::from_secs(3);
/// How often to look again within it.
const RELOOK_EVERY: Duration = Duration::from_millis(250);

/// The URL to ask voter `i` again at, when it answered without a leader, or follows a leader
/// that refused at every client URL and whose peer listener did not answer either (killed a
/// moment ago: its followers notice only after an election timeout). A hung leader is not
/// waited for: its followers still count as up, and a paused process may resume.
fn relook_url(members: &[Member], attempts: &[Vec<Attempt>], peers: &PeerDials, i: usize) -> Option<String> {
    if members[i].is_learner {
        return None;
    }
    let (url, s) = attempts[i].iter().rev().find_map(|a| a.result.as_ref().ok().map(|s| (&a.endpoint, s)))?;
    let Some(leader) = s.leader else { return Some(url.clone()) };
    let j = members.iter().position(|m| m.id == leader)?;
    let failed = |a: &Attempt| a.result.as_ref().err().is_some_and(|e| Failure::classify(e) == Failure::Refused);
    let dead_client = !attempts[j].is_empty() && attempts[j].iter().all(failed);
    let peer_answers = peers.get(j).and_then(Option::as_ref).is_some_and(|p| p.iter().any(|r| r.result.is_ok()));
    (dead_client && !peer_answers).then(|| url.clone())
}

/// Looks again, within [`ELECTION_WAIT`], at the voters [`relook_url`] picks, until each
/// follows a leader that answers; a newer status replaces the older one. Returns how long it
/// waited (`None`: no voter needed it).
async fn relook_elections(
    t: &Target,
    members: &[Member],
    attempts: &mut [Vec<Attempt>],
    peers: &PeerDials,
) -> Option<u64> {
    let pick = |attempts: &[Vec<Attempt>]| -> Vec<(usize, String)> {
        (0..members.len()).filter_map(|i| relook_url(members, attempts, peers, i).map(|u| (i, u))).collect()
    };
    let mut pending = pick(attempts);
    if pending.is_empty() {
        return None;
    }
    let started = Instant::now();
    while !pending.is_empty() && started.elapsed() < ELECTION_WAIT {
        tokio::time::sleep(RELOOK_EVERY).await;
        let left = ELECTION_WAIT.saturating_sub(started.elapsed()).max(RELOOK_EVERY);
        let answers = futures::future::join_all(
            pending.iter().map(|(_, u)| async move { tokio::time::timeout(left, t.status(u)).await }),
        )
        .await;
        for ((i, url), r) in pending.iter().zip(answers) {
            // Only a fresh answer from the same member replaces what it said; a failure now
            // (it was just asked successfully) is not more telling than that answer.
            if let Ok(Ok(s)) = r
                && s.member_id == members[*i].id
                && let Some(a) = attempts[*i].iter_mut().find(|a| a.endpoint == *url)
            {
                a.result = Ok(s);
            }
        }
        pending = pick(attempts);
    }
    Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX))
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
    } else if all.contains("onnection refused") {
        msg.push_str(
            "\nNothing listens there: check the addresses and the port (etcd's client port is usually 2379), \
             or run `sudo kubectl etcd-doctor --local` on an etcd node",
        );
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::failure_line;
    use crate::collect::tls_probe::TcpReach;
    use etcd_doctor_checks::evidence::Failure;

    #[test]
    fn a_status_failure_reads_as_refused_unreachable_or_hung_from_the_tcp_connect_beside_it() {
        let timeout = "no connection within --dial-timeout 1s (context deadline exceeded)".to_string();
        let hung = failure_line(timeout.clone(), Some(TcpReach::Accepted));
        assert_eq!(Failure::classify(&hung), Failure::Hung);
        assert!(hung.starts_with("hung:") && hung.ends_with(&timeout), "{hung}");
        let refused = failure_line(
            timeout.clone(),
            Some(TcpReach::Failed("dial tcp 10.0.0.3:2379: Connection refused (os error 111)".into())),
        );
        assert_eq!(Failure::classify(&refused), Failure::Refused, "{refused}");
        let unreachable = failure_line(
            timeout.clone(),
            Some(TcpReach::Failed("dial tcp 10.0.0.3:2379: i/o timeout (no TCP connection within 1s)".into())),
        );
        assert_eq!(Failure::classify(&unreachable), Failure::Unreachable, "{unreachable}");
        // What the status itself says better is kept as it is.
        for (err, class) in [
            ("invalid peer certificate: UnknownIssuer", Failure::Tls),
            ("etcdserver: rpc not supported for learner", Failure::Answered),
            ("tcp connect error: Connection refused (os error 111)", Failure::Refused),
        ] {
            let line = failure_line(err.to_string(), Some(TcpReach::Accepted));
            assert_eq!((line.as_str(), Failure::classify(&line)), (err, class));
        }
        assert_eq!(failure_line(timeout.clone(), None), timeout);
    }
}
