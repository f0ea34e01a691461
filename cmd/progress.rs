//! One line of progress on stderr while the tool waits on the network, only when stderr is a
//! terminal (never in a pipe, a log or CI output), erased when the wait is over. No colour is
//! ever printed, so `NO_COLOR` holds trivially.

use std::io::{IsTerminal, Write};

/// A shown progress line; erased when dropped.
pub struct Progress {
    shown: bool,
}

impl Progress {
    /// Shows `msg` if stderr is a terminal.
    pub fn start(msg: &str) -> Progress {
        let mut err = std::io::stderr();
        let shown = err.is_terminal() && std::env::var_os("ETCD_DOCTOR_NO_PROGRESS").is_none();
        if shown {
            let _ = write!(err, "{msg}");
            let _ = err.flush();
        }
        Progress { shown }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.shown {
            // Carriage return and erase-line: the terminal is left as it was.
            let mut err = std::io::stderr();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
