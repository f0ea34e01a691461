//! The plan as data: an ordered list of typed steps (`Action`, kebab-case in JSON) and the
//! constructors every planner uses, so a step is built one way wherever it is planned.

use serde::{Deserialize, Serialize};

use crate::finding::FileEdit;
use crate::id::MemberId;

/// An ordered list of steps and the state they were planned against.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// `sha256:<hex>` of the cluster id, member ids, peer URLs, learner flags and reachability.
    pub fingerprint: String,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// 1-based position.
    pub n: usize,
    /// What it does.
    pub action: Action,
    /// The member it acts on.
    #[serde(rename = "memberID")]
    pub member_id: Option<MemberId>,
    /// Whether `--fix` may run it; manual steps are printed for a person.
    pub automatic: bool,
    /// The check id that asked for it.
    pub reason: String,
    /// One line for people.
    pub description: String,
    /// The commands a person would type (exact for manual steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// The peer URL of a member to add.
    #[serde(default, rename = "peerURL", skip_serializing_if = "Option::is_none")]
    pub peer_url: Option<String>,
    /// The file edit of a `set-server-url` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit: Option<FileEdit>,
    /// The etcd version a `restart-member` step upgrades to and its `gate` waits for.
    #[serde(default, rename = "targetVersion", skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    /// A `gate`: the fault tolerance the cluster had when the plan was made, which it must
    /// have again before the next member restarts (apply measures it again right before the
    /// restart and uses the higher of the two).
    #[serde(default, rename = "faultTolerance", skip_serializing_if = "Option::is_none")]
    pub fault_tolerance: Option<i64>,
}

/// What a step does; serialized as the kebab-case word (`remove-member`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `etcdctl member remove`.
    RemoveMember,
    /// `etcdctl member promote`.
    PromoteLearner,
    /// `etcdctl member add --learner`.
    AddLearner,
    /// Rewrite the K3s/RKE2 join URL on this node and restart its service (`--local`).
    SetServerUrl,
    /// Something only a person can do; `commands` says what.
    Manual,
    /// A snapshot of the keyspace through the maintenance API (`etcdctl snapshot save`),
    /// before an upgrade.
    Backup,
    /// Restart one member on the target version with `--restart-command` (a rolling upgrade).
    RestartMember,
    /// Wait until the restarted member answers at the target version, caught up with the
    /// leader, and the cluster is healthy with its tolerance back; stop the run otherwise.
    Gate,
}

impl Action {
    /// The word used in JSON, YAML and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RemoveMember => "remove-member",
            Action::PromoteLearner => "promote-learner",
            Action::AddLearner => "add-learner",
            Action::SetServerUrl => "set-server-url",
            Action::Manual => "manual",
            Action::Backup => "backup",
            Action::RestartMember => "restart-member",
            Action::Gate => "gate",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Step {
    /// A step `--fix` may run, with the one command a person would type for it.
    pub fn automatic(
        action: Action,
        member_id: MemberId,
        reason: String,
        description: String,
        command: String,
    ) -> Self {
        Step {
            n: 0,
            action,
            member_id: Some(member_id),
            automatic: true,
            reason,
            description,
            commands: vec![command],
            peer_url: None,
            edit: None,
            target_version: None,
            fault_tolerance: None,
        }
    }

    /// A step for a person: `commands` says exactly what to do.
    pub fn manual(member_id: Option<MemberId>, reason: &str, description: String, commands: Vec<String>) -> Self {
        Step {
            n: 0,
            action: Action::Manual,
            member_id,
            automatic: false,
            reason: reason.to_string(),
            description,
            commands,
            peer_url: None,
            edit: None,
            target_version: None,
            fault_tolerance: None,
        }
    }

    /// A step about a member known by its peer URL (one this plan adds, so without an id yet).
    pub fn by_peer_url(
        action: Action,
        automatic: bool,
        reason: &str,
        description: String,
        command: String,
        peer_url: &str,
    ) -> Self {
        Step {
            n: 0,
            action,
            member_id: None,
            automatic,
            reason: reason.to_string(),
            description,
            commands: vec![command],
            peer_url: Some(peer_url.to_string()),
            edit: None,
            target_version: None,
            fault_tolerance: None,
        }
    }

    /// Rewrites a node's join URL and restarts its service.
    pub fn set_server_url(
        member_id: Option<MemberId>,
        reason: &str,
        description: String,
        commands: Vec<String>,
        edit: FileEdit,
    ) -> Self {
        Step {
            n: 0,
            action: Action::SetServerUrl,
            member_id,
            automatic: true,
            reason: reason.to_string(),
            description,
            commands,
            peer_url: None,
            edit: Some(edit),
            target_version: None,
            fault_tolerance: None,
        }
    }
}
