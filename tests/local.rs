//! `--local --root DIR`: node filesystems laid out as kubeadm and Kubespray lay them out (the
//! shapes of ../shared/reference/manifests and kubespray), pointing at a real etcd cluster.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::Cluster;
use support::api_server::{Answer, ApiServer};
use support::pki::{Kind, Pki};

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    fs::copy(from, to).expect("copy");
}

fn run_local(root: &Path) -> (i32, Value, String) {
    let out = support::bin::doctor().args(["--local", "--root"]).arg(root).args(["-o", "json"]).output().expect("run");
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

/// A K3s etcd-only server (this node: member m2) that joined through m1, another etcd-only
/// server, while m0 serves the API: the K3s incident, fixed from the broken node.
struct K3sNode {
    cluster: Cluster,
    root: tempfile::TempDir,
    _apis: (ApiServer, ApiServer),
    config: std::path::PathBuf,
    original: String,
}

fn k3s_etcd_only_node() -> K3sNode {
    let cluster = Cluster::start(3);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let pki_dir = tempfile::tempdir().expect("pki dir");
    // K3s's own CAs: the server CA signs the supervisor/API serving certs, the client CA the kubelet's.
    let server_ca = Pki::new(&pki_dir.path().join("server"), "k3s-server-ca");
    let client_ca = Pki::new(&pki_dir.path().join("client"), "k3s-client-ca");
    let (ip0, ip1) = (cluster.member(0).ip.clone(), cluster.member(1).ip.clone());
    let (c0, k0) = server_ca.issue("k3s-serving-0", &[&ip0], Kind::Server);
    let (c1, k1) = server_ca.issue("k3s-serving-1", &[&ip1], Kind::Server);
    let (kc, kk) = client_ca.issue("system:node:etcd-3", &[], Kind::Client);
    let apis = (
        ApiServer::start(&format!("{ip0}:6443"), &c0, &k0, &client_ca.ca_path, Answer::Api("v1.31.4+k3s1")),
        ApiServer::start(&format!("{ip1}:6443"), &c1, &k1, &client_ca.ca_path, Answer::EtcdOnly),
    );
    let data = r.join("var/lib/rancher/k3s");
    copy(cluster.cacert(), &data.join("server/tls/etcd/server-ca.crt"));
    copy(cluster.client_cert(), &data.join("server/tls/etcd/client.crt"));
    copy(cluster.client_key(), &data.join("server/tls/etcd/client.key"));
    copy(&server_ca.ca_path, &data.join("server/tls/server-ca.crt"));
    copy(&kc, &data.join("agent/client-kubelet.crt"));
    copy(&kk, &data.join("agent/client-kubelet.key"));
    let me = cluster.member(2);
    fs::create_dir_all(data.join("server/db/etcd")).expect("mkdir");
    fs::write(
        data.join("server/db/etcd/config"),
        format!(
            "advertise-client-urls: {url}\nclient-transport-security:\n  cert-file: /var/lib/rancher/k3s/server/tls/etcd/server-client.crt\n  client-cert-auth: true\n  key-file: /var/lib/rancher/k3s/server/tls/etcd/server-client.key\n  trusted-ca-file: /var/lib/rancher/k3s/server/tls/etcd/server-ca.crt\ndata-dir: /var/lib/rancher/k3s/server/db/etcd\nlisten-client-urls: {url}\nname: {name}\n",
            url = me.client_url,
            name = me.name
        ),
    )
    .expect("etcd config");
    let original = format!(
        "token: K10aaaa::server:supersecret\nserver: https://{ip1}:6443\ndisable-apiserver: true\ndisable-controller-manager: true\ndisable-scheduler: true\nnode-taint:\n  - node-role.kubernetes.io/etcd:NoExecute\n"
    );
    let config = r.join("etc/rancher/k3s/config.yaml");
    fs::create_dir_all(config.parent().expect("parent")).expect("mkdir");
    fs::write(&config, &original).expect("config");
    K3sNode { cluster, root, _apis: apis, config, original }
}

fn local_cmd(root: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = support::bin::doctor()
        .env("ETCD_DOCTOR_RESTART_COMMAND", format!("echo {{service}} >> {}/restarted", root.display()))
        .args(["--local", "--root"])
        .arg(root)
        .args(["-o", "json"])
        .args(extra)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!stdout.contains("supersecret"), "the join token leaked: {stdout}");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_k3s_etcd_only_node_joined_through_an_etcd_only_node_is_found_and_repointed() {
    let n = k3s_etcd_only_node();
    let r = n.root.path();
    let ip0 = n.cluster.member(0).ip.clone();
    let ip1 = n.cluster.member(1).ip.clone();
    let (code, v, err) = local_cmd(r, &[]);
    assert_eq!(code, 2, "{err}\n{v}");
    assert_eq!(v["distribution"], "k3s");
    assert_eq!(v["local"]["etcdOnly"], true);
    assert_eq!(v["local"]["memberName"], n.cluster.member(2).name.as_str());
    assert_eq!(v["local"]["joinProbe"]["detail"], "503 apiserver disabled", "{v}");
    let f = &v["findings"][0];
    assert_eq!(
        (f["check"].as_str(), f["severity"].as_str()),
        (Some("join-endpoint-not-apiserver"), Some("critical")),
        "{v}"
    );
    let step = &v["plan"]["steps"][0];
    assert_eq!(step["action"], "set-server-url", "{v}");
    assert_eq!(step["automatic"], true);
    assert_eq!(step["edit"]["to"], format!("https://{ip0}:6443"));
    assert_eq!(step["edit"]["from"], format!("https://{ip1}:6443"));
    assert!(!r.join("restarted").exists(), "a check never restarts anything");

    let (code, v, err) = local_cmd(r, &["--fix", "--yes"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["applied"][0]["result"], "done", "{v}");
    assert!(v["applied"][0]["message"].as_str().is_some_and(|m| m.contains("the member is back")), "{v}");
    let now = fs::read_to_string(&n.config).expect("config");
    assert_eq!(now, n.original.replace(&format!("https://{ip1}:6443"), &format!("https://{ip0}:6443")));
    let backups: Vec<_> = fs::read_dir(n.config.parent().expect("dir"))
        .expect("ls")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains("config.yaml.etcd-doctor-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(fs::read_to_string(&backups[0]).expect("backup"), n.original);
    assert_eq!(fs::read_to_string(r.join("restarted")).expect("restart command ran"), "k3s\n");
    // After: the join URL serves the API, nothing left to do.
    assert!(
        v["findings"].as_array().is_some_and(|f| f.iter().all(|f| f["check"] != "join-endpoint-not-apiserver")),
        "{v}"
    );
    assert_eq!(v["local"]["joinProbe"]["detail"], "200 v1.31.4+k3s1", "{v}");
}

#[test]
fn a_server_url_that_serves_no_api_is_never_written() {
    let n = k3s_etcd_only_node();
    let r = n.root.path();
    let ip1 = n.cluster.member(1).ip.clone();
    let (code, v, err) = local_cmd(r, &["--fix", "--yes", "--server-url", &format!("https://{ip1}:6443")]);
    assert_eq!(code, 4, "{err}\n{v}");
    assert!(err.contains("nothing here can be fixed automatically"), "{err}");
    assert_eq!(v["plan"]["steps"][0]["action"], "manual", "{v}");
    assert_eq!(fs::read_to_string(&n.config).expect("config"), n.original);
    assert!(!r.join("restarted").exists());
    // A URL that is no https URL is a usage error.
    let (code, _, err) = local_cmd(r, &["--server-url", "10.0.0.1:6443"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--server-url"), "{err}");
}

#[test]
fn bundle_collect_on_the_node_keeps_the_verdict_and_drops_the_secrets() {
    let n = k3s_etcd_only_node();
    let r = n.root.path();
    let out_dir = tempfile::tempdir().expect("tempdir");
    let b = out_dir.path().join("bundle");
    let out = support::bin::doctor()
        .args(["--local", "--root"])
        .arg(r)
        .args(["bundle", "collect"])
        .arg(&b)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(b.join("local.json").is_file() && b.join("local/etc/rancher/k3s/config.yaml").is_file());
    let copied = fs::read_to_string(b.join("local/etc/rancher/k3s/config.yaml")).expect("copy");
    assert!(copied.contains("token: \"********\"") && copied.contains("disable-apiserver: true"), "{copied}");
    fn walk(p: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(p).expect("ls").flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    let mut texts = Vec::new();
    walk(&b, &mut texts);
    assert!(
        texts.iter().all(|t| !t.contains("supersecret") && !t.contains("PRIVATE KEY")),
        "a secret reached the bundle"
    );
    let out = support::bin::doctor().arg("--bundle").arg(&b).args(["-o", "json"]).output().expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(2), "{v}");
    assert_eq!(v["findings"][0]["check"], "join-endpoint-not-apiserver");
    assert_eq!(v["plan"]["steps"][0]["action"], "set-server-url");
}

#[test]
fn a_kubeadm_node_with_external_etcd_follows_the_api_server_flags() {
    let c = Cluster::start(3);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let servers = (0..3).map(|i| c.member(i).client_url.clone()).collect::<Vec<_>>().join(",");
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: kube-apiserver\n    tier: control-plane\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.11\n    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt\n    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt\n    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key\n    - --etcd-servers={servers}\n    image: registry.k8s.io/kube-apiserver:v1.32.3\n    name: kube-apiserver\n"
    );
    fs::create_dir_all(r.join("etc/kubernetes/manifests")).expect("mkdir");
    fs::write(r.join("etc/kubernetes/manifests/kube-apiserver.yaml"), manifest).expect("write");
    copy(c.cacert(), &r.join("etc/kubernetes/pki/etcd/ca.crt"));
    copy(c.client_cert(), &r.join("etc/kubernetes/pki/apiserver-etcd-client.crt"));
    copy(c.client_key(), &r.join("etc/kubernetes/pki/apiserver-etcd-client.key"));
    let (code, v, err) = run_local(r);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["members"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["local"]["distribution"], "kubeadm");
    assert_eq!(v["local"]["source"], "/etc/kubernetes/manifests/kube-apiserver.yaml");
}
