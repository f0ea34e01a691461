//! What a node's own files say (`--local`, or a bundle's `local/` tree): its distribution, its
//! etcd member name, whether it is a K3s/RKE2 etcd-only server, where its join URL is set, and
//! whether that URL (and the alternatives) answered `GET /version` as a Kubernetes API.

use serde::{Deserialize, Serialize};

/// A node's view of itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalNode {
    /// k3s, rke2, kubeadm or kubespray.
    pub distribution: String,
    /// The file that gave the distribution away, as a node path.
    pub source: String,
    /// This node's etcd member name (K3s/RKE2 `db/etcd/config` `name:`, kubeadm `--name`,
    /// Kubespray `ETCD_NAME`), when a file says.
    #[serde(default)]
    pub member_name: Option<String>,
    /// The systemd unit that runs it (`k3s`, `rke2-server`, `etcd`, `kubelet`).
    #[serde(default)]
    pub service: Option<String>,
    /// A K3s/RKE2 server with the API server disabled.
    #[serde(default)]
    pub etcd_only: bool,
    /// Where the node's join URL (`server`, `--server`, `K3S_URL`) is set, when it is.
    #[serde(default)]
    pub join: Option<JoinSetting>,
    /// `GET /version` on the join URL; `None` when not probed (a bundle, or not etcd-only).
    #[serde(default)]
    pub join_probe: Option<ApiProbe>,
    /// Other URLs probed as replacements: etcd members' hosts, or `--server-url`.
    #[serde(default)]
    pub candidates: Vec<ApiProbe>,
    /// The config files read, as node paths (a bundle carries redacted copies).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Where a join URL is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinSetting {
    /// The URL, as written.
    pub url: String,
    /// The file that sets it last (the one that wins), as a node path.
    pub file: String,
    /// How it is set there: `server:` (config.yaml), `--server` (unit ExecStart) or `K3S_URL=`.
    pub key: String,
    /// The 1-based line of that file.
    pub line: usize,
}

/// What `GET <url>/version` answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiProbe {
    /// The URL as it would be written in the config (the join URL, not the probed path).
    pub url: String,
    /// A Kubernetes version document came back.
    pub serves_api: bool,
    /// `gitVersion` of that document.
    #[serde(default)]
    pub version: Option<String>,
    /// What happened, for people: `200 v1.31.4+k3s1`, `503 apiserver disabled`, a TLS error.
    pub detail: String,
}

impl LocalNode {
    /// The first candidate that serves the API, if any.
    pub(crate) fn api_candidate(&self) -> Option<&ApiProbe> {
        self.candidates.iter().find(|c| c.serves_api)
    }

    /// Whether this node is K3s or RKE2.
    pub(crate) fn is_rancher(&self) -> bool {
        self.distribution == "k3s" || self.distribution == "rke2"
    }
}
