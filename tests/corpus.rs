//! The corpus of real captures: every case under `fixtures/corpus/<case>/` (public issues, and
//! real etcd runs captured the careless way) is run through the binary with `--bundle … -o json`
//! and compared with its `expect.yaml`: each member's state, the quorum verdict, which automatic
//! removals may be planned, whether destructive advice is allowed, and checks that must / must not
//! fire. `ORIGIN.md` in each case says where it comes from and why the expectation is right.
//!
//! Run `cargo test --test corpus -- --nocapture` to see the whole table of
//! expected vs actual.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;

/// One case's expectations (see any `expect.yaml`).
struct Expect {
    /// id -> acceptable states.
    members: BTreeMap<String, Vec<String>>,
    quorum: Vec<String>,
    automatic_removals: BTreeSet<String>,
    destructive_advice: bool,
    must_fire: Vec<String>,
    must_not_fire: Vec<String>,
}

/// What the report said, in the same terms.
struct Actual {
    exit: i32,
    members: BTreeMap<String, String>,
    reachable: BTreeMap<String, bool>,
    quorum: String,
    automatic_removals: BTreeSet<String>,
    destructive_advice: bool,
    fired: BTreeSet<String>,
}

fn one_or_many(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
    let mut v: Vec<PathBuf> = fs::read_dir(&root)
        .expect("fixtures/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn name(dir: &Path) -> String {
    dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}

fn expect_of(dir: &Path) -> Result<Expect, String> {
    let text = fs::read_to_string(dir.join("expect.yaml")).map_err(|e| format!("expect.yaml: {e}"))?;
    let v: Value = serde_yaml_ng::from_str(&text).map_err(|e| format!("expect.yaml: {e}"))?;
    let members = v["members"]
        .as_object()
        .ok_or("expect.yaml: no members map")?
        .iter()
        .map(|(k, s)| (k.clone(), one_or_many(s)))
        .collect();
    let list = |k: &str| one_or_many(&v[k]);
    Ok(Expect {
        members,
        quorum: list("quorum"),
        automatic_removals: list("automaticRemovals").into_iter().collect(),
        destructive_advice: v["destructiveAdvice"].as_bool().ok_or("expect.yaml: destructiveAdvice is not a bool")?,
        must_fire: list("mustFire"),
        must_not_fire: list("mustNotFire"),
    })
}

fn run(dir: &Path) -> Result<Actual, String> {
    let out = cargo_bin_cmd!("kubectl-etcd_doctor")
        .arg("--bundle")
        .arg(dir)
        .args(["-o", "json"])
        .output()
        .map_err(|e| format!("cannot run the binary: {e}"))?;
    let exit = out.status.code().unwrap_or(-1);
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!("exit {exit}, stdout is not one JSON document ({e}); stderr: {}", String::from_utf8_lossy(&out.stderr))
    })?;
    let mut members = BTreeMap::new();
    let mut reachable = BTreeMap::new();
    for m in report["members"].as_array().into_iter().flatten() {
        let id = m["id"].as_str().unwrap_or_default().to_string();
        members.insert(id.clone(), m["state"].as_str().unwrap_or("(no state)").to_string());
        reachable.insert(id, m["reachable"].as_bool() == Some(true));
    }
    let steps: Vec<&Value> = report["plan"]["steps"].as_array().into_iter().flatten().collect();
    let automatic_removals = steps
        .iter()
        .filter(|s| s["action"] == "remove-member" && s["automatic"] == true)
        .filter_map(|s| s["memberID"].as_str().map(str::to_string))
        .collect();
    let plan_text = report["plan"].to_string();
    let findings: Vec<&Value> = report["findings"].as_array().into_iter().flatten().collect();
    let destructive_advice = plan_text.contains("force-new-cluster")
        || plan_text.contains("snapshot restore")
        || findings.iter().any(|f| f["message"].as_str().is_some_and(|m| m.contains("force-new-cluster")));
    let fired = findings.iter().filter_map(|f| f["check"].as_str().map(str::to_string)).collect();
    Ok(Actual {
        exit,
        members,
        reachable,
        quorum: quorum_verdict(&report["quorum"]),
        automatic_removals,
        destructive_advice,
        fired,
    })
}

/// `has-quorum` / `lost` / `undecided` from the report's quorum object: the bounds when the
/// report has them, else `faultTolerance` (null = undecided) and `healthyVoters`.
fn quorum_verdict(q: &Value) -> String {
    let need = q["quorum"].as_u64();
    let verdict = match (q["healthyVotersMin"].as_u64(), q["healthyVotersMax"].as_u64(), need) {
        (Some(min), _, Some(n)) if min >= n => "has-quorum",
        (_, Some(max), Some(n)) if max < n => "lost",
        (Some(_), Some(_), Some(_)) => "undecided",
        _ if q["faultTolerance"].is_null() => "undecided",
        _ => match (q["healthyVoters"].as_u64(), need) {
            (Some(h), Some(n)) if h >= n => "has-quorum",
            (Some(_), Some(_)) => "lost",
            _ => "undecided",
        },
    };
    verdict.to_string()
}

fn alts(v: &[String]) -> String {
    v.join("|")
}

/// Every mismatch of one case, and its table of expected vs actual.
fn compare(e: &Expect, a: &Actual) -> (Vec<String>, String) {
    let mut bad = Vec::new();
    let mut t = String::new();
    let mark = |ok: bool| if ok { "ok " } else { "BAD" };
    for (id, want) in &e.members {
        let got = a.members.get(id).map(String::as_str).unwrap_or("(no such member)");
        let ok = want.iter().any(|w| w == got);
        let _ = writeln!(t, "  {} member {id:<17} want {:<24} got {got}", mark(ok), alts(want));
        if !ok {
            bad.push(format!("member {id}: state {got}, want {}", alts(want)));
        }
    }
    let ok = e.quorum.contains(&a.quorum);
    let _ = writeln!(t, "  {} quorum                   want {:<24} got {}", mark(ok), alts(&e.quorum), a.quorum);
    if !ok {
        bad.push(format!("quorum {}, want {}", a.quorum, alts(&e.quorum)));
    }
    let extra: Vec<&String> = a.automatic_removals.difference(&e.automatic_removals).collect();
    let _ = writeln!(
        t,
        "  {} automatic removals       may  {:<24} got {:?}",
        mark(extra.is_empty()),
        format!("{:?}", e.automatic_removals),
        a.automatic_removals
    );
    if !extra.is_empty() {
        bad.push(format!("automatic removal of {extra:?}, allowed only {:?}", e.automatic_removals));
    }
    let ok = e.destructive_advice || !a.destructive_advice;
    let _ = writeln!(
        t,
        "  {} destructive advice       may  {:<24} got {}",
        mark(ok),
        e.destructive_advice,
        a.destructive_advice
    );
    if !ok {
        bad.push("advises force-new-cluster / snapshot restore without proof".into());
    }
    for c in &e.must_fire {
        if !a.fired.contains(c) {
            bad.push(format!("{c} must fire"));
        }
    }
    for c in &e.must_not_fire {
        if a.fired.contains(c) {
            bad.push(format!("{c} must not fire"));
        }
    }
    let _ = writeln!(
        t,
        "  {} checks                   fire {:?}, silent {:?}; fired {:?} (exit {})",
        mark(e.must_fire.iter().all(|c| a.fired.contains(c)) && e.must_not_fire.iter().all(|c| !a.fired.contains(c))),
        e.must_fire,
        e.must_not_fire,
        a.fired,
        a.exit
    );
    (bad, t)
}

#[test]
fn every_case_matches_its_expectations() {
    let mut failures = Vec::new();
    let mut table = String::new();
    for dir in cases() {
        let case = name(&dir);
        let result = expect_of(&dir).and_then(|e| run(&dir).map(|a| (e, a)));
        match result {
            Ok((e, a)) => {
                let (bad, t) = compare(&e, &a);
                let _ = writeln!(table, "{case}{}\n{t}", if bad.is_empty() { "" } else { "  <-- MISMATCH" });
                if !bad.is_empty() {
                    failures.push(format!("{case}:\n    {}", bad.join("\n    ")));
                }
            }
            Err(err) => {
                let _ = writeln!(table, "{case}  <-- ERROR {err}\n");
                failures.push(format!("{case}: {err}"));
            }
        }
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{} of the corpus cases do not match:\n{}\n\n{table}",
        failures.len(),
        failures.join("\n")
    );
}

/// What holds today, before the evidence work lands: every case has its files, loads, names the
/// members its expectation names, and no automatic removal targets a member that answered.
#[test]
fn every_case_loads_and_no_member_that_answered_is_removed() {
    let dirs = cases();
    assert!(dirs.len() >= 20, "the corpus has {} cases, want at least 20", dirs.len());
    let mut failures = Vec::new();
    for dir in dirs {
        let case = name(&dir);
        if !dir.join("ORIGIN.md").is_file() {
            failures.push(format!("{case}: no ORIGIN.md"));
        }
        let e = match expect_of(&dir) {
            Ok(e) => e,
            Err(err) => {
                failures.push(format!("{case}: {err}"));
                continue;
            }
        };
        let a = match run(&dir) {
            Ok(a) => a,
            Err(err) => {
                failures.push(format!("{case}: does not load: {err}"));
                continue;
            }
        };
        if !(0..=2).contains(&a.exit) {
            failures.push(format!("{case}: exit {} (3 or 4 mean it could not run)", a.exit));
        }
        let want: BTreeSet<&String> = e.members.keys().collect();
        let got: BTreeSet<&String> = a.members.keys().collect();
        if want != got {
            failures.push(format!("{case}: members {got:?}, expect.yaml names {want:?}"));
        }
        for id in &a.automatic_removals {
            let answered = a.reachable.get(id) == Some(&true)
                || e.members.get(id).is_some_and(|s| s.iter().all(|s| s == "up" || s == "electing"));
            if answered {
                failures.push(format!("{case}: automatic removal of {id}, a member that answered"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quorum_verdicts_from_both_report_shapes() {
    let v = |j: Value| quorum_verdict(&j);
    assert_eq!(v(serde_json::json!({"quorum": 2, "healthyVoters": 2, "faultTolerance": 0})), "has-quorum");
    assert_eq!(v(serde_json::json!({"quorum": 2, "healthyVoters": 1, "faultTolerance": -1})), "lost");
    assert_eq!(v(serde_json::json!({"quorum": 2, "healthyVoters": 1, "faultTolerance": null})), "undecided");
    assert_eq!(
        v(serde_json::json!({"quorum": 2, "healthyVotersMin": 1, "healthyVotersMax": 3, "faultTolerance": null})),
        "undecided"
    );
    assert_eq!(
        v(serde_json::json!({"quorum": 2, "healthyVotersMin": 2, "healthyVotersMax": 3, "faultTolerance": 0})),
        "has-quorum"
    );
    assert_eq!(
        v(serde_json::json!({"quorum": 2, "healthyVotersMin": 0, "healthyVotersMax": 1, "faultTolerance": null})),
        "lost"
    );
}
