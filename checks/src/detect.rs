//! Which Kubernetes distribution runs this etcd, from what the snapshot shows: this node's
//! files (`--local`), node labels and annotations, and member naming.

use crate::distribution::Distribution;
use crate::model::Snapshot;

/// The distribution and the fact that gave it away.
pub fn distribution(snap: &Snapshot) -> Option<(Distribution, String)> {
    if let Some(l) = &snap.local {
        let d = match l.distribution.as_str() {
            "k3s" => Some(Distribution::K3s),
            "rke2" => Some(Distribution::Rke2),
            "kubeadm" => Some(Distribution::Kubeadm),
            "kubespray" => Some(Distribution::Kubespray),
            _ => None,
        };
        if let Some(d) = d {
            return Some((d, format!("this node's {}", l.source)));
        }
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
    fn detects_from_nodes_and_member_names() {
        let d = |s: &Snapshot| distribution(s).map(|d| d.0);
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
