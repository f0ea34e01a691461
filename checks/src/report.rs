//! The report document (`-o json|yaml`), as CONTRACT.md fixes it: scripts depend on these
//! field names. Extend, never break.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::evidence::MemberState;
use crate::finding::{Finding, Severity};
use crate::id::MemberId;
use crate::model::{Alarm, Gap, Health, Member, Snapshot, Source};
use crate::plan::Plan;
use crate::quorum::Quorum;
use crate::state::{Judgement, Observation};

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Always `etcd-doctor/v1`.
    pub api_version: String,
    /// Always `Report`.
    pub kind: String,
    /// live, bundle or local.
    pub source: Source,
    /// When the state was collected (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub collected_at: OffsetDateTime,
    /// The cluster id, as hex.
    #[serde(rename = "clusterID")]
    pub cluster_id: Option<MemberId>,
    /// The distribution, when recognised (kubeadm, k3s, rke2, kubespray, kops).
    pub distribution: Option<crate::distribution::Distribution>,
    /// What the node's own files said (`--local`, a bundle's `local/`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<crate::node_local::LocalNode>,
    /// One row per member.
    pub members: Vec<MemberRow>,
    /// Quorum arithmetic over the voters.
    pub quorum: Quorum,
    /// Active alarms.
    pub alarms: Vec<Alarm>,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
    /// What could not be read.
    pub gaps: Vec<Gap>,
    /// The fix plan (a dry run unless `--fix`).
    pub plan: Plan,
    /// `audit --pre-upgrade`: true when no finding is worse than info; absent otherwise.
    #[serde(default, rename = "upgradeReady", skip_serializing_if = "Option::is_none")]
    pub upgrade_ready: Option<bool>,
    /// The certificates seen (presented chains and files, never keys); absent when none were read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<crate::cert::Certs>,
    /// What `--fix` / `apply` did; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Vec<Applied>>,
    /// Counts, which checks ran and which did not (and why), and the exit code: what a CI job
    /// needs at a glance. Absent where no checks ran (`members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// Which severity makes the run fail (`--fail-on`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    /// Only critical findings (exit 2); warnings exit 0.
    Critical,
    /// Warnings (exit 1) and critical findings (exit 2): the default.
    #[default]
    Warning,
    /// No finding fails the run (exit 0).
    Never,
}

impl FailOn {
    /// The exit code CONTRACT.md gives findings of this worst severity under this threshold:
    /// 2 critical, 1 warnings only, 0 below the threshold.
    pub fn exit_code(self, worst: Option<Severity>) -> i32 {
        let code = match worst {
            Some(Severity::Critical) => 2,
            Some(Severity::Warning) => 1,
            _ => 0,
        };
        match (self, worst) {
            (FailOn::Never, _) | (FailOn::Critical, Some(Severity::Warning)) => 0,
            _ => code,
        }
    }

    /// Whether a finding of this severity fails the run.
    pub fn fails(self, s: Severity) -> bool {
        match self {
            FailOn::Warning => s >= Severity::Warning,
            FailOn::Critical => s == Severity::Critical,
            FailOn::Never => false,
        }
    }
}

/// Findings by severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    /// Critical findings.
    pub critical: usize,
    /// Warnings.
    pub warning: usize,
    /// Info findings (including "could not decide").
    pub info: usize,
}

/// The report in one object and one line (`summary` in JSON/YAML, the table's last line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Members in the member list.
    pub members: usize,
    /// Members by state, for the states other than `up` (e.g. `{"unreachable": 1}`).
    pub members_not_up: std::collections::BTreeMap<String, usize>,
    /// Findings by severity.
    pub findings: SeverityCounts,
    /// Ids of the checks that ran on the input they need.
    pub checks_run: Vec<String>,
    /// The checks that did not run: deselected, or their input was missing (with the reason).
    pub checks_skipped: Vec<crate::registry::SkippedCheck>,
    /// Which severity fails the run (`--fail-on`).
    pub fail_on: FailOn,
    /// The exit code of this run.
    pub exit_code: i32,
    /// The same as one line, as the table ends:
    /// `3 members (1 unreachable) · 1 critical, 2 warnings · 19 checks run, 2 skipped`.
    pub line: String,
}

impl Summary {
    /// The summary of a report whose checks ran as `cov` says, failing on `fail_on`.
    pub fn of(r: &Report, cov: crate::registry::Coverage, fail_on: FailOn) -> Summary {
        let mut findings = SeverityCounts::default();
        for f in &r.findings {
            match f.severity {
                Severity::Critical => findings.critical += 1,
                Severity::Warning => findings.warning += 1,
                Severity::Info => findings.info += 1,
            }
        }
        let mut members_not_up = std::collections::BTreeMap::new();
        for m in r.members.iter().filter(|m| m.state != MemberState::Up) {
            *members_not_up.entry(m.state.to_string()).or_insert(0) += 1;
        }
        let mut s = Summary {
            members: r.members.len(),
            members_not_up,
            findings,
            checks_run: cov.ran,
            checks_skipped: cov.skipped,
            fail_on,
            exit_code: fail_on.exit_code(r.worst()),
            line: String::new(),
        };
        s.line = s.to_line();
        s
    }

    fn to_line(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut members = plural(self.members, "member", "members");
        if !self.members_not_up.is_empty() {
            let states: Vec<String> = self.members_not_up.iter().map(|(s, n)| format!("{n} {s}")).collect();
            members.push_str(&format!(" ({})", states.join(", ")));
        }
        let f = &self.findings;
        let mut found: Vec<String> = Vec::new();
        if f.critical > 0 {
            found.push(format!("{} critical", f.critical));
        }
        if f.warning > 0 {
            found.push(plural(f.warning, "warning", "warnings"));
        }
        if f.info > 0 {
            found.push(format!("{} info", f.info));
        }
        let found = if found.is_empty() { "no findings".to_string() } else { found.join(", ") };
        let checks =
            format!("{} run, {} skipped", plural(self.checks_run.len(), "check", "checks"), self.checks_skipped.len());
        format!("{members} · {found} · {checks}")
    }
}

/// A member as the report shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemberRow {
    /// Id as etcdctl prints it.
    pub id: MemberId,
    /// Name; empty when unstarted.
    pub name: String,
    /// Peer URLs.
    #[serde(rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    /// Client URLs.
    #[serde(rename = "clientURLs")]
    pub client_urls: Vec<String>,
    /// Learner flag.
    #[serde(rename = "isLearner")]
    pub is_learner: bool,
    /// Whether any client URL answered; null when not probed.
    pub reachable: Option<bool>,
    /// Whether it is the leader; null when no leader is known.
    pub leader: Option<bool>,
    /// Server version; null when unknown.
    pub version: Option<String>,
    /// Database size in bytes; null when unknown.
    #[serde(rename = "dbSizeBytes")]
    pub db_size_bytes: Option<i64>,
    /// The Kubernetes node; null when unknown.
    pub node: Option<String>,
    /// healthy, no-leader, unreachable, unstarted or unknown.
    pub health: Health,
    /// Bytes of the database in use; null when unknown.
    #[serde(rename = "dbSizeInUseBytes")]
    pub db_size_in_use_bytes: Option<i64>,
    /// Raft term; null when unknown.
    #[serde(rename = "raftTerm")]
    pub raft_term: Option<u64>,
    /// Raft index; null when unknown.
    #[serde(rename = "raftIndex")]
    pub raft_index: Option<u64>,
    /// Raft applied index; null when unknown.
    #[serde(rename = "raftAppliedIndex")]
    pub raft_applied_index: Option<u64>,
    /// Errors from endpoints that did not answer, as `endpoint: error`.
    #[serde(rename = "probeErrors")]
    pub probe_errors: Vec<String>,
    /// Errors the member itself reported in its status (no leader, alarms).
    #[serde(rename = "statusErrors")]
    pub status_errors: Vec<String>,
    /// up, alive, down, unreachable, hung, electing, unknown, gone or unstarted, from the
    /// evidence below (`health` keeps its older, coarser meaning).
    #[serde(default = "unknown_state")]
    pub state: MemberState,
    /// The observations the state rests on: which probe, which URL, what answer, which node
    /// fact, which metric.
    #[serde(default)]
    pub evidence: Vec<Observation>,
}

fn unknown_state() -> MemberState {
    MemberState::Unknown
}

/// The outcome of one applied step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Applied {
    /// The step number.
    pub n: usize,
    /// done, already-done, refused or failed.
    pub result: Outcome,
    /// What happened, in one line.
    pub message: String,
}

/// How a step ended; serialized as the kebab-case word (`already-done`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The change was made and a member list confirms it.
    Done,
    /// The cluster already was as the step wants it; nothing was sent.
    AlreadyDone,
    /// A precondition did not hold; nothing was changed. The run stops.
    Refused,
    /// The change was attempted and is not confirmed. The run stops.
    Failed,
}

impl Outcome {
    /// The word used in JSON, YAML and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::AlreadyDone => "already-done",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    /// Whether the run stops after a step that ended so.
    pub fn stops(self) -> bool {
        matches!(self, Outcome::Refused | Outcome::Failed)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MemberRow {
    /// The row for one member, given the leader the cluster agrees on and its judged state.
    pub fn of(m: &Member, leader: Option<MemberId>, judged: &Judgement) -> Self {
        let st = m.status();
        MemberRow {
            id: m.id,
            name: m.name.clone(),
            peer_urls: m.peer_urls.clone(),
            client_urls: m.client_urls.clone(),
            is_learner: m.is_learner,
            reachable: m.reachable(),
            leader: leader.map(|l| l == m.id),
            version: st.map(|s| s.version.clone()).filter(|v| !v.is_empty()),
            db_size_bytes: st.map(|s| s.db_size),
            node: m.node.clone(),
            health: m.health(),
            db_size_in_use_bytes: st.and_then(|s| s.db_size_in_use),
            raft_term: st.map(|s| s.raft_term),
            raft_index: st.map(|s| s.raft_index),
            raft_applied_index: st.and_then(|s| s.raft_applied_index),
            probe_errors: m.probe_errors(),
            status_errors: st.map(|s| s.errors.clone()).unwrap_or_default(),
            state: judged.state,
            evidence: judged.evidence.clone(),
        }
    }
}

impl Report {
    /// Assembles the report from a snapshot, its findings and its plan.
    pub fn build(snap: &Snapshot, findings: Vec<Finding>, plan: Plan) -> Self {
        let leader = snap.leader();
        let judged = crate::state::judge_all(snap);
        Report {
            api_version: "etcd-doctor/v1".into(),
            kind: "Report".into(),
            source: snap.source,
            collected_at: snap.collected_at,
            cluster_id: snap.cluster_id,
            distribution: crate::detect::distribution(snap).map(|d| d.0),
            local: snap.local.clone(),
            upgrade_ready: None,
            members: snap.members.iter().zip(&judged).map(|(m, j)| MemberRow::of(m, leader, j)).collect(),
            quorum: Quorum::of_judged(snap, &judged),
            alarms: snap.alarms.clone(),
            findings,
            gaps: snap.gaps.clone(),
            plan,
            certificates: snap.certs.clone(),
            applied: None,
            summary: None,
        }
    }

    /// Adds the summary: which checks ran (`cov`) and which severity fails the run.
    pub fn summarize(&mut self, cov: crate::registry::Coverage, fail_on: FailOn) {
        self.summary = Some(Summary::of(self, cov, fail_on));
    }

    /// Records the code the run exits with when it is not the findings' (3: no etcd answered;
    /// 4: refused), so the summary states what the process returned. Returns it.
    pub fn set_exit_code(&mut self, code: i32) -> i32 {
        if let Some(s) = &mut self.summary {
            s.exit_code = code;
        }
        code
    }

    /// The worst severity among the findings.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The exit code CONTRACT.md gives a diagnosis: 2 critical, 1 warnings only, else 0; with
    /// a summary, under its `--fail-on` threshold.
    pub fn exit_code(&self) -> i32 {
        self.summary.as_ref().map(|s| s.fail_on).unwrap_or_default().exit_code(self.worst())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Selection, run_all};
    use crate::testing::*;

    #[test]
    fn a_voter_whose_own_status_says_no_leader_is_never_shown_as_leader() {
        // Voters 2 and 3 still name 1; 1 itself says it has no leader.
        let snap = cluster(&[no_leader(1), healthy(2), healthy(3)]);
        let r = Report::build(&snap, Vec::new(), Plan::default());
        assert!(r.members.iter().all(|m| m.leader != Some(true)), "{:?}", r.members);
        assert_eq!(r.members[1].state, MemberState::Electing);
    }

    #[test]
    fn a_one_endpoint_capture_of_a_leader_has_an_undecided_tolerance_not_a_lost_quorum() {
        let snap = cluster(&[healthy(1), unprobed(2), unprobed(3)]);
        let r = Report::build(&snap, Vec::new(), Plan::default());
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert!(v["quorum"]["faultTolerance"].is_null(), "{}", v["quorum"]);
        assert_eq!(
            (v["quorum"]["healthyVotersMin"].as_u64(), v["quorum"]["healthyVotersMax"].as_u64()),
            (Some(2), Some(3))
        );
        assert_eq!(v["quorum"]["healthyVoters"], 1);
        assert_eq!(v["members"][0]["leader"], true);
    }

    #[test]
    fn json_has_the_contract_fields_and_hex_string_ids() {
        let snap = cluster(&[healthy(1), healthy(2), down(0x47dedf98ed15be6)]);
        let findings = run_all(&snap, &Selection::default());
        let r = Report::build(&snap, findings, Plan::default());
        let v = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(v["apiVersion"], "etcd-doctor/v1");
        assert_eq!(v["kind"], "Report");
        assert_eq!(v["source"], "live");
        let m = &v["members"][2];
        for k in [
            "id",
            "name",
            "peerURLs",
            "clientURLs",
            "isLearner",
            "reachable",
            "leader",
            "version",
            "dbSizeBytes",
            "node",
        ] {
            assert!(m.get(k).is_some(), "member field {k} missing: {m}");
        }
        assert_eq!(m["id"], "47dedf98ed15be6");
        assert_eq!(m["reachable"], false);
        assert!(m["version"].is_null() && m["dbSizeBytes"].is_null() && m["node"].is_null());
        assert_eq!(v["members"][0]["leader"], true);
        assert_eq!(m["state"], "down");
        assert!(m["evidence"].as_array().is_some_and(|e| e.iter().any(|o| o["source"] == "peer-probe")), "{m}");
        assert_eq!(v["members"][0]["state"], "up");
        for k in ["healthyVotersMin", "healthyVotersMax"] {
            assert!(v["quorum"][k].is_number(), "quorum.{k}");
        }
        for k in ["voters", "quorum", "healthyVoters", "faultTolerance"] {
            assert!(v["quorum"][k].is_number(), "quorum.{k}");
        }
        let f = &v["findings"][0];
        for k in ["check", "severity", "memberID", "node", "subject", "message", "evidence"] {
            assert!(f.get(k).is_some(), "finding field {k} missing: {f}");
        }
        assert!(v["plan"]["steps"].is_array());
        assert!(v.get("applied").is_none());
        assert_eq!(r.exit_code(), 2);
    }

    #[test]
    fn fail_on_picks_the_severity_that_fails_the_run() {
        use Severity::*;
        let code = |f: FailOn, w: Option<Severity>| f.exit_code(w);
        assert_eq!([code(FailOn::Warning, Some(Warning)), code(FailOn::Warning, Some(Critical))], [1, 2]);
        assert_eq!([code(FailOn::Critical, Some(Warning)), code(FailOn::Critical, Some(Critical))], [0, 2]);
        assert_eq!([code(FailOn::Never, Some(Warning)), code(FailOn::Never, Some(Critical))], [0, 0]);
        assert_eq!(code(FailOn::Warning, Some(Info)), 0);
        assert!(FailOn::Critical.fails(Critical) && !FailOn::Critical.fails(Warning) && !FailOn::Never.fails(Critical));
    }

    #[test]
    fn the_summary_counts_findings_members_and_checks_and_says_why_a_check_was_skipped() {
        let snap = cluster(&[healthy(1), healthy(2), down(3)]);
        let sel = Selection::new(&[], &["version-skew".to_string()]).unwrap_or_default();
        let findings = run_all(&snap, &sel);
        let mut r = Report::build(&snap, findings, Plan::default());
        r.summarize(crate::registry::coverage(&snap, &sel), FailOn::Critical);
        let s = r.summary.clone().unwrap_or_else(|| panic!("no summary"));
        assert_eq!(s.members, 3);
        assert_eq!(s.members_not_up.get("down"), Some(&1), "{s:?}");
        assert_eq!(s.findings.critical, r.findings.iter().filter(|f| f.severity == Severity::Critical).count());
        assert!(s.findings.critical > 0, "{:?}", r.findings);
        assert!(s.checks_skipped.iter().any(|c| c.id == "version-skew" && c.deselected), "{s:?}");
        // The test snapshot has no metrics and no certificates: skipped with the reason.
        let why = |id: &str| s.checks_skipped.iter().find(|c| c.id == id).map(|c| c.reason.clone()).unwrap_or_default();
        assert!(why("restart-wave").contains("metrics"), "{s:?}");
        assert!(why("ca-mismatch").contains("certificates"), "{s:?}");
        assert_eq!(s.checks_run.len() + s.checks_skipped.len(), crate::registry::ALL.len());
        assert_eq!(s.exit_code, 2);
        assert_eq!(r.exit_code(), 2);
        assert!(s.line.starts_with("3 members (1 down) · "), "{}", s.line);
        assert!(s.line.ends_with(&format!("{} checks run, {} skipped", s.checks_run.len(), s.checks_skipped.len())));
        let v = serde_json::to_value(&r).unwrap_or_default();
        for k in ["findings", "checksRun", "checksSkipped", "failOn", "exitCode", "line"] {
            assert!(v["summary"].get(k).is_some(), "summary.{k} missing: {}", v["summary"]);
        }
        assert_eq!(v["summary"]["failOn"], "critical");
        assert_eq!(r.set_exit_code(3), 3);
        assert_eq!(r.summary.map(|s| s.exit_code), Some(3));
    }

    #[test]
    fn checks_without_their_input_are_skipped_and_checks_on_the_member_list_run() {
        // Members listed, none probed: the status checks could not run; the member-list ones did.
        let snap = cluster(&[unprobed(1), unprobed(2), unprobed(3)]);
        let cov = crate::registry::coverage(&snap, &Selection::default());
        for id in ["version-skew", "no-leader", "db-near-quota", "fragmented-db", "raft-lag", "client-url-unreachable"]
        {
            assert!(cov.skipped.iter().any(|s| s.id == id && !s.deselected), "{id} ran: {cov:?}");
        }
        for id in ["stale-member", "unstarted-member", "duplicate-peer-url", "invalid-member-url", "quorum-at-risk"] {
            assert!(cov.ran(id), "{id} skipped: {cov:?}");
        }
        // No member list at all: nothing that judges members ran.
        let empty = cluster(&[]);
        let cov = crate::registry::coverage(&empty, &Selection::default());
        assert!(cov.skipped.iter().any(|s| s.id == "stale-member" && s.reason.contains("no member list")), "{cov:?}");
        // Healthy members with statuses: the status checks ran.
        let snap = cluster(&[healthy(1), healthy(2), healthy(3)]);
        let cov = crate::registry::coverage(&snap, &Selection::default());
        for id in ["version-skew", "no-leader", "db-near-quota", "split-brain", "alarm-active"] {
            assert!(cov.ran(id), "{id} skipped: {cov:?}");
        }
    }

    #[test]
    fn outcomes_serialize_as_their_kebab_case_words() {
        for o in [Outcome::Done, Outcome::AlreadyDone, Outcome::Refused, Outcome::Failed] {
            let a = Applied { n: 1, result: o, message: String::new() };
            let v = serde_json::to_value(&a).unwrap_or_default();
            assert_eq!(v["result"], o.as_str());
            assert_eq!(serde_json::from_value::<Applied>(v).ok(), Some(a));
        }
    }
}
