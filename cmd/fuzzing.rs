//! Entry points for the fuzz targets (`fuzz/`) and their regression tests: each takes raw
//! bytes, feeds them to one input parser the way real input arrives (a file in a bundle or on
//! a node, an annotation of a Node), and runs the checks over the result. Errors are expected;
//! a panic is a bug. Nothing here is used by the tool itself.

use std::path::Path;

use etcd_doctor_checks::model::{Node, Snapshot, Source};
use etcd_doctor_checks::registry::{self, Selection};
use time::OffsetDateTime;

use crate::collect::{bundle, bundle_write, certs, kube, local, rancher, tls::TlsFiles};

/// Splits fuzz input into `n` parts at 0xFF bytes (so one input can hold several files).
fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0xFF).collect();
    out.resize(n, &[]);
    out
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(p, data);
}

fn judge(snap: &Snapshot) {
    let findings = registry::run_all(snap, &Selection::default());
    let plan = etcd_doctor_checks::plan::plan(snap, &findings);
    let report = etcd_doctor_checks::report::Report::build(snap, findings, plan);
    let _ = serde_json::to_string(&report);
    for width in [None, Some(80)] {
        let _ = crate::render::table::report(&report, &crate::render::columns::Layout { width, ..Default::default() });
    }
}

/// A bundle: member-list.json, endpoint-status.json, endpoint-health.json, hashkv.json and a
/// metrics page, separated by 0xFF.
pub fn bundle_files(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let p = parts(data, 5);
    write(dir.path(), bundle::MEMBER_LIST, p[0]);
    write(dir.path(), bundle::ENDPOINT_STATUS, p[1]);
    write(dir.path(), bundle::ENDPOINT_HEALTH, p[2]);
    write(dir.path(), bundle::HASHKV, p[3]);
    if let Ok(ml) = serde_json::from_slice::<serde_json::Value>(p[0])
        && let Some(name) = ml.pointer("/members/0/name").and_then(|n| n.as_str())
        && !name.is_empty()
        && !name.contains(['/', '\\', '.'])
    {
        write(dir.path(), &format!("{}/{name}.prom", bundle::METRICS_DIR), p[4]);
    }
    if let Ok(mut snap) = bundle::load(dir.path(), OffsetDateTime::UNIX_EPOCH) {
        crate::collect::gather::finish_read(&mut snap);
        judge(&snap);
    }
}

/// `kubectl get nodes -o yaml|json` and `kubectl -n kube-system get pods -o yaml|json`.
pub fn kube_documents(data: &[u8]) {
    let p = parts(data, 2);
    let mut snap = Snapshot::new(Source::Bundle, OffsetDateTime::UNIX_EPOCH);
    // The line-by-line readers answer as serde does, or not at all.
    let text = String::from_utf8_lossy(p[0]);
    if let Some(fast) = kube::nodes_by_line(text.as_bytes(), text.trim_start().starts_with('{'), u64::MAX) {
        let whole = kube::parse_nodes(&text);
        assert!(whole.as_ref() == Ok(&fast), "read line by line: {fast:?}\nby serde: {whole:?}");
    }
    // And the two-halves reader of large JSON lists, on a file.
    if let Ok(mut file) = tempfile::tempfile()
        && std::io::Write::write_all(&mut file, text.as_bytes()).is_ok()
        && let Some(halves) = kube::nodes_in_halves(&file, text.len() as u64)
    {
        let whole = kube::parse_nodes(&text);
        assert!(whole.as_ref() == Ok(&halves), "read in halves: {halves:?}\nby serde: {whole:?}");
    }
    if let Ok(nodes) = kube::parse_nodes(&String::from_utf8_lossy(p[0])) {
        snap.nodes = Some(nodes);
    }
    if let Ok(pods) = kube::parse_etcd_pods(&String::from_utf8_lossy(p[1])) {
        snap.etcd_pods = Some(pods);
    }
    snap.map_nodes();
    judge(&snap);
}

/// K3s node annotations: `k3s.io/node-args` and `k3s.io/node-env` of an etcd-only node, next
/// to a control-plane node, judged and redacted.
pub fn node_annotations(data: &[u8]) {
    let p = parts(data, 2);
    let (args, env) = (String::from_utf8_lossy(p[0]).to_string(), String::from_utf8_lossy(p[1]).to_string());
    let mut etcd = Node { name: "etcd-1".into(), roles: vec!["etcd".into()], ready: Some(false), ..Default::default() };
    etcd.addresses = vec!["10.0.0.21".into()];
    etcd.annotations.insert("k3s.io/node-args".into(), args.clone());
    etcd.annotations.insert("k3s.io/node-env".into(), env.clone());
    let mut other = etcd.clone();
    other.name = "etcd-2".into();
    other.addresses = vec!["10.0.0.22".into()];
    let mut snap = Snapshot::new(Source::Bundle, OffsetDateTime::UNIX_EPOCH);
    snap.nodes = Some(vec![etcd, other]);
    judge(&snap);
    let _ = bundle_write::redact_annotation("k3s.io/node-args", &args);
    let _ = bundle_write::redact_annotation("k3s.io/node-env", &env);
}

/// A K3s server's files: config.yaml, a config.yaml.d drop-in, the unit, its env file and the
/// etcd config, as `--local --root` reads them; and their redacted bundle copies.
pub fn node_files(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let p = parts(data, 5);
    let names = [
        "etc/rancher/k3s/config.yaml",
        "etc/rancher/k3s/config.yaml.d/50-fuzz.yaml",
        "etc/systemd/system/k3s.service",
        "etc/systemd/system/k3s.service.env",
        "var/lib/rancher/k3s/server/db/etcd/config",
    ];
    for (name, bytes) in names.iter().zip(&p) {
        write(dir.path(), name, bytes);
        let _ = bundle_write::redact_file(&String::from_utf8_lossy(bytes));
    }
    let _ = rancher::read(dir.path(), rancher::K3S);
    let _ = local::node_facts(dir.path());
    let _ = local::discover(dir.path());
}

/// A PEM file as --cacert, --cert and --key, and as a certificate file the checks read.
pub fn pem(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("input.pem");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = TlsFiles::load(Some(&path), Some(&path), Some(&path));
    let _ = certs::read_certs(&path);
    let mut set = certs::CertSet::default();
    set.add_file(&certs::FileSpec::new(&path, &[etcd_doctor_checks::cert::CertRole::ServerCa], "fuzz"));
    set.add_file(&certs::FileSpec::new(&path, &[etcd_doctor_checks::cert::CertRole::Server], "fuzz").key(&path));
    let (c, _) = set.finish();
    let mut snap = Snapshot::new(Source::Bundle, OffsetDateTime::UNIX_EPOCH);
    snap.certs = Some(c);
    judge(&snap);
}
