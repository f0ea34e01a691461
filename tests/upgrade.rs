//! A real rolling upgrade: a live 3-member etcd 3.4.23 TLS cluster goes to 3.5.1 through
//! `plan upgrade` and `apply`, with a restart command that swaps one member's binary (the
//! harness's restart script: stop the process, start 3.5.1 on the same data with the same
//! flags). A writer puts keys the whole time; a monitor dials every member's client port every
//! 50 ms, so "never two members down at once" (quorum kept) and each member's downtime are
//! measured, not assumed. Also: the gate refusing to go on when the upgraded member does not
//! come back, and `audit --gate`'s exit codes.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};
use serde_json::Value;
use support::Cluster;
use support::bin::doctor;
use support::cluster::V3_5;

/// `plan upgrade --target-version 3.5.1 -o yaml` written to `dir/plan.yaml`; its JSON too.
fn make_plan(c: &Cluster, dir: &Path) -> (PathBuf, Value) {
    // 3.5.1 is a release etcd tells users to avoid (critical: no restarts would be planned);
    // it is the only 3.5 the test machine has, so that one check is skipped here.
    let r = doctor()
        .args(c.tool_args())
        .args(["plan", "upgrade", "--target-version", "3.5.1", "--skip", "etcd-release-to-avoid", "-o", "json"])
        .run();
    assert_eq!(r.code, 0, "plan upgrade: {}\n{}", r.stdout, r.stderr);
    let plan = r.json_strict();
    let path = dir.join("plan.json");
    std::fs::write(&path, &r.stdout).expect("write plan");
    (path, plan)
}

/// The member ids of the plan's restart steps, in order.
fn restart_order(plan: &Value) -> Vec<String> {
    plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["action"] == "restart-member")
        .map(|s| s["memberID"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn index_of(c: &Cluster, id: &str) -> usize {
    (0..3).find(|&i| format!("{:x}", c.member(i).id) == id).unwrap_or_else(|| panic!("no member {id}"))
}

/// The restart command for every member: the harness script of `{name}`.
fn restart_command(c: &Cluster) -> String {
    format!("sh {}/restart-{{name}}.sh", c.dir().display())
}

fn client_options(c: &Cluster) -> ConnectOptions {
    let ca = std::fs::read(c.cacert()).expect("ca");
    let cert = std::fs::read(c.client_cert()).expect("cert");
    let key = std::fs::read(c.client_key()).expect("key");
    ConnectOptions::new()
        .with_connect_timeout(Duration::from_millis(500))
        .with_timeout(Duration::from_secs(2))
        .with_tls(TlsOptions::new().ca_certificate(Certificate::from_pem(ca)).identity(Identity::from_pem(cert, key)))
}

/// Puts `during/<n>` as fast as a 2-core machine shared with etcd allows (a pause of 20 ms),
/// one member per write in turn, so a dead member is skipped: a refused write means the
/// cluster refused it (no leader, no quorum, a timeout), not that one client URL was down.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<WriterLog>,
}

#[derive(Default)]
struct WriterLog {
    acked: Vec<(u64, Instant)>,
    refused: Vec<(Instant, String)>,
}

impl Writer {
    fn start(c: &Cluster) -> Writer {
        let endpoints = c.endpoints();
        let opts = client_options(c);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let mut log = WriterLog::default();
            let mut n = 0u64;
            rt.block_on(async {
                while !flag.load(Ordering::Relaxed) {
                    n += 1;
                    let mut last = String::from("no member answered");
                    let mut done = false;
                    // Any member may take the write (a follower forwards it to the leader).
                    for k in 0..endpoints.len() {
                        let ep = &endpoints[(n as usize + k) % endpoints.len()];
                        let put = async {
                            let mut cl = Client::connect([ep.as_str()], Some(opts.clone())).await?;
                            cl.put(format!("during/{n:06}"), format!("value-{n}"), None).await
                        };
                        match tokio::time::timeout(Duration::from_secs(3), put).await {
                            Ok(Ok(_)) => {
                                done = true;
                                break;
                            }
                            Ok(Err(e)) => last = e.to_string(),
                            Err(_) => last = "timed out after 3s".into(),
                        }
                    }
                    if done {
                        log.acked.push((n, Instant::now()));
                    } else {
                        log.refused.push((Instant::now(), last));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            });
            log
        });
        Writer { stop, handle }
    }

    fn finish(self) -> WriterLog {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("writer thread")
    }
}

/// Every 50 ms: which members' client ports accept a connection. A member's downtime is the
/// span its port is closed.
struct Monitor {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(Instant, [bool; 3])>>,
}

impl Monitor {
    fn start(c: &Cluster) -> Monitor {
        let addrs: Vec<String> =
            (0..3).map(|i| c.member(i).client_url.trim_start_matches("https://").to_string()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let mut up = [false; 3];
                for (i, a) in addrs.iter().enumerate() {
                    up[i] = a.parse().ok().is_some_and(|sa| {
                        std::net::TcpStream::connect_timeout(&sa, Duration::from_millis(200)).is_ok()
                    });
                }
                samples.push((Instant::now(), up));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        });
        Monitor { stop, handle }
    }

    fn finish(self) -> Vec<(Instant, [bool; 3])> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("monitor thread")
    }
}

/// The spans (start, end) during which member i's port was closed.
fn down_spans(samples: &[(Instant, [bool; 3])], i: usize) -> Vec<(Instant, Instant)> {
    let mut spans = Vec::new();
    let mut start: Option<Instant> = None;
    for (t, up) in samples {
        match (up[i], start) {
            (false, None) => start = Some(*t),
            (true, Some(s)) => {
                spans.push((s, *t));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, samples.last().map_or(s, |x| x.0)));
    }
    spans
}

fn keys_under(c: &Cluster, prefix: &str) -> BTreeSet<String> {
    let key = format!("{prefix}/");
    c.read(|mut cl| {
        let key = key.clone();
        async move {
            let r = cl.get(key, Some(GetOptions::new().with_prefix().with_keys_only())).await?;
            Ok(r.kvs().iter().map(|kv| kv.key_str().unwrap_or_default().to_string()).collect())
        }
    })
    .unwrap_or_else(|e| panic!("read {prefix}: {e}"))
}

/// "… 2.3 s after the restart began …" from a gate's message.
fn seconds_after_restart(msg: &str) -> Option<f64> {
    let (before, _) = msg.split_once(" s after the restart began")?;
    before.rsplit(' ').next()?.parse().ok()
}

#[test]
fn a_3_4_cluster_is_upgraded_to_3_5_member_by_member_with_writes_throughout() {
    let t0 = Instant::now();
    let mut c = Cluster::start(3);
    c.put_keys("before", 200);
    // Without the skip, 3.5.1 (a release etcd tells users to avoid) blocks the plan: no restart.
    let r = doctor().args(c.tool_args()).args(["plan", "upgrade", "--target-version", "3.5.1", "-o", "json"]).run();
    let blocked = r.json_strict();
    assert!(restart_order(&blocked).is_empty(), "{blocked:#}");
    assert!(r.stdout.contains("etcd-release-to-avoid"), "the blocker is named: {}", r.stdout);
    let dir = tempfile::tempdir().expect("tempdir");
    let (plan_file, plan) = make_plan(&c, dir.path());
    let order = restart_order(&plan);
    assert_eq!(order.len(), 3, "one restart per member: {plan:#}");
    let leader = format!("{:x}", c.member(c.leader()).id);
    assert_eq!(order.last(), Some(&leader), "the leader last: {plan:#}");
    let actions: Vec<&str> =
        plan["steps"].as_array().into_iter().flatten().filter_map(|s| s["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["backup", "restart-member", "gate", "restart-member", "gate", "restart-member", "gate"],
        "{plan:#}"
    );
    assert!(
        plan["steps"][0]["commands"][0]
            .as_str()
            .is_some_and(|s| s.contains("etcdctl --endpoints=") && s.contains("snapshot save"))
    );
    for i in 0..3 {
        c.restart_script(i, V3_5, true);
    }
    let backups = dir.path().join("backups");

    let writer = Writer::start(&c);
    let monitor = Monitor::start(&c);
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let r = doctor()
        .args(c.tool_args())
        .args(["apply", "--yes", "-o", "json", "--gate-timeout", "30s", "--restart-command"])
        .arg(restart_command(&c))
        .arg("--backup-dir")
        .arg(&backups)
        .arg("-f")
        .arg(&plan_file)
        .run();
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let samples = monitor.finish();
    let log = writer.finish();
    let report = r.json_strict();
    let applied: Vec<(String, String)> = report["applied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["result"].as_str().unwrap_or_default().to_string(),
                a["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(r.code == 0 || r.code == 1, "apply exit {}: {applied:#?}\n{}", r.code, r.stderr);
    assert_eq!(applied.len(), 7, "{applied:#?}");
    assert!(applied.iter().all(|(res, _)| res == "done"), "{applied:#?}");

    // Every member answers at 3.5.1.
    for i in 0..3 {
        let v = c.server_version(i).unwrap_or_default();
        assert_eq!(v, "3.5.1", "member {i}");
    }
    // Keys before, during and after.
    assert_eq!(c.verify_keys("before", 200), 200);
    let present = keys_under(&c, "during");
    let missing: Vec<u64> =
        log.acked.iter().map(|(n, _)| *n).filter(|n| !present.contains(&format!("during/{n:06}"))).collect();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(log.acked.len() > 20, "the writer wrote too little to prove anything: {}", log.acked.len());
    c.put_keys("after", 50);
    assert_eq!(c.verify_keys("after", 50), 50);
    // The backup.
    let files: Vec<_> = std::fs::read_dir(&backups).expect("backup dir").flatten().collect();
    assert_eq!(files.len(), 1, "one snapshot file");
    assert!(files[0].metadata().map(|m| m.len()).unwrap_or(0) > 4096, "the snapshot is a database, not a stub");

    // Quorum kept: never two members down at one sample; each member down exactly once.
    let two_down = samples.iter().filter(|(_, up)| up.iter().filter(|u| !**u).count() >= 2).count();
    assert_eq!(two_down, 0, "two members were down at once in {two_down} sample(s)");
    let mut lines = Vec::new();
    for id in &order {
        let i = index_of(&c, id);
        let spans = down_spans(&samples, i);
        assert_eq!(spans.len(), 1, "member {i} down once: {} span(s)", spans.len());
        let (from, to) = spans[0];
        let refused = log.refused.iter().filter(|(t, _)| *t >= from && *t <= to + Duration::from_secs(1)).count();
        let acked = log.acked.iter().filter(|(_, t)| *t >= from && *t <= to).count();
        lines.push(format!(
            "m{i} ({id}): port closed {:.2} s, writes acked meanwhile {acked}, refused {refused}",
            (to - from).as_secs_f64()
        ));
    }
    let gates: Vec<f64> = applied.iter().filter_map(|(_, m)| seconds_after_restart(m)).collect();
    assert_eq!(gates.len(), 3, "{applied:#?}");
    let reasons: BTreeSet<&str> = log.refused.iter().map(|(_, e)| e.as_str()).collect();
    eprintln!(
        "upgrade 3.4.23 -> 3.5.1: apply took {:.1} s; restart to gate passed: {gates:?} s; {}; writes acked {}, refused {} ({reasons:?}); test {:.1} s",
        took.as_secs_f64(),
        lines.join("; "),
        log.acked.len(),
        log.refused.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn the_gate_stops_the_upgrade_when_the_member_does_not_come_back() {
    let mut c = Cluster::start(3);
    c.put_keys("before", 20);
    let dir = tempfile::tempdir().expect("tempdir");
    let (plan_file, plan) = make_plan(&c, dir.path());
    let order = restart_order(&plan);
    let first = index_of(&c, &order[0]);
    // The first member's restart only stops it; the others would come back on 3.5.
    for i in 0..3 {
        c.restart_script(i, V3_5, i != first);
    }
    let pids: Vec<Option<u32>> = (0..3).map(|i| c.member(i).pid()).collect();
    let r = doctor()
        .args(c.tool_args())
        .args(["apply", "--yes", "-o", "json", "--gate-timeout", "4s", "--restart-command"])
        .arg(restart_command(&c))
        .arg("--backup-dir")
        .arg(dir.path())
        .arg("-f")
        .arg(&plan_file)
        .run();
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    let report = r.json_strict();
    let applied: Vec<(&str, &str)> = report["applied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["result"].as_str().unwrap_or_default(), a["message"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(applied.iter().map(|a| a.0).collect::<Vec<_>>(), ["done", "done", "failed"], "{applied:#?}");
    let msg = applied[2].1;
    assert!(msg.contains("gate did not pass within 4s") && msg.contains("does not answer"), "{msg}");
    assert!(msg.contains(&format!("not touched: member(s) {}, {}", order[1], order[2])), "{msg}");
    assert!(msg.contains("What to do"), "{msg}");
    // No other member was touched: same processes, still 3.4.
    for i in (0..3).filter(|&i| i != first) {
        assert_eq!(c.member(i).pid(), pids[i], "member {i} was restarted");
        assert!(c.server_version(i).is_some_and(|v| v.starts_with("3.4.")), "member {i}");
    }
    assert!(c.server_version(first).is_none(), "the stopped member stays down");
    // The two left keep quorum: writes go on.
    c.put_keys("after", 5);
    assert_eq!(c.count_keys("after"), 5);
}

fn gate(c: &Cluster, json: bool) -> support::bin::Run {
    let mut d = doctor();
    d.args(c.tool_args()).args(["audit", "--gate"]);
    if json {
        d.args(["-o", "json"]);
    }
    d.run()
}

#[test]
fn audit_gate_is_0_when_ready_and_2_with_a_member_down_or_mid_upgrade() {
    let mut c = Cluster::start(3);
    let r = gate(&c, false);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("gate: ready: leader m") && r.stdout.lines().count() == 1, "{}", r.stdout);
    let j = gate(&c, true).json_strict();
    assert_eq!((j["kind"].as_str(), j["ready"].as_bool()), (Some("Gate"), Some(true)), "{j:#}");

    // Mid-upgrade: member 1 stopped by its restart script (not started again yet).
    let stop = c.restart_script(1, V3_5, false);
    assert!(std::process::Command::new("sh").arg(&stop).status().is_ok_and(|s| s.success()));
    let r = gate(&c, false);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let id = format!("{:x}", c.member(1).id);
    assert!(
        r.stdout.starts_with("gate: not ready: ") && r.stdout.contains(&format!("m1 ({id}) does not answer")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("2 of 3 voters healthy, fault tolerance 0"), "{}", r.stdout);

    // It comes back on 3.5.1 (a mixed 3.4/3.5 cluster): ready again once it caught up.
    c.restart_on(1, V3_5);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    let ready = loop {
        let r = gate(&c, false);
        if r.code == 0 {
            break true;
        }
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        last = r.stdout;
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(ready, "not ready 20 s after the member came back: {last}");

    // A member down for good: 2, naming it.
    c.kill(2);
    let r = gate(&c, true);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    let j = r.json_strict();
    let id2 = format!("{:x}", c.member(2).id);
    assert!(
        j["notReady"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(&format!("m2 ({id2}) does not answer")))),
        "{j:#}"
    );
}

/// An upgrade plan as `plan upgrade -o yaml` writes it: one restart of member 2 and its gate.
const RESTART_PLAN: &str = "apiVersion: etcd-doctor/v1\nkind: Plan\nclusterID: 'c1'\ncreatedAt: 2026-01-01T00:00:00Z\n\
fingerprint: sha256:00\nstate:\n- id: '2'\n  name: m2\n  peerURLs: [https://127.0.0.2:2380]\n  isLearner: false\n  reachable: true\n\
steps:\n- n: 1\n  action: restart-member\n  memberID: '2'\n  automatic: true\n  reason: upgrade\n  description: restart m2\n  targetVersion: 3.5.1\n\
- n: 2\n  action: gate\n  memberID: '2'\n  automatic: true\n  reason: upgrade\n  description: gate m2\n  targetVersion: 3.5.1\n  faultTolerance: 1\n";

#[test]
fn apply_refuses_an_upgrade_plan_without_a_usable_restart_command_before_dialling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("plan.yaml");
    std::fs::write(&f, RESTART_PLAN).expect("write plan");
    // Nothing listens on this endpoint: the refusal must come before any dial.
    let base = ["--endpoints", "http://127.0.0.1:9", "--dial-timeout", "200ms", "apply", "--yes", "-f"];
    let r = doctor().args(base).arg(&f).run();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("this plan restarts members: give --restart-command"), "{}", r.stderr);
    let r = doctor().args(base).arg(&f).args(["--restart-command", "ssh {host} restart {nmae}"]).run();
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("--restart-command: unknown placeholder {nmae}"), "{}", r.stderr);
    assert!(!r.stderr.contains("no endpoint"), "it dialled: {}", r.stderr);
}
