//! etcd with authentication enabled, as etcdctl users meet it: a root user and role, then
//! `auth enable`. Reads need no user; a removal does, and etcd then names the client
//! certificate's CN as an unknown user. `--user NAME:PASSWORD`, `--user NAME --password PW` and
//! `ETCDCTL_USER` / `ETCDCTL_PASSWORD` must each work, a run without them must say `--user`, and
//! the password must appear in no output.

mod support;

use serde_json::Value;
use support::Cluster;
use support::bin::{Run, doctor};

const PASSWORD: &str = "s3cret-Pa55word";

fn enable_auth(c: &Cluster) {
    c.with_client(|mut cl| async move {
        cl.user_add("root", PASSWORD, None).await?;
        cl.role_add("root").await?;
        cl.user_grant_role("root", "root").await?;
        cl.auth_enable().await?;
        Ok(())
    })
    .expect("enable auth");
}

fn fix_remove(c: &Cluster, id: u64, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut d = doctor();
    d.args(c.tool_args()).args(["--fix", "--yes", "-o", "json", "--dial-timeout", "5s", "--command-timeout", "10s"]);
    d.args(["--remove-member", &format!("{id:x}")]).args(extra);
    for (k, v) in env {
        d.env(k, v);
    }
    let r = d.run();
    assert!(
        !r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD),
        "the password was printed:\n{}\n{}",
        r.stdout,
        r.stderr
    );
    r
}

fn applied(v: &Value) -> Vec<String> {
    v["applied"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["result"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn fix_on_an_auth_enabled_cluster_needs_a_user_and_takes_it_as_etcdctl_does() {
    let mut c = Cluster::start(5);
    // While every member is up: after a kill, an election may outlast the harness's timeout.
    enable_auth(&c);
    c.kill_and_wipe(3);
    c.kill_and_wipe(4);
    let (d3, d4) = (c.member(3).id, c.member(4).id);

    // Reading needs no user: the diagnosis runs.
    let r = doctor().args(c.tool_args()).args(["-o", "json", "--dial-timeout", "5s"]).run();
    assert_eq!(r.json_strict()["members"].as_array().map(Vec::len), Some(5), "{}", r.stderr);

    // Without a user the removal is refused by etcd, and the tool says what to pass.
    let r = fix_remove(&c, d3, &[], &[]);
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    assert!(applied(&r.json()).iter().any(|a| a != "done"), "{}", r.stdout);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("pass --user"), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.member_list().len(), 5);

    // A wrong password is named as such.
    let r = fix_remove(&c, d3, &["--user", "root", "--password", "wrong-password"], &[]);
    assert_ne!(r.code, 0);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("check --user and --password"), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.member_list().len(), 5);

    // --user NAME:PASSWORD.
    let user = format!("root:{PASSWORD}");
    let r = fix_remove(&c, d3, &["--user", &user], &[]);
    assert_eq!(applied(&r.json()), ["done"], "{}\n{}", r.stdout, r.stderr);
    assert_eq!(c.member_list().len(), 4);

    // ETCDCTL_USER and ETCDCTL_PASSWORD, as etcdctl reads them.
    let r = fix_remove(&c, d4, &[], &[("ETCDCTL_USER", "root"), ("ETCDCTL_PASSWORD", PASSWORD)]);
    assert_eq!(applied(&r.json()), ["done"], "{}\n{}", r.stdout, r.stderr);
    assert!(c.member_list().iter().all(|m| m.id != d3 && m.id != d4));
}

#[test]
fn credentials_are_never_shown_in_help() {
    let r =
        doctor().env("ETCDCTL_PASSWORD", PASSWORD).env("ETCDCTL_USER", format!("root:{PASSWORD}")).arg("--help").run();
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("ETCDCTL_PASSWORD") && !r.stdout.contains(PASSWORD), "{}", r.stdout);
    // A user without a password is refused before anything is dialled, naming the ways to give one.
    let r = doctor().args(["--endpoints", "http://127.0.0.1:9", "--user", "root"]).run();
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("root:PASSWORD") && r.stderr.contains("ETCDCTL_PASSWORD"), "{}", r.stderr);
}
