//! `--fix` and `apply`: confirmation, then the executor. The executor never decides what to
//! do (the planner did); it only checks, right before each step, that the step's
//! preconditions still hold, acts once, and learns the outcome from a fresh member list.

pub mod executor;
pub mod server_url;

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use etcd_doctor_checks::plan::Plan;

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
