//! Which Kubernetes distribution runs this etcd, from what the snapshot shows: this node's
//! files (`--local`), node labels and annotations, and member naming.

use crate::distribution::Distribution;
use crate::model::Snapshot;

/// The distribution and the fact that gave it away.
pub fn distribution(snap: &Snapshot) -> Option<(Distribution, String)> {
    if let Some(l) = &snap.local {
        return Some((l.distribution, format!("this node's {}", l.source)));
    }
    let first = node_marks(snap).map(|at| at.and_then(|i| snap.nodes.as_deref()?.get(i)));
    let [rke2, rke2_etcd, k3s, k3s_etcd, kops, kubeadm] = first;
    if let Some(n) = rke2.or(rke2_etcd) {
        return Some((Distribution::Rke2, format!("node {} has rke2.io annotations", n.name)));
    }
    if let Some(n) = k3s.or(k3s_etcd) {
        return Some((Distribution::K3s, format!("node {} has k3s.io annotations", n.name)));
    }
    if let Some(n) = kops {
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
    if let Some(n) = kubeadm {
        return Some((Distribution::Kubeadm, format!("node {} has kubeadm annotations", n.name)));
    }
    None
}

/// Kubespray's certificate layout among the certificates seen, as a reason.
/// Whether any node has a K3s or RKE2 annotation (`k3s.io/`, `rke2.io/`, or their etcd
/// controller's): checks that read those annotations on every node skip that pass when none
/// has one (the answer comes from the once-per-snapshot marks).
pub fn k3s_or_rke2_nodes(snap: &Snapshot) -> bool {
    node_marks(snap)
        .iter()
        .zip(NODE_MARKS)
        .any(|(at, (_, _, d))| at.is_some() && matches!(d, Distribution::K3s | Distribution::Rke2))
}

/// The node prefixes that name a distribution, in the order they decide.
/// Each: an annotation (else a label), its prefix, what it names.
pub(crate) const NODE_MARKS: [(bool, &str, Distribution); 6] = [
    (true, "rke2.io/", Distribution::Rke2),
    (true, "etcd.rke2.cattle.io/", Distribution::Rke2),
    (true, "k3s.io/", Distribution::K3s),
    (true, "etcd.k3s.cattle.io/", Distribution::K3s),
    (false, "kops.k8s.io/", Distribution::Kops),
    (true, "kubeadm.alpha.kubernetes.io/", Distribution::Kubeadm),
];

/// The first node with each of `NODE_MARKS` (annotation or label prefix). Several checks, the
/// plan and the report ask for the distribution, and each pass over 5,000 nodes' maps costs
/// milliseconds: worked out once per snapshot (`model::Derived`).
fn node_marks(snap: &Snapshot) -> [Option<usize>; NODE_MARKS.len()] {
    let marks = *snap.derived.node_marks.get_or_init(|| scan_node_marks(snap));
    // Nodes changed after they were asked would answer from before the change: the tests
    // (debug builds) would see it here.
    debug_assert_eq!(marks, scan_node_marks(snap), "the snapshot's nodes changed after the distribution was asked");
    marks
}

fn scan_node_marks(snap: &Snapshot) -> [Option<usize>; NODE_MARKS.len()] {
    let mut first = [None; NODE_MARKS.len()];
    for (i, n) in snap.nodes.iter().flatten().enumerate() {
        mark(&mut first, i, n.key_bits());
        if first.iter().all(Option::is_some) {
            break;
        }
    }
    first
}

/// Notes node `i` in `first` for each of `NODE_MARKS` it has (`bits`, `Node::key_bits`) that
/// no node before it had (also `Snapshot::map_nodes`, which reads the nodes once for the
/// members and this).
pub(crate) fn mark(first: &mut [Option<usize>; NODE_MARKS.len()], i: usize, bits: u8) {
    for (k, slot) in first.iter_mut().enumerate() {
        if slot.is_none() && bits & (1 << k) != 0 {
            *slot = Some(i);
        }
    }
}

/// Which of `NODE_MARKS` the node has, bit by position.
pub(crate) fn mark_bits(n: &crate::model::Node) -> u8 {
    // A key with a prefix is the first key at or after it: one lookup per mark.
    let keyed = |keys: &std::collections::BTreeMap<String, String>, prefix: &str| {
        keys.range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    };
    NODE_MARKS.iter().enumerate().fold(0, |bits, (k, (annotation, prefix, _))| {
        bits | u8::from(keyed(if *annotation { &n.annotations } else { &n.labels }, prefix)) << k
    })
}

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

    /// The nodes are scanned once per snapshot; a clone changed afterwards scans its own, and
    /// the first node with a mark names it, wherever it is in the list.
    #[test]
    fn a_changed_clone_is_judged_on_its_own_nodes() {
        let k3s = with_node("k3s.io/node-args", false);
        assert_eq!(distribution(&k3s).map(|d| d.0), Some(Distribution::K3s));
        let mut rke2 = k3s.clone();
        let mut later = Node { name: "n2".into(), ..Default::default() };
        later.annotations.insert("rke2.io/node-args".into(), "x".into());
        rke2.nodes.get_or_insert_default().push(later);
        assert_eq!(distribution(&rke2), Some((Distribution::Rke2, "node n2 has rke2.io annotations".into())));
        assert_eq!(distribution(&k3s).map(|d| d.0), Some(Distribution::K3s));
    }

    #[test]
    fn k3s_and_rke2_nodes_are_told_by_their_annotations_only() {
        assert!(k3s_or_rke2_nodes(&with_node("k3s.io/node-args", false)));
        assert!(k3s_or_rke2_nodes(&with_node("etcd.rke2.cattle.io/node-name", false)));
        assert!(!k3s_or_rke2_nodes(&with_node("kubeadm.alpha.kubernetes.io/cri-socket", false)));
        assert!(!k3s_or_rke2_nodes(&with_node("k3s.io/hostname", true)), "a label is not the annotation");
        assert!(!k3s_or_rke2_nodes(&cluster(&[healthy(1)])));
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
