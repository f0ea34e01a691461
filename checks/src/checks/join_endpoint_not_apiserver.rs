//! `join-endpoint-not-apiserver`: a K3s/RKE2 etcd-only server whose `server` URL (or K3S_URL)
//! points at another node that serves no Kubernetes API. Such a node joined fine, but after an
//! outage its agent cannot reach an apiserver through that address and it stays NotReady
//! ("apiserver disabled", k3s#11311, k3s#11425). Fixed in the load-balancer failover of k3s
//! PR #11319 (v1.32.0+k3s1, v1.31.3+k3s1, v1.30.7+k3s1); pointing `server` at a node that
//! serves the API fixes it on any version.

use crate::declare_check;
use crate::endpoint::{Endpoint, HostKey};
use crate::finding::FileEdit;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::{MEMBER_NAME_ANNOTATIONS, Node, Snapshot};
use crate::node_local::LocalNode;
use crate::registry::Check;

declare_check! {
    /// A K3s etcd-only node that joined through a node serving no Kubernetes API.
    JoinEndpointNotApiserver, "join-endpoint-not-apiserver", Severity::Critical, "0.1.0",
    "A K3s etcd-only node joins through a node that serves no Kubernetes API"
}

/// Where K3s and RKE2 keep a node's args and env.
const ARGS: [&str; 2] = ["k3s.io/node-args", "rke2.io/node-args"];
const ENV: [&str; 2] = ["k3s.io/node-env", "rke2.io/node-env"];

impl Check for JoinEndpointNotApiserver {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out: Vec<Finding> = local_finding(snap).into_iter().collect();
        // The node-local finding is the better one for this node: it was probed, not inferred.
        let this_node = (!out.is_empty())
            .then(|| snap.local.as_ref().and_then(|l| l.member_name.clone()))
            .flatten()
            .unwrap_or_default();
        let Some(nodes) = &snap.nodes else { return out };
        let api_nodes: Vec<&Node> = nodes.iter().filter(|n| serves_api(n)).collect();
        for n in nodes.iter().filter(|n| is_k3s_server(n) && !serves_api(n)) {
            if !this_node.is_empty()
                && MEMBER_NAME_ANNOTATIONS.iter().any(|a| n.annotations.get(*a) == Some(&this_node))
            {
                continue;
            }
            let Some((url, from_env)) = join_url(n) else { continue };
            let Ok(ep) = Endpoint::parse(&url) else { continue };
            let host = match &ep.host {
                HostKey::Ip(ip) => ip.to_string(),
                HostKey::Name(h) => h.clone(),
            };
            // A host that is no node (a load balancer, a fixed registration address) is fine.
            let Some(target) = nodes.iter().find(|t| {
                t.name.eq_ignore_ascii_case(&host) || t.addresses.iter().any(|a| a.eq_ignore_ascii_case(&host))
            }) else {
                continue;
            };
            if serves_api(target) {
                continue;
            }
            let severity = if n.ready == Some(true) { Severity::Warning } else { Severity::Critical };
            let rke2 = n.annotations.keys().any(|k| k.starts_with("rke2.io/"));
            let port = if rke2 { 9345 } else { 6443 };
            let better = api_nodes
                .iter()
                .find_map(|a| a.addresses.first().map(|ip| format!("https://{ip}:{port}")))
                .unwrap_or_else(|| format!("https://<a control-plane node>:{port}"));
            let (dist, svc) = if rke2 { ("rancher/rke2", "rke2-server") } else { ("rancher/k3s", "k3s") };
            let file = if from_env {
                format!("/etc/systemd/system/{svc}.service.env (K3S_URL)")
            } else {
                format!("/etc/{dist}/config.yaml or a file in /etc/{dist}/config.yaml.d/ (server:)")
            };
            let mut message = format!(
                "etcd-only node {} joins through {url}, which is node {}: it serves no Kubernetes API, so after an outage {} cannot reconnect and stays NotReady",
                n.name, target.name, n.name
            );
            if n.ready != Some(true) {
                message.push_str(" (it is NotReady now)");
            }
            let hint = if old_k3s(&n.kubelet_version) {
                format!(
                    "; its version {} predates the load-balancer failover fix (v1.32.0+k3s1, v1.31.3+k3s1, v1.30.7+k3s1): upgrade too",
                    n.kubelet_version
                )
            } else {
                String::new()
            };
            message.push_str(&hint);
            out.push(
                Finding::new(Self::INFO.id, severity, format!("node {}", n.name), message)
                    .with("node", &n.name)
                    .with("joinURL", &url)
                    .with("joinURLFrom", if from_env { "node-env K3S_URL" } else { "node-args --server" })
                    .with("targetNode", &target.name)
                    .with("targetRoles", &target.roles)
                    .with("kubeletVersion", &n.kubelet_version)
                    .remedy(Remedy::Manual {
                        description: format!(
                            "point {} at a node that serves the Kubernetes API, then restart it",
                            n.name
                        ),
                        commands: vec![
                            format!("# on {}: in {file}, replace {url} with {better}", n.name),
                            format!("systemctl restart {svc}"),
                        ],
                    }),
            );
            if let Some(f) = out.last_mut() {
                f.node = Some(n.name.clone());
            }
        }
        out
    }
}

/// On the node itself (`--local`): the join URL was asked `GET /version` and is no API.
fn local_finding(snap: &Snapshot) -> Option<Finding> {
    let local: &LocalNode = snap.local.as_ref()?;
    if !local.is_rancher() || !local.etcd_only {
        return None;
    }
    let join = local.join.as_ref()?;
    let probe = local.join_probe.as_ref()?;
    if probe.serves_api {
        return None;
    }
    let member = local.member_name.as_deref().and_then(|n| snap.members.iter().find(|m| m.name == n));
    let node = member.and_then(|m| m.node.clone());
    let ready = node.as_deref().and_then(|n| snap.node(n)).and_then(|n| n.ready);
    let severity = if ready == Some(true) { Severity::Warning } else { Severity::Critical };
    let service = local.service.clone().unwrap_or_else(|| "k3s".into());
    let who = node.clone().or_else(|| local.member_name.clone()).unwrap_or_else(|| "this node".into());
    let message = format!(
        "etcd-only node {who} joins through {} ({} line {}), which answered GET /version with {}: it serves no Kubernetes API, so after an outage this node cannot reconnect and stays NotReady",
        join.url, join.file, join.line, probe.detail
    );
    let mut f = Finding::new(JoinEndpointNotApiserver::INFO.id, severity, format!("node {who}"), message)
        .with("joinURL", &join.url)
        .with("joinURLFile", &join.file)
        .with("joinURLKey", &join.key)
        .with("joinURLLine", join.line)
        .with("probe", &probe.detail)
        .with("candidates", local.candidates.iter().map(|c| format!("{}: {}", c.url, c.detail)).collect::<Vec<_>>());
    if let Some(m) = member {
        f = f.member(m.id, node.as_deref());
    }
    f = match local.api_candidate() {
        Some(c) => f.remedy(Remedy::SetServerUrl(FileEdit {
            file: join.file.clone(),
            key: join.key.clone(),
            line: join.line,
            from: join.url.clone(),
            to: c.url.clone(),
            service,
        })),
        None => f.remedy(Remedy::Manual {
            description: format!(
                "point {who} at a node that serves the Kubernetes API; none of the etcd members' hosts answered as one"
            ),
            commands: vec![
                format!("# in {} line {}: replace {} with a control-plane node's URL", join.file, join.line, join.url),
                "kubectl etcd-doctor --local --fix --server-url https://<control-plane node>:6443".into(),
            ],
        }),
    };
    Some(f)
}

fn args(n: &Node) -> Vec<String> {
    ARGS.iter()
        .filter_map(|k| n.annotations.get(*k))
        .find_map(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .unwrap_or_default()
}

/// A K3s/RKE2 server (it has server args or the K3s etcd annotations).
fn is_k3s_server(n: &Node) -> bool {
    args(n).first().is_some_and(|a| a == "server")
        || n.annotations.keys().any(|k| k.starts_with("etcd.k3s.cattle.io/") || k.starts_with("etcd.rke2.cattle.io/"))
}

/// Whether the node runs a Kubernetes apiserver: a control-plane role and no
/// `--disable-apiserver` (config-file booleans come as "--disable-apiserver","true").
pub fn serves_api(n: &Node) -> bool {
    let a = args(n);
    let disabled = a.iter().enumerate().any(|(i, x)| {
        x == "--disable-apiserver" && a.get(i + 1).is_none_or(|v| v != "false") || x == "--disable-apiserver=true"
    });
    if disabled {
        return false;
    }
    let cp = n.roles.iter().any(|r| r == "control-plane" || r == "master");
    let etcd_only = n.roles.iter().any(|r| r == "etcd") && !cp;
    cp || (!etcd_only && !a.is_empty() && a[0] == "server")
}

/// The URL the node joined through: `--server` in its args, else K3S_URL in its env.
fn join_url(n: &Node) -> Option<(String, bool)> {
    let a = args(n);
    for (i, x) in a.iter().enumerate() {
        if (x == "--server" || x == "-s") && i + 1 < a.len() {
            return Some((a[i + 1].clone(), false));
        }
        if let Some(v) = x.strip_prefix("--server=") {
            return Some((v.to_string(), false));
        }
    }
    ENV.iter()
        .filter_map(|k| n.annotations.get(*k))
        .filter_map(|v| serde_json::from_str::<std::collections::BTreeMap<String, String>>(v).ok())
        .find_map(|env| env.get("K3S_URL").or_else(|| env.get("RKE2_URL")).cloned())
        .map(|u| (u, true))
}

/// K3s older than the releases with the load-balancer failover fix (k3s PR #11319).
fn old_k3s(version: &str) -> bool {
    if !version.contains("k3s") {
        return false;
    }
    let v = version.trim_start_matches('v');
    let mut parts = v.split(['.', '+']);
    let (Some(maj), Some(min), Some(patch)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let (Ok(maj), Ok(min), Ok(patch)) = (maj.parse::<u32>(), min.parse::<u32>(), patch.parse::<u32>()) else {
        return false;
    };
    if maj != 1 {
        return false;
    }
    match min {
        m if m >= 32 => false,
        31 => patch < 3,
        30 => patch < 7,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn node(name: &str, ip: &str, roles: &[&str], args: &str, env: &str, ready: bool, version: &str) -> Node {
        let mut n = Node {
            name: name.into(),
            addresses: vec![ip.into(), name.into()],
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ready: Some(ready),
            kubelet_version: version.into(),
            ..Default::default()
        };
        n.annotations.insert("k3s.io/node-args".into(), args.into());
        n.annotations.insert("k3s.io/node-env".into(), env.into());
        n
    }

    fn split_cluster(second_etcd_args: &str, env: &str, ready: bool) -> crate::model::Snapshot {
        let mut snap = cluster(&[healthy(1)]);
        snap.nodes = Some(vec![
            node(
                "etcd-1",
                "10.0.0.21",
                &["etcd"],
                r#"["server","--cluster-init","--disable-apiserver","true"]"#,
                "{}",
                true,
                "v1.30.6+k3s1",
            ),
            node("etcd-2", "10.0.0.22", &["etcd"], second_etcd_args, env, ready, "v1.30.6+k3s1"),
            node(
                "cp-1",
                "10.0.0.31",
                &["control-plane", "master"],
                r#"["server","--server","https://10.0.0.21:6443","--disable-etcd"]"#,
                "{}",
                true,
                "v1.30.6+k3s1",
            ),
        ]);
        snap
    }

    #[test]
    fn an_etcd_only_node_joined_through_another_etcd_only_node_fires() {
        let args =
            r#"["server","--server","https://10.0.0.21:6443","--token","********","--disable-apiserver","true"]"#;
        let f = JoinEndpointNotApiserver.run(&split_cluster(args, "{}", false));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].node.as_deref(), Some("etcd-2"));
        assert!(f[0].message.contains("predates"), "{}", f[0].message);
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual remedy") };
        assert!(commands[0].contains("https://10.0.0.31:6443") && commands[0].contains("config.yaml"), "{commands:?}");
        // Ready: a warning, the outage has not come yet.
        let f = JoinEndpointNotApiserver.run(&split_cluster(args, "{}", true));
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn k3s_url_in_the_env_counts_too_and_names_the_env_file() {
        let args = r#"["server","--disable-apiserver"]"#;
        let env = r#"{"K3S_TOKEN":"********","K3S_URL":"https://etcd-1:6443"}"#;
        let f = JoinEndpointNotApiserver.run(&split_cluster(args, env, false));
        assert_eq!(f.len(), 1, "{f:?}");
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual remedy") };
        assert!(commands[0].contains("k3s.service.env"), "{commands:?}");
    }

    #[test]
    fn joining_through_a_control_plane_or_a_load_balancer_is_silent() {
        let via_cp = r#"["server","--server","https://10.0.0.31:6443","--disable-apiserver","true"]"#;
        assert!(JoinEndpointNotApiserver.run(&split_cluster(via_cp, "{}", false)).is_empty());
        let via_lb = r#"["server","--server","https://k3s.example.com:6443","--disable-apiserver","true"]"#;
        assert!(JoinEndpointNotApiserver.run(&split_cluster(via_lb, "{}", false)).is_empty());
        // Without nodes there is nothing to judge.
        assert!(JoinEndpointNotApiserver.run(&cluster(&[healthy(1)])).is_empty());
    }

    fn local(members: &[crate::model::Member], serves: bool, candidate: bool) -> crate::model::Snapshot {
        use crate::node_local::{ApiProbe, JoinSetting};
        let mut snap = cluster(members);
        let probe = |url: &str, ok: bool| ApiProbe {
            url: url.into(),
            serves_api: ok,
            version: ok.then(|| "v1.31.4+k3s1".into()),
            detail: if ok { "200 v1.31.4+k3s1".into() } else { "503 apiserver disabled".into() },
        };
        snap.local = Some(LocalNode {
            distribution: "k3s".into(),
            source: "/var/lib/rancher/k3s/server/db/etcd/config".into(),
            member_name: Some(snap.members[1].name.clone()),
            service: Some("k3s".into()),
            etcd_only: true,
            join: Some(JoinSetting {
                url: "https://10.0.0.21:6443".into(),
                file: "/etc/rancher/k3s/config.yaml".into(),
                key: "server:".into(),
                line: 2,
            }),
            join_probe: Some(probe("https://10.0.0.21:6443", serves)),
            candidates: if candidate { vec![probe("https://10.0.0.31:6443", true)] } else { Vec::new() },
            files: Vec::new(),
        });
        snap
    }

    #[test]
    fn on_the_node_a_probed_join_url_that_is_no_api_is_rewritten_when_quorum_allows() {
        let snap = local(&[healthy(1), healthy(2), healthy(3)], false, true);
        let f = JoinEndpointNotApiserver.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].member_id, Some(snap.members[1].id));
        assert!(f[0].message.contains("503 apiserver disabled") && f[0].message.contains("config.yaml line 2"));
        let Some(Remedy::SetServerUrl(e)) = &f[0].remedy else { panic!("a set-server-url remedy: {f:?}") };
        assert_eq!(
            (e.from.as_str(), e.to.as_str(), e.service.as_str()),
            ("https://10.0.0.21:6443", "https://10.0.0.31:6443", "k3s")
        );
        let plan = crate::plan::plan(&snap, &f);
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].action, crate::plan::action::SET_SERVER_URL);
        assert!(plan.steps[0].automatic);
        // One voter already down: restarting this node's member too would lose quorum.
        let snap = local(&[healthy(1), healthy(2), down(3)], false, true);
        let plan = crate::plan::plan(&snap, &JoinEndpointNotApiserver.run(&snap));
        let step = plan.steps.iter().find(|s| s.reason == "join-endpoint-not-apiserver").expect("a step");
        assert!(!step.automatic && step.description.contains("without quorum"), "{step:?}");
    }

    #[test]
    fn on_the_node_an_api_join_url_is_silent_and_no_candidate_means_a_manual_step() {
        assert!(JoinEndpointNotApiserver.run(&local(&[healthy(1), healthy(2), healthy(3)], true, true)).is_empty());
        let f = JoinEndpointNotApiserver.run(&local(&[healthy(1), healthy(2), healthy(3)], false, false));
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual: {f:?}") };
        assert!(commands.iter().any(|c| c.contains("--server-url")), "{commands:?}");
    }

    #[test]
    fn versions_with_the_failover_fix() {
        assert!(old_k3s("v1.30.6+k3s1") && old_k3s("v1.29.9+k3s1") && old_k3s("v1.31.2+k3s1"));
        assert!(
            !old_k3s("v1.30.7+k3s1") && !old_k3s("v1.31.3+k3s1") && !old_k3s("v1.32.0+k3s1") && !old_k3s("v1.32.3")
        );
    }
}
