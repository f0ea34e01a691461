//! What the tables and CI formats look like from the built binary: piped (nothing wraps), on
//! real pseudo-terminals 80, 120 and 200 columns wide and one reporting 0 columns, with
//! `-o wide` and `--no-headers`; the summary, `-o junit`, `--fail-on` and YAML quoting.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::bin::doctor;

/// Bundles with long host-name URLs (kops), IP URLs (Kubespray, K3s), certificates and
/// many findings.
const BUNDLES: &[&str] = &[
    "kops-stale-member",
    "kubespray-split-brain",
    "k3s-etcd-only-via-etcd",
    "kubeadm-cert-san-and-key",
    "quorum-lost",
];

fn bundles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles")
}

fn piped(args: &[&str]) -> support::bin::Run {
    doctor().current_dir(bundles_dir()).args(args).run()
}

/// Runs the binary with stdout on a pseudo-terminal `cols` wide (stderr piped); returns the
/// exit code and what the terminal received, with `\r\n` as `\n`.
fn on_terminal(cols: u16, args: &[&str]) -> (i32, String) {
    use nix::pty::{Winsize, openpty};
    let size = Winsize { ws_row: 50, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = openpty(&size, None).expect("openpty");
    let slave = std::fs::File::from(pty.slave);
    let mut cmd = support::bin::command();
    cmd.current_dir(bundles_dir())
        .args(args)
        .stdin(Stdio::null())
        .stdout(slave.try_clone().expect("dup the pty"))
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the binary");
    // Only the child may hold the terminal now, so the reader sees its end when it exits.
    drop(cmd);
    drop(slave);
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        // Linux answers EIO once the last holder of the terminal closed it.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} on a terminal ran past 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(err.is_empty(), "{args:?}: stderr {err}");
    let out = reader.join().expect("the reader thread");
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&out).replace("\r\n", "\n"))
}

/// Every member id, peer and client URL, and finding check id in the JSON report.
fn tokens(report: &Value) -> (Vec<String>, Vec<String>) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let members = report["members"].as_array().cloned().unwrap_or_default();
    let mut ids: Vec<String> = members.iter().map(|m| s(&m["id"])).collect();
    ids.extend(report["findings"].as_array().into_iter().flatten().map(|f| s(&f["check"])));
    let urls = members
        .iter()
        .flat_map(|m| {
            let mut u: Vec<String> = m["peerURLs"].as_array().into_iter().flatten().map(s).collect();
            u.extend(m["clientURLs"].as_array().into_iter().flatten().map(s));
            u
        })
        .collect();
    (ids, urls)
}

/// The plan's commands: copied and pasted whole, so never wrapped.
fn commands(report: &Value) -> Vec<String> {
    report["plan"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["commands"].as_array().cloned().unwrap_or_default())
        .map(|c| c.as_str().unwrap_or_default().to_string())
        .collect()
}

/// Every line is at most `width` wide, unless it holds a word wider than that or is a plan
/// command; no line ends in a space.
fn assert_fits(out: &str, width: usize, commands: &[String], what: &str) {
    for line in out.lines() {
        assert_eq!(line, line.trim_end(), "{what}: trailing space in {line:?}");
        let w = line.chars().count();
        let long_word = line.split_whitespace().any(|t| t.chars().count() > width);
        let command = commands.iter().any(|c| c == line.trim_start());
        assert!(w <= width || long_word || command, "{what}: {w} > {width} columns: {line:?}\n{out}");
    }
}

#[test]
fn piped_tables_never_wrap_and_keep_every_id_and_url_whole() {
    for b in BUNDLES {
        let json = piped(&["--bundle", b, "-o", "json"]).json_strict();
        let (ids, urls) = tokens(&json);
        let run = piped(&["--bundle", b]);
        assert!(run.stderr.is_empty(), "{b}: {}", run.stderr);
        for t in ids.iter().chain(&urls) {
            assert!(run.stdout.contains(t.as_str()), "{b}: {t} not whole in the piped table:\n{}", run.stdout);
        }
        // One line per member, the URLs on it (kubectl joins lists with commas).
        for m in json["members"].as_array().into_iter().flatten() {
            let id = m["id"].as_str().unwrap_or_default();
            let line = run.stdout.lines().find(|l| l.starts_with(id)).unwrap_or_default();
            for u in m["peerURLs"].as_array().into_iter().flatten() {
                assert!(line.contains(u.as_str().unwrap_or("?")), "{b}: {u} not on the line of {id}: {line:?}");
            }
        }
        for line in run.stdout.lines() {
            assert_eq!(line, line.trim_end(), "{b}: trailing space in {line:?}");
        }
        for header in ["ID ", "SEVERITY "] {
            assert!(run.stdout.lines().any(|l| l.starts_with(header)), "{b}: no header line {header:?} at the margin");
        }
        assert!(run.stdout.contains(":2380"), "{b}: grep :2380 finds nothing");
    }
}

#[test]
fn on_terminals_lines_fit_and_ids_urls_and_check_ids_stay_whole() {
    for b in BUNDLES {
        let json = piped(&["--bundle", b, "-o", "json"]).json_strict();
        let (ids, urls) = tokens(&json);
        let cmds = commands(&json);
        let piped_code = piped(&["--bundle", b]).code;
        for cols in [80u16, 120, 200] {
            let what = format!("{b} at {cols} columns");
            let (code, out) = on_terminal(cols, &["--bundle", b]);
            assert_eq!(code, piped_code, "{what}");
            assert_fits(&out, cols as usize, &cmds, &what);
            for t in &ids {
                assert!(out.contains(t.as_str()), "{what}: {t} split or missing:\n{out}");
            }
            // URLs are either whole or left to -o wide; never cut.
            for u in &urls {
                let cut = out.lines().find(|l| (u.len() / 2..u.len()).any(|k| l.ends_with(&u[..k])));
                assert!(cut.is_none(), "{what}: {u} cut at the end of {cut:?}:\n{out}");
            }
            let (wcode, wide) = on_terminal(cols, &["--bundle", b, "-o", "wide"]);
            assert_eq!(wcode, piped_code, "{what} -o wide");
            for u in &urls {
                assert!(wide.contains(u.as_str()), "{what}: -o wide lacks {u}:\n{wide}");
            }
            assert_fits(&wide, cols as usize, &cmds, &format!("{what} -o wide"));
        }
    }
    // At 200 columns the kops table has room for its URLs without -o wide.
    let (_, out) = on_terminal(200, &["--bundle", "kops-stale-member"]);
    assert!(out.contains("https://etcd-a.internal.demo.k8s.local:2380"), "{out}");
    // At 80 it has not: the essential columns stay.
    let (_, out) = on_terminal(80, &["--bundle", "kops-stale-member"]);
    assert!(out.lines().any(|l| l.starts_with("ID ") && l.contains("STATE")) && !out.contains("PEER URLS"), "{out}");
}

#[test]
fn a_terminal_reporting_zero_columns_gets_the_piped_output() {
    for b in ["kops-stale-member", "kubespray-split-brain"] {
        let (code, out) = on_terminal(0, &["--bundle", b]);
        let run = piped(&["--bundle", b]);
        assert_eq!((code, out.as_str()), (run.code, run.stdout.as_str()), "{b}");
    }
}

#[test]
fn no_headers_drops_the_header_lines() {
    let run = piped(&["members", "--bundle", "kops-stale-member", "--no-headers"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(lines.iter().all(|l| l.len() > 16 && l.as_bytes()[..16].iter().all(u8::is_ascii_hexdigit)), "{lines:?}");
    let (_, out) = on_terminal(80, &["members", "--bundle", "kops-stale-member", "--no-headers"]);
    assert!(!out.contains("STATE") && !out.contains("MEMBERS"), "{out}");
    assert!(out.lines().next().is_some_and(|l| l.starts_with("e0a3a91f2346cc13")), "{out}");
    let checks = piped(&["checks", "--no-headers"]);
    assert!(checks.stdout.starts_with("stale-member "), "{}", checks.stdout);
    let report = piped(&["--bundle", "kops-stale-member", "--no-headers"]);
    assert!(!report.stdout.lines().any(|l| l.starts_with("ID ") || l.starts_with("SEVERITY ")), "{}", report.stdout);
    assert!(report.stdout.contains("f1260ebc7d56ab56   etcd-c"), "{}", report.stdout);
}

#[test]
fn the_summary_is_in_the_json_and_ends_the_table() {
    let run = piped(&["--bundle", "kops-stale-member", "--skip", "version-skew", "-o", "json"]);
    let s = &run.json_strict()["summary"];
    assert_eq!(s["findings"]["critical"], 2, "{s}");
    assert_eq!(s["exitCode"], run.code, "{s}");
    assert_eq!(s["failOn"], "warning");
    let skipped = s["checksSkipped"].as_array().cloned().unwrap_or_default();
    let reason = |id: &str| skipped.iter().find(|c| c["id"] == id).map(|c| c["reason"].to_string()).unwrap_or_default();
    assert!(reason("version-skew").contains("--skip"), "{s}");
    assert!(reason("hash-mismatch").contains("hashkv.json"), "{s}");
    assert!(reason("ca-mismatch").contains("pki/"), "{s}");
    assert!(!s["checksRun"].as_array().is_some_and(|r| r.iter().any(|c| c == "version-skew" || c == "ca-mismatch")));
    let line = s["line"].as_str().unwrap_or_default();
    assert!(line.starts_with("3 members (1 unreachable) · 2 critical · "), "{line}");
    let table = piped(&["--bundle", "kops-stale-member", "--skip", "version-skew"]);
    assert_eq!(table.stdout.lines().last(), Some(line), "{}", table.stdout);
    let yaml = piped(&["--bundle", "kops-stale-member", "-o", "yaml"]).yaml();
    assert_eq!(yaml["summary"]["exitCode"], 2);
}

#[test]
fn junit_lists_the_selected_checks_skips_those_without_input_and_fails_per_finding() {
    let run = piped(&["--bundle", "kops-stale-member", "--skip", "version-skew", "-o", "junit"]);
    let xml = &run.stdout;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!xml.contains("version-skew"), "a deselected check is no test case:\n{xml}");
    assert!(
        xml.contains("name=\"hash-mismatch\">\n      <skipped message=\"no HashKV was read"),
        "a check without its input is skipped with the reason:\n{xml}"
    );
    for id in ["ca-mismatch", "cert-expiry", "cert-san-mismatch", "cert-key-mismatch"] {
        assert!(
            xml.contains(&format!("name=\"{id}\">\n      <skipped message=\"no certificates were read")),
            "{id}:\n{xml}"
        );
    }
    // Each critical finding its own failing case.
    for name in ["stale-member: member f1260ebc7d56ab56 (etcd-c)", "quorum-at-risk: cluster"] {
        assert!(xml.contains(&format!("name=\"{name}\">\n      <failure type=\"critical\"")), "{name}:\n{xml}");
    }
    let (tests, failures, skipped) =
        (xml.matches("<testcase ").count(), xml.matches("<failure ").count(), xml.matches("<skipped ").count());
    // Skipped: HashKV, the four certificate checks, restart-wave (no metrics in this bundle),
    // and the two that need --target-version.
    assert_eq!((failures, skipped), (2, 8), "{xml}");
    assert!(xml.contains(&format!("tests=\"{tests}\" failures=\"2\" errors=\"0\" skipped=\"8\"")), "{xml}");
    // --checks: only those.
    let only = piped(&["--bundle", "kops-stale-member", "--checks", "unstarted-member", "-o", "junit"]);
    assert_eq!(only.stdout.matches("<testcase ").count(), 1, "{}", only.stdout);
    assert_eq!(only.code, 0);
    // Below --fail-on a finding is reported, not failed.
    let quiet = piped(&["--bundle", "kops-stale-member", "--fail-on", "never", "-o", "junit"]);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stdout.contains("<failure") && quiet.stdout.contains("<system-out>[critical]"), "{}", quiet.stdout);
}

#[test]
fn fail_on_chooses_the_severity_that_fails_the_run() {
    // mixed-versions: one warning; kops-stale-member: critical findings.
    for (bundle, fail_on, code) in [
        ("mixed-versions", None, 1),
        ("mixed-versions", Some("warning"), 1),
        ("mixed-versions", Some("critical"), 0),
        ("mixed-versions", Some("never"), 0),
        ("kops-stale-member", None, 2),
        ("kops-stale-member", Some("critical"), 2),
        ("kops-stale-member", Some("never"), 0),
    ] {
        let mut args = vec!["--bundle", bundle, "-o", "json"];
        if let Some(f) = fail_on {
            args.extend(["--fail-on", f]);
        }
        let run = piped(&args);
        assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
        assert_eq!(run.json_strict()["summary"]["exitCode"], code, "{args:?}");
    }
    let bad = piped(&["--bundle", "mixed-versions", "--fail-on", "info"]);
    assert_eq!(bad.code, 3, "an unknown threshold is a bad flag: {}", bad.stderr);
}

#[test]
fn yaml_timestamps_are_quoted_for_yaml_1_1_readers() {
    let run = piped(&["--bundle", "kops-stale-member", "-o", "yaml"]);
    let at = run.stdout.lines().find(|l| l.starts_with("collectedAt: ")).unwrap_or_default();
    assert!(at.starts_with("collectedAt: '20") && at.ends_with('\''), "{at}");
    let plan = piped(&["plan", "--bundle", "kops-stale-member", "-o", "yaml"]);
    let at = plan.stdout.lines().find(|l| l.starts_with("createdAt: ")).unwrap_or_default();
    assert!(at.starts_with("createdAt: '20") && at.ends_with('\''), "{at}");
    // PyYAML, a YAML 1.1 reader, where it is installed: the time is a string.
    let py = "import sys, yaml; d = yaml.safe_load(sys.stdin); print(type(d['collectedAt']).__name__)";
    if let Ok(mut child) = std::process::Command::new("python3")
        .args(["-c", py])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        use std::io::Write;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(run.stdout.as_bytes());
        }
        let out = child.wait_with_output().expect("python3");
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "str");
        } else {
            eprintln!("python3 has no yaml module: the emitted text was checked only");
        }
    }
}

#[test]
/// The longest member name a capture may hold (the input limits refuse longer strings, see
/// tests/inputs.rs) renders at once: the renderer is linear (comfy-table took 0.7 s for 20 KB).
fn a_60_kb_member_name_renders_at_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let src = bundles_dir().join("kops-stale-member");
    for f in ["endpoint-status.json", "endpoint-health.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy the bundle");
    }
    let list = std::fs::read_to_string(src.join("member-list.json")).expect("member-list.json");
    let name = "n".repeat(60 * 1024);
    std::fs::write(dir.path().join("member-list.json"), list.replace("\"etcd-c\"", &format!("\"{name}\"")))
        .expect("write member-list.json");
    let bundle = dir.path().to_str().expect("a UTF-8 temp path");
    for cols in [None, Some(80u16)] {
        let t = Instant::now();
        let (code, out) = match cols {
            None => {
                let r = piped(&["--bundle", bundle]);
                (r.code, r.stdout)
            }
            Some(c) => on_terminal(c, &["--bundle", bundle]),
        };
        let took = t.elapsed();
        eprintln!("60 KB member name, {cols:?} columns: {took:?} for the whole run (debug build)");
        assert_eq!(code, 2);
        assert!(out.contains(&name), "the name is printed whole");
        assert!(took < Duration::from_secs(5), "{took:?}");
        // The other members' rows are not padded to the long name.
        let row = out.lines().find(|l| l.starts_with("e0a3a91f2346cc13")).unwrap_or_default();
        assert!(row.len() < 400, "{cols:?}: {} columns", row.len());
    }
}
