//! `bundle collect DIR`: writes what was collected live as a bundle in etcdctl's own shapes
//! (member-list.json, endpoint-status.json, endpoint-health.json) plus nodes.yaml, the
//! certificate summaries (certs.json, no key material) and the capture time, so it can
//! be attached to a ticket and read back with `--bundle`. Secrets in K3s/RKE2 node args and
//! env are redacted again here (K3s does it too, but a bundle must never rely on that).

use std::path::Path;

use anyhow::{Context, Result};
use etcd_doctor_checks::model::{Member, Node, Snapshot};
use serde_json::{Map, Value, json};

/// Flags whose next argument is a secret, as K3s redacts them.
const SECRET_FLAGS: [&str; 7] = [
    "--token",
    "-t",
    "--agent-token",
    "--datastore-endpoint",
    "--cluster-secret",
    "--etcd-s3-access-key",
    "--etcd-s3-secret-key",
];

/// Config keys (K3s/RKE2 config.yaml) and env names whose values are secrets.
const SECRET_KEYS: [&str; 6] =
    ["token", "agent-token", "datastore-endpoint", "cluster-secret", "etcd-s3-access-key", "etcd-s3-secret-key"];

/// Writes the bundle files into `dir` (created if needed); with `root` (`--local`), redacted
/// copies of the node's config files go under `local/`.
pub fn write(snap: &Snapshot, dir: &Path, root: Option<&Path>) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    let mut put = |name: &str, text: String| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
        written.push(name.to_string());
        Ok(())
    };
    let cluster = snap.cluster_id.map(|c| c.0).unwrap_or(0);
    let members: Vec<Value> = snap.members.iter().map(member_json).collect();
    let first = snap.members.first().map(|m| m.id.0).unwrap_or(0);
    put(
        super::bundle::MEMBER_LIST,
        json!({"header": {"cluster_id": cluster, "member_id": first, "raft_term": 0}, "members": members}).to_string()
            + "\n",
    )?;
    let mut statuses = Vec::new();
    let mut health = Vec::new();
    for m in &snap.members {
        let Some(p) = &m.probe else { continue };
        for a in &p.attempts {
            match &a.result {
                Ok(s) => {
                    let mut st = Map::new();
                    st.insert(
                        "header".into(),
                        json!({"cluster_id": s.cluster_id.map(|c| c.0).unwrap_or(cluster), "member_id": s.member_id.0, "revision": s.revision.unwrap_or(0), "raft_term": s.raft_term}),
                    );
                    st.insert("version".into(), json!(s.version));
                    st.insert("dbSize".into(), json!(s.db_size));
                    if let Some(l) = s.leader {
                        st.insert("leader".into(), json!(l.0));
                    }
                    st.insert("raftIndex".into(), json!(s.raft_index));
                    st.insert("raftTerm".into(), json!(s.raft_term));
                    if let Some(a) = s.raft_applied_index {
                        st.insert("raftAppliedIndex".into(), json!(a));
                    }
                    if !s.errors.is_empty() {
                        st.insert("errors".into(), json!(s.errors));
                    }
                    if let Some(u) = s.db_size_in_use {
                        st.insert("dbSizeInUse".into(), json!(u));
                    }
                    if s.is_learner {
                        st.insert("isLearner".into(), json!(true));
                    }
                    statuses.push(json!({"Endpoint": a.endpoint, "Status": st}));
                    health.push(json!({"endpoint": a.endpoint, "health": s.leader.is_some(), "took": ""}));
                }
                Err(e) => health.push(json!({"endpoint": a.endpoint, "health": false, "took": "", "error": e})),
            }
        }
    }
    put(super::bundle::ENDPOINT_STATUS, Value::Array(statuses).to_string() + "\n")?;
    put(super::bundle::ENDPOINT_HEALTH, Value::Array(health).to_string() + "\n")?;
    if let Some(certs) = &snap.certs {
        // Summaries only: subjects, SANs, fingerprints, key paths; never a key.
        put(super::bundle::CERTS, serde_json::to_string_pretty(certs)? + "\n")?;
    }
    let at = snap.collected_at.format(&time::format_description::well_known::Rfc3339)?;
    put(super::bundle::COLLECTED_AT, at + "\n")?;
    if let Some(nodes) = &snap.nodes {
        let items: Vec<Value> = nodes.iter().map(node_json).collect();
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
        put(super::bundle::NODES, serde_yaml_ng::to_string(&list)?)?;
    }
    if let Some(hashes) = &snap.audit.hashes {
        let doc: Vec<Value> = hashes
            .iter()
            .map(|h| {
                let ep = snap.member(h.member_id).and_then(|m| m.client_urls.first().cloned()).unwrap_or_default();
                json!({"Endpoint": ep, "HashKV": {"header": {"cluster_id": cluster, "member_id": h.member_id.0, "revision": h.revision},
                       "hash": h.hash, "compact_revision": h.compact_revision, "hash_revision": h.revision}})
            })
            .collect();
        put(super::bundle::HASHKV, Value::Array(doc).to_string() + "\n")?;
    }
    if !snap.audit.metrics.is_empty() {
        std::fs::create_dir_all(dir.join(super::bundle::METRICS_DIR))
            .with_context(|| format!("cannot create {}/{}", dir.display(), super::bundle::METRICS_DIR))?;
        for (id, m) in &snap.audit.metrics {
            // The name becomes a file name: never one that leaves the directory.
            let Some(member) = snap
                .member(*id)
                .filter(|m| !m.name.is_empty() && !m.name.contains(['/', '\\']) && !m.name.starts_with('.'))
            else {
                continue;
            };
            let mut text = String::new();
            if let Some(t) = m.process_start_time {
                text.push_str(&format!("process_start_time_seconds {t}\n"));
            }
            if let Some(q) = m.quota_backend_bytes {
                text.push_str(&format!("etcd_server_quota_backend_bytes {q}\n"));
            }
            if let Some(w) = m.writes_since_start {
                // The sum is what the checks read; written as puts so it reads back the same.
                text.push_str(&format!("etcd_mvcc_put_total {w}\netcd_mvcc_delete_total 0\n"));
            }
            put(&format!("{}/{}.prom", super::bundle::METRICS_DIR, member.name), text)?;
        }
    }
    if let Some(pods) = &snap.etcd_pods {
        let items: Vec<Value> = pods.iter().map(pod_json).collect();
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
        put(super::bundle::PODS, serde_yaml_ng::to_string(&list)?)?;
    }
    if let Some(local) = &snap.local {
        put(super::bundle::LOCAL_JSON, serde_json::to_string_pretty(local)? + "\n")?;
        if let Some(root) = root {
            for f in &local.files {
                let from = root.join(f.trim_start_matches('/'));
                let Ok(text) = std::fs::read_to_string(&from) else { continue };
                let rel = format!("{}/{}", super::bundle::LOCAL_DIR, f.trim_start_matches('/'));
                let to = dir.join(&rel);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
                }
                put(&rel, redact_file(&text))?;
            }
        }
    }
    Ok(written)
}

/// An etcd pod in the shape `kubectl get pods -o yaml` prints, holding what the checks read.
fn pod_json(p: &etcd_doctor_checks::model::EtcdPod) -> Value {
    let mut ann = Map::new();
    if !p.advertise_client_urls.is_empty() {
        ann.insert("kubeadm.kubernetes.io/etcd.advertise-client-urls".into(), json!(p.advertise_client_urls.join(",")));
    }
    let mut cs = json!({"name": "etcd", "ready": p.ready, "restartCount": p.restarts, "image": p.image});
    if let Some(w) = &p.waiting_reason {
        cs["state"] = json!({"waiting": {"reason": w}});
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": p.name, "namespace": "kube-system", "labels": {"component": "etcd", "tier": "control-plane"}, "annotations": ann},
        "spec": {"nodeName": p.node, "containers": [{"name": "etcd", "image": p.image}]},
        "status": {"phase": p.phase, "containerStatuses": [cs]},
    })
}

/// A node config file with secret values replaced: `token: …` (YAML), `K3S_TOKEN=…` (env), and
/// the argument after `--token` and its kin (unit files).
pub fn redact_file(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut next_is_secret = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let t = body.trim_start();
        let indent = &body[..body.len() - t.len()];
        let key = t.split([':', '=']).next().unwrap_or_default().trim().trim_matches(['"', '\'']);
        let env_secret = {
            let k = key.trim_start_matches("export ").to_ascii_uppercase();
            t.contains('=')
                && (k.starts_with("K3S_") || k.starts_with("RKE2_") || k.starts_with("AWS_") || k.starts_with("ETCD_"))
                && ["TOKEN", "SECRET", "PASSWORD", "DATASTORE_ENDPOINT", "ACCESS_KEY"].iter().any(|s| k.contains(s))
        };
        let redacted = if next_is_secret {
            next_is_secret = false;
            Some(format!("{indent}'********'{}", if t.ends_with('\\') { " \\" } else { "" }))
        } else if SECRET_KEYS.contains(&key) && t.contains(':') {
            Some(format!("{indent}{key}: \"********\""))
        } else if env_secret {
            Some(format!("{indent}{}=\"********\"", key))
        } else {
            // Unit arguments: '--token' '…' on one line, or the value on the next.
            let toks: Vec<&str> = t.trim_end_matches('\\').split_whitespace().collect();
            match toks.iter().position(|x| SECRET_FLAGS.contains(&x.trim_matches(['"', '\'']))) {
                Some(i) if i + 1 < toks.len() => {
                    let mut v: Vec<String> = toks.iter().map(|x| x.to_string()).collect();
                    v[i + 1] = "'********'".into();
                    Some(format!("{indent}{}{}", v.join(" "), if t.ends_with('\\') { " \\" } else { "" }))
                }
                Some(_) => {
                    next_is_secret = true;
                    None
                }
                None => toks
                    .iter()
                    .position(|x| {
                        let x = x.trim_matches(['"', '\'']);
                        SECRET_FLAGS.iter().any(|f| x.starts_with(&format!("{f}=")))
                    })
                    .map(|i| {
                        let mut v: Vec<String> = toks.iter().map(|x| x.to_string()).collect();
                        let flag = v[i].trim_matches(['"', '\'']).split('=').next().unwrap_or_default().to_string();
                        v[i] = format!("'{flag}=********'");
                        format!("{indent}{}{}", v.join(" "), if t.ends_with('\\') { " \\" } else { "" })
                    }),
            }
        };
        match redacted {
            Some(r) => {
                out.push_str(&r);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// A member as `etcdctl member list -w json` prints it (fields omitted when empty).
fn member_json(m: &Member) -> Value {
    let mut o = Map::new();
    o.insert("ID".into(), json!(m.id.0));
    if !m.name.is_empty() {
        o.insert("name".into(), json!(m.name));
    }
    o.insert("peerURLs".into(), json!(m.peer_urls));
    if !m.client_urls.is_empty() {
        o.insert("clientURLs".into(), json!(m.client_urls));
    }
    if m.is_learner {
        o.insert("isLearner".into(), json!(true));
    }
    Value::Object(o)
}

fn node_json(n: &Node) -> Value {
    let annotations: Map<String, Value> =
        n.annotations.iter().map(|(k, v)| (k.clone(), Value::String(redact_annotation(k, v)))).collect();
    let addresses: Vec<Value> = n
        .addresses
        .iter()
        .map(|a| {
            let kind = if a.parse::<std::net::IpAddr>().is_ok() { "InternalIP" } else { "Hostname" };
            json!({"address": a, "type": kind})
        })
        .collect();
    let mut ready = json!({"type": "Ready", "status": match n.ready { Some(true) => "True", Some(false) => "False", None => "Unknown" }});
    if let Some(t) = n.ready_since.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()) {
        ready["lastTransitionTime"] = json!(t);
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": n.name, "labels": n.labels, "annotations": annotations},
        "status": {"addresses": addresses, "conditions": [ready], "nodeInfo": {"kubeletVersion": n.kubelet_version,
            "architecture": "", "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "",
            "machineID": "", "operatingSystem": "", "osImage": "", "systemUUID": ""}}
    })
}

/// Redacts secrets in K3s/RKE2 node-args (the argument after a secret flag) and node-env
/// (values of keys that name a token, secret, password or datastore endpoint).
pub fn redact_annotation(key: &str, value: &str) -> String {
    if key.ends_with("/node-args") {
        if let Ok(mut args) = serde_json::from_str::<Vec<String>>(value) {
            for i in 0..args.len() {
                let flag = args[i].split('=').next().unwrap_or_default().to_string();
                if SECRET_FLAGS.contains(&flag.as_str()) {
                    if args[i].contains('=') {
                        args[i] = format!("{flag}=********");
                    } else if i + 1 < args.len() {
                        args[i + 1] = "********".into();
                    }
                }
            }
            return serde_json::to_string(&args).unwrap_or_default();
        }
        return "********".into();
    }
    if key.ends_with("/node-env") {
        if let Ok(mut env) = serde_json::from_str::<std::collections::BTreeMap<String, String>>(value) {
            for (k, v) in env.iter_mut() {
                let k = k.to_ascii_uppercase();
                if ["TOKEN", "SECRET", "PASSWORD", "DATASTORE_ENDPOINT"].iter().any(|s| k.contains(s)) {
                    *v = "********".into();
                }
            }
            return serde_json::to_string(&env).unwrap_or_default();
        }
        return "********".into();
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_config_env_and_unit_files_are_redacted_and_the_rest_kept() {
        let yaml = "token: K10abc::server:s3cret\nserver: https://10.0.0.1:6443\n\"agent-token\": other\n";
        let r = redact_file(yaml);
        assert!(!r.contains("s3cret") && !r.contains("other"), "{r}");
        assert!(r.contains("server: https://10.0.0.1:6443\n") && r.contains("token: \"********\""), "{r}");
        let env = "K3S_TOKEN='s3cret'\nexport K3S_URL=https://10.0.0.1:6443\nAWS_SECRET_ACCESS_KEY=abc\n";
        let r = redact_file(env);
        assert!(!r.contains("s3cret") && !r.contains("abc") && r.contains("K3S_URL=https://10.0.0.1:6443"), "{r}");
        let unit = "ExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--token' \\\n\t's3cret' \\\n\t'--server' 'https://10.0.0.1:6443' \\\n\t--agent-token=x2 \\\n";
        let r = redact_file(unit);
        assert!(!r.contains("s3cret") && !r.contains("x2"), "{r}");
        assert!(r.contains("'https://10.0.0.1:6443'") && r.lines().count() == unit.lines().count(), "{r}");
    }

    #[test]
    fn secrets_in_node_args_and_env_are_redacted_and_the_rest_kept() {
        let args = redact_annotation(
            "k3s.io/node-args",
            r#"["server","--server","https://10.0.0.1:6443","--token","K10abc::server:s3cr3t","--datastore-endpoint=postgres://u:p@db","--node-ip","10.0.0.2"]"#,
        );
        assert!(!args.contains("s3cr3t") && !args.contains("u:p@db"), "{args}");
        assert!(args.contains("https://10.0.0.1:6443") && args.contains("10.0.0.2"), "{args}");
        let env = redact_annotation("k3s.io/node-env", r#"{"K3S_TOKEN":"K10abc","K3S_URL":"https://10.0.0.1:6443"}"#);
        assert_eq!(env, r#"{"K3S_TOKEN":"********","K3S_URL":"https://10.0.0.1:6443"}"#);
        assert_eq!(redact_annotation("k3s.io/node-env", "not json"), "********");
        assert_eq!(redact_annotation("other", "kept"), "kept");
    }
}
