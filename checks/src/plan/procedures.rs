//! The steps only a person (or the distribution's own tooling) can take: bring a member back
//! the way its distribution runs etcd, remove it the distribution's way, and recover a cluster
//! whose quorum loss is proven, in the order etcd maintainers give it.

use super::{Step, role};
use crate::evidence::MemberState;
use crate::model::{Member, Snapshot};
use crate::quorum::Quorum;
use crate::state::Judgement;

/// Where a member is not up but not proven gone: bring it back first, the way its distribution
/// runs etcd. Removing it instead is the operator's decision.
pub(super) fn bring_back(
    dist: Option<crate::distribution::Distribution>,
    m: &Member,
    j: &Judgement,
    reason: &str,
) -> Step {
    use crate::distribution::Distribution::*;
    let host = m.node.clone().or_else(|| host_of(m)).unwrap_or_else(|| m.name.clone());
    let what = match j.state {
        MemberState::Down => "nothing listens on its ports: start etcd there",
        MemberState::Hung => {
            "it accepts TCP but never answers TLS: a paused (SIGSTOP) or starved process; resume or restart it, and check its disk and CPU"
        }
        MemberState::Alive => {
            "it runs: fix what keeps clients from its client URL (see client-url-unreachable) instead of restarting or removing it"
        }
        _ => {
            "it does not answer and nothing proves whether it runs: check the machine and the network path (route, firewall) first, then etcd"
        }
    };
    let mut commands = vec![format!("# on {host}:")];
    if j.state == MemberState::Hung {
        commands.push("kill -CONT $(pidof etcd)   # if it was paused; else restart it as below".into());
    }
    if j.state != MemberState::Alive {
        match dist {
            Some(Kubeadm) => {
                commands.push(
                    "crictl ps -a --name etcd   # is the static pod's container running? crictl logs <id> says why not"
                        .into(),
                );
                commands.push("mv /etc/kubernetes/manifests/etcd.yaml /root/etcd.yaml && sleep 20 && mv /root/etcd.yaml /etc/kubernetes/manifests/   # the kubelet restarts the static pod".into());
            }
            Some(K3s) => {
                commands.push("systemctl restart k3s".into());
                commands.push("journalctl -u k3s -n 100 --no-pager | grep -i etcd".into());
            }
            Some(Rke2) => {
                commands.push("systemctl restart rke2-server".into());
                commands.push("journalctl -u rke2-server -n 100 --no-pager | grep -i etcd".into());
            }
            Some(Kops) => {
                commands.push("kubectl -n kube-system logs -l k8s-app=etcd-manager-main --tail=50   # etcd-manager runs etcd there".into());
                commands.push("crictl ps -a --name etcd-manager   # crictl stop <id>: the kubelet restarts etcd-manager, which restarts etcd".into());
            }
            Some(Kubespray) | None => {
                commands.push("systemctl restart etcd".into());
                commands.push("journalctl -u etcd -n 100 --no-pager".into());
            }
        }
    }
    commands.push("kubectl etcd-doctor members   # it should be up again".into());
    commands.push(format!(
        "# only if its machine is gone for good, remove it instead (your decision): kubectl etcd-doctor --fix --remove-member {}",
        m.id
    ));
    Step::manual(
        Some(m.id),
        reason,
        if j.state == MemberState::Alive {
            format!("repair the client URL of {} {}: it is {}; {what}", role(m), m.label(), j.because())
        } else {
            format!("bring {} {} back: it is {}; {what}", role(m), m.label(), j.because())
        },
        commands,
    )
}

fn host_of(m: &Member) -> Option<String> {
    m.peer_urls
        .iter()
        .chain(&m.client_urls)
        .find_map(|u| crate::endpoint::Endpoint::parse(u).ok())
        .map(|e| e.host.to_string())
}

/// Where the distribution owns membership, the removal is a manual step done its way: kops's
/// etcd-manager owns membership (the cluster spec's etcdMembers and one volume per member) and
/// would fight or undo a direct remove; K3s/RKE2 remove a member whose Node still exists through
/// the Node's remove annotation, or when an etcd Node is deleted (k3s pkg/etcd/member_controller.go:
/// `etcd.<program>.cattle.io/remove`, program `k3s` or `rke2` as rke2's scripts/build-binary sets
/// it; the controller runs only on servers that serve the API). Neither ships etcdctl.
pub(super) fn distribution_removal(
    dist: Option<crate::distribution::Distribution>,
    snap: &Snapshot,
    m: &Member,
    reason: &str,
) -> Option<Step> {
    use crate::distribution::Distribution::*;
    match dist? {
        Kops => Some(Step::manual(
            Some(m.id),
            reason,
            format!("{}: on kops, etcd-manager owns etcd membership and would fight or undo a direct member remove; replace the lost control-plane instance through kops and let etcd-manager re-form the cluster", m.label()),
            vec![
                "kubectl -n kube-system logs -l k8s-app=etcd-manager-main --tail=50   # what etcd-manager sees".into(),
                "kops update cluster --yes && kops rolling-update cluster --cloudonly --instance-group <the lost control-plane group> --yes".into(),
                "# not etcdctl member remove: the new instance re-attaches the member's etcd volume and etcd-manager brings the member back; how many members there are is the cluster spec's etcdClusters[].etcdMembers (kops edit cluster), never an etcdctl change".into(),
                "# volume lost too: etcd-manager-ctl --backup-store=s3://<state store>/<cluster>/backups/etcd/main restore-backup <backup> (kops docs: etcd_backup_restore_encryption.md)".into(),
            ],
        )),
        d @ (K3s | Rke2) => {
            let node = m.node.as_deref().filter(|n| snap.node(n).is_some())?;
            let key = if d == K3s { "etcd.k3s.cattle.io/remove" } else { "etcd.rke2.cattle.io/remove" };
            Some(Step::manual(
                Some(m.id),
                reason,
                format!("remove {} the {} way: its Node {node} still exists, so annotate it and let the etcd controller remove the member", m.label(), if d == K3s { "K3s" } else { "RKE2" }),
                vec![
                    format!("kubectl annotate node {node} {key}=true"),
                    format!("# or, if {node} is gone for good: kubectl delete node {node}   # the etcd controller removes the member of a deleted etcd node"),
                    "kubectl etcd-doctor members   # the member is gone once a server that runs the API reconciled it".into(),
                    if d == K3s {
                        "# K3s ships no etcdctl: by hand, use a static etcdctl from etcd's releases with --cacert /var/lib/rancher/k3s/server/tls/etcd/server-ca.crt --cert .../client.crt --key .../client.key".into()
                    } else {
                        "# RKE2 ships no etcdctl on the host: by hand, kubectl -n kube-system exec etcd-<a healthy server> -- etcdctl --cacert /var/lib/rancher/rke2/server/tls/etcd/server-ca.crt --cert .../server-client.crt --key .../server-client.key member list".into()
                    },
                    format!("# before {node} rejoins: delete /var/lib/rancher/{}/server/db on it", if d == K3s { "k3s" } else { "rke2" }),
                ],
            ))
        }
        _ => None,
    }
}

/// With quorum loss proven nothing can be committed, so no membership change works. The way
/// back, in the order etcd maintainers give it: start voters that were added but never started
/// (etcd#3000: with the initial cluster `member add` printed), bring the dead voters back, and
/// only then, each with its data-loss warning, `--force-new-cluster` or a snapshot restore.
pub(super) fn recovery_steps(
    snap: &Snapshot,
    judged: &[Judgement],
    dist: Option<crate::distribution::Distribution>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let voters = || snap.members.iter().zip(judged).filter(|(m, _)| !m.is_learner);
    let q = Quorum::of_judged(snap, judged);
    let unstarted: Vec<&Member> = voters().filter(|(_, j)| j.state == MemberState::Unstarted).map(|(m, _)| m).collect();
    let started: Vec<String> = snap
        .members
        .iter()
        .filter(|m| !m.is_unstarted())
        .flat_map(|m| m.peer_urls.iter().map(move |u| format!("{}={u}", m.name)))
        .collect();
    // A peer URL that can never work (etcd#7134: port 111111) cannot be started on: that member
    // is no way back, and the steps say so instead of printing a command that cannot run.
    fn unusable(m: &Member) -> Option<&String> {
        m.peer_urls.iter().find(|u| crate::checks::invalid_member_url::url_problems(u).iter().any(|p| p.fatal()))
    }
    let startable = unstarted.iter().filter(|m| unusable(m).is_none()).count();
    let restores = q.healthy_voters_max + startable >= q.quorum;
    for m in &unstarted {
        let Some(peer) = m.peer_urls.first() else { continue };
        if let Some(bad) = unusable(m) {
            steps.push(Step::manual(
                Some(m.id),
                "quorum-at-risk,invalid-member-url",
                format!(
                    "the added member {} can never start: its peer URL {bad} can never work (see invalid-member-url), and without quorum it cannot be removed or updated through etcd; the way back is the last resort below",
                    m.id
                ),
                vec![],
            ));
            continue;
        }
        let host = host_of(m).filter(|h| !h.is_empty()).unwrap_or_else(|| "new".into());
        let name = m.node.clone().unwrap_or_else(|| format!("etcd-{}", host.replace(['.', ':', '[', ']'], "-")));
        let mut initial = started.clone();
        initial.push(format!("{name}={peer}"));
        let initial = initial.join(",");
        steps.push(Step::manual(
            Some(m.id),
            "quorum-at-risk,unstarted-member",
            format!(
                "start the added member {}: it was added (member add) but never started, and it counts as a voter{}. Start etcd on the machine of {peer} with an EMPTY data dir, joining the existing cluster; no data is lost",
                m.id,
                if restores { "; once it runs the cluster has its quorum back (etcd#3000)" } else { "" }
            ),
            vec![
                format!("# on the machine of {peer}; {name} is a suggestion: any name no other member uses (kubeadm uses the node name)"),
                format!("ETCD_NAME={name}"),
                format!("ETCD_INITIAL_CLUSTER=\"{initial}\""),
                "ETCD_INITIAL_CLUSTER_STATE=existing".into(),
                format!("ETCD_INITIAL_ADVERTISE_PEER_URLS={peer}"),
                format!(
                    "# the same as flags: etcd --name {name} --initial-advertise-peer-urls {peer} --listen-peer-urls {peer} --initial-cluster {initial} --initial-cluster-state existing --data-dir <an EMPTY dir> <the client URLs and TLS flags of the other members>"
                ),
            ],
        ));
    }
    for (m, j) in voters().filter(|(m, j)| {
        !m.is_unstarted()
            && matches!(j.state, MemberState::Down | MemberState::Unreachable | MemberState::Hung | MemberState::Alive)
    }) {
        steps.push(bring_back(dist, m, j, "quorum-at-risk"));
    }
    let best = snap
        .members
        .iter()
        .filter(|m| m.status().is_some() && !m.is_learner)
        .max_by_key(|m| m.status().map(|s| s.raft_applied_index.unwrap_or(s.raft_index)).unwrap_or(0));
    let (name, peer) = best
        .map(|m| (m.name.clone(), m.peer_urls.first().cloned().unwrap_or_default()))
        .unwrap_or_else(|| ("<surviving member>".into(), "<its peer URL>".into()));
    let proven = format!(
        "quorum loss is proven: at most {} of {} voters can be healthy, quorum {}",
        q.healthy_voters_max, q.voters, q.quorum
    );
    steps.push(Step::manual(
        best.map(|m| m.id),
        "quorum-at-risk",
        format!(
            "last resort, only if the steps above cannot bring a quorum back ({proven}): restart {name}, the voter with the most recent data, once with --force-new-cluster. DATA LOSS: writes it had not applied are gone, and every other member must be wiped and re-added"
        ),
        vec![
            format!("# on {name}: save what it has first (works while it still serves reads)"),
            "etcdctl snapshot save /var/backups/etcd-before-recovery.db".into(),
            format!("# stop etcd on every member; start etcd on {name} once with --force-new-cluster (keeps its data, makes it a one-member cluster), then without it"),
            "# K3s/RKE2: on that server, k3s server --cluster-reset (rke2 server --cluster-reset); then delete the db dir on the others and rejoin them".into(),
            "# then add the other members back one at a time (kubectl etcd-doctor plan add-member)".into(),
        ],
    ));
    steps.push(Step::manual(
        best.map(|m| m.id),
        "quorum-at-risk",
        format!(
            "or, when no member's data can be used ({proven}): restore a snapshot. DATA LOSS: everything written after the snapshot was taken is gone"
        ),
        vec![
            format!("etcdutl snapshot restore /var/backups/etcd-before-recovery.db --name {name} --initial-cluster {name}={peer} --initial-advertise-peer-urls {peer} --data-dir /var/lib/etcd-restored"),
            "# point etcd at the restored data dir, start it, then add the other members back one at a time (kubectl etcd-doctor plan add-member)".into(),
        ],
    ));
    steps
}
