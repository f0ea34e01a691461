//! CLI tests on the built binary: exit codes, stdout vs stderr, and the error messages an
//! operator sees for bad input. No etcd needed: every case fails before dialling or reads a
//! bundle made here.

use std::fs;
use std::path::Path;

use predicates::prelude::*;

mod support;

use support::bin::doctor;

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).expect("write fixture file");
}

const ML: &str = r#"{"header":{"cluster_id":16509504660443962926,"member_id":323676404339268582,"raft_term":2},"members":[{"ID":323676404339268582,"name":"a","peerURLs":["https://10.0.0.1:2380"],"clientURLs":["https://10.0.0.1:2379"]}]}"#;

#[test]
fn no_endpoint_is_exit_3_and_says_what_to_pass() {
    doctor()
        .assert()
        .code(3)
        .stdout("")
        .stderr(predicate::str::contains("no etcd endpoint given").and(predicate::str::contains("--endpoints")));
}

#[test]
fn endpoint_without_scheme_is_exit_3() {
    doctor()
        .args(["--endpoints", "10.0.0.1:2379"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("has no scheme").and(predicate::str::contains("https://10.0.0.1:2379")));
}

#[test]
fn https_without_cacert_is_refused_before_dialling() {
    doctor()
        .args(["--endpoints", "https://10.0.0.1:2379"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no --cacert").and(predicate::str::contains("/etc/kubernetes/pki/etcd")));
}

#[test]
fn missing_cert_files_are_named() {
    doctor()
        .args(["--endpoints", "https://10.0.0.1:2379", "--cacert", "/nonexistent/ca.crt"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("cannot read --cacert /nonexistent/ca.crt"));
}

#[test]
fn garbage_pem_is_named_and_key_contents_are_never_printed() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "ca.crt", "hello");
    write(d.path(), "c.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    write(d.path(), "k.key", "SECRET-KEY-MATERIAL");
    let ca = d.path().join("ca.crt");
    doctor()
        .args(["--endpoints", "https://10.0.0.1:2379", "--cacert"])
        .arg(&ca)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("holds no PEM certificate").and(predicate::str::contains("ca.crt")));
    // A valid-looking CA, then a key that is not a key: the error names the file, not its bytes.
    let real = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    write(d.path(), "ca.crt", &real.cert.pem());
    write(d.path(), "c.crt", &real.cert.pem());
    let out = doctor()
        .args(["--endpoints", "https://10.0.0.1:2379", "--cacert"])
        .arg(&ca)
        .arg("--cert")
        .arg(d.path().join("c.crt"))
        .arg("--key")
        .arg(d.path().join("k.key"))
        .assert()
        .code(3)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("k.key"), "{err}");
    assert!(!err.contains("SECRET-KEY-MATERIAL"), "key bytes leaked: {err}");
}

#[test]
fn cert_without_key_is_exit_3() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "ca.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    doctor()
        .args(["--endpoints", "https://10.0.0.1:2379", "--cacert"])
        .arg(d.path().join("ca.crt"))
        .arg("--cert")
        .arg(d.path().join("ca.crt"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("without --key"));
}

#[test]
fn unreachable_endpoints_are_each_listed_with_their_error() {
    doctor()
        .args(["--endpoints", "http://127.0.0.1:9,http://127.0.0.1:7", "--dial-timeout", "1s"])
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("no etcd endpoint answered")
                .and(predicate::str::contains("http://127.0.0.1:9: "))
                .and(predicate::str::contains("http://127.0.0.1:7: "))
                .and(predicate::str::contains("onnection refused")),
        );
}

#[test]
fn a_flag_wins_over_its_environment_variable() {
    // The env value would fail with "has no scheme"; the flag's value is used instead.
    doctor()
        .env("ETCDCTL_ENDPOINTS", "not-a-url")
        .args(["--endpoints", "http://127.0.0.1:9"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no etcd endpoint answered"));
    doctor().env("ETCDCTL_ENDPOINTS", "not-a-url").assert().code(3).stderr(predicate::str::contains("has no scheme"));
}

#[test]
fn bad_durations_and_unknown_check_ids_are_exit_3() {
    doctor().args(["--dial-timeout", "2x"]).assert().code(3).stderr(predicate::str::contains("invalid duration"));
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "member-list.json", ML);
    doctor()
        .arg("--bundle")
        .arg(d.path())
        .args(["--skip", "stale"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("unknown check id \"stale\"").and(predicate::str::contains("stale-member")));
}

#[test]
fn malformed_bundle_json_names_the_file_and_line() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "member-list.json", "{\n  \"members\": [\n    {\"ID\": 1,,}\n  ]\n}\n");
    doctor()
        .arg("--bundle")
        .arg(d.path())
        .assert()
        .code(3)
        .stderr(predicate::str::contains("member-list.json").and(predicate::str::contains("line 3")));
}

#[test]
fn bundle_without_member_list_says_how_to_capture_it() {
    let d = tempfile::tempdir().expect("tempdir");
    doctor()
        .arg("--bundle")
        .arg(d.path())
        .assert()
        .code(3)
        .stderr(predicate::str::contains("etcdctl member list -w json"));
    doctor()
        .args(["--bundle", "/nonexistent-bundle"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not a directory"));
}

#[test]
fn rounded_float_ids_are_rejected_or_flagged_never_panicking() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "member-list.json", r#"{"members":[{"ID":1.3919521250792505e19,"name":"etcd1"}]}"#);
    doctor()
        .arg("--bundle")
        .arg(d.path())
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not an exact unsigned 64-bit id"));
    // jq-rounded integers parse, but the report says they look rounded.
    write(
        d.path(),
        "member-list.json",
        r#"{"members":[{"ID":13919521250792505000,"name":"etcd1","clientURLs":["https://10.0.0.1:2379"]},{"ID":2234793613784549000,"name":"etcd2","clientURLs":["https://10.0.0.2:2379"]}]}"#,
    );
    doctor()
        .arg("--bundle")
        .arg(d.path())
        .args(["-o", "json"])
        .assert()
        .stdout(predicate::str::contains("rounded by a float JSON tool"));
}

#[test]
fn checks_lists_every_required_id_as_json() {
    let out = doctor().args(["checks", "-o", "json"]).assert().code(0).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).expect("checks -o json is JSON");
    let ids: Vec<&str> = v.as_array().into_iter().flatten().filter_map(|c| c["id"].as_str()).collect();
    for id in ["stale-member", "unstarted-member", "duplicate-peer-url", "quorum-at-risk"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
}

#[test]
fn explain_prints_the_docs_page_and_rejects_unknown_ids() {
    doctor()
        .args(["explain", "stale-member"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("# stale-member").and(predicate::str::contains("How to silence")));
    doctor().args(["explain", "no-such-check"]).assert().code(3).stderr(predicate::str::contains("unknown check id"));
}

#[test]
fn version_and_help_exit_0_and_help_documents_exit_codes() {
    doctor().arg("--version").assert().code(0).stdout(predicate::str::contains("kubectl-etcd_doctor"));
    doctor()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Exit codes").and(predicate::str::contains("4  --fix")));
}

#[test]
fn json_output_is_one_document_on_stdout_and_nothing_on_stderr() {
    let d = tempfile::tempdir().expect("tempdir");
    write(d.path(), "member-list.json", ML);
    let out = doctor().arg("--bundle").arg(d.path()).args(["-o", "json"]).assert().get_output().clone();
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["kind"], "Report");
    assert_eq!(v["source"], "bundle");
    // -w is etcdctl's spelling of -o.
    let w = doctor().arg("--bundle").arg(d.path()).args(["-w", "yaml"]).assert().get_output().stdout.clone();
    assert!(String::from_utf8_lossy(&w).contains("apiVersion: etcd-doctor/v1"));
}

#[test]
fn the_real_kubectl_finds_the_plugin_on_path() {
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("kubectl not found on PATH: install it (apt-get install -y kubectl) to test plugin discovery")
        });
    let d = tempfile::tempdir().expect("tempdir");
    std::fs::copy(assert_cmd::cargo::cargo_bin!("kubectl-etcd_doctor"), d.path().join("kubectl-etcd_doctor"))
        .expect("copy");
    let path = std::env::join_paths(
        std::iter::once(d.path().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let out = std::process::Command::new(kubectl)
        .args(["etcd-doctor", "--version"])
        .env("PATH", path)
        .output()
        .expect("run kubectl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kubectl-etcd_doctor "));
}

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = doctor().args(["completion", shell]).output().expect("run");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        // The candidates come from the binary (`__complete`); tests/completion.rs runs them.
        for word in ["kubectl-etcd_doctor", "__complete"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
        assert!(out.stderr.is_empty(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = doctor().args(["completion", "tcsh"]).output().expect("run");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn version_names_the_git_revision() {
    let out = doctor().arg("--version").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let rev = text.rsplit_once('(').map(|(_, r)| r.trim_end_matches(')')).unwrap_or_default().to_string();
    assert!(text.starts_with(&format!("kubectl-etcd_doctor {} (", env!("CARGO_PKG_VERSION"))), "{text}");
    // Built from a git checkout (as every test run is, unless the sources were copied out of
    // one), the revision is exactly HEAD's: "unknown" there means build.rs lost track of git.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert_eq!(rev, head, "{text}: the revision is not HEAD's"),
        None => assert_eq!(rev, "unknown", "{text}: not a git checkout, so the revision cannot be known"),
    }
}

fn bundle(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(name)
}

#[test]
fn plan_remove_member_accepts_the_id_as_printed_padded_or_decimal_and_never_targets_a_member_that_answers() {
    // etcd5 (4498f4b987f7c1) of stale-member-of-five does not answer; etcd1 does.
    for id in ["4498f4b987f7c1", "004498f4b987f7c1", "19308475268462529"] {
        let out = doctor()
            .arg("--bundle")
            .arg(bundle("stale-member-of-five"))
            .args(["plan", "remove-member", id, "-o", "json"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let steps = v["steps"].as_array().cloned().unwrap_or_default();
        assert_eq!(steps.len(), 1, "{v}");
        assert_eq!(steps[0]["action"], "remove-member", "{v}");
        assert_eq!(steps[0]["memberID"], "4498f4b987f7c1");
        assert_eq!(steps[0]["automatic"], true);
        assert_eq!(steps[0]["reason"], "operator");
        assert!(steps[0]["description"].as_str().is_some_and(|d| d.contains("unreachable")), "{v}");
    }
    let out = doctor()
        .arg("--bundle")
        .arg(bundle("stale-member-of-five"))
        .args(["plan", "remove-member", "6caf76a5703598ae", "-o", "json"])
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["steps"][0]["automatic"], false, "{v}");
    assert!(v["steps"][0]["description"].as_str().is_some_and(|d| d.contains("answers")), "{v}");
    doctor()
        .arg("--bundle")
        .arg(bundle("stale-member-of-five"))
        .args(["plan", "remove-member", "not-an-id"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not a member id"));
}

#[test]
fn without_remove_member_an_unreachable_voter_gets_a_bring_back_step_and_with_it_a_removal() {
    let run = |extra: &[&str]| -> serde_json::Value {
        let out = doctor()
            .arg("--bundle")
            .arg(bundle("stale-member-of-five"))
            .args(["-o", "json"])
            .args(extra)
            .output()
            .expect("run");
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let v = run(&[]);
    let steps = v["plan"]["steps"].as_array().cloned().unwrap_or_default();
    assert!(steps.iter().all(|s| s["automatic"] == false), "{v}");
    assert!(steps[0]["description"].as_str().is_some_and(|d| d.starts_with("bring voter etcd5")), "{v}");
    assert_eq!(v["members"][4]["state"], "unreachable", "{v}");
    let v = run(&["--remove-member", "4498f4b987f7c1"]);
    let steps = v["plan"]["steps"].as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 1, "{v}");
    assert_eq!((steps[0]["action"].as_str(), steps[0]["automatic"].as_bool()), (Some("remove-member"), Some(true)));
}

#[test]
fn the_table_header_says_quorum_lost_only_when_proven() {
    let header = |name: &str| -> String {
        let out = doctor().arg("--bundle").arg(bundle(name)).output().expect("run");
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string()
    };
    // Two of three do not answer, the third has no leader: nothing proves them down.
    let h = header("quorum-lost");
    assert!(h.contains("could not decide whether quorum is lost") && !h.contains("QUORUM LOST"), "{h}");
    let h = header("healthy-3");
    assert!(h.contains("3 voters, quorum 2, 3 healthy, tolerates 1 failure"), "{h}");
}

fn help(args: &[&str]) -> String {
    let out = doctor().args(args).env("COLUMNS", "100").output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn help_is_grouped_by_heading_with_each_variable_once_and_first_run_examples() {
    let h = help(&["-h"]);
    for heading in ["Connection:", "Kubernetes:", "On a node:", "Checks:", "Fix:", "Output:"] {
        assert!(h.lines().any(|l| l == heading), "no {heading} heading:\n{h}");
    }
    for var in
        ["ETCDCTL_ENDPOINTS", "ETCDCTL_CACERT", "ETCDCTL_CERT]", "ETCDCTL_KEY", "ETCDCTL_USER", "ETCDCTL_PASSWORD"]
    {
        assert_eq!(h.matches(var).count(), 1, "{var} shown other than once:\n{h}");
    }
    for start in ["  kubectl etcd-doctor  ", "sudo kubectl etcd-doctor --local", "kubectl etcd-doctor --bundle DIR"] {
        assert!(h.contains(start), "no first-run example {start:?}:\n{h}");
    }
}

#[test]
fn subcommands_show_only_the_flags_they_use() {
    let explain = help(&["explain", "-h"]);
    assert!(explain.lines().count() <= 15, "explain -h is {} lines:\n{explain}", explain.lines().count());
    let completion = help(&["completion", "-h"]);
    assert!(completion.lines().count() <= 25 && !completion.contains("--endpoints"), "{completion}");
    let members = help(&["members", "-h"]);
    assert!(members.contains("--endpoints") && members.contains("--local"), "{members}");
    for absent in ["--fix", "--skip", "--remove-member", "--expiry-warning"] {
        assert!(!members.contains(absent), "members -h shows {absent}:\n{members}");
    }
    let apply = help(&["apply", "-h"]);
    let flag = |text: &str, f: &str| text.lines().any(|l| l.trim_start().starts_with(f));
    assert!(flag(&apply, "-y, --yes") && !flag(&apply, "--fix") && !flag(&apply, "--checks"), "{apply}");
    let checks = help(&["checks", "-h"]);
    assert!(checks.contains("--output") && !checks.contains("--endpoints"), "{checks}");
    // A flag a subcommand does not take is an error, not silently ignored.
    doctor().args(["members", "--fix"]).assert().code(3).stderr(predicate::str::contains("--fix"));
}

#[test]
fn flags_work_before_and_after_the_subcommand() {
    let b = bundle("healthy-3");
    let b = b.to_str().expect("utf-8 path");
    for args in [
        vec!["--bundle", b, "members", "-o", "json"],
        vec!["members", "--bundle", b, "-o", "json"],
        vec!["-o", "json", "--bundle", b, "members"],
        vec!["--bundle", b, "-o", "json", "plan"],
        vec!["plan", "--bundle", b, "-o", "json"],
        vec!["--bundle", b, "-o", "json", "plan", "restart"],
        vec!["--bundle", b, "plan", "-o", "json", "restart"],
        vec!["--bundle", b, "-o", "json", "check"],
        vec!["--bundle", b, "-o", "json", "audit", "--pre-upgrade"],
        vec!["--bundle", b, "-o", "json"],
    ] {
        let out = doctor().args(&args).output().expect("run");
        assert!(out.status.code().is_some_and(|c| c < 3), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        assert_eq!(v["apiVersion"], "etcd-doctor/v1", "{args:?}: {v}");
        assert!(v["kind"] == "Plan" || v["source"] == "bundle", "{args:?}: {v}");
    }
}
