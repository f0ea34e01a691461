//! Errors that lead: each wrong input an operator meets in the field, run on the binary
//! against what produces it for real (an mTLS etcd, a plaintext etcd, a learner, a kubeconfig
//! whose server is down), and the message must say what to pass or run next.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rstest::rstest;
use support::Cluster;
use support::bin::{Run, doctor};
use support::cluster::{EtcdVersion, V3_4, V3_5};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// Runs the binary with these arguments (no Kubernetes API).
fn run(args: &[String]) -> Run {
    doctor().args(args).run()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

/// One stderr line, the way people read it: the hint must be in the text, not the exit alone.
fn assert_says(r: &Run, code: i32, wanted: &[&str]) {
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    for w in wanted {
        assert!(r.stderr.contains(w), "stderr lacks {w:?}:\n{}", r.stderr);
    }
}

#[test]
fn no_client_certificate_against_mtls_etcd_says_pass_cert_and_key() {
    let c = Cluster::start(1);
    let r = run(&[
        s(&["--endpoints", &c.endpoints()[0], "--cacert"]),
        vec![c.cacert().display().to_string()],
        s(&["--dial-timeout", "3s"]),
    ]
    .concat());
    assert_says(&r, 3, &["client certificate", "--cert and --key", "--local"]);
}

#[test]
fn http_against_a_tls_port_says_use_https() {
    let c = Cluster::start(1);
    let url = c.endpoints()[0].replacen("https://", "http://", 1);
    let r = run(&s(&["--endpoints", &url, "--dial-timeout", "3s"]));
    assert_says(&r, 3, &["speaks TLS: use https://"]);
}

/// A single etcd with plaintext client and peer URLs (the harness's are all TLS).
struct PlainEtcd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for PlainEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn plain_etcd(etcd: EtcdVersion) -> PlainEtcd {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cp, pp) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{cp}");
    let peer = format!("http://127.0.0.1:{pp}");
    let log = std::fs::File::create(dir.path().join("etcd.log")).expect("log file");
    let child = Command::new(etcd.etcd())
        .args(["--name", "plain", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args(["--initial-cluster", &format!("plain={peer}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start etcd");
    let e = PlainEtcd { child, url, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(20);
    // Answers over plain HTTP: the tool itself says so once it is up.
    while run(&s(&["--endpoints", &e.url, "-o", "json"])).code == 3 {
        assert!(Instant::now() < deadline, "plain etcd at {} did not start", e.url);
        std::thread::sleep(Duration::from_millis(200));
    }
    e
}

/// A plaintext port drops the ClientHello with a close or, when our bytes are still unread, a
/// reset: which one is timing. The hint must not depend on it: the port is asked in HTTP/2.
#[rstest]
fn https_against_a_plaintext_port_says_use_http(#[values(V3_4, V3_5)] etcd: EtcdVersion) {
    let e = plain_etcd(etcd);
    let d = tempfile::tempdir().expect("tempdir");
    let ca = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("rcgen");
    let ca = write(d.path(), "ca.crt", &ca.cert.pem());
    let url = e.url.replacen("http://", "https://", 1);
    for _ in 0..3 {
        let r = run(&[s(&["--endpoints", &url, "--cacert"]), vec![ca.display().to_string()]].concat());
        assert_says(&r, 3, &["answered HTTP/2 without TLS", "does not speak TLS", "use http://"]);
        assert!(!r.stderr.contains("--cert and --key"), "{}", r.stderr);
    }
}

#[test]
fn a_learners_endpoint_alone_says_pass_a_voters() {
    let mut c = Cluster::start(1);
    let i = c.prepare_member("learner");
    let peer = c.member(i).peer_url.clone();
    c.add_learner(&peer);
    c.start_joining(i);
    let learner = c.member(i).client_url.clone();
    let mut a = c.tool_args();
    a[1] = learner;
    let r = run(&a);
    assert_says(&r, 3, &["learner", "pass a voter's endpoint"]);
}

#[test]
fn a_key_that_is_not_the_certificates_names_both_files() {
    let d = tempfile::tempdir().expect("tempdir");
    let a = rcgen::generate_simple_self_signed(vec!["a".to_string()]).expect("rcgen");
    let b = rcgen::generate_simple_self_signed(vec!["b".to_string()]).expect("rcgen");
    let ca = write(d.path(), "ca.crt", &a.cert.pem());
    let cert = write(d.path(), "client.crt", &a.cert.pem());
    let key = write(d.path(), "other.key", &b.signing_key.serialize_pem());
    let r = doctor()
        .args(["--endpoints", "https://127.0.0.1:9", "--cacert"])
        .arg(&ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .run();
    assert_says(&r, 3, &["other.key", "client.crt", "is not the private key of"]);
    assert!(!r.stderr.contains("KeyMismatch"), "{}", r.stderr);
    // The right key passes this check (and fails later, dialling nothing).
    let key = write(d.path(), "client.key", &a.signing_key.serialize_pem());
    let r = doctor()
        .args(["--endpoints", "https://127.0.0.1:9", "--dial-timeout", "1s", "--cacert"])
        .arg(&ca)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .run();
    assert!(r.stderr.contains("no etcd endpoint answered") && !r.stderr.contains("private key"), "{}", r.stderr);
}

#[test]
fn a_kubeconfig_whose_server_is_down_names_it_and_says_what_else_to_pass() {
    let d = tempfile::tempdir().expect("tempdir");
    let server = format!("https://127.0.0.1:{}", free_port());
    let kc = write(
        d.path(),
        "kubeconfig",
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\n\
             contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
        ),
    );
    let r = doctor().with_kube().arg("--kubeconfig").arg(&kc).args(["--dial-timeout", "1s"]).run();
    assert_says(&r, 3, &[&server, "--endpoints", "--local", "--no-kube"]);
}

#[test]
fn no_kubeconfig_is_one_line_that_says_what_to_pass() {
    let r = doctor().with_kube().run();
    assert_says(&r, 3, &["no kubeconfig found", "--endpoints", "--local"]);
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
}

#[test]
fn root_without_local_is_refused() {
    let r = doctor().args(["--root", "/tmp"]).run();
    assert_says(&r, 3, &["--local"]);
    let r = doctor().args(["members", "--root", "/tmp"]).run();
    assert_says(&r, 3, &["--local"]);
}

#[test]
fn unknown_check_ids_get_the_closest_id() {
    let r = doctor().args(["--checks", "stale-memebr"]).run();
    assert_says(&r, 3, &["unknown check id \"stale-memebr\"", "did you mean \"stale-member\""]);
    let r = doctor().args(["explain", "quorum-at-rsk"]).run();
    assert_says(&r, 3, &["did you mean \"quorum-at-risk\""]);
}

#[test]
fn every_duration_flag_needs_a_unit_and_names_the_units() {
    for flag in [
        "--expiry-warning",
        "--node-grace",
        "--restart-window",
        "--wait-learner",
        "--dial-timeout",
        "--command-timeout",
    ] {
        let r = doctor().args([flag, "45"]).run();
        assert_says(&r, 3, &[flag, "a unit is needed", "units: ns, us, ms, s, m, h, d"]);
    }
    let r = doctor().args(["audit", "--expiry-warning", "45"]).run();
    assert_says(&r, 3, &["a unit is needed"]);
}

#[test]
fn bundle_ignores_exported_etcdctl_variables_but_refuses_typed_flags() {
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles/healthy-3");
    let r = doctor()
        .env("ETCDCTL_ENDPOINTS", "https://10.0.0.1:2379")
        .env("ETCDCTL_CACERT", "/nonexistent/ca.crt")
        .env("ETCDCTL_USER", "root:pw")
        .arg("--bundle")
        .arg(&bundle)
        .args(["-o", "json"])
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json_strict()["source"], "bundle");
    let r = doctor().arg("--bundle").arg(&bundle).args(["members", "--endpoints", "https://10.0.0.1:2379"]).run();
    assert_says(&r, 3, &["--bundle", "--endpoints", "pass one or the other"]);
}
