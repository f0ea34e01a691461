//! The vocabulary of evidence: how a reach attempt failed, what a member's peer listener did,
//! and the states a member can be proven to be in. Collectors record observations in these
//! terms; `state` (the derivation) turns them into one state per member. A missing answer is
//! not proof: "did not answer my probe" is `unreachable` or `hung`, never `gone`.

use serde::{Deserialize, Serialize};

/// How one attempt to reach a listener failed, as far as the transport tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// TCP reset: nothing listens there (the process is not running, or not on that port).
    Refused,
    /// No TCP connection: no route, host down, a firewall dropping packets, or the name does
    /// not resolve. Says nothing about whether the member runs.
    Unreachable,
    /// TCP accepted, but TLS or gRPC never answered (a paused or overloaded process).
    Hung,
    /// The TLS handshake failed: a certificate one side does not trust.
    Tls,
    /// The transport worked and the server answered with an error (auth, "rpc not supported
    /// for learner", a status from another cluster): the process runs.
    Answered,
    /// The message does not say which.
    Unknown,
}

impl Failure {
    /// Classifies an error line as etcdctl, etcd-client, tonic, rustls or this tool's own
    /// collectors write it. Collectors that know better (a TCP probe) record that instead.
    pub fn classify(msg: &str) -> Failure {
        let m = msg.to_ascii_lowercase();
        let has = |keys: &[&str]| keys.iter().any(|k| m.contains(k));
        if has(&["hung:", "tcp accepted", "handshake did not complete", "tls handshake timeout"]) {
            Failure::Hung
        } else if has(&["connection refused", "connectex: no connection could be made", "econnrefused"]) {
            Failure::Refused
        } else if has(&[
            "certificate",
            "unknown authority",
            "bad certificate",
            "tls:",
            "invalidcertificate",
            "x509",
            "handshake failure",
        ]) {
            Failure::Tls
        } else if has(&[
            "no route to host",
            "network is unreachable",
            "host is unreachable",
            "no such host",
            "name or service not known",
            "failed to lookup address",
            "temporary failure in name resolution",
            "i/o timeout",
        ]) {
            Failure::Unreachable
        } else if has(&[
            "another cluster",
            "rpc not supported for learner",
            "permission denied",
            "user name",
            "invalid auth token",
            "authentication failed",
            "etcdserver:",
        ]) {
            Failure::Answered
        } else {
            Failure::Unknown
        }
    }
}

/// One dial of a member's peer listener: `Ok` when the TLS handshake (or, for http, the TCP
/// connection) completed, so a process is listening there.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PeerReach {
    /// The peer URL dialled.
    pub url: String,
    /// `Ok(())` when it completed, else the error as one line (classify it with
    /// [`Failure::classify`]).
    pub result: Result<(), String>,
}

/// One member's state, from the evidence kept beside it. Only `gone` and `unstarted` are
/// proof that a member will not come back by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberState {
    /// Answered its status and follows a leader.
    Up,
    /// Its client URLs did not answer, but something proves the process runs: its peer
    /// listener completed a TLS handshake, or raft (another member's metrics) shows it active.
    Alive,
    /// Refused at every client and peer URL tried: nothing listens.
    Down,
    /// Timed out or no route at some URL, and nothing proves it runs.
    Unreachable,
    /// TCP accepted, TLS or gRPC never answered.
    Hung,
    /// Answers, but has no leader (an election, or its side lost quorum).
    Electing,
    /// Not asked, or absent from a capture that does not prove it was asked.
    Unknown,
    /// Proven gone: its node was deleted, or NotReady longer than `--node-grace`, or its host
    /// name no longer resolves, while the member itself is not up.
    Gone,
    /// Added but never started (no name, never answered).
    Unstarted,
}

impl MemberState {
    /// The kebab-case word, as in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Up => "up",
            MemberState::Alive => "alive",
            MemberState::Down => "down",
            MemberState::Unreachable => "unreachable",
            MemberState::Hung => "hung",
            MemberState::Electing => "electing",
            MemberState::Unknown => "unknown",
            MemberState::Gone => "gone",
            MemberState::Unstarted => "unstarted",
        }
    }

    /// Whether it is proven not to be a healthy voter right now.
    pub fn proven_not_healthy(self) -> bool {
        matches!(self, MemberState::Down | MemberState::Gone | MemberState::Unstarted)
    }

    /// Whether its removal may be automatic (the planner still checks quorum).
    pub fn removable_without_operator(self) -> bool {
        matches!(self, MemberState::Gone | MemberState::Unstarted)
    }
}

impl std::fmt::Display for MemberState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_error_lines_etcdctl_and_tonic_print() {
        let cases = [
            ("dial tcp 10.0.0.3:2379: connect: connection refused", Failure::Refused),
            ("dial tcp 10.0.0.3:2379: connect: no route to host", Failure::Unreachable),
            ("dial tcp: lookup etcd-2.example on 10.96.0.10:53: no such host", Failure::Unreachable),
            ("dial tcp 10.0.0.3:2379: i/o timeout", Failure::Unreachable),
            ("x509: certificate signed by unknown authority", Failure::Tls),
            ("hung: TCP accepted, no TLS answer within 2s", Failure::Hung),
            ("etcdserver: rpc not supported for learner", Failure::Answered),
            ("context deadline exceeded", Failure::Unknown),
            // The same timeout from etcdctl 3.5.1's `endpoint health -w json` (3.4.23 prints the
            // line above): captured in tests/versions.rs's manual run, 2026-12-02.
            ("rpc error: code = Unknown desc = context deadline exceeded", Failure::Unknown),
        ];
        for (msg, want) in cases {
            assert_eq!(Failure::classify(msg), want, "{msg}");
        }
    }

    #[test]
    fn only_gone_and_unstarted_are_removable_without_an_operator() {
        use MemberState::*;
        for s in [Up, Alive, Down, Unreachable, Hung, Electing, Unknown, Gone, Unstarted] {
            assert_eq!(s.removable_without_operator(), matches!(s, Gone | Unstarted), "{s}");
        }
    }
}
