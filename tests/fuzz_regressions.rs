//! Replays every input under tests/fuzz_regressions/<target>/ through the same entry point the
//! fuzz target uses (etcd_doctor::fuzzing). Inputs that once crashed a target, and hand-made
//! edge cases, live there; a panic fails the test. scripts/fuzz finds new ones.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        let data = std::fs::read(&p).expect("read input");
        let ok = std::panic::catch_unwind(|| run(&data));
        assert!(ok.is_ok(), "{target} panicked on {}", p.display());
        n += 1;
    }
    assert!(n > 0, "no inputs for {target}");
}

#[test]
fn bundle_files() {
    replay("bundle_files", etcd_doctor::fuzzing::bundle_files);
}

#[test]
fn kube_documents() {
    replay("kube_documents", etcd_doctor::fuzzing::kube_documents);
}

#[test]
fn node_annotations() {
    replay("node_annotations", etcd_doctor::fuzzing::node_annotations);
}

#[test]
fn node_files() {
    replay("node_files", etcd_doctor::fuzzing::node_files);
}

#[test]
fn pem() {
    replay("pem", etcd_doctor::fuzzing::pem);
}
