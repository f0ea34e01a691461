//! `split-brain`: an endpoint answers for another cluster id than the one diagnosed. A member
//! whose data dir was wiped and that started again with `--initial-cluster-state new` (or a
//! restore with `--force-new-cluster`) forms a cluster of its own (kubespray#13261, etcd#15787):
//! clients that reach it read and write a different history.

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// Endpoints that answer for different clusters.
    SplitBrain, "split-brain", Severity::Critical, "0.1.0",
    "An endpoint answers for another etcd cluster (split brain)"
}

impl Check for SplitBrain {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        // Another cluster shows itself only in an answer: with none there is nothing to compare.
        if !snap.other_clusters.is_empty() {
            return None;
        }
        super::no_status(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mine = snap.cluster_id.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into());
        snap.other_clusters
            .iter()
            .map(|o| {
                // The member of ours that advertises this endpoint, if any: the one that went rogue.
                let ours = snap.members.iter().find(|m| m.client_urls.iter().any(|u| u == &o.endpoint));
                let who = ours.map(|m| m.label()).unwrap_or_else(|| o.endpoint.clone());
                let size = if o.members.is_empty() {
                    String::new()
                } else {
                    format!(" with {} member(s): {}", o.members.len(), o.members.join(", "))
                };
                let message = format!(
                    "{} answers as member {} of cluster {}{size}, not of cluster {mine} diagnosed here: it was wiped or restored and bootstrapped a cluster of its own; clients that reach it see another history",
                    o.endpoint, o.member_id, o.cluster_id
                );
                let mut commands = vec![
                    format!("# 1. find out which side holds the data the cluster needs (compare revisions; snapshot both): etcdctl --endpoints {} endpoint status -w table", o.endpoint),
                    format!("etcdctl --endpoints {} snapshot save /var/backups/etcd-rogue-{}.db", o.endpoint, o.cluster_id),
                    "# 2. stop etcd on that node and move its data dir aside (kubeadm: /var/lib/etcd; K3s: /var/lib/rancher/k3s/server/db/etcd)".into(),
                ];
                match ours {
                    Some(m) => commands.push(format!(
                        "# 3. remove its old membership here, then add it back as a learner: etcdctl member remove {}; kubectl etcd-doctor plan add-member --name {} --peer-url {}",
                        m.id,
                        if m.name.is_empty() { "<name>" } else { &m.name },
                        m.peer_urls.first().map(String::as_str).unwrap_or("<peer URL>")
                    )),
                    None => commands.push("# 3. add it back as a learner: kubectl etcd-doctor plan add-member --name <name> --peer-url <its peer URL>".into()),
                }
                let mut f = Finding::new(Self::INFO.id, Severity::Critical, format!("endpoint {}", o.endpoint), message)
                    .with("endpoint", &o.endpoint)
                    .with("clusterID", o.cluster_id)
                    .with("memberID", o.member_id)
                    .with("diagnosedClusterID", &mine)
                    .with("otherMembers", &o.members)
                    .remedy(Remedy::Manual {
                        description: format!(
                            "{who} serves another cluster: decide which data wins, then wipe that member and rejoin it; never automatic"
                        ),
                        commands,
                    });
                if let Some(m) = ours {
                    f = f.member(m.id, m.node.as_deref());
                }
                f
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::MemberId;
    use crate::model::OtherCluster;
    use crate::testing::*;

    #[test]
    fn another_cluster_id_at_a_member_endpoint_is_critical_and_manual() {
        let mut snap = cluster(&[healthy(1), healthy(2), down(3)]);
        let url = snap.members[2].client_urls[0].clone();
        snap.other_clusters.push(OtherCluster {
            endpoint: url.clone(),
            cluster_id: MemberId(0xabc),
            member_id: MemberId(0x77),
            members: vec!["m3=https://10.0.0.3:2380".into()],
        });
        let f = SplitBrain.run(&snap);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].member_id, Some(snap.members[2].id));
        assert!(f[0].message.contains("cluster abc with 1 member(s)"), "{}", f[0].message);
        let Some(Remedy::Manual { commands, .. }) = &f[0].remedy else { panic!("manual") };
        assert!(commands.iter().any(|c| c.contains(&format!("member remove {}", snap.members[2].id))), "{commands:?}");
        // The planner never automates it.
        let plan = crate::plan::plan(&snap, &f);
        assert!(plan.steps.iter().filter(|s| s.reason == "split-brain").all(|s| !s.automatic));
    }

    #[test]
    fn one_cluster_is_silent() {
        assert!(SplitBrain.run(&cluster(&[healthy(1), healthy(2), healthy(3)])).is_empty());
    }
}
