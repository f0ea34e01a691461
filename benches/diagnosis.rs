//! Diagnosis time against etcdctl, on real clusters: `cargo bench --bench diagnosis`.
//! Prints figures; asserts nothing (speed is measured here, not in timed tests).
//!
//! 1. five members, one killed and wiped, one paused (SIGSTOP): the doctor (`-o json`) against
//!    `etcdctl member list` + `etcdctl endpoint status --cluster`, both with default timeouts
//!    (dial 2s, command 5s). Target: the doctor <= dial timeout + 0.5 s.
//! 2. three healthy members: the same pair. Target: the doctor <= 1.5x etcdctl.
//! 3. a generated bundle of 5,000 K3s nodes and 7 members (one dead): wall time and peak RSS.
//!    Target: < 100 ms, < 50 MiB.
//! 4. `--version` start-up. Target: < 10 ms.
//! 5. the size of the binary built with the release profile. Target: < 15 MiB.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Cluster;

const RUNS: usize = 5;

fn time(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run command");
    t.elapsed()
}

/// The client URLs of the members that answer (both tools get the same ones).
fn live_endpoints(c: &Cluster, answering: usize) -> String {
    c.members[..answering].iter().map(|m| m.client_url.clone()).collect::<Vec<_>>().join(",")
}

fn doctor(c: &Cluster, answering: usize) -> Duration {
    let mut args = c.tool_args();
    args[1] = live_endpoints(c, answering);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-etcd_doctor"));
    cmd.args(args).args(["-o", "json"]).env("ETCD_DOCTOR_NO_KUBE", "1");
    time(cmd)
}

fn etcdctl_pair(c: &Cluster, answering: usize) -> Duration {
    let run = |args: &[&str]| {
        let mut cmd = Command::new("etcdctl");
        cmd.envs(c.etcdctl_env()).env("ETCDCTL_ENDPOINTS", live_endpoints(c, answering)).args(args);
        time(cmd)
    };
    run(&["member", "list", "-w", "json"]) + run(&["endpoint", "status", "--cluster", "-w", "json"])
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(label: &str, c: &Cluster, answering: usize, target: &str) {
    let (mut d, mut e) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        d.push(doctor(c, answering));
        e.push(etcdctl_pair(c, answering));
    }
    let (d, e) = (median(d), median(e));
    println!("{label}");
    println!("  etcd-doctor -o json                              median of {RUNS}: {:>8.3} s", d.as_secs_f64());
    println!("  etcdctl member list + endpoint status --cluster   median of {RUNS}: {:>8.3} s", e.as_secs_f64());
    println!("  ratio doctor/etcdctl: {:.2}   target: {target}", d.as_secs_f64() / e.as_secs_f64());
}

/// Runs the doctor once; wall time and its peak resident set (KiB). getrusage(RUSAGE_CHILDREN)
/// reports the largest child ever waited for, so a fresh process of this bench (`--measure`)
/// runs the doctor as its only child and reports both.
fn run_measured(args: &[&str]) -> (Duration, i64) {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe).arg("--measure").args(args).output().expect("measure");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|v| v.parse::<i64>().unwrap_or(0));
    let (ns, rss) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (Duration::from_nanos(ns.max(0) as u64), rss)
}

/// `--measure ARGS...`: runs the doctor with ARGS, prints "<wall ns> <peak RSS KiB>".
fn measure_child(args: &[String]) {
    let t = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_kubectl-etcd_doctor"))
        .args(args)
        .env("ETCD_DOCTOR_NO_KUBE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    let wall = t.elapsed();
    assert!(status.code().is_some(), "the doctor was killed: {status}");
    let rss =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).map(|u| u.max_rss()).unwrap_or(0);
    println!("{} {rss}", wall.as_nanos());
}

/// A bundle of `nodes` K3s nodes, 7 of them servers carrying the 7 etcd members; member 7 is dead.
fn big_bundle(dir: &std::path::Path, nodes: usize) {
    use serde_json::json;
    let ids: Vec<u64> = (0..7).map(|i| 0x8e9e_05c5_2164_694d_u64.wrapping_add(i * 0x1_0001_0001)).collect();
    let ip = |i: usize| format!("10.{}.{}.{}", 42, i / 250, i % 250 + 1);
    let members: Vec<_> = (0..7)
        .map(|i| json!({"ID": ids[i], "name": format!("server-{i}-{:08x}", ids[i] as u32),
                        "peerURLs": [format!("https://{}:2380", ip(i))], "clientURLs": [format!("https://{}:2379", ip(i))]}))
        .collect();
    let ml =
        json!({"header": {"cluster_id": 1234567890123u64, "member_id": ids[0], "raft_term": 9}, "members": members});
    std::fs::write(dir.join("member-list.json"), ml.to_string()).expect("write");
    let statuses: Vec<_> = (0..6)
        .map(|i| json!({"Endpoint": format!("https://{}:2379", ip(i)), "Status": {"header": {"cluster_id": 1234567890123u64,
              "member_id": ids[i], "revision": 9_182_441, "raft_term": 9}, "version": "3.5.16", "dbSize": 188_489_984,
              "leader": ids[0], "raftIndex": 13_025_510, "raftTerm": 9, "raftAppliedIndex": 13_025_510, "dbSizeInUse": 141_177_856}}))
        .collect();
    std::fs::write(dir.join("endpoint-status.json"), serde_json::Value::Array(statuses).to_string()).expect("write");
    let items: Vec<_> = (0..nodes)
        .map(|i| {
            let name = if i < 7 { format!("server-{i}") } else { format!("agent-{i:05}") };
            let mut annotations = serde_json::Map::new();
            annotations.insert("k3s.io/node-args".into(), json!(if i < 7 {
                format!(r#"["server","--cluster-init","--token","********","--tls-san","k8s.example.com","--node-ip","{}"]"#, ip(i))
            } else {
                r#"["agent","--server","https://k8s.example.com:6443","--token","********"]"#.to_string()
            }));
            annotations.insert("k3s.io/node-env".into(), json!(r#"{"K3S_DATA_DIR":"/var/lib/rancher/k3s/data/3dfc950bd39d2e2b435291ab8c1333aa6051fcaf46325aee898819f3b99d4b9c"}"#));
            annotations.insert("k3s.io/node-config-hash".into(), json!("QWERTYUIOPASDFGHJKLZXCVBNM234567QWERTYUIOPASDFGHJKL====="));
            annotations.insert("node.alpha.kubernetes.io/ttl".into(), json!("0"));
            let mut labels = serde_json::Map::new();
            labels.insert("kubernetes.io/hostname".into(), json!(name));
            labels.insert("kubernetes.io/os".into(), json!("linux"));
            labels.insert("node.kubernetes.io/instance-type".into(), json!("k3s"));
            if i < 7 {
                annotations.insert("etcd.k3s.cattle.io/node-name".into(), json!(format!("server-{i}-{:08x}", ids[i] as u32)));
                annotations.insert("etcd.k3s.cattle.io/node-address".into(), json!(ip(i)));
                labels.insert("node-role.kubernetes.io/control-plane".into(), json!("true"));
                labels.insert("node-role.kubernetes.io/etcd".into(), json!("true"));
                labels.insert("node-role.kubernetes.io/master".into(), json!("true"));
            }
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels, "annotations": annotations},
                   "status": {"addresses": [{"type": "InternalIP", "address": ip(i)}, {"type": "Hostname", "address": name}],
                              "conditions": [{"type": "Ready", "status": if i == 6 { "False" } else { "True" },
                                              "lastTransitionTime": "2026-11-20T08:01:55Z", "reason": "KubeletReady"}],
                              "nodeInfo": {"kubeletVersion": "v1.31.4+k3s1", "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                                           "kernelVersion": "6.1.0-28-amd64", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux",
                                           "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": ""}}})
        })
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
    std::fs::write(dir.join("nodes.yaml"), serde_yaml_ng::to_string(&list).expect("yaml")).expect("write");
}

fn bundle_figures() {
    let d = tempfile::tempdir().expect("tempdir");
    // ETCD_DOCTOR_BENCH_BUNDLE=DIR keeps the generated bundle there, to profile it by hand.
    let keep = std::env::var_os("ETCD_DOCTOR_BENCH_BUNDLE").map(std::path::PathBuf::from);
    let at = keep.clone().unwrap_or_else(|| d.path().to_path_buf());
    std::fs::create_dir_all(&at).expect("bundle dir");
    // Generated by a child process: a child forked from a parent holding the generator's
    // memory would count those pages in its own peak RSS.
    let exe = std::env::current_exe().expect("own path");
    let ok = Command::new(exe).arg("--generate").arg(&at).status().expect("generate").success();
    assert!(ok, "generating the bundle failed");
    let size = std::fs::metadata(at.join("nodes.yaml")).map(|m| m.len()).unwrap_or(0);
    let dir = at.display().to_string();
    let runs: Vec<(Duration, i64)> = (0..RUNS).map(|_| run_measured(&["--bundle", &dir, "-o", "json"])).collect();
    let wall = median(runs.iter().map(|r| r.0).collect());
    let rss = runs.iter().map(|r| r.1).max().unwrap_or(0);
    println!("bundle of 5,000 nodes ({:.1} MiB nodes.yaml) and 7 members, -o json", size as f64 / 1048576.0);
    println!("  wall median of {RUNS}: {:>8.3} s   target: < 0.100 s", wall.as_secs_f64());
    println!("  peak RSS (largest of {RUNS}): {:>6.1} MiB   target: < 50 MiB", rss as f64 / 1024.0);
}

fn startup_figures() {
    let runs: Vec<Duration> = (0..21).map(|_| run_measured(&["--version"]).0).collect();
    println!("--version start-up, median of 21: {:>8.4} s   target: < 0.010 s", median(runs).as_secs_f64());
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubectl-etcd_doctor"));
    let size = std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary size (release profile: opt-level z, LTO, stripped): {:>6.2} MiB   target: < 15 MiB",
        size as f64 / 1048576.0
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        measure_child(&args[i + 1..]);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        big_bundle(std::path::Path::new(&args[i + 1]), 5000);
        return;
    }
    bundle_figures();
    startup_figures();
    if std::env::var_os("ETCD_DOCTOR_BENCH_ONLY_OFFLINE").is_some() {
        return;
    }
    let mut five = Cluster::start(5);
    five.kill_and_wipe(3);
    five.pause(4);
    // The doctor is pointed at the three live members, as an operator would (the dead and
    // paused members are found through the member list).
    measure(
        "5 members, 1 killed + wiped, 1 paused (default timeouts: dial 2s, command 5s)",
        &five,
        3,
        "doctor <= 2.5 s",
    );
    five.resume(4);
    drop(five);

    let three = Cluster::start(3);
    measure("3 healthy members", &three, 3, "doctor <= 1.5x etcdctl");
}
