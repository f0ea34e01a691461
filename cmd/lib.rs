//! The binary half of etcd-doctor: command line, collectors (etcd, bundle), renderers.
//! Judgement lives in the `etcd-doctor-checks` crate; this crate only gathers and prints.

pub mod app;
pub mod cli;
pub mod collect;
pub mod completion;
pub mod duration;
pub mod errors;
pub mod etcd;
pub mod fix;
pub mod fuzzing;
pub mod progress;
pub mod render;

use std::io::Write;

/// Exit codes from CONTRACT.md.
pub mod exit {
    /// No finding of severity warning or worse.
    pub const CLEAN: i32 = 0;
    /// Could not run: bad flags, unreadable input, no etcd endpoint reachable.
    pub const COULD_NOT_RUN: i32 = 3;
    /// `--fix` / `apply` refused, or a step failed.
    pub const REFUSED: i32 = 4;
}

/// Runs the command line and maps errors to exit codes; prints the error chain on stderr.
pub fn main_exit_code() -> i32 {
    match app::run(std::env::args_os()) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return exit::CLEAN;
            }
            let _ = writeln!(std::io::stderr(), "error: {err:#}");
            exit::COULD_NOT_RUN
        }
    }
}

/// `kubectl etcd-doctor | head` closes the pipe early; that is not an error (ripgrep's rule).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
