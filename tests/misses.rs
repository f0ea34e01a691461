//! Issue 10's "smaller misses", end to end on the built binary: a Kubespray node whose
//! `ETCD_INITIAL_CLUSTER` names two members on one peer URL (offline and `--local` with no etcd
//! answering), a docker-compose etcd0..etcd2 that is not Kubespray, a rolling restart that is no
//! restart wave (captured, and on real etcd members), and a peer URL with port 111111.

mod support;

use std::fs;
use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;
use support::Cluster;
use support::pki::{Kind, Pki};

fn bundle(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(name)
}

fn run(args: &[&str], root: Option<&Path>) -> (i32, Value, String) {
    let mut cmd = cargo_bin_cmd!("kubectl-etcd_doctor");
    cmd.env("ETCD_DOCTOR_NO_KUBE", "1").args(args).args(["-o", "json"]);
    if let Some(r) = root {
        cmd.args(["--local", "--root"]).arg(r).args(["--dial-timeout", "1s"]);
    }
    let out = cmd.output().expect("run the binary");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn findings<'a>(v: &'a Value, check: &str) -> Vec<&'a Value> {
    v["findings"].as_array().into_iter().flatten().filter(|f| f["check"] == check).collect()
}

#[test]
fn a_kubespray_initial_cluster_with_a_duplicate_url_is_named_with_its_line_and_the_fix() {
    let dir = bundle("kubespray-initial-cluster-duplicate");
    let (code, v, err) = run(&["--bundle", &dir.to_string_lossy()], None);
    assert_eq!(code, 2, "{err}\n{v}");
    assert_eq!(v["distribution"], "kubespray", "from /etc/etcd.env, not from the names");
    let f = findings(&v, "duplicate-peer-url");
    assert_eq!(f.len(), 1, "{v}");
    let msg = f[0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("/etc/etcd.env line 15") && msg.contains("etcd3=https://10.30.0.12:2380"), "{msg}");
    let commands = f[0]["remedy"]["commands"].to_string();
    // The line as the member list has it, this node's unstarted member under its own name.
    assert!(
        commands.contains(
            "ETCD_INITIAL_CLUSTER=etcd1=https://10.30.0.11:2380,etcd2=https://10.30.0.12:2380,etcd3=https://10.30.0.13:2380"
        ),
        "{commands}"
    );
    assert!(commands.contains("inventory") && commands.contains("systemctl restart etcd"), "{commands}");
}

/// A Kubespray node tree whose etcd answers nowhere (it refuses to start), with real PEM files.
fn spray_node(root: &Path, initial_cluster: &str) {
    let pki = Pki::new(&root.join("pki-src"), "etcd-ca");
    let (c, k) = pki.issue("etcd-admin-node3", &[], Kind::Client);
    let ssl = root.join("etc/ssl/etcd/ssl");
    fs::create_dir_all(&ssl).expect("mkdir");
    fs::copy(&pki.ca_path, ssl.join("ca.pem")).expect("ca");
    fs::copy(&c, ssl.join("admin-node3.pem")).expect("cert");
    fs::copy(&k, ssl.join("admin-node3-key.pem")).expect("key");
    // Port 9 on loopback: nothing listens, the dial is refused at once.
    let env = format!(
        "ETCD_DATA_DIR=/var/lib/etcd\nETCD_ADVERTISE_CLIENT_URLS=https://127.0.0.1:9\nETCD_INITIAL_CLUSTER_STATE=existing\nETCD_LISTEN_CLIENT_URLS=https://127.0.0.1:9\nETCD_NAME=etcd3\nETCD_INITIAL_CLUSTER={initial_cluster}\nETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem\n"
    );
    fs::write(root.join("etc/etcd.env"), env).expect("env");
}

#[test]
fn local_with_no_etcd_answering_still_reports_what_the_files_say() {
    let root = tempfile::tempdir().expect("tempdir");
    spray_node(
        root.path(),
        "etcd1=https://10.30.0.11:2380,etcd2=https://10.30.0.12:2380,etcd3=https://10.30.0.12:2380",
    );
    let (code, v, err) = run(&[], Some(root.path()));
    assert_eq!(code, 2, "a critical local finding sets the code: {err}\n{v}");
    assert_eq!(v["source"], "local");
    assert!(v["members"].as_array().is_some_and(Vec::is_empty), "{v}");
    let gap = v["gaps"].as_array().into_iter().flatten().find(|g| g["source"] == "etcd").cloned();
    assert!(gap.is_some_and(|g| g["reason"].as_str().unwrap_or_default().contains("no etcd endpoint answered")), "{v}");
    let f = findings(&v, "duplicate-peer-url");
    assert_eq!((f.len(), f[0]["severity"].as_str()), (1, Some("critical")), "{v}");
    let q = findings(&v, "quorum-at-risk");
    assert!(q.iter().all(|f| f["severity"] == "info"), "nothing is known about quorum: {v}");
    let steps = v["plan"]["steps"].to_string();
    assert!(!steps.contains("force-new-cluster") && !steps.contains("remove-member"), "{steps}");
    assert!(steps.contains("systemctl restart etcd"), "{steps}");

    // Nothing wrong in the files: still the report, and still "could not run" (3).
    let root = tempfile::tempdir().expect("tempdir");
    spray_node(root.path(), "etcd1=https://10.30.0.11:2380,etcd3=https://10.30.0.13:2380");
    let (code, v, err) = run(&[], Some(root.path()));
    assert_eq!(code, 3, "{err}\n{v}");
    assert_eq!(v["source"], "local", "{v}");
    assert!(err.contains("no etcd endpoint answered"), "{err}");
}

#[test]
fn a_docker_compose_etcd0_to_etcd2_is_not_kubespray() {
    let (code, v, err) = run(&["--bundle", &bundle("docker-compose-http").to_string_lossy()], None);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(v["distribution"].is_null(), "{v}");
}

#[test]
fn a_rolling_restart_is_no_wave_and_a_wave_says_what_it_inferred() {
    let (_, v, _) = run(&["--bundle", &bundle("rolling-restart").to_string_lossy()], None);
    assert!(findings(&v, "restart-wave").is_empty(), "{v}");
    let (code, v, _) = run(&["--bundle", &bundle("restart-wave").to_string_lossy()], None);
    assert_eq!(code, 1);
    let f = findings(&v, "restart-wave");
    let msg = f.first().and_then(|f| f["message"].as_str()).unwrap_or_default();
    assert!(msg.contains("3 of 3 voters") && msg.contains("within 0.7 s") && msg.contains("Inferred"), "{msg}");
    assert!(!msg.contains("quorum was lost"), "{msg}");
}

#[test]
fn a_peer_url_with_port_111111_is_critical() {
    let (code, v, _) = run(&["--bundle", &bundle("invalid-peer-port").to_string_lossy()], None);
    assert_eq!(code, 2);
    let f = findings(&v, "invalid-member-url");
    assert_eq!(f.len(), 1, "{v}");
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(f[0]["memberID"], "e1010f154a9f2968");
    assert_eq!(f[0]["evidence"]["url"], "http://10.40.0.14:111111");
}

#[test]
fn a_real_rolling_restart_one_member_at_a_time_is_no_restart_wave() {
    let mut c = Cluster::start(3);
    // A store with a past, so the restarted members count as restarts, not a bootstrap.
    c.put_each("history", 1100);
    // One at a time: each member is healthy again, and a moment passes, before the next stops.
    for i in 0..3 {
        c.restart_together(&[i]);
        std::thread::sleep(std::time::Duration::from_millis(1500));
    }
    let out = cargo_bin_cmd!("kubectl-etcd_doctor")
        .env("ETCD_DOCTOR_NO_KUBE", "1")
        .args(c.tool_args())
        .args(["-o", "json"])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(findings(&v, "restart-wave").is_empty(), "{v}");
    assert_eq!(out.status.code(), Some(0), "{v}");
}

#[test]
fn a_real_etcd_accepts_peer_port_111111_and_the_doctor_flags_it_without_tripping() {
    // etcd#7134 on real etcd 3.4: `member add` takes any run of digits as a port.
    let mut c = Cluster::start(3);
    let peer = format!("https://{}:111111", c.spare_address());
    let id = c.member_add(&peer, false);
    let out = cargo_bin_cmd!("kubectl-etcd_doctor")
        .env("ETCD_DOCTOR_NO_KUBE", "1")
        .args(c.tool_args())
        .args(["-o", "json"])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(2), "{}\n{v}", String::from_utf8_lossy(&out.stderr));
    let f = findings(&v, "invalid-member-url");
    assert_eq!(f.len(), 1, "{v}");
    assert_eq!(
        (f[0]["severity"].as_str(), f[0]["memberID"].as_str()),
        (Some("critical"), Some(format!("{id:x}").as_str()))
    );
    assert_eq!(f[0]["evidence"]["url"], peer.as_str());
}

#[test]
fn a_lone_k3s_etcd_only_server_with_no_api_anywhere_is_critical() {
    // k3s#7085: `cluster-init` + `disable-apiserver`, nothing joined; the API does not answer.
    let c = Cluster::start(1);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let data = r.join("var/lib/rancher/k3s");
    let tls = data.join("server/tls/etcd");
    fs::create_dir_all(&tls).expect("mkdir");
    fs::copy(c.cacert(), tls.join("server-ca.crt")).expect("ca");
    fs::copy(c.client_cert(), tls.join("client.crt")).expect("cert");
    fs::copy(c.client_key(), tls.join("client.key")).expect("key");
    let me = c.member(0);
    fs::create_dir_all(data.join("server/db/etcd")).expect("mkdir");
    fs::write(
        data.join("server/db/etcd/config"),
        format!("listen-client-urls: {}\nname: {}\n", me.client_url, me.name),
    )
    .expect("etcd config");
    fs::create_dir_all(r.join("etc/rancher/k3s")).expect("mkdir");
    fs::write(
        r.join("etc/rancher/k3s/config.yaml"),
        "cluster-init: true\ndisable-apiserver: true\ndisable-controller-manager: true\ndisable-scheduler: true\n",
    )
    .expect("config.yaml");
    // The node's kubeconfig names its own API port, where no API answers.
    let kubeconfig = r.join("k3s.yaml");
    fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:9\n    insecure-skip-tls-verify: true\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    token: x\n",
    )
    .expect("kubeconfig");
    let out = cargo_bin_cmd!("kubectl-etcd_doctor")
        .env_remove("ETCD_DOCTOR_NO_KUBE")
        .args(["--local", "--root"])
        .arg(r)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["-o", "json"])
        .output()
        .expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}\n{v}");
    let f = findings(&v, "join-endpoint-not-apiserver");
    assert_eq!(f.len(), 1, "{v}");
    let msg = f[0]["message"].as_str().unwrap_or_default();
    assert_eq!(f[0]["severity"], "critical");
    assert!(msg.contains("k3s#7085") && msg.contains("only etcd member") && msg.contains("k3s exits"), "{msg}");
}
