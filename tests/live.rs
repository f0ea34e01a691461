//! The doctor against real etcd clusters (started by the harness) in the states the incidents
//! left them in, and the same states captured with the real etcdctl and read back as bundles.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::Value;
use support::Cluster;
use support::cluster::{EtcdVersion, V3_4, V3_5};
use support::pki::{Kind, Pki};
use support::report::{findings, map};

struct Run {
    code: i32,
    report: Value,
    stderr: String,
    elapsed: Duration,
}

fn doctor(args: &[String]) -> Run {
    let t = Instant::now();
    let out = support::bin::doctor().args(args).args(["-o", "json"]).output().expect("run doctor");
    let elapsed = t.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Run { code: out.status.code().unwrap_or(-1), report, stderr, elapsed }
}

fn live(c: &Cluster, extra: &[&str]) -> Run {
    let mut args = c.tool_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let r = doctor(&args);
    assert!(r.report.is_object(), "no JSON report; exit {} stderr: {}", r.code, r.stderr);
    r
}

fn hex(id: u64) -> String {
    format!("{id:x}")
}

fn member(r: &Value, id: u64) -> &Value {
    r["members"].as_array().and_then(|a| a.iter().find(|m| m["id"] == hex(id))).unwrap_or(&Value::Null)
}

/// Captures a bundle with the real etcdctl of the cluster's release, as an operator would.
fn capture_bundle(c: &Cluster, dir: &Path) {
    let run = |args: &[&str], file: &str| {
        let out = Command::new(c.member(0).version.etcdctl())
            .envs(c.etcdctl_env())
            .args(["--dial-timeout=1s", "--command-timeout=2s"])
            .args(args)
            .output()
            .expect("etcdctl (apt-get install -y etcd-client)");
        std::fs::write(dir.join(file), &out.stdout).expect("write bundle file");
    };
    run(&["member", "list", "-w", "json"], "member-list.json");
    run(&["endpoint", "status", "--cluster", "-w", "json"], "endpoint-status.json");
    run(&["endpoint", "health", "--cluster", "-w", "json"], "endpoint-health.json");
}

fn from_bundle(c: &Cluster) -> Run {
    let d = tempfile::tempdir().expect("tempdir");
    capture_bundle(c, d.path());
    doctor(&["--bundle".to_string(), d.path().display().to_string()])
}

#[rstest]
fn healthy_three_members_exit_0_with_a_full_member_table(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 3);
    let r = live(&c, &[]);
    assert_eq!(r.code, 0, "{}", r.report);
    assert_eq!(findings(&r.report), map(&[]));
    assert_eq!(r.report["source"], "live");
    assert_eq!(
        r.report["quorum"],
        serde_json::json!({"voters": 3, "quorum": 2, "healthyVoters": 3, "faultTolerance": 1, "unknownVoters": 0,
            "healthyVotersMin": 3, "healthyVotersMax": 3})
    );
    let leaders = r.report["members"].as_array().map(|a| a.iter().filter(|m| m["leader"] == true).count());
    assert_eq!(leaders, Some(1));
    for m in &c.members {
        let row = member(&r.report, m.id);
        assert_eq!(row["name"], m.name.as_str());
        assert_eq!(row["reachable"], true);
        let v = row["version"].as_str().unwrap_or_default();
        assert!(v.starts_with(&format!("{}.", etcd.minor())), "{etcd:?} member reports {v:?}");
        assert!(row["dbSizeBytes"].as_i64().is_some_and(|n| n > 0));
    }
    assert!(r.report["clusterID"].is_string());
    // The same state through etcdctl's captured output.
    let b = from_bundle(&c);
    assert_eq!((b.code, findings(&b.report)), (0, map(&[])), "{}", b.report);
}

#[rstest]
fn killed_and_wiped_member_is_stale_and_cuts_tolerance_to_zero(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    c.kill_and_wipe(2);
    let dead = c.member(2).id;
    // Only a surviving member is given: the dead one is found through the member list.
    let mut args = c.tool_args();
    args[1] = c.member(0).client_url.clone();
    let r = doctor(&args);
    assert_eq!(r.code, 2, "{}", r.report);
    let want = map(&[("stale-member", "critical"), ("quorum-at-risk", "critical")]);
    assert_eq!(findings(&r.report), want);
    let stale = r.report["findings"].as_array().and_then(|a| a.iter().find(|f| f["check"] == "stale-member")).cloned();
    assert_eq!(stale.as_ref().map(|f| f["memberID"].clone()), Some(Value::String(hex(dead))));
    assert_eq!(member(&r.report, dead)["reachable"], false);
    assert_eq!(r.report["quorum"]["healthyVoters"], 2);
    // Refused at its client and peer URLs it is proven down (tolerance 0); with its peer URL
    // not dialled it is only unreachable, and the tolerance is undecided between 0 and 1.
    let state = member(&r.report, dead)["state"].clone();
    match state.as_str() {
        Some("down") => assert_eq!(r.report["quorum"]["faultTolerance"], 0),
        Some("unreachable") => {
            assert!(r.report["quorum"]["faultTolerance"].is_null(), "{}", r.report["quorum"]);
            assert_eq!(r.report["quorum"]["healthyVotersMax"], 3);
        }
        other => panic!("a killed member is down or unreachable, not {other:?}"),
    }
    assert_eq!(r.report["quorum"]["healthyVotersMin"], 2);
    let errors = member(&r.report, dead)["probeErrors"].to_string();
    assert!(errors.contains("onnection refused"), "{errors}");
    let b = from_bundle(&c);
    assert_eq!((b.code, findings(&b.report)), (2, want), "{}", b.report);
}

#[rstest]
fn paused_members_cost_one_timeout_not_one_each(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 5);
    // The leader and one follower: with the leader gone, anything that needs raft (the Alarm
    // RPC, say) would wait out an election and the command timeout.
    let leader = c.leader();
    let other = if leader == 4 { 3 } else { 4 };
    c.pause(leader);
    c.pause(other);
    // A paused etcd accepts TCP but never finishes the TLS handshake: that must cost the dial
    // timeout (1s) once, not dial + command (6s) and not once per member (12s).
    let r = live(&c, &["--dial-timeout", "1s", "--command-timeout", "5s"]);
    c.resume(leader);
    c.resume(other);
    assert!(r.elapsed < Duration::from_millis(3000), "took {:?}", r.elapsed);
    assert_eq!(r.code, 2, "{}", r.report);
    assert_eq!(findings(&r.report), map(&[("stale-member", "critical"), ("quorum-at-risk", "critical")]));
    for i in [leader, other] {
        assert_eq!(member(&r.report, c.member(i).id)["reachable"], false);
    }
}

#[rstest]
fn unstarted_voter_eats_fault_tolerance(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    let (id, _) = c.add_unstarted_member();
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    let want = map(&[("unstarted-member", "critical"), ("quorum-at-risk", "critical")]);
    assert_eq!(findings(&r.report), want);
    assert_eq!(r.report["quorum"]["voters"], 4);
    assert_eq!(r.report["quorum"]["faultTolerance"], 0);
    assert_eq!(member(&r.report, id)["name"], "");
    assert_eq!(member(&r.report, id)["reachable"], false);
    let b = from_bundle(&c);
    assert_eq!((b.code, findings(&b.report)), (2, want), "{}", b.report);
}

#[rstest]
fn localhost_learner_duplicates_the_member_on_127_0_0_1(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::builder().version(etcd).members(3).first_member_on_127_0_0_1(true).start();
    let port = c.member(0).peer_url.rsplit(':').next().unwrap_or_default().to_string();
    let dup = c.add_learner(&format!("https://localhost:{port}"));
    let r = live(&c, &[]);
    let want = map(&[("duplicate-peer-url", "critical"), ("unstarted-member", "warning")]);
    assert_eq!(findings(&r.report), want, "{}", r.report);
    let f =
        r.report["findings"].as_array().and_then(|a| a.iter().find(|f| f["check"] == "duplicate-peer-url")).cloned();
    assert_eq!(f.map(|f| f["memberID"].clone()), Some(Value::String(hex(dup))), "the unstarted learner is the suspect");
    let b = from_bundle(&c);
    assert_eq!(findings(&b.report), want, "{}", b.report);
}

#[rstest]
fn a_wiped_member_that_bootstrapped_its_own_cluster_is_not_counted_as_up(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    c.restart_as_new_cluster(2);
    let old = c.members[2].id;
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    assert_eq!(
        findings(&r.report),
        map(&[("stale-member", "critical"), ("quorum-at-risk", "critical"), ("split-brain", "critical")])
    );
    let sb = r.report["findings"].as_array().and_then(|a| a.iter().find(|f| f["check"] == "split-brain")).cloned();
    assert_eq!(sb.map(|f| f["memberID"].clone()), Some(Value::String(hex(old))), "the rogue member is named");
    let row = member(&r.report, old);
    assert_eq!(row["reachable"], false);
    assert!(row["probeErrors"].to_string().contains("bootstrapped a new cluster"), "{row}");
    assert!(r.report["gaps"].to_string().contains("another cluster"));
}

#[rstest]
fn the_first_answer_does_not_decide_which_cluster_is_diagnosed(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    c.restart_as_new_cluster(2);
    // The real cluster answers 300 ms late through a proxy; the rogue one-member cluster at once.
    let ip = c.member(0).ip.clone();
    let proxy = support::proxy::Proxy::start(
        &format!("{ip}:23791"),
        format!("{ip}:2379").parse().expect("addr"),
        Duration::from_millis(300),
    );
    let mut args = c.tool_args();
    args[1] = format!("https://{},{}", proxy.addr, c.member(2).client_url);
    args.extend(["--dial-timeout".into(), "5s".into()]);
    let r = doctor(&args);
    assert_eq!(r.report["members"].as_array().map(Vec::len), Some(3), "{}", r.report);
    assert_eq!(
        findings(&r.report),
        map(&[("stale-member", "critical"), ("quorum-at-risk", "critical"), ("split-brain", "critical")])
    );
    assert!(r.report["gaps"].to_string().contains("split brain"), "{}", r.report["gaps"]);
}

#[rstest]
fn a_ca_that_did_not_sign_the_server_is_named_as_such(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 1);
    let foreign = Pki::new(&c.dir().join("foreign"), "some-other-ca");
    let (cert, key) = foreign.issue("client", &[], Kind::Client);
    let r = doctor(&[
        "--endpoints".into(),
        c.member(0).client_url.clone(),
        "--cacert".into(),
        foreign.ca_path.display().to_string(),
        "--cert".into(),
        cert.display().to_string(),
        "--key".into(),
        key.display().to_string(),
    ]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("did not sign the etcd server's certificate"), "{}", r.stderr);
    assert!(r.stderr.contains(&c.member(0).client_url), "{}", r.stderr);
}

#[rstest]
fn members_subcommand_and_table_output(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 3);
    let out = support::bin::doctor().args(c.tool_args()).arg("members").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for m in &c.members {
        assert!(text.contains(&hex(m.id)) && text.contains(&m.client_url), "{text}");
    }
    assert!(text.contains("3 voters, quorum 2, 3 healthy, tolerates 1 failure"), "{text}");
}
