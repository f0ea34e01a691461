//! Certificates against real etcd members (started by the harness) whose server or peer
//! certificate comes from a foreign CA, misses its address, expired or expires in 3 days —
//! each checked live through the TLS probe — and node file layouts of kubeadm, K3s and
//! Kubespray built in temp dirs, with a key that does not belong to its certificate and
//! garbage and truncated PEM files.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::Cluster;
use support::cluster::CertSpec;
use support::pki::Kind;
use support::report::{findings, map};
use time::OffsetDateTime;

struct Run {
    code: i32,
    report: Value,
    stderr: String,
}

fn doctor(args: &[String]) -> Run {
    let out = support::bin::doctor().args(args).args(["-o", "json"]).output().expect("run doctor");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(report.is_object(), "no JSON report; exit {:?} stderr: {stderr}", out.status.code());
    Run { code: out.status.code().unwrap_or(-1), report, stderr }
}

fn live(c: &Cluster, extra: &[&str]) -> Run {
    let mut args = c.tool_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    doctor(&args)
}

/// The findings of one check.
fn of<'a>(r: &'a Value, check: &str) -> Vec<&'a Value> {
    r["findings"].as_array().into_iter().flatten().filter(|f| f["check"] == check).collect()
}

fn hex(id: u64) -> String {
    format!("{id:x}")
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

#[test]
fn a_healthy_cluster_presents_chains_from_its_ca_on_both_ports() {
    let c = Cluster::start(3);
    let r = live(&c, &[]);
    assert_eq!((r.code, findings(&r.report)), (0, map(&[])), "{}\n{}", r.report, r.stderr);
    let presented = r.report["certificates"]["presented"].as_array().cloned().unwrap_or_default();
    assert_eq!(presented.len(), 6, "{presented:?}");
    for p in &presented {
        let leaf = &p["chain"][0];
        assert!(leaf["sha256"].as_str().is_some_and(|s| s.len() == 95), "{p}");
        assert_eq!(leaf["issuer"], "CN=etcd-ca");
        assert!(leaf["issuerSha256"].is_string(), "{p}");
        assert!(p["error"].is_null() && p["refusedBy"].is_null(), "{p}");
        if p["port"] == "client" {
            assert_eq!(leaf["chainsTo"]["server-ca"], true, "{p}");
        } else {
            // Without --local the peer CA is not known here.
            assert!(leaf["chainsTo"].get("peer-ca").is_none(), "{p}");
        }
    }
}

#[test]
fn a_server_certificate_from_a_foreign_ca_is_a_ca_mismatch_and_its_member_is_not_removed() {
    let c = Cluster::builder().members(3).server_cert(2, CertSpec::ForeignCa).start();
    let id = c.member(2).id;
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    // Its status cannot be read through a certificate we refuse, but its peer handshake
    // completes: alive (stale-member warns, never removes).
    assert_eq!(
        findings(&r.report),
        map(&[("ca-mismatch", "critical"), ("stale-member", "info"), ("quorum-at-risk", "info")]),
        "{}",
        r.report
    );
    let f = of(&r.report, "ca-mismatch");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["memberID"], hex(id));
    assert_eq!(f[0]["evidence"]["role"], "server");
    let cert = &f[0]["evidence"]["certificate"];
    assert_eq!(cert["issuer"], "CN=etcd-ca", "same name, other CA");
    assert!(cert["issuerSha256"].is_null(), "{cert}");
    assert!(cert["sha256"].is_string() && cert["notAfter"].is_string() && cert["ipAddresses"].is_array());
    assert_eq!(f[0]["evidence"]["expectedCA"][0]["path"], c.cacert().display().to_string());
    assert!(f[0]["message"].as_str().unwrap_or_default().contains(&c.member(2).client_url), "{}", f[0]["message"]);
    assert!(
        r.report["plan"]["steps"].as_array().is_some_and(|s| s.iter().all(|s| s["action"] == "manual")),
        "{}",
        r.report["plan"]
    );
    assert!(
        r.report["gaps"].to_string().contains("etcd-doctor refused the member's certificate"),
        "{}",
        r.report["gaps"]
    );
}

#[test]
fn a_peer_certificate_from_a_foreign_ca_cuts_the_member_off_and_is_named() {
    let mut c = Cluster::start(3);
    c.replace_peer_cert_and_restart(2, &CertSpec::ForeignCa);
    let id = c.member(2).id;
    // It answers on its client port, but its peers refuse it: it never finds a leader.
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    let got = findings(&r.report);
    assert_eq!(got.get("ca-mismatch").map(String::as_str), Some("critical"), "{}", r.report);
    assert_eq!(got.get("quorum-at-risk").map(String::as_str), Some("critical"), "{}", r.report);
    let f = of(&r.report, "ca-mismatch");
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["memberID"], hex(id));
    assert_eq!(f[0]["evidence"]["role"], "peer");
    assert!(f[0]["message"].as_str().unwrap_or_default().contains("most members'"), "{}", f[0]["message"]);
    // Our verifier refused its peer chain (checked against --cacert, the cluster CA), and the
    // chain was kept.
    let p = r.report["certificates"]["presented"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["memberID"] == hex(id) && p["port"] == "peer").cloned())
        .unwrap_or_default();
    assert_eq!(p["refusedBy"], "etcd-doctor", "{p}");
    assert_eq!(p["chain"][0]["subject"], "CN=m2-peer");
}

#[test]
fn a_server_certificate_without_the_members_address_is_a_san_mismatch() {
    let c = Cluster::builder()
        .members(3)
        .server_cert(1, CertSpec::Sans(vec!["m1.etcd.invalid".into(), "127.0.0.1".into()]))
        .start();
    let id = c.member(1).id;
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    assert_eq!(
        findings(&r.report),
        map(&[("cert-san-mismatch", "critical"), ("stale-member", "info"), ("quorum-at-risk", "info")]),
        "{}",
        r.report
    );
    let f = of(&r.report, "cert-san-mismatch");
    assert_eq!(f[0]["memberID"], hex(id));
    assert_eq!(f[0]["evidence"]["uncoveredURLs"][0], c.member(1).client_url);
    assert_eq!(f[0]["evidence"]["certificate"]["dnsNames"][0], "m1.etcd.invalid");
    let msg = f[0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("m1.etcd.invalid, 127.0.0.1"), "{msg}");
}

#[test]
fn an_expired_server_certificate_is_critical() {
    let now = OffsetDateTime::now_utc();
    let c = Cluster::builder().members(3).server_cert(0, CertSpec::Validity(now - days(60), now - days(2))).start();
    let id = c.member(0).id;
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    assert_eq!(
        findings(&r.report),
        map(&[("cert-expiry", "critical"), ("stale-member", "info"), ("quorum-at-risk", "info")]),
        "{}",
        r.report
    );
    let f = of(&r.report, "cert-expiry");
    assert_eq!(f[0]["memberID"], hex(id));
    assert_eq!(f[0]["severity"], "critical");
    assert!(f[0]["message"].as_str().unwrap_or_default().contains("expired on"), "{}", f[0]["message"]);
    assert!(f[0]["evidence"]["daysLeft"].as_i64().is_some_and(|d| d < 0));
    assert_eq!(f[0]["evidence"]["certificate"]["subject"], "CN=m0-server");
}

#[test]
fn a_server_certificate_expiring_in_3_days_is_critical_and_in_20_days_a_warning() {
    let now = OffsetDateTime::now_utc();
    let c = Cluster::builder()
        .members(3)
        .server_cert(1, CertSpec::Validity(now - days(1), now + days(3) + time::Duration::hours(1)))
        .server_cert(2, CertSpec::Validity(now - days(1), now + days(20) + time::Duration::hours(1)))
        .start();
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    assert_eq!(findings(&r.report), map(&[("cert-expiry", "critical")]), "{}", r.report);
    let f = of(&r.report, "cert-expiry");
    let by = |i: usize| f.iter().find(|f| f["memberID"] == hex(c.member(i).id)).copied().cloned().unwrap_or_default();
    assert_eq!((by(1)["severity"].clone(), by(1)["evidence"]["daysLeft"].clone()), ("critical".into(), 3.into()));
    assert_eq!((by(2)["severity"].clone(), by(2)["evidence"]["daysLeft"].clone()), ("warning".into(), 20.into()));
    assert!(by(1)["message"].as_str().unwrap_or_default().contains("expires in 3 day(s)"));
    // --expiry-warning moves the warning line, never the critical one.
    let r = live(&c, &["--expiry-warning", "10d"]);
    assert_eq!(of(&r.report, "cert-expiry").len(), 1, "{}", r.report);
    assert_eq!(r.code, 2);
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    fs::copy(from, to).expect("copy");
}

fn write(to: &Path, text: &str) {
    fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    fs::write(to, text).expect("write");
}

fn run_local(root: &Path, extra: &[String]) -> Run {
    let mut args = vec!["--local".to_string(), "--root".to_string(), root.display().to_string()];
    args.extend(extra.iter().cloned());
    doctor(&args)
}

fn harness_file(c: &Cluster, name: &str) -> std::path::PathBuf {
    c.pki.dir.join(name)
}

fn kubeadm_manifest(url: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - etcd\n    - --advertise-client-urls={url}\n    - --cert-file=/etc/kubernetes/pki/etcd/server.crt\n    - --client-cert-auth=true\n    - --key-file=/etc/kubernetes/pki/etcd/server.key\n    - --listen-client-urls={url}\n    - --name={name}\n    - --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt\n    - --peer-client-cert-auth=true\n    - --peer-key-file=/etc/kubernetes/pki/etcd/peer.key\n    - --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt\n    image: registry.k8s.io/etcd:3.5.24-0\n    name: etcd\n"
    )
}

const APISERVER: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt\n    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt\n    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key\n    - --etcd-servers=https://127.0.0.1:2379\n    name: kube-apiserver\n";

/// A kubeadm node of member m0 whose API server etcd client pair and peer pair come from a
/// foreign CA, and whose server key belongs to another certificate.
#[test]
fn a_kubeadm_tree_with_foreign_client_and_peer_pairs_and_a_wrong_server_key() {
    let mut c = Cluster::start(3);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let pki = r.join("etc/kubernetes/pki");
    write(&r.join("etc/kubernetes/manifests/etcd.yaml"), &kubeadm_manifest(&c.member(0).client_url, "m0"));
    write(&r.join("etc/kubernetes/manifests/kube-apiserver.yaml"), APISERVER);
    copy(c.cacert(), &pki.join("etcd/ca.crt"));
    copy(&harness_file(&c, "m0-server.crt"), &pki.join("etcd/server.crt"));
    copy(&harness_file(&c, "m1-server.key"), &pki.join("etcd/server.key"));
    copy(c.client_cert(), &pki.join("etcd/healthcheck-client.crt"));
    copy(c.client_key(), &pki.join("etcd/healthcheck-client.key"));
    let ip = c.member(0).ip.clone();
    let foreign = c.foreign_ca();
    let (pc, pk) = foreign.issue("m0-foreign-peer", &[&ip, "127.0.0.1"], Kind::Peer);
    let (ac, ak) = foreign.issue("kube-apiserver-etcd-client", &[], Kind::Client);
    copy(&pc, &pki.join("etcd/peer.crt"));
    copy(&pk, &pki.join("etcd/peer.key"));
    copy(&ac, &pki.join("apiserver-etcd-client.crt"));
    copy(&ak, &pki.join("apiserver-etcd-client.key"));
    let run = run_local(r, &[]);
    assert_eq!(run.code, 2, "{}\n{}", run.report, run.stderr);
    assert_eq!(run.report["distribution"], "kubeadm");
    assert_eq!(
        findings(&run.report),
        map(&[("ca-mismatch", "critical"), ("cert-key-mismatch", "critical")]),
        "{}",
        run.report
    );
    let ca = of(&run.report, "ca-mismatch");
    let api = ca.iter().find(|f| f["evidence"]["role"] == "apiserver-etcd-client").expect("API server finding");
    assert!(api["message"].as_str().unwrap_or_default().starts_with("the API server's etcd client certificate"));
    assert_eq!(api["evidence"]["certificate"]["subject"], "CN=kube-apiserver-etcd-client");
    let peer = ca.iter().find(|f| f["evidence"]["role"] == "peer").expect("peer finding");
    assert_eq!(peer["memberID"], hex(c.member(0).id), "the file is member m0's by --name");
    let cmds = peer["remedy"]["commands"].to_string();
    assert!(cmds.contains("kubeadm init phase certs etcd-peer") && cmds.contains("etcd.yaml"), "{cmds}");
    let key = of(&run.report, "cert-key-mismatch");
    assert!(key[0]["evidence"]["keyPath"].as_str().is_some_and(|k| k.ends_with("etcd/server.key")));
    let text = run.report.to_string();
    assert!(
        !text.contains("PRIVATE KEY") && !text.contains(&fs::read_to_string(pki.join("etcd/server.key")).expect("key"))
    );
    // The foreign peer pair is what --local offers at peer URLs: the members refuse it, and
    // their chains are still recorded.
    for i in [1, 2] {
        let p = run.report["certificates"]["presented"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["memberID"] == hex(c.member(i).id) && p["port"] == "peer").cloned())
            .unwrap_or_default();
        assert_eq!(p["refusedBy"], "member", "{p}");
        assert_eq!(p["chain"][0]["chainsTo"]["peer-ca"], true, "{p}");
    }
}

/// A K3s server's tree (separate server-ca and peer-ca files, K3s's names), consistent.
#[test]
fn a_k3s_tree_with_separate_server_and_peer_cas_is_clean() {
    let c = Cluster::start(3);
    let root = tempfile::tempdir().expect("tempdir");
    let tls = root.path().join("var/lib/rancher/k3s/server/tls/etcd");
    copy(c.cacert(), &tls.join("server-ca.crt"));
    copy(c.cacert(), &tls.join("peer-ca.crt"));
    copy(&harness_file(&c, "m1-server.crt"), &tls.join("server-client.crt"));
    copy(&harness_file(&c, "m1-server.key"), &tls.join("server-client.key"));
    copy(&harness_file(&c, "m1-peer.crt"), &tls.join("peer-server-client.crt"));
    copy(&harness_file(&c, "m1-peer.key"), &tls.join("peer-server-client.key"));
    copy(c.client_cert(), &tls.join("client.crt"));
    copy(c.client_key(), &tls.join("client.key"));
    write(&root.path().join("var/lib/rancher/k3s/server/db/etcd/name"), "m1\n");
    let run = run_local(root.path(), &["--endpoints".into(), c.member(1).client_url.clone()]);
    assert_eq!((run.code, findings(&run.report)), (0, map(&[])), "{}\n{}", run.report, run.stderr);
    assert_eq!(run.report["distribution"], "k3s");
    let files = run.report["certificates"]["files"].as_array().cloned().unwrap_or_default();
    let roles = |name: &str| {
        files.iter().find(|f| f["path"].as_str().is_some_and(|p| p.ends_with(name))).map(|f| f["roles"].clone())
    };
    assert_eq!(roles("/server-ca.crt"), Some(serde_json::json!(["server-ca", "client-ca"])));
    assert_eq!(roles("/peer-ca.crt"), Some(serde_json::json!(["peer-ca"])));
    assert_eq!(roles("/client.crt"), Some(serde_json::json!(["client", "apiserver-etcd-client"])));
    let server = files.iter().find(|f| f["path"].as_str().is_some_and(|p| p.ends_with("server-client.crt")));
    assert_eq!(server.map(|f| (f["member"].clone(), f["keyMatches"].clone())), Some(("m1".into(), true.into())));
    // With the peer CA known, every peer chain is checked against it.
    for p in run.report["certificates"]["presented"].as_array().into_iter().flatten().filter(|p| p["port"] == "peer") {
        assert_eq!(p["chain"][0]["chainsTo"]["peer-ca"], true, "{p}");
        assert!(p["refusedBy"].is_null(), "{p}");
    }
}

/// A Kubespray node whose member certificate (ETCD_CERT_FILE) misses the node's address.
#[test]
fn a_kubespray_member_certificate_without_its_address_is_found_in_the_files() {
    let c = Cluster::start(3);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let url = &c.member(2).client_url;
    let env = format!(
        "ETCD_DATA_DIR=/var/lib/etcd\nETCD_ADVERTISE_CLIENT_URLS={url}\nETCD_LISTEN_CLIENT_URLS={url}\nETCD_NAME=m2\nETCD_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem\nETCD_CERT_FILE=/etc/ssl/etcd/ssl/member-node3.pem\nETCD_KEY_FILE=/etc/ssl/etcd/ssl/member-node3-key.pem\nETCD_PEER_TRUSTED_CA_FILE=/etc/ssl/etcd/ssl/ca.pem\nETCD_PEER_CERT_FILE=/etc/ssl/etcd/ssl/member-node3.pem\nETCD_PEER_KEY_FILE=/etc/ssl/etcd/ssl/member-node3-key.pem\n"
    );
    write(&r.join("etc/etcd.env"), &env);
    let ssl = r.join("etc/ssl/etcd/ssl");
    copy(c.cacert(), &ssl.join("ca.pem"));
    copy(c.client_cert(), &ssl.join("admin-node3.pem"));
    copy(c.client_key(), &ssl.join("admin-node3-key.pem"));
    let (mc, mk) = c.pki.issue("member-node3-old", &["10.0.0.99", "node3"], Kind::Server);
    copy(&mc, &ssl.join("member-node3.pem"));
    copy(&mk, &ssl.join("member-node3-key.pem"));
    let run = run_local(r, &[]);
    assert_eq!(run.code, 2, "{}\n{}", run.report, run.stderr);
    assert_eq!(findings(&run.report), map(&[("cert-san-mismatch", "critical")]), "{}", run.report);
    let f = of(&run.report, "cert-san-mismatch");
    // One file, two roles: the client URL and the peer URL are both uncovered.
    assert_eq!(f.len(), 2, "{f:?}");
    for f in &f {
        assert_eq!(f["memberID"], hex(c.member(2).id));
        assert!(f["evidence"]["seenAt"][0].as_str().is_some_and(|p| p.ends_with("member-node3.pem")));
        assert_eq!(f["evidence"]["certificate"]["ipAddresses"][0], "10.0.0.99");
        assert!(f["remedy"]["commands"].to_string().contains("etcd_cert_alt_ips"), "{}", f["remedy"]);
    }
    assert_eq!(run.report["distribution"], "kubespray");
}

#[test]
fn garbage_and_truncated_pem_files_are_named_never_a_panic() {
    let c = Cluster::start(1);
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let pki = r.join("etc/kubernetes/pki");
    write(&r.join("etc/kubernetes/manifests/etcd.yaml"), &kubeadm_manifest(&c.member(0).client_url, "m0"));
    copy(c.cacert(), &pki.join("etcd/ca.crt"));
    copy(c.client_cert(), &pki.join("etcd/healthcheck-client.crt"));
    copy(c.client_key(), &pki.join("etcd/healthcheck-client.key"));
    write(&pki.join("etcd/server.crt"), "this is no certificate\n");
    let pem = fs::read_to_string(harness_file(&c, "m0-peer.crt")).expect("read");
    write(&pki.join("etcd/peer.crt"), &pem[..pem.len() / 2]);
    let run = run_local(r, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.report, run.stderr);
    let gaps = run.report["gaps"].to_string();
    assert!(gaps.contains("etcd/server.crt") && gaps.contains("holds no PEM certificate"), "{gaps}");
    assert!(gaps.contains("etcd/peer.crt") && gaps.contains("truncated PEM"), "{gaps}");
    // Named by a flag, the same truncated file stops the run (exit 3) and says which.
    let mut args = c.tool_args();
    args[3] = pki.join("etcd/peer.crt").display().to_string();
    let out = support::bin::doctor().args(&args).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("--cacert") && err.contains("etcd/peer.crt") && err.contains("truncated"), "{err}");
}

#[test]
fn a_bundle_with_garbage_and_truncated_pki_files_names_them_and_still_diagnoses() {
    let d = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles/kubeadm-cert-expiry");
    for f in ["member-list.json", "endpoint-status.json", "collected-at.txt"] {
        copy(&src.join(f), &d.path().join(f));
    }
    let ca = fs::read_to_string(src.join("pki/ca.crt")).expect("ca");
    write(&d.path().join("pki/ca.crt"), &ca[..ca.len() - 40]);
    write(&d.path().join("pki/k8s-cp-1/server.crt"), "\u{0}\u{1}binary garbage\u{ff}");
    write(
        &d.path().join("pki/k8s-cp-1/server.key"),
        "-----BEGIN PRIVATE KEY-----\nnot base64 !!\n-----END PRIVATE KEY-----\n",
    );
    let run = doctor(&["--bundle".into(), d.path().display().to_string()]);
    assert_eq!((run.code, findings(&run.report)), (0, map(&[])), "{}\n{}", run.report, run.stderr);
    let gaps = run.report["gaps"].to_string();
    assert!(gaps.contains("pki/ca.crt") && gaps.contains("truncated PEM"), "{gaps}");
    assert!(gaps.contains("k8s-cp-1/server.crt") && gaps.contains("holds no PEM certificate"), "{gaps}");
    assert!(!run.report.to_string().contains("not base64"), "key contents never shown");
}

#[test]
fn a_member_whose_certificate_we_refuse_does_not_hide_a_dead_one() {
    let mut c = Cluster::builder().members(5).server_cert(1, CertSpec::ForeignCa).start();
    c.kill_and_wipe(4);
    let (odd, dead) = (c.member(1).id, c.member(4).id);
    let r = live(&c, &[]);
    assert_eq!(r.code, 2, "{}", r.report);
    let stale = of(&r.report, "stale-member");
    let sev = |id: u64| stale.iter().find(|f| f["memberID"] == hex(id)).map(|f| f["severity"].clone());
    assert_eq!(sev(dead), Some("critical".into()), "{stale:?}");
    // Its client URL presents a certificate we refuse, so its status was not collected; its
    // peer handshake completes: it runs (alive), said as "could not decide", never a removal.
    assert_eq!(sev(odd), None, "{stale:?}");
    let undecided = stale.iter().find(|f| f["memberID"].is_null()).map(|f| f["message"].to_string());
    assert!(undecided.is_some_and(|m| m.contains(&hex(odd)) && m.contains("alive")), "{stale:?}");
    assert_eq!(of(&r.report, "ca-mismatch")[0]["memberID"], hex(odd));
    // Only the dead member gets a step (brought back: stopped is not gone); the one that runs
    // with a foreign certificate gets none, and nothing is removed automatically.
    let targets: Vec<Value> = r.report["plan"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !s["memberID"].is_null())
        .map(|s| s["memberID"].clone())
        .collect();
    assert_eq!(targets, vec![Value::String(hex(dead))], "{}", r.report["plan"]);
    let steps = r.report["plan"]["steps"].as_array().cloned().unwrap_or_default();
    assert!(steps.iter().all(|s| s["automatic"] == false), "{}", r.report["plan"]);
}
