//! The krew release: scripts/release packs the binary (here the test build, via --binary) and
//! renders krew/etcd-doctor.yaml; the manifest must carry krew's required fields and the
//! archive's real sha256, and the unpacked archive must work as a kubectl plugin.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

#[test]
fn the_release_archive_matches_its_manifest_and_installs_as_a_plugin() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().expect("tempdir");
    let bin = assert_cmd::cargo::cargo_bin!("kubectl-etcd_doctor");
    let run = Command::new(root.join("scripts/release"))
        .arg("--out")
        .arg(out.path())
        .arg("--binary")
        .arg(bin)
        .args(["--base-url", "https://example.invalid/download"])
        .output()
        .expect("run scripts/release");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let manifest: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(out.path().join("etcd-doctor.yaml")).expect("manifest"))
            .expect("manifest is YAML");
    assert_eq!(manifest["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "etcd-doctor");
    let spec = &manifest["spec"];
    assert_eq!(spec["version"], format!("v{}", env!("CARGO_PKG_VERSION")));
    for field in ["homepage", "shortDescription", "description"] {
        assert!(spec[field].as_str().is_some_and(|s| !s.trim().is_empty()), "spec.{field} missing");
    }
    let p = &spec["platforms"][0];
    assert!(p["selector"]["matchLabels"]["os"].is_string() && p["selector"]["matchLabels"]["arch"].is_string());
    assert_eq!(p["bin"], "kubectl-etcd_doctor");
    let uri = p["uri"].as_str().expect("uri");
    let archive_name = uri.rsplit('/').next().expect("archive name");
    assert!(uri.starts_with("https://example.invalid/download/") && archive_name.ends_with(".tar.gz"), "{uri}");
    let archive = out.path().join(archive_name);
    let digest = Sha256::digest(std::fs::read(&archive).expect("archive"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(p["sha256"], hex, "the manifest's sha256 is the archive's");

    // Install it as krew would: unpack, put the directory first on PATH, ask kubectl.
    let install = tempfile::tempdir().expect("tempdir");
    let untar = Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(install.path()).status().expect("tar");
    assert!(untar.success());
    for f in p["files"].as_array().expect("files") {
        let from = f["from"].as_str().expect("from");
        assert!(install.path().join(from).exists(), "{from} is in the archive");
    }
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("kubectl not found on PATH: install it (apt-get install -y kubectl)"));
    let path = std::env::join_paths(
        std::iter::once(install.path().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let v = Command::new(kubectl).args(["etcd-doctor", "--version"]).env("PATH", path).output().expect("kubectl");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(text.starts_with(&format!("kubectl-etcd_doctor {} (", env!("CARGO_PKG_VERSION"))), "{text}");
}
