//! The snapshot: everything the collectors learned about one etcd cluster, as plain data.
//! Missing data is data: what could not be read is listed in `gaps`, and a member that was
//! never probed has `probe: None`, so checks can tell "unknown" from "down".

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cert::Certs;
use crate::id::MemberId;

/// Where a snapshot came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Collected from running etcd members.
    Live,
    /// Read from a support bundle (captured etcdctl output).
    Bundle,
    /// Collected on a node from its own files and its local etcd.
    Local,
}

/// One etcd cluster as seen at `collected_at`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Where the data came from.
    pub source: Source,
    /// When the data was collected; checks use this instead of a clock.
    #[serde(with = "time::serde::rfc3339")]
    pub collected_at: OffsetDateTime,
    /// The cluster id from the member list header, when known.
    pub cluster_id: Option<MemberId>,
    /// The members as the member list reported them, each with its probe result.
    pub members: Vec<Member>,
    /// Active alarms (NOSPACE, CORRUPT) as etcd reported them.
    pub alarms: Vec<Alarm>,
    /// Host names in member URLs resolved to addresses by the collector (the system
    /// resolver, bounded in time). Names absent here were not resolved.
    pub host_addrs: BTreeMap<String, Vec<IpAddr>>,
    /// What could not be read, and why.
    pub gaps: Vec<Gap>,
    /// The Kubernetes nodes; `None` when the API was not consulted or could not be read
    /// (then `gaps` says why), so "no node" is never confused with "node deleted".
    #[serde(default)]
    pub nodes: Option<Vec<Node>>,
    /// kubeadm's etcd static pods (kube-system, `component=etcd`); `None` when not read.
    #[serde(default)]
    pub etcd_pods: Option<Vec<EtcdPod>>,
    /// What the node's own files say (`--local`, a bundle's `local/` tree); `None` otherwise.
    #[serde(default)]
    pub local: Option<crate::node_local::LocalNode>,
    /// Endpoints that answered for another cluster id than the one diagnosed (split brain).
    #[serde(default)]
    pub other_clusters: Vec<OtherCluster>,
    /// Audit settings and facts: metrics, HashKV, target version, quota.
    #[serde(default)]
    pub audit: crate::audit_data::AuditData,
    /// Certificates presented by members and read from files; `None` when none were read
    /// (then `gaps` says why).
    #[serde(default)]
    pub certs: Option<Certs>,
    /// Limits the checks judge against (`--expiry-warning`).
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Host names in member URLs that the resolver answered do not exist (NXDOMAIN), as
    /// opposed to a resolver that did not answer: evidence that a machine is gone.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub unresolvable_hosts: std::collections::BTreeSet<String>,
    /// How long the collector waited for members that answered without a leader to elect one
    /// before it judged (`None`: it did not wait; a capture cannot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_wait_ms: Option<u64>,
    /// What is worked out from the rest once and asked many times; never serialised.
    #[serde(skip)]
    pub(crate) derived: Derived,
}

/// Answers worked out from a snapshot's nodes on first use (`detect::node_marks`: which node
/// first shows each distribution's labels). A clone starts empty, so a copy changed afterwards
/// works out its own.
#[derive(Default)]
pub(crate) struct Derived {
    pub(crate) node_marks: std::sync::OnceLock<[Option<usize>; crate::detect::NODE_MARKS.len()]>,
}

impl Clone for Derived {
    fn clone(&self) -> Self {
        Derived::default()
    }
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

/// An endpoint that answered for another cluster: a member wiped and bootstrapped anew, or a
/// restore with `--force-new-cluster` on one side.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OtherCluster {
    /// The client URL that answered.
    pub endpoint: String,
    /// The cluster id it answered for.
    #[serde(rename = "clusterID")]
    pub cluster_id: MemberId,
    /// The member id it answered as.
    #[serde(rename = "memberID")]
    pub member_id: MemberId,
    /// The members of its member list, as `name=peerURL`, when it was asked for one.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Limits set on the command line that checks judge against (checks read no flags).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    /// A certificate expiring within this many seconds is a warning (`--expiry-warning`, 30 days).
    pub expiry_warning_secs: i64,
    /// A node NotReady for longer than this many seconds, whose member is not up, proves the
    /// member gone (`--node-grace`, 5 minutes).
    #[serde(default = "default_node_grace")]
    pub node_grace_secs: i64,
}

fn default_node_grace() -> i64 {
    300
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { expiry_warning_secs: 30 * 86_400, node_grace_secs: default_node_grace() }
    }
}

/// An etcd pod (kubeadm static pod), reduced to what the checks need.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EtcdPod {
    /// metadata.name, e.g. etcd-cp-1.
    pub name: String,
    /// spec.nodeName.
    pub node: String,
    /// status.phase.
    pub phase: String,
    /// Whether its containers are ready.
    pub ready: bool,
    /// Restarts of its etcd container.
    pub restarts: i32,
    /// Why its container waits, e.g. CrashLoopBackOff.
    pub waiting_reason: Option<String>,
    /// The `kubeadm.kubernetes.io/etcd.advertise-client-urls` annotation.
    pub advertise_client_urls: Vec<String>,
    /// The container image (carries the etcd version).
    pub image: String,
    /// The etcd container's command and args, then `ETCD_ENABLE_V2=<value>` when that variable
    /// is set (the v2store rule before 3.6 reads them); empty when not read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// A Kubernetes node, reduced to what the checks need.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// metadata.name
    pub name: String,
    /// status.addresses (InternalIP, ExternalIP, Hostname), as written.
    pub addresses: Vec<String>,
    /// Roles from `node-role.kubernetes.io/<role>` labels.
    pub roles: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations (K3s puts its args, env and etcd member name here).
    pub annotations: BTreeMap<String, String>,
    /// The Ready condition: `Some(true)` Ready, `Some(false)` NotReady or Unknown.
    pub ready: Option<bool>,
    /// Since when the Ready condition has its status.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ready_since: Option<OffsetDateTime>,
    /// status.nodeInfo.kubeletVersion
    pub kubelet_version: String,
    /// What `Snapshot::map_nodes` asks of the maps above, when the collector worked it out.
    #[serde(skip)]
    pub keys: NodeKeys,
}

/// Which of the keys `Snapshot::map_nodes` looks for a node has: each of `detect::NODE_MARKS`
/// (bit by position) and a member-name annotation (`NodeKeys::NAMED`). Collectors work it out
/// as they read each node, its maps in cache: asked of 5,000 nodes' cold maps afterwards, it
/// cost milliseconds. A cache of the maps: always equal, never serialized.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeKeys(Option<u8>);

impl PartialEq for NodeKeys {
    fn eq(&self, _: &NodeKeys) -> bool {
        true
    }
}

impl NodeKeys {
    /// The bit for a member-name annotation (`MEMBER_NAME_ANNOTATIONS`).
    pub(crate) const NAMED: u8 = 1 << crate::detect::NODE_MARKS.len();

    fn of(n: &Node) -> u8 {
        let named = MEMBER_NAME_ANNOTATIONS.iter().any(|a| n.annotations.contains_key(*a));
        crate::detect::mark_bits(n) | if named { NodeKeys::NAMED } else { 0 }
    }
}

impl Node {
    /// The node with its `keys` worked out: collectors call it on each node as they read it.
    pub fn with_keys(mut self) -> Node {
        self.keys = NodeKeys(Some(NodeKeys::of(&self)));
        self
    }

    /// Its `NodeKeys` bits, from the collector when it worked them out.
    pub(crate) fn key_bits(&self) -> u8 {
        match self.keys.0 {
            Some(bits) => {
                // A node changed after it was read would answer from before: tests (debug
                // builds) see it here.
                debug_assert_eq!(bits, NodeKeys::of(self), "node {} changed after its keys were noted", self.name);
                bits
            }
            None => NodeKeys::of(self),
        }
    }
}

/// Node annotations that carry the etcd member name (K3s, RKE2).
pub const MEMBER_NAME_ANNOTATIONS: [&str; 2] = ["etcd.k3s.cattle.io/node-name", "etcd.rke2.cattle.io/node-name"];

/// One member, as the member list reported it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// The member id.
    pub id: MemberId,
    /// Its name; empty while the member was added but never started.
    pub name: String,
    /// Peer URLs (raft traffic).
    pub peer_urls: Vec<String>,
    /// Client URLs; empty while the member never started.
    pub client_urls: Vec<String>,
    /// Whether it is a non-voting learner.
    pub is_learner: bool,
    /// What probing its client URLs found; `None` when it was not probed at all.
    pub probe: Option<Probe>,
    /// The Kubernetes node this member runs on, when known.
    pub node: Option<String>,
    /// What dialling its peer URLs found (a TLS handshake, or TCP for http); `None` when the
    /// peer listeners were not dialled. A completed handshake proves a process listens there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_probe: Option<Vec<crate::evidence::PeerReach>>,
}

/// The outcome of asking one member for its status, over every URL tried.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Each endpoint tried and what it answered.
    pub attempts: Vec<Attempt>,
}

/// One status request to one endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The URL asked.
    pub endpoint: String,
    /// The status, or the error as one line.
    pub result: Result<Status, String>,
}

/// A member's answer to the Status RPC (what `etcdctl endpoint status` shows).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The id of the member that answered.
    pub member_id: MemberId,
    /// The cluster it says it belongs to.
    #[serde(default)]
    pub cluster_id: Option<MemberId>,
    /// Server version, e.g. "3.5.16".
    pub version: String,
    /// Database file size in bytes.
    pub db_size: i64,
    /// Bytes of the database in use (3.4+); `None` when not reported.
    pub db_size_in_use: Option<i64>,
    /// The leader this member follows; `None` when it has no leader (or see `leader_unknown`).
    pub leader: Option<MemberId>,
    /// It follows a leader whose id the capture does not name (`etcdctl endpoint status -w
    /// table` says only "IS LEADER false", and no "no leader" error).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leader_unknown: bool,
    /// Raft term.
    pub raft_term: u64,
    /// The store revision of the header (the latest key-value revision), when known.
    #[serde(default)]
    pub revision: Option<i64>,
    /// Raft index.
    pub raft_index: u64,
    /// Raft applied index (3.4+).
    pub raft_applied_index: Option<u64>,
    /// Whether the member says it is a learner.
    pub is_learner: bool,
    /// Errors the member reported (e.g. "etcdserver: no leader", alarms).
    pub errors: Vec<String>,
    /// The backend quota in bytes (3.6+ reports it).
    pub db_size_quota: Option<i64>,
}

/// An active alarm.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    /// The member that raised it.
    #[serde(rename = "memberID")]
    pub member_id: MemberId,
    /// The alarm type as etcd names it (NOSPACE, CORRUPT).
    pub alarm: String,
}

impl Status {
    /// Whether it follows a leader, named or not.
    pub fn has_leader(&self) -> bool {
        self.leader.is_some() || self.leader_unknown
    }
}

impl Alarm {
    /// Reads an alarm from a status error as etcd writes it: `memberID:<decimal> alarm:NOSPACE`.
    pub fn from_status_error(s: &str) -> Option<Alarm> {
        let rest = s.trim().strip_prefix("memberID:")?;
        let (mid, alarm) = rest.split_once(" alarm:")?;
        Some(Alarm { member_id: MemberId(mid.trim().parse().ok()?), alarm: alarm.trim().to_string() })
    }
}

/// Something the collectors could not read.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Gap {
    /// Which input: "etcd", "kubernetes", "resolver", "bundle", "local".
    pub source: String,
    /// Why, in one line.
    pub reason: String,
}

impl Gap {
    /// A gap in one input.
    pub fn new(source: impl Into<String>, reason: impl Into<String>) -> Self {
        Gap { source: source.into(), reason: reason.into() }
    }
}

/// How a member is doing, from the member list and its probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Answered, and follows a leader.
    Healthy,
    /// Answered, but has no leader (partitioned, or the cluster lost quorum).
    NoLeader,
    /// Did not answer at any client URL tried.
    Unreachable,
    /// Added but never started: no name, nothing to probe.
    Unstarted,
    /// Not probed; nothing is known.
    Unknown,
}

impl Member {
    /// etcd calls a member "unstarted" while it has no name: it was added, but its process
    /// never published its attributes to the cluster.
    pub fn is_unstarted(&self) -> bool {
        self.name.is_empty()
    }

    /// The first status any of its endpoints returned.
    pub fn status(&self) -> Option<&Status> {
        self.probe.as_ref()?.attempts.iter().find_map(|a| a.result.as_ref().ok())
    }

    /// Whether it answered: `Some(true)` if any endpoint did, `Some(false)` if it was
    /// tried and none did (or it never started), `None` if it was not probed.
    pub fn reachable(&self) -> Option<bool> {
        match &self.probe {
            Some(p) => Some(p.attempts.iter().any(|a| a.result.is_ok())),
            None if self.is_unstarted() => Some(false),
            None => None,
        }
    }

    /// The errors of every failed attempt, as `endpoint: error`.
    pub fn probe_errors(&self) -> Vec<String> {
        self.probe
            .iter()
            .flat_map(|p| p.attempts.iter())
            .filter_map(|a| a.result.as_ref().err().map(|e| format!("{}: {e}", a.endpoint)))
            .collect()
    }

    /// Health as the quorum arithmetic needs it.
    pub fn health(&self) -> Health {
        if self.is_unstarted() && self.status().is_none() {
            return Health::Unstarted;
        }
        match (self.reachable(), self.status()) {
            (None, _) => Health::Unknown,
            (Some(false), _) | (Some(true), None) => Health::Unreachable,
            (Some(true), Some(s)) if !s.has_leader() => Health::NoLeader,
            (Some(true), Some(_)) => Health::Healthy,
        }
    }

    /// A short label for messages: `name (id)`, or `id (unstarted)`.
    pub fn label(&self) -> String {
        if self.name.is_empty() { format!("{} (unstarted)", self.id) } else { format!("{} ({})", self.name, self.id) }
    }
}

impl Snapshot {
    /// An empty snapshot of the given source at the given time.
    pub fn new(source: Source, collected_at: OffsetDateTime) -> Self {
        Snapshot {
            source,
            collected_at,
            cluster_id: None,
            members: Vec::new(),
            alarms: Vec::new(),
            host_addrs: BTreeMap::new(),
            gaps: Vec::new(),
            nodes: None,
            etcd_pods: None,
            local: None,
            other_clusters: Vec::new(),
            audit: Default::default(),
            certs: None,
            thresholds: Thresholds::default(),
            unresolvable_hosts: Default::default(),
            election_wait_ms: None,
            derived: Derived::default(),
        }
    }

    /// Sets each member's `node`: the K3s/RKE2 annotation naming the member, else a node named
    /// like the member (kubeadm), else the node whose addresses include a peer URL's host.
    pub fn map_nodes(&mut self) {
        let Some(nodes) = &self.nodes else { return };
        let hosts: Vec<Vec<String>> = self
            .members
            .iter()
            .map(|m| {
                m.peer_urls
                    .iter()
                    .filter_map(|u| crate::endpoint::Endpoint::parse(u).ok())
                    .map(|e| match e.host {
                        crate::endpoint::HostKey::Ip(ip) => ip.to_string(),
                        crate::endpoint::HostKey::Name(n) => n,
                    })
                    .collect()
            })
            .collect();
        // One pass over the nodes, each held against every member (a handful): a pass over
        // 5,000 nodes costs milliseconds (their maps are cold in cache), so the distribution's
        // marks are read in it too, and a long list is read in two halves on two threads.
        let scan = |from: usize, part: &[Node]| {
            let mut first = vec![[None::<usize>; 3]; self.members.len()];
            let mut marks = [None; crate::detect::NODE_MARKS.len()];
            for (i, n) in (from..).zip(part) {
                let bits = n.key_bits();
                crate::detect::mark(&mut marks, i, bits);
                let named = if bits & NodeKeys::NAMED != 0 {
                    MEMBER_NAME_ANNOTATIONS.map(|a| n.annotations.get(a))
                } else {
                    [None; MEMBER_NAME_ANNOTATIONS.len()]
                };
                for ((m, hosts), at) in self.members.iter().zip(&hosts).zip(&mut first) {
                    let by = [
                        !m.name.is_empty() && named.iter().flatten().any(|v| **v == m.name),
                        !m.name.is_empty() && n.name == m.name,
                        n.addresses.iter().any(|a| hosts.iter().any(|h| h.eq_ignore_ascii_case(a))),
                    ];
                    for (slot, hit) in at.iter_mut().zip(by) {
                        if hit && slot.is_none() {
                            *slot = Some(i);
                        }
                    }
                }
            }
            (first, marks)
        };
        let (first, marks) = if nodes.len() < 2048 {
            scan(0, nodes)
        } else {
            let (a, b) = nodes.split_at(nodes.len() / 2);
            let (mut found, later) = std::thread::scope(|s| {
                let later = s.spawn(|| scan(a.len(), b));
                (scan(0, a), later.join())
            });
            // The first half's nodes come first; a thread that could not run leaves its half
            // to this one.
            let (first, marks) = later.unwrap_or_else(|_| scan(a.len(), b));
            for (mine, theirs) in found.0.iter_mut().zip(first) {
                for (slot, other) in mine.iter_mut().zip(theirs) {
                    *slot = slot.or(other);
                }
            }
            for (slot, other) in found.1.iter_mut().zip(marks) {
                *slot = slot.or(other);
            }
            found
        };
        self.derived.node_marks = std::sync::OnceLock::from(marks);
        for (m, at) in self.members.iter_mut().zip(first) {
            m.node = at.into_iter().flatten().next().and_then(|i| nodes.get(i)).map(|n| n.name.clone());
        }
    }

    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.as_ref()?.iter().find(|n| n.name == name)
    }

    /// The member with this id.
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The alarms the members' status errors report, each once.
    pub fn alarms_from_statuses(&self) -> Vec<Alarm> {
        let mut out: Vec<Alarm> = Vec::new();
        for a in self
            .members
            .iter()
            .filter_map(Member::status)
            .flat_map(|s| s.errors.iter())
            .filter_map(|e| Alarm::from_status_error(e))
        {
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// The voters that answered, with their status (a member that says it is a learner is not
    /// one, whatever the member list says).
    pub fn voter_statuses(&self) -> Vec<(&Member, &Status)> {
        self.members
            .iter()
            .filter(|m| !m.is_learner)
            .filter_map(|m| m.status().map(|s| (m, s)))
            .filter(|(_, s)| !s.is_learner)
            .collect()
    }

    /// The leader: a voter whose own status claims it (the highest term wins), else the leader
    /// most answering voters follow (ties go to the higher raft term) unless its own status
    /// denies it. Learners' views never count (they do not check quorum); `None` when no
    /// answering voter follows one.
    pub fn leader(&self) -> Option<MemberId> {
        let voters = self.voter_statuses();
        if let Some(l) = crate::state::proven_leader(self) {
            return Some(l);
        }
        let mut votes: BTreeMap<MemberId, (usize, u64)> = BTreeMap::new();
        for (_, s) in &voters {
            if let Some(l) = s.leader {
                let e = votes.entry(l).or_default();
                e.0 += 1;
                e.1 = e.1.max(s.raft_term);
            }
        }
        // A candidate that answered and says it is not the leader is not shown as one.
        let denied = |l: MemberId| self.member(l).and_then(Member::status).is_some_and(|s| s.leader != Some(l));
        votes.into_iter().filter(|(l, _)| !denied(*l)).max_by_key(|(_, (n, term))| (*n, *term)).map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn node(name: &str, addr: &str, ann: Option<&str>) -> Node {
        let mut n = Node { name: name.into(), addresses: vec![addr.into()], ready: Some(true), ..Default::default() };
        if let Some(a) = ann {
            n.annotations.insert(MEMBER_NAME_ANNOTATIONS[0].into(), a.into());
        }
        n
    }

    #[test]
    fn members_map_by_k3s_annotation_then_name_then_peer_address() {
        let mut k3s = healthy(1);
        k3s.name = "server-1-773673f4".into();
        let kubeadm = healthy(2); // named m2
        let mut spray = healthy(3);
        spray.name = "etcd3".into(); // peer https://10.0.0.3:2380
        let mut snap = cluster(&[k3s, kubeadm, spray, healthy(4)]);
        snap.nodes = Some(vec![
            node("server-1", "10.9.9.9", Some("server-1-773673f4")),
            node("m2", "10.9.9.8", None),
            node("node3", "10.0.0.3", None),
        ]);
        snap.map_nodes();
        let got: Vec<Option<&str>> = snap.members.iter().map(|m| m.node.as_deref()).collect();
        assert_eq!(got, vec![Some("server-1"), Some("m2"), Some("node3"), None]);
    }

    /// The indexes keep what a search in order finds: the first node with the key, the
    /// annotation before the name before the address, addresses compared without case.
    #[test]
    fn the_first_node_in_order_wins_and_the_annotation_beats_the_name() {
        let mut a = healthy(1);
        a.name = "m2".into(); // also a node's name, but annotated on another
        let mut b = healthy(2);
        b.name = "etcd-b".into();
        b.peer_urls = vec!["https://Node-B.example:2380".into()];
        let mut snap = cluster(&[a, b]);
        snap.nodes = Some(vec![
            node("m2", "10.9.9.1", None),
            node("first-b", "node-b.EXAMPLE", None),
            node("annotated", "10.9.9.3", Some("m2")),
            node("second-b", "node-b.example", None),
            node("also-annotated", "10.9.9.5", Some("m2")),
        ]);
        snap.map_nodes();
        let got: Vec<Option<&str>> = snap.members.iter().map(|m| m.node.as_deref()).collect();
        assert_eq!(got, vec![Some("annotated"), Some("first-b")]);
    }

    /// A long list is read in two halves on two threads: the same answers, the first half's
    /// nodes before the second's, the annotation before the name wherever each is.
    #[test]
    fn a_long_list_read_in_halves_gives_what_one_pass_gives() {
        // As tests build nodes (keys worked out when asked) and as collectors give them.
        for noted in [false, true] {
            a_long_list_in_halves(noted);
        }
    }

    fn a_long_list_in_halves(noted: bool) {
        let mut a = healthy(1);
        a.name = "member-a".into();
        let mut b = healthy(2);
        b.name = "member-b".into();
        b.peer_urls = vec!["https://10.9.0.2:2380".into()];
        let mut snap = cluster(&[a, b]);
        let mut nodes: Vec<Node> =
            (0..3000).map(|i| node(&format!("n{i}"), &format!("10.8.{}.{}", i / 250, i % 250), None)).collect();
        nodes[10].name = "member-a".into(); // by name, first half
        nodes[2600].annotations.insert(MEMBER_NAME_ANNOTATIONS[1].into(), "member-a".into()); // by annotation, second half
        nodes[1400].addresses = vec!["10.9.0.2".into()]; // by address, first half
        nodes[2900].addresses = vec!["10.9.0.2".into()];
        nodes[2999].labels.insert("kops.k8s.io/instancegroup".into(), "x".into());
        nodes[1499].annotations.insert("kubeadm.alpha.kubernetes.io/cri-socket".into(), "x".into());
        if noted {
            nodes = nodes.into_iter().map(Node::with_keys).collect();
        }
        snap.nodes = Some(nodes);
        snap.map_nodes();
        let got: Vec<Option<&str>> = snap.members.iter().map(|m| m.node.as_deref()).collect();
        assert_eq!(got, vec![Some("n2600"), Some("n1400")]);
        assert_eq!(
            crate::detect::distribution(&snap),
            Some((crate::distribution::Distribution::Rke2, "node n2600 has rke2.io annotations".into())),
            "the RKE2 annotation in the second half outranks the kops label and the kubeadm annotation"
        );
    }

    #[test]
    fn noted_keys_are_what_the_maps_hold_and_never_make_nodes_differ() {
        let mut n = node("n1", "10.0.0.1", Some("server-1"));
        n.labels.insert("kops.k8s.io/instancegroup".into(), "masters".into());
        let noted = n.clone().with_keys();
        assert_eq!(noted, n, "a cache, not a field that compares");
        assert_eq!(noted.key_bits(), n.key_bits());
        // The K3s mark (etcd.k3s.cattle.io/), kops's label and the member-name annotation.
        let k3s = crate::detect::NODE_MARKS.iter().position(|m| m.1 == "etcd.k3s.cattle.io/").expect("k3s mark");
        let kops = crate::detect::NODE_MARKS.iter().position(|m| m.1 == "kops.k8s.io/").expect("kops mark");
        assert_eq!(noted.key_bits(), 1 << k3s | 1 << kops | NodeKeys::NAMED);
        assert_eq!(node("n2", "10.0.0.2", None).with_keys().key_bits(), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "changed after its keys were noted")]
    fn a_node_changed_after_its_keys_were_noted_is_caught_in_tests() {
        let mut n = node("n1", "10.0.0.1", None).with_keys();
        n.annotations.insert(MEMBER_NAME_ANNOTATIONS[1].into(), "m1".into());
        let _ = n.key_bits();
    }
}
