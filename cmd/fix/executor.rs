//! Applies a plan's automatic steps, one membership change at a time, idempotently (the kubeadm
//! lesson: `member add`/`remove` can time out although etcd applied them, and a blind retry
//! then fails with "already exists"). Per step: list the members again; check that the step
//! still applies and is still safe; act once; on an error or timeout, list again to learn
//! what happened; verify with a member list the leader answers (a follower's may lag: about 2
//! of 18 removals looked "still in the member list" when any member's list was believed).
//! The first surprise stops the run, and so does a signal, between steps.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etcd_doctor_checks::endpoint::Endpoint;
use etcd_doctor_checks::model::Health;
use etcd_doctor_checks::plan::{Action, Plan, Step};
use etcd_doctor_checks::quorum::{Change, Quorum};
use etcd_doctor_checks::report::{Applied, Outcome};
use etcd_doctor_checks::{
    id::MemberId,
    model::{Member, Status},
};

use crate::etcd::{Etcd, EtcdError, MemberList};

/// Settings for a run.
pub struct Executor<'a, E: Etcd> {
    /// How to reach etcd.
    pub etcd: &'a E,
    /// A pause before each step (a testing aid: `ETCD_DOCTOR_STEP_DELAY`).
    pub step_delay: Duration,
    /// How long a promotion waits for a new learner to catch up.
    pub wait_learner: Duration,
    /// How long a change may take to show in the leader's member list before the step fails.
    pub verify_within: Duration,
    /// `--local`: the node's filesystem root and how to restart its service.
    pub node: Option<NodeSide>,
    /// Set when the run must stop (SIGINT, SIGTERM): the current step finishes, no other starts.
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// What the steps of an upgrade plan need (`apply` of `plan upgrade`).
    pub upgrade: Option<upgrade::UpgradeSide>,
    /// Where cues for the operator go while a step waits for them ("start it now"); stderr.
    pub cue: Option<&'a (dyn Fn(&str) + Sync)>,
}

/// What a node-local step needs.
pub struct NodeSide {
    /// `--root`.
    pub root: std::path::PathBuf,
    /// `--restart-command`; `{service}` becomes the step's service.
    pub restart_command: String,
}

/// What a run did, and whether a signal cut it short.
#[derive(Debug, Default, PartialEq)]
pub struct Run {
    /// One outcome per step that ran, in order.
    pub applied: Vec<Applied>,
    /// A signal stopped the run between steps; the steps after the last one here did not run.
    pub interrupted: bool,
}

/// The units a `set-server-url` step may restart: a plan file never names an arbitrary one.
const RESTARTABLE: [&str; 2] = ["k3s", "rke2-server"];

fn applied(step: &Step, result: Outcome, message: impl Into<String>) -> Applied {
    Applied { n: step.n, result, message: message.into() }
}

/// A member list and what every member's client URLs answered just now.
struct Seen {
    list: MemberList,
    /// The status each member gave (one with a leader preferred).
    status: BTreeMap<MemberId, Status>,
}

impl Seen {
    fn member(&self, id: MemberId) -> Option<&Member> {
        self.list.members.iter().find(|m| m.id == id)
    }

    /// Healthy (answers and follows a leader), no-leader, or unreachable: what the quorum
    /// arithmetic counts.
    fn health(&self, id: MemberId) -> Health {
        match self.status.get(&id) {
            Some(s) if s.leader.is_some() => Health::Healthy,
            Some(_) => Health::NoLeader,
            None => Health::Unreachable,
        }
    }

    fn quorum(&self) -> Quorum {
        Quorum::from_health(self.list.members.iter().map(|m| (m.is_learner, self.health(m.id))))
    }

    /// The leader the voters name (the highest term wins); learners' word does not count.
    fn leader(&self) -> Option<MemberId> {
        self.status
            .values()
            .filter(|s| !s.is_learner)
            .filter_map(|s| s.leader.map(|l| (s.raft_term, l)))
            .max()
            .map(|(_, l)| l)
    }
}

/// How one act ended before verification.
enum Reply {
    Ok,
    Err(EtcdError),
}

impl<E: Etcd> Executor<'_, E> {
    /// Runs the automatic steps in order; stops at the first `refused` or `failed`, or when
    /// told to stop (between steps: a step that started is finished and verified first).
    pub async fn run(&self, plan: &Plan) -> Run {
        let mut run = Run::default();
        let automatic: Vec<&Step> = plan.steps.iter().filter(|s| s.automatic).collect();
        // The restart a gate follows: when it began and the tolerance the cluster had then.
        let mut restarted: Option<upgrade::Restarted> = None;
        for (i, step) in automatic.iter().enumerate() {
            if self.stopped() || !self.pause().await {
                break;
            }
            let mut a = match step.action {
                Action::RemoveMember => self.remove(step).await,
                Action::PromoteLearner => self.promote(step, start_step(plan, step)).await,
                Action::AddLearner => self.add_learner(step).await,
                Action::SetServerUrl => self.set_server_url(step).await,
                Action::Manual => applied(step, Outcome::Refused, "a manual step cannot run automatically"),
                Action::Backup => self.backup(step).await,
                Action::RestartMember => {
                    let (a, r) = self.restart_member(step).await;
                    restarted = r;
                    a
                }
                Action::Gate => self.gate(step, restarted.take()).await,
            };
            let stop = a.result.stops();
            if stop && matches!(step.action, Action::Backup | Action::RestartMember | Action::Gate) {
                a.message.push_str(&upgrade::where_it_stopped(step, &automatic[i + 1..]));
            }
            run.applied.push(a);
            if stop {
                break;
            }
        }
        let refused = run.applied.last().is_some_and(|a| a.result.stops());
        run.interrupted = self.stopped() && !refused && run.applied.len() < automatic.len();
        run
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| *s.borrow())
    }

    /// The step delay; false when a stop came during it (nothing was started).
    async fn pause(&self) -> bool {
        if self.step_delay.is_zero() {
            return true;
        }
        match self.stop.clone() {
            None => {
                tokio::time::sleep(self.step_delay).await;
                true
            }
            Some(mut rx) => {
                let slept = tokio::select! {
                    _ = tokio::time::sleep(self.step_delay) => true,
                    _ = rx.wait_for(|s| *s) => false,
                };
                slept && !self.stopped()
            }
        }
    }

    /// A member list from the tool's endpoints and every member's status, asked now, all at
    /// once. A status counts for the member whose id is in its header, in this cluster only.
    async fn look(&self) -> Result<Seen, EtcdError> {
        let list = self.etcd.member_list().await?;
        Ok(self.probe(list).await)
    }

    async fn probe(&self, list: MemberList) -> Seen {
        let status = statuses(self.etcd, &list).await;
        Seen { list, status }
    }

    /// The member list as the leader answers it: the leader has applied every committed
    /// membership change, a follower may not have yet. The leader seen before the act is asked
    /// first (when its status still says it leads), so a member that times out is not probed on
    /// every try; otherwise every member is asked again to find the leader.
    async fn leader_list(&self, before: &Seen) -> Result<MemberList, EtcdError> {
        if let Some(l) = before.leader() {
            for u in before.member(l).map(|m| m.client_urls.clone()).unwrap_or_default() {
                let still_leads = self.etcd.status(&u).await.is_ok_and(|s| s.member_id == l && s.leader == Some(l));
                if !still_leads {
                    continue;
                }
                if let Ok(list) = self.etcd.member_list_at(&u).await
                    && list.answered_by.is_none_or(|a| a == l)
                {
                    return Ok(list);
                }
            }
        }
        let seen = self.look().await?;
        let Some(leader) = seen.leader() else {
            return Err(EtcdError::NoLeader("no voter answered with a leader".into()));
        };
        let urls = seen.member(leader).map(|m| m.client_urls.clone()).unwrap_or_default();
        let mut last = EtcdError::NoLeader(format!("the leader {leader} has no client URL that answers"));
        for u in &urls {
            match self.etcd.member_list_at(u).await {
                Ok(l) if l.answered_by.is_none_or(|a| a == leader) => return Ok(l),
                Ok(l) => {
                    last = EtcdError::NoLeader(format!(
                        "{u} answered as {} instead of the leader {leader}",
                        l.answered_by.map(|a| a.to_string()).unwrap_or_default()
                    ))
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Asks the leader's member list until `done` holds, within `verify_within`: `Ok(true)`
    /// confirmed, `Ok(false)` the leader's list still says otherwise at the end, `Err` no list
    /// from the leader could be had.
    async fn confirm(&self, before: &Seen, done: impl Fn(&MemberList) -> bool) -> Result<bool, EtcdError> {
        let deadline = Instant::now() + self.verify_within;
        loop {
            let r = self.leader_list(before).await;
            match &r {
                Ok(l) if done(l) => return Ok(true),
                _ if Instant::now() >= deadline => return r.map(|_| false),
                _ => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }

    /// The act, bounded by the client's budget.
    async fn act(&self, fut: impl Future<Output = Result<(), EtcdError>>) -> Reply {
        let budget = self.etcd.budget();
        match tokio::time::timeout(budget, fut).await {
            Ok(Ok(())) => Reply::Ok,
            Ok(Err(e)) => Reply::Err(e),
            Err(_) => Reply::Err(EtcdError::Timeout(budget)),
        }
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
        let seen = match self.look().await {
            Ok(s) => s,
            Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")),
        };
        // This node's member goes down for the restart; unknown, it counts as a healthy voter.
        let mine = step.member_id.and_then(|id| seen.member(id));
        let down = mine.map_or(Change::Down { learner: false, health: Health::Healthy }, |m| Change::Down {
            learner: m.is_learner,
            health: seen.health(m.id),
        });
        let q = seen.quorum();
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
            match self.look().await {
                Ok(seen) => match seen.member(id) {
                    Some(_) if seen.health(id) == Health::Healthy => return Ok(()),
                    Some(_) => last = format!("member {id} does not answer with a leader yet"),
                    None => return Err(format!("member {id} is not in the member list after the restart")),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Err(format!("member {id} was not back within 120 s ({last})"))
    }

    /// Removes a member. An error the leader's member list shows was not applied and that etcd
    /// gives for transient reasons (a proposal dropped by a leader change, a timeout) runs the
    /// whole step again — list, check, act — at most three times: a second remove of the same
    /// id cannot do harm (etcd answers "member not found"), and it is never sent unchecked.
    async fn remove(&self, step: &Step) -> Applied {
        let mut tries = Vec::new();
        for _ in 0..3 {
            let (a, transient) = self.remove_once(step).await;
            if !transient {
                if !tries.is_empty() && a.result == Outcome::Done {
                    return applied(step, Outcome::Done, format!("{} (after: {})", a.message, tries.join("; ")));
                }
                return a;
            }
            tries.push(a.message);
            if self.stopped() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        applied(step, Outcome::Failed, tries.join("; "))
    }

    /// One try; `true` beside a failure that may be tried again.
    async fn remove_once(&self, step: &Step) -> (Applied, bool) {
        let Some(id) = step.member_id else {
            return (applied(step, Outcome::Refused, "remove-member without a member id"), false);
        };
        let seen = match self.look().await {
            Ok(s) => s,
            Err(e) => {
                return (applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")), false);
            }
        };
        let Some(target) = seen.member(id).cloned() else {
            return (
                applied(step, Outcome::AlreadyDone, format!("member {id} is not in the member list any more")),
                false,
            );
        };
        // Never remove a member that may still be running: one that answers its client URL,
        // or whose peer listener answers TLS (a wrong advertised client URL, a firewall).
        if let Some(s) = seen.status.get(&id) {
            let url = target.client_urls.join(",");
            let leader = s.leader.map_or("no leader".to_string(), |l| format!("leader {l}"));
            return (
                applied(
                    step,
                    Outcome::Refused,
                    format!(
                        "member {id} ({}) answers again at {url} (etcd {}, {leader}): a member that answers is never removed; nothing was changed",
                        target.name, s.version
                    ),
                ),
                false,
            );
        }
        let peers = futures::future::join_all(target.peer_urls.iter().map(|u| self.etcd.peer_answers(u))).await;
        if let Some(what) = peers.into_iter().flatten().next() {
            return (
                applied(
                    step,
                    Outcome::Refused,
                    format!(
                        "member {id} ({}) may still be running: {what}; a member that may be running is never removed; nothing was changed",
                        target.name
                    ),
                ),
                false,
            );
        }
        let q = seen.quorum();
        if !q.survives(Change::Remove { learner: target.is_learner, health: seen.health(id) }) {
            return (
                applied(
                    step,
                    Outcome::Refused,
                    format!(
                        "{} of {} voters are healthy now: removing {id} is not safe or cannot commit; nothing was changed",
                        q.healthy_voters, q.voters
                    ),
                ),
                false,
            );
        }
        let reply = self.act(self.etcd.remove(&seen.list.endpoint, id)).await;
        if let Reply::Err(e) = &reply
            && e.to_string().contains("member not found")
        {
            return (
                applied(step, Outcome::AlreadyDone, format!("etcd says member {id} is not found (removed meanwhile)")),
                false,
            );
        }
        // Whatever the reply, the leader's member list says what happened.
        match (self.confirm(&seen, |l| !l.members.iter().any(|m| m.id == id)).await, reply) {
            (Ok(true), Reply::Ok) => (
                applied(
                    step,
                    Outcome::Done,
                    format!("removed member {id} ({}); the leader's fresh member list confirms it", target.name),
                ),
                false,
            ),
            (Ok(true), Reply::Err(e)) => (
                applied(
                    step,
                    Outcome::Done,
                    format!(
                        "the reply was lost ({e}), but a fresh member list from the leader shows member {id} removed"
                    ),
                ),
                false,
            ),
            (Ok(false), reply) => {
                let (why, transient) = match reply {
                    Reply::Ok => (String::new(), false),
                    Reply::Err(e) => (format!(": {e}"), e.is_transient()),
                };
                let within = self.verify_within;
                (
                    applied(
                        step,
                        Outcome::Failed,
                        format!("member {id} is still in the leader's member list after {within:?}{why}"),
                    ),
                    transient,
                )
            }
            (Err(le), reply) => (
                applied(
                    step,
                    Outcome::Failed,
                    format!(
                        "outcome unknown: {}; the leader's member list could not be read: {le}. Run again: it lists the members before acting",
                        match reply {
                            Reply::Ok => "etcd accepted the removal".to_string(),
                            Reply::Err(e) => e.to_string(),
                        }
                    ),
                ),
                false,
            ),
        }
    }

    /// Finds the learner a step is about: by id, or by peer URL for a member this plan added.
    fn learner_of<'m>(step: &Step, members: &'m [Member]) -> Option<&'m Member> {
        match (step.member_id, &step.peer_url) {
            (Some(id), _) => members.iter().find(|m| m.id == id),
            (None, Some(url)) => members.iter().find(|m| m.peer_urls.iter().any(|u| same_endpoint(u, url))),
            _ => None,
        }
    }

    /// Promotes a learner once it is in sync, waiting for it within `wait_learner`. A learner
    /// this plan added waits for the operator to start it: the first refusal prints "start it
    /// now" with the plan's start step; running out of time says what was left and how to go
    /// on or back.
    async fn promote(&self, step: &Step, start: Option<&Step>) -> Applied {
        let deadline = Instant::now() + self.wait_learner;
        let mut cued = false;
        loop {
            let seen = match self.look().await {
                Ok(s) => s,
                Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")),
            };
            let Some(m) = Self::learner_of(step, &seen.list.members).cloned() else {
                return applied(step, Outcome::Refused, "the learner is not in the member list; nothing was changed");
            };
            if !m.is_learner {
                return applied(step, Outcome::AlreadyDone, format!("member {} ({}) is already a voter", m.id, m.name));
            }
            if !seen.quorum().has_quorum() {
                return applied(
                    step,
                    Outcome::Refused,
                    "the cluster has no quorum of healthy voters now; nothing was changed",
                );
            }
            let reply = self.act(self.etcd.promote(&seen.list.endpoint, m.id)).await;
            if let Reply::Err(e) = &reply
                && e.to_string().contains("in sync")
            {
                if !cued {
                    cued = true;
                    self.say(&start_cue(&m, start, self.wait_learner));
                }
                if Instant::now() >= deadline || self.stopped() {
                    let why = if self.stopped() {
                        "stopped waiting (signal)".to_string()
                    } else {
                        format!("did not start and catch up within {} (--wait-learner)", secs(self.wait_learner))
                    };
                    return applied(step, Outcome::Failed, left_behind(&m, &why, &e.to_string()));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            return match (self.confirm(&seen, |l| l.members.iter().any(|x| x.id == m.id && !x.is_learner)).await, reply)
            {
                (Ok(true), Reply::Ok) => {
                    applied(step, Outcome::Done, format!("promoted {} ({}) to a voter", m.id, m.name))
                }
                (Ok(true), Reply::Err(e)) => {
                    applied(step, Outcome::Done, format!("the reply was lost ({e}), but {} is a voter now", m.id))
                }
                (Ok(false), reply) => applied(
                    step,
                    Outcome::Failed,
                    format!(
                        "{} is still a learner in the leader's member list{}",
                        m.id,
                        match reply {
                            Reply::Ok => String::new(),
                            Reply::Err(e) => format!(": {e}"),
                        }
                    ),
                ),
                (Err(le), _) => applied(
                    step,
                    Outcome::Failed,
                    format!("outcome unknown; the leader's member list could not be read: {le}"),
                ),
            };
        }
    }

    async fn add_learner(&self, step: &Step) -> Applied {
        let Some(url) = step.peer_url.clone() else {
            return applied(step, Outcome::Refused, "add-learner without a peer URL");
        };
        let seen = match self.look().await {
            Ok(s) => s,
            Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")),
        };
        let has_url = |l: &MemberList| {
            l.members.iter().find(|m| m.peer_urls.iter().any(|u| same_endpoint(u, &url))).map(|m| m.id)
        };
        if let Some(id) = has_url(&seen.list) {
            return applied(step, Outcome::AlreadyDone, format!("member {id} already has peer URL {url}"));
        }
        if let Some(m) = seen.list.members.iter().find(|m| !m.is_learner && seen.health(m.id) != Health::Healthy) {
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
        // connected for ~5 s. That answer means "not applied"; once the leader's list confirms
        // it, asking again is safe. Bounded.
        let deadline = Instant::now() + Duration::from_secs(15);
        let via = seen.list.endpoint.clone();
        loop {
            let reply = self.act(self.etcd.add_learner(&via, &url)).await;
            let unhealthy = matches!(&reply, Reply::Err(e) if e.to_string().contains("unhealthy cluster"));
            // "unhealthy cluster" is a refusal: no need to wait out the verification bound.
            let confirmed = if unhealthy {
                self.leader_list(&seen).await.map(|l| has_url(&l).is_some())
            } else {
                self.confirm(&seen, |l| has_url(l).is_some()).await
            };
            let after = match confirmed {
                Ok(found) => found,
                Err(le) => {
                    return applied(
                        step,
                        Outcome::Failed,
                        format!("outcome unknown; the leader's member list could not be read: {le}"),
                    );
                }
            };
            if after {
                return match reply {
                    Reply::Ok => applied(step, Outcome::Done, format!("added a learner with peer URL {url}")),
                    Reply::Err(e) => applied(
                        step,
                        Outcome::Done,
                        format!("the reply was lost ({e}), but a learner with peer URL {url} is in the member list"),
                    ),
                };
            }
            match reply {
                Reply::Err(_) if unhealthy && Instant::now() < deadline && !self.stopped() => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Reply::Err(e) => return applied(step, Outcome::Failed, e.to_string()),
                Reply::Ok => {
                    return applied(
                        step,
                        Outcome::Failed,
                        "etcd answered, but the leader's member list has no such member",
                    );
                }
            }
        }
    }

    fn say(&self, text: &str) {
        if let Some(cue) = self.cue {
            cue(text);
        }
    }
}

/// The manual step of `plan` that starts the learner `promote` waits for: the first one after
/// the step that added a learner with the same peer URL.
fn start_step<'p>(plan: &'p Plan, promote: &Step) -> Option<&'p Step> {
    let url = promote.peer_url.as_deref()?;
    let added = plan
        .steps
        .iter()
        .position(|s| s.action == Action::AddLearner && s.peer_url.as_deref().is_some_and(|u| same_endpoint(u, url)))?;
    plan.steps[added + 1..].iter().take_while(|s| s.n != promote.n).find(|s| s.action == Action::Manual)
}

/// "start it now": what the operator must do while `apply` waits for the learner.
fn start_cue(m: &Member, start: Option<&Step>, wait: Duration) -> String {
    let url = m.peer_urls.join(",");
    let mut text =
        format!("start it now: learner {} (peer URL {url}) was added and waits for etcd on its machine", m.id);
    match start {
        Some(s) => {
            text.push_str(&format!(" ({}):", s.description));
            for c in &s.commands {
                text.push_str(&format!("\n    {c}"));
            }
        }
        None => text.push_str(
            ": start it with --initial-cluster-state existing and the cluster's --initial-cluster plus its own name=peer URL (see `kubectl etcd-doctor plan add-member`)",
        ),
    }
    text.push_str(&format!(
        "\nwaiting up to {} (--wait-learner) for it to start and catch up; the learner does not vote, so quorum is unchanged meanwhile",
        secs(wait)
    ));
    text
}

/// What a promotion that gave up left behind, and the ways on and back.
fn left_behind(m: &Member, why: &str, last: &str) -> String {
    format!(
        "learner {id} ({url}) {why}: it was left in the cluster as a learner (it does not vote, quorum is unchanged). \
         Start it and apply the same plan again (it resumes at the promotion), or wait longer (--wait-learner 10m), \
         or roll it back: etcdctl member remove {id} (or kubectl etcd-doctor plan remove-member {id} -o yaml > p.yaml, then apply -f p.yaml). Last answer: {last}",
        id = m.id,
        url = m.peer_urls.join(","),
    )
}

fn secs(d: Duration) -> String {
    if d.as_secs() >= 60 && d.as_secs().is_multiple_of(60) {
        format!("{}m", d.as_secs() / 60)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// Every member's status, asked at all its client URLs at once. A status counts for the member
/// whose id is in its header, in this cluster only; one with a leader is preferred.
pub(crate) async fn statuses<E: Etcd>(etcd: &E, list: &MemberList) -> BTreeMap<MemberId, Status> {
    let urls: Vec<String> = list.members.iter().flat_map(|m| m.client_urls.clone()).collect();
    let results = futures::future::join_all(urls.iter().map(|u| etcd.status(u))).await;
    let mut status: BTreeMap<MemberId, Status> = BTreeMap::new();
    for s in results.into_iter().flatten() {
        let same_cluster = list.cluster_id.is_none() || s.cluster_id.is_none() || s.cluster_id == list.cluster_id;
        if !same_cluster || !list.members.iter().any(|m| m.id == s.member_id) {
            continue;
        }
        let better = status.get(&s.member_id).is_none_or(|old| old.leader.is_none() && s.leader.is_some());
        if better {
            status.insert(s.member_id, s);
        }
    }
    status
}

fn same_endpoint(a: &str, b: &str) -> bool {
    match (Endpoint::parse(a), Endpoint::parse(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

mod upgrade;
pub use upgrade::UpgradeSide;

#[cfg(test)]
mod tests;
