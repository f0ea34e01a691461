//! gRPC to the members' client URLs (etcd-client over an eagerly connected tonic channel).

use std::time::Duration;

use anyhow::{Result, bail};
use etcd_client::{Client, ConnectOptions, MemberAddOptions, MemberListResponse};
use etcd_doctor_checks::endpoint::Endpoint;
use etcd_doctor_checks::{
    id::MemberId,
    model::{Member, Status},
};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::{Etcd, EtcdError, MemberList};
use crate::collect::tls::{PATH_HINT, TlsFiles};
use crate::errors::{error_line, etcd_error_line};

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
    pub probe: Option<std::sync::Arc<crate::collect::tls_probe::ProbeTls>>,
    /// etcd auth (`--user`): each client authenticates for a token. `Debug` hides the password.
    /// Behind an `Arc`: the target travels in `Route` and is cloned per probe.
    user: Option<std::sync::Arc<crate::cli::Credentials>>,
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
        Ok(Target { endpoints, tls, dial, command, probe: None, user: None })
    }

    /// Authenticates as this etcd user (`--user`, `ETCDCTL_USER`).
    pub fn with_user(mut self, user: Option<crate::cli::Credentials>) -> Self {
        self.user = user.map(std::sync::Arc::new);
        self
    }

    /// The endpoints as given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A rustls client with the same CA and identity, for plain HTTPS (metrics pages).
    pub fn https_client(&self) -> Option<Result<crate::collect::api_probe::ProbeTls>> {
        self.tls.https_client()
    }

    /// The longest one probe may take.
    pub fn budget(&self) -> Duration {
        self.dial + self.command
    }

    /// The CA file, for hints in errors.
    pub fn ca_path(&self) -> Option<&std::path::Path> {
        self.tls.ca_path.as_deref()
    }

    /// A connected client for one endpoint. The connection (TCP, TLS handshake, HTTP/2) is made
    /// eagerly within `--dial-timeout`, as etcdctl's dial is: a SIGSTOPped or overloaded member
    /// accepts TCP but never finishes the handshake, and must cost the dial timeout only.
    /// TLS only for https URLs (a cluster may mix them during a migration).
    pub async fn client(&self, url: &str) -> Result<Client, EtcdError> {
        let transport = |e: tonic::transport::Error| EtcdError::Transport { line: error_line(&e), source: e };
        let mut ep = tonic::transport::Endpoint::from_shared(url.to_string())
            .map_err(transport)?
            .connect_timeout(self.dial)
            .timeout(self.command);
        if url.to_ascii_lowercase().starts_with("https://") {
            ep = ep.tls_config(self.tls.options()).map_err(transport)?;
        }
        let channel = match tokio::time::timeout(self.dial, ep.connect()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(transport(e)),
            Err(_) => return Err(EtcdError::DialTimeout(self.dial)),
        };
        let mut opts = ConnectOptions::new().with_timeout(self.command);
        if let Some(u) = &self.user {
            opts = opts.with_user(u.name.clone(), u.password.expose().to_string());
        }
        Client::from_channel(etcd_client::Channel::Tonic(channel), Some(opts)).await.map_err(grpc)
    }

    /// Status of one endpoint, bounded.
    pub async fn status(&self, url: &str) -> Result<Status, EtcdError> {
        let r = self
            .bounded(async {
                let mut c = self.client(url).await?;
                c.status().await.map(to_status).map_err(grpc)
            })
            .await;
        match r {
            Ok(s) => Ok(s),
            Err(e) => Err(self.lead(url, e).await),
        }
    }

    /// The member list from one endpoint, bounded.
    pub async fn member_list(&self, url: &str) -> Result<(Client, MemberListResponse), EtcdError> {
        let r = self
            .bounded(async {
                let mut c = self.client(url).await?;
                let list = c.member_list().await.map_err(grpc)?;
                Ok((c, list))
            })
            .await;
        match r {
            Ok(l) => Ok(l),
            Err(e) => Err(self.lead(url, e).await),
        }
    }

    /// The error with what to pass next, when its line says (wrong scheme for the port, a
    /// client certificate the server wants, a learner's endpoint alone).
    async fn lead(&self, url: &str, e: EtcdError) -> EtcdError {
        match e {
            EtcdError::Transport { line, source } => {
                EtcdError::Transport { line: self.hinted(url, line).await, source }
            }
            EtcdError::Grpc { line, source } => EtcdError::Grpc { line: self.hinted(url, line).await, source },
            other => other,
        }
    }

    /// `line` and its hint. An https endpoint that hung up is asked whether it speaks HTTP/2
    /// in plaintext (bounded by --dial-timeout): the hang-up alone cannot tell a plaintext
    /// port from a server that wants a client certificate.
    async fn hinted(&self, url: &str, line: String) -> String {
        let https = url.to_ascii_lowercase().starts_with("https://");
        if https && crate::errors::hung_up(&line) && super::plain_probe::answers_h2c(url, self.dial).await {
            return format!("{line}{}", crate::errors::PLAINTEXT_PORT);
        }
        let hint = crate::errors::connect_hint(url, &line, self.tls.has_identity());
        format!("{line}{hint}")
    }

    /// `fut`, bounded by dial + command timeout.
    async fn bounded<T>(&self, fut: impl Future<Output = Result<T, EtcdError>>) -> Result<T, EtcdError> {
        let budget = self.budget();
        tokio::time::timeout(budget, fut).await.unwrap_or(Err(EtcdError::Timeout(budget)))
    }
}

fn grpc(e: etcd_client::Error) -> EtcdError {
    EtcdError::Grpc { line: etcd_error_line(&e), source: e }
}

/// The members of a gRPC member list, without probes.
pub fn members_of(list: &MemberListResponse) -> Vec<Member> {
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

fn list_of(endpoint: &str, list: &MemberListResponse) -> MemberList {
    MemberList {
        endpoint: endpoint.to_string(),
        cluster_id: list.header().map(|h| MemberId(h.cluster_id())),
        answered_by: list.header().map(|h| MemberId(h.member_id())),
        members: members_of(list),
    }
}

impl Etcd for Target {
    async fn member_list(&self) -> Result<MemberList, EtcdError> {
        let mut asks: FuturesUnordered<_> =
            self.endpoints.iter().map(|u| async move { (u, Target::member_list(self, u).await) }).collect();
        let mut errors = Vec::new();
        while let Some((url, r)) = asks.next().await {
            match r {
                Ok((_, list)) => return Ok(list_of(url, &list)),
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        Err(EtcdError::NoEndpoint(errors.join("; ")))
    }

    async fn member_list_at(&self, url: &str) -> Result<MemberList, EtcdError> {
        Target::member_list(self, url).await.map(|(_, l)| list_of(url, &l))
    }

    async fn status(&self, url: &str) -> Result<Status, EtcdError> {
        Target::status(self, url).await
    }

    async fn remove(&self, via: &str, id: MemberId) -> Result<(), EtcdError> {
        self.bounded(async {
            let mut c = self.client(via).await?;
            c.member_remove(id.0).await.map(|_| ()).map_err(grpc)
        })
        .await
    }

    async fn promote(&self, via: &str, id: MemberId) -> Result<(), EtcdError> {
        self.bounded(async {
            let mut c = self.client(via).await?;
            c.member_promote(id.0).await.map(|_| ()).map_err(grpc)
        })
        .await
    }

    async fn add_learner(&self, via: &str, peer_url: &str) -> Result<(), EtcdError> {
        self.bounded(async {
            let mut c = self.client(via).await?;
            let opts = MemberAddOptions::new().with_is_learner();
            c.member_add([peer_url.to_string()], Some(opts)).await.map(|_| ()).map_err(grpc)
        })
        .await
    }

    async fn peer_answers(&self, peer_url: &str) -> Option<String> {
        super::peer::answers(peer_url, self.dial, self.command).await
    }

    fn budget(&self) -> Duration {
        Target::budget(self)
    }

    /// Streams the snapshot into `to` (created new, mode 0600: it holds every key and
    /// secret), each chunk bounded by the command timeout; a partial file is removed.
    async fn snapshot(&self, via: &str, to: &std::path::Path) -> Result<super::Saved, EtcdError> {
        use tokio::io::AsyncWriteExt;
        let revision = Target::status(self, via).await?.revision;
        let mut c = self.bounded(self.client(via)).await?;
        let mut stream = self.bounded(async { c.snapshot().await.map_err(grpc) }).await?;
        let io = |e: std::io::Error| EtcdError::Shape(format!("cannot write {}: {e}", to.display()));
        let mut file =
            tokio::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to).await.map_err(io)?;
        let mut bytes = 0u64;
        let result = loop {
            let next = tokio::time::timeout(self.command, stream.message()).await;
            match next {
                Ok(Ok(Some(chunk))) => {
                    if let Err(e) = file.write_all(chunk.blob()).await {
                        break Err(io(e));
                    }
                    bytes += chunk.blob().len() as u64;
                }
                Ok(Ok(None)) => break file.sync_all().await.map_err(io),
                Ok(Err(e)) => break Err(grpc(e)),
                Err(_) => break Err(EtcdError::Timeout(self.command)),
            }
        };
        if let Err(e) = result {
            drop(file);
            let _ = tokio::fs::remove_file(to).await;
            return Err(e);
        }
        Ok(super::Saved { bytes, revision })
    }
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
        leader_unknown: false,
        raft_term: r.raft_term(),
        revision: r.header().map(|h| h.revision()),
        raft_index: r.raft_index(),
        raft_applied_index: Some(r.raft_applied_index()),
        is_learner: r.is_learner(),
        errors: r.errors().to_vec(),
        db_size_quota: opt(r.db_size_quota()),
    }
}
