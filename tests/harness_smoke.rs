//! The harness itself behaves: clusters start on their own addresses, faults do what they say.

mod support;

use std::time::{Duration, Instant};

use support::Cluster;

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
