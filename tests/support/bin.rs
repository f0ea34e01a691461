//! The built binary, run hermetically: nothing from the developer's shell leaks in. `ETCDCTL_*`
//! and `ETCD_DOCTOR_*` are cleared, `KUBECONFIG` and the in-cluster variables are removed,
//! `HOME` is an empty directory under cargo's target tmp dir (no `~/.kube/config`), and the
//! Kubernetes API is not asked unless a test calls `with_kube` (and names its kubeconfig). A
//! test that started etcd 3.5.1 skips `etcd-release-to-avoid` (see `versions::runs_release_to_avoid`).

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary as an `assert_cmd` command, with `run` beside it.
pub struct Doctor {
    cmd: assert_cmd::Command,
}

/// A hermetic command for the binary (no Kubernetes API).
pub fn doctor() -> Doctor {
    Doctor { cmd: assert_cmd::Command::from_std(command()) }
}

/// The same as a plain `std::process::Command`, for tests that spawn and wait themselves.
pub fn command() -> std::process::Command {
    // Empty and shared by every run: the tool never writes to HOME.
    let home = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("etcd-doctor-empty-home");
    std::fs::create_dir_all(&home).expect("an empty HOME");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("kubectl-etcd_doctor"));
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("ETCDCTL_") || n.starts_with("ETCD_DOCTOR_") {
            cmd.env_remove(&name);
        }
    }
    for v in ["KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"] {
        cmd.env_remove(v);
    }
    cmd.env("HOME", home).env("ETCD_DOCTOR_NO_KUBE", "1");
    if super::versions::runs_release_to_avoid() {
        cmd.env("ETCD_DOCTOR_SKIP", "etcd-release-to-avoid");
    }
    cmd
}

impl Doctor {
    /// Adds an argument.
    pub fn arg(&mut self, a: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.arg(a);
        self
    }

    /// Adds arguments.
    pub fn args<S: AsRef<std::ffi::OsStr>>(&mut self, a: impl IntoIterator<Item = S>) -> &mut Self {
        self.cmd.args(a);
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, k: impl AsRef<std::ffi::OsStr>, v: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    /// Runs it in `dir`.
    pub fn current_dir(&mut self, dir: impl AsRef<std::path::Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Let the binary ask the Kubernetes API (the test passes `--kubeconfig`).
    pub fn with_kube(&mut self) -> &mut Self {
        self.cmd.env_remove("ETCD_DOCTOR_NO_KUBE");
        self
    }

    /// Runs to the end and keeps what it printed.
    pub fn run(&mut self) -> Run {
        let t = Instant::now();
        let out = self.cmd.output().expect("run the binary");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: t.elapsed(),
        }
    }
}

impl Deref for Doctor {
    type Target = assert_cmd::Command;
    fn deref(&self) -> &Self::Target {
        &self.cmd
    }
}

impl DerefMut for Doctor {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.cmd
    }
}

/// What one run printed, its exit code (-1: killed by a signal) and how long it took.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// stdout as one JSON document; `Null` when it is not one (a run that could not run prints
    /// nothing), so tests assert on the exit code and stderr first.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or(Value::Null)
    }

    /// stdout as one JSON document, or a panic that shows what was printed instead.
    pub fn json_strict(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}); exit {}\nstdout: {}\nstderr: {}",
                self.code, self.stdout, self.stderr
            )
        })
    }

    /// stdout as one YAML document, or a panic that shows what was printed instead.
    pub fn yaml(&self) -> Value {
        serde_yaml_ng::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one YAML document ({e}); exit {}\nstdout: {}\nstderr: {}",
                self.code, self.stdout, self.stderr
            )
        })
    }
}
