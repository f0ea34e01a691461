//! Applies a plan's automatic steps, one membership change at a time, idempotently (the kubeadm
//! lesson: `member add`/`remove` can time out although etcd applied them, and a blind retry
//! then fails with "already exists"). Per step: list the members again; check that the step
//! still applies and is still safe; act once; on an error or timeout, list again to learn
//! what happened; verify. The first surprise stops the run.

use std::time::{Duration, Instant};

use etcd_client::{Client, MemberAddOptions};
use etcd_doctor_checks::endpoint::Endpoint;
use etcd_doctor_checks::model::Health;
use etcd_doctor_checks::plan::{Action, Plan, Step};
use etcd_doctor_checks::quorum::{Change, Quorum};
use etcd_doctor_checks::report::{Applied, Outcome};
use etcd_doctor_checks::{MemberId, Status};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::collect::etcd::Target;
use crate::collect::etcd_error_line;
use crate::collect::pod_exec::ExecTarget;

/// One member as a fresh list shows it, with what a probe found just now.
#[derive(Debug, Clone)]
struct Live {
    id: MemberId,
    name: String,
    peer_urls: Vec<String>,
    client_urls: Vec<String>,
    learner: bool,
    status: Option<Status>,
}

impl Live {
    fn healthy(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.leader.is_some())
    }

    /// The health the quorum arithmetic counts: answered with a leader, or not.
    fn health(&self) -> Health {
        if self.healthy() { Health::Healthy } else { Health::Unreachable }
    }
}

/// How the executor reaches etcd: gRPC, or etcdctl in an etcd pod through the Kubernetes API.
#[derive(Clone, Copy)]
pub enum Via<'a> {
    /// etcd's client URLs, directly.
    Grpc(&'a Target),
    /// `kubectl exec`-style, in an etcd pod.
    Exec(&'a ExecTarget),
}

/// A connection to act through, from the list that preceded the act.
enum Conn<'a> {
    Grpc(Box<Client>),
    Exec(&'a ExecTarget),
}

impl Conn<'_> {
    async fn remove(&mut self, id: MemberId) -> Result<(), String> {
        match self {
            Conn::Grpc(c) => c.member_remove(id.0).await.map(|_| ()).map_err(|e| etcd_error_line(&e)),
            Conn::Exec(x) => x.remove(id).await,
        }
    }

    async fn promote(&mut self, id: MemberId) -> Result<(), String> {
        match self {
            Conn::Grpc(c) => c.member_promote(id.0).await.map(|_| ()).map_err(|e| etcd_error_line(&e)),
            Conn::Exec(x) => x.promote(id).await,
        }
    }

    async fn add_learner(&mut self, url: &str) -> Result<(), String> {
        match self {
            Conn::Grpc(c) => {
                let opts = MemberAddOptions::new().with_is_learner();
                c.member_add([url.to_string()], Some(opts)).await.map(|_| ()).map_err(|e| etcd_error_line(&e))
            }
            Conn::Exec(x) => x.add_learner(url).await,
        }
    }
}

/// Settings for a run.
pub struct Executor<'a> {
    /// How to reach etcd.
    pub target: Via<'a>,
    /// A pause before each step (a testing aid: `ETCD_DOCTOR_STEP_DELAY`).
    pub step_delay: Duration,
    /// How long a promotion waits for a new learner to catch up.
    pub wait_learner: Duration,
    /// `--local`: the node's filesystem root and how to restart its service.
    pub node: Option<NodeSide>,
}

/// What a node-local step needs.
pub struct NodeSide {
    /// `--root`.
    pub root: std::path::PathBuf,
    /// `--restart-command`; `{service}` becomes the step's service.
    pub restart_command: String,
}

/// The units a `set-server-url` step may restart: a plan file never names an arbitrary one.
const RESTARTABLE: [&str; 2] = ["k3s", "rke2-server"];

fn applied(step: &Step, result: Outcome, message: impl Into<String>) -> Applied {
    Applied { n: step.n, result, message: message.into() }
}

impl Executor<'_> {
    /// Runs the automatic steps in order; stops at the first `refused` or `failed`.
    pub async fn run(&self, plan: &Plan) -> Vec<Applied> {
        let mut out = Vec::new();
        for step in plan.steps.iter().filter(|s| s.automatic) {
            if !self.step_delay.is_zero() {
                tokio::time::sleep(self.step_delay).await;
            }
            let a = match step.action {
                Action::RemoveMember => self.remove(step).await,
                Action::PromoteLearner => self.promote(step).await,
                Action::AddLearner => self.add_learner(step).await,
                Action::SetServerUrl => self.set_server_url(step).await,
                Action::Manual => applied(step, Outcome::Refused, "a manual step cannot run automatically"),
            };
            let stop = a.result.stops();
            out.push(a);
            if stop {
                break;
            }
        }
        out
    }

    /// How long one act may take.
    fn budget(&self) -> Duration {
        match self.target {
            Via::Grpc(t) => t.budget(),
            Via::Exec(x) => x.timeout,
        }
    }

    /// The member list from the first of the tool's endpoints that answers, and a connection.
    async fn list(&self) -> Result<(Vec<Live>, Conn<'_>), String> {
        let t = match self.target {
            Via::Grpc(t) => t,
            Via::Exec(x) => {
                let v = x.member_list().await?;
                let mut snap = etcd_doctor_checks::Snapshot::new(
                    etcd_doctor_checks::Source::Live,
                    time::OffsetDateTime::now_utc(),
                );
                crate::collect::bundle::members_into(&v, std::path::Path::new("etcdctl member list"), &mut snap)
                    .map_err(|e| format!("{e:#}"))?;
                let members = snap
                    .members
                    .into_iter()
                    .map(|m| Live {
                        id: m.id,
                        name: m.name,
                        peer_urls: m.peer_urls,
                        client_urls: m.client_urls,
                        learner: m.is_learner,
                        status: None,
                    })
                    .collect();
                return Ok((members, Conn::Exec(x)));
            }
        };
        let mut asks: FuturesUnordered<_> = t.endpoints().iter().map(|u| t.member_list(u)).collect();
        let mut errors = Vec::new();
        while let Some(r) = asks.next().await {
            match r {
                Ok((client, list)) => {
                    let members = list
                        .members()
                        .iter()
                        .map(|m| Live {
                            id: MemberId(m.id()),
                            name: m.name().to_string(),
                            peer_urls: m.peer_urls().to_vec(),
                            client_urls: m.client_urls().to_vec(),
                            learner: m.is_learner(),
                            status: None,
                        })
                        .collect();
                    return Ok((members, Conn::Grpc(Box::new(client))));
                }
                Err(e) => errors.push(e),
            }
        }
        Err(format!("no endpoint answered the member list: {}", errors.join("; ")))
    }

    /// Probes every member's client URLs now, all at once; a status counts for the member
    /// whose id is in its header.
    async fn probe(&self, members: &mut [Live]) {
        let urls: Vec<String> = members.iter().flat_map(|m| m.client_urls.clone()).collect();
        let results = futures::future::join_all(urls.iter().map(|u| async move {
            match self.target {
                Via::Grpc(t) => t.status(u).await,
                Via::Exec(x) => x.status(u).await,
            }
        }))
        .await;
        for s in results.into_iter().flatten() {
            if let Some(m) = members.iter_mut().find(|m| m.id == s.member_id)
                && (m.status.is_none() || s.leader.is_some())
            {
                m.status = Some(s);
            }
        }
    }

    /// The quorum of `members` as probed just now.
    fn quorum(members: &[Live]) -> Quorum {
        Quorum::from_health(members.iter().map(|m| (m.learner, m.health())))
    }

    /// Rewrites the node's join URL and restarts its service, if the cluster keeps quorum while
    /// this node's member restarts. A file that already says the new URL is already done.
    async fn set_server_url(&self, step: &Step) -> Applied {
        let (Some(edit), Some(node)) = (&step.edit, &self.node) else {
            return applied(
                step,
                Outcome::Refused,
                "set-server-url runs only with --local, on the node it was planned for",
            );
        };
        if !RESTARTABLE.contains(&edit.service.as_str()) {
            return applied(
                step,
                Outcome::Refused,
                format!("set-server-url restarts only {RESTARTABLE:?}, not {:?}", edit.service),
            );
        }
        let mut members = match self.list().await {
            Ok((m, _)) => m,
            Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")),
        };
        self.probe(&mut members).await;
        // This node's member goes down for the restart; unknown, it counts as a healthy voter.
        let mine = step.member_id.and_then(|id| members.iter().find(|m| m.id == id));
        let down = mine.map_or(Change::Down { learner: false, health: Health::Healthy }, |m| Change::Down {
            learner: m.learner,
            health: m.health(),
        });
        let q = Self::quorum(&members);
        if !q.survives(down) {
            return applied(
                step,
                Outcome::Refused,
                format!(
                    "{} of {} voters are healthy now: restarting {} here would lose quorum; nothing was changed",
                    q.healthy_voters, q.voters, edit.service
                ),
            );
        }
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .unwrap_or_else(|_| "now".into());
        let edited = match crate::fix::server_url::apply(&node.root, edit, &stamp) {
            Ok(e) => e,
            Err(e) => return applied(step, Outcome::Refused, format!("{e:#}; nothing was changed")),
        };
        let (line, backup) = match edited {
            crate::fix::server_url::Edited::AlreadyDone { line } => {
                return applied(
                    step,
                    Outcome::AlreadyDone,
                    format!(
                        "{} line {line} already says {}; not restarted again (restart {} yourself if it has not been since)",
                        edit.file, edit.to, edit.service
                    ),
                );
            }
            crate::fix::server_url::Edited::Done { line, backup } => (line, backup),
        };
        let mut command = node.restart_command.replace("{service}", &edit.service);
        // A changed unit file is read again only after a daemon-reload.
        if edit.key == "--server" && node.restart_command == crate::cli::DEFAULT_RESTART {
            command = format!("systemctl daemon-reload && {command}");
        }
        let changed = format!("{} line {line}: {} -> {} (backup {})", edit.file, edit.from, edit.to, backup.display());
        let run = tokio::process::Command::new("sh").arg("-c").arg(&command).kill_on_drop(true).output();
        match tokio::time::timeout(Duration::from_secs(180), run).await {
            Ok(Ok(out)) if out.status.success() => match self.wait_member_back(step.member_id).await {
                Ok(()) => applied(step, Outcome::Done, format!("{changed}; ran `{command}`; the member is back")),
                Err(e) => applied(step, Outcome::Failed, format!("{changed}; ran `{command}`, but {e}")),
            },
            Ok(Ok(out)) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: String = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
                applied(step, Outcome::Failed, format!("{changed}; but `{command}` failed ({}): {tail}", out.status))
            }
            Ok(Err(e)) => applied(step, Outcome::Failed, format!("{changed}; but `{command}` could not run: {e}")),
            Err(_) => applied(step, Outcome::Failed, format!("{changed}; but `{command}` did not finish within 180 s")),
        }
    }

    /// After a restart, waits (bounded) until this node's member answers and follows a leader
    /// again, so the next step and the re-check see the cluster as it will stay.
    async fn wait_member_back(&self, member: Option<MemberId>) -> Result<(), String> {
        let Some(id) = member else { return Ok(()) };
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = String::from("no member list yet");
        while Instant::now() < deadline {
            match self.list().await {
                Ok((mut members, _)) => {
                    self.probe(&mut members).await;
                    match members.iter().find(|m| m.id == id) {
                        Some(m) if m.healthy() => return Ok(()),
                        Some(_) => last = format!("member {id} does not answer with a leader yet"),
                        None => return Err(format!("member {id} is not in the member list after the restart")),
                    }
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(format!("member {id} was not back within 120 s ({last})"))
    }

    /// Removes a member. An error the member list shows was not applied and that etcd gives
    /// for transient reasons (a proposal dropped by a leader change, a timeout) runs the whole
    /// step again — list, check, act — at most three times: a second remove of the same id
    /// cannot do harm (etcd answers "member not found"), and it is never sent unchecked.
    async fn remove(&self, step: &Step) -> Applied {
        let mut tries = Vec::new();
        for _ in 0..3 {
            let a = self.remove_once(step).await;
            let transient = a.result == Outcome::Failed && a.message.contains("[retryable]");
            if !transient {
                if !tries.is_empty() && a.result == Outcome::Done {
                    return applied(step, Outcome::Done, format!("{} (after: {})", a.message, tries.join("; ")));
                }
                return a;
            }
            tries.push(a.message.replace(" [retryable]", ""));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        applied(step, Outcome::Failed, tries.join("; "))
    }

    async fn remove_once(&self, step: &Step) -> Applied {
        let Some(id) = step.member_id else {
            return applied(step, Outcome::Refused, "remove-member without a member id");
        };
        let (mut members, mut client) = match self.list().await {
            Ok(x) => x,
            Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")),
        };
        if !members.iter().any(|m| m.id == id) {
            return applied(step, Outcome::AlreadyDone, format!("member {id} is not in the member list any more"));
        }
        self.probe(&mut members).await;
        let Some(target) = members.iter().find(|m| m.id == id).cloned() else {
            return applied(step, Outcome::AlreadyDone, format!("member {id} is not in the member list any more"));
        };
        if target.status.is_some() {
            return applied(
                step,
                Outcome::Refused,
                format!(
                    "member {id} ({}) answers again: a reachable member is never removed; nothing was changed",
                    target.name
                ),
            );
        }
        let q = Self::quorum(&members);
        if !q.survives(Change::Remove { learner: target.learner, health: target.health() }) {
            return applied(
                step,
                Outcome::Refused,
                format!(
                    "{} of {} voters are healthy now: removing {id} is not safe or cannot commit; nothing was changed",
                    q.healthy_voters, q.voters
                ),
            );
        }
        let budget = self.budget();
        let outcome = tokio::time::timeout(budget, client.remove(id)).await;
        let err = match outcome {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!("no reply within {budget:?}")),
        };
        if let Some(e) = &err
            && e.contains("member not found")
        {
            return applied(
                step,
                Outcome::AlreadyDone,
                format!("etcd says member {id} is not found (removed meanwhile)"),
            );
        }
        // Whatever the reply, a fresh list says what happened.
        match self.list().await {
            Ok((after, _)) if !after.iter().any(|m| m.id == id) => match err {
                None => applied(
                    step,
                    Outcome::Done,
                    format!("removed member {id} ({}); the member list confirms it", target.name),
                ),
                Some(e) => applied(
                    step,
                    Outcome::Done,
                    format!("the reply was lost ({e}), but a fresh member list shows member {id} removed"),
                ),
            },
            Ok(_) => {
                let retry = err.as_deref().is_some_and(is_transient);
                let tag = if retry { " [retryable]" } else { "" };
                applied(
                    step,
                    Outcome::Failed,
                    format!(
                        "member {id} is still in the member list{}{tag}",
                        err.map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                )
            }
            Err(le) => applied(
                step,
                Outcome::Failed,
                format!(
                    "outcome unknown: {}; listing again failed: {le}. Run again: it lists the members before acting",
                    err.unwrap_or_else(|| "removed".into())
                ),
            ),
        }
    }

    /// Finds the learner a step is about: by id, or by peer URL for a member this plan added.
    fn learner_of<'m>(step: &Step, members: &'m [Live]) -> Option<&'m Live> {
        match (step.member_id, &step.peer_url) {
            (Some(id), _) => members.iter().find(|m| m.id == id),
            (None, Some(url)) => members.iter().find(|m| m.peer_urls.iter().any(|u| same_endpoint(u, url))),
            _ => None,
        }
    }

    async fn promote(&self, step: &Step) -> Applied {
        let deadline = Instant::now() + self.wait_learner;
        loop {
            let (mut members, mut client) = match self.list().await {
                Ok(x) => x,
                Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")),
            };
            let Some(m) = Self::learner_of(step, &members).cloned() else {
                return applied(step, Outcome::Refused, "the learner is not in the member list; nothing was changed");
            };
            if !m.learner {
                return applied(step, Outcome::AlreadyDone, format!("member {} ({}) is already a voter", m.id, m.name));
            }
            self.probe(&mut members).await;
            if !Self::quorum(&members).has_quorum() {
                return applied(
                    step,
                    Outcome::Refused,
                    "the cluster has no quorum of healthy voters now; nothing was changed",
                );
            }
            let budget = self.budget();
            let err = match tokio::time::timeout(budget, client.promote(m.id)).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("no reply within {budget:?}")),
            };
            match err {
                Some(e) if e.contains("in sync") => {
                    if Instant::now() >= deadline {
                        return applied(
                            step,
                            Outcome::Failed,
                            format!("learner {} did not catch up within {:?}: {e}", m.id, self.wait_learner),
                        );
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                err => {
                    return match self.list().await {
                        Ok((after, _)) if after.iter().any(|x| x.id == m.id && !x.learner) => match err {
                            None => applied(step, Outcome::Done, format!("promoted {} ({}) to a voter", m.id, m.name)),
                            Some(e) => applied(
                                step,
                                Outcome::Done,
                                format!("the reply was lost ({e}), but {} is a voter now", m.id),
                            ),
                        },
                        Ok(_) => applied(
                            step,
                            Outcome::Failed,
                            format!("{} is still a learner{}", m.id, err.map(|e| format!(": {e}")).unwrap_or_default()),
                        ),
                        Err(le) => {
                            applied(step, Outcome::Failed, format!("outcome unknown; listing again failed: {le}"))
                        }
                    };
                }
            }
        }
    }

    async fn add_learner(&self, step: &Step) -> Applied {
        let Some(url) = step.peer_url.clone() else {
            return applied(step, Outcome::Refused, "add-learner without a peer URL");
        };
        let (mut members, mut client) = match self.list().await {
            Ok(x) => x,
            Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")),
        };
        if let Some(m) = members.iter().find(|m| m.peer_urls.iter().any(|u| same_endpoint(u, &url))) {
            return applied(step, Outcome::AlreadyDone, format!("member {} already has peer URL {url}", m.id));
        }
        self.probe(&mut members).await;
        if let Some(m) = members.iter().find(|m| !m.learner && !m.healthy()) {
            return applied(
                step,
                Outcome::Refused,
                format!(
                    "voter {} ({}) is not healthy: etcd refuses member add until it is removed or repaired",
                    m.id, m.name
                ),
            );
        }
        // etcd 3.4 answers "unhealthy cluster" to every member add until all voters have been
        // connected for ~5 s. That answer means "not applied"; once a fresh list confirms it,
        // asking again is safe. Bounded.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let budget = self.budget();
            let err = match tokio::time::timeout(budget, client.add_learner(&url)).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(format!("no reply within {budget:?}")),
            };
            let after = match self.list().await {
                Ok((after, c)) => {
                    client = c;
                    after
                }
                Err(le) => {
                    return applied(step, Outcome::Failed, format!("outcome unknown; listing again failed: {le}"));
                }
            };
            if let Some(m) = after.iter().find(|m| m.peer_urls.iter().any(|u| same_endpoint(u, &url))) {
                return match err {
                    None => applied(step, Outcome::Done, format!("added learner {} with peer URL {url}", m.id)),
                    Some(e) => applied(
                        step,
                        Outcome::Done,
                        format!("the reply was lost ({e}), but learner {} is in the member list", m.id),
                    ),
                };
            }
            match err {
                Some(e) if e.contains("unhealthy cluster") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Some(e) => return applied(step, Outcome::Failed, e),
                None => return applied(step, Outcome::Failed, "etcd answered, but the member list has no such member"),
            }
        }
    }
}

/// Errors after which etcd did not apply a proposal for reasons that pass: a timeout, a
/// leader change, a dropped connection.
fn is_transient(e: &str) -> bool {
    let e = e.to_ascii_lowercase();
    ["timeout", "timed out", "no reply within", "leader changed", "no leader", "unavailable", "connection", "reset"]
        .iter()
        .any(|k| e.contains(k))
}

fn same_endpoint(a: &str, b: &str) -> bool {
    match (Endpoint::parse(a), Endpoint::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
