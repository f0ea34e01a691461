//! Which Kubernetes distribution runs this etcd, from what the snapshot shows: this node's
//! files (`--local`), node labels and annotations, and member naming.

use crate::distribution::Distribution;
use crate::model::Snapshot;

/// The distribution and the fact that gave it away.
pub fn distribution(snap: &Snapshot) -> Option<(Distribution, String)> {
    if let Some(l) = &snap.local {
        return Some((l.distribution, format!("this node's {}", l.source)));
    }
    let nodes = snap.nodes.as_deref().unwrap_or_default();
    // A key with this prefix is the first key at or after it: one lookup per node, not a scan
    // of its keys (several checks ask this of 5,000 nodes).
    let keyed = |keys: &std::collections::BTreeMap<String, String>, prefix: &str| {
        keys.range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    };
    let has_annotation = |prefix: &str| nodes.iter().find(|n| keyed(&n.annotations, prefix));
    let has_label = |prefix: &str| nodes.iter().find(|n| keyed(&n.labels, prefix));
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
        return Some((d, format!("this node's files are laid out as {d} lays them out")));
    }
    // etcd-manager names members etcd-<name> with peer URLs etcd-<name>.internal.<cluster>.
    if let Some(m) = snap
        .members
        .iter()
        .find(|m| m.peer_urls.iter().any(|u| u.contains(".internal.")) && m.name.starts_with("etcd-"))
    {
        return Some((Distribution::Kops, format!("member {} is named and addressed as etcd-manager does", m.name)));
    }
    // Kubespray's own certificates: make-ssl-etcd.sh names them etcd-member-<host>,
    // etcd-admin-<host>, etcd-node-<host> (files member-<host>.pem, admin-<host>.pem). Member
    // names etcd1..etcdN alone never decide: docker-compose and hand-made clusters use them too.
    if let Some(why) = kubespray_certs(snap) {
        return Some((Distribution::Kubespray, why));
    }
    if let Some(p) = snap.etcd_pods.as_deref().and_then(|p| p.first()) {
        return Some((Distribution::Kubeadm, format!("etcd runs as kubeadm's static pod {} (component=etcd)", p.name)));
    }
    if let Some(n) = has_annotation("kubeadm.alpha.kubernetes.io/") {
        return Some((Distribution::Kubeadm, format!("node {} has kubeadm annotations", n.name)));
    }
    None
}

/// Kubespray's certificate layout among the certificates seen, as a reason.
fn kubespray_certs(snap: &Snapshot) -> Option<String> {
    let certs = snap.certs.as_ref()?;
    let by_subject = |subject: &str| {
        let s: String = subject.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        ["cn=etcd-member-", "cn=etcd-admin-", "cn=etcd-node-"].iter().any(|p| s.contains(p))
    };
    if let Some(p) = certs.presented.iter().find(|p| p.chain.first().is_some_and(|c| by_subject(&c.subject))) {
        return Some(format!("{} presents a certificate named as Kubespray's make-ssl-etcd.sh names them", p.url));
    }
    let file_name = |path: &str| {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        ["member-", "admin-", "node-"].iter().any(|p| name.starts_with(p)) && name.ends_with(".pem")
    };
    certs
        .files
        .iter()
        .find(|f| file_name(&f.path) && f.certs.first().is_some_and(|c| by_subject(&c.subject)))
        .map(|f| format!("{} is a certificate made by Kubespray's make-ssl-etcd.sh", f.path))
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
        let d = |s: &Snapshot| distribution(s).map(|d| d.0);
        assert_eq!(d(&with_node("k3s.io/node-args", false)), Some(Distribution::K3s));
        assert_eq!(d(&with_node("rke2.io/node-args", false)), Some(Distribution::Rke2));
        assert_eq!(d(&with_node("kops.k8s.io/instancegroup", true)), Some(Distribution::Kops));
        assert_eq!(d(&with_node("kubeadm.alpha.kubernetes.io/cri-socket", false)), Some(Distribution::Kubeadm));
        let mut spray = cluster(&[healthy(1), healthy(2)]);
        spray.members[0].name = "etcd1".into();
        spray.members[1].name = "etcd2".into();
        // Names alone: a docker-compose etcd1..etcdN is not Kubespray.
        assert_eq!(d(&spray), None);
        let mut member_pem = crate::cert::CertFile {
            path: "pki/etcd1/member-node1.pem".into(),
            roles: vec![crate::cert::CertRole::Server],
            from: "bundle".into(),
            member: None,
            certs: vec![cert_info("etcd-member-node1", &["10.0.0.1"])],
            key_path: None,
            key_matches: None,
            error: None,
        };
        spray.certs = Some(crate::cert::Certs { files: vec![member_pem.clone()], ..Default::default() });
        assert_eq!(d(&spray), Some(Distribution::Kubespray));
        // A file of that name with some other subject is not Kubespray's.
        member_pem.certs = vec![cert_info("etcd-1", &["10.0.0.1"])];
        spray.certs = Some(crate::cert::Certs { files: vec![member_pem], ..Default::default() });
        assert_eq!(d(&spray), None);
        let mut kops = cluster(&[healthy(1)]);
        kops.members[0].name = "etcd-a".into();
        kops.members[0].peer_urls = vec!["https://etcd-a.internal.k8s.example.com:2380".into()];
        assert_eq!(d(&kops), Some(Distribution::Kops));
        assert_eq!(d(&cluster(&[healthy(1)])), None);
        // Issue 10: a docker-compose etcd0..etcd2 over http was labelled Kubespray.
        let mut compose = cluster(&[healthy(1), healthy(2), healthy(3)]);
        for (i, m) in compose.members.iter_mut().enumerate() {
            m.name = format!("etcd{i}");
            m.peer_urls = vec![format!("http://etcd{i}:2380")];
            m.client_urls = vec![format!("http://etcd{i}:2379")];
        }
        assert_eq!(d(&compose), None);
        let mut local = cluster(&[healthy(1)]);
        local.certs = Some(crate::cert::Certs { layout: Some(Distribution::Kubeadm), ..Default::default() });
        assert_eq!(d(&local), Some(Distribution::Kubeadm));
    }
}
