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
    /// Kubespray systemd etcd (members etcd1..N).
    Kubespray,
    /// kops with etcd-manager.
    Kops,
}
