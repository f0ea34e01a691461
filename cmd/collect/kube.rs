//! The Kubernetes collector: nodes (addresses, roles, Ready and since when, annotations,
//! kubelet version). Failure is a gap, never an error: etcd-only checks still run, and the
//! checks that need nodes say they could not decide. RBAC refusals name the missing permission.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use etcd_doctor_checks::{EtcdPod, Gap, Node};
use k8s_openapi::api::core::v1::{Node as K8sNode, Pod};
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where the kubeconfig is and how long to wait.
#[derive(Debug, Clone)]
pub struct KubeTarget {
    /// `--kubeconfig` (else KUBECONFIG, ~/.kube/config, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// Bound for connecting and for each request.
    pub timeout: Duration,
}

/// The minimal read-only permissions, for messages (the README ships the ClusterRole).
const RBAC_HINT: &str = "needs `get`/`list` on nodes (ClusterRole in deploy/rbac.yaml)";

fn gap(r: String) -> Gap {
    Gap::new("kubernetes", r)
}

/// A client for the API server the kubeconfig names, bounded by the target's timeout.
pub async fn client(t: &KubeTarget) -> Result<(Client, String), Gap> {
    let mut config = config(t).await.map_err(gap)?;
    config.connect_timeout = Some(t.timeout);
    config.read_timeout = Some(t.timeout);
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| gap(format!("cannot build a client for {server}: {e}")))?;
    Ok((client, server))
}

/// kubeadm's etcd static pods in kube-system (`component=etcd`), or why not.
pub async fn etcd_pods(client: Client, server: &str, timeout: Duration) -> Result<Vec<EtcdPod>, Gap> {
    let api: Api<Pod> = Api::namespaced(client, "kube-system");
    match tokio::time::timeout(timeout * 2, api.list(&ListParams::default().labels("component=etcd"))).await {
        Err(_) => Err(gap(format!("{server} did not answer the kube-system pod list within {:?}", timeout * 2))),
        Ok(Err(kube::Error::Api(s))) if s.code == 403 => Err(gap(format!(
            "forbidden to list pods in kube-system at {server} (needs `list` on pods there, deploy/rbac.yaml): {}",
            s.message
        ))),
        Ok(Err(e)) => Err(gap(format!("cannot list etcd pods at {server}: {}", crate::collect::error_line(&e)))),
        Ok(Ok(list)) => Ok(list.items.iter().map(convert_pod).collect()),
    }
}

/// An etcd pod as the checks see it.
pub fn convert_pod(p: &Pod) -> EtcdPod {
    let ann = p.metadata.annotations.clone().unwrap_or_default();
    let status = p.status.as_ref();
    let cs = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.iter().find(|c| c.name == "etcd").or(c.first()));
    EtcdPod {
        name: p.metadata.name.clone().unwrap_or_default(),
        node: p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into()),
        ready: cs.is_some_and(|c| c.ready),
        restarts: cs.map(|c| c.restart_count).unwrap_or(0),
        waiting_reason: cs
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone()),
        advertise_client_urls: ann
            .get("kubeadm.kubernetes.io/etcd.advertise-client-urls")
            .map(|v| v.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect())
            .unwrap_or_default(),
        image: p.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()).unwrap_or_default(),
    }
}

/// Lists the nodes, or says why not.
pub async fn nodes(t: &KubeTarget) -> Result<Vec<Node>, Gap> {
    let (client, server) = client(t).await?;
    nodes_with(client, &server, t.timeout).await
}

/// Lists the nodes with a client made already.
pub async fn nodes_with(client: Client, server: &str, timeout: Duration) -> Result<Vec<Node>, Gap> {
    let t = KubeTarget { kubeconfig: None, context: None, timeout };
    let api: Api<K8sNode> = Api::all(client);
    match tokio::time::timeout(t.timeout * 2, api.list(&ListParams::default())).await {
        Err(_) => Err(gap(format!("{server} did not answer the node list within {:?}", t.timeout * 2))),
        Ok(Err(kube::Error::Api(s))) if s.code == 403 => {
            Err(gap(format!("forbidden to list nodes at {server} ({RBAC_HINT}): {}", s.message)))
        }
        Ok(Err(kube::Error::Api(s))) if s.code == 401 => {
            Err(gap(format!("{server} rejected the credentials (401): {}", s.message)))
        }
        Ok(Err(e)) => Err(gap(format!("cannot list nodes at {server}: {}", crate::collect::error_line(&e)))),
        Ok(Ok(list)) => Ok(list.items.iter().map(convert).collect()),
    }
}

async fn config(t: &KubeTarget) -> Result<Config, String> {
    let opts = KubeConfigOptions { context: t.context.clone(), ..Default::default() };
    match &t.kubeconfig {
        Some(p) => {
            let kc = Kubeconfig::read_from(p).map_err(|e| format!("cannot read --kubeconfig {}: {e}", p.display()))?;
            Config::from_custom_kubeconfig(kc, &opts).await.map_err(|e| format!("--kubeconfig {}: {e}", p.display()))
        }
        None if t.context.is_some() => Config::from_kubeconfig(&opts).await.map_err(|e| format!("--context: {e}")),
        None => Config::infer().await.map_err(|e| {
            format!("no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a pod ({e}); node checks could not decide")
        }),
    }
}

/// A `kubectl get nodes -o yaml|json` document: a List with items, or one Node.
pub fn parse_nodes(text: &str) -> Result<Vec<Node>, String> {
    #[derive(serde::Deserialize)]
    struct List {
        items: Vec<K8sNode>,
    }
    if let Ok(l) = serde_yaml_ng::from_str::<List>(text) {
        return Ok(l.items.iter().map(convert).collect());
    }
    serde_yaml_ng::from_str::<K8sNode>(text).map(|n| vec![convert(&n)]).map_err(|e| e.to_string())
}

/// The etcd pods of a `kubectl get pods -o yaml|json` document (a List, or one Pod): kubeadm's
/// static pods, labelled `component=etcd`.
pub fn parse_etcd_pods(text: &str) -> Result<Vec<EtcdPod>, String> {
    #[derive(serde::Deserialize)]
    struct List {
        items: Vec<Pod>,
    }
    let pods = match serde_yaml_ng::from_str::<List>(text) {
        Ok(l) => l.items,
        Err(_) => vec![serde_yaml_ng::from_str::<Pod>(text).map_err(|e| e.to_string())?],
    };
    Ok(pods
        .iter()
        .filter(|p| p.metadata.labels.as_ref().and_then(|l| l.get("component")).is_some_and(|c| c == "etcd"))
        .map(convert_pod)
        .collect())
}

/// The node as the checks see it.
pub fn convert(n: &K8sNode) -> Node {
    let labels: BTreeMap<String, String> = n.metadata.labels.clone().unwrap_or_default();
    let annotations: BTreeMap<String, String> = n.metadata.annotations.clone().unwrap_or_default();
    let roles = labels.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).map(str::to_string).collect();
    let status = n.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| (c.status == "True", c.last_transition_time.as_ref().map(|t| t.0)));
    Node {
        name: n.metadata.name.clone().unwrap_or_default(),
        addresses: status
            .and_then(|s| s.addresses.as_ref())
            .map(|a| a.iter().map(|a| a.address.clone()).collect())
            .unwrap_or_default(),
        roles,
        labels,
        annotations,
        ready: ready.map(|r| r.0),
        ready_since: ready
            .and_then(|r| r.1)
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.as_second()).ok()),
        kubelet_version: status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.clone())
            .unwrap_or_default(),
    }
}
