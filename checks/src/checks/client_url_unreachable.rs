//! `client-url-unreachable`: a member that runs (its peer port completes a handshake, raft
//! shows it active, or it answered at another client URL) while an advertised client URL never
//! answers. Clients, the API server and etcdctl `--cluster` dial exactly the advertised URLs: a
//! wrong `--advertise-client-urls` (a typo, an old address, a port nothing listens on) or a
//! firewall on the client port makes a healthy member look dead, and a tool that trusted the
//! client probe alone would remove a running voter.

use super::{cite, member_evidence, subject};
use crate::declare_check;
use crate::evidence::{Failure, MemberState};
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Check;
use crate::state::{judge_all, serves_other_cluster};

declare_check! {
    /// A running member whose advertised client URL does not answer.
    ClientUrlUnreachable, "client-url-unreachable", Severity::Warning, "0.2.0",
    "A running member's advertised client URL never answers"
}

impl Check for ClientUrlUnreachable {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_member_list(snap).or_else(|| {
            snap.members.iter().all(|m| m.probe.is_none()).then(|| {
                "no client URL was probed (a bundle needs endpoint-status.json or endpoint-health.json)".to_string()
            })
        })
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let judged = judge_all(snap);
        snap.members
            .iter()
            .zip(&judged)
            .filter(|(m, j)| matches!(j.state, MemberState::Up | MemberState::Alive) && !serves_other_cluster(snap, m))
            .filter_map(|(m, j)| {
                // Only URLs that were dialled and got no answer at all: a TLS refusal or an error
                // from the server is an answer (other checks judge those).
                let silent: Vec<(&str, &str)> = m
                    .probe
                    .iter()
                    .flat_map(|p| p.attempts.iter())
                    .filter(|a| m.client_urls.iter().any(|u| u == &a.endpoint))
                    .filter_map(|a| a.result.as_ref().err().map(|e| (a.endpoint.as_str(), e.as_str())))
                    .filter(|(_, e)| !matches!(Failure::classify(e), Failure::Tls | Failure::Answered))
                    .collect();
                if silent.is_empty() {
                    return None;
                }
                let urls: Vec<&str> = silent.iter().map(|(u, _)| *u).collect();
                let running = if j.state == MemberState::Up {
                    "it answered at another of its client URLs".to_string()
                } else {
                    j.evidence
                        .iter()
                        .filter(|o| o.answer.as_deref() == Some("ok") || o.answer.as_deref() == Some("active"))
                        .map(|o| o.text.clone())
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                let f = Finding::new(
                    Self::INFO.id,
                    Severity::Warning,
                    subject(m),
                    format!(
                        "{} runs ({running}) but its advertised client URL(s) {} never answer ({}): clients and the API server cannot reach it there; check --advertise-client-urls against --listen-client-urls and the firewall on the client port. Do not remove it: it is a running member",
                        m.label(),
                        urls.join(", "),
                        silent.iter().map(|(_, e)| *e).collect::<Vec<_>>().join("; ")
                    ),
                )
                .member(m.id, m.node.as_deref())
                .with("member", member_evidence(m))
                .with("silentClientURLs", &urls);
                Some(cite(f, j))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Attempt;
    use crate::testing::*;

    #[test]
    fn fires_for_an_alive_member_whose_client_url_times_out() {
        let f = ClientUrlUnreachable.run(&cluster(&[healthy(1), healthy(2), alive(3)]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(
            f[0].message.contains("handshake") && f[0].message.contains("https://10.0.0.3:2379"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].evidence["state"], "alive");
    }

    #[test]
    fn fires_for_an_up_member_with_one_dead_advertised_url() {
        let mut m = healthy(3);
        m.client_urls.push("https://10.9.9.9:2379".into());
        if let Some(p) = m.probe.as_mut() {
            p.attempts.push(Attempt { endpoint: "https://10.9.9.9:2379".into(), result: Err("i/o timeout".into()) });
        }
        let f = ClientUrlUnreachable.run(&cluster(&[healthy(1), healthy(2), m]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.contains("10.9.9.9"), "{}", f[0].message);
    }

    #[test]
    fn silent_for_healthy_down_unreachable_and_tls_refusals() {
        assert!(ClientUrlUnreachable.run(&cluster(&[healthy(1), healthy(2), healthy(3)])).is_empty());
        assert!(ClientUrlUnreachable.run(&cluster(&[healthy(1), down(2), unreachable(3), hung(4)])).is_empty());
        let mut m = down(3);
        if let Some(p) = m.probe.as_mut() {
            p.attempts[0].result = Err("x509: certificate signed by unknown authority".into());
        }
        assert!(ClientUrlUnreachable.run(&cluster(&[healthy(1), healthy(2), m])).is_empty());
    }
}
