//! Every shipped bundle in `fixtures/bundles/` is run through the binary and compared with its
//! `expect.json` (exit code, and the worst severity of each check that fires; a check not
//! listed must stay silent). The meta-test then demands, for every registered check id, a
//! docs page, a bundle where it fires and one where it stays silent.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use etcd_doctor_checks::registry;
use serde_json::Value;

mod support;

fn bundles() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles");
    let mut v: Vec<PathBuf> = fs::read_dir(&root)
        .expect("fixtures/bundles exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expect.json").exists())
        .collect();
    v.sort();
    assert!(v.len() >= 5, "expected shipped bundles under {}", root.display());
    v
}

/// The bundle run as its `expect.json` says: `args` (e.g. `["audit", "--pre-upgrade",
/// "--target-version", "3.6.0"]`) before `--bundle`, or the default check.
fn run(dir: &Path, format: &str) -> (i32, Value) {
    let expect: Value = fs::read_to_string(dir.join("expect.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let args: Vec<String> =
        expect["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect();
    let r = support::bin::doctor().args(&args).arg("--bundle").arg(dir).args(["-o", format]).run();
    assert!(r.stderr.is_empty(), "{}: stderr {}", dir.display(), r.stderr);
    let doc = if format == "json" { r.json_strict() } else { r.yaml() };
    (r.code, doc)
}

#[test]
fn every_bundle_matches_its_expectations() {
    let mut failures = Vec::new();
    for dir in bundles() {
        let expect: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("expect.json")).expect("read expect.json"))
                .expect("expect.json");
        let (code, report) = run(&dir, "json");
        let want_exit = expect["exit"].as_i64().unwrap_or(-1) as i32;
        if code != want_exit {
            failures.push(format!("{}: exit {code}, want {want_exit}", dir.display()));
        }
        let got = support::report::findings(&report);
        let want: BTreeMap<String, String> = expect["findings"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        if got != want {
            failures.push(format!("{}: findings {got:?}, want {want:?}", dir.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_reports_follow_the_contract() {
    for dir in bundles() {
        let (_, r) = run(&dir, "json");
        assert_eq!(r["apiVersion"], "etcd-doctor/v1");
        assert_eq!(r["kind"], "Report");
        assert_eq!(r["source"], "bundle");
        for m in r["members"].as_array().expect("members array") {
            let id = m["id"].as_str().expect("member id is a string");
            assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(!id.starts_with('0') || id == "0", "ids are unpadded: {id}");
            for k in
                ["name", "peerURLs", "clientURLs", "isLearner", "reachable", "leader", "version", "dbSizeBytes", "node"]
            {
                assert!(m.get(k).is_some(), "{}: member field {k} missing", dir.display());
            }
        }
        for k in ["voters", "quorum", "healthyVoters", "healthyVotersMin", "healthyVotersMax"] {
            assert!(r["quorum"][k].is_i64(), "{}: quorum.{k}", dir.display());
        }
        // null only when the evidence leaves it undecided (the bounds differ).
        let q = &r["quorum"];
        assert!(
            q["faultTolerance"].is_i64()
                || (q["faultTolerance"].is_null() && q["healthyVotersMin"] != q["healthyVotersMax"]),
            "{}: quorum.faultTolerance {q}",
            dir.display()
        );
        for m in r["members"].as_array().into_iter().flatten() {
            assert!(m["state"].is_string() && m["evidence"].is_array(), "{}: member state/evidence {m}", dir.display());
        }
        let sev = ["critical", "warning", "info"];
        for f in r["findings"].as_array().expect("findings array") {
            assert!(sev.contains(&f["severity"].as_str().unwrap_or_default()));
            assert!(f["memberID"].is_null() || f["memberID"].is_string());
            assert!(registry::find(f["check"].as_str().unwrap_or_default()).is_some());
        }
        assert!(r["gaps"].is_array());
        assert!(r["plan"]["fingerprint"].as_str().is_some_and(|f| f.starts_with("sha256:")));
        assert!(r["plan"]["steps"].is_array());
        assert!(r.get("applied").is_none(), "applied only after --fix");
    }
}

#[test]
fn yaml_is_the_same_document_as_json() {
    for dir in bundles() {
        let (_, mut j) = run(&dir, "json");
        let (_, mut y) = run(&dir, "yaml");
        for d in [&mut j, &mut y] {
            d.as_object_mut().map(|o| o.remove("collectedAt"));
        }
        assert_eq!(j, y, "{}", dir.display());
    }
}

#[test]
fn meta_every_check_has_docs_and_a_bundle_where_it_fires_and_one_where_it_is_silent() {
    let mut fires: BTreeSet<String> = BTreeSet::new();
    let mut silent: BTreeSet<String> = BTreeSet::new();
    for dir in bundles() {
        let expect: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("expect.json")).expect("read")).expect("json");
        for c in registry::ALL {
            let id = c.info().id;
            if expect["findings"].get(id).is_some() {
                fires.insert(id.to_string());
            } else {
                silent.insert(id.to_string());
            }
        }
    }
    for c in registry::ALL {
        let info = c.info();
        assert!(fires.contains(info.id), "no bundle where {} fires", info.id);
        assert!(silent.contains(info.id), "no bundle where {} stays silent", info.id);
        assert!(info.docs.starts_with(&format!("# {}", info.id)), "docs/checks/{}.md must start with its id", info.id);
        for section in ["## What it detects", "## Why it matters", "## Example", "## How to fix", "## How to silence"] {
            assert!(info.docs.contains(section), "docs/checks/{}.md lacks {section:?}", info.id);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn a_local_tree_without_probes_gives_the_node_facts_and_no_verdict() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles/k3s-etcd-only-on-node");
    let d = tempfile::tempdir().expect("tempdir");
    copy_dir(&src, d.path());
    fs::remove_file(d.path().join("local.json")).expect("rm local.json");
    let (code, v) = run(d.path(), "json");
    assert_eq!(v["local"]["etcdOnly"], true, "{v}");
    assert_eq!(v["local"]["memberName"], "etcd-2-773673f4");
    assert_eq!(v["local"]["join"]["url"], "https://10.10.0.21:6443");
    assert_eq!(v["local"]["join"]["line"], 2);
    assert!(v["local"]["joinProbe"].is_null(), "{v}");
    assert_eq!(code, 0, "without a probe the check cannot decide: {v}");
    assert_eq!(v["distribution"], "k3s");
}

#[test]
fn pods_yaml_brings_the_etcd_pods_into_the_evidence() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles/kubeadm-etcd-crashloop");
    let (_, v) = run(&dir, "json");
    let msg = v["findings"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("etcd pod etcd-k8s-cp-4 is Running, CrashLoopBackOff (37 restarts)"), "{msg}");
    assert!(msg.contains("its node k8s-cp-4 is Ready") && msg.contains("bring it back first"), "{msg}");
    assert!(v["plan"]["steps"].as_array().is_some_and(|s| s.iter().all(|s| s["action"] != "remove-member")), "{v}");
}

/// `upgradeReady`: false when something blocks (even if something else was not read), null
/// when nothing blocks but certificates, hashes or flags were not read; the table says which.
#[test]
fn the_pre_upgrade_verdict_is_blocked_or_not_verified_and_says_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles");
    let (code, v) = run(&root.join("upgrade-3.5.16-to-3.6"), "json");
    assert_eq!(code, 2);
    assert_eq!(v["upgradeReady"], false, "{}", v["upgrade"]);
    assert_eq!(v["upgrade"]["blockedBy"], serde_json::json!(["upgrade-path"]));
    let nv = v["upgrade"]["notVerified"].to_string();
    assert!(nv.contains("certificates: no certificates were read") && nv.contains("hash-mismatch"), "{nv}");
    let f = &v["findings"][0];
    assert!(f["message"].as_str().is_some_and(|m| m.contains("3.5.20 or later")), "{f}");

    // Nothing blocks a 3.5.16 → 3.5.20 patch upgrade, but certificates and HashKV were not read.
    let dir = root.join("healthy-3");
    let r = support::bin::doctor()
        .args(["audit", "--pre-upgrade", "--target-version", "3.5.20", "--bundle"])
        .arg(&dir)
        .args(["-o", "json"])
        .run();
    let v = r.json_strict();
    assert_eq!(r.code, 0, "{v}");
    assert!(v.get("upgradeReady").is_some_and(Value::is_null), "{}", v["upgrade"]);
    assert_eq!(v["upgrade"]["status"], "not-verified");
    let t = support::bin::doctor()
        .args(["audit", "--pre-upgrade", "--target-version", "3.5.20", "--bundle"])
        .arg(&dir)
        .run();
    assert!(t.stdout.contains("UPGRADE: not verified: ") && t.stdout.contains("certificates:"), "{}", t.stdout);
    // Without --pre-upgrade there is no verdict at all.
    let (_, v) = run(&dir, "json");
    assert!(v.get("upgradeReady").is_none() && v.get("upgrade").is_none(), "{v}");
}

/// A Kubernetes or K3s version resolves to the etcd it ships, and the finding names the source.
#[test]
fn kubernetes_and_k3s_target_versions_resolve_with_their_source() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles/kubeadm-enable-v2-to-1.34");
    let (_, v) = run(&dir, "json");
    assert_eq!(v["upgrade"]["target"]["line"], "3.6", "{}", v["upgrade"]);
    assert!(v["upgrade"]["target"]["source"].as_str().is_some_and(|s| s.contains("kubernetes/kubernetes")));
    let healthy = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles/healthy-3");
    let r = support::bin::doctor()
        .args(["audit", "--pre-upgrade", "--target-version", "v1.33.1+k3s1", "--bundle"])
        .arg(&healthy)
        .args(["-o", "json"])
        .run();
    let v = r.json_strict();
    assert!(v["upgradeReady"].is_null(), "{}", v["upgrade"]);
    assert!(v["upgrade"]["notVerified"].to_string().contains("unknown"), "{}", v["upgrade"]);
    let r = support::bin::doctor().args(["audit", "--target-version", "latest", "--bundle"]).arg(&healthy).run();
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("is not a version"), "{}", r.stderr);
}
