//! The Kubernetes collector: nodes (addresses, roles, Ready and since when, annotations,
//! kubelet version). Failure is a gap, never an error: etcd-only checks still run, and the
//! checks that need nodes say they could not decide. RBAC refusals name the missing permission.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use etcd_doctor_checks::{Gap, Node};
use k8s_openapi::api::core::v1::Node as K8sNode;
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

/// Lists the nodes, or says why not.
pub async fn nodes(t: &KubeTarget) -> Result<Vec<Node>, Gap> {
    let gap = |r: String| Gap::new("kubernetes", r);
    let mut config = config(t).await.map_err(gap)?;
    config.connect_timeout = Some(t.timeout);
    config.read_timeout = Some(t.timeout);
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| gap(format!("cannot build a client for {server}: {e}")))?;
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
