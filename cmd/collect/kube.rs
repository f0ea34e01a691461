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
    let file = std::fs::File::open(path).ok()?;
    let mut lines = super::lines::Lines::new(file, KUBE_LIST.max_field, KUBE_LIST.max_bytes);
    let doc = if json { super::node_list_json::read(&mut lines) } else { super::node_list_yaml::read(&mut lines) };
    doc.ok().flatten().map(nodes_of)
}

/// The nodes of a List, or the one Node.
fn nodes_of(doc: lean::Doc) -> Vec<Node> {
    if doc.kind == "Node" {
        return vec![doc.node().into_node()];
    }
    doc.items.into_iter().map(lean::Node::into_node).collect()
}

/// A `kubectl get nodes -o yaml|json` document: a List with items, or one Node.
pub fn parse_nodes(text: &str) -> Result<Vec<Node>, String> {
    // A large cluster's node list is 15 MB and more (image lists, conditions with their
    // messages): its items are cut apart and parsed in parallel; YAML items are first stripped
    // of the parts the checks never read (`NEVER_READ`), which libyaml would scan slowly.
    let json = text.trim_start().starts_with('{');
    let items = if json { json_items(text) } else { list_items(text) };
    if let Some(items) = items
        && let Ok(nodes) = parse_items_parallel(text, &items, json)
    {
        return Ok(nodes);
    }
    let doc: lean::Doc = parse_doc(text)?;
    Ok(nodes_of(doc))
}

/// The item byte ranges of `text` (see `list_items`, `json_items`) parsed on up to 8 threads.
fn parse_items_parallel(text: &str, items: &Items, json: bool) -> Result<Vec<Node>, String> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    let per = items.ranges.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .ranges
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut doc = String::with_capacity(4096);
                    chunk
                        .iter()
                        .map(|r| {
                            if json {
                                return serde_json::from_str::<lean::Node>(&text[r.clone()])
                                    .map(lean::Node::into_node)
                                    .map_err(|e| e.to_string());
                            }
                            doc.clear();
                            lean_item(&text[r.clone()], items.indent, &mut doc);
                            serde_yaml_ng::from_str::<lean::Node>(&doc)
                                .map(lean::Node::into_node)
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Result<Vec<Node>, String>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(items.ranges.len());
        for h in handles {
            out.extend(h.join().map_err(|_| "a parser thread failed".to_string())??);
        }
        Ok(out)
    })
}

/// Where the items of a YAML `List` are, and at which indentation their `- ` stands.
#[derive(Debug, PartialEq)]
struct Items {
    indent: usize,
    ranges: Vec<std::ops::Range<usize>>,
}

/// The items of a YAML `List` laid out as kubectl (and every common emitter) prints it: an
/// `items:` key at column 0 followed by block sequence entries (`- ` at one indentation).
/// `None` for anything else (the caller then parses the whole document), so an unusual layout
/// costs speed, never correctness.
fn list_items(text: &str) -> Option<Items> {
    let mut at = 0;
    let mut lines = text.split_inclusive('\n').map(|l| {
        let start = at;
        at += l.len();
        (start, l)
    });
    lines.by_ref().find(|(_, l)| l.trim_end() == "items:")?;
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut indent: Option<usize> = None;
    for (start, line) in lines {
        let end = start + line.len();
        let trimmed = line.trim_start_matches(' ');
        if trimmed.starts_with('\t') {
            return None;
        }
        let body = trimmed.trim_end();
        if body.is_empty() || body.starts_with('#') {
            if let Some(r) = ranges.last_mut() {
                r.end = end;
            }
            continue;
        }
        let lead = line.len() - trimmed.len();
        let ind = *indent.get_or_insert(lead);
        if lead == ind && (body.starts_with("- ") || body == "-") {
            ranges.push(start..end);
        } else if lead >= ind + 2 && !ranges.is_empty() {
            if let Some(r) = ranges.last_mut() {
                r.end = end;
            }
        } else if lead <= ind && !body.starts_with('-') {
            // The next key of the List (kind:, metadata:): the items are over.
            break;
        } else {
            return None;
        }
    }
    (!ranges.is_empty()).then_some(Items { indent: indent.unwrap_or(0), ranges })
}

/// The items of a JSON `List` pretty-printed as kubectl (Go's `MarshalIndent`) and jq print
/// it: `"items": [` on a line of its own, then each item opening with `{` alone on a line and
/// closing with `}` or `},` at the same indentation. Raw newlines never occur inside JSON
/// strings, so such lines are structure. `None` for anything else (a minified list: then the
/// whole document is parsed).
fn json_items(text: &str) -> Option<Items> {
    let mut at = 0;
    let mut lines = text.split_inclusive('\n').map(|l| {
        let start = at;
        at += l.len();
        (start, l)
    });
    lines.by_ref().find(|(_, l)| l.trim() == "\"items\": [")?;
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut indent: Option<usize> = None;
    let mut open: Option<usize> = None;
    for (start, line) in lines {
        let body = line.trim();
        let lead = line.len() - line.trim_start_matches(' ').len();
        match (open, body) {
            (None, "{") if indent.is_none_or(|i| i == lead) => {
                indent = Some(lead);
                open = Some(start);
            }
            (None, "]" | "],") => break,
            (None, _) => return None,
            (Some(s), "}" | "},") if indent == Some(lead) => {
                ranges.push(s..start + line.trim_end().trim_end_matches(',').len());
                open = None;
            }
            (Some(_), _) => {}
        }
    }
    (open.is_none() && !ranges.is_empty()).then_some(Items { indent: indent.unwrap_or(0), ranges })
}

/// The keys of a Node the checks never read (`lean::Node`), by the path of their parent: the
/// image lists, capacity, the spec, conditions' messages. Dropped from an item's text before
/// the YAML parser scans it; an unusual spelling (a quoted key) is simply kept and skipped by
/// serde as before.
const NEVER_READ: &[(&[&str], &[&str])] = &[
    (&[], &["spec"]),
    (&["metadata"], &["managedFields", "ownerReferences", "finalizers"]),
    (
        &["status"],
        &[
            "images",
            "capacity",
            "allocatable",
            "daemonEndpoints",
            "volumesAttached",
            "volumesInUse",
            "config",
            "runtimeHandlers",
            "features",
            "declaredFeatures",
        ],
    ),
    (&["status", "conditions"], &["message", "reason", "lastHeartbeatTime"]),
];

fn never_read(parents: &[(usize, &str)], key: &str) -> bool {
    NEVER_READ.iter().any(|(path, keys)| {
        path.len() == parents.len() && path.iter().zip(parents).all(|(a, (_, b))| a == b) && keys.contains(&key)
    })
}

/// One item of a List (its lines as in the file, `- ` at `indent`) written into `out` as a
/// document of its own, without the keys in `NEVER_READ` and everything under them. A key
/// line is `[- ]*key:` with a plain key; any other line (a scalar's continuation, a block
/// scalar's content) is kept as it is, and lines more indented than a dropped key, or at its
/// indentation starting with `-` (its sequence), go with it.
fn lean_item(item: &str, indent: usize, out: &mut String) {
    let mut parents: Vec<(usize, &str)> = Vec::new();
    let mut skip: Option<usize> = None;
    for (n, raw) in item.split_inclusive('\n').enumerate() {
        let line = if n == 0 {
            // `- key: v` at `indent`: the same line as the document's first line.
            let l = &raw[indent..];
            l.strip_prefix("- ").or_else(|| l.strip_prefix('-')).unwrap_or(l)
        } else if raw.len() > indent + 2 && raw.as_bytes()[..indent + 2].iter().all(|b| *b == b' ') {
            &raw[indent + 2..]
        } else {
            // A blank or comment line less indented than the item.
            if skip.is_none() {
                out.push('\n');
            }
            continue;
        };
        let lead = line.len() - line.trim_start_matches(' ').len();
        let body = &line[lead..];
        if let Some(k) = skip {
            if body.trim_end().is_empty() || lead > k || (lead == k && body.starts_with('-')) {
                continue;
            }
            skip = None;
        }
        // `- - key:`: each marker moves the key two columns right.
        let mut key_at = lead;
        let mut rest = body;
        while let Some(r) = rest.strip_prefix("- ") {
            key_at += 2;
            rest = r;
        }
        let markers = key_at - lead;
        let key = rest.split_once(':').map(|(k, _)| k).filter(|k| {
            let after = &rest[k.len() + 1..];
            (after.starts_with(' ') || after.trim_end().is_empty())
                && !k.is_empty()
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        });
        let Some(key) = key else {
            out.push_str(line);
            continue;
        };
        while parents.last().is_some_and(|(at, _)| *at >= key_at) {
            parents.pop();
        }
        if never_read(&parents, key) {
            skip = Some(key_at);
            if markers > 0 {
                // The first key of a sequence entry: keep the entry, without the key.
                out.push_str(&line[..lead]);
                out.push_str(&body[..markers - 1]);
                out.push('\n');
            }
            continue;
        }
        parents.push((key_at, key));
        out.push_str(line);
    }
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
            }
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(name).join("nodes.yaml");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn items_parsed_one_by_one_equal_the_whole_document() {
        for b in ["k3s-etcd-only-via-etcd", "kubeadm-node-deleted", "kubeadm-etcd-crashloop"] {
            let text = fixture(b);
            let items = list_items(&text).expect("kubectl layout");
            assert!(!items.ranges.is_empty(), "{b}");
            let whole: lean::Doc = parse_doc(&text).expect("whole");
            let whole: Vec<Node> = whole.items.into_iter().map(lean::Node::into_node).collect();
            assert_eq!(parse_items_parallel(&text, &items, false).expect("items"), whole, "{b}");
            assert_eq!(parse_nodes(&text).expect("nodes"), whole, "{b}");
        }
    }

    #[test]
    fn full_node_objects_read_the_same_from_json_from_yaml_and_without_the_parts_never_read() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bundles/kubeadm-etcd-crashloop-json/nodes.json");
        let json = std::fs::read_to_string(&p).expect("nodes.json");
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        let yaml = serde_yaml_ng::to_string(&value).expect("yaml");
        let from_json = parse_nodes(&json).expect("json nodes");
        assert_eq!(from_json.len(), 5);
        assert!(from_json.iter().all(|n| n.ready.is_some() && !n.kubelet_version.is_empty() && !n.labels.is_empty()));
        let items = list_items(&yaml).expect("kubectl layout");
        let mut lean = String::new();
        lean_item(&yaml[items.ranges[0].clone()], items.indent, &mut lean);
        assert!(!lean.contains("sizeBytes") && !lean.contains("podCIDR") && !lean.contains("KubeletReady"), "{lean}");
        assert!(lean.contains("lastTransitionTime") && lean.contains("kubeletVersion"), "{lean}");
        assert_eq!(parse_items_parallel(&yaml, &items, false).expect("lean items"), from_json);
        let by_item = json_items(&json).expect("kubectl's JSON layout");
        assert_eq!(by_item.ranges.len(), 5);
        let whole: lean::Doc = serde_json::from_str(&json).expect("whole json");
        assert_eq!(whole.items.into_iter().map(lean::Node::into_node).collect::<Vec<_>>(), from_json);
        let whole: lean::Doc = serde_yaml_ng::from_str(&yaml).expect("whole");
        assert_eq!(whole.items.into_iter().map(lean::Node::into_node).collect::<Vec<_>>(), from_json);
    }

    #[test]
    fn a_dropped_key_takes_its_block_and_nothing_else() {
        let item = "- metadata:\n    name: a\n  spec:\n    taints:\n    - key: x\n  status:\n    conditions:\n    - lastHeartbeatTime: t\n      message: |\n        images:\n        - x\n      status: \"True\"\n      type: Ready\n    images:\n    - names:\n      - n\n      sizeBytes: 1\n    nodeInfo:\n      kubeletVersion: v1\n";
        let mut out = String::new();
        lean_item(item, 0, &mut out);
        assert_eq!(
            out,
            "metadata:\n  name: a\nstatus:\n  conditions:\n  -\n    status: \"True\"\n    type: Ready\n  nodeInfo:\n    kubeletVersion: v1\n"
        );
    }

    #[test]
    fn indented_sequences_json_single_nodes_and_odd_layouts() {
        let indented = "apiVersion: v1\nitems:\n  - metadata:\n      name: a\n    status:\n      addresses:\n        - address: 10.0.0.1\n  - metadata:\n      name: b\nkind: List\n";
        let n = parse_nodes(indented).expect("parse");
        assert_eq!(n.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(n[0].addresses, ["10.0.0.1"]);
        assert_eq!(list_items("apiVersion: v1\nitems: []\nkind: List\n"), None);
        assert!(parse_nodes("apiVersion: v1\nitems: []\nkind: List\n").expect("empty").is_empty());
        let one = "apiVersion: v1\nkind: Node\nmetadata:\n  name: solo\nstatus:\n  conditions:\n  - type: Ready\n    status: \"True\"\n    lastTransitionTime: \"2026-11-20T08:01:55Z\"\n";
        let n = parse_nodes(one).expect("one node");
        assert_eq!((n[0].name.as_str(), n[0].ready), ("solo", Some(true)));
        assert!(n[0].ready_since.is_some());
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"j"}}]}"#;
        assert_eq!(parse_nodes(json).expect("json")[0].name, "j");
        // Tabs and stray layouts fall back to the whole-document parser (and its errors).
        assert_eq!(list_items("items:\n\t- a\n"), None);
        assert!(parse_nodes("items:\n- metadata: [unclosed\n").is_err());
    }
}
