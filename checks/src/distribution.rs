//! Which Kubernetes distribution runs this etcd, from what the snapshot shows: node labels and
//! annotations, and member naming. It decides how membership may be changed: kops's
//! etcd-manager owns membership and undoes direct changes; K3s/RKE2 remove members through a
//! Node annotation; kubeadm wants `kubeadm reset` on a removed node.

use serde::{Deserialize, Serialize};

use crate::model::Snapshot;

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

/// The distribution and the fact that gave it away.
pub fn detect(snap: &Snapshot) -> Option<(Distribution, String)> {
    if let Some(l) = &snap.local {
        return Some((l.distribution, format!("this node's {}", l.source)));
    }
    let nodes = snap.nodes.as_deref().unwrap_or_default();
    let has_annotation = |prefix: &str| nodes.iter().find(|n| n.annotations.keys().any(|k| k.starts_with(prefix)));
    let has_label = |prefix: &str| nodes.iter().find(|n| n.labels.keys().any(|k| k.starts_with(prefix)));
    if let Some(n) = has_annotation("rke2.io/").or_else(|| has_annotation("etcd.rke2.cattle.io/")) {
        return Some((Distribution::Rke2, format!("node {} has rke2.io annotations", n.name)));
    }
    if let Some(n) = has_annotation("k3s.io/").or_else(|| has_annotation("etcd.k3s.cattle.io/")) {
        return Some((Distribution::K3s, format!("node {} has k3s.io annotations", n.name)));
    }
    if let Some(n) = has_label("kops.k8s.io/") {
        return Some((Distribution::Kops, format!("node {} has kops.k8s.io labels", n.name)));
    }
    // --local read the node's own files: their layout names the distribution.
    if let Some(d) = snap.certs.as_ref().and_then(|c| c.layout) {
        return Some((d, format!("this node's files are laid out as {d:?} lays them out")));
    }
    // etcd-manager names members etcd-<name> with peer URLs etcd-<name>.internal.<cluster>.
    if let Some(m) = snap
        .members
        .iter()
        .find(|m| m.peer_urls.iter().any(|u| u.contains(".internal.")) && m.name.starts_with("etcd-"))
    {
        return Some((Distribution::Kops, format!("member {} is named and addressed as etcd-manager does", m.name)));
    }
    // Kubespray names members etcd1..etcdN by inventory position.
    let started: Vec<_> = snap.members.iter().filter(|m| !m.name.is_empty()).collect();
    if !started.is_empty()
        && started.iter().all(|m| {
            m.name.strip_prefix("etcd").is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
    {
        return Some((Distribution::Kubespray, "members are named etcd1..etcdN, as Kubespray names them".into()));
    }
    if let Some(p) = snap.etcd_pods.as_deref().and_then(|p| p.first()) {
        return Some((Distribution::Kubeadm, format!("etcd runs as kubeadm's static pod {} (component=etcd)", p.name)));
    }
    if let Some(n) = has_annotation("kubeadm.alpha.kubernetes.io/") {
        return Some((Distribution::Kubeadm, format!("node {} has kubeadm annotations", n.name)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Node;
    use crate::testing::*;

    fn with_node(key: &str, label: bool) -> Snapshot {
        let mut snap = cluster(&[healthy(1)]);
        let mut n = Node { name: "n1".into(), ..Default::default() };
        if label {
            n.labels.insert(key.into(), "x".into());
        } else {
            n.annotations.insert(key.into(), "x".into());
        }
        snap.nodes = Some(vec![n]);
        snap
    }

    #[test]
    fn names_serialize_as_they_display() {
        use Distribution::*;
        for d in [Kubeadm, K3s, Rke2, Kubespray, Kops] {
            assert_eq!(serde_json::to_value(d).ok(), Some(serde_json::Value::String(d.to_string())));
        }
    }

    #[test]
    fn detects_from_nodes_and_member_names() {
        let d = |s: &Snapshot| detect(s).map(|d| d.0);
        assert_eq!(d(&with_node("k3s.io/node-args", false)), Some(Distribution::K3s));
        assert_eq!(d(&with_node("rke2.io/node-args", false)), Some(Distribution::Rke2));
        assert_eq!(d(&with_node("kops.k8s.io/instancegroup", true)), Some(Distribution::Kops));
        assert_eq!(d(&with_node("kubeadm.alpha.kubernetes.io/cri-socket", false)), Some(Distribution::Kubeadm));
        let mut spray = cluster(&[healthy(1), healthy(2)]);
        spray.members[0].name = "etcd1".into();
        spray.members[1].name = "etcd2".into();
        assert_eq!(d(&spray), Some(Distribution::Kubespray));
        let mut kops = cluster(&[healthy(1)]);
        kops.members[0].name = "etcd-a".into();
        kops.members[0].peer_urls = vec!["https://etcd-a.internal.k8s.example.com:2380".into()];
        assert_eq!(d(&kops), Some(Distribution::Kops));
        assert_eq!(d(&cluster(&[healthy(1)])), None);
        let mut local = cluster(&[healthy(1)]);
        local.certs = Some(crate::cert::Certs { layout: Some(Distribution::Kubeadm), ..Default::default() });
        assert_eq!(d(&local), Some(Distribution::Kubeadm));
    }
}
