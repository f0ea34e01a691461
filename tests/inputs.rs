//! Hostile and alternative input files through the binary: each limit of `collect::limits`
//! (size, nesting depth, field length) stops the run at once with exit code 3 and a message
//! naming the file, the limit and what to do; `nodes.json` / `pods.json` are read beside (or
//! instead of) their YAML forms. Every hostile case must end well under a second: before the
//! limits, a 100 MB member list ran past 120 s and a 200 KB nodes.yaml nested 100,000 deep
//! past 20 s.

use std::path::Path;
use std::time::{Duration, Instant};

mod support;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(name)
}

/// A copy of a shipped bundle to spoil.
fn bundle_from(name: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(fixture(name)).expect("fixture").flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), d.path().join(e.file_name())).expect("copy");
        }
    }
    d
}

/// Runs the doctor on a bundle: it must stop with exit 3 within a second, and say `want`.
fn refused(args: &[&str], want: &[&str]) -> String {
    let t = Instant::now();
    let r = support::bin::doctor().args(args).run();
    let took = t.elapsed();
    assert_eq!(r.code, 3, "stdout {}\nstderr {}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(1), "took {took:?}: {}", r.stderr);
    for w in want {
        assert!(r.stderr.contains(w), "{w:?} not in: {}", r.stderr);
    }
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    r.stderr
}

#[test]
fn a_100_mb_member_list_is_refused_by_its_size_before_reading() {
    let d = bundle_from("healthy-3");
    let f = std::fs::File::create(d.path().join("member-list.json")).expect("create");
    f.set_len(100 * 1024 * 1024).expect("sparse 100 MiB");
    let dir = d.path().display().to_string();
    refused(
        &["--bundle", &dir],
        &[
            "member-list.json is 100.0 MiB",
            "above the 8.0 MiB limit for an etcdctl capture",
            "capture it again with etcdctl",
        ],
    );
}

#[test]
fn a_nodes_yaml_nested_100000_deep_is_refused_by_its_depth() {
    let d = bundle_from("kubeadm-node-deleted");
    let dir = d.path().display().to_string();
    for deep in [
        format!("apiVersion: v1\nitems: {}\n", "[".repeat(100_000)),
        format!("apiVersion: v1\nitems:\n{}x\n", "- ".repeat(100_000)),
        format!("apiVersion: v1\nitems:\n- {}\n", "{a: ".repeat(50_000)),
    ] {
        std::fs::write(d.path().join("nodes.yaml"), &deep).expect("write");
        refused(
            &["--bundle", &dir],
            &[
                "nodes.yaml line ",
                "nested deeper than 64 levels",
                "`kubectl get -o yaml|json` list",
                "capture it again",
            ],
        );
    }
    std::fs::remove_file(d.path().join("nodes.yaml")).expect("rm");
    std::fs::write(d.path().join("nodes.json"), format!("{{\"items\": {}", "[".repeat(100_000))).expect("write");
    refused(&["--bundle", &dir], &["nodes.json line 1: nested deeper than 64 levels"]);
}

#[test]
fn a_256_kb_member_name_is_refused_by_its_length() {
    let d = bundle_from("healthy-3");
    let text = std::fs::read_to_string(d.path().join("member-list.json")).expect("read");
    let long = text.replacen("\"k8s-cp-2\"", &format!("\"{}\"", "n".repeat(256 * 1024)), 1);
    std::fs::write(d.path().join("member-list.json"), long).expect("write");
    let dir = d.path().display().to_string();
    refused(
        &["--bundle", &dir],
        &["member-list.json line 1: a string of 256.0 KiB, above the 64.0 KiB limit for an etcdctl capture"],
    );
    // A text capture (etcdctl's table) is held to the same limit, by line.
    std::fs::remove_file(d.path().join("member-list.json")).expect("rm");
    std::fs::write(
        d.path().join("member-list.txt"),
        format!(
            "8e9e05c52164694d, started, {}, https://10.0.0.1:2380, https://10.0.0.1:2379, false\n",
            "n".repeat(256 * 1024)
        ),
    )
    .expect("write");
    refused(&["--bundle", &dir], &["member-list.txt line 1: a line of 256.1 KiB, above the 64.0 KiB limit"]);
}

#[test]
fn a_hostile_plan_file_is_refused_before_anything_is_dialled() {
    let d = tempfile::tempdir().expect("tempdir");
    let plan = d.path().join("plan.yaml");
    std::fs::write(&plan, format!("apiVersion: etcd-doctor/v1\nkind: Plan\nsteps: {}\n", "[".repeat(30_000)))
        .expect("write");
    let p = plan.display().to_string();
    refused(
        &["apply", "--endpoints", "https://127.0.0.1:9", "-f", &p],
        &["plan.yaml line 3: nested deeper than 64 levels, the limit for a plan file", "make the plan again"],
    );
    std::fs::write(&plan, format!("apiVersion: etcd-doctor/v1\nkind: Plan\nsteps: {}\n", "[".repeat(100_000)))
        .expect("write");
    refused(&["apply", "--endpoints", "https://127.0.0.1:9", "-f", &p], &["plan.yaml line 3: a line of 97.7 KiB"]);
    let f = std::fs::File::create(&plan).expect("create");
    f.set_len(50 * 1024 * 1024).expect("sparse");
    refused(&["apply", "--endpoints", "https://127.0.0.1:9", "-f", &p], &["above the 8.0 MiB limit for a plan file"]);
}

#[test]
fn a_hostile_config_file_in_a_bundles_local_copy_is_refused() {
    let d = bundle_from("healthy-3");
    let etc = d.path().join("local/etc/rancher/k3s");
    std::fs::create_dir_all(&etc).expect("mkdir");
    let f = std::fs::File::create(etc.join("config.yaml")).expect("create");
    f.set_len(10 * 1024 * 1024).expect("sparse");
    let dir = d.path().display().to_string();
    refused(&["--bundle", &dir], &["config.yaml is 10.0 MiB, above the 4.0 MiB limit for a config file"]);
    std::fs::write(etc.join("config.yaml"), format!("server: {}\n", "{a: ".repeat(50_000))).expect("write");
    refused(&["--bundle", &dir], &["config.yaml line 1: nested deeper than 64 levels, the limit for a config file"]);
}

#[test]
fn nodes_and_pods_as_json_read_as_their_yaml_forms() {
    // The same state captured with -o json and with -o yaml: the same report.
    let json =
        support::bin::doctor().arg("--bundle").arg(fixture("kubeadm-etcd-crashloop-json")).args(["-o", "json"]).run();
    let yaml = support::bin::doctor().arg("--bundle").arg(fixture("kubeadm-etcd-crashloop")).args(["-o", "json"]).run();
    assert_eq!(json.code, yaml.code, "{}", json.stderr);
    let (j, y) = (json.json_strict(), yaml.json_strict());
    assert_eq!(j["members"], y["members"]);
    assert_eq!(j["findings"], y["findings"]);
    assert!(j["members"].as_array().into_iter().flatten().all(|m| m["node"].is_string()), "{j}");
    assert!(
        !j["gaps"].as_array().into_iter().flatten().any(|g| g["source"] == "kubernetes"),
        "nodes.json was read: {}",
        j["gaps"]
    );
    // The crash-looping etcd pod from pods.json is in the evidence, as from pods.yaml.
    assert!(json.stdout.contains("CrashLoopBackOff"), "{}", json.stdout);
}

#[test]
fn yaml_and_json_captures_side_by_side_must_agree() {
    let d = bundle_from("kubeadm-etcd-crashloop-json");
    // The same captures as YAML.
    for (json, yaml) in [("nodes.json", "nodes.yaml"), ("pods.json", "pods.yaml")] {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.path().join(json)).expect("read")).expect("json");
        std::fs::write(d.path().join(yaml), serde_yaml_ng::to_string(&v).expect("yaml")).expect("write");
    }
    let dir = d.path().display().to_string();
    // Both forms of the same capture: fine.
    let r = support::bin::doctor().args(["--bundle", &dir, "-o", "json"]).run();
    assert_eq!(r.code, 1, "{}", r.stderr);
    // A stale YAML beside a newer JSON: which is current cannot be told, so the run stops.
    let yaml = std::fs::read_to_string(d.path().join("nodes.yaml")).expect("read");
    let stale = yaml.replacen("kubeletVersion: v1.32.3", "kubeletVersion: v1.31.7", 1);
    assert_ne!(stale, yaml);
    std::fs::write(d.path().join("nodes.yaml"), stale).expect("write");
    refused(
        &["--bundle", &dir],
        &[
            "has both nodes.yaml and nodes.json, and they differ (node k8s-cp-1 differs)",
            "keep only the current capture",
        ],
    );
}
