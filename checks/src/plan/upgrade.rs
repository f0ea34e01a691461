//! `plan upgrade --target-version X`: a rolling upgrade as a plan. Blockers first (the
//! findings that make `audit --pre-upgrade` say "not ready"), a backup, then one member at a
//! time, followers first and the leader last (one leader election, not one per member), each
//! restart followed by a gate the executor waits on. No restart is planned while a critical
//! blocker stands or while the cluster cannot lose a member (the Kubespray incident restarted
//! every member at once and lost quorum).

use crate::checks::version_of;
use crate::distribution::Distribution;
use crate::endpoint::{Endpoint, HostKey};
use crate::finding::{Finding, Severity};
use crate::id::MemberId;
use crate::model::{Health, Member, Snapshot};
use crate::plan::{Action, Plan, Step};
use crate::plan_file::fingerprint;
use crate::quorum::Quorum;

/// The reason every step of an upgrade plan carries.
pub const REASON: &str = "upgrade";

/// What an upgrade plan needs besides the snapshot and its findings.
#[derive(Clone, Debug, Default)]
pub struct UpgradeOptions {
    /// The etcd version to go to, e.g. `3.5.17` (already resolved from a Kubernetes or K3s
    /// version by the caller).
    pub target: String,
    /// The file the printed `etcdctl snapshot save` writes (apply writes its own into
    /// `--backup-dir`).
    pub backup_file: String,
    /// etcdctl's TLS flags as the operator passed them (`--cacert=…`), for the printed commands.
    pub etcdctl_tls: Vec<String>,
}

/// The findings an upgrade must not start over: everything of severity warning or worse,
/// which is what makes `audit --pre-upgrade` say "not ready". Critical ones stop the plan
/// before any restart.
pub fn blockers(findings: &[Finding]) -> Vec<&Finding> {
    findings.iter().filter(|f| f.severity >= Severity::Warning).collect()
}

/// The host a member's machine has (its first peer URL's host), for `{host}`.
pub fn host_of(m: &Member) -> Option<String> {
    m.peer_urls.iter().chain(&m.client_urls).find_map(|u| {
        let e = Endpoint::parse(u).ok()?;
        Some(match e.host {
            HostKey::Ip(ip) => ip.to_string(),
            HostKey::Name(n) => n,
        })
    })
}

/// Whether a version string is the target (major, minor and patch equal; `v` and build
/// suffixes ignored).
pub fn at_version(version: &str, target: &str) -> bool {
    matches!((version_of(version), version_of(target)), (Some(a), Some(b)) if a == b)
}

/// The plan: blockers, backup, then restart + gate per member, the leader last.
pub fn upgrade(snap: &Snapshot, findings: &[Finding], opts: &UpgradeOptions) -> Plan {
    let target = opts.target.as_str();
    let mut steps = Vec::new();
    let blocking = blockers(findings);
    for f in &blocking {
        steps.push(Step::manual(
            f.member_id,
            &f.check,
            format!("fix first ({} blocker, {}): {}: {}", f.severity, f.check, f.subject, f.message),
            vec![
                format!("kubectl etcd-doctor explain {}   # what it means and how to fix it", f.check),
                "kubectl etcd-doctor --fix   # its automatic steps, if it has any".into(),
            ],
        ));
    }
    let critical: Vec<&str> =
        blocking.iter().filter(|f| f.severity == Severity::Critical).map(|f| f.check.as_str()).collect();
    if !critical.is_empty() {
        steps.push(Step::manual(
            None,
            REASON,
            format!(
                "no member is restarted while a critical blocker stands ({}): fix it, then make this plan again",
                dedup(&critical).join(", ")
            ),
            vec![format!("kubectl etcd-doctor plan upgrade --target-version {target}")],
        ));
        return numbered(snap, steps);
    }
    if !snap.members.is_empty()
        && snap.members.iter().all(|m| m.status().is_some_and(|s| at_version(&s.version, target)))
    {
        steps.push(Step::manual(
            None,
            REASON,
            format!("every member already runs etcd {target}: nothing to upgrade"),
            vec![],
        ));
        return numbered(snap, steps);
    }
    let q = Quorum::of(snap);
    if q.may_restart_together() == 0 {
        steps.push(Step::manual(
            None,
            REASON,
            format!(
                "no member can restart without losing quorum ({} of {} voters healthy, quorum {}): fix the cluster or add a member first",
                q.healthy_voters, q.voters, q.quorum
            ),
            vec!["kubectl etcd-doctor --fix".into()],
        ));
        return numbered(snap, steps);
    }
    let leader = snap.leader();
    let order = restart_order(snap, leader);
    if order.iter().all(|m| m.status().is_some_and(|s| at_version(&s.version, target))) {
        steps.push(Step::manual(
            None,
            REASON,
            format!("every member already runs etcd {target}: nothing to upgrade"),
            vec![],
        ));
        return numbered(snap, steps);
    }
    let dist = crate::detect::distribution(snap).map(|d| d.0);
    // The backup comes from a follower: a snapshot streams the whole database, and the
    // leader has enough to do.
    if let Some(source) = order.first() {
        let url = source.client_urls.first().cloned().unwrap_or_default();
        let tls = if opts.etcdctl_tls.is_empty() {
            "--cacert=<ca.crt> --cert=<client.crt> --key=<client.key>".to_string()
        } else {
            opts.etcdctl_tls.join(" ")
        };
        let mut backup = Step::automatic(
            Action::Backup,
            source.id,
            REASON.into(),
            format!(
                "back up first: a snapshot of the keyspace from {} (apply writes it into --backup-dir, checks it is not empty and notes its revision)",
                source.label()
            ),
            format!("ETCDCTL_API=3 etcdctl --endpoints={url} {tls} snapshot save {}", opts.backup_file),
        );
        backup.commands.push(format!(
            "etcdctl snapshot status {} -w table   # etcd 3.5+: etcdutl snapshot status",
            opts.backup_file
        ));
        steps.push(backup);
    }
    for m in &order {
        let is_leader = Some(m.id) == leader;
        let now = m.status().map(|s| s.version.clone()).unwrap_or_default();
        let done = at_version(&now, target);
        let who = if is_leader { format!("{} (the leader, last)", m.label()) } else { m.label() };
        let host = host_of(m).unwrap_or_default();
        let description = if done {
            format!("restart {who} on etcd {target}: it already runs {now}, apply skips it (already-done)")
        } else {
            format!(
                "restart {who} on etcd {target} (now {now}): apply runs --restart-command with {{name}}={}, {{id}}={}, {{host}}={host}",
                m.name, m.id
            )
        };
        let mut restart = Step::automatic(Action::RestartMember, m.id, REASON.into(), description, String::new());
        restart.commands = tooling(dist, m, &host, target);
        restart.target_version = Some(target.to_string());
        steps.push(restart);
        let mut gate = Step::automatic(
            Action::Gate,
            m.id,
            REASON.into(),
            format!(
                "gate: {} answers at {target}, its applied index caught up with the leader's, every voter healthy with fault tolerance back to {}, no election in progress; apply stops here otherwise",
                m.label(),
                q.fault_tolerance.map_or("what it was".to_string(), |t| t.to_string())
            ),
            "kubectl etcd-doctor audit --gate   # the same gate, between nodes upgraded with your own tooling".into(),
        );
        gate.target_version = Some(target.to_string());
        gate.fault_tolerance = q.fault_tolerance;
        steps.push(gate);
    }
    let left_out: Vec<String> =
        snap.members.iter().filter(|m| !order.iter().any(|o| o.id == m.id)).map(Member::label).collect();
    if !left_out.is_empty() {
        steps.push(Step::manual(
            None,
            REASON,
            format!(
                "not in the order above because they are not healthy: {}; upgrade them once they are back",
                left_out.join(", ")
            ),
            vec![],
        ));
    }
    numbered(snap, steps)
}

/// Healthy members: learners first (they vote on nothing), then followers by name, the leader
/// last.
fn restart_order(snap: &Snapshot, leader: Option<MemberId>) -> Vec<&Member> {
    let mut order: Vec<&Member> =
        snap.members.iter().filter(|m| m.health() == Health::Healthy && Some(m.id) != leader).collect();
    order.sort_by_key(|m| (!m.is_learner, m.name.clone()));
    if let Some(l) = leader.and_then(|l| snap.member(l)).filter(|m| m.health() == Health::Healthy) {
        order.push(l);
    }
    order
}

/// The distribution's own way to upgrade one node, for a person (or for choosing the
/// `--restart-command`).
fn tooling(dist: Option<Distribution>, m: &Member, host: &str, target: &str) -> Vec<String> {
    let node = m.node.clone().unwrap_or_else(|| if m.name.is_empty() { host.to_string() } else { m.name.clone() });
    match dist {
        Some(Distribution::Kubeadm) => vec![
            format!(
                "kubeadm upgrade node   # on {node}, one control-plane node at a time (kubeadm upgrade apply <version> on the first): its etcd static pod moves to the release's etcd image"
            ),
            format!(
                "# or pin it: etcd.local.imageTag: {target}-0 in the kubeadm-config ConfigMap, then kubeadm upgrade node on {node}"
            ),
        ],
        Some(Distribution::K3s) => vec![
            format!(
                "curl -sfL https://get.k3s.io | INSTALL_K3S_VERSION=<a K3s release that embeds etcd {target}> sh -   # on {node}"
            ),
            "# or a system-upgrade-controller Plan for the server nodes with concurrency: 1".into(),
        ],
        Some(Distribution::Rke2) => vec![
            format!(
                "curl -sfL https://get.rke2.io | INSTALL_RKE2_VERSION=<an RKE2 release that embeds etcd {target}> sh - && systemctl restart rke2-server   # on {node}"
            ),
            "# or a system-upgrade-controller Plan for the server nodes with concurrency: 1".into(),
        ],
        Some(Distribution::Kubespray) => vec![format!(
            "ansible-playbook -i <inventory> upgrade-cluster.yml --limit {node} -e etcd_version=v{target}   # one etcd node at a time"
        )],
        Some(Distribution::Kops) => vec![format!(
            "etcd-manager owns etcd here: set spec.etcdClusters[*].version: {target} (kops edit cluster), then kops update cluster --yes && kops rolling-update cluster --yes"
        )],
        None => vec![format!(
            "on {host}: install etcd {target} in place of the old binary or image, keep every flag and the data directory, restart etcd (systemctl restart etcd)"
        )],
    }
}

fn dedup<'a>(v: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for s in v {
        if !out.contains(s) {
            out.push(s);
        }
    }
    out
}

fn numbered(snap: &Snapshot, mut steps: Vec<Step>) -> Plan {
    for (i, s) in steps.iter_mut().enumerate() {
        s.n = i + 1;
    }
    Plan { fingerprint: fingerprint(snap), steps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn opts(target: &str) -> UpgradeOptions {
        UpgradeOptions { target: target.into(), backup_file: "b.db".into(), etcdctl_tls: vec!["--cacert=/ca".into()] }
    }

    fn with_version(mut m: Member, v: &str) -> Member {
        if let Some(p) = m.probe.as_mut() {
            for a in &mut p.attempts {
                if let Ok(s) = a.result.as_mut() {
                    s.version = v.into();
                }
            }
        }
        m
    }

    fn shape(p: &Plan) -> Vec<(String, u64, bool)> {
        p.steps.iter().map(|s| (s.action.to_string(), s.member_id.map_or(0, |m| m.0), s.automatic)).collect()
    }

    #[test]
    fn backup_then_followers_then_the_leader_each_followed_by_a_gate() {
        // testing::healthy members follow member 1: it is the leader, so it goes last.
        let snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        let p = upgrade(&snap, &[], &opts("3.6.0"));
        let want: Vec<(String, u64, bool)> = [
            ("backup", 2),
            ("restart-member", 2),
            ("gate", 2),
            ("restart-member", 3),
            ("gate", 3),
            ("restart-member", 1),
            ("gate", 1),
        ]
        .iter()
        .map(|(a, id)| (a.to_string(), *id, true))
        .collect();
        assert_eq!(shape(&p), want);
        assert!(
            p.steps[0].commands[0]
                .contains("etcdctl --endpoints=https://10.0.0.2:2379 --cacert=/ca snapshot save b.db")
        );
        assert!(p.steps[5].description.contains("the leader, last"), "{}", p.steps[5].description);
        assert!(p.steps.iter().skip(1).all(|s| s.target_version.as_deref() == Some("3.6.0")));
        assert_eq!(p.steps[2].fault_tolerance, Some(1));
        assert!(p.steps[1].description.contains("{host}=10.0.0.2"), "{}", p.steps[1].description);
    }

    #[test]
    fn a_critical_blocker_keeps_every_restart_out_and_warnings_are_listed_first() {
        let snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        let warn = Finding::new("raft-lag", Severity::Warning, "member m2", "behind".to_string());
        let p = upgrade(&snap, std::slice::from_ref(&warn), &opts("3.6.0"));
        assert_eq!(p.steps[0].action, Action::Manual);
        assert!(
            p.steps[0].description.starts_with("fix first (warning blocker, raft-lag)"),
            "{}",
            p.steps[0].description
        );
        assert!(p.steps.iter().any(|s| s.action == Action::RestartMember));
        let crit = Finding::new("version-skew", Severity::Critical, "cluster", "skips a minor".to_string());
        let p = upgrade(&snap, &[warn, crit], &opts("3.6.0"));
        assert!(p.steps.iter().all(|s| !s.automatic), "{:?}", shape(&p));
        assert!(p.steps.last().is_some_and(|s| s.description.contains("critical blocker stands (version-skew)")));
        // Info findings block nothing.
        let info = Finding::new("version-skew", Severity::Info, "cluster", "patch releases differ".to_string());
        assert!(upgrade(&snap, &[info], &opts("3.6.0")).steps.iter().any(|s| s.automatic));
    }

    #[test]
    fn no_restart_when_the_cluster_cannot_lose_a_member() {
        let p = upgrade(&cluster(&[healthy(1), healthy(2), down(3)]), &[], &opts("3.6.0"));
        assert!(p.steps.iter().all(|s| !s.automatic));
        assert!(p.steps[0].description.starts_with("no member can restart without losing quorum"));
    }

    #[test]
    fn members_at_the_target_are_kept_but_marked_skipped_and_a_done_cluster_has_nothing_to_do() {
        let snap = cluster(&[healthy(1), with_version(healthy(2), "3.6.0"), healthy(3)]);
        let p = upgrade(&snap, &[], &opts("v3.6.0"));
        let m2 = p.steps.iter().find(|s| s.action == Action::RestartMember && s.member_id == Some(MemberId(2)));
        assert!(m2.is_some_and(|s| s.description.contains("already runs 3.6.0, apply skips it")), "{m2:?}");
        let all = cluster(&[with_version(healthy(1), "3.6.0"), with_version(healthy(2), "3.6.0")]);
        let p = upgrade(&all, &[], &opts("3.6.0"));
        assert_eq!(p.steps.len(), 1);
        assert!(p.steps[0].description.contains("nothing to upgrade"));
    }

    #[test]
    fn the_plan_round_trips_through_json_with_its_new_fields() {
        let p = upgrade(&cluster(&[healthy(1), healthy(2), healthy(3)]), &[], &opts("3.6.0"));
        let v = serde_json::to_value(&p).unwrap_or_default();
        assert_eq!(v["steps"][1]["action"], "restart-member");
        assert_eq!(v["steps"][1]["targetVersion"], "3.6.0");
        assert_eq!(v["steps"][2]["faultTolerance"], 1);
        assert!(v["steps"][3].get("faultTolerance").is_none());
        let back: Option<Plan> = serde_json::from_value(v).ok();
        assert_eq!(back.as_ref(), Some(&p));
    }

    #[test]
    fn at_version_compares_numbers_not_spelling() {
        assert!(at_version("3.5.1", "v3.5.1"));
        assert!(!at_version("3.4.23", "3.5.1"));
        assert!(!at_version("", "3.5.1"));
    }
}
