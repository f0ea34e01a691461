//! The Kubernetes distributions etcd-doctor knows. Which one runs a cluster decides how
//! membership may be changed: kops's etcd-manager owns membership and undoes direct changes;
//! K3s/RKE2 remove members through a Node annotation; kubeadm wants `kubeadm reset` on a
//! removed node. The `detect` module tells which one a snapshot shows.

use serde::{Deserialize, Serialize};

/// A distribution, or none recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// kubeadm static-pod etcd.
    Kubeadm,
    /// K3s embedded etcd.
    K3s,
    /// RKE2 embedded etcd.
    Rke2,
    /// Kubespray systemd etcd (`/etc/etcd.env`, certificates from make-ssl-etcd.sh).
    Kubespray,
    /// kops with etcd-manager.
    Kops,
}

impl Distribution {
    /// The lowercase name used in JSON, YAML and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Distribution::Kubeadm => "kubeadm",
            Distribution::K3s => "k3s",
            Distribution::Rke2 => "rke2",
            Distribution::Kubespray => "kubespray",
            Distribution::Kops => "kops",
        }
    }
}

impl std::fmt::Display for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
