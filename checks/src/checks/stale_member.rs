//! `stale-member`: a started member that no client URL answers. It still counts in the
//! membership, so it eats fault tolerance, and etcd (3.4 measured) refuses every member add
//! while a voter is unreachable: a stale member silently blocks every scale-out (the kops
//! incident: masters deleted before their etcd members were removed).

use super::removal_finding;
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::{Health, Snapshot};
use crate::quorum::Quorum;
use crate::registry::Check;

declare_check! {
    /// A member that is unreachable at every try while it still counts in the membership.
    StaleMember, "stale-member", Severity::Critical, "0.1.0",
    "A member is unreachable at every try but still in the member list"
}

impl Check for StaleMember {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let id = Self::INFO.id;
        let started = snap.members.iter().filter(|m| !m.is_unstarted());
        // Members whose status is unknown (not probed, or their certificate was refused) are
        // said so; the ones that were tried and did not answer are still judged, with the
        // unknown ones counted as not healthy (the quorum arithmetic's conservative view).
        let mut out = Vec::new();
        let unknown: Vec<String> = started.filter(|m| m.health() == Health::Unknown).map(|m| m.label()).collect();
        if !unknown.is_empty() {
            out.push(
                Finding::new(
                    id,
                    Severity::Info,
                    "cluster",
                    format!("could not decide for {}: their status was not collected (see gaps)", unknown.join(", ")),
                )
                .with("unknownMembers", &unknown),
            );
        }
        let q = Quorum::of_members(&snap.members);
        // "Its node is gone" is only evidence when the mapping works for this cluster: at least
        // one member maps to a node (kops members, named etcd-a on DNS names, map to none).
        let mapping_works = snap.nodes.is_some() && snap.members.iter().any(|m| m.node.is_some());
        out.extend(snap.members.iter().filter(|m| !m.is_unstarted() && m.health() == Health::Unreachable).map(|m| {
                let by_tolerance =
                    if !m.is_learner && q.fault_tolerance <= 0 { Severity::Critical } else { Severity::Warning };
                let role = if m.is_learner { "learner" } else { "voter" };
                let tried = m.probe.as_ref().map_or(0, |p| p.attempts.len());
                let first = m.probe_errors().into_iter().next().unwrap_or_default();
                let mut message =
                    format!("{role} {} did not answer at any of {tried} endpoint(s) tried ({first})", m.label());
                let node = m.node.as_deref().and_then(|n| snap.node(n));
                let (severity, removable) = match (mapping_works, node) {
                    (true, None) => {
                        message.push_str("; no Kubernetes node maps to it any more: its node was deleted, remove the member");
                        (if m.is_learner { Severity::Warning } else { Severity::Critical }, true)
                    }
                    (true, Some(n)) if n.ready == Some(true) => {
                        message.push_str(&format!(
                            "; its node {} is Ready, so etcd there is down or cut off: repair etcd on {} instead of removing the member",
                            n.name, n.name
                        ));
                        (by_tolerance, false)
                    }
                    (true, Some(n)) => {
                        let since = n.ready_since.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
                        message.push_str(&format!(
                            "; its node {} is NotReady{}",
                            n.name,
                            since.map(|t| format!(" since {t}")).unwrap_or_default()
                        ));
                        (by_tolerance, true)
                    }
                    (false, _) => (by_tolerance, true),
                };
                let pod = m.node.as_deref().and_then(|n| snap.etcd_pods.as_ref()?.iter().find(|p| p.node == n));
                if let Some(p) = pod {
                    message.push_str(&format!(
                        "; its etcd pod {} is {}{} ({} restarts)",
                        p.name,
                        p.phase,
                        p.waiting_reason.as_deref().map(|r| format!(", {r}")).unwrap_or_default(),
                        p.restarts
                    ));
                }
                if !m.is_learner {
                    message.push_str(&format!(
                        "; it still counts as a voter (fault tolerance {}), and etcd refuses member add while it is down",
                        q.fault_tolerance
                    ));
                }
                let mut f = removal_finding(id, severity, m, message, q.fault_tolerance);
                if let Some(n) = node {
                    f = f.with("node", serde_json::json!({"name": n.name, "ready": n.ready, "readySince": n.ready_since.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())}));
                } else if mapping_works {
                    f = f.with("nodeDeleted", true);
                }
                if let Some(p) = pod {
                    f = f.with("etcdPod", p);
                }
                if !removable {
                    f.remedy = None;
                }
                f
            }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn healthy_cluster_is_silent() {
        assert!(StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3)])).is_empty());
    }

    #[test]
    fn one_dead_voter_of_five_is_a_warning() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), healthy(4), down(5)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].member_id.map(|m| m.0), Some(5));
        let errors = f[0].evidence["member"]["probeErrors"].to_string();
        assert!(errors.contains("connection refused"), "{errors}");
    }

    #[test]
    fn one_dead_voter_of_three_cuts_tolerance_to_zero_and_is_critical() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), down(3)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("fault tolerance 0"), "{}", f[0].message);
    }

    #[test]
    fn dead_voter_that_cuts_tolerance_to_zero_is_critical() {
        // 4 voters, 1 down: quorum 3, 3 healthy -> tolerance 0.
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), down(4)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
    }

    #[test]
    fn a_dead_learner_is_only_a_warning() {
        let f = StaleMember.run(&cluster(&[healthy(1), down(2), learner(down(3))]));
        let learner_f: Vec<_> = f.iter().filter(|f| f.member_id.map(|m| m.0) == Some(3)).collect();
        assert_eq!(learner_f.len(), 1);
        assert_eq!(learner_f[0].severity, Severity::Warning);
    }

    #[test]
    fn reachable_leaderless_and_unstarted_members_are_never_stale() {
        let f = StaleMember.run(&cluster(&[healthy(1), no_leader(2), unstarted(3)]));
        assert!(f.is_empty(), "{f:?}");
    }

    fn with_nodes(mut snap: Snapshot, nodes: &[(&str, Option<bool>)]) -> Snapshot {
        snap.nodes = Some(
            nodes
                .iter()
                .map(|(n, r)| crate::model::Node { name: n.to_string(), ready: *r, ..Default::default() })
                .collect(),
        );
        snap.map_nodes();
        snap
    }

    #[test]
    fn a_member_whose_node_was_deleted_is_critical_even_with_tolerance_left() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), healthy(3), healthy(4), down(5)]),
            &[("m1", Some(true)), ("m2", Some(true)), ("m3", Some(true)), ("m4", Some(true))],
        );
        let f = StaleMember.run(&snap);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("node was deleted"), "{}", f[0].message);
        assert_eq!(f[0].evidence.get("nodeDeleted"), Some(&serde_json::json!(true)));
        assert!(f[0].remedy.is_some());
    }

    #[test]
    fn a_member_on_a_ready_node_is_repaired_not_removed() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            &[("m1", Some(true)), ("m2", Some(true)), ("m3", Some(true))],
        );
        let f = StaleMember.run(&snap);
        assert!(f[0].message.contains("is Ready"), "{}", f[0].message);
        assert!(f[0].remedy.is_none());
        assert_eq!(f[0].node.as_deref(), Some("m3"));
    }

    #[test]
    fn a_member_on_a_not_ready_node_keeps_its_removal() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            &[("m1", Some(true)), ("m2", Some(true)), ("m3", Some(false))],
        );
        let f = StaleMember.run(&snap);
        assert!(f[0].message.contains("NotReady"), "{}", f[0].message);
        assert!(f[0].remedy.is_some());
    }

    #[test]
    fn when_no_member_maps_to_a_node_nothing_is_called_deleted() {
        let snap = with_nodes(cluster(&[healthy(1), healthy(2), down(3)]), &[("ip-10-0-0-9", Some(true))]);
        let f = StaleMember.run(&snap);
        assert!(!f[0].message.contains("deleted"), "{}", f[0].message);
        assert!(f[0].remedy.is_some());
    }

    #[test]
    fn an_unknown_member_does_not_hide_a_dead_one() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), unprobed(4), down(5)]));
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("m4 (4)"), "{}", f[0].message);
        // 5 voters, 3 known healthy: quorum 3, tolerance 0 -> critical, removal proposed.
        assert_eq!((f[1].severity, f[1].member_id.map(|m| m.0)), (Severity::Critical, Some(5)));
        assert!(f[1].remedy.is_some());
    }

    #[test]
    fn without_status_it_says_it_could_not_decide() {
        let f = StaleMember.run(&cluster(&[unprobed(1), unprobed(2)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("could not decide"));
    }
}
