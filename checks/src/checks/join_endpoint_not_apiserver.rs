//! `join-endpoint-not-apiserver`: a K3s/RKE2 etcd-only server whose `server` URL (or
//! K3S_URL / RKE2_URL) points at another node that serves no Kubernetes API. Such a node joined
//! fine, but after an outage its agent cannot reach an apiserver through that address and it
//! stays NotReady ("apiserver disabled", k3s#11311, k3s#11425). Fixed in the load-balancer
//! failover of k3s PR #11319 and its backports: v1.32.0+k3s1, v1.31.3+k3s1 (k3s#11320),
//! v1.30.7+k3s1 (k3s#11321), v1.29.11+k3s1 (k3s#11322, validated on release-1.29 on 2024-11-29,
//! the branch that became v1.29.11 with PR #11370); the 1.28 backport (k3s#11323) was never
//! released. RKE2 versions track K3s (v1.29.11+rke2r1 …). Pointing `server` at a node that
//! serves the API fixes it on any version.
//!
//! Also a lone etcd-only server with no API server anywhere: K3s exits every 15 minutes
//! ("Tunnel watches failed to wait for apiserver ready ... apiserver disabled", k3s#7085) until a
//! server with the API joins it.

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
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        use crate::distribution::Distribution;
        // Only K3s and RKE2 etcd-only servers join through a URL; another distribution has none.
        let other = crate::detect::distribution(snap)
            .is_some_and(|(d, _)| !matches!(d, Distribution::K3s | Distribution::Rke2));
        (!other && snap.nodes.is_none() && snap.local.is_none()).then(|| {
            "no Kubernetes nodes and no node-local files were read: the K3s/RKE2 servers' join URLs are unknown (a bundle needs nodes.yaml; on a node use --local)".to_string()
        })
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out: Vec<Finding> = local_finding(snap).into_iter().collect();
        out.extend(lone_etcd_only(snap));
        // The node-local finding is the better one for this node: it was probed, not inferred.
        let this_node = (!out.is_empty())
            .then(|| snap.local.as_ref().and_then(|l| l.member_name.clone()))
            .flatten()
            .unwrap_or_default();
        let Some(nodes) = &snap.nodes else { return out };
        if !crate::detect::k3s_or_rke2_nodes(snap) {
            return out;
        }
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
            let names = Names::of(
                n.annotations.keys().any(|k| k.starts_with("rke2.io/") || k.starts_with("etcd.rke2.cattle.io/")),
            );
            // Looked for only here: most clusters have no etcd-only server, and a pass over
            // 5,000 nodes' annotations costs milliseconds.
            let better = nodes
                .iter()
                .filter(|n| serves_api(n))
                .find_map(|a| a.addresses.first().map(|ip| format!("https://{ip}:{}", names.port)))
                .unwrap_or_else(|| format!("https://<a control-plane node>:{}", names.port));
            let file = names.where_set(from_env);
            let mut message = format!(
                "etcd-only node {} joins through {url}, which is node {}: it serves no Kubernetes API, so after an outage {} cannot reconnect and stays NotReady",
                n.name, target.name, n.name
            );
            if n.ready != Some(true) {
                message.push_str(" (it is NotReady now)");
            }
            if let Some(hint) = fix_hint(&n.kubelet_version) {
                message.push_str("; ");
                message.push_str(&hint);
            }
            out.push(
                Finding::new(Self::INFO.id, severity, format!("node {}", n.name), message)
                    .with("node", &n.name)
                    .with("joinURL", &url)
                    .with(
                        "joinURLFrom",
                        if from_env { format!("node-env {}", names.url_env) } else { "node-args --server".into() },
                    )
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
                            format!("systemctl daemon-reload && systemctl restart {}", names.service),
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
    let names = Names::of(local.distribution == crate::distribution::Distribution::Rke2);
    let mut message = format!(
        "etcd-only node {who} joins through {} ({} line {}), which answered GET /version with {}: it serves no Kubernetes API, so after an outage this node cannot reconnect and stays NotReady",
        join.url, join.file, join.line, probe.detail
    );
    let version = node.as_deref().and_then(|n| snap.node(n)).map(|n| n.kubelet_version.clone()).unwrap_or_default();
    if let Some(hint) = fix_hint(&version) {
        message.push_str("; ");
        message.push_str(&hint);
    }
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
                format!("kubectl etcd-doctor --local --fix --server-url https://<control-plane node>:{}", names.port),
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

/// What K3s and RKE2 call things, for the hints.
struct Names {
    /// `k3s` or `rke2`.
    dist: &'static str,
    /// The server's systemd unit.
    service: &'static str,
    /// The env variable that sets `--server`.
    url_env: &'static str,
    /// The port a join URL uses (RKE2's supervisor listens on 9345).
    port: u16,
}

impl Names {
    fn of(rke2: bool) -> Names {
        if rke2 {
            Names { dist: "rke2", service: "rke2-server", url_env: "RKE2_URL", port: 9345 }
        } else {
            Names { dist: "k3s", service: "k3s", url_env: "K3S_URL", port: 6443 }
        }
    }

    /// Where the join URL may be set: the unit's ExecStart wins over config.yaml (and its
    /// drop-ins), which win over the env file. `curl -sfL https://get.k3s.io | sh -s - server
    /// --server URL` writes the URL into ExecStart, so config.yaml alone is not enough.
    fn where_set(&self, from_env: bool) -> String {
        let unit = format!("/etc/systemd/system/{}.service", self.service);
        if from_env {
            format!(
                "the {} line of /etc/systemd/system/{}.service.env (or /etc/default/{}, /etc/sysconfig/{}), unless {unit} ExecStart or /etc/rancher/{}/config.yaml sets --server/server:, which win",
                self.url_env, self.service, self.service, self.service, self.dist
            )
        } else {
            format!(
                "the unit's ExecStart in {unit} (installs with `sh -s - server --server URL` put it there, and unit arguments win), else /etc/rancher/{d}/config.yaml or a file in /etc/rancher/{d}/config.yaml.d/ (server:)",
                d = self.dist
            )
        }
    }
}

/// The first release per minor with the load-balancer fix (k3s#11311, PR #11319; backports
/// k3s#11320 1.31, k3s#11321 1.30, k3s#11322 1.29). RKE2 versions track K3s. 1.28 never got it
/// (k3s#11323 open), nor did anything older.
const FIXED: [(u64, u64); 4] = [(29, 11), (30, 7), (31, 3), (32, 0)];

/// A K3s or RKE2 version that predates the fix, as a hint naming the release to go to; `None`
/// for fixed versions and for anything that is not a K3s/RKE2 version.
fn fix_hint(version: &str) -> Option<String> {
    let v = version.trim();
    let suffix = if v.contains("+k3s") {
        "+k3s1"
    } else if v.contains("+rke2") {
        "+rke2r1"
    } else {
        return None;
    };
    let (maj, min, patch) = super::version_of(v)?;
    if maj != 1 {
        return None;
    }
    let first = |(m, p): (u64, u64)| format!("v1.{m}.{p}{suffix}");
    match FIXED.iter().find(|(m, _)| *m == min) {
        Some(&(m, p)) if patch < p => Some(format!(
            "its version {v} predates the load-balancer failover fix, which 1.{m} got in {}: upgrade to it or later too",
            first((m, p))
        )),
        Some(_) => None,
        None if min > FIXED[FIXED.len() - 1].0 => None,
        None => Some(format!(
            "its version {v} predates the load-balancer failover fix, and no 1.{min} release has it: upgrade to {} or later too",
            first(FIXED[0])
        )),
    }
}

/// `--local` on a K3s/RKE2 etcd-only server that started the cluster (no join URL), is the only
/// etcd member, and whose Kubernetes API was asked and did not answer: nothing serves the API
/// for it, and K3s exits every 15 minutes waiting for one (k3s#7085). A node list cannot show
/// this (reading one proves an API answered), so only the node's own view can.
fn lone_etcd_only(snap: &Snapshot) -> Vec<Finding> {
    let Some(local) = snap.local.as_ref().filter(|l| l.is_rancher() && l.etcd_only) else { return Vec::new() };
    // A join URL or a candidate that serves the API is an API server.
    let joined_api = local.join_probe.as_ref().is_some_and(|p| p.serves_api) || local.api_candidate().is_some();
    // Asked and not answered; "not asked", no kubeconfig, 401 or 403 prove nothing (or an API).
    let unanswered = snap.gaps.iter().find(|g| {
        g.source == "kubernetes"
            && (g.reason.starts_with("cannot list nodes at") || g.reason.contains("did not answer the node list"))
    });
    let others = snap.members.iter().filter(|m| Some(&m.name) != local.member_name.as_ref()).count();
    let Some(gap) = unanswered else { return Vec::new() };
    if local.join.is_some() || joined_api || others > 0 || snap.nodes.is_some() {
        return Vec::new();
    }
    let names = Names::of(local.distribution == crate::distribution::Distribution::Rke2);
    let who = local.member_name.clone().unwrap_or_else(|| "this node".into());
    let why = format!(
        "etcd-only server {who} started this cluster (no server: or {} set), is its only etcd member, and its Kubernetes API did not answer ({}): no server that serves the API has joined it (inferred: a --disable-etcd server is no etcd member; if one joined, this node cannot reach it either)",
        names.url_env, gap.reason
    );
    vec![lone_finding(
        local.distribution == crate::distribution::Distribution::Rke2,
        Severity::Critical,
        format!("node {who}"),
        why,
        vec![who],
    )]
}

fn lone_finding(rke2: bool, severity: Severity, subject: String, why: String, servers: Vec<String>) -> Finding {
    let n = Names::of(rke2);
    let message = format!(
        "{why}; {} exits every 15 minutes (\"Tunnel watches failed to wait for apiserver ready ... apiserver disabled\", k3s#7085), taking etcd down each time; an etcd-only server is not meant to run alone: join a server that serves the API",
        n.service
    );
    Finding::new(JoinEndpointNotApiserver::INFO.id, severity, subject, message)
        .with("etcdOnlyServers", &servers)
        .with("distribution", n.dist)
        .remedy(Remedy::Manual {
            description: format!(
                "join a control-plane server to it (with the API; --disable-etcd if it should hold no etcd), or drop --disable-apiserver on this one; run {} with its agent (not --disable-agent)",
                n.dist
            ),
            commands: vec![
                format!(
                    "# on a new server: /etc/rancher/{}/config.yaml with server: https://<this node>:{}, token: <the cluster token>, disable-etcd: true",
                    n.dist, n.port
                ),
                format!("systemctl enable --now {}", n.service),
            ],
        })
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
            distribution: crate::distribution::Distribution::K3s,
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
            initial_cluster: None,
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
        assert_eq!(plan.steps[0].action, crate::plan::Action::SetServerUrl);
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
    fn version_hints_know_each_minors_fix_and_rke2() {
        for fixed in [
            "v1.29.11+k3s1",
            "v1.29.15+k3s1",
            "v1.30.7+k3s1",
            "v1.31.3+k3s1",
            "v1.32.0+k3s1",
            "v1.33.1+k3s1",
            "v1.29.11+rke2r1",
            "v1.32.3",
        ] {
            assert_eq!(fix_hint(fixed), None, "{fixed}");
        }
        let h = fix_hint("v1.29.10+k3s1").unwrap_or_default();
        assert!(h.contains("v1.29.11+k3s1"), "{h}");
        assert!(fix_hint("v1.31.2+k3s1").unwrap_or_default().contains("v1.31.3+k3s1"));
        assert!(fix_hint("v1.30.6+rke2r1").unwrap_or_default().contains("v1.30.7+rke2r1"));
        let old = fix_hint("v1.28.15+k3s1").unwrap_or_default();
        assert!(old.contains("no 1.28 release") && old.contains("v1.29.11+k3s1"), "{old}");
    }

    #[test]
    fn rke2_nodes_are_told_rke2_url_its_service_and_config_and_the_unit_execstart() {
        let mut snap = split_cluster(r#"["server","--disable-apiserver"]"#, "{}", false);
        let Some(nodes) = snap.nodes.as_mut() else { panic!("nodes") };
        for n in nodes.iter_mut() {
            let args = n.annotations.remove("k3s.io/node-args").unwrap_or_default();
            n.annotations.insert("rke2.io/node-args".into(), args);
            n.annotations.remove("k3s.io/node-env");
            n.kubelet_version = "v1.29.9+rke2r1".into();
        }
        nodes[1].annotations.insert("rke2.io/node-env".into(), r#"{"RKE2_URL":"https://10.0.0.21:9345"}"#.into());
        let f = JoinEndpointNotApiserver.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("v1.29.11+rke2r1"), "{}", f[0].message);
        assert_eq!(f[0].evidence.get("joinURLFrom").and_then(|v| v.as_str()), Some("node-env RKE2_URL"));
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual remedy") };
        let all = commands.join("\n");
        assert!(all.contains("RKE2_URL") && !all.contains("K3S_URL"), "{all}");
        assert!(all.contains("https://10.0.0.31:9345") && all.contains("rke2-server"), "{all}");
        assert!(all.contains("/etc/rancher/rke2/config.yaml") && all.contains("ExecStart"), "{all}");
        // From the args: the unit's ExecStart is named first (it wins over config.yaml).
        let args = r#"["server","--server","https://10.0.0.21:6443","--disable-apiserver","true"]"#;
        let f = JoinEndpointNotApiserver.run(&split_cluster(args, "{}", false));
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual remedy") };
        assert!(commands[0].contains("ExecStart in /etc/systemd/system/k3s.service"), "{commands:?}");
    }

    #[test]
    fn a_lone_etcd_only_server_without_any_api_is_said_so() {
        // k3s#7085: cluster-init, --disable-apiserver, nothing else; the API does not answer.
        let mut snap = cluster(&[healthy(1)]);
        snap.members[0].name = "etcd-1-0d481970".into();
        let refused = "cannot list nodes at https://127.0.0.1:6443/: 503 apiserver disabled";
        snap.gaps.push(crate::model::Gap::new("kubernetes", refused));
        let mut l = LocalNode::new(crate::distribution::Distribution::K3s, "/etc/rancher/k3s".into());
        l.member_name = Some("etcd-1-0d481970".into());
        l.service = Some("k3s".into());
        l.etcd_only = true;
        snap.local = Some(l);
        let f = JoinEndpointNotApiserver.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        let m = &f[0].message;
        assert!(m.contains("every 15 minutes") && m.contains("k3s#7085") && m.contains("apiserver disabled"), "{m}");
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual remedy") };
        assert!(commands[0].contains("disable-etcd: true"), "{commands:?}");
        // Not asked, or no kubeconfig: nothing is known about the API.
        for reason in ["not asked (--no-kube)", "no kubeconfig found (KUBECONFIG, ~/.kube/config)"] {
            let mut s = snap.clone();
            s.gaps = vec![crate::model::Gap::new("kubernetes", reason)];
            assert!(JoinEndpointNotApiserver.run(&s).is_empty(), "{reason}");
        }
        // A second etcd member: another server joined it.
        let mut two = snap.clone();
        two.members.push(healthy(2));
        assert!(JoinEndpointNotApiserver.run(&two).is_empty());
        // RKE2 says rke2-server.
        let mut rke2 = snap.clone();
        if let Some(l) = rke2.local.as_mut() {
            l.distribution = crate::distribution::Distribution::Rke2;
        }
        let f = JoinEndpointNotApiserver.run(&rke2);
        assert!(f[0].message.contains("rke2-server exits") && f[0].message.contains("RKE2_URL"), "{}", f[0].message);
    }
}
