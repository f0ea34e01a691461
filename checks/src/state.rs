//! Member state from evidence: each member gets one [`MemberState`] and the observations it
//! rests on, purely from the snapshot. The rules, strongest evidence first:
//!
//! 1. It answered its status: `up` when it follows a leader whose own status does not deny
//!    it, else `electing`.
//! 2. Something proves the process runs although no client URL answered: a completed peer
//!    handshake, an active raft link from a member that answers
//!    (`etcd_network_active_peers`; not when our own dial found it hung: a paused process keeps
//!    its connections), or a client URL that answered with an error (TLS refusal, another
//!    cluster, auth): `alive`. An unstarted member with such proof is `alive` too (it
//!    is starting). A handshake on a peer endpoint another member shares proves nothing.
//! 3. Never started (no name) and no proof it runs: `unstarted`.
//! 4. Tried and not answering, and a fact outside etcd says its machine is gone (its Node
//!    deleted while node mapping works for this cluster, NotReady longer than the node grace,
//!    its host name NXDOMAIN): `gone`.
//! 5. Refused at every client URL and every peer URL, both sides dialled: `down`.
//! 6. TCP accepted somewhere but TLS/gRPC never answered: `hung`. Any other failure (timeout,
//!    no route, a refusal with the peer side not dialled, an error that says nothing):
//!    `unreachable`.
//! 7. Nothing tried: `unknown`.
//!
//! A missing answer is never proof: only rule 3 and 4 allow a removal without an operator.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

use crate::endpoint::{Endpoint, HostKey};
use crate::evidence::{Failure, MemberState};
use crate::id::MemberId;
use crate::model::{Member, Snapshot};

/// Where an observation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A status request at one of its client URLs.
    ClientProbe,
    /// A dial of one of its peer URLs (TLS handshake, or TCP for http).
    PeerProbe,
    /// Another member's `etcd_network_active_peers` metric.
    Raft,
    /// Its own or another member's status (leader, term).
    Status,
    /// The Kubernetes Node it maps to.
    Node,
    /// The resolver's answer for a host name in its URLs.
    Resolver,
    /// The member list itself (no name: never started).
    MemberList,
}

/// One fact about a member, in words and as structured values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Which kind of evidence.
    pub source: Source,
    /// The fact in one line.
    pub text: String,
    /// The URL dialled, when it is a probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `ok`, or how it failed (`refused`, `unreachable`, `hung`, `tls`, `answered`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The error line, as the transport gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The Kubernetes node it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The metric read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The member whose metrics or status said it.
    #[serde(default, rename = "from", skip_serializing_if = "Option::is_none")]
    pub from: Option<MemberId>,
}

impl Observation {
    fn new(source: Source, text: impl Into<String>) -> Self {
        Observation {
            source,
            text: text.into(),
            url: None,
            answer: None,
            error: None,
            node: None,
            metric: None,
            from: None,
        }
    }
}

/// A member's state and the observations behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// The state.
    pub state: MemberState,
    /// Every observation about it, the decisive ones included.
    pub evidence: Vec<Observation>,
}

impl Judgement {
    /// The observations in words, `; `-joined, for messages.
    pub fn summary(&self) -> String {
        self.evidence.iter().map(|o| o.text.as_str()).collect::<Vec<_>>().join("; ")
    }

    /// `<state>: <the decisive observations>`, for finding messages and plan steps.
    pub fn because(&self) -> String {
        format!("{} ({})", self.state, self.summary())
    }
}

/// The state of every member of the snapshot, in member order.
pub fn judge_all(snap: &Snapshot) -> Vec<Judgement> {
    snap.members.iter().map(|m| judge(snap, m)).collect()
}

/// The state of one member of `snap`.
pub fn judge(snap: &Snapshot, m: &Member) -> Judgement {
    let mut ev = Vec::new();
    let (mut answered, mut alive, mut client_failures, mut peer_failures) = (None, false, Vec::new(), Vec::new());
    // A raft link is weaker proof than a handshake: a paused process keeps its TCP connections
    // open, so our own "TCP accepted, no TLS" (hung) wins over it.
    let mut raft_active = false;

    for a in m.probe.iter().flat_map(|p| p.attempts.iter()) {
        let mut o = Observation::new(Source::ClientProbe, String::new());
        o.url = Some(a.endpoint.clone());
        match &a.result {
            Ok(s) => {
                o.answer = Some("ok".into());
                o.text = match s.leader {
                    Some(l) if l == m.id => format!("answered at {} as leader (term {})", a.endpoint, s.raft_term),
                    Some(l) => format!("answered at {}, follows leader {l} (term {})", a.endpoint, s.raft_term),
                    None if s.leader_unknown => format!(
                        "answered at {}, follows a leader the capture does not name (term {})",
                        a.endpoint, s.raft_term
                    ),
                    None => format!("answered at {} with no leader (term {})", a.endpoint, s.raft_term),
                };
                answered.get_or_insert(s);
            }
            Err(e) => {
                let f = Failure::classify(e);
                o.answer = Some(failure_word(f).into());
                o.error = Some(e.clone());
                o.text = format!("client URL {}: {} ({e})", a.endpoint, failure_word(f));
                if matches!(f, Failure::Tls | Failure::Answered) {
                    alive = true;
                }
                client_failures.push(f);
            }
        }
        ev.push(o);
    }

    let shared_peer = shares_peer_endpoint(snap, m);
    for p in m.peer_probe.iter().flatten() {
        let mut o = Observation::new(Source::PeerProbe, String::new());
        o.url = Some(p.url.clone());
        match &p.result {
            Ok(()) => {
                o.answer = Some("ok".into());
                if shared_peer {
                    o.text = format!(
                        "peer URL {} completed a handshake, but another member shares that endpoint: no proof about this one",
                        p.url
                    );
                } else {
                    o.text = format!("peer URL {} completed a handshake: a process listens there", p.url);
                    alive = true;
                }
            }
            Err(e) => {
                let f = Failure::classify(e);
                o.answer = Some(failure_word(f).into());
                o.error = Some(e.clone());
                o.text = format!("peer URL {}: {} ({e})", p.url, failure_word(f));
                if matches!(f, Failure::Tls | Failure::Answered) {
                    alive = true;
                }
                peer_failures.push(f);
            }
        }
        ev.push(o);
    }

    for other in snap.members.iter().filter(|o| o.id != m.id && o.status().is_some()) {
        let Some(active) = snap.audit.metrics.get(&other.id).and_then(|x| x.peers_active.get(&m.id)) else { continue };
        let mut o = Observation::new(
            Source::Raft,
            if *active {
                format!("{} has an active raft link to it (etcd_network_active_peers 1)", other.label())
            } else {
                format!("{} has no active raft link to it (etcd_network_active_peers 0)", other.label())
            },
        );
        o.metric = Some("etcd_network_active_peers".into());
        o.from = Some(other.id);
        o.answer = Some(if *active { "active" } else { "inactive" }.into());
        // A link to an endpoint another member holds may be that member's (etcd dialling
        // localhost reaches its own listener): no proof about this one.
        raft_active |= *active && !shared_peer;
        ev.push(o);
    }

    if let Some(s) = answered {
        let mut state = if s.has_leader() { MemberState::Up } else { MemberState::Electing };
        if let Some(l) = s.leader.filter(|l| *l != m.id)
            && let Some(ls) = snap.member(l).and_then(Member::status)
            && ls.leader != Some(l)
        {
            let mut o = Observation::new(
                Source::Status,
                format!("it names {l} as leader, but {l}'s own status says {}", leader_word(ls.leader)),
            );
            o.from = Some(l);
            ev.push(o);
            // A leader that says it has none denies the claim (a learner after quorum loss still
            // names the old leader). One that names another leader may only have been asked at
            // another moment: noted, not judged.
            if ls.leader.is_none() {
                state = MemberState::Electing;
            }
        }
        if state == MemberState::Electing {
            let waited = match snap.election_wait_ms {
                Some(w) => format!("still no leader after waiting {w} ms"),
                None => "seen once: an election may be in progress".into(),
            };
            ev.push(Observation::new(Source::Status, waited));
        }
        return Judgement { state, evidence: ev };
    }

    let tried = !client_failures.is_empty() || !peer_failures.is_empty();
    let gone = gone_facts(snap, m, &mut ev);
    let hung = client_failures.iter().chain(&peer_failures).any(|f| *f == Failure::Hung);
    if alive || (raft_active && !hung) {
        return Judgement { state: MemberState::Alive, evidence: ev };
    }
    if m.is_unstarted() {
        ev.push(Observation::new(Source::MemberList, "no name in the member list: added but never started"));
        return Judgement { state: MemberState::Unstarted, evidence: ev };
    }
    if !tried {
        ev.push(Observation::new(Source::ClientProbe, "not probed: nothing is known about it"));
        return Judgement { state: MemberState::Unknown, evidence: ev };
    }
    if gone {
        return Judgement { state: MemberState::Gone, evidence: ev };
    }
    let all_refused = |v: &[Failure]| !v.is_empty() && v.iter().all(|f| *f == Failure::Refused);
    let client_side_done = m.client_urls.is_empty() || all_refused(&client_failures);
    let state = if all_refused(&peer_failures) && client_side_done {
        MemberState::Down
    } else if client_failures.iter().chain(&peer_failures).any(|f| *f == Failure::Hung) {
        MemberState::Hung
    } else {
        if all_refused(&client_failures) && m.peer_probe.is_none() {
            ev.push(Observation::new(
                Source::PeerProbe,
                "peer URLs not dialled: a refused client port alone does not prove the process is down",
            ));
        }
        MemberState::Unreachable
    };
    Judgement { state, evidence: ev }
}

/// Facts outside etcd that prove a machine gone; each is added to `ev`. Returns whether any
/// proves it (the caller still requires that the member was tried and did not answer).
fn gone_facts(snap: &Snapshot, m: &Member, ev: &mut Vec<Observation>) -> bool {
    let mut gone = false;
    // "Its node is gone" is only evidence when the mapping works for this cluster: at least
    // one member maps to a node (kops members, named etcd-a on DNS names, map to none).
    let mapping_works = snap.nodes.is_some() && snap.members.iter().any(|x| x.node.is_some());
    match m.node.as_deref() {
        None if mapping_works => {
            ev.push(Observation::new(
                Source::Node,
                "no Kubernetes node maps to it any more while the other members map to theirs: its node was deleted",
            ));
            gone = true;
        }
        None => {}
        Some(name) => match snap.node(name) {
            None => {
                let mut o = Observation::new(Source::Node, format!("its node {name} is not in the node list"));
                o.node = Some(name.into());
                ev.push(o);
                gone |= mapping_works;
            }
            Some(n) if n.ready == Some(true) => {
                let mut o = Observation::new(Source::Node, format!("its node {name} is Ready"));
                o.node = Some(name.into());
                ev.push(o);
            }
            Some(n) => {
                let grace = snap.thresholds.node_grace_secs;
                let text = match n.ready_since {
                    Some(t) => {
                        let secs = (snap.collected_at - t).whole_seconds();
                        let when = t.format(&Rfc3339).unwrap_or_default();
                        if secs > grace {
                            gone = true;
                            format!(
                                "its node {name} has been NotReady since {when} ({secs} s, longer than the node grace of {grace} s)"
                            )
                        } else {
                            format!(
                                "its node {name} is NotReady since {when} ({secs} s, within the node grace of {grace} s): not proof"
                            )
                        }
                    }
                    None => format!("its node {name} is NotReady since an unknown time: not proof"),
                };
                let mut o = Observation::new(Source::Node, text);
                o.node = Some(name.into());
                ev.push(o);
            }
        },
    }
    for host in hosts_of(m) {
        if snap.unresolvable_hosts.contains(&host) {
            ev.push(Observation::new(Source::Resolver, format!("its host name {host} does not resolve (NXDOMAIN)")));
            gone = true;
        }
    }
    gone
}

fn hosts_of(m: &Member) -> Vec<String> {
    let mut out: Vec<String> = m
        .peer_urls
        .iter()
        .chain(&m.client_urls)
        .filter_map(|u| Endpoint::parse(u).ok())
        .filter_map(|e| match e.host {
            HostKey::Name(n) => Some(n),
            HostKey::Ip(_) => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether another member's peer URLs name one of this member's peer endpoints.
fn shares_peer_endpoint(snap: &Snapshot, m: &Member) -> bool {
    let sockets = |x: &Member| -> Vec<(HostKey, Option<u16>)> {
        x.peer_urls.iter().filter_map(|u| Endpoint::parse(u).ok()).flat_map(|e| e.sockets(&snap.host_addrs)).collect()
    };
    let mine = sockets(m);
    snap.members.iter().filter(|o| o.id != m.id).any(|o| sockets(o).iter().any(|s| mine.contains(s)))
}

fn failure_word(f: Failure) -> &'static str {
    match f {
        Failure::Refused => "refused",
        Failure::Unreachable => "unreachable",
        Failure::Hung => "hung",
        Failure::Tls => "tls",
        Failure::Answered => "answered",
        Failure::Unknown => "unknown",
    }
}

fn leader_word(l: Option<MemberId>) -> String {
    match l {
        Some(l) => format!("its leader is {l}"),
        None => "it has no leader".into(),
    }
}

/// Whether an endpoint of this member answered for another cluster id (split brain): the
/// process there runs, but not as a member of this cluster.
pub fn serves_other_cluster(snap: &Snapshot, m: &Member) -> bool {
    snap.other_clusters.iter().any(|o| m.client_urls.iter().any(|u| same_endpoint(u, &o.endpoint)))
        || m.probe
            .iter()
            .flat_map(|p| p.attempts.iter())
            .any(|a| a.result.as_ref().err().is_some_and(|e| e.to_ascii_lowercase().contains("another cluster")))
}

fn same_endpoint(a: &str, b: &str) -> bool {
    match (Endpoint::parse(a), Endpoint::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// A voter that says it is the leader, whose claim no other voter contradicts with a higher
/// term. etcd runs with check-quorum: a leader that has not heard from a quorum within an
/// election timeout steps down, so this proves a quorum (learners do not check quorum, and
/// their claims never count).
pub fn proven_leader(snap: &Snapshot) -> Option<MemberId> {
    let voters = snap.voter_statuses();
    let top = voters.iter().map(|(_, s)| s.raft_term).max()?;
    // A quorum of voters that answered just now as its followers (itself included) proves it
    // directly, whatever term a cut-off voter has campaigned up to (etcd 3.4 runs without
    // pre-vote, so an isolated member's term keeps rising).
    voters
        .iter()
        .find(|(m, s)| s.leader == Some(m.id) && (s.raft_term >= top || followed_by_quorum(snap, m.id)))
        .map(|(m, _)| m.id)
}

/// Whether a quorum of the voters answered as followers of `leader` at its own term (itself
/// included): direct proof that it leads a quorum now.
pub fn followed_by_quorum(snap: &Snapshot, leader: MemberId) -> bool {
    let voters = snap.voter_statuses();
    let Some(term) = voters.iter().find(|(m, _)| m.id == leader).map(|(_, s)| s.raft_term) else { return false };
    let all = snap.members.iter().filter(|m| !m.is_learner).count();
    voters.iter().filter(|(_, s)| s.leader == Some(leader) && s.raft_term == term).count()
        >= crate::quorum::quorum_of(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::PeerReach;
    use crate::model::Node;
    use crate::testing::*;
    use MemberState::*;

    fn state(snap: &Snapshot, id: u64) -> MemberState {
        let m = snap.member(MemberId(id)).expect("member");
        judge(snap, m).state
    }

    fn peer(m: &mut Member, result: Result<(), &str>) {
        m.peer_probe = Some(vec![PeerReach { url: m.peer_urls[0].clone(), result: result.map_err(str::to_string) }]);
    }

    #[test]
    fn a_quorum_following_a_leader_proves_it_despite_a_cut_off_voters_higher_term() {
        let mut snap = cluster(&[healthy(1), healthy(2), no_leader(3)]);
        let term = |m: &mut Member, t: u64| {
            if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
                s.raft_term = t;
            }
        };
        term(&mut snap.members[2], 9);
        assert_eq!(proven_leader(&snap), Some(MemberId(1)));
        // One follower only (1 of 3 with the claimant alone): the higher term wins.
        let mut lone = cluster(&[healthy(1), no_leader(2), no_leader(3)]);
        term(&mut lone.members[2], 9);
        assert_eq!(proven_leader(&lone), None);
    }

    #[test]
    fn answering_members_are_up_or_electing() {
        let snap = cluster(&[healthy(1), healthy(2), no_leader(3)]);
        assert_eq!((state(&snap, 1), state(&snap, 2), state(&snap, 3)), (Up, Up, Electing));
    }

    #[test]
    fn a_refused_client_port_with_an_answering_peer_port_is_alive_not_down() {
        let mut m = down(3);
        peer(&mut m, Ok(()));
        let snap = cluster(&[healthy(1), healthy(2), m]);
        assert_eq!(state(&snap, 3), Alive);
        let j = judge(&snap, &snap.members[2]);
        assert!(j.evidence.iter().any(|o| o.source == Source::PeerProbe && o.answer.as_deref() == Some("ok")));
    }

    #[test]
    fn down_only_when_refused_at_every_client_and_peer_url() {
        let snap = cluster(&[healthy(1), down(2), refused_client_only(3)]);
        assert_eq!(state(&snap, 2), Down);
        // The peer side was not dialled: not proven down.
        assert_eq!(state(&snap, 3), Unreachable);
        let mut m = down(4);
        peer(&mut m, Err("dial tcp 10.0.0.4:2380: i/o timeout"));
        assert_eq!(state(&cluster(&[healthy(1), m]), 4), Unreachable);
    }

    #[test]
    fn timeouts_are_unreachable_and_tcp_without_tls_is_hung() {
        let snap = cluster(&[healthy(1), unreachable(2), hung(3)]);
        assert_eq!((state(&snap, 2), state(&snap, 3)), (Unreachable, Hung));
    }

    #[test]
    fn an_active_raft_link_from_a_member_that_answers_is_alive() {
        let mut snap = cluster(&[healthy(1), healthy(2), unreachable(3)]);
        snap.audit.metrics.entry(MemberId(1)).or_default().peers_active.insert(MemberId(3), true);
        assert_eq!(state(&snap, 3), Alive);
        // The link seen from a member that does not answer proves nothing.
        let mut snap = cluster(&[healthy(1), unreachable(2), unreachable(3)]);
        snap.audit.metrics.entry(MemberId(2)).or_default().peers_active.insert(MemberId(3), true);
        assert_eq!(state(&snap, 3), Unreachable);
    }

    #[test]
    fn a_paused_member_stays_hung_though_its_peers_keep_their_raft_links() {
        let mut snap = cluster(&[healthy(1), healthy(2), hung(3)]);
        snap.audit.metrics.entry(MemberId(1)).or_default().peers_active.insert(MemberId(3), true);
        assert_eq!(state(&snap, 3), Hung);
    }

    #[test]
    fn tls_refusals_and_answers_from_another_cluster_prove_a_process_runs() {
        let mut m = down(3);
        if let Some(p) = m.probe.as_mut() {
            p.attempts[0].result = Err("x509: certificate signed by unknown authority".into());
        }
        assert_eq!(state(&cluster(&[healthy(1), healthy(2), m]), 3), Alive);
    }

    fn nodes(snap: &mut Snapshot, list: Vec<Node>) {
        snap.nodes = Some(list);
        snap.map_nodes();
    }

    fn node(name: &str, ready: Option<bool>, since_secs_before: Option<i64>, at: time::OffsetDateTime) -> Node {
        Node {
            name: name.into(),
            ready,
            ready_since: since_secs_before.map(|s| at - time::Duration::seconds(s)),
            ..Default::default()
        }
    }

    #[test]
    fn deleted_node_with_working_mapping_is_gone_without_mapping_is_not() {
        let mut snap = cluster(&[healthy(1), healthy(2), unreachable(3)]);
        let at = snap.collected_at;
        nodes(&mut snap, vec![node("m1", Some(true), None, at), node("m2", Some(true), None, at)]);
        assert_eq!(state(&snap, 3), Gone);
        let mut snap = cluster(&[healthy(1), healthy(2), unreachable(3)]);
        nodes(&mut snap, vec![node("ip-10-9-9-9", Some(true), None, at)]);
        assert_eq!(state(&snap, 3), Unreachable);
    }

    #[test]
    fn not_ready_counts_only_past_the_grace_and_with_a_known_since() {
        let mk = |since: Option<i64>, ready: Option<bool>, m3: Member| {
            let mut snap = cluster(&[healthy(1), healthy(2), m3]);
            let at = snap.collected_at;
            nodes(
                &mut snap,
                vec![node("m1", Some(true), None, at), node("m2", Some(true), None, at), node("m3", ready, since, at)],
            );
            snap
        };
        assert_eq!(state(&mk(Some(301), Some(false), down(3)), 3), Gone);
        assert_eq!(state(&mk(Some(299), Some(false), down(3)), 3), Down);
        // Unknown since is not proof.
        assert_eq!(state(&mk(None, Some(false), unreachable(3)), 3), Unreachable);
        // A member dead for under a second on a Ready node is not gone.
        assert_eq!(state(&mk(Some(86_400), Some(true), down(3)), 3), Down);
        // NotReady for a day, but the member answers: up.
        assert_eq!(state(&mk(Some(86_400), Some(false), healthy(3)), 3), Up);
        // NotReady for a day, but its peer port answers: alive.
        let mut m = unreachable(3);
        peer(&mut m, Ok(()));
        assert_eq!(state(&mk(Some(86_400), Some(false), m), 3), Alive);
    }

    #[test]
    fn an_unresolvable_host_name_is_gone_only_when_tried() {
        let mut m = unreachable(3);
        m.peer_urls = vec!["https://etcd-3.example:2380".into()];
        let mut snap = cluster(&[healthy(1), healthy(2), m.clone()]);
        snap.unresolvable_hosts.insert("etcd-3.example".into());
        assert_eq!(state(&snap, 3), Gone);
        m.probe = None;
        m.peer_probe = None;
        let mut snap = cluster(&[healthy(1), healthy(2), m]);
        snap.unresolvable_hosts.insert("etcd-3.example".into());
        assert_eq!(state(&snap, 3), Unknown);
    }

    #[test]
    fn unstarted_unless_something_proves_it_runs() {
        let snap = cluster(&[healthy(1), healthy(2), unstarted(3)]);
        assert_eq!(state(&snap, 3), Unstarted);
        let mut u = unstarted(3);
        peer(&mut u, Ok(()));
        assert_eq!(state(&cluster(&[healthy(1), healthy(2), u.clone()]), 3), Alive);
        // The same handshake on an endpoint another member shares proves nothing.
        let mut a = healthy(1);
        a.peer_urls = u.peer_urls.clone();
        assert_eq!(state(&cluster(&[a, healthy(2), u]), 3), Unstarted);
    }

    #[test]
    fn not_probed_is_unknown() {
        assert_eq!(state(&cluster(&[healthy(1), unprobed(2)]), 2), Unknown);
    }

    #[test]
    fn a_member_naming_a_leader_that_denies_it_is_electing() {
        // After quorum loss a learner still names voter 1; voter 1 says it has no leader.
        let mut l = learner(healthy(3));
        if let Some(Ok(s)) = l.probe.as_mut().map(|p| &mut p.attempts[0].result) {
            s.leader = Some(MemberId(1));
        }
        let snap = cluster(&[no_leader(1), no_leader(2), l]);
        assert_eq!(state(&snap, 3), Electing);
        assert_eq!(proven_leader(&snap), None);
    }

    #[test]
    fn a_voter_claiming_leadership_proves_quorum_unless_a_higher_term_denies_it() {
        let snap = cluster(&[healthy(1), unprobed(2), unprobed(3)]);
        assert_eq!(proven_leader(&snap), Some(MemberId(1)));
        let mut newer = no_leader(2);
        if let Some(Ok(s)) = newer.probe.as_mut().map(|p| &mut p.attempts[0].result) {
            s.raft_term = 9;
        }
        assert_eq!(proven_leader(&cluster(&[healthy(1), newer, unprobed(3)])), None);
        // A learner's claim never counts.
        let mut l = learner(healthy(1));
        if let Some(Ok(s)) = l.probe.as_mut().map(|p| &mut p.attempts[0].result) {
            s.leader = Some(MemberId(1));
        }
        assert_eq!(proven_leader(&cluster(&[l, unprobed(2), unprobed(3)])), None);
    }

    #[test]
    fn electing_notes_the_election_wait() {
        let mut snap = cluster(&[no_leader(1), no_leader(2), no_leader(3)]);
        snap.election_wait_ms = Some(5000);
        let j = judge(&snap, &snap.members[0]);
        assert!(j.summary().contains("after waiting 5000 ms"), "{}", j.summary());
    }
}
