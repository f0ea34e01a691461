//! The one etcd client layer. Collectors read and the executor writes through the [`Etcd`]
//! trait; its implementations are gRPC to the members' client URLs ([`grpc::Target`]) and
//! etcdctl inside an etcd pod through the Kubernetes API ([`exec::ExecTarget`]). The JSON
//! shapes etcdctl and the grpc-gateway print are read by [`etcdctl_json`], which the offline
//! bundle loader shares without touching a live client.

pub mod etcdctl_json;
pub mod exec;
pub mod grpc;
pub mod peer;
pub mod plain_probe;

use std::time::Duration;

use etcd_doctor_checks::{
    id::MemberId,
    model::{Member, Status},
};

/// A member list and who answered it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberList {
    /// The client URL that answered (the one to act through next).
    pub endpoint: String,
    /// The cluster id in the answer's header.
    pub cluster_id: Option<MemberId>,
    /// The member that answered (the header's member id); `None` when the shape has no header.
    pub answered_by: Option<MemberId>,
    /// The members, without probes.
    pub members: Vec<Member>,
}

/// What went wrong talking to etcd. Messages read like etcdctl's, so `Failure::classify`
/// ("connection refused", "deadline exceeded") and the executor's checks ("member not found",
/// "in sync", "unhealthy cluster") work on them.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// Nothing answered within the bound (dial + command timeout).
    #[error("no answer within {0:?} (context deadline exceeded)")]
    Timeout(Duration),
    /// The connection (TCP, TLS, HTTP/2) was not made within `--dial-timeout`.
    #[error("no connection within --dial-timeout {0:?} (context deadline exceeded)")]
    DialTimeout(Duration),
    /// The transport failed while connecting (refused, TLS, DNS).
    #[error("{line}")]
    Transport {
        /// The error chain as one line.
        line: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// etcd (or the gRPC layer) answered with an error.
    #[error("{line}")]
    Grpc {
        /// The error as one line, as etcdctl prints it.
        line: String,
        /// The client's error.
        #[source]
        source: etcd_client::Error,
    },
    /// etcdctl in the pod failed; its last line of stderr (or the exec status message).
    #[error("{0}")]
    Etcdctl(String),
    /// The Kubernetes exec into the etcd pod failed.
    #[error("exec in pod {pod}: {line}")]
    Exec {
        /// The pod.
        pod: String,
        /// The error chain as one line.
        line: String,
        /// The Kubernetes client's error.
        #[source]
        source: kube::Error,
    },
    /// An answer that is not one of the JSON shapes etcdctl or the grpc-gateway print.
    #[error("{0}")]
    Shape(String),
    /// None of the tool's endpoints answered; each with its error.
    #[error("no endpoint answered the member list: {0}")]
    NoEndpoint(String),
    /// No voter reports a leader, so no list can be confirmed by one.
    #[error("no leader is known: {0}")]
    NoLeader(String),
}

impl EtcdError {
    /// etcd did not apply the request for a reason that passes (a timeout, a leader change, a
    /// dropped connection): asking again after a fresh list is safe.
    pub fn is_transient(&self) -> bool {
        let e = self.to_string().to_ascii_lowercase();
        ["timeout", "timed out", "deadline", "leader changed", "no leader", "unavailable", "connection", "reset"]
            .iter()
            .any(|k| e.contains(k))
    }
}

/// What collectors and the executor need from etcd. Acts name the client URL to act through
/// (the one that answered the list before), so a route never picks another silently.
#[allow(async_fn_in_trait)]
pub trait Etcd: Sync {
    /// The member list from the first of the tool's endpoints that answers.
    async fn member_list(&self) -> Result<MemberList, EtcdError>;
    /// The member list as one client URL answers it (the leader's, to confirm a change: etcd
    /// 3.4 has no linearizable member list, and a follower's may lag).
    async fn member_list_at(&self, url: &str) -> Result<MemberList, EtcdError>;
    /// The status of one client URL.
    async fn status(&self, url: &str) -> Result<Status, EtcdError>;
    /// `member remove`.
    async fn remove(&self, via: &str, id: MemberId) -> Result<(), EtcdError>;
    /// `member promote`.
    async fn promote(&self, via: &str, id: MemberId) -> Result<(), EtcdError>;
    /// `member add --learner`.
    async fn add_learner(&self, via: &str, peer_url: &str) -> Result<(), EtcdError>;
    /// Whether something that speaks TLS answers a member's peer URL now: `Some(what)` when
    /// a handshake completed (or the listener answered with a TLS alert), `None` otherwise.
    async fn peer_answers(&self, peer_url: &str) -> Option<String>;
    /// The longest one request may take.
    fn budget(&self) -> Duration;
    /// A snapshot of the keyspace from one client URL through the maintenance API (what
    /// `etcdctl snapshot save` does), written to `to`, a file that must not exist yet.
    async fn snapshot(&self, via: &str, to: &std::path::Path) -> Result<Saved, EtcdError>;
}

/// What a snapshot wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// Bytes written.
    pub bytes: u64,
    /// The member's store revision when the snapshot began: the snapshot holds at least it.
    pub revision: Option<i64>,
}
