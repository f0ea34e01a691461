//! `--local --root DIR`: node filesystems laid out as kubeadm and Kubespray lay them out (the
//! shapes of ../shared/reference/manifests and kubespray), pointing at a real etcd cluster.

mod support;

use std::fs;
use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;
use support::Cluster;

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    fs::copy(from, to).expect("copy");
}

fn run_local(root: &Path) -> (i32, Value, String) {
    let out = cargo_bin_cmd!("kubectl-etcd_doctor")
        .env("ETCD_DOCTOR_NO_KUBE", "1")
        .args(["--local", "--root"])
        .arg(root)
        .args(["-o", "json"])
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_kubeadm_node_tree_leads_to_its_etcd() {
    let c = Cluster::start(3);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let url = &c.member(0).client_url;
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    kubeadm.kubernetes.io/etcd.advertise-client-urls: {url}\n  labels:\n    component: etcd\n    tier: control-plane\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - etcd\n    - --advertise-client-urls={url}\n    - --cert-file=/etc/kubernetes/pki/etcd/server.crt\n    - --client-cert-auth=true\n    - --key-file=/etc/kubernetes/pki/etcd/server.key\n    - --listen-client-urls={url}\n    - --name=m0\n    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n    image: registry.k8s.io/etcd:3.5.24-0\n    name: etcd\n"
    );
    fs::create_dir_all(r.join("etc/kubernetes/manifests")).expect("mkdir");
    fs::write(r.join("etc/kubernetes/manifests/etcd.yaml"), manifest).expect("write");
    copy(c.cacert(), &r.join("etc/kubernetes/pki/etcd/ca.crt"));
    copy(c.client_cert(), &r.join("etc/kubernetes/pki/etcd/healthcheck-client.crt"));
    copy(c.client_key(), &r.join("etc/kubernetes/pki/etcd/healthcheck-client.key"));
    let (code, v, err) = run_local(r);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["source"], "local");
    assert_eq!(v["members"].as_array().map(Vec::len), Some(3));
}

#[test]
fn a_kubespray_node_tree_leads_to_its_etcd() {
    let c = Cluster::start(3);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let url = &c.member(1).client_url;
    let env = format!(
        "ETCD_DATA_DIR=/var/lib/etcd\nETCD_ADVERTISE_CLIENT_URLS={url}\nETCD_LISTEN_CLIENT_URLS={url}\nETCD_NAME=etcd1\n\nETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem\nETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-node1.pem\nETCD_KEY_FILE=/etc/ssl/etcd/ssl/member-node1-key.pem\nETCD_CLIENT_CERT_AUTH=true\n"
    );
    fs::create_dir_all(r.join("etc")).expect("mkdir");
    fs::write(r.join("etc/etcd.env"), env).expect("write");
    copy(c.cacert(), &r.join("etc/ssl/etcd/ssl/ca.pem"));
    copy(c.client_cert(), &r.join("etc/ssl/etcd/ssl/admin-node1.pem"));
    copy(c.client_key(), &r.join("etc/ssl/etcd/ssl/admin-node1-key.pem"));
    let (code, v, err) = run_local(r);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["source"], "local");
    assert_eq!(v["members"].as_array().map(Vec::len), Some(3));
}

#[test]
fn an_empty_tree_is_exit_3_and_says_where_it_looked() {
    let root = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run_local(root.path());
    assert_eq!(code, 3);
    assert!(err.contains("--local found no etcd configuration") && err.contains("/etc/etcd.env"), "{err}");
}

#[test]
fn a_k3s_tree_with_an_unreadable_key_names_the_file_and_the_layout() {
    let root = tempfile::tempdir().expect("tempdir");
    let tls = root.path().join("var/lib/rancher/k3s/server/tls/etcd");
    fs::create_dir_all(&tls).expect("mkdir");
    fs::write(tls.join("client.crt"), "not pem").expect("write");
    let (code, _, err) = run_local(root.path());
    assert_eq!(code, 3);
    assert!(err.contains("k3s layout") && err.contains("server-ca.crt"), "{err}");
}
