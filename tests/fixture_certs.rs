//! Writes the certificate files of the shipped bundles under `fixtures/bundles/*/pki/`, once:
//! `cargo test --test fixture_certs -- --ignored`, then commit the files. Validity is fixed
//! relative to each bundle's `collected-at.txt` (2026-11-20T00:00:00Z), so the expectations
//! hold whenever the suite runs. The keys are throwaway test keys made here; the tool only
//! checks that a key belongs to its certificate and never prints one.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;
use time::macros::datetime;

const FROM: OffsetDateTime = datetime!(2026-01-15 0:00 UTC);
const LONG: OffsetDateTime = datetime!(2027-01-15 0:00 UTC);

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(cn: &str) -> Ca {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = datetime!(2025-01-01 0:00 UTC);
    p.not_after = datetime!(2035-01-01 0:00 UTC);
    let k = KeyPair::generate().expect("key");
    let c = p.self_signed(&k).expect("self-sign");
    Ca { pem: c.pem(), issuer: Issuer::new(p, k) }
}

/// A leaf (serverAuth + clientAuth unless `client_only`), its PEM and its key's PEM.
fn leaf(ca: &Ca, cn: &str, sans: &[&str], until: OffsetDateTime, client_only: bool) -> (String, String) {
    let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = if client_only {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth]
    };
    p.not_before = FROM;
    p.not_after = until;
    let k = KeyPair::generate().expect("key");
    (p.signed_by(&k, &ca.issuer).expect("sign").pem(), k.serialize_pem())
}

fn put(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs::write(&p, text).expect("write");
}

fn bundle(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(name);
    let _ = fs::remove_dir_all(d.join("pki"));
    d.join("pki")
}

#[test]
#[ignore = "writes fixture files; run once and commit them"]
fn write_certificate_fixtures() {
    // kubeadm: one etcd CA; k8s-cp-1's server certificate expires 3 days after capture,
    // k8s-cp-2's peer certificate in 20 days.
    let pki = bundle("kubeadm-cert-expiry");
    let a = ca("etcd-ca");
    put(&pki, "ca.crt", &a.pem);
    for (i, node) in ["k8s-cp-1", "k8s-cp-2", "k8s-cp-3"].iter().enumerate() {
        let ip = format!("10.20.0.{}", 11 + i);
        let sans = [*node, "localhost", ip.as_str(), "127.0.0.1"];
        let server_until = if i == 0 { datetime!(2026-11-23 0:00 UTC) } else { LONG };
        let peer_until = if i == 1 { datetime!(2026-12-10 0:00 UTC) } else { LONG };
        put(&pki, &format!("{node}/server.crt"), &leaf(&a, node, &sans, server_until, false).0);
        put(
            &pki,
            &format!("{node}/peer.crt"),
            &leaf(&a, node, &[*node, "localhost", ip.as_str(), "127.0.0.1"], peer_until, false).0,
        );
    }
    put(&pki, "apiserver-etcd-client.crt", &leaf(&a, "kube-apiserver-etcd-client", &[], LONG, true).0);

    // kubeadm: k8s-cp-3 was readdressed (10.20.0.31 -> 10.20.0.13) with its old server
    // certificate; the API server's etcd client key was replaced by another pair's key.
    let pki = bundle("kubeadm-cert-san-and-key");
    let a = ca("etcd-ca");
    put(&pki, "ca.crt", &a.pem);
    for (i, node) in ["k8s-cp-1", "k8s-cp-2", "k8s-cp-3"].iter().enumerate() {
        let ip = if i == 2 { "10.20.0.31".to_string() } else { format!("10.20.0.{}", 11 + i) };
        let peer_ip = format!("10.20.0.{}", 11 + i);
        put(
            &pki,
            &format!("{node}/server.crt"),
            &leaf(&a, node, &[*node, "localhost", &ip, "127.0.0.1"], LONG, false).0,
        );
        put(
            &pki,
            &format!("{node}/peer.crt"),
            &leaf(&a, node, &[*node, "localhost", &peer_ip, "127.0.0.1"], LONG, false).0,
        );
    }
    let (client, _) = leaf(&a, "kube-apiserver-etcd-client", &[], LONG, true);
    let (_, other_key) = leaf(&a, "healthcheck-client", &[], LONG, true);
    put(&pki, "apiserver-etcd-client.crt", &client);
    put(&pki, "apiserver-etcd-client.key", &other_key);

    // Kubespray scale-out 3 -> 5: etcd4's member certificate came from a CA made on its own
    // host (named etcd-ca too) instead of the first etcd host's.
    let pki = bundle("kubespray-scaleout-foreign-ca");
    let a = ca("etcd-ca");
    let b = ca("etcd-ca");
    put(&pki, "ca.pem", &a.pem);
    for i in 1..=5 {
        let ip = format!("10.30.0.{}", 10 + i);
        let host = format!("node{i}");
        let issuer = if i == 4 { &b } else { &a };
        let (crt, key) =
            leaf(issuer, &format!("etcd-member-{host}"), &[&host, "localhost", &ip, "127.0.0.1"], LONG, false);
        put(&pki, &format!("etcd{i}/member-{host}.pem"), &crt);
        put(&pki, &format!("etcd{i}/member-{host}-key.pem"), &key);
    }
    put(&pki, "admin-node1.pem", &leaf(&a, "etcd-admin-node1", &[], LONG, true).0);

    // K3s: separate server and peer CAs, every certificate where it belongs.
    let pki = bundle("k3s-separate-cas");
    let server = ca("etcd-server-ca@1763600000");
    let peer = ca("etcd-peer-ca@1763600000");
    put(&pki, "server-ca.crt", &server.pem);
    put(&pki, "peer-ca.crt", &peer.pem);
    for (i, name) in ["server-1-0d481970", "server-2-34eb565b", "server-3-773673f4"].iter().enumerate() {
        let ip = format!("10.40.0.{}", 11 + i);
        let (c, k) = leaf(&server, "etcd-server", &["localhost", "127.0.0.1", &ip], LONG, false);
        put(&pki, &format!("{name}/server-client.crt"), &c);
        put(&pki, &format!("{name}/server-client.key"), &k);
        put(
            &pki,
            &format!("{name}/peer-server-client.crt"),
            &leaf(&peer, "etcd-peer", &["localhost", "127.0.0.1", &ip], LONG, false).0,
        );
    }
    put(&pki, "client.crt", &leaf(&server, "etcd-client", &[], LONG, true).0);
}
