//! The Kubernetes collector: nodes (addresses, roles, Ready and since when, annotations,
//! kubelet version). Failure is a gap, never an error: etcd-only checks still run, and the
//! checks that need nodes say they could not decide. RBAC refusals name the missing permission.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use etcd_doctor_checks::model::{EtcdPod, Gap, Node};
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

/// The etcd container's command line, and `ETCD_ENABLE_V2` when set (other variables may
/// carry secrets and are not kept).
fn etcd_command(p: &Pod) -> Vec<String> {
    let Some(c) = p.spec.as_ref().and_then(|s| s.containers.iter().find(|c| c.name == "etcd").or(s.containers.first()))
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = c.command.iter().flatten().chain(c.args.iter().flatten()).cloned().collect();
    for e in c.env.iter().flatten().filter(|e| e.name == "ETCD_ENABLE_V2") {
        out.push(format!("ETCD_ENABLE_V2={}", e.value.as_deref().unwrap_or_default()));
    }
    out
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
        command: etcd_command(p),
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
            // With nothing to read, the library's chain (three attempts) says no more than
            // this line; a kubeconfig that exists but is broken is worth its one-line error.
            let named = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
                || std::env::var_os("HOME").is_some_and(|h| std::path::Path::new(&h).join(".kube/config").exists());
            if named {
                format!("cannot load the kubeconfig: {}", crate::errors::error_line(&e))
            } else {
                "no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a pod".to_string()
            }
        }),
    }
}

/// A `kubectl get nodes -o yaml|json` file read line by line (`node_list_yaml`,
/// `node_list_json`): a 5,000-node list is 15 to 75 MB, mostly image lists the checks never
/// read. `None` when the file is not laid out as those readers expect, or breaks a limit: the
/// caller then reads it whole (`parse_nodes`), which names the limit or the parse error.
pub fn read_nodes_fast(path: &std::path::Path) -> Option<Vec<Node>> {
    use super::limits::KUBE_LIST;
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    // JSON or YAML, by the first byte that is not white space (a BOM makes it the slow way).
    let mut head = [0u8; 512];
    let n = file.read(&mut head).ok()?;
    let json = head[..n].iter().find(|b| !b.is_ascii_whitespace())? == &b'{';
    let size = file.metadata().ok()?.len();
    if json
        && size >= HALVES
        && let Some(nodes) = nodes_in_halves(&file, size)
    {
        return Some(nodes);
    }
    nodes_by_line(std::fs::File::open(path).ok()?, json, KUBE_LIST.max_bytes)
}

/// A JSON list of `size` bytes read in two halves at once (`node_list_halves`; the fuzzer
/// holds it to `parse_nodes`); `None` when it cannot be.
pub fn nodes_in_halves(file: &std::fs::File, size: u64) -> Option<Vec<Node>> {
    use super::limits::KUBE_LIST;
    let read = super::node_list_halves::read_items(
        file,
        size,
        KUBE_LIST.max_field,
        KUBE_LIST.max_bytes,
        lean::Node::into_node,
    );
    read.ok().flatten().map(|(doc, items)| list_or_node(doc, items))
}

/// A JSON capture this large is read in two halves at once (`node_list_halves`); smaller, as
/// lines read by one thread for two workers.
const HALVES: u64 = 8 << 20;

/// `read_nodes_fast` on any reader (the fuzzer holds it to `parse_nodes`).
pub fn nodes_by_line(r: impl std::io::Read, json: bool, max_bytes: u64) -> Option<Vec<Node>> {
    let mut lines = super::lines::Lines::new(r, super::limits::KUBE_LIST.max_field, max_bytes);
    // Each item made a `Node` by the thread that read it.
    let read = if json {
        super::node_list_json::read_items(&mut lines, lean::Node::into_node)
    } else {
        super::node_list_yaml::read_items(&mut lines, lean::Node::into_node)
    };
    read.ok().flatten().map(|(doc, items)| list_or_node(doc, items))
}

/// The nodes of a List, or the one Node.
fn nodes_of(mut doc: lean::Doc) -> Vec<Node> {
    let items = std::mem::take(&mut doc.items).into_iter().map(lean::Node::into_node).collect();
    list_or_node(doc, items)
}

/// The items of a List (read apart from it), or the document itself when it is one Node.
fn list_or_node(doc: lean::Doc, items: Vec<Node>) -> Vec<Node> {
    if doc.kind == "Node" {
        return vec![doc.node().into_node()];
    }
    items
}

/// The nodes of a `kubectl get nodes -o yaml|json` capture: a List, or one Node.
pub fn parse_nodes(text: &str) -> Result<Vec<Node>, String> {
    parse_doc::<lean::Doc>(text).map(nodes_of)
}

/// A `kubectl ... -o json|yaml` document.
fn parse_doc<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }
}

/// The etcd pods of a `kubectl get pods -o yaml|json` document (a List, or one Pod): kubeadm's
/// static pods, labelled `component=etcd`.
pub fn parse_etcd_pods(text: &str) -> Result<Vec<EtcdPod>, String> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        kind: String,
        #[serde(default)]
        items: Vec<Pod>,
    }
    let doc: Doc = parse_doc(text)?;
    let pods = if doc.kind == "Pod" { vec![parse_doc::<Pod>(text)?] } else { doc.items };
    Ok(pods
        .iter()
        .filter(|p| p.metadata.labels.as_ref().and_then(|l| l.get("component")).is_some_and(|c| c == "etcd"))
        .map(convert_pod)
        .collect())
}

/// Only the parts of a Node the checks read: everything else (images, capacity, managed
/// fields) is skipped while parsing, never held. The line readers of `node_list_yaml` and
/// `node_list_json` fill the same types, and must read what serde reads.
pub(crate) mod lean {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    /// A List of nodes, or one Node.
    #[derive(Deserialize, Default, Debug, PartialEq)]
    #[serde(default)]
    pub struct Doc {
        pub kind: String,
        pub items: Vec<Node>,
        pub metadata: Meta,
        pub status: Status,
    }

    impl Doc {
        pub fn node(self) -> Node {
            Node { metadata: self.metadata, status: self.status }
        }
    }

    #[derive(Deserialize, Default, Debug, PartialEq, Clone)]
    #[serde(default)]
    pub struct Node {
        pub metadata: Meta,
        pub status: Status,
    }

    #[derive(Deserialize, Default, Debug, PartialEq, Clone)]
    #[serde(default)]
    pub struct Meta {
        pub name: String,
        pub labels: BTreeMap<String, String>,
        pub annotations: BTreeMap<String, String>,
    }

    #[derive(Deserialize, Default, Debug, PartialEq, Clone)]
    #[serde(default, rename_all = "camelCase")]
    pub struct Status {
        pub addresses: Vec<Address>,
        pub conditions: Vec<Condition>,
        pub node_info: Info,
    }

    #[derive(Deserialize, Default, Debug, PartialEq, Clone)]
    #[serde(default)]
    pub struct Address {
        pub address: String,
    }

    #[derive(Deserialize, Default, Debug, PartialEq, Clone)]
    #[serde(default, rename_all = "camelCase")]
    pub struct Condition {
        #[serde(rename = "type")]
        pub type_: String,
        pub status: String,
        pub last_transition_time: Option<String>,
    }

    #[derive(Deserialize, Default, Debug, PartialEq, Clone)]
    #[serde(default, rename_all = "camelCase")]
    pub struct Info {
        pub kubelet_version: String,
    }

    impl Node {
        pub fn into_node(self) -> etcd_doctor_checks::model::Node {
            let ready = self.status.conditions.iter().find(|c| c.type_ == "Ready");
            let roles = self
                .metadata
                .labels
                .keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .map(str::to_string)
                .collect();
            etcd_doctor_checks::model::Node {
                name: self.metadata.name,
                addresses: self.status.addresses.into_iter().map(|a| a.address).collect(),
                roles,
                labels: self.metadata.labels,
                annotations: self.metadata.annotations,
                ready: ready.map(|c| c.status == "True"),
                ready_since: ready
                    .and_then(|c| c.last_transition_time.as_deref())
                    .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()),
                kubelet_version: self.status.node_info.kubelet_version,
                keys: Default::default(),
            }
            // On the thread reading the node, its maps still in cache.
            .with_keys()
        }
    }
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
        keys: Default::default(),
    }
    .with_keys()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(name).join("nodes.yaml");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn node_files_read_line_by_line_equal_the_whole_document() {
        for b in ["k3s-etcd-only-via-etcd", "kubeadm-node-deleted", "kubeadm-etcd-crashloop"] {
            let p =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(b).join("nodes.yaml");
            let fast = read_nodes_fast(&p).unwrap_or_else(|| panic!("{b}: not read line by line"));
            assert_eq!(fast, parse_nodes(&fixture(b)).expect("whole"), "{b}");
        }
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bundles/kubeadm-etcd-crashloop-json/nodes.json");
        let fast = read_nodes_fast(&p).expect("nodes.json read line by line");
        let text = std::fs::read_to_string(&p).expect("nodes.json");
        assert_eq!(fast, parse_nodes(&text).expect("whole"));
        // Cut inside a line, the file is left to the whole-document parser.
        let d = tempfile::tempdir().expect("tempdir");
        let cut = d.path().join("nodes.yaml");
        let text = fixture("kubeadm-node-deleted");
        std::fs::write(&cut, text.trim_end()).expect("write");
        assert_eq!(read_nodes_fast(&cut), None);
    }

    #[test]
    fn full_node_objects_read_the_same_from_json_and_from_yaml() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bundles/kubeadm-etcd-crashloop-json/nodes.json");
        let json = std::fs::read_to_string(&p).expect("nodes.json");
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        let yaml = serde_yaml_ng::to_string(&value).expect("yaml");
        let from_json = parse_nodes(&json).expect("json nodes");
        assert_eq!(from_json.len(), 5);
        assert!(from_json.iter().all(|n| n.ready.is_some() && !n.kubelet_version.is_empty() && !n.labels.is_empty()));
        assert_eq!(parse_nodes(&yaml).expect("yaml nodes"), from_json);
        assert_eq!(nodes_by_line(yaml.as_bytes(), false, u64::MAX).as_ref(), Some(&from_json));
    }

    #[test]
    fn indented_sequences_json_single_nodes_and_odd_layouts() {
        let indented = "apiVersion: v1\nitems:\n  - metadata:\n      name: a\n    status:\n      addresses:\n        - address: 10.0.0.1\n  - metadata:\n      name: b\nkind: List\n";
        let n = parse_nodes(indented).expect("parse");
        assert_eq!(n.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(n[0].addresses, ["10.0.0.1"]);
        assert!(parse_nodes("apiVersion: v1\nitems: []\nkind: List\n").expect("empty").is_empty());
        let one = "apiVersion: v1\nkind: Node\nmetadata:\n  name: solo\nstatus:\n  conditions:\n  - type: Ready\n    status: \"True\"\n    lastTransitionTime: \"2026-11-20T08:01:55Z\"\n";
        let n = parse_nodes(one).expect("one node");
        assert_eq!((n[0].name.as_str(), n[0].ready), ("solo", Some(true)));
        assert!(n[0].ready_since.is_some());
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"j"}}]}"#;
        assert_eq!(parse_nodes(json).expect("json")[0].name, "j");
        // Tabs and stray layouts are read by the whole-document parser (and its errors).
        assert_eq!(nodes_by_line(&b"items:\n\t- a\n"[..], false, u64::MAX), None);
        assert!(parse_nodes("items:\n- metadata: [unclosed\n").is_err());
    }
}
