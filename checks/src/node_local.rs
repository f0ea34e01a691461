//! What a node's own files say (`--local`, or a bundle's `local/` tree): its distribution, its
//! etcd member name, whether it is a K3s/RKE2 etcd-only server, where its join URL is set, and
//! whether that URL (and the alternatives) answered `GET /version` as a Kubernetes API, and the
//! initial cluster its etcd is configured with.

use serde::{Deserialize, Serialize};

use crate::distribution::Distribution;

/// A node's view of itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalNode {
    /// k3s, rke2, kubeadm or kubespray.
    pub distribution: Distribution,
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
    /// The initial cluster this node's etcd is configured to bootstrap or join with
    /// (`ETCD_INITIAL_CLUSTER`, `--initial-cluster`, `initial-cluster:`), when a file sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_cluster: Option<InitialCluster>,
}

/// Where an initial cluster (`name=peerURL,...`) is set, and its value as written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitialCluster {
    /// The value as written, e.g. `etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380`.
    pub value: String,
    /// The file that sets it, as a node path.
    pub file: String,
    /// How it is set there: `ETCD_INITIAL_CLUSTER=`, `--initial-cluster` or `initial-cluster:`.
    pub key: String,
    /// The 1-based line of that file (0 when not known).
    pub line: usize,
}

impl InitialCluster {
    /// The `name=URL` entries in order; an entry without `=` has an empty name. etcd allows one
    /// name with several URLs (a member with several peer URLs), never one URL under two names.
    pub fn entries(&self) -> Vec<(String, String)> {
        self.value
            .trim()
            .trim_matches(['"', '\''])
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| match e.split_once('=') {
                Some((n, u)) => (n.trim().to_string(), u.trim().to_string()),
                None => (String::new(), e.to_string()),
            })
            .collect()
    }
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
    /// A node of `distribution` whose files say no more yet than `source`.
    pub fn new(distribution: Distribution, source: String) -> Self {
        LocalNode {
            distribution,
            source,
            member_name: None,
            service: None,
            etcd_only: false,
            join: None,
            join_probe: None,
            candidates: Vec::new(),
            files: Vec::new(),
            initial_cluster: None,
        }
    }

    /// The first candidate that serves the API, if any.
    pub fn api_candidate(&self) -> Option<&ApiProbe> {
        self.candidates.iter().find(|c| c.serves_api)
    }

    /// Whether this node is K3s or RKE2.
    pub fn is_rancher(&self) -> bool {
        matches!(self.distribution, Distribution::K3s | Distribution::Rke2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_entries_keep_names_and_urls_in_order() {
        let ic = InitialCluster {
            value: "\"etcd1=https://10.0.0.1:2380, etcd2=https://10.0.0.2:2380,etcd1=https://[::1]:2380\"".into(),
            ..Default::default()
        };
        assert_eq!(
            ic.entries(),
            vec![
                ("etcd1".to_string(), "https://10.0.0.1:2380".to_string()),
                ("etcd2".to_string(), "https://10.0.0.2:2380".to_string()),
                ("etcd1".to_string(), "https://[::1]:2380".to_string()),
            ]
        );
        assert!(InitialCluster::default().entries().is_empty());
    }
}
