//! `--fix` and `apply`: confirmation, then the executor. The executor never decides what to
//! do (the planner did); it only checks, right before each step, that the step's
//! preconditions still hold, acts once, and learns the outcome from a fresh member list.

pub mod executor;
pub mod gate;
pub mod plan_input;
pub mod server_url;

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use etcd_doctor_checks::plan::Plan;

/// How long a change may take to show in the leader's member list before its step is called
/// failed (a membership change is applied by every member within a heartbeat or two).
pub const VERIFY_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// A flag that turns true on the first SIGINT or SIGTERM; a second one exits at once (130).
/// Call inside a runtime: the handlers are installed before this returns, so a signal that
/// comes any time later is caught.
pub fn stop_on_signal() -> std::io::Result<tokio::sync::watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if !first {
                std::process::exit(130);
            }
            first = false;
            let _ = writeln!(
                std::io::stderr(),
                "\nstopping: the current step is finished and verified, no other is started (again to quit at once)"
            );
            let _ = tx.send(true);
        }
    });
    Ok(rx)
}

/// Why nothing was applied.
#[derive(Debug)]
pub struct Refusal(pub String);

/// Asks on the terminal before changing the cluster. Without a terminal and without `--yes`
/// it refuses rather than hang (a CI job, a pipe).
pub fn confirm(plan: &Plan, yes: bool) -> Result<Result<(), Refusal>> {
    let n = plan.steps.iter().filter(|s| s.automatic).count();
    if yes {
        return Ok(Ok(()));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(Err(Refusal(format!(
            "refusing to apply {n} step(s) without confirmation: there is no terminal to ask on; review the plan and pass --yes"
        ))));
    }
    let mut err = std::io::stderr().lock();
    write!(err, "Apply {n} automatic step(s) to this etcd cluster? Type 'yes' to continue: ")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if matches!(line.trim(), "yes" | "y" | "YES" | "Yes") {
        Ok(Ok(()))
    } else {
        Ok(Err(Refusal("not confirmed: nothing was changed".into())))
    }
}
