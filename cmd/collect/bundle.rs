//! Offline input: a directory of captured etcdctl output, read into the same `Snapshot` the
//! live collector makes, so the same checks run on it.
//!
//! - `member-list.json`: `etcdctl member list -w json` (required; decimal ids, or `--hex`)
//! - `endpoint-status.json`: `etcdctl endpoint status --cluster -w json` (members absent from
//!   it were unreachable: etcdctl leaves them out)
//! - `endpoint-health.json`: `etcdctl endpoint health --cluster -w json` (optional)
//! - `nodes.yaml`: `kubectl get nodes -o yaml` (optional; adds node evidence)
//! - `pods.yaml`: `kubectl -n kube-system get pods -o yaml` (optional; its etcd pods)
//! - `local.json`: what `--local` found on a node, join URL probes included (optional)
//! - `local/`: a copy of a node's config files laid out as on the node (optional; read like
//!   `--root` when there is no `local.json`; no keys, secrets redacted)
//! - `hashkv.json`: `etcdctl endpoint hashkv --cluster -w json` (optional)
//! - `metrics/<member name>.prom`: `curl --cacert .. --cert .. --key .. https://<member>:2379/metrics`
//!   (optional)
//! - `pki/`: certificate files (optional): `ca.crt`/`ca.pem` (server and client CA, and the
//!   peer CA unless `peer-ca.crt` is there), `peer-ca.crt`, `server.crt`, `peer.crt`,
//!   `member*.pem` (Kubespray: server and peer), `client.crt`, `healthcheck-client.crt`,
//!   `admin*.pem`, `apiserver-etcd-client.crt`, `node-*.pem`, K3s's `server-client.crt` and
//!   `peer-server-client.crt`; other `*.crt`/`*.pem` are read for expiry only. A subdirectory
//!   named like a member (`pki/etcd-1/server.crt`) holds that member's files. A key beside a
//!   certificate (`server.key`, `member-key.pem`) is only checked to belong to it.
//! - `certs.json`: the certificate summaries `bundle collect` wrote (optional)
//! - `member-list.txt`, `endpoint-status.txt`, `endpoint-health.txt`: etcdctl's simple or
//!   table output, read when the `.json` is absent (see `etcdctl_text`)
//! - `collected-at.txt`: when it was captured (RFC 3339); certificates are judged at that time

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use etcd_doctor_checks::endpoint::Endpoint;
use etcd_doctor_checks::{Attempt, Gap, Member, MemberId, Probe, Snapshot, Source, Status};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::certs::{CertSet, FileSpec};

/// File names inside a bundle.
pub const MEMBER_LIST: &str = "member-list.json";
/// See module docs.
pub const ENDPOINT_STATUS: &str = "endpoint-status.json";
/// See module docs.
pub const ENDPOINT_HEALTH: &str = "endpoint-health.json";
/// `kubectl get nodes -o yaml` (optional).
pub const NODES: &str = "nodes.yaml";
/// `kubectl -n kube-system get pods -o yaml` (optional; the etcd pods are used).
pub const PODS: &str = "pods.yaml";
/// What `--local` found, probes included (optional; written by `bundle collect --local`).
pub const LOCAL_JSON: &str = "local.json";
/// A copy of a node's config files, as `--root` reads them (optional; secrets redacted).
pub const LOCAL_DIR: &str = "local";
/// `etcdctl endpoint hashkv --cluster -w json` (optional; for hash-mismatch).
pub const HASHKV: &str = "hashkv.json";
/// Each member's `/metrics` page as `metrics/<member name>.prom` (optional; restart-wave, quota).
pub const METRICS_DIR: &str = "metrics";
/// Certificate files (optional).
pub const PKI: &str = "pki";
/// Certificate summaries written by `bundle collect` (optional).
pub const CERTS: &str = "certs.json";
/// When the bundle was captured, RFC 3339 (optional).
pub const COLLECTED_AT: &str = "collected-at.txt";

/// Reads a bundle directory.
pub fn load(dir: &Path, now: OffsetDateTime) -> Result<Snapshot> {
    if !dir.is_dir() {
        bail!("--bundle {}: not a directory", dir.display());
    }
    let ml_path = super::etcdctl_text::or_text(dir.join(MEMBER_LIST));
    if !ml_path.exists() {
        bail!(
            "bundle {} has no {MEMBER_LIST}; capture it with: etcdctl member list -w json > {MEMBER_LIST}",
            dir.display()
        );
    }
    let ml = read_json(&ml_path)?;
    let at_path = dir.join(COLLECTED_AT);
    let now = if at_path.exists() {
        let text = std::fs::read_to_string(&at_path).with_context(|| format!("cannot read {}", at_path.display()))?;
        OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("{}: not an RFC 3339 time such as 2026-11-20T00:00:00Z", at_path.display()))?
    } else {
        now
    };
    let mut snap = Snapshot::new(Source::Bundle, now);
    members_into(&ml, &ml_path, &mut snap)?;
    if snap.members.iter().filter(|m| m.id.0 % 1000 == 0).count() >= 2 {
        snap.gaps.push(Gap::new(
            "bundle",
            format!(
                "{MEMBER_LIST}: member ids end in 000, as if rounded by a float JSON tool (jq, JavaScript); \
                 they may not match the real ids: capture again with etcdctl directly"
            ),
        ));
    }

    let status_path = super::etcdctl_text::or_text(dir.join(ENDPOINT_STATUS));
    if status_path.exists() {
        read_statuses(&status_path, &mut snap)?;
    } else {
        snap.gaps.push(Gap::new(
            "bundle",
            format!(
                "no {ENDPOINT_STATUS}: reachability unknown (capture: etcdctl endpoint status --cluster -w json > {ENDPOINT_STATUS})"
            ),
        ));
    }
    snap.alarms = snap.alarms_from_statuses();
    let health_path = super::etcdctl_text::or_text(dir.join(ENDPOINT_HEALTH));
    if health_path.exists() {
        read_health(&health_path, &mut snap)?;
    }
    let nodes_path = dir.join(NODES);
    if nodes_path.exists() {
        let text =
            std::fs::read_to_string(&nodes_path).with_context(|| format!("cannot read {}", nodes_path.display()))?;
        let nodes = crate::collect::kube::parse_nodes(&text)
            .map_err(|e| anyhow!("cannot parse {} (`kubectl get nodes -o yaml` output?): {e}", nodes_path.display()))?;
        snap.nodes = Some(nodes);
        snap.map_nodes();
    } else {
        snap.gaps.push(Gap::new(
            "kubernetes",
            format!("no {NODES} in the bundle (capture: kubectl get nodes -o yaml > {NODES})"),
        ));
    }
    let pods_path = dir.join(PODS);
    if pods_path.exists() {
        let text =
            std::fs::read_to_string(&pods_path).with_context(|| format!("cannot read {}", pods_path.display()))?;
        let pods = crate::collect::kube::parse_etcd_pods(&text).map_err(|e| {
            anyhow!("cannot parse {} (`kubectl -n kube-system get pods -o yaml` output?): {e}", pods_path.display())
        })?;
        snap.etcd_pods = Some(pods);
    }
    let local_json = dir.join(LOCAL_JSON);
    if local_json.exists() {
        let text =
            std::fs::read_to_string(&local_json).with_context(|| format!("cannot read {}", local_json.display()))?;
        snap.local =
            Some(serde_json::from_str(&text).with_context(|| format!("cannot parse {}", local_json.display()))?);
    } else if dir.join(LOCAL_DIR).is_dir() {
        snap.local = crate::collect::local::node_facts(&dir.join(LOCAL_DIR))
            .with_context(|| format!("{}/{LOCAL_DIR}", dir.display()))?;
    }
    let hashkv = dir.join(HASHKV);
    if hashkv.exists() {
        read_hashkv(&hashkv, &mut snap)?;
    }
    let metrics = dir.join(METRICS_DIR);
    if metrics.is_dir() {
        crate::collect::audit_facts::metrics_from_dir(&metrics, &mut snap)?;
    }
    read_certs(dir, &mut snap)?;
    if !resolve_free(&snap.members) {
        snap.gaps.push(Gap::new(
            "resolver",
            "host names in a bundle are not resolved (offline: this machine's resolver does not know the cluster's); \
             peer URLs are compared by name",
        ));
    }
    Ok(snap)
}

/// The members of an `etcdctl member list -w json` document into `snap` (cluster id too);
/// `origin` names the source in errors.
pub fn members_into(ml: &Value, origin: &Path, snap: &mut Snapshot) -> Result<()> {
    let ml_path = origin;
    let mode = IdMode::of(ml);

    snap.cluster_id =
        ml.pointer("/header/cluster_id").map(|v| id(v, mode, ml_path, "header.cluster_id")).transpose()?;
    let raw_members = ml.get("members").and_then(Value::as_array).ok_or_else(|| {
        anyhow!("{}: no \"members\" array: is this `etcdctl member list -w json` output?", ml_path.display())
    })?;
    for (i, m) in raw_members.iter().enumerate() {
        let doc: MemberDoc = serde_json::from_value(m.clone())
            .with_context(|| format!("cannot parse {}: members[{i}]", ml_path.display()))?;
        let mid = id(&doc.id, mode, ml_path, &format!("members[{i}].ID"))?;
        snap.members.push(Member {
            id: mid,
            name: doc.name,
            peer_urls: doc.peer_urls,
            client_urls: doc.client_urls,
            is_learner: doc.is_learner,
            probe: None,
            node: None,
            peer_probe: None,
        });
    }
    Ok(())
}

/// One `Status` object of `etcdctl endpoint status -w json`.
pub fn status_of(body: Value, mode: IdMode, path: &Path, at: &str) -> Result<Status> {
    let doc: StatusDoc =
        serde_json::from_value(body).with_context(|| format!("cannot parse {}: element {at}", path.display()))?;
    let header = doc.header.as_ref();
    let member_id = match header.and_then(|h| h.get("member_id")) {
        Some(v) => id(v, mode, path, &format!("{at}.header.member_id"))?,
        None => bail!("{}: element {at} has no header.member_id", path.display()),
    };
    let leader = match &doc.leader {
        Some(v) => Some(id(v, mode, path, &format!("{at}.leader"))?).filter(|l| l.0 != 0),
        None => None,
    };
    let cluster_id = match header.and_then(|h| h.get("cluster_id")) {
        Some(v) => Some(id(v, mode, path, &format!("{at}.header.cluster_id"))?),
        None => None,
    };
    Ok(Status {
        member_id,
        cluster_id,
        version: doc.version,
        db_size: doc.db_size,
        db_size_in_use: doc.db_size_in_use,
        leader,
        raft_term: doc.raft_term,
        revision: header.and_then(|h| h.get("revision")).and_then(Value::as_i64),
        raft_index: doc.raft_index,
        raft_applied_index: doc.raft_applied_index,
        is_learner: doc.is_learner,
        errors: doc.errors,
        db_size_quota: doc.db_size_quota,
    })
}

/// `etcdctl endpoint hashkv -w json`: `[{"Endpoint", "HashKV": {header, hash, compact_revision,
/// hash_revision?}}]`; the hash covers `hash_revision` (3.5+) or the header's revision.
fn read_hashkv(path: &Path, snap: &mut Snapshot) -> Result<()> {
    let v = read_json(path)?;
    let mode = IdMode::of(&v);
    let Value::Array(entries) = v else {
        bail!("{}: expected the JSON array `etcdctl endpoint hashkv -w json` prints", path.display())
    };
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let h = e.get("HashKV").unwrap_or(e);
        let at = format!("[{i}]");
        let member_id = match h.pointer("/header/member_id") {
            Some(v) => id(v, mode, path, &format!("{at}.HashKV.header.member_id"))?,
            None => bail!("{}: element {at} has no HashKV.header.member_id", path.display()),
        };
        let num = |p: &str| h.pointer(p).and_then(Value::as_i64);
        let revision = num("/hash_revision").filter(|r| *r > 0).or(num("/header/revision")).unwrap_or(0);
        let hash = h
            .get("hash")
            .and_then(Value::as_u64)
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| anyhow!("{}: element {at} has no 32-bit HashKV.hash", path.display()))?;
        out.push(etcd_doctor_checks::audit_data::HashKv {
            member_id,
            revision,
            compact_revision: num("/compact_revision").unwrap_or(0),
            hash,
        });
    }
    snap.audit.hashes = Some(out);
    Ok(())
}

/// `certs.json` and `pki/`: certificate summaries and files.
fn read_certs(dir: &Path, snap: &mut Snapshot) -> Result<()> {
    let json = dir.join(CERTS);
    let mut set = if json.exists() {
        let v = read_json(&json)?;
        let certs: etcd_doctor_checks::Certs = serde_json::from_value(v)
            .with_context(|| format!("cannot parse {} (written by `bundle collect`?)", json.display()))?;
        CertSet::from_certs(certs)
    } else {
        CertSet::default()
    };
    let pki = dir.join(PKI);
    if pki.is_dir() {
        for spec in pki_files(&pki)? {
            set.add_file(&spec);
        }
    }
    if set.is_empty() {
        snap.gaps.push(Gap::new(
            "certificates",
            format!("no {PKI}/ or {CERTS} in the bundle: certificates were not checked (copy the etcd certificates, not the keys, into {PKI}/)"),
        ));
        return Ok(());
    }
    let (certs, gaps) = set.finish();
    snap.gaps.extend(gaps);
    snap.certs = Some(certs);
    super::certs::unknown_when_refused(snap);
    Ok(())
}

/// The certificate files of a bundle's `pki/` and of its member subdirectories, by name.
pub fn pki_files(pki: &Path) -> Result<Vec<FileSpec>> {
    let mut out = Vec::new();
    let mut dirs: Vec<(PathBuf, Option<String>)> = vec![(pki.to_path_buf(), None)];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(pki)
        .with_context(|| format!("cannot read {}", pki.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries.iter().filter(|p| p.is_dir()) {
        let name = p.file_name().and_then(|n| n.to_str()).map(str::to_string);
        dirs.push((p.clone(), name));
    }
    let name_of = |p: &Path| p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    let has_peer_ca = |d: &Path| ["peer-ca.crt", "peer-ca.pem", "etcd-peer-ca.crt"].iter().any(|n| d.join(n).is_file());
    let root_peer_ca = has_peer_ca(pki);
    for (d, member) in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .with_context(|| format!("cannot read {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let name = name_of(&f);
            let Some(stem) = [".crt", ".pem", ".cer"].iter().find_map(|ext| name.strip_suffix(ext)) else { continue };
            if stem.ends_with("-key") || stem.ends_with(".key") || stem == "key" {
                continue;
            }
            use etcd_doctor_checks::CertRole::*;
            let roles: Vec<etcd_doctor_checks::CertRole> = match stem {
                "ca" | "etcd-ca" | "server-ca" | "trusted-ca" if root_peer_ca || has_peer_ca(&d) => {
                    vec![ServerCa, ClientCa]
                }
                "ca" | "etcd-ca" | "server-ca" | "trusted-ca" => vec![ServerCa, ClientCa, PeerCa],
                "peer-ca" | "etcd-peer-ca" => vec![PeerCa],
                "server" | "server-client" | "etcd-server" => vec![Server],
                "peer" | "peer-server-client" | "etcd-peer" => vec![Peer],
                s if s.starts_with("member") => vec![Server, Peer],
                "apiserver-etcd-client" => vec![ApiserverEtcdClient],
                s if s.starts_with("node-") => vec![ApiserverEtcdClient],
                "client" | "healthcheck-client" | "etcd-client" => vec![Client],
                s if s.starts_with("admin") => vec![Client],
                _ => vec![Other],
            };
            let original = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let original_stem = original.rsplit_once('.').map(|(s, _)| s).unwrap_or(original);
            let key = [format!("{original_stem}.key"), format!("{original_stem}-key.pem")]
                .into_iter()
                .map(|k| d.join(k))
                .find(|k| k.is_file());
            let mut spec = FileSpec::new(&f, &roles, format!("bundle {PKI}/")).member(member.as_deref());
            if roles.iter().all(|r| r.is_ca()) {
                spec.member = None;
            }
            if let Some(k) = key {
                spec = spec.key(k);
            }
            out.push(spec);
        }
    }
    Ok(out)
}

fn read_json(path: &Path) -> Result<Value> {
    if path.extension().is_some_and(|e| e == "txt") {
        return super::etcdctl_text::read(path); // etcdctl's simple/table output (member-list.txt, …)
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {} as JSON", path.display()))
}

#[derive(Deserialize)]
struct MemberDoc {
    #[serde(rename = "ID")]
    id: Value,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "peerURLs")]
    peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs")]
    client_urls: Vec<String>,
    #[serde(default, rename = "isLearner")]
    is_learner: bool,
}

#[derive(Deserialize)]
struct StatusDoc {
    #[serde(default)]
    header: Option<Value>,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "dbSize")]
    db_size: i64,
    #[serde(default)]
    leader: Option<Value>,
    #[serde(default, rename = "raftIndex")]
    raft_index: u64,
    #[serde(default, rename = "raftTerm")]
    raft_term: u64,
    #[serde(default, rename = "raftAppliedIndex")]
    raft_applied_index: Option<u64>,
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default, rename = "dbSizeInUse")]
    db_size_in_use: Option<i64>,
    #[serde(default, rename = "isLearner")]
    is_learner: bool,
    #[serde(default, rename = "dbSizeQuota")]
    db_size_quota: Option<i64>,
}

#[derive(Deserialize)]
struct HealthDoc {
    endpoint: String,
    health: bool,
    #[serde(default)]
    error: Option<String>,
}

fn read_statuses(path: &Path, snap: &mut Snapshot) -> Result<()> {
    let v = read_json(path)?;
    let mode = IdMode::of(&v);
    let entries: Vec<Value> = match v {
        Value::Array(a) => a,
        other @ Value::Object(_) => vec![other],
        _ => bail!("{}: expected the JSON array `etcdctl endpoint status -w json` prints", path.display()),
    };
    let mut attempts: Vec<Vec<Attempt>> = vec![Vec::new(); snap.members.len()];
    let mut covers_cluster = true;
    for (i, e) in entries.into_iter().enumerate() {
        let (endpoint, body) = match (e.get("Endpoint"), e.get("Status")) {
            (Some(ep), Some(st)) => (ep.as_str().unwrap_or_default().to_string(), st.clone()),
            _ => (String::new(), e),
        };
        let at = format!("[{i}]");
        let status = status_of(body, mode, path, &at)?;
        let member_id = status.member_id;
        if let (Some(c), Some(mine)) = (status.cluster_id, snap.cluster_id)
            && c != mine
        {
            snap.other_clusters.push(etcd_doctor_checks::OtherCluster {
                endpoint: endpoint.clone(),
                cluster_id: c,
                member_id,
                members: Vec::new(),
            });
            if let Some(j) = snap.members.iter().position(|m| is_client_url(m, &endpoint)) {
                let msg = format!(
                    "answers as member {member_id} of another cluster {c} (this cluster is {mine}): its data was wiped and it bootstrapped a new cluster"
                );
                attempts[j].push(Attempt { endpoint: endpoint.clone(), result: Err(msg) });
            }
            continue;
        }
        match snap.members.iter().position(|m| m.id == member_id) {
            Some(j) => {
                let m = &snap.members[j];
                if !endpoint.is_empty() && !is_client_url(m, &endpoint) {
                    covers_cluster = false;
                }
                let ep = if endpoint.is_empty() { m.client_urls.first().cloned().unwrap_or_default() } else { endpoint };
                attempts[j].push(Attempt { endpoint: ep, result: Ok(status) });
            }
            None => snap.gaps.push(Gap::new(
                "bundle",
                format!(
                    "{ENDPOINT_STATUS} {at} is from member {member_id}, which is not in {MEMBER_LIST} (another cluster, or captured at another time?)"
                ),
            )),
        }
    }
    if !covers_cluster {
        snap.gaps.push(Gap::new(
            "bundle",
            format!(
                "{ENDPOINT_STATUS} was not captured with --cluster (it asked endpoints the members do not advertise); \
                 members missing from it are not known to be down"
            ),
        ));
    }
    for (m, at) in snap.members.iter_mut().zip(attempts) {
        if !at.is_empty() {
            m.probe = Some(Probe { attempts: at });
        } else if covers_cluster && !m.client_urls.is_empty() {
            let attempts = m
                .client_urls
                .iter()
                .map(|u| Attempt {
                    endpoint: u.clone(),
                    result: Err(format!(
                        "absent from {ENDPOINT_STATUS} (etcdctl leaves out endpoints it could not reach)"
                    )),
                })
                .collect();
            m.probe = Some(Probe { attempts });
        }
    }
    Ok(())
}

fn read_health(path: &Path, snap: &mut Snapshot) -> Result<()> {
    let v = read_json(path)?;
    let docs: Vec<HealthDoc> = serde_json::from_value(v).with_context(|| {
        format!("cannot parse {}: expected the array `etcdctl endpoint health -w json` prints", path.display())
    })?;
    for h in docs.into_iter().filter(|h| !h.health) {
        let Some(m) = snap.members.iter_mut().find(|m| is_client_url(m, &h.endpoint)) else { continue };
        if m.reachable() == Some(true) {
            continue;
        }
        let err = h.error.unwrap_or_else(|| "unhealthy".into());
        let attempt = Attempt { endpoint: h.endpoint.clone(), result: Err(format!("{err} (from {ENDPOINT_HEALTH})")) };
        let probe = m.probe.get_or_insert_with(Probe::default);
        probe.attempts.retain(|a| a.endpoint != h.endpoint);
        probe.attempts.push(attempt);
    }
    Ok(())
}

fn is_client_url(m: &Member, url: &str) -> bool {
    let Ok(e) = Endpoint::parse(url) else { return false };
    m.client_urls.iter().any(|u| Endpoint::parse(u).is_ok_and(|x| x == e))
}

fn resolve_free(members: &[Member]) -> bool {
    crate::collect::resolve::names_in(members).is_empty()
}

/// How string ids in one document are written: `--hex` output, or decimal strings (the
/// grpc-gateway). Numbers are always decimal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IdMode {
    /// `--hex`: string ids are hex.
    Hex,
    /// grpc-gateway: string ids are decimal.
    Decimal,
}

impl IdMode {
    pub fn of(doc: &Value) -> IdMode {
        let mut strs = Vec::new();
        collect_id_strings(doc, &mut strs);
        if strs.iter().any(|s| s.bytes().any(|b| b.is_ascii_alphabetic())) {
            IdMode::Hex
        } else if strs.iter().any(|s| s.len() >= 17) {
            IdMode::Decimal
        } else {
            IdMode::Hex
        }
    }
}

fn collect_id_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("ID" | "cluster_id" | "member_id" | "leader", Value::String(s)) => out.push(s.clone()),
                    _ => collect_id_strings(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_id_strings(v, out)),
        _ => {}
    }
}

fn id(v: &Value, mode: IdMode, path: &Path, field: &str) -> Result<MemberId> {
    let file: PathBuf = path.to_path_buf();
    match v {
        Value::Number(n) => n.as_u64().map(MemberId).ok_or_else(|| {
            anyhow!(
                "{}: {field} = {n} is not an exact unsigned 64-bit id (was the JSON rounded by jq or JavaScript? capture it again with etcdctl)",
                file.display()
            )
        }),
        Value::String(s) => {
            let parsed = match mode {
                IdMode::Hex => u64::from_str_radix(s.trim(), 16).ok(),
                IdMode::Decimal => s.trim().parse::<u64>().ok(),
            };
            parsed.map(MemberId).ok_or_else(|| anyhow!("{}: {field} = {s:?} is not a member id", file.display()))
        }
        other => bail!("{}: {field} = {other} is not a member id", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_doctor_checks::Alarm;

    #[test]
    fn alarms_in_status_errors() {
        assert_eq!(
            Alarm::from_status_error("memberID:16386505787103497523 alarm:NOSPACE "),
            Some(Alarm { member_id: MemberId(16386505787103497523), alarm: "NOSPACE".into() })
        );
        assert_eq!(Alarm::from_status_error("etcdserver: no leader"), None);
    }

    #[test]
    fn id_modes() {
        let hex: Value = serde_json::json!({"header": {"cluster_id": "cdf818194e3a8c32"}, "members": [{"ID": "1234"}]});
        assert_eq!(IdMode::of(&hex), IdMode::Hex);
        let dec: Value = serde_json::json!({"members": [{"ID": "10276657743932975437"}]});
        assert_eq!(IdMode::of(&dec), IdMode::Decimal);
    }
}
