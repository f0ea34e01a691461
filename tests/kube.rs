//! Node evidence from a Kubernetes API: recorded Node objects served over real HTTP (an axum
//! router) to the real kube client, beside a real etcd cluster. Includes an RBAC 403 and an
//! API server that never answers.

mod support;

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use support::Cluster;

/// How the fixture API server answers `GET /api/v1/nodes`.
#[derive(Clone)]
enum Answer {
    Nodes(Value),
    Forbidden,
    Hang,
}

/// Serves the answer on a free loopback port; returns a kubeconfig file pointing at it.
fn api_server(answer: Answer, dir: &std::path::Path) -> std::path::PathBuf {
    api_server_with(answer, None, dir)
}

/// The same, also serving kube-system pods (`component=etcd`) when given.
fn api_server_with(answer: Answer, pods: Option<Value>, dir: &std::path::Path) -> std::path::PathBuf {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async move {
            let app = Router::new().route(
                "/api/v1/nodes",
                get(move || {
                    let a = answer.clone();
                    async move {
                        match a {
                            Answer::Nodes(v) => (StatusCode::OK, v.to_string()),
                            Answer::Forbidden => (
                                StatusCode::FORBIDDEN,
                                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                                       "message": "nodes is forbidden: User \"system:serviceaccount:default:doctor\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"})
                                .to_string(),
                            ),
                            Answer::Hang => {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                                (StatusCode::OK, String::new())
                            }
                        }
                    }
                }),
            );
            let app = app.route(
                "/api/v1/namespaces/kube-system/pods",
                get(move || {
                    let p = pods.clone();
                    async move {
                        match p {
                            Some(v) => (StatusCode::OK, v.to_string()),
                            None => (StatusCode::NOT_FOUND, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "message": "not served here"}).to_string()),
                        }
                    }
                }),
            );
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(l, app).await;
        });
    });
    let kc = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: fixture\n  context:\n    cluster: fixture\n    user: fixture\ncurrent-context: fixture\nusers:\n- name: fixture\n  user:\n    token: not-a-real-token\n"
    );
    std::fs::write(&kc, text).expect("write kubeconfig");
    kc
}

/// A kubeadm control-plane Node object as `kubectl get node -o json` shows it.
fn node(name: &str, ip: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": name},
                     "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock"}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "Unknown" },
                            "lastTransitionTime": "2026-11-24T09:12:00Z", "reason": if ready { "KubeletReady" } else { "NodeStatusUnknown" }}],
            "nodeInfo": {"kubeletVersion": "v1.32.3", "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.24",
                         "kernelVersion": "6.1.0", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux", "osImage": "Debian", "systemUUID": ""}
        }
    })
}

fn list(nodes: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": "1"}, "items": nodes})
}

fn run(c: &Cluster, kubeconfig: &std::path::Path, extra: &[&str]) -> (i32, Value, Duration) {
    let t = Instant::now();
    let out = support::bin::doctor()
        .with_kube()
        .args(c.tool_args())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["-o", "json"])
        .args(extra)
        .output()
        .expect("run");
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap_or(Value::Null), t.elapsed())
}

fn finding<'a>(v: &'a Value, check: &str) -> Option<&'a Value> {
    v["findings"].as_array()?.iter().find(|f| f["check"] == check)
}

#[test]
fn a_member_whose_node_was_deleted_is_critical_and_members_show_their_nodes() {
    let mut c = Cluster::start(5);
    c.kill_and_wipe(4);
    let d = tempfile::tempdir().expect("tempdir");
    let nodes = (0..4).map(|i| node(&c.member(i).name, &c.member(i).ip, true)).collect();
    let kc = api_server(Answer::Nodes(list(nodes)), d.path());
    let (code, v, _) = run(&c, &kc, &[]);
    // 4 of 5 healthy would only be a warning; the deleted node makes it critical.
    assert_eq!(code, 2, "{v}");
    let f = finding(&v, "stale-member").expect("stale-member");
    assert_eq!(f["severity"], "critical");
    assert!(f["message"].as_str().unwrap_or_default().contains("node was deleted"), "{f}");
    assert_eq!(f["evidence"]["nodeDeleted"], true);
    for i in 0..4 {
        let row =
            v["members"].as_array().and_then(|a| a.iter().find(|m| m["name"] == c.member(i).name.as_str())).cloned();
        assert_eq!(row.map(|r| r["node"].clone()), Some(json!(c.member(i).name)));
    }
    assert_eq!(v["plan"]["steps"][0]["action"], "remove-member");
}

#[test]
fn a_member_on_a_ready_node_is_not_planned_for_removal() {
    let mut c = Cluster::start(3);
    c.kill_and_wipe(2);
    let d = tempfile::tempdir().expect("tempdir");
    let nodes = (0..3).map(|i| node(&c.member(i).name, &c.member(i).ip, true)).collect();
    let kc = api_server(Answer::Nodes(list(nodes)), d.path());
    let (_, v, _) = run(&c, &kc, &[]);
    let f = finding(&v, "stale-member").expect("stale-member");
    assert!(f["message"].as_str().unwrap_or_default().contains("is Ready"), "{f}");
    assert_eq!(f["node"], c.member(2).name.as_str());
    assert!(v["plan"]["steps"].as_array().is_some_and(|s| s.iter().all(|s| s["automatic"] == false)), "{}", v["plan"]);

    // NotReady: the removal is planned again, with the evidence.
    let d2 = tempfile::tempdir().expect("tempdir");
    let nodes = (0..3).map(|i| node(&c.member(i).name, &c.member(i).ip, i != 2)).collect();
    let kc2 = api_server(Answer::Nodes(list(nodes)), d2.path());
    let (_, v2, _) = run(&c, &kc2, &[]);
    let f2 = finding(&v2, "stale-member").expect("stale-member");
    assert!(f2["message"].as_str().unwrap_or_default().contains("NotReady since 2026-11-24T09:12:00Z"), "{f2}");
    assert_eq!(v2["plan"]["steps"][0]["automatic"], true);
}

#[test]
fn rbac_forbidden_is_a_gap_naming_the_permission_and_etcd_checks_still_run() {
    let mut c = Cluster::start(3);
    c.kill_and_wipe(2);
    let d = tempfile::tempdir().expect("tempdir");
    let kc = api_server(Answer::Forbidden, d.path());
    let (code, v, _) = run(&c, &kc, &[]);
    assert_eq!(code, 2);
    let gaps = v["gaps"].to_string();
    assert!(gaps.contains("forbidden to list nodes") && gaps.contains("get`/`list` on nodes"), "{gaps}");
    let f = finding(&v, "stale-member").expect("stale-member");
    assert!(!f["message"].as_str().unwrap_or_default().contains("deleted"));
}

#[test]
fn an_api_server_that_never_answers_costs_a_bounded_wait() {
    let c = Cluster::start(3);
    let d = tempfile::tempdir().expect("tempdir");
    let kc = api_server(Answer::Hang, d.path());
    let (code, v, took) = run(&c, &kc, &["--dial-timeout", "1s", "--command-timeout", "1s"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["gaps"].to_string().contains("kubernetes"), "{}", v["gaps"]);
    assert!(took < Duration::from_secs(8), "took {took:?}");
}

#[test]
fn bundle_collect_writes_what_reads_back_to_the_same_findings() {
    let mut c = Cluster::start(5);
    // Added first: etcd refuses every member add while a voter is down.
    c.add_unstarted_member();
    c.kill_and_wipe(4);
    // The live run and the capture must see the same cluster: if m4 led, the four left (of
    // six voters, quorum 4) elect again first, which took over 3 s once on a loaded CI host.
    c.leader();
    let d = tempfile::tempdir().expect("tempdir");
    let mut nodes: Vec<Value> = (0..4).map(|i| node(&c.member(i).name, &c.member(i).ip, true)).collect();
    nodes[0]["metadata"]["annotations"]["k3s.io/node-env"] =
        json!(r#"{"K3S_TOKEN":"K10secret::server:abc","K3S_URL":"https://10.0.0.1:6443"}"#);
    let kc = api_server(Answer::Nodes(list(nodes)), d.path());
    let (_, live, _) = run(&c, &kc, &[]);
    let dir = d.path().join("bundle");
    let out = support::bin::doctor()
        .with_kube()
        .args(c.tool_args())
        .arg("--kubeconfig")
        .arg(&kc)
        .arg("bundle")
        .arg("collect")
        .arg(&dir)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "member-list.json",
        "endpoint-status.json",
        "endpoint-health.json",
        "nodes.yaml",
        "certs.json",
        "collected-at.txt",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let certs_json = std::fs::read_to_string(dir.join("certs.json")).expect("certs.json");
    assert!(certs_json.contains("\"presented\"") && !certs_json.contains("PRIVATE KEY"), "{certs_json}");
    let nodes_yaml = std::fs::read_to_string(dir.join("nodes.yaml")).expect("nodes.yaml");
    assert!(!nodes_yaml.contains("K10secret") && nodes_yaml.contains("https://10.0.0.1:6443"), "{nodes_yaml}");
    let back = support::bin::doctor().arg("--bundle").arg(&dir).args(["-o", "json"]).output().expect("run");
    let back: Value = serde_json::from_slice(&back.stdout).expect("json");
    let summary = |v: &Value| -> Vec<(String, String, String)> {
        let mut f: Vec<_> = v["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| (f["check"].to_string(), f["severity"].to_string(), f["memberID"].to_string()))
            .collect();
        f.sort();
        f
    };
    assert_eq!(summary(&back), summary(&live), "live {}\nbundle {}", live["findings"], back["findings"]);
    assert!(summary(&live).iter().any(|(c, _, _)| c.contains("unstarted-member")));
    assert_eq!(back["members"].as_array().map(Vec::len), Some(6));
    let nodes_of = |v: &Value| v["members"].as_array().map(|a| a.iter().map(|m| m["node"].clone()).collect::<Vec<_>>());
    let mut a = nodes_of(&live).unwrap_or_default();
    let mut b = nodes_of(&back).unwrap_or_default();
    a.sort_by_key(|v| v.to_string());
    b.sort_by_key(|v| v.to_string());
    assert_eq!(a, b);
}

/// A kubeadm etcd static pod as `kubectl -n kube-system get pod -o json` shows it.
fn etcd_pod(node: &str, client_url: &str, crashing: bool) -> Value {
    let state = if crashing {
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=etcd"}})
    } else {
        json!({"running": {"startedAt": "2026-11-24T09:00:00Z"}})
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("etcd-{node}"), "namespace": "kube-system",
                     "labels": {"component": "etcd", "tier": "control-plane"},
                     "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": client_url}},
        "spec": {"nodeName": node, "containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.24-0"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "etcd", "ready": !crashing, "restartCount": if crashing { 17 } else { 0 },
                   "image": "registry.k8s.io/etcd:3.5.24-0", "imageID": "", "state": state}]}
    })
}

#[test]
fn without_endpoints_the_etcd_pods_say_where_etcd_listens() {
    let d = tempfile::tempdir().expect("tempdir");
    let pods = list(vec![
        etcd_pod("cp-1", "https://10.0.0.11:2379", false),
        etcd_pod("cp-2", "https://10.0.0.12:2379", false),
    ]);
    let kc = api_server_with(Answer::Nodes(list(vec![])), Some(pods), d.path());
    let out = support::bin::doctor().with_kube().arg("--kubeconfig").arg(&kc).output().expect("run");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--endpoints https://10.0.0.11:2379,https://10.0.0.12:2379"), "{err}");
}

#[test]
fn a_stale_member_shows_its_crashing_etcd_pod() {
    let mut c = Cluster::start(3);
    c.kill_and_wipe(2);
    let d = tempfile::tempdir().expect("tempdir");
    let nodes = (0..3).map(|i| node(&c.member(i).name, &c.member(i).ip, i != 2)).collect();
    let pods = list((0..3).map(|i| etcd_pod(&c.member(i).name, &c.member(i).client_url, i == 2)).collect());
    let kc = api_server_with(Answer::Nodes(list(nodes)), Some(pods), d.path());
    let (_, v, _) = run(&c, &kc, &[]);
    let f = finding(&v, "stale-member").expect("stale-member");
    let msg = f["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!("etcd pod etcd-{} is Running, CrashLoopBackOff (17 restarts)", c.member(2).name)),
        "{msg}"
    );
    assert_eq!(f["evidence"]["etcdPod"]["image"], "registry.k8s.io/etcd:3.5.24-0");
}
