//! `stale-member`: a started member that is not up. It still counts in the membership, so a
//! voter eats fault tolerance, and etcd (3.4 measured) refuses every member add while a voter
//! is unreachable: a stale member silently blocks every scale-out (the kops incident: masters
//! deleted before their etcd members were removed). The message names the member's state and
//! the evidence for it; only a member proven `gone` has its removal proposed as routine, the
//! others are to be brought back first (the planner says how).

use super::{cite, removal_finding};
use crate::declare_check;
use crate::evidence::MemberState;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::quorum::Quorum;
use crate::registry::Check;
use crate::state::{judge_all, serves_other_cluster};

declare_check! {
    /// A member that is not up while it still counts in the membership.
    StaleMember, "stale-member", Severity::Critical, "0.1.0",
    "A member does not answer but is still in the member list"
}

impl Check for StaleMember {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_member_list(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let id = Self::INFO.id;
        let judged = judge_all(snap);
        let q = Quorum::of_judged(snap, &judged);
        let started = || snap.members.iter().zip(&judged).filter(|(m, _)| !m.is_unstarted());
        // Members whose status is unknown (not probed, or absent from a capture that does not
        // prove they were asked) are said so; nothing is concluded about them.
        let mut out = Vec::new();
        // An alive member that no client probe failed for (its status was not collected, e.g.
        // its certificate was refused) shows no client-side problem: it is said so, not judged.
        let unasked_alive = |m: &crate::model::Member, j: &crate::state::Judgement| {
            j.state == MemberState::Alive && m.probe_errors().is_empty()
        };
        let unknown: Vec<String> = started()
            .filter(|(m, j)| j.state == MemberState::Unknown || unasked_alive(m, j))
            .map(|(m, j)| {
                if j.state == MemberState::Alive {
                    format!("{} (alive: raft or its peer port shows it runs)", m.label())
                } else {
                    m.label()
                }
            })
            .collect();
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
        let stale = |s: MemberState| {
            matches!(
                s,
                MemberState::Alive
                    | MemberState::Down
                    | MemberState::Unreachable
                    | MemberState::Hung
                    | MemberState::Gone
            )
        };
        for (m, j) in started().filter(|(m, j)| stale(j.state) && !unasked_alive(m, j)) {
            let role = if m.is_learner { "learner" } else { "voter" };
            let other_cluster = serves_other_cluster(snap, m);
            let what = match j.state {
                MemberState::Alive if other_cluster => {
                    "answers for another cluster (split-brain): its process runs, but not as a member of this cluster"
                }
                MemberState::Alive => "is alive: its client URLs do not answer, but something proves the process runs",
                MemberState::Down => "is down: refused at every client and peer URL, nothing listens",
                MemberState::Hung => "is hung: TCP accepted, TLS or gRPC never answered",
                MemberState::Gone => "is gone: not answering, and its machine is proven gone",
                _ => "is unreachable: it did not answer and nothing proves whether it runs",
            };
            let mut message = format!("{role} {} {what} ({})", m.label(), j.summary());
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
            let tolerance = match q.fault_tolerance {
                Some(t) => format!("fault tolerance {t}"),
                None => format!("fault tolerance between {} and {}", q.tolerance_min(), q.tolerance_max()),
            };
            if !m.is_learner {
                message.push_str(&format!("; it still counts as a voter ({tolerance})"));
                if j.state != MemberState::Alive {
                    message.push_str(", and etcd refuses member add while it is down");
                }
            }
            message.push_str(match j.state {
                MemberState::Gone => "; remove it",
                MemberState::Alive if other_cluster => {
                    "; see split-brain: decide which data wins; never removed automatically"
                }
                MemberState::Alive => "; see client-url-unreachable: fix its client URL, do not remove it",
                _ => "; bring it back first (see the plan); removing it is the operator's decision (--remove-member)",
            });
            let severity = if m.is_learner {
                Severity::Warning
            } else if j.state == MemberState::Gone {
                Severity::Critical
            } else if j.state == MemberState::Alive && !other_cluster {
                Severity::Warning
            } else if q.tolerance_min() <= 0 {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let mut f = removal_finding(id, severity, m, message, q.fault_tolerance, j);
            let mapping_works = snap.nodes.is_some() && snap.members.iter().any(|x| x.node.is_some());
            if mapping_works && m.node.is_none() {
                f = f.with("nodeDeleted", true);
            }
            if let Some(n) = m.node.as_deref().and_then(|n| snap.node(n)) {
                f = f.with("node", serde_json::json!({"name": n.name, "ready": n.ready, "readySince": n.ready_since.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())}));
            }
            if let Some(p) = pod {
                f = f.with("etcdPod", p);
            }
            if other_cluster {
                // A split member is another cluster's: no removal is proposed here.
                f.remedy = None;
            }
            out.push(cite(f, j));
        }
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
        assert_eq!(f[0].evidence["state"], "down");
        assert!(f[0].message.contains("is down"), "{}", f[0].message);
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

    #[test]
    fn an_alive_voter_behind_a_bad_client_url_is_a_warning_that_names_its_state() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), alive(3)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("is alive") && f[0].message.contains("handshake"), "{}", f[0].message);
        assert_eq!(f[0].evidence["state"], "alive");
    }

    #[test]
    fn an_alive_member_whose_status_was_not_collected_is_only_info() {
        let mut m = unprobed(3);
        m.peer_probe = Some(vec![crate::evidence::PeerReach { url: m.peer_urls[0].clone(), result: Ok(()) }]);
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), m]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("m3 (3) (alive"), "{}", f[0].message);
    }

    #[test]
    fn stopped_and_hung_voters_name_their_states() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), down(4), hung(5)]));
        let states: Vec<String> = f.iter().map(|f| f.evidence["state"].as_str().unwrap_or("").to_string()).collect();
        assert_eq!(states, vec!["down", "hung"]);
        assert!(f.iter().all(|f| f.severity == Severity::Critical), "{f:?}");
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
    fn a_member_whose_node_was_deleted_is_gone_and_critical_even_with_tolerance_left() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), healthy(3), healthy(4), unreachable(5)]),
            &[("m1", Some(true)), ("m2", Some(true)), ("m3", Some(true)), ("m4", Some(true))],
        );
        let f = StaleMember.run(&snap);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("node was deleted"), "{}", f[0].message);
        assert_eq!(f[0].evidence["state"], "gone");
        assert_eq!(f[0].evidence.get("nodeDeleted"), Some(&serde_json::json!(true)));
        assert!(f[0].remedy.is_some());
    }

    #[test]
    fn a_member_on_a_ready_node_is_down_not_gone() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            &[("m1", Some(true)), ("m2", Some(true)), ("m3", Some(true))],
        );
        let f = StaleMember.run(&snap);
        assert!(f[0].message.contains("is Ready") && f[0].message.contains("bring it back"), "{}", f[0].message);
        assert_eq!(f[0].evidence["state"], "down");
        assert_eq!(f[0].node.as_deref(), Some("m3"));
    }

    #[test]
    fn a_not_ready_node_of_unknown_since_is_not_proof() {
        let snap = with_nodes(
            cluster(&[healthy(1), healthy(2), down(3)]),
            &[("m1", Some(true)), ("m2", Some(true)), ("m3", Some(false))],
        );
        let f = StaleMember.run(&snap);
        assert!(f[0].message.contains("NotReady since an unknown time"), "{}", f[0].message);
        assert_eq!(f[0].evidence["state"], "down");
    }

    #[test]
    fn when_no_member_maps_to_a_node_nothing_is_called_deleted() {
        let snap = with_nodes(cluster(&[healthy(1), healthy(2), down(3)]), &[("ip-10-0-0-9", Some(true))]);
        let f = StaleMember.run(&snap);
        assert!(!f[0].message.contains("deleted"), "{}", f[0].message);
    }

    #[test]
    fn an_unknown_member_does_not_hide_a_dead_one() {
        let f = StaleMember.run(&cluster(&[healthy(1), healthy(2), healthy(3), unprobed(4), down(5)]));
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("m4 (4)"), "{}", f[0].message);
        // 5 voters, 3 known healthy: quorum 3, tolerance 0 at the lower bound -> critical.
        assert_eq!((f[1].severity, f[1].member_id.map(|m| m.0)), (Severity::Critical, Some(5)));
        assert!(f[1].message.contains("between 0 and 1"), "{}", f[1].message);
    }

    #[test]
    fn without_status_it_says_it_could_not_decide() {
        let f = StaleMember.run(&cluster(&[unprobed(1), unprobed(2)]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("could not decide"));
    }
}
