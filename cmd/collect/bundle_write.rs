//! `bundle collect DIR`: writes what was collected live as a bundle in etcdctl's own shapes
//! (member-list.json, endpoint-status.json, endpoint-health.json) plus nodes.yaml, the
//! certificate summaries (certs.json, no key material) and the capture time, so it can
//! be attached to a ticket and read back with `--bundle`. Secrets in K3s/RKE2 node args and
//! env are redacted again here (K3s does it too, but a bundle must never rely on that).

use std::path::Path;

use anyhow::{Context, Result};
use etcd_doctor_checks::{Member, Node, Snapshot};
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

/// Writes the bundle files into `dir` (created if needed).
pub fn write(snap: &Snapshot, dir: &Path) -> Result<Vec<String>> {
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
                        json!({"cluster_id": s.cluster_id.map(|c| c.0).unwrap_or(cluster), "member_id": s.member_id.0, "revision": 0, "raft_term": s.raft_term}),
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
    Ok(written)
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
