//! The live etcd collector: the member list once, then Status of every member's client URL in
//! parallel, each bounded by dial + command timeout, so an unreachable member costs one
//! timeout, never a sum (etcdctl `endpoint status --cluster` waits 5 s per dead member, in
//! sequence). The tool's own `--endpoints` are asked in the same round, and a status is
//! credited to the member whose id is in its header, whatever URL reached it.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Result, bail};
use etcd_client::{Client, ConnectOptions, MemberListResponse};
use etcd_doctor_checks::endpoint::Endpoint;
use etcd_doctor_checks::{
    id::MemberId,
    model::{Attempt, Gap, Member, OtherCluster, Probe, Snapshot, Source, Status},
};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use time::OffsetDateTime;

use super::etcd_error_line as error_line;
use super::resolve;
use super::tls::{PATH_HINT, TlsFiles};

/// How to reach etcd: validated endpoints, TLS files and timeouts.
#[derive(Debug, Clone)]
pub struct Target {
    endpoints: Vec<String>,
    tls: TlsFiles,
    /// Connection timeout per endpoint.
    pub dial: Duration,
    /// Request timeout per RPC once connected.
    pub command: Duration,
    /// What the certificate probe trusts and offers; no probe when `None`.
    pub probe: Option<std::sync::Arc<super::tls_probe::ProbeTls>>,
}

impl Target {
    /// Checks the endpoints (scheme present, https has a CA) before anything is dialled.
    pub fn new(endpoints: &[String], tls: TlsFiles, dial: Duration, command: Duration) -> Result<Self> {
        let endpoints: Vec<String> = endpoints.iter().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
        if endpoints.is_empty() {
            bail!(
                "no etcd endpoint given: pass --endpoints https://<member IP>:2379 with --cacert, --cert and --key \
                 (or set ETCDCTL_ENDPOINTS), or read a captured bundle with --bundle DIR"
            );
        }
        for e in &endpoints {
            let ep = Endpoint::parse(e).map_err(|err| anyhow::anyhow!("--endpoints: {err}"))?;
            match ep.scheme.as_str() {
                "https" if !tls.has_ca() => bail!(
                    "--endpoints {e} uses https but no --cacert was given; TLS verification is always on, so pass \
                     the CA that signed the etcd server certificates ({PATH_HINT})"
                ),
                "http" | "https" => {}
                other => bail!("--endpoints {e}: scheme {other}:// is not supported; use https:// or http://"),
            }
        }
        Ok(Target { endpoints, tls, dial, command, probe: None })
    }

    /// The endpoints as given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A rustls client with the same CA and identity, for plain HTTPS (metrics pages).
    pub fn https_client(&self) -> Option<Result<super::api_probe::ProbeTls>> {
        self.tls.https_client()
    }

    /// The longest one probe may take.
    pub fn budget(&self) -> Duration {
        self.dial + self.command
    }

    /// A connected client for one endpoint. The connection (TCP, TLS handshake, HTTP/2) is made
    /// eagerly within `--dial-timeout`, as etcdctl's dial is: a SIGSTOPped or overloaded member
    /// accepts TCP but never finishes the handshake, and must cost the dial timeout only.
    /// TLS only for https URLs (a cluster may mix them during a migration).
    pub async fn client(&self, url: &str) -> Result<Client, String> {
        let mut ep = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(|e| error_line(&etcd_client::Error::TransportError(e)))?
            .connect_timeout(self.dial)
            .timeout(self.command);
        if url.to_ascii_lowercase().starts_with("https://") {
            ep = ep.tls_config(self.tls.options()).map_err(|e| error_line(&etcd_client::Error::TransportError(e)))?;
        }
        let channel = match tokio::time::timeout(self.dial, ep.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(error_line(&etcd_client::Error::TransportError(e))),
            Err(_) => {
                return Err(format!("no connection within --dial-timeout {:?} (context deadline exceeded)", self.dial));
            }
        };
        let opts = ConnectOptions::new().with_timeout(self.command);
        Client::from_channel(etcd_client::Channel::Tonic(channel), Some(opts)).await.map_err(|e| error_line(&e))
    }

    /// Status of one endpoint, bounded.
    pub async fn status(&self, url: &str) -> Result<Status, String> {
        let budget = self.budget();
        let fut = async {
            let mut c = self.client(url).await?;
            c.status().await.map(to_status).map_err(|e| error_line(&e))
        };
        tokio::time::timeout(budget, fut).await.unwrap_or_else(|_| Err(timeout_msg(budget)))
    }

    /// The member list from one endpoint, bounded.
    pub async fn member_list(&self, url: &str) -> Result<(Client, MemberListResponse), String> {
        let budget = self.budget();
        let fut = async {
            let mut c = self.client(url).await?;
            let list = c.member_list().await.map_err(|e| error_line(&e))?;
            Ok((c, list))
        };
        tokio::time::timeout(budget, fut).await.unwrap_or_else(|_| Err(timeout_msg(budget)))
    }
}

fn timeout_msg(budget: Duration) -> String {
    format!("no answer within {budget:?} (context deadline exceeded)")
}

/// What one of the tool's own endpoints answered.
struct Answer {
    url: String,
    list: Result<(Client, MemberListResponse), String>,
    status: Result<Status, String>,
}

async fn ask(t: &Target, url: String) -> Answer {
    let (list, status) = tokio::join!(t.member_list(&url), t.status(&url));
    Answer { url, list, status }
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
    let mut first: FuturesUnordered<_> = t.endpoints.iter().map(|u| ask(t, u.clone())).collect();
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
    Ok((snap, handshakes))
}

fn members_of(list: &MemberListResponse) -> Vec<Member> {
    list.members()
        .iter()
        .map(|m| Member {
            id: MemberId(m.id()),
            name: m.name().to_string(),
            peer_urls: m.peer_urls().to_vec(),
            client_urls: m.client_urls().to_vec(),
            is_learner: m.is_learner(),
            probe: None,
            node: None,
            peer_probe: None,
        })
        .collect()
}

/// Status of every member client URL the tool's own endpoints did not already cover, in
/// parallel, each bounded.
async fn probe_list(t: &Target, members: &[Member]) -> Vec<(usize, String, Result<Status, String>)> {
    let asked: BTreeSet<Endpoint> = t.endpoints.iter().filter_map(|u| Endpoint::parse(u).ok()).collect();
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
        let r = t.status(&u).await;
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

fn to_status(r: etcd_client::StatusResponse) -> Status {
    let opt = |v: i64| (v > 0).then_some(v);
    Status {
        member_id: MemberId(r.header().map(|h| h.member_id()).unwrap_or(0)),
        cluster_id: r.header().map(|h| MemberId(h.cluster_id())),
        version: r.version().to_string(),
        db_size: r.db_size(),
        db_size_in_use: opt(r.raft_used_db_size()),
        leader: (r.leader() != 0).then(|| MemberId(r.leader())),
        raft_term: r.raft_term(),
        revision: r.header().map(|h| h.revision()),
        raft_index: r.raft_index(),
        raft_applied_index: Some(r.raft_applied_index()),
        is_learner: r.is_learner(),
        errors: r.errors().to_vec(),
        db_size_quota: opt(r.db_size_quota()),
    }
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
    let ca = t.tls.ca_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
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
