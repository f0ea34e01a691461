//! The one gather step: turns what the flags name (flags and `ETCDCTL_*`, `--local`, `--bundle`,
//! the Kubernetes API) into one `Snapshot`, whichever route reaches etcd (a bundle, gRPC to the
//! endpoints, or etcdctl in an etcd pod). The routes only read; the finishing steps (alarms
//! from statuses, members refused by TLS marked unknown, members mapped to nodes, thresholds
//! and audit settings) run once, here. The node's files are read once, and the route is handed
//! back so that a fix writes to etcd the way the state was read.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use etcd_doctor_checks::cert::CertRole;
use etcd_doctor_checks::distribution::Distribution;
use etcd_doctor_checks::model::{EtcdPod, Gap, Node, Snapshot, Source};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;

use super::certs::{CertSet, FileSpec};
use super::kube::KubeTarget;
use super::local::Local;
use super::tls::TlsFiles;
use super::tls_probe::ProbeTls;
use super::{audit_facts, bundle, certs, etcd, join_probe, kube, local};
use crate::cli::Global;
use crate::etcd::exec::ExecTarget;

/// What a run collects beyond the default.
#[derive(Default)]
pub struct Mode {
    /// `--local` with no etcd answering: report what the node's files say instead of failing.
    pub degrade_local: bool,
    /// HashKV across members (`audit`): it reads the whole keyspace, so not on every check.
    pub hashes: bool,
    /// `audit --target-version`.
    pub target_version: Option<String>,
}

/// The snapshot, and the route it was read by.
pub struct Gathered {
    /// Everything a check may read.
    pub snap: Snapshot,
    /// How etcd was reached.
    pub route: Route,
}

/// How etcd was reached.
pub enum Route {
    /// A captured bundle: read-only.
    Bundle,
    /// gRPC to the endpoints the flags, `ETCDCTL_*` or `--local` named.
    Grpc(etcd::Target),
    /// etcdctl inside an etcd pod, through the Kubernetes API (no endpoint given).
    Pod,
}

/// Collects a snapshot from the inputs the flags name and finishes it.
pub fn gather(g: &Global, mode: &Mode) -> Result<Gathered> {
    let (mut snap, route) = match &g.bundle {
        Some(dir) => (bundle::load(dir, OffsetDateTime::now_utc())?, Route::Bundle),
        None => live(g, mode)?,
    };
    finish(&mut snap, g, mode);
    Ok(Gathered { snap, route })
}

/// The steps every route needs once its reading is done, then the flags' settings.
fn finish(snap: &mut Snapshot, g: &Global, mode: &Mode) {
    finish_read(snap);
    snap.audit.quota_bytes = g.quota_bytes;
    snap.audit.restart_window_secs = Some(g.restart_window.as_secs());
    snap.audit.target_version = mode.target_version.clone();
    snap.thresholds.expiry_warning_secs = i64::try_from(g.expiry_warning.as_secs()).unwrap_or(i64::MAX);
    snap.thresholds.node_grace_secs = i64::try_from(g.node_grace.as_secs()).unwrap_or(i64::MAX);
}

/// What follows from what was read, whatever read it (also the fuzzer's bundle target).
pub fn finish_read(snap: &mut Snapshot) {
    // Every status carries the active alarms in its errors; the Alarm RPC would go through raft
    // and wait out an election when the leader is the member that hangs.
    snap.alarms = snap.alarms_from_statuses();
    certs::unknown_when_refused(snap);
    snap.map_nodes();
}

/// A live cluster: etcd by its route, the Kubernetes API beside it, and `--local`'s node.
fn live(g: &Global, mode: &Mode) -> Result<(Snapshot, Route)> {
    let kube = (!g.no_kube).then(|| kube_target(g));
    let local = if g.local { Some(local::discover(&g.root)?) } else { None };
    let rt = runtime()?;
    let (kube_read, mut snap, route) = if exec_mode(g) {
        let (k, snap) = rt.block_on(through_pod(g, kube.as_ref()))?;
        (k, snap, Route::Pod)
    } else {
        let (target, inputs) = target_and_certs(g, local.as_ref())?;
        let (k, snap) = rt.block_on(through_grpc(&target, inputs, kube.as_ref(), mode, local.is_some()))?;
        (k, snap, Route::Grpc(target))
    };
    if let Some(l) = &local {
        snap.source = Source::Local;
        let timeout = g.dial_timeout + g.command_timeout;
        rt.block_on(join_probe::run(&mut snap, l, g.server_url.as_deref(), timeout))?;
    }
    merge_kube(&mut snap, kube_read);
    Ok((snap, route))
}

/// What the Kubernetes API said: `None` when it was not asked (`--no-kube`), and the etcd
/// pods only when a client could be made.
struct KubeRead {
    nodes: Option<Result<Vec<Node>, Gap>>,
    pods: Option<Result<Vec<EtcdPod>, Gap>>,
}

fn merge_kube(snap: &mut Snapshot, k: KubeRead) {
    match k.nodes {
        Some(Ok(n)) => snap.nodes = Some(n),
        Some(Err(gap)) => snap.gaps.push(gap),
        None => snap.gaps.push(Gap::new("kubernetes", "not asked (--no-kube)")),
    }
    match k.pods {
        Some(Ok(p)) => snap.etcd_pods = Some(p),
        Some(Err(gap)) => snap.gaps.push(gap),
        None => {}
    }
}

fn kube_target(g: &Global) -> KubeTarget {
    KubeTarget {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        timeout: g.dial_timeout + g.command_timeout,
    }
}

/// Nodes and etcd pods, or what stopped them.
async fn ask_kube(kube: Option<&KubeTarget>) -> KubeRead {
    let Some(k) = kube else { return KubeRead { nodes: None, pods: None } };
    match kube::client(k).await {
        Err(gap) => KubeRead { nodes: Some(Err(gap)), pods: None },
        Ok((client, server)) => {
            let (n, p) = tokio::join!(
                kube::nodes_with(client.clone(), &server, k.timeout),
                kube::etcd_pods(client, &server, k.timeout)
            );
            KubeRead { nodes: Some(n), pods: Some(p) }
        }
    }
}

/// gRPC to the endpoints, all at once: the API's wait never adds to etcd's, nor does the
/// certificate probe, which runs beside the status probe.
async fn through_grpc(
    target: &etcd::Target,
    inputs: CertInputs,
    kube: Option<&KubeTarget>,
    mode: &Mode,
    on_node: bool,
) -> Result<(KubeRead, Snapshot)> {
    let mut target = target.clone();
    target.probe = Some(Arc::new(inputs.probe));
    let _shown = crate::progress::Progress::start(&format!(
        "asking etcd at {} and its members{}…",
        target.endpoints().join(","),
        if kube.is_some() { ", and the Kubernetes API" } else { "" }
    ));
    let etcd = async {
        let (mut snap, handshakes) = etcd::collect(&target).await?;
        // After the statuses, which say the URL each member answers on.
        audit_facts::metrics(&target, &mut snap).await;
        if mode.hashes {
            audit_facts::hashes(&target, &mut snap).await;
        }
        anyhow::Ok((snap, handshakes))
    };
    let (k, e) = tokio::join!(ask_kube(kube), etcd);
    let (mut snap, handshakes) = match e {
        Ok(x) => x,
        // On a node, etcd that does not answer is often etcd that refuses to start (an
        // ETCD_INITIAL_CLUSTER with a duplicate URL): the node's own files still say why, so
        // the run degrades to a report of them with the failure as a gap.
        Err(err) if on_node && mode.degrade_local => {
            let mut s = Snapshot::new(Source::Local, OffsetDateTime::now_utc());
            s.gaps.push(Gap::new("etcd", format!("{err:#}")));
            (s, Vec::new())
        }
        Err(err) => return Err(err),
    };
    let mut set = CertSet::default();
    set.layout(inputs.layout);
    for f in &inputs.files {
        set.add_file(f);
    }
    for h in handshakes {
        set.add_handshake(h);
    }
    if !set.is_empty() {
        let (certs, gaps) = set.finish();
        snap.gaps.extend(gaps);
        snap.certs = Some(certs);
    }
    Ok((k, snap))
}

/// No endpoint: etcd is reached through the API, with etcdctl inside an etcd pod.
async fn through_pod(g: &Global, kube: Option<&KubeTarget>) -> Result<(KubeRead, Snapshot)> {
    let Some(k) = kube else {
        return Err(target(g, None).err().unwrap_or_else(|| anyhow!("no etcd endpoint given")));
    };
    let (client, server) = kube::client(k).await.map_err(|gap| {
        anyhow!("no etcd endpoint given, and the Kubernetes API cannot be asked to reach etcd: {}. {NEXT}", gap.reason)
    })?;
    let exec = find_exec(g, client.clone(), &server).await?;
    let _shown = crate::progress::Progress::start(&format!("asking etcd through pod kube-system/{}…", exec.pod));
    let (n, p, s) = tokio::join!(
        kube::nodes_with(client.clone(), &server, k.timeout),
        kube::etcd_pods(client, &server, k.timeout),
        exec.collect()
    );
    let mut s = s?;
    s.gaps.push(Gap::new(
        "certificates",
        "not checked through the Kubernetes API route (pass --endpoints and the certificate flags, or run --local on a node)",
    ));
    s.gaps.push(Gap::new(
        "metrics",
        "members' /metrics and HashKV are not read through the Kubernetes API route: restart-wave and hash-mismatch could not decide",
    ));
    Ok((KubeRead { nodes: Some(n), pods: Some(p) }, s))
}

/// What to pass when neither an endpoint nor the Kubernetes API leads to etcd.
const NEXT: &str = "Pass --endpoints https://<member IP>:2379 with --cacert, --cert and --key (kubeadm: \
/etc/kubernetes/pki/etcd/{ca.crt,healthcheck-client.crt,healthcheck-client.key}), or run \
`sudo kubectl etcd-doctor --local` on an etcd node; add --no-kube when the API is down";

/// No endpoint, not on a node, and the API may be asked: etcd is reached through an etcd pod.
fn exec_mode(g: &Global) -> bool {
    !g.local && !g.no_kube && g.endpoints.iter().all(|e| e.trim().is_empty())
}

/// The etcd pod to run etcdctl in, or an error that says what to pass instead.
pub async fn find_exec(g: &Global, client: ::kube::Client, server: &str) -> Result<ExecTarget> {
    ExecTarget::find(client, server, g.dial_timeout, g.command_timeout)
        .await
        .map(|t| t.with_user(g.user.clone()))
        .map_err(|why| {
            anyhow!("no etcd endpoint given, and etcd cannot be reached through the Kubernetes API ({why}). {NEXT}")
        })
}

/// The gRPC target from the flags and what `--local` read.
fn target(g: &Global, local: Option<&Local>) -> Result<etcd::Target> {
    target_and_certs(g, local).map(|(t, _)| t)
}

/// What the certificate checks read: files and the probe's trust and identities.
struct CertInputs {
    files: Vec<FileSpec>,
    probe: ProbeTls,
    layout: Option<Distribution>,
}

/// The target, and the certificate files the flags and `--local` name; explicit flags win
/// over what `--local` found.
fn target_and_certs(g: &Global, local: Option<&Local>) -> Result<(etcd::Target, CertInputs)> {
    let mut files: Vec<FileSpec> = local.map(|l| l.cert_files.clone()).unwrap_or_default();
    let (endpoints, cacert, cert, key) = match local {
        Some(l) => (
            if g.endpoints.iter().all(|e| e.trim().is_empty()) { l.endpoints.clone() } else { g.endpoints.clone() },
            Some(g.cacert.clone().unwrap_or_else(|| l.cacert.clone())),
            Some(g.cert.clone().unwrap_or_else(|| l.cert.clone())),
            Some(g.key.clone().unwrap_or_else(|| l.key.clone())),
        ),
        None => (g.endpoints.clone(), g.cacert.clone(), g.cert.clone(), g.key.clone()),
    };
    let tls = TlsFiles::load(cacert.as_deref(), cert.as_deref(), key.as_deref());
    let tls = match local {
        Some(l) => tls.with_context(|| format!("--local ({} layout from {})", l.distribution, l.source.display()))?,
        None => tls?,
    };
    if let Some(ca) = &cacert {
        files.push(FileSpec::new(ca, &[CertRole::ServerCa], "--cacert"));
    }
    if let (Some(c), Some(k)) = (&cert, &key) {
        files.push(FileSpec::new(c, &[CertRole::Client], "--cert").key(k));
    }
    let certs_of = |p: &std::path::Path| certs::read_certs(p).unwrap_or_default();
    let pair = |c: &std::path::Path, k: &std::path::Path| {
        let chain = certs_of(c);
        let key = std::fs::read(k).ok().and_then(|b| PrivateKeyDer::from_pem_slice(&b).ok());
        key.filter(|_| !chain.is_empty()).map(|k| (chain, k))
    };
    let probe = ProbeTls {
        server_roots: cacert.as_deref().map(certs_of).unwrap_or_default(),
        peer_roots: local.and_then(|l| l.peer_ca.as_deref()).map(certs_of).unwrap_or_default(),
        client_identity: cert.as_deref().zip(key.as_deref()).and_then(|(c, k)| pair(c, k)),
        peer_identity: local.and_then(|l| l.peer_pair.as_ref()).and_then(|(c, k)| pair(c, k)),
    };
    let target = etcd::Target::new(&endpoints, tls, g.dial_timeout, g.command_timeout)?.with_user(g.user.clone());
    Ok((target, CertInputs { files, probe, layout: local.and_then(|l| l.layout()) }))
}

/// The async runtime a command runs its I/O on; two workers are plenty for a handful of members.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
