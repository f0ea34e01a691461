//! Findings: what a check concluded about the cluster, with the evidence that led there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::MemberId;

/// How bad a finding is. Ordered: `Info < Warning < Critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix (also: a check that could not decide).
    Info,
    /// Degraded or risky; fix soon.
    Warning,
    /// Broken or one failure away from an outage; fix now.
    Critical,
}

impl Severity {
    /// The lowercase name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "warning" | "warn" => Ok(Severity::Warning),
            "critical" | "crit" => Ok(Severity::Critical),
            _ => Err(format!("unknown severity {s:?}: use info, warning or critical")),
        }
    }
}

/// The facts behind a finding, as named values an operator can verify.
pub type Evidence = BTreeMap<String, serde_json::Value>;

/// One problem (or one thing a check could not decide), about one subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The id of the check that raised it.
    pub check: String,
    /// How bad it is.
    pub severity: Severity,
    /// The member it is about, if any.
    #[serde(rename = "memberID")]
    pub member_id: Option<MemberId>,
    /// The Kubernetes node it is about, if any.
    pub node: Option<String>,
    /// What it is about, e.g. `member 47dedf98ed15be6 (node-c)`.
    pub subject: String,
    /// One line: what is wrong and why it matters.
    pub message: String,
    /// The facts that led here.
    pub evidence: Evidence,
    /// What the check proposes; the planner decides whether and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
}

/// A fix a check proposes for its finding. The planner merges, orders and simulates them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Remedy {
    /// Remove a member that is not running (unreachable or never started).
    RemoveMember {
        /// The member.
        #[serde(rename = "memberID")]
        member_id: MemberId,
    },
    /// Promote a learner that caught up with the leader.
    PromoteLearner {
        /// The learner.
        #[serde(rename = "memberID")]
        member_id: MemberId,
    },
    /// On this node (`--local`): point the K3s/RKE2 join URL at one that serves the API, then
    /// restart the service.
    SetServerUrl(FileEdit),
    /// Something only a person (or a node-local run) can do.
    Manual {
        /// One line.
        description: String,
        /// The exact commands or edits.
        commands: Vec<String>,
    },
}
/// One value replaced in one line of a node's config file, then the service restarted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEdit {
    /// The file, as a node path (`/etc/rancher/k3s/config.yaml`).
    pub file: String,
    /// How the value is set there (`server:`, `--server`, `K3S_URL=`).
    pub key: String,
    /// The 1-based line that holds it when the plan was made.
    pub line: usize,
    /// The value now.
    pub from: String,
    /// The value it becomes.
    pub to: String,
    /// The systemd unit restarted afterwards (`k3s`, `rke2-server`).
    pub service: String,
}

impl Finding {
    /// A finding of `check` about `subject`.
    pub fn new(check: &str, severity: Severity, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            check: check.to_string(),
            severity,
            member_id: None,
            node: None,
            subject: subject.into(),
            message: message.into(),
            evidence: Evidence::new(),
            remedy: None,
        }
    }

    /// Proposes a remedy.
    pub fn remedy(mut self, r: Remedy) -> Self {
        self.remedy = Some(r);
        self
    }

    /// Names the member it is about.
    pub fn member(mut self, id: MemberId, node: Option<&str>) -> Self {
        self.member_id = Some(id);
        self.node = node.map(str::to_string);
        self
    }

    /// Adds one piece of evidence.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.evidence.insert(key.to_string(), v);
        self
    }
}
