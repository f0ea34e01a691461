//! `audit` against real etcd: metrics read from the members' client URLs, HashKV across
//! members, a real backend quota filled until NOSPACE, JUnit output, and the pre-upgrade verdict.

mod support;

use rstest::rstest;
use serde_json::Value;
use support::Cluster;
use support::cluster::{EtcdVersion, V3_4, V3_5};

fn doctor(c: &Cluster, extra: &[&str]) -> (i32, Value, String, String) {
    let out = support::bin::doctor().args(c.tool_args()).args(extra).output().expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn checks_of(v: &Value) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (f["check"].as_str().unwrap_or_default().into(), f["severity"].as_str().unwrap_or_default().into()))
        .collect();
    f.sort();
    f
}

#[rstest]
fn a_healthy_cluster_passes_the_pre_upgrade_audit_with_hashes_compared(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let c = Cluster::start_on(etcd, 3);
    c.put_keys("audit", 50);
    let (code, v, _, err) = doctor(&c, &["audit", "--pre-upgrade", "--target-version", "3.5.17", "-o", "json"]);
    assert_eq!(code, 0, "{err}\n{v}");
    match etcd {
        V3_4 => {
            // Certificates (TLS handshakes), HashKV, every member's version: all read, so a verdict.
            assert_eq!(v["upgradeReady"], true, "{}", v["upgrade"]);
            assert_eq!(v["upgrade"]["status"], "ready", "{}", v["upgrade"]);
            // Debian's 3.4.23 is past etcd 3.4's end of support: said, as info only.
            assert_eq!(checks_of(&v), vec![("etcd-release-to-avoid".to_string(), "info".to_string())], "{v}");
        }
        V3_5 => {
            // The harness skips etcd-release-to-avoid on 3.5.1 (support::versions): a check the
            // verdict rests on did not run, so it is "not verified" (null), never "ready".
            assert!(v["upgradeReady"].is_null(), "{}", v["upgrade"]);
            assert!(v["upgrade"]["line"].as_str().is_some_and(|l| l.contains("etcd-release-to-avoid")), "{v}");
            assert!(checks_of(&v).is_empty(), "{v}");
        }
    }
    let gaps = v["gaps"].to_string();
    assert!(!gaps.contains("hashkv") && !gaps.contains("metrics"), "HashKV and metrics were read: {gaps}");
    // A Kubernetes version outside the cited kubeadm map: the target's etcd is unknown, so the
    // verdict is "not verified" (null), never "ready".
    let (code, v, _, _) = doctor(&c, &["audit", "--pre-upgrade", "--target-version", "v1.27.3", "-o", "json"]);
    assert_eq!(code, 0, "{v}");
    assert!(v["upgradeReady"].is_null(), "{}", v["upgrade"]);
    assert!(v["upgrade"]["notVerified"].to_string().contains("upgrade-path"), "{}", v["upgrade"]);
    // A target two minors ahead is refused as an upgrade path.
    let skip = match etcd {
        V3_4 => "3.6.6",
        V3_5 => "3.7.0",
    };
    let (code, v, _, _) = doctor(&c, &["audit", "--pre-upgrade", "--target-version", skip, "-o", "json"]);
    assert_eq!(code, 2);
    assert_eq!(v["upgradeReady"], false);
    let blocking: Vec<_> = checks_of(&v).into_iter().filter(|(_, s)| s != "info").collect();
    assert!(!blocking.is_empty() && blocking.iter().all(|(c, s)| c == "upgrade-path" && s == "critical"), "{v}");
    assert_eq!(v["upgrade"]["blockedBy"], serde_json::json!(["upgrade-path"]), "{}", v["upgrade"]);
}

#[rstest]
fn junit_shows_one_case_per_check_and_fails_the_ones_that_found_something(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    c.kill(2);
    let (code, _, xml, err) = doctor(&c, &["audit", "-o", "junit"]);
    assert_eq!(code, 2, "{err}");
    assert!(xml.starts_with("<?xml") && xml.contains("<testsuites"), "{xml}");
    // A check that failed has one case per finding, named `<id>: <subject>`.
    for id in ["stale-member", "hash-mismatch", "restart-wave", "version-skew", "quorum-at-risk"] {
        assert!(xml.contains(&format!("name=\"{id}")), "{id} missing:\n{xml}");
    }
    assert!(xml.contains("name=\"stale-member: member "), "{xml}");
    assert!(xml.contains("<failure type=\"critical\""), "{xml}");
    let failures = xml.matches("<failure ").count();
    assert!(xml.contains(&format!("failures=\"{failures}\"")), "{xml}");
    // junit is for reports only.
    let (code, _, _, err) = doctor(&c, &["members", "-o", "junit"]);
    assert_eq!(code, 3);
    assert!(err.contains("-o junit is for check and audit"), "{err}");
}

#[rstest]
fn a_full_backend_is_seen_near_its_quota_and_then_as_nospace(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    // A 6 MiB quota, filled 256 KiB at a time: first near the quota, then NOSPACE.
    let c = Cluster::builder().version(etcd).members(1).etcd_args(&["--quota-backend-bytes=6291456"]).start();
    let big = "x".repeat(256 * 1024);
    let mut near = None;
    let mut full = false;
    for i in 0..80 {
        let r = c.with_client(|mut cl| {
            let v = big.clone();
            async move { cl.put(format!("big/{i}"), v, None).await.map(|_| ()) }
        });
        if let Err(e) = r {
            assert!(e.contains("database space exceeded"), "{e}");
            full = true;
            break;
        }
        if near.is_none() {
            // The backend commits its batch every 100 ms; the file grows then.
            std::thread::sleep(std::time::Duration::from_millis(150));
            let (_, v, _, _) = doctor(&c, &["-o", "json"]);
            near = v["findings"].as_array().and_then(|a| a.iter().find(|f| f["check"] == "db-near-quota")).cloned();
        }
    }
    assert!(full, "the quota was never reached");
    let near = near.expect("db-near-quota before NOSPACE");
    assert_eq!(near["evidence"]["quotaFrom"], "etcd_server_quota_backend_bytes", "{near}");
    assert_eq!(near["evidence"]["quotaBytes"], 6291456);
    let (code, v, _, err) = doctor(&c, &["-o", "json"]);
    assert_eq!(code, 2, "{err}\n{v}");
    let f = checks_of(&v);
    assert!(f.contains(&("alarm-active".into(), "critical".into())), "{f:?}");
}

#[rstest]
fn members_started_together_after_a_long_life_are_a_restart_wave(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let mut c = Cluster::start_on(etcd, 3);
    // A log long enough to be a cluster with a past, not one that just bootstrapped.
    c.put_each("history", 1100);
    let (code, v, _, err) = doctor(&c, &["-o", "json"]);
    assert_eq!(code, 0, "a bootstrap is no restart wave: {err}\n{v}");
    // The Kubespray handler: every member restarted at once.
    c.restart_together(&[0, 1, 2]);
    let (code, v, _, err) = doctor(&c, &["-o", "json"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert_eq!(checks_of(&v), vec![("restart-wave".to_string(), "warning".to_string())]);
    let f = &v["findings"][0];
    assert!(f["message"].as_str().unwrap_or_default().contains("3 of 3 voters"), "{f}");
    assert!(f["evidence"]["spreadSeconds"].as_f64().is_some_and(|s| s < 60.0), "{f}");
}

#[test]
fn progress_shows_on_a_terminal_only_and_is_erased() {
    let c = Cluster::start(1);
    // A pipe: nothing but the report.
    let (code, _, _, err) = doctor(&c, &["-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("asking etcd"), "progress in a pipe: {err:?}");
    // A terminal (script(1) gives the command a pty): the line shows, then is erased.
    let bin = assert_cmd::cargo::cargo_bin!("kubectl-etcd_doctor");
    let cmd = format!(
        "ETCD_DOCTOR_NO_KUBE=1 {} {} -o json >/dev/null",
        bin.display(),
        c.tool_args().iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ")
    );
    let out = std::process::Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("script(1)");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(tty.contains("asking etcd at ") && tty.contains("\r\u{1b}[2K"), "{tty:?}");
}
