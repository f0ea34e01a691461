//! Offline input: a directory of captured etcdctl output, read into the same `Snapshot` the
//! live collector makes, so the same checks run on it.
//!
//! - `member-list.json`: `etcdctl member list -w json` (required; decimal ids, or `--hex`)
//! - `endpoint-status.json`: `etcdctl endpoint status --cluster -w json`. etcdctl leaves out
//!   the endpoints it could not reach, and the file does not say which were asked, so a member
//!   absent from it is unknown, not down, unless the health capture lists its failure.
//! - `endpoint-health.json`: `etcdctl endpoint health --cluster -w json` (optional; it keeps
//!   failed endpoints with their error: the proof that an absent member was asked)
//! - `nodes.yaml` or `nodes.json`: `kubectl get nodes -o yaml|json` (optional; adds node
//!   evidence). Both may be there only if they hold the same nodes; else the run stops.
//! - `pods.yaml` or `pods.json`: `kubectl -n kube-system get pods -o yaml|json` (optional; its
//!   etcd pods), the same way
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
//!
//! Every file is read within the limits of `limits` (size, nesting depth, field length).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use etcd_doctor_checks::endpoint::{Endpoint, EndpointError};
use etcd_doctor_checks::model::{Attempt, Gap, Member, Probe, Snapshot, Source};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::certs::{CertSet, FileSpec};
use super::limits;
use crate::etcd::etcdctl_json::{IdMode, id, members_into, status_of};

/// File names inside a bundle.
pub const MEMBER_LIST: &str = "member-list.json";
/// See module docs.
pub const ENDPOINT_STATUS: &str = "endpoint-status.json";
/// See module docs.
pub const ENDPOINT_HEALTH: &str = "endpoint-health.json";
/// `kubectl get nodes -o yaml` (optional).
pub const NODES: &str = "nodes.yaml";
/// `kubectl get nodes -o json` (optional; read like `nodes.yaml`).
pub const NODES_JSON: &str = "nodes.json";
/// `kubectl -n kube-system get pods -o yaml` (optional; the etcd pods are used).
pub const PODS: &str = "pods.yaml";
/// `kubectl -n kube-system get pods -o json` (optional; read like `pods.yaml`).
pub const PODS_JSON: &str = "pods.json";
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

/// Reads a bundle directory as captured; `collect::gather` finishes the snapshot (alarms from
/// the statuses, members mapped to nodes, members refused by TLS marked unknown).
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
        let text = limits::read(&at_path, &limits::ETCDCTL)?;
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
    let health_path = super::etcdctl_text::or_text(dir.join(ENDPOINT_HEALTH));
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
    if health_path.exists() {
        read_health(&health_path, &mut snap)?;
    }
    if status_path.exists() {
        absent_members_gap(&mut snap, health_path.exists());
    }
    let nodes = read_kube(
        dir,
        [NODES, NODES_JSON],
        "kubectl get nodes",
        crate::collect::kube::parse_nodes,
        Some(crate::collect::kube::read_nodes_fast),
    )?;
    match nodes {
        Some(nodes) => snap.nodes = Some(nodes),
        None => snap.gaps.push(Gap::new(
            "kubernetes",
            format!("no {NODES} in the bundle (capture: kubectl get nodes -o yaml > {NODES})"),
        )),
    }
    if let Some(pods) = read_kube(
        dir,
        [PODS, PODS_JSON],
        "kubectl -n kube-system get pods",
        crate::collect::kube::parse_etcd_pods,
        None,
    )? {
        snap.etcd_pods = Some(pods);
    }
    let local_json = dir.join(LOCAL_JSON);
    if local_json.exists() {
        let text = limits::read(&local_json, &limits::ETCDCTL)?;
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
        let certs: etcd_doctor_checks::cert::Certs = serde_json::from_value(v)
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
            use etcd_doctor_checks::cert::CertRole::*;
            let roles: Vec<etcd_doctor_checks::cert::CertRole> = match stem {
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
    let text = limits::read(path, &limits::ETCDCTL)?;
    serde_json::from_str(&text).with_context(|| format!("cannot parse {} as JSON", path.display()))
}

/// A Kubernetes capture kept as YAML, JSON or both (`kubectl get ... -o yaml|json`): `None`
/// when neither is there. Both are read when both are there, and must hold the same objects:
/// which one is current cannot be told from the files, so a difference stops the run. `fast`
/// reads a file without holding it whole, or says it cannot (then `parse` reads it).
fn read_kube<T: PartialEq + Named>(
    dir: &Path,
    names: [&str; 2],
    command: &str,
    parse: fn(&str) -> Result<Vec<T>, String>,
    fast: Option<FastRead<T>>,
) -> Result<Option<Vec<T>>> {
    let mut read = Vec::new();
    for (name, format) in names.iter().zip(["yaml", "json"]) {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        if let Some(items) = fast.and_then(|f| f(&path)) {
            read.push((path, items));
            continue;
        }
        let text = limits::read(&path, &limits::KUBE_LIST)?;
        let items = parse(&text)
            .map_err(|e| anyhow!("cannot parse {} (`{command} -o {format}` output?): {e}", path.display()))?;
        read.push((path, items));
    }
    let mut it = read.into_iter();
    let Some((first_path, first)) = it.next() else { return Ok(None) };
    if let Some((second_path, second)) = it.next()
        && first != second
    {
        let differ = first
            .iter()
            .zip(&second)
            .find(|(a, b)| a != b)
            .map(|(a, _)| format!("{} differs", a.name()))
            .unwrap_or_else(|| format!("{} items against {}", first.len(), second.len()));
        bail!(
            "bundle {} has both {} and {}, and they differ ({differ}): keep only the current capture, or capture both again",
            dir.display(),
            first_path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
            second_path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
        );
    }
    Ok(Some(first))
}

/// A reader of a large capture that never holds it whole; `None` when it cannot read it.
type FastRead<T> = fn(&Path) -> Option<Vec<T>>;

/// The name of an object, for messages.
trait Named {
    fn name(&self) -> String;
}

impl Named for etcd_doctor_checks::model::Node {
    fn name(&self) -> String {
        format!("node {}", self.name)
    }
}

impl Named for etcd_doctor_checks::model::EtcdPod {
    fn name(&self) -> String {
        format!("pod {}", self.name)
    }
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
    for (i, e) in entries.into_iter().enumerate() {
        let endpoint = e.get("Endpoint").and_then(Value::as_str).unwrap_or_default().to_string();
        let at = format!("[{i}]");
        // An entry that carries an error instead of a status (some wrappers keep failed
        // endpoints): an attempt that failed, at the member whose client URL it names.
        if let Some(err) = entry_error(&e) {
            match snap.members.iter().position(|m| is_client_url(m, &endpoint, &snap.host_addrs)) {
                Some(j) => attempts[j].push(Attempt {
                    endpoint: endpoint.clone(),
                    result: Err(format!("{err} (from {ENDPOINT_STATUS})")),
                }),
                None => snap.gaps.push(Gap::new(
                    "bundle",
                    format!("{ENDPOINT_STATUS} {at}: {endpoint:?} failed ({err}) and is no member's client URL"),
                )),
            }
            continue;
        }
        let body = e.get("Status").cloned().unwrap_or(e);
        let status = status_of(body, mode, path, &at)?;
        let member_id = status.member_id;
        if let (Some(c), Some(mine)) = (status.cluster_id, snap.cluster_id)
            && c != mine
        {
            snap.other_clusters.push(etcd_doctor_checks::model::OtherCluster {
                endpoint: endpoint.clone(),
                cluster_id: c,
                member_id,
                members: Vec::new(),
            });
            if let Some(j) = snap.members.iter().position(|m| is_client_url(m, &endpoint, &snap.host_addrs)) {
                let msg = format!(
                    "answers as member {member_id} of another cluster {c} (this cluster is {mine}): its data was wiped and it bootstrapped a new cluster"
                );
                attempts[j].push(Attempt { endpoint: endpoint.clone(), result: Err(msg) });
            }
            continue;
        }
        // The header's member id says who answered, whatever the endpoint was written as
        // (`10.0.0.1:2379`, a port-forward, a load balancer).
        match snap.members.iter().position(|m| m.id == member_id) {
            Some(j) => {
                let m = &snap.members[j];
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
    for (m, at) in snap.members.iter_mut().zip(attempts) {
        if !at.is_empty() {
            m.probe = Some(Probe { attempts: at });
        }
    }
    Ok(())
}

/// The error of an `endpoint status` / `endpoint health` entry that failed, if it is one.
fn entry_error(e: &Value) -> Option<String> {
    if e.get("Status").is_some() || e.get("header").is_some() {
        return None;
    }
    ["error", "Error", "err"]
        .iter()
        .find_map(|k| e.get(*k)?.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Members the captures say nothing about stay unknown (`probe: None`): a status capture
/// leaves out what failed without saying what was asked (`--cluster` or one endpoint, the
/// most common mistake), so absence is not proof of anything. One gap names them and says
/// how to capture so that it would be.
fn absent_members_gap(snap: &mut Snapshot, had_health: bool) {
    let absent: Vec<String> = snap
        .members
        .iter()
        .filter(|m| m.probe.is_none() && !m.client_urls.is_empty())
        .map(|m| if m.name.is_empty() { m.id.to_string() } else { format!("{} ({})", m.id, m.name) })
        .collect();
    if absent.is_empty() {
        return;
    }
    let health = if had_health {
        format!("; {ENDPOINT_HEALTH} does not list them either")
    } else {
        format!(", and its failures: etcdctl endpoint health --cluster -w json > {ENDPOINT_HEALTH}")
    };
    snap.gaps.push(Gap::new(
        "bundle",
        format!(
            "{} absent from {ENDPOINT_STATUS}, which does not show whether they were asked: their state is unknown, not down. \
             Capture every member with: etcdctl endpoint status --cluster -w json > {ENDPOINT_STATUS}{health}",
            absent.join(", "),
        ),
    ));
}

fn read_health(path: &Path, snap: &mut Snapshot) -> Result<()> {
    let v = read_json(path)?;
    let docs: Vec<HealthDoc> = serde_json::from_value(v).with_context(|| {
        format!("cannot parse {}: expected the array `etcdctl endpoint health -w json` prints", path.display())
    })?;
    for h in docs.into_iter().filter(|h| !h.health) {
        let host_addrs = &snap.host_addrs;
        let Some(m) = snap.members.iter_mut().find(|m| is_client_url(m, &h.endpoint, host_addrs)) else { continue };
        if m.reachable() == Some(true) {
            continue;
        }
        let err = h.error.filter(|e| !e.trim().is_empty()).unwrap_or_else(|| "unhealthy".into());
        let attempt = Attempt { endpoint: h.endpoint.clone(), result: Err(format!("{err} (from {ENDPOINT_HEALTH})")) };
        let probe = m.probe.get_or_insert_with(Probe::default);
        probe.attempts.retain(|a| a.endpoint != h.endpoint);
        probe.attempts.push(attempt);
    }
    Ok(())
}

/// Whether `raw`, an endpoint as a capture wrote it, names one of `m`'s client URLs. etcdctl
/// echoes what was typed: `10.0.0.1:2379` and `[::1]:2379` without a scheme, a host name for
/// an IP; so the scheme is not compared, a missing port matches any, and hosts compare as
/// sockets (IPv6 spellings, IPv4-mapped, localhost, names resolved in `host_addrs`).
pub fn is_client_url(
    m: &Member,
    raw: &str,
    host_addrs: &std::collections::BTreeMap<String, Vec<std::net::IpAddr>>,
) -> bool {
    let t = raw.trim();
    let (ep, port_given) = match Endpoint::parse(t) {
        Ok(e) => (e, true),
        Err(EndpointError::NoScheme(_)) => match Endpoint::parse(&format!("https://{t}")) {
            // `https://` adds 443 when no port was written.
            Ok(e) => (e.clone(), e.port != Some(443) || t.ends_with(":443")),
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    let mine = ep.sockets(host_addrs);
    m.client_urls.iter().filter_map(|u| Endpoint::parse(u).ok()).any(|c| {
        c.sockets(host_addrs).iter().any(|(h, p)| mine.iter().any(|(h2, p2)| h == h2 && (!port_given || p == p2)))
    })
}

fn resolve_free(members: &[Member]) -> bool {
    crate::collect::resolve::names_in(members).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_doctor_checks::{id::MemberId, model::Alarm};

    #[test]
    fn alarms_in_status_errors() {
        assert_eq!(
            Alarm::from_status_error("memberID:16386505787103497523 alarm:NOSPACE "),
            Some(Alarm { member_id: MemberId(16386505787103497523), alarm: "NOSPACE".into() })
        );
        assert_eq!(Alarm::from_status_error("etcdserver: no leader"), None);
    }

    /// etcd 3.6.6 as captured (shared/reference/memberlists/captured-etcd-3.6.6): three
    /// members on 127.0.0.1:32371..32373; eh1 (a0d5…) leads, eh2 follows.
    const MEMBERS: &str = r#"{"header":{"cluster_id":16509504660443962926,"member_id":11589452085494132595,"raft_term":2},"members":[{"ID":323676404339268582,"name":"dbwp-oth-eh2","peerURLs":["http://dbwp-oth-eh2:2380"],"clientURLs":["http://127.0.0.1:32372"]},{"ID":330631803197386810,"name":"dbwp-oth-eh3","peerURLs":["http://dbwp-oth-eh3:2380"],"clientURLs":["http://127.0.0.1:32373"]},{"ID":11589452085494132595,"name":"dbwp-oth-eh1","peerURLs":["http://dbwp-oth-eh1:2380"],"clientURLs":["http://127.0.0.1:32371"]}]}"#;
    const LEADER: &str = r#"{"header":{"cluster_id":16509504660443962926,"member_id":11589452085494132595,"revision":301,"raft_term":2},"version":"3.6.6","dbSize":49152,"leader":11589452085494132595,"raftIndex":308,"raftTerm":2,"raftAppliedIndex":308,"dbSizeInUse":49152,"storageVersion":"3.6.0","dbSizeQuota":2147483648,"downgradeInfo":{}}"#;
    const FOLLOWER: &str = r#"{"header":{"cluster_id":16509504660443962926,"member_id":323676404339268582,"revision":301,"raft_term":2},"version":"3.6.6","dbSize":49152,"leader":11589452085494132595,"raftIndex":308,"raftTerm":2,"raftAppliedIndex":308,"dbSizeInUse":49152,"storageVersion":"3.6.0","dbSizeQuota":2147483648,"downgradeInfo":{}}"#;
    const EH1: MemberId = MemberId(11589452085494132595);
    const EH2: MemberId = MemberId(323676404339268582);
    const EH3: MemberId = MemberId(330631803197386810);

    fn bundle(files: &[(&str, String)]) -> Snapshot {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        std::fs::write(d.path().join(MEMBER_LIST), MEMBERS).unwrap_or_else(|e| panic!("{e}"));
        for (name, text) in files {
            std::fs::write(d.path().join(name), text).unwrap_or_else(|e| panic!("{e}"));
        }
        load(d.path(), OffsetDateTime::UNIX_EPOCH).unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn member(s: &Snapshot, id: MemberId) -> &Member {
        s.members.iter().find(|m| m.id == id).unwrap_or_else(|| panic!("{id} missing"))
    }

    fn errors(m: &Member) -> Vec<String> {
        m.probe.iter().flat_map(|p| &p.attempts).filter_map(|a| a.result.clone().err()).collect()
    }

    #[test]
    fn one_endpoint_typed_without_a_scheme_leaves_the_others_unknown() {
        // `etcdctl --endpoints 127.0.0.1:32371 endpoint status -w json`, no --cluster: the
        // most common capture. etcdctl echoes the endpoint as typed.
        let s = bundle(&[(ENDPOINT_STATUS, format!(r#"[{{"Endpoint":"127.0.0.1:32371","Status":{LEADER}}}]"#))]);
        assert_eq!(member(&s, EH1).reachable(), Some(true));
        assert_eq!(member(&s, EH2).probe, None);
        assert_eq!(member(&s, EH3).probe, None);
        let gap =
            s.gaps.iter().find(|g| g.reason.contains("absent from")).map(|g| g.reason.clone()).unwrap_or_default();
        assert!(gap.contains(&EH2.to_string()) && gap.contains(&EH3.to_string()), "{gap}");
        assert!(gap.contains("etcdctl endpoint status --cluster -w json"), "{gap}");
        assert!(gap.contains("endpoint health --cluster"), "{gap}");
    }

    #[test]
    fn a_health_capture_proves_an_absent_member_was_asked() {
        let status = format!(
            r#"[{{"Endpoint":"http://127.0.0.1:32371","Status":{LEADER}}},{{"Endpoint":"http://127.0.0.1:32372","Status":{FOLLOWER}}}]"#
        );
        let health = r#"[{"endpoint":"http://127.0.0.1:32371","health":true,"took":"1.2ms"},{"endpoint":"http://127.0.0.1:32372","health":true,"took":"1.4ms"},{"endpoint":"127.0.0.1:32373","health":false,"took":"5.000892471s","error":"context deadline exceeded"}]"#;
        let s = bundle(&[(ENDPOINT_STATUS, status), (ENDPOINT_HEALTH, health.to_string())]);
        assert_eq!(member(&s, EH2).reachable(), Some(true));
        let e = errors(member(&s, EH3));
        assert!(e.len() == 1 && e[0].contains("context deadline exceeded"), "{e:?}");
        assert!(!s.gaps.iter().any(|g| g.reason.contains("absent from")), "{:?}", s.gaps);
    }

    #[test]
    fn a_status_entry_with_an_error_is_a_failed_attempt() {
        let status = format!(
            r#"[{{"Endpoint":"http://127.0.0.1:32371","Status":{LEADER}}},{{"Endpoint":"http://127.0.0.1:32373","error":"failed to dial: context deadline exceeded"}}]"#
        );
        let s = bundle(&[(ENDPOINT_STATUS, status)]);
        let e = errors(member(&s, EH3));
        assert!(e.len() == 1 && e[0].contains("context deadline exceeded"), "{e:?}");
        assert_eq!(member(&s, EH2).probe, None);
    }

    #[test]
    fn a_member_list_alone_leaves_every_member_unknown() {
        let s = bundle(&[]);
        assert!(s.members.iter().all(|m| m.probe.is_none()), "{:?}", s.members);
        assert!(s.gaps.iter().any(|g| g.reason.contains("--cluster -w json")), "{:?}", s.gaps);
    }

    #[test]
    fn client_urls_match_with_or_without_scheme_and_in_any_spelling() {
        let none = std::collections::BTreeMap::new();
        let mut m = Member {
            id: EH1,
            name: "m".into(),
            peer_urls: vec![],
            client_urls: vec!["http://127.0.0.1:32371".into()],
            is_learner: false,
            probe: None,
            node: None,
            peer_probe: None,
        };
        for yes in [
            "127.0.0.1:32371",
            "https://127.0.0.1:32371",
            "HTTP://localhost:32371/",
            "[::ffff:127.0.0.1]:32371",
            "127.0.0.1",
        ] {
            assert!(is_client_url(&m, yes, &none), "{yes}");
        }
        for no in ["127.0.0.1:32372", "10.0.0.1:32371", "", "not a url"] {
            assert!(!is_client_url(&m, no, &none), "{no}");
        }
        m.client_urls = vec!["https://[::1]:2379".into()];
        assert!(is_client_url(&m, "[0:0:0:0:0:0:0:1]:2379", &none));
        assert!(is_client_url(&m, "https://[::1]:2379", &none));
        m.client_urls = vec!["https://etcd-1.internal:2379".into()];
        let mut addrs = std::collections::BTreeMap::new();
        addrs.insert("etcd-1.internal".to_string(), vec![std::net::IpAddr::from([10, 0, 0, 1])]);
        assert!(is_client_url(&m, "10.0.0.1:2379", &addrs));
        assert!(!is_client_url(&m, "10.0.0.1:2379", &none));
    }
}
