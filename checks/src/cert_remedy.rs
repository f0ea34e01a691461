//! The manual steps that fix a certificate, per distribution: kubeadm renews or re-creates
//! with `kubeadm certs renew` / `kubeadm init phase certs`, K3s and RKE2 with `certificate
//! rotate` (CAs: `rotate-ca`), Kubespray with its playbook from the first etcd host, which
//! holds the CA. Each ends with the restart: the one member concerned, or every member one at
//! a time, followers first and the leader last (the planner's restart order).

use crate::cert::CertRole;
use crate::detect;
use crate::distribution::Distribution;
use crate::finding::Remedy;
use crate::model::{Member, Snapshot};

/// What is wrong with the certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Expired, expiring or not yet valid.
    Expiry,
    /// Its SANs miss an advertised address.
    San,
    /// Not signed by the CA the cluster trusts.
    Ca,
    /// Its key does not belong to it.
    Key,
}

/// The distribution that decides the commands: the node's file layout, else the snapshot.
pub fn distribution(snap: &Snapshot) -> Option<Distribution> {
    snap.certs.as_ref().and_then(|c| c.layout).or_else(|| detect::distribution(snap).map(|d| d.0))
}

/// A manual remedy for one certificate of `role` on `member`'s node (or the local node).
pub fn remedy(
    snap: &Snapshot,
    role: CertRole,
    problem: Problem,
    member: Option<&Member>,
    path: Option<&str>,
) -> Remedy {
    let node = match member {
        Some(m) => m.node.clone().unwrap_or_else(|| format!("the node of {}", m.label())),
        None => "the node".into(),
    };
    let on = format!("# on {node}:");
    let mut commands = vec![on.clone()];
    let dist = distribution(snap);
    let what = match problem {
        Problem::Expiry => "renew",
        Problem::San => "re-issue with the member's addresses in its SANs",
        Problem::Ca => "re-issue from the cluster's CA",
        Problem::Key => "re-issue (or put back the key that belongs to it)",
    };
    match dist {
        Some(Distribution::Kubeadm) => kubeadm(role, problem, &mut commands),
        Some(d @ (Distribution::K3s | Distribution::Rke2)) => k3s(d, role, problem, &mut commands),
        Some(Distribution::Kubespray) => {
            // Kubespray names files by inventory host, not by member (etcd1..N).
            let host = member.and_then(|m| m.node.clone()).unwrap_or_else(|| "<that host>".into());
            kubespray(role, problem, &host, &mut commands)
        }
        _ => generic(snap, role, problem, path, &mut commands),
    }
    commands.extend(restart(snap, role, member, dist));
    let description = format!(
        "{what} the {} certificate{}{}",
        role.as_str(),
        path.map(|p| format!(" {p}")).unwrap_or_default(),
        member.map(|m| format!(" of {}", m.label())).unwrap_or_default()
    );
    Remedy::Manual { description, commands }
}

fn kubeadm(role: CertRole, problem: Problem, c: &mut Vec<String>) {
    let (name, file, sans) = match role {
        CertRole::Server => ("etcd-server", "/etc/kubernetes/pki/etcd/server", "etcd.local.serverCertSANs"),
        CertRole::Peer => ("etcd-peer", "/etc/kubernetes/pki/etcd/peer", "etcd.local.peerCertSANs"),
        CertRole::Client => ("etcd-healthcheck-client", "/etc/kubernetes/pki/etcd/healthcheck-client", ""),
        CertRole::ApiserverEtcdClient => ("apiserver-etcd-client", "/etc/kubernetes/pki/apiserver-etcd-client", ""),
        _ => {
            c.push("kubeadm certs check-expiration".into());
            c.push("# kubeadm certs renew does not renew CAs: follow kubeadm's manual CA rotation (new CA, then every etcd certificate and the API server's etcd client certificate)".into());
            return;
        }
    };
    match problem {
        Problem::Expiry => {
            c.push("kubeadm certs check-expiration".into());
            c.push(format!("kubeadm certs renew {name}"));
        }
        Problem::San => {
            c.push(format!(
                "# kubeadm certs renew keeps the old SANs: add the address to {sans} in the kubeadm config, then"
            ));
            c.push(format!("rm {file}.crt {file}.key"));
            c.push(format!("kubeadm init phase certs {name} --config <your kubeadm config>"));
        }
        Problem::Ca => {
            c.push(
                "# copy /etc/kubernetes/pki/etcd/ca.crt and ca.key from a healthy control-plane node first, then"
                    .into(),
            );
            c.push(format!("rm {file}.crt {file}.key"));
            c.push(format!("kubeadm init phase certs {name} --config <your kubeadm config>"));
        }
        Problem::Key => {
            c.push(format!("rm {file}.crt {file}.key"));
            c.push(format!("kubeadm init phase certs {name} --config <your kubeadm config>"));
        }
    }
}

fn k3s(d: Distribution, role: CertRole, problem: Problem, c: &mut Vec<String>) {
    let (bin, svc, dir) = if d == Distribution::K3s {
        ("k3s", "k3s", "/var/lib/rancher/k3s/server/tls/etcd")
    } else {
        ("rke2", "rke2-server", "/var/lib/rancher/rke2/server/tls/etcd")
    };
    if role.is_ca() {
        c.push(format!("# a CA changes cluster-wide: {bin} certificate rotate-ca --path=<directory with the new CA files> on one server, then restart every server"));
        return;
    }
    match problem {
        Problem::Ca => {
            c.push(format!("systemctl stop {svc}"));
            c.push(format!(
                "# copy {dir}/server-ca.crt, server-ca.key, peer-ca.crt and peer-ca.key from a healthy server, then"
            ));
            c.push(format!("{bin} certificate rotate --service etcd"));
            c.push(format!("systemctl start {svc}"));
        }
        Problem::San => {
            c.push(format!("# {bin} puts the node's addresses in the etcd certificates: check --node-ip / --advertise-address in /etc/rancher/{bin}/config.yaml, then"));
            c.push(format!("systemctl stop {svc}"));
            c.push(format!("{bin} certificate rotate --service etcd"));
            c.push(format!("systemctl start {svc}"));
        }
        Problem::Expiry | Problem::Key => {
            c.push(format!("systemctl stop {svc}"));
            c.push(format!("{bin} certificate rotate --service etcd"));
            c.push(format!("systemctl start {svc}"));
        }
    }
}

fn kubespray(role: CertRole, problem: Problem, node: &str, c: &mut Vec<String>) {
    let play = "ansible-playbook -i <your inventory> cluster.yml --become --tags etcd,etcd-secrets --limit etcd,kube_control_plane";
    if role.is_ca() {
        c.push("# the CA lives on the first etcd host (/etc/ssl/etcd/ssl/ca.pem, ca-key.pem); a new CA means new certificates for every member: remove /etc/ssl/etcd/ssl on every etcd host, then".into());
        c.push(play.into());
        return;
    }
    match problem {
        Problem::Ca => {
            c.push("# it got certificates that the first etcd host's CA did not make (a scale-out that generated its own): remove them there".into());
            c.push("rm -rf /etc/ssl/etcd/ssl".into());
        }
        Problem::San => {
            c.push("# add the address to etcd_cert_alt_ips / etcd_cert_alt_names (or fix ip / access_ip in the inventory), then".into());
            c.push(format!("# on the first etcd host: rm /etc/ssl/etcd/ssl/member-{node}.pem /etc/ssl/etcd/ssl/member-{node}-key.pem"));
        }
        Problem::Expiry | Problem::Key => {
            c.push(format!("# on the first etcd host: rm /etc/ssl/etcd/ssl/member-{node}.pem /etc/ssl/etcd/ssl/member-{node}-key.pem (admin-/node- likewise)"));
        }
    }
    c.push(play.into());
}

fn generic(snap: &Snapshot, role: CertRole, problem: Problem, path: Option<&str>, c: &mut Vec<String>) {
    let file = path.unwrap_or("<the certificate file>");
    c.push(format!(
        "openssl x509 -noout -subject -issuer -ext subjectAltName -enddate -fingerprint -sha256 -in {file}"
    ));
    let ca_role = role.signed_by().unwrap_or(role);
    let ca = snap
        .certs
        .as_ref()
        .and_then(|cs| cs.files_with(ca_role).next().map(|f| f.path.clone()))
        .unwrap_or_else(|| "<the cluster's etcd CA>".into());
    match problem {
        Problem::Ca => c.push(format!("openssl verify -CAfile {ca} {file}   # must say OK")),
        Problem::Key => c.push("# compare: openssl x509 -noout -pubkey -in <cert> | sha256sum and openssl pkey -pubout -in <key> | sha256sum".into()),
        _ => {}
    }
    let sans = if matches!(role, CertRole::Server | CertRole::Peer) {
        ", with every address the member advertises in its SANs,"
    } else {
        ""
    };
    c.push(format!("# issue a new {} certificate from {ca}{sans} in place of {file}", role.as_str()));
}

fn restart(snap: &Snapshot, role: CertRole, member: Option<&Member>, dist: Option<Distribution>) -> Vec<String> {
    let how = match (dist, role) {
        (Some(Distribution::Kubeadm), CertRole::ApiserverEtcdClient) => {
            "mv /etc/kubernetes/manifests/kube-apiserver.yaml /root/ && sleep 20 && mv /root/kube-apiserver.yaml /etc/kubernetes/manifests/"
        }
        (Some(Distribution::Kubeadm), _) => {
            "mv /etc/kubernetes/manifests/etcd.yaml /root/ && sleep 20 && mv /root/etcd.yaml /etc/kubernetes/manifests/"
        }
        (Some(Distribution::K3s), _) => "systemctl restart k3s",
        (Some(Distribution::Rke2), _) => "systemctl restart rke2-server",
        (_, CertRole::ApiserverEtcdClient) => {
            "# restart kube-apiserver (a static pod: move its manifest out of /etc/kubernetes/manifests and back)"
        }
        _ => "systemctl restart etcd",
    };
    if role == CertRole::ApiserverEtcdClient {
        return vec![format!("{how}   # restart the API server so it loads the new certificate")];
    }
    if let (Some(m), false) = (member, role.is_ca()) {
        return vec![
            format!("{how}   # restart etcd on {} only (certificates are per member)", m.label()),
            "kubectl etcd-doctor members   # it is reachable and follows a leader before you touch another member"
                .into(),
        ];
    }
    match crate::procedure::restart_order(snap) {
        Some(order) if !order.is_empty() => vec![
            format!("{how}   # on each member, one at a time, followers first, the leader last: {}", order.join(", ")),
            "kubectl etcd-doctor members   # between two restarts: every member reachable, one leader".into(),
        ],
        _ => vec![format!(
            "# {how} on each member one at a time, once the cluster tolerates a member down (kubectl etcd-doctor plan restart)"
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn commands(r: &Remedy) -> String {
        match r {
            Remedy::Manual { commands, .. } => commands.join("\n"),
            _ => String::new(),
        }
    }

    #[test]
    fn commands_follow_the_distribution_and_restart_one_member() {
        let mut snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        let m = snap.members[1].clone();
        snap.certs = Some(crate::cert::Certs { layout: Some(Distribution::Kubeadm), ..Default::default() });
        let k = commands(&remedy(&snap, CertRole::Server, Problem::Expiry, Some(&m), None));
        assert!(k.contains("kubeadm certs renew etcd-server") && k.contains("m2 (2) only"), "{k}");
        assert!(k.starts_with("# on the node of m2 (2):"), "{k}");
        let k = commands(&remedy(&snap, CertRole::Peer, Problem::San, Some(&m), None));
        assert!(k.contains("kubeadm init phase certs etcd-peer") && k.contains("peerCertSANs"), "{k}");
        snap.certs = Some(crate::cert::Certs { layout: Some(Distribution::K3s), ..Default::default() });
        let k = commands(&remedy(&snap, CertRole::Server, Problem::Expiry, Some(&m), None));
        assert!(k.contains("k3s certificate rotate --service etcd"), "{k}");
        let k = commands(&remedy(&snap, CertRole::ServerCa, Problem::Expiry, None, None));
        assert!(k.contains("rotate-ca") && k.contains("m1 (1) (the leader, last)"), "{k}");
        // RKE2 has its own binary and service: it is never told to run k3s.
        snap.certs = Some(crate::cert::Certs { layout: Some(Distribution::Rke2), ..Default::default() });
        for (role, problem) in [
            (CertRole::Server, Problem::Expiry),
            (CertRole::Peer, Problem::San),
            (CertRole::Server, Problem::Ca),
            (CertRole::Server, Problem::Key),
            (CertRole::ServerCa, Problem::Expiry),
        ] {
            let k = commands(&remedy(&snap, role, problem, Some(&m), None));
            assert!(k.contains("rke2 certificate rotate") && !k.contains("k3s"), "{role:?} {problem:?}: {k}");
            assert!(k.contains("rke2-server"), "{role:?} {problem:?}: {k}");
        }
        snap.certs = Some(crate::cert::Certs { layout: Some(Distribution::Kubespray), ..Default::default() });
        let k = commands(&remedy(&snap, CertRole::Peer, Problem::Ca, Some(&m), None));
        assert!(k.contains("etcd-secrets") && k.contains("rm -rf /etc/ssl/etcd/ssl"), "{k}");
        snap.certs = None;
        let k = commands(&remedy(&snap, CertRole::Server, Problem::Ca, Some(&m), Some("/x/server.crt")));
        assert!(k.contains("openssl verify") && k.contains("/x/server.crt"), "{k}");
    }
}
