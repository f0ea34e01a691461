//! `--fix`, `plan` and `apply` against real etcd clusters, one fault per test. Every test writes
//! 1,000 keys first and reads them all back afterwards: a fix must never lose data.

mod support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::Value;
use support::Cluster;
use support::cluster::{EtcdVersion, V3_4, V3_5};
use support::proxy::Proxy;

const KEYS: usize = 1000;

/// The binary, kept away from any real Kubernetes API on the machine.
fn bin() -> Command {
    support::bin::command()
}

fn doctor_cmd() -> support::bin::Doctor {
    support::bin::doctor()
}

fn run(args: &[String]) -> (i32, Value, String) {
    let out: Output = doctor_cmd().args(args).output().expect("run doctor");
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), v, String::from_utf8_lossy(&out.stderr).to_string())
}

fn args(c: &Cluster, extra: &[&str]) -> Vec<String> {
    let mut a = c.tool_args();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn with_keys(c: &Cluster) {
    c.put_keys("fix", KEYS);
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

fn applied(v: &Value) -> Vec<(u64, String)> {
    v["applied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["n"].as_u64().unwrap_or(0), a["result"].as_str().unwrap_or_default().to_string()))
        .collect()
}

fn severities(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| f["severity"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[rstest]
fn a_dead_member_of_three_is_removed_and_two_remain(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    c.kill_and_wipe(2);
    let dead = c.member(2).id;
    // Stopped is not gone: without the operator's word the plan only brings it back.
    let (_, v, _) = run(&args(&c, &["-o", "json"]));
    let steps = v["plan"]["steps"].as_array().cloned().unwrap_or_default();
    assert!(steps.iter().all(|s| s["automatic"] == false) && !steps.is_empty(), "{v}");
    let id = format!("{dead:x}");
    let (code, v, err) = run(&args(&c, &["--fix", "--yes", "-o", "json", "--remove-member", &id]));
    assert_eq!(code, 1, "a healthy 2-member cluster is a warning: {err}\n{v}");
    assert_eq!(applied(&v), vec![(1, "done".to_string())]);
    assert!(!severities(&v).contains(&"critical".to_string()), "{v}");
    let list = c.member_list();
    assert_eq!(list.len(), 2);
    assert!(!list.iter().any(|m| m.id == dead));
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn two_dead_of_three_is_refused_and_nothing_changes(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    c.kill_and_wipe(1);
    c.kill_and_wipe(2);
    let out = doctor_cmd().args(args(&c, &["--fix", "--yes"])).output().expect("run");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(stderr.contains("refused"), "{stderr}");
    // Refused at client and peer URLs the two are proven down: quorum loss is proven and the
    // recovery (force-new-cluster last) is advised. Seen only at their client URLs (peer URLs
    // not dialled) nothing proves it (and m0 may still claim leadership for an election
    // timeout), so it is undecided and no data-losing advice may appear.
    let header = stdout.lines().next().unwrap_or_default();
    if header.contains("QUORUM LOST") {
        assert!(stdout.contains("--force-new-cluster") && stdout.contains("DATA LOSS"), "{stdout}");
    } else {
        assert!(header.contains("could not decide"), "{stdout}");
        assert!(!stdout.contains("--force-new-cluster"), "{stdout}");
    }
    assert!(stdout.contains("[manual]"), "{stdout}");
    // Only member 0 runs, and it still lists all three.
    assert_eq!(c.member_list().len(), 3);
}

#[rstest]
fn a_lost_reply_is_resolved_by_listing_again(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    c.kill_and_wipe(2);
    let dead = c.member(2).id;
    // The tool talks to etcd through the proxy; replies come back 500 ms late, so the direct
    // poller below sees the removal while etcd's reply is still held in the proxy.
    let ip = c.member(0).ip.clone();
    let proxy =
        Proxy::start(&format!("{ip}:23790"), format!("{ip}:2379").parse().expect("addr"), Duration::from_millis(500));
    let id = format!("{dead:x}");
    let mut a = args(
        &c,
        &["--fix", "--yes", "-o", "json", "--dial-timeout", "15s", "--command-timeout", "15s", "--remove-member", &id],
    );
    a[1] = format!("https://{}", proxy.addr);
    let mut child = bin().args(&a).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    // As soon as etcd has removed the member, cut every connection: its reply is still in the proxy.
    let deadline = Instant::now() + Duration::from_secs(90);
    while c.member_list().iter().any(|m| m.id == dead) {
        if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "the member was not removed; the tool said:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    proxy.cut_all();
    let out = child.wait_with_output().expect("wait");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(applied(&v), vec![(1, "done".to_string())], "{v}\n{stderr}");
    let msg = v["applied"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("reply was lost") && msg.contains("fresh member list"), "{msg}");
    assert_eq!(c.member_list().len(), 2);
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[rstest]
fn an_interrupted_apply_resumes_and_reports_already_done(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 5);
    with_keys(&c);
    c.kill_and_wipe(3);
    c.kill_and_wipe(4);
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("plan.yaml");
    // Generous timeouts: on a loaded machine a slow live member must not look unreachable, which
    // would (rightly) make apply refuse the plan as changed. The dead members refuse at once.
    let slow = ["--dial-timeout", "10s", "--command-timeout", "10s"];
    let (d3, d4) = (format!("{:x}", c.member(3).id), format!("{:x}", c.member(4).id));
    let remove = ["--remove-member", d3.as_str(), "--remove-member", d4.as_str()];
    let out = doctor_cmd()
        .args(args(&c, &[&["plan", "-o", "yaml"][..], &slow[..], &remove[..]].concat()))
        .output()
        .expect("plan");
    std::fs::write(&plan, &out.stdout).expect("write plan");
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(yaml.matches("action: remove-member").count(), 2, "{yaml}");
    // Apply with a pause before each step, and kill the tool once the first removal happened.
    let mut a = args(&c, &[&["apply", "--yes"][..], &slow[..]].concat());
    a.push("-f".into());
    a.push(plan.display().to_string());
    let log = dir.path().join("apply.log");
    let out_log = dir.path().join("apply.out");
    let child = bin()
        .args(&a)
        .env("ETCD_DOCTOR_STEP_DELAY", "1500ms")
        .stdout(std::fs::File::create(&out_log).expect("out log"))
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let mut child = child;
    wait_for(
        || {
            if let Ok(Some(status)) = child.try_wait() {
                // A refused step is reported on stdout (the APPLIED section), not stderr.
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                let out = std::fs::read_to_string(&out_log).unwrap_or_default();
                panic!("apply ended ({status}) before the first removal was seen:\n{said}\n{out}");
            }
            c.member_list().len() == 4
        },
        "the first removal",
    );
    kill(child);
    assert_eq!(c.member_list().len(), 4, "killed before the second step");
    // The same plan again: step 1 already happened, step 2 runs.
    a.extend(["-o".to_string(), "json".to_string()]);
    let (code, v, err) = run(&a);
    assert!(err.contains("resuming"), "{err}");
    assert_eq!(applied(&v), vec![(1, "already-done".to_string()), (2, "done".to_string())], "{v}");
    assert_eq!(code, 0, "{v}");
    assert_eq!(c.member_list().len(), 3);
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn a_paused_member_that_comes_back_is_never_removed(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    c.pause(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("plan.yaml");
    let paused = format!("{:x}", c.member(2).id);
    // Paused is hung, not gone: no removal unless the operator asks for it.
    let out = doctor_cmd().args(args(&c, &["plan", "-o", "yaml", "--dial-timeout", "1s"])).output().expect("plan");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("action: remove-member"));
    let out = doctor_cmd()
        .args(args(&c, &["plan", "-o", "yaml", "--dial-timeout", "1s", "--remove-member", &paused]))
        .output()
        .expect("plan");
    std::fs::write(&plan, &out.stdout).expect("write plan");
    assert!(String::from_utf8_lossy(&out.stdout).contains("action: remove-member"));
    c.resume(2);
    c.wait_healthy(Duration::from_secs(20));
    let mut a = args(&c, &["apply", "--yes", "-f"]);
    a.push(plan.display().to_string());
    let (code, _, err) = run(&a);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("changed since the plan") && err.contains("did not answer then, answered now"), "{err}");
    assert_eq!(c.member_list().len(), 3);

    // The executor's own check: the member resumes after the plan was shown, before the step.
    c.pause(2);
    let child = bin()
        .args(args(&c, &["--fix", "--yes", "-o", "json", "--dial-timeout", "1s", "--remove-member", &paused]))
        .env("ETCD_DOCTOR_STEP_DELAY", "4s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(2500));
    c.resume(2);
    let out = child.wait_with_output().expect("wait");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(4), "{v}");
    assert_eq!(applied(&v), vec![(1, "refused".to_string())], "{v}");
    assert!(v["applied"][0]["message"].as_str().unwrap_or_default().contains("answers again"));
    assert_eq!(c.member_list().len(), 3);
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn a_plan_made_before_a_membership_change_is_refused(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("plan.yaml");
    let mine = format!("https://{}:2380", c.spare_address());
    let out = doctor_cmd()
        .args(args(&c, &["plan", "add-member", "--name", "m9", "--peer-url", &mine, "-o", "yaml"]))
        .output()
        .expect("plan");
    std::fs::write(&plan, &out.stdout).expect("write plan");
    // Someone else adds a member meanwhile.
    let theirs = format!("https://{}:2380", c.spare_address());
    let learner = c.add_learner(&theirs);
    let mut a = args(&c, &["apply", "--yes", "-f"]);
    a.push(plan.display().to_string());
    let (code, _, err) = run(&a);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains(&format!("member {learner:x}")) && err.contains("is new"), "{err}");
    let listed = c.member_list();
    assert_eq!(listed.len(), 4, "nothing added");
    assert!(!listed.iter().any(|m| m.peer_urls == vec![mine.clone()]));
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn removing_an_unstarted_voter_restores_fault_tolerance(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    let (id, _) = c.add_unstarted_member();
    let (code, v, err) = run(&args(&c, &["--fix", "--yes", "-o", "json"]));
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(applied(&v), vec![(1, "done".to_string())]);
    assert_eq!(v["quorum"]["faultTolerance"], 1);
    assert!(!c.member_list().iter().any(|m| m.id == id));
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn add_member_never_adds_a_peer_url_twice(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    // Already present, spelled differently: no plan step, no second add.
    let present = c.member(1).peer_url.to_uppercase().replace("HTTPS", "https") + "/";
    let (code, v, err) =
        run(&args(&c, &["plan", "add-member", "--name", "again", "--peer-url", &present, "-o", "json"]));
    assert_eq!(code, 0);
    assert!(err.contains("already a member"), "{err}");
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(0));

    // A new one: applying adds a learner once; a second apply finds it already added.
    let peer = format!("https://{}:2380", c.spare_address());
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("add.yaml");
    let out = doctor_cmd()
        .args(args(&c, &["plan", "add-member", "--name", "m9", "--peer-url", &peer, "-o", "yaml"]))
        .output()
        .expect("plan");
    std::fs::write(&plan, &out.stdout).expect("write plan");
    let mut a = args(&c, &["apply", "--yes", "--wait-learner", "2s", "-o", "json", "-f"]);
    a.push(plan.display().to_string());
    let (code, v, err) = run(&a);
    // Nobody starts the new member, so the promotion cannot happen: the add is done, the
    // promotion fails cleanly after --wait-learner.
    assert_eq!(applied(&v), vec![(1, "done".to_string()), (3, "failed".to_string())], "{v}");
    assert_eq!(code, 4);
    // While it waited, it said what to start, with the etcd flags of the plan's start step.
    assert!(err.contains("start it now: learner") && err.contains("--initial-cluster-state existing"), "{err}");
    assert!(err.contains("--name m9") && err.contains(&peer), "{err}");
    // Running out of time says what was left behind and the ways on and back.
    let learner =
        c.member_list().into_iter().find(|m| m.peer_urls == vec![peer.clone()]).map(|m| format!("{:x}", m.id));
    let msg = v["applied"][1]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("left in the cluster as a learner") && msg.contains("--wait-learner"), "{msg}");
    assert!(learner.is_some_and(|id| msg.contains(&format!("etcdctl member remove {id}"))), "{msg}");
    let (_, v2, _) = run(&a);
    assert_eq!(applied(&v2).first(), Some(&(1, "already-done".to_string())), "{v2}");
    let listed = c.member_list();
    assert_eq!(listed.iter().filter(|m| m.peer_urls == vec![peer.clone()]).count(), 1);
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[test]
fn plan_add_member_refuses_a_name_in_use_warns_on_plain_http_and_an_all_manual_plan_applies_nothing() {
    let mut c = Cluster::start(3);
    with_keys(&c);
    let spare = format!("https://{}:2380", c.spare_address());
    let taken = c.member(1).name.clone();
    let (code, _, err) = run(&args(&c, &["plan", "add-member", "--name", &taken, "--peer-url", &spare, "-o", "json"]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains(&format!("the name {taken} is already used by member")) && err.contains("pick another --name"),
        "{err}"
    );

    let plain = spare.replace("https://", "http://");
    let (code, v, err) = run(&args(&c, &["plan", "add-member", "--name", "m9", "--peer-url", &plain, "-o", "json"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("warning: the peer URL {plain} is plain http")), "{err}");
    assert!(v["steps"][0]["description"].as_str().unwrap_or_default().contains("warning"), "{v}");

    // With a voter down, every step of the plan is manual: apply says so and lists them.
    c.kill_and_wipe(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("add.yaml");
    let out = doctor_cmd()
        .args(args(&c, &["plan", "add-member", "--name", "m9", "--peer-url", &spare, "-o", "yaml"]))
        .output()
        .expect("plan");
    std::fs::write(&plan, &out.stdout).expect("write plan");
    let mut a = args(&c, &["apply", "--yes", "-f"]);
    a.push(plan.display().to_string());
    let out = doctor_cmd().args(&a).output().expect("apply");
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{err}");
    assert!(err.contains("nothing automatic to apply") && err.contains("1. first remove or repair"), "{err}");
    assert!(!stdout.contains("APPLIED"), "{stdout}");
    assert_eq!(c.member_list().len(), 3, "nothing added");
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn without_a_terminal_and_without_yes_fix_refuses(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    c.kill_and_wipe(2);
    // An automatic step to confirm: the operator's removal of the stopped member.
    let id = format!("{:x}", c.member(2).id);
    let out = bin().args(args(&c, &["--fix", "--remove-member", &id])).stdin(Stdio::null()).output().expect("run");
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
    assert_eq!(c.member_list().len(), 3);
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn add_member_adds_a_learner_waits_for_it_and_promotes_it_without_restarting_anyone(
    #[values(V3_4, V3_5)] etcd: EtcdVersion,
) {
    let mut c = Cluster::start_on(etcd, 3);
    with_keys(&c);
    let pids: Vec<Option<u32>> = c.members.iter().map(|m| m.pid()).collect();
    let i = c.prepare_member("m3");
    let peer = c.member(i).peer_url.clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("add.yaml");
    let out = doctor_cmd()
        .args(args(&c, &["plan", "add-member", "--name", "m3", "--peer-url", &peer, "-o", "yaml"]))
        .output()
        .expect("plan");
    std::fs::write(&plan, &out.stdout).expect("write plan");
    let mut a = args(&c, &["apply", "--yes", "--wait-learner", "60s", "-o", "json", "-f"]);
    a.push(plan.display().to_string());
    let child = bin().args(&a).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    // The operator starts the new member once it was added (the plan's manual step).
    wait_for(|| c.member_list().iter().any(|m| m.peer_urls == vec![peer.clone()]), "the learner add");
    c.start_joining(i);
    let out = child.wait_with_output().expect("wait");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(
        applied(&v),
        vec![(1, "done".to_string()), (3, "done".to_string())],
        "{v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "4 healthy voters: only an info finding (even count): {v}");
    let list = c.member_list();
    assert_eq!(list.len(), 4);
    assert!(list.iter().all(|m| !m.learner), "{list:?}");
    // The Kubespray lesson: no existing member was restarted.
    let after: Vec<Option<u32>> = c.members[..3].iter().map(|m| m.pid()).collect();
    assert_eq!(after, pids);
    assert_eq!(c.verify_keys("fix", KEYS), KEYS);
}

#[rstest]
fn plan_restart_is_followers_first_then_the_leader_one_at_a_time(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 3);
    let out = doctor_cmd().args(args(&c, &["plan", "restart", "-o", "json"])).output().expect("run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let steps: Vec<String> = v["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["description"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[2].contains("the leader, last"), "{steps:?}");
    assert!(v["steps"].as_array().into_iter().flatten().all(|s| s["automatic"] == false));
}
