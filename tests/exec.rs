//! Through the Kubernetes API: no etcd endpoint, only a kubeconfig. A fixture API server (axum)
//! serves a kubeadm etcd pod and speaks the exec websocket subprotocol (v4.channel.k8s.io):
//! it runs the real `etcdctl` of the cluster's release with the pod's certificate paths mapped to
//! the test cluster's files, as the pod's filesystem would hold them, against a real cluster.

mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, RawQuery};
use axum::response::IntoResponse;
use axum::routing::get;
use rstest::rstest;
use serde_json::{Value, json};
use support::Cluster;
use support::cluster::{EtcdVersion, V3_4, V3_5};

/// Every command the fixture ran, as etcdctl arguments.
type Log = Arc<Mutex<Vec<Vec<String>>>>;

struct Files {
    /// The etcdctl of the cluster's release: the one the pod's image would ship.
    etcdctl: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// The kubeadm etcd static pod on `node`, listening on `url`.
fn etcd_pod(node: &str, url: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("etcd-{node}"), "namespace": "kube-system",
                     "labels": {"component": "etcd", "tier": "control-plane"},
                     "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls": url}},
        "spec": {"nodeName": node, "containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.24-0",
            "command": ["etcd", format!("--advertise-client-urls={url}"), "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
                        "--client-cert-auth=true", "--data-dir=/var/lib/etcd", "--key-file=/etc/kubernetes/pki/etcd/server.key",
                        format!("--listen-client-urls={url}"), format!("--name={node}"),
                        "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"]}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "etcd", "ready": true, "restartCount": 0,
                   "image": "registry.k8s.io/etcd:3.5.24-0", "imageID": "", "state": {"running": {"startedAt": "2026-11-24T09:00:00Z"}}}]}
    })
}

/// Runs `cmd` as the pod would and streams it over the websocket in channel frames.
async fn exec(mut ws: WebSocket, cmd: Vec<String>, files: Arc<Files>, log: Log) {
    let map = |a: &str| {
        a.replace("/etc/kubernetes/pki/etcd/ca.crt", &files.ca.display().to_string())
            .replace("/etc/kubernetes/pki/etcd/server.crt", &files.cert.display().to_string())
            .replace("/etc/kubernetes/pki/etcd/server.key", &files.key.display().to_string())
    };
    let mut args: Vec<String> = cmd.iter().map(|a| map(a)).collect();
    if args.first().is_some_and(|a| a == "etcdctl") {
        args[0] = files.etcdctl.display().to_string();
    }
    if let Ok(mut l) = log.lock() {
        l.push(cmd.clone());
    }
    let out = tokio::process::Command::new(&args[0]).args(&args[1..]).env("ETCDCTL_API", "3").output().await;
    let (stdout, stderr, code) = match out {
        Ok(o) => (o.stdout, o.stderr, o.status.code().unwrap_or(1)),
        Err(e) => (Vec::new(), format!("exec: {e}").into_bytes(), 126),
    };
    for (ch, data) in [(1u8, stdout), (2u8, stderr)] {
        for chunk in data.chunks(4096) {
            let mut frame = vec![ch];
            frame.extend_from_slice(chunk);
            let _ = ws.send(Message::Binary(frame.into())).await;
        }
    }
    let status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
               "message": format!("command terminated with non-zero exit code: exit status {code}"),
               "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    };
    let mut frame = vec![3u8];
    frame.extend_from_slice(status.to_string().as_bytes());
    let _ = ws.send(Message::Binary(frame.into())).await;
    let _ = ws.send(Message::Close(None)).await;
}

/// Serves nodes, the etcd pods and their exec on a free loopback port; returns a kubeconfig.
fn api_server(c: &Cluster, dir: &std::path::Path, log: Log) -> PathBuf {
    let pods = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"},
        "items": (0..3).map(|i| etcd_pod(&c.member(i).name, &c.member(i).client_url)).collect::<Vec<_>>()});
    let nodes = json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": "1"}, "items": []});
    let files = Arc::new(Files {
        etcdctl: c.member(0).version.etcdctl(),
        ca: c.cacert().to_path_buf(),
        cert: c.client_cert().to_path_buf(),
        key: c.client_key().to_path_buf(),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        rt.block_on(async move {
            let app = Router::new()
                .route("/api/v1/nodes", get(move || async move { nodes.to_string() }))
                .route("/api/v1/namespaces/kube-system/pods", get(move || async move { pods.to_string() }))
                .route(
                    "/api/v1/namespaces/kube-system/pods/{name}/exec",
                    get(move |UrlPath(_name): UrlPath<String>, RawQuery(q): RawQuery, ws: WebSocketUpgrade| {
                        let (files, log) = (files.clone(), log.clone());
                        async move {
                            let cmd: Vec<String> = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
                                .filter(|(k, _)| k == "command")
                                .map(|(_, v)| v.into_owned())
                                .collect();
                            ws.protocols(["v4.channel.k8s.io"])
                                .on_upgrade(move |socket| exec(socket, cmd, files, log))
                                .into_response()
                        }
                    }),
                );
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(l, app).await;
        });
    });
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: fixture\n  context:\n    cluster: fixture\n    user: fixture\ncurrent-context: fixture\nusers:\n- name: fixture\n  user:\n    token: not-a-real-token\n"
        ),
    )
    .expect("kubeconfig");
    kc
}

fn run(kc: &std::path::Path, extra: &[&str]) -> (i32, Value, String, Duration) {
    let t = Instant::now();
    let out = support::bin::doctor()
        .with_kube()
        .arg("--kubeconfig")
        .arg(kc)
        .args(["-o", "json"])
        .args(extra)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into(),
        t.elapsed(),
    )
}

#[rstest]
fn with_only_a_kubeconfig_etcdctl_runs_in_an_etcd_pod(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 3);
    let d = tempfile::tempdir().expect("tempdir");
    let log: Log = Arc::default();
    let kc = api_server(&c, d.path(), log.clone());
    let (code, v, err, _) = run(&kc, &[]);
    assert_eq!(code, 0, "{err}\n{v}");
    let members = v["members"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 3, "{v}");
    assert!(members.iter().all(|m| m["health"] == "healthy" && m["version"].is_string()), "{v}");
    assert!(v["gaps"].to_string().contains("through the Kubernetes API"), "{v}");
    let ran = log.lock().expect("log").clone();
    assert!(ran.iter().any(|c| c.contains(&"member".to_string()) && c.contains(&"list".to_string())), "{ran:?}");
    assert_eq!(ran.iter().filter(|c| c.contains(&"status".to_string())).count(), 3, "{ran:?}");
    assert!(
        ran.iter().all(|c| c.iter().any(|a| a == "--cacert=/etc/kubernetes/pki/etcd/ca.crt")),
        "the pod's own paths: {ran:?}"
    );
}

#[rstest]
fn a_dead_member_is_found_in_one_timeout_and_removed_through_the_pod(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    c.kill_and_wipe(2);
    let dead = c.member(2).id;
    let d = tempfile::tempdir().expect("tempdir");
    let log: Log = Arc::default();
    let kc = api_server(&c, d.path(), log.clone());
    let (code, v, err, took) = run(&kc, &["--dial-timeout", "2s"]);
    assert_eq!(code, 2, "{err}\n{v}");
    assert!(v["findings"].as_array().is_some_and(|f| f.iter().any(|f| f["check"] == "stale-member")), "{v}");
    assert!(took < Duration::from_secs(9), "statuses run in parallel: {took:?}");
    // Stopped is not gone: the removal is the operator's decision.
    let id = format!("{dead:x}");
    let (code, v, err, _) = run(&kc, &["--fix", "--yes", "--remove-member", &id]);
    // Two voters remain: a warning (no fault tolerance), nothing stale.
    assert_eq!(code, 1, "{err}\n{v}");
    assert!(v["findings"].as_array().is_some_and(|f| f.iter().all(|f| f["check"] != "stale-member")), "{v}");
    assert_eq!(v["applied"][0]["result"], "done", "{v}");
    let ran = log.lock().expect("log").clone();
    assert!(ran.iter().any(|a| a.contains(&"remove".to_string()) && a.contains(&format!("{dead:x}"))), "{ran:?}");
    let left: Vec<u64> = c.member_list().iter().map(|m| m.id).collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&dead));
}

#[test]
fn on_an_auth_enabled_cluster_the_pod_route_passes_the_user_to_etcdctl() {
    const PW: &str = "pod-Route-s3cret";
    let mut c = Cluster::start(3);
    // While every member is up: after a kill, an election may outlast the harness's timeout.
    c.with_client(|mut cl| async move {
        cl.user_add("root", PW, None).await?;
        cl.role_add("root").await?;
        cl.user_grant_role("root", "root").await?;
        cl.auth_enable().await?;
        Ok(())
    })
    .expect("enable auth");
    c.kill_and_wipe(2);
    let dead = format!("{:x}", c.member(2).id);
    let d = tempfile::tempdir().expect("tempdir");
    let log: Log = Arc::default();
    let kc = api_server(&c, d.path(), log.clone());
    // Without a user etcdctl's removal is refused, and the tool says to pass --user.
    let (code, v, err, _) = run(&kc, &["--fix", "--yes", "--remove-member", &dead]);
    assert_eq!(code, 4, "{err}\n{v}");
    assert!(format!("{v}{err}").contains("pass --user"), "{err}\n{v}");
    assert_eq!(c.member_list().len(), 3);
    let (code, v, err, _) = run(&kc, &["--fix", "--yes", "--remove-member", &dead, "--user", &format!("root:{PW}")]);
    assert_eq!(v["applied"][0]["result"], "done", "{code} {err}\n{v}");
    assert!(!format!("{v}{err}").contains(PW), "the password was printed");
    let ran = log.lock().expect("log").clone();
    assert!(ran.iter().any(|a| a.contains(&"--user=root".to_string()) && a.contains(&"remove".to_string())), "{ran:?}");
    assert_eq!(c.member_list().len(), 2);
}
