//! Diagnosis time against etcdctl, on real clusters: `cargo bench --bench diagnosis`.
//! Prints figures; asserts nothing (speed is measured here, not in timed tests).
//!
//! 1. five members, one killed and wiped, one paused (SIGSTOP): the doctor (`-o json`) against
//!    `etcdctl member list` + `etcdctl endpoint status --cluster`, both with default timeouts
//!    (dial 2s, command 5s). Target: the doctor <= dial timeout + 0.5 s.
//! 2. three healthy members: the same pair. Target: the doctor <= 1.5x etcdctl.

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

fn main() {
    if std::env::args().any(|a| a == "--list") {
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
