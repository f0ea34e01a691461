//! The steps of an upgrade plan: a backup through the maintenance API, one member restarted
//! with `--restart-command` (only while the cluster keeps quorum without it), and the gate
//! that must pass before the next member is touched. A failed gate stops the run and says
//! where it stopped and what to do.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use etcd_doctor_checks::id::MemberId;
use etcd_doctor_checks::plan::upgrade::at_version;
use etcd_doctor_checks::plan::{Action, Step};
use etcd_doctor_checks::quorum::Change;
use etcd_doctor_checks::report::{Applied, Outcome};

use super::{Executor, applied};
use crate::etcd::Etcd;
use crate::fix::gate::{self, Want};

/// What the upgrade steps need from the command line.
#[derive(Clone, Debug)]
pub struct UpgradeSide {
    /// `--restart-command`, checked (`gate::check_restart_command`); `None`: restart steps
    /// are refused.
    pub restart_command: Option<String>,
    /// How long a restart command may run, and how long a gate waits (`--gate-timeout`).
    pub gate_timeout: Duration,
    /// How often the gate looks again.
    pub gate_every: Duration,
    /// Where the backup is written (`--backup-dir`).
    pub backup_dir: PathBuf,
}

/// A restart the next gate follows.
pub(super) struct Restarted {
    member: MemberId,
    began: Instant,
    /// The fault tolerance right before the restart (healthy voters − quorum).
    tolerance: i64,
}

impl<E: Etcd> Executor<'_, E> {
    fn side(&self, step: &Step) -> Result<&UpgradeSide, Applied> {
        self.upgrade.as_ref().ok_or_else(|| {
            applied(
                step,
                Outcome::Refused,
                format!("a {} step runs only in `apply -f` of an upgrade plan", step.action),
            )
        })
    }

    /// The snapshot, from the step's member if it answers, else from any member that does.
    pub(super) async fn backup(&self, step: &Step) -> Applied {
        let side = match self.side(step) {
            Ok(s) => s,
            Err(a) => return a,
        };
        let seen = match self.look().await {
            Ok(s) => s,
            Err(e) => return applied(step, Outcome::Failed, format!("cannot list members before the backup: {e}")),
        };
        let source = step
            .member_id
            .filter(|id| seen.status.contains_key(id))
            .or_else(|| seen.status.keys().next().copied())
            .and_then(|id| seen.member(id));
        let Some(source) = source else {
            return applied(step, Outcome::Failed, "no member answers: nothing to take a snapshot from");
        };
        let Some(url) = source.client_urls.first().cloned() else {
            return applied(step, Outcome::Failed, format!("{} has no client URL", source.label()));
        };
        if let Err(e) = std::fs::create_dir_all(&side.backup_dir) {
            return applied(
                step,
                Outcome::Failed,
                format!("cannot create --backup-dir {}: {e}", side.backup_dir.display()),
            );
        }
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))
            .unwrap_or_else(|_| "now".into());
        let cluster = seen.list.cluster_id.map(|c| format!("{c}-")).unwrap_or_default();
        let path = side.backup_dir.join(format!("etcd-snapshot-{cluster}{stamp}.db"));
        match self.etcd.snapshot(&url, &path).await {
            Ok(saved) if saved.bytes > 0 => applied(
                step,
                Outcome::Done,
                format!(
                    "wrote {} ({} bytes) from {}; it holds revision {} or later (restore: etcdutl snapshot restore {0})",
                    path.display(),
                    saved.bytes,
                    source.label(),
                    saved.revision.map_or("?".to_string(), |r| r.to_string())
                ),
            ),
            Ok(_) => {
                let _ = std::fs::remove_file(&path);
                applied(
                    step,
                    Outcome::Failed,
                    format!("the snapshot from {} was empty; no member was restarted", source.label()),
                )
            }
            Err(e) => applied(step, Outcome::Failed, format!("no backup: {e}")),
        }
    }

    /// Restarts one member on the target version, unless it already runs it or the cluster
    /// would lose quorum without it.
    pub(super) async fn restart_member(&self, step: &Step) -> (Applied, Option<Restarted>) {
        let side = match self.side(step) {
            Ok(s) => s,
            Err(a) => return (a, None),
        };
        let (Some(id), Some(target)) = (step.member_id, step.target_version.as_deref()) else {
            return (applied(step, Outcome::Refused, "restart-member without a member id or target version"), None);
        };
        let seen = match self.look().await {
            Ok(s) => s,
            Err(e) => return (applied(step, Outcome::Failed, format!("cannot list members before acting: {e}")), None),
        };
        let Some(m) = seen.member(id).cloned() else {
            return (
                applied(step, Outcome::Refused, format!("member {id} is not in the member list; nothing was changed")),
                None,
            );
        };
        let q = seen.quorum();
        let tolerance = q.tolerance_min();
        if let Some(s) = seen.status.get(&id)
            && at_version(&s.version, target)
        {
            let r = Restarted { member: id, began: Instant::now(), tolerance };
            return (
                applied(
                    step,
                    Outcome::AlreadyDone,
                    format!("{} already answers at {}; not restarted", m.label(), s.version),
                ),
                Some(r),
            );
        }
        let Some(template) = side.restart_command.as_deref() else {
            return (
                applied(
                    step,
                    Outcome::Refused,
                    "no --restart-command: give the command that restarts one member on the new version ({name}, {id}, {host}); nothing was changed",
                ),
                None,
            );
        };
        if !q.survives(Change::Down { learner: m.is_learner, health: seen.health(id) }) {
            return (
                applied(
                    step,
                    Outcome::Refused,
                    format!(
                        "{} of {} voters are healthy now: restarting {} would lose quorum; nothing was changed",
                        q.healthy_voters,
                        q.voters,
                        m.label()
                    ),
                ),
                None,
            );
        }
        let command = gate::expand(template, &m);
        let began = Instant::now();
        match run_shell(&command, side.gate_timeout).await {
            Ok(()) => (
                applied(
                    step,
                    Outcome::Done,
                    format!("ran `{command}` for {} ({:.1} s)", m.label(), began.elapsed().as_secs_f64()),
                ),
                Some(Restarted { member: id, began, tolerance }),
            ),
            Err(why) => (applied(step, Outcome::Failed, format!("`{command}` for {}: {why}", m.label())), None),
        }
    }

    /// Waits, bounded by `--gate-timeout`, until the member answers at the target version,
    /// caught up, and the cluster has its tolerance back, with no election in progress.
    pub(super) async fn gate(&self, step: &Step, restarted: Option<Restarted>) -> Applied {
        let side = match self.side(step) {
            Ok(s) => s,
            Err(a) => return a,
        };
        let restarted = restarted.filter(|r| Some(r.member) == step.member_id);
        let want = Want {
            member: step.member_id,
            version: step.target_version.clone(),
            tolerance: restarted.as_ref().map(|r| r.tolerance).or(step.fault_tolerance),
        };
        match gate::wait(self.etcd, &want, side.gate_timeout, side.gate_every).await {
            Ok((v, _)) => {
                let since = restarted
                    .map(|r| format!(" {:.1} s after the restart began", r.began.elapsed().as_secs_f64()))
                    .unwrap_or_default();
                applied(step, Outcome::Done, format!("gate passed{since}: {}", v.seen))
            }
            Err(last) => {
                applied(step, Outcome::Failed, format!("gate did not pass within {:?}: {last}", side.gate_timeout))
            }
        }
    }
}

/// Runs `sh -c command`, bounded. Its output goes to a file, not a pipe: a command that starts
/// a process in the background would keep a pipe open, and the wait would never end.
async fn run_shell(command: &str, limit: Duration) -> Result<(), String> {
    let out = tempfile::tempfile().map_err(|e| format!("no temporary file for its output: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("no temporary file for its output: {e}"))?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not run: {e}"))?;
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("could not wait for it: {e}")),
        Err(_) => return Err(format!("did not finish within {limit:?} (killed)")),
    };
    if status.success() {
        return Ok(());
    }
    use std::io::{Read, Seek};
    let mut text = String::new();
    let mut f = out;
    let _ = f.seek(std::io::SeekFrom::Start(0)).and_then(|_| f.read_to_string(&mut text));
    let tail: Vec<&str> = text.lines().rev().take(3).collect();
    Err(format!("failed ({status}): {}", tail.into_iter().rev().collect::<Vec<_>>().join(" | ")))
}

/// Where the run stopped, which members were not touched, and what to do next.
pub(super) fn where_it_stopped(step: &Step, rest: &[&Step]) -> String {
    let mut untouched: Vec<String> = Vec::new();
    for s in rest.iter().filter(|s| s.action == Action::RestartMember) {
        if let Some(id) = s.member_id.map(|i| i.to_string())
            && !untouched.contains(&id)
        {
            untouched.push(id);
        }
    }
    let left = if untouched.is_empty() {
        "no other member is left".to_string()
    } else {
        format!("not touched: member(s) {}", untouched.join(", "))
    };
    let target = step.target_version.as_deref().unwrap_or("the target version");
    let what = match step.action {
        Action::Backup => "no member was restarted; fix what stopped the backup, then apply the plan again".to_string(),
        _ => format!(
            "bring member {} back on {target} (its log, the restart command), or start it again on its old binary with the same data directory and flags; check with `kubectl etcd-doctor audit --gate`, then apply the plan again: members already at {target} are skipped",
            step.member_id.map_or("?".to_string(), |i| i.to_string())
        ),
    };
    format!(". Stopped at step {}; {left}. What to do: {what}", step.n)
}
