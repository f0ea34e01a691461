//! The harness itself behaves: clusters start on their own addresses, faults do what they say.

mod support;

use std::time::{Duration, Instant};

use support::Cluster;
use support::cluster::{EtcdVersion, V3_4, V3_5};

#[test]
fn three_members_with_distinct_ids_and_their_own_addresses() {
    let c = Cluster::start(3);
    let list = c.member_list();
    assert_eq!(list.len(), 3);
    let ids: std::collections::BTreeSet<u64> = list.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 3, "member ids are distinct: {ids:?}");
    for m in &c.members {
        assert!(list.iter().any(|l| l.peer_urls == vec![m.peer_url.clone()] && l.id == m.id), "{}", m.peer_url);
        assert!(m.ip.starts_with("127.") && m.ip != "127.0.0.1");
    }
    c.put_keys("smoke", 100);
    assert_eq!(c.count_keys("smoke"), 100);
}

#[test]
fn a_killed_member_stops_answering_and_learners_show_up() {
    let mut c = Cluster::start(3);
    let learner_peer = format!("https://{}:2380", c.spare_address());
    let lid = c.add_learner(&learner_peer);
    assert!(c.member_list().iter().any(|m| m.id == lid && m.learner && m.name.is_empty()));
    c.kill_and_wipe(2);
    assert!(!c.member(2).data_dir.exists());
    assert_eq!(c.endpoints().len(), 2);
    let t = Instant::now();
    let ep = c.member(2).client_url.clone();
    let r = std::net::TcpStream::connect_timeout(
        &ep.trim_start_matches("https://").parse().expect("socket address"),
        Duration::from_secs(3),
    );
    assert!(r.is_err() && t.elapsed() < Duration::from_secs(3));
}

#[test]
fn localhost_beside_127_0_0_1_is_accepted_by_etcd() {
    let mut c = Cluster::builder().members(1).first_member_on_127_0_0_1(true).start();
    let port = c.member(0).peer_url.rsplit(':').next().unwrap_or_default().to_string();
    let dup = format!("https://localhost:{port}");
    c.add_learner(&dup);
    let peers: Vec<String> = c.member_list().into_iter().flat_map(|m| m.peer_urls).collect();
    assert!(peers.contains(&dup) && peers.contains(&c.member(0).peer_url), "{peers:?}");
}

#[test]
fn parallel_clusters_get_distinct_addresses() {
    let a = std::thread::spawn(|| Cluster::start(1));
    let b = std::thread::spawn(|| Cluster::start(1));
    let (a, b) = (a.join().expect("a"), b.join().expect("b"));
    assert_ne!(a.member(0).ip, b.member(0).ip);
}

#[rstest::rstest]
fn a_cluster_runs_on_each_release(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 3);
    for i in 0..3 {
        let v = c.server_version(i).unwrap_or_default();
        assert!(v.starts_with(&format!("{}.", etcd.minor())), "member {i} on {etcd:?} reports {v:?}");
    }
    c.put_keys("release", 10);
    assert_eq!(c.count_keys("release"), 10);
}

#[test]
fn a_restart_script_swaps_one_member_to_3_5_and_the_harness_still_cleans_it_up() {
    let mut c = Cluster::builder().members(3).member_version(2, V3_5).start();
    assert!(c.server_version(2).is_some_and(|v| v.starts_with("3.5.")));
    assert!(c.server_version(0).is_some_and(|v| v.starts_with("3.4.")), "a mixed cluster");
    c.put_keys("before", 20);
    let script = c.restart_script(0, V3_5, true);
    let old = c.member(0).pid();
    let st = std::process::Command::new("sh").arg(&script).status().expect("sh");
    assert!(st.success(), "{}", std::fs::read_to_string(&script).unwrap_or_default());
    let new = c.member(0).pid();
    assert!(new.is_some() && new != old, "the pidfile names the new process: {old:?} -> {new:?}");
    c.wait_listening(0, Duration::from_secs(20));
    c.wait_healthy(Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !c.server_version(0).is_some_and(|v| v.starts_with("3.5.")) {
        assert!(Instant::now() < deadline, "member 0 did not come back on 3.5");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.count_keys("before"), 20);
    // A script that only stops the member: it stays down.
    let stop = c.restart_script(1, V3_5, false);
    assert!(std::process::Command::new("sh").arg(&stop).status().is_ok_and(|s| s.success()));
    assert!(c.server_version(1).is_none(), "member 1 stopped");
    let pid = new.unwrap_or_default();
    drop(c);
    let alive = std::process::Command::new("kill").args(["-0", &pid.to_string()]).status().is_ok_and(|s| s.success());
    let zombie_or_gone =
        !alive || std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| s.contains("State:\tZ"));
    assert!(zombie_or_gone, "the swapped-in process {pid} outlived the cluster");
}
