//! Stamps the git revision into `--version` (`0.1.0 (3a71152)`). The revision is `unknown` only
//! when git cannot say: no git checkout (a crate tarball, a vendored copy), no `git` binary, or
//! git refusing a repository owned by another user. That never fails the build;
//! `tests/cli.rs` checks that a build from a checkout names its HEAD.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let rev = git(&["rev-parse", "--short=7", "HEAD"])
        .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ETCD_DOCTOR_GIT_REV={rev}");
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points at (a commit) and
    // packed-refs (where a branch may live). Ask git where they are: in a worktree `.git` is a
    // file and HEAD lives under the main repository's `.git/worktrees/`. Only existing files
    // are named; cargo reruns the script on every build for a missing one.
    let mut watch: Vec<String> = Vec::new();
    watch.extend(git(&["rev-parse", "--git-path", "HEAD"]));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.extend(git(&["rev-parse", "--git-path", &branch]));
    }
    watch.extend(git(&["rev-parse", "--git-path", "packed-refs"]));
    for p in watch.iter().filter(|p| Path::new(p).is_file()) {
        println!("cargo:rerun-if-changed={p}");
    }
    if watch.is_empty() {
        // Not a checkout: the revision cannot change, so do not rerun for every edit.
        println!("cargo:rerun-if-changed=build.rs");
    }
}
