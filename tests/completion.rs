//! Shell completion as shells run it: the bash script sourced in a real `bash --norc` with
//! COMP_WORDS / COMP_CWORD set as readline sets them; kubectl's plugin completion through the
//! real kubectl (it runs `kubectl_complete-etcd_doctor` from PATH); zsh and fish when installed
//! (otherwise the test says on stderr that it skipped them, and why).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{CommandFactory, ValueEnum};

/// The visible subcommands under `path`, in clap's order (with clap's `help`): what every shell
/// must offer there. Taken from the command tree so new subcommands from other branches count.
fn subcommands(path: &[&str]) -> Vec<String> {
    let mut root = etcd_doctor::cli::Cli::command();
    root.build();
    let mut cmd = &root;
    for p in path {
        cmd = cmd.find_subcommand(p).unwrap_or_else(|| panic!("no subcommand {p}"));
    }
    cmd.get_subcommands().filter(|s| !s.is_hide_set()).map(|s| s.get_name().to_string()).collect()
}

/// The `-o` values starting with `prefix`.
fn outputs(prefix: &str) -> Vec<String> {
    etcd_doctor::cli::Output::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .filter(|p| !p.is_hide_set() && p.get_name().starts_with(prefix))
        .map(|p| p.get_name().to_string())
        .collect()
}

fn bin() -> PathBuf {
    PathBuf::from(assert_cmd::cargo::cargo_bin!("kubectl-etcd_doctor"))
}

/// A directory holding `kubectl-etcd_doctor` (a link to the test build) and the shipped
/// `kubectl_complete-etcd_doctor`, as an install puts them side by side on PATH.
fn install_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(bin(), dir.path().join("kubectl-etcd_doctor")).expect("link the binary");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("krew/kubectl_complete-etcd_doctor");
    std::fs::copy(&script, dir.path().join("kubectl_complete-etcd_doctor")).expect("copy the completion script");
    dir
}

/// PATH with `dir` first; HOME empty; nothing of the developer's etcd environment.
fn shell(program: &str, dir: &Path, home: &Path) -> Command {
    let path = std::env::join_paths(
        std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let mut cmd = Command::new(program);
    cmd.env_clear().env("PATH", path).env("HOME", home).env("ETCD_DOCTOR_NO_KUBE", "1");
    cmd
}

fn script(shell: &str) -> String {
    let out = Command::new(bin()).args(["completion", shell]).output().expect("run completion");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn have(program: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(program).is_file())
}

/// Says on the test's real stderr (not the captured one) that a shell's test was skipped.
fn skip(why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {why}");
}

struct Bash {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    script: PathBuf,
}

impl Bash {
    fn new() -> Self {
        let dir = install_dir();
        let home = tempfile::tempdir().expect("tempdir");
        let file = home.path().join("kubectl-etcd_doctor.bash");
        std::fs::write(&file, script("bash")).expect("write the script");
        Bash { dir, home, script: file }
    }

    /// COMPREPLY for these COMP_WORDS (the program name first) with the cursor on the last.
    fn complete_in(&self, cwd: &Path, words: &[&str]) -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "source '{}' || exit 9\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_kubectl_etcd_doctor\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
            self.script.display(),
            quoted.join(" "),
            words.len() - 1
        );
        let out = shell("bash", self.dir.path(), self.home.path())
            .args(["--norc", "--noprofile", "-c", &program])
            .current_dir(cwd)
            .output()
            .expect("run bash");
        assert!(out.status.success(), "bash failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    fn complete(&self, words: &[&str]) -> Vec<String> {
        self.complete_in(self.home.path(), words)
    }
}

fn check_ids() -> Vec<String> {
    let out = Command::new(bin()).args(["checks", "-o", "json"]).output().expect("run checks");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("checks -o json");
    let list = v.as_array().or_else(|| v["checks"].as_array()).expect("a list of checks");
    list.iter().map(|c| c["id"].as_str().expect("id").to_string()).collect()
}

#[test]
fn bash_completes_subcommands_flags_values_and_check_ids() {
    let b = Bash::new();
    let top = b.complete(&["kubectl-etcd_doctor", ""]);
    for s in ["check", "members", "checks", "plan", "apply", "bundle", "audit", "completion", "explain", "rbac"] {
        assert!(top.contains(&s.to_string()), "{s} missing from {top:?}");
    }
    assert!(!top.iter().any(|s| s.starts_with("__")), "hidden commands offered: {top:?}");
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "me"]), ["members"]);
    let plan = b.complete(&["kubectl-etcd_doctor", "plan", ""]);
    assert_eq!(plan, subcommands(&["plan"]));
    for s in ["add-member", "restart", "remove-member"] {
        assert!(plan.contains(&s.to_string()), "{s} missing from {plan:?}");
    }
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "bundle", ""]), subcommands(&["bundle"]));
    assert!(subcommands(&["bundle"]).contains(&"collect".to_string()));
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "plan", "add-member", "--peer"]), ["--peer-url"]);
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "--che"]), ["--checks"]);
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "--skip", "stale"]), ["stale-member"]);
    assert_eq!(
        b.complete(&["kubectl-etcd_doctor", "--checks", "stale-member,unst"]),
        ["stale-member,unstarted-member"]
    );
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "-o", ""]), outputs(""));
    assert!(outputs("").len() >= 4, "{:?}", outputs(""));
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "members", "-o", "y"]), ["yaml"]);
    // Readline splits `--output=j` into `--output`, `=`, `j` and replaces only `j`.
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "--output", "=", "j"]), outputs("j"));
    assert_eq!(outputs("j"), ["json", "junit"]);
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "--output", "="]), outputs(""));
    let ids = check_ids();
    assert!(ids.len() >= 19, "{ids:?}");
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "explain", ""]), ids);
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "explain", "cert-k"]), ["cert-key-mismatch"]);
    assert_eq!(b.complete(&["kubectl-etcd_doctor", "completion", "f"]), ["fish"]);
}

#[test]
fn bash_completes_files_and_directories_only_where_a_path_goes() {
    let b = Bash::new();
    let cwd = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(cwd.path().join("bundle-dir")).expect("mkdir");
    std::fs::write(cwd.path().join("plan.yaml"), "x").expect("write");
    let mut files = b.complete_in(cwd.path(), &["kubectl-etcd_doctor", "apply", "-f", ""]);
    files.sort();
    assert_eq!(files, ["bundle-dir", "plan.yaml"]);
    assert_eq!(b.complete_in(cwd.path(), &["kubectl-etcd_doctor", "bundle", "collect", ""]), ["bundle-dir"]);
    assert_eq!(b.complete_in(cwd.path(), &["kubectl-etcd_doctor", "--bundle", "b"]), ["bundle-dir"]);
    assert!(b.complete_in(cwd.path(), &["kubectl-etcd_doctor", "--endpoints", ""]).is_empty(), "no files for a URL");
    assert!(b.complete_in(cwd.path(), &["kubectl-etcd_doctor", "explain", "p"]).is_empty(), "no files for a check id");
}

/// The lines of cobra's `__complete` answer: candidates (word, description) and the directive.
fn cobra(out: &[u8]) -> (Vec<(String, String)>, u32) {
    let text = String::from_utf8_lossy(out);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    let last = lines.pop().expect("a directive line");
    let directive = last.strip_prefix(':').and_then(|d| d.parse().ok()).unwrap_or_else(|| panic!("no :<n> in {text}"));
    let items = lines
        .iter()
        .map(|l| {
            let (w, d) = l.split_once('\t').unwrap_or((l, ""));
            (w.to_string(), d.to_string())
        })
        .collect();
    (items, directive)
}

#[test]
fn kubectl_completes_the_plugin_through_kubectl_complete_etcd_doctor() {
    let dir = install_dir();
    let home = tempfile::tempdir().expect("tempdir");
    // The shipped script, run as kubectl runs it: the words after `etcd-doctor`.
    let out = shell("kubectl_complete-etcd_doctor", dir.path(), home.path()).args(["plan", ""]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (items, directive) = cobra(&out.stdout);
    assert_eq!(directive, 4, "no file completion after `plan`");
    assert_eq!(items.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>(), subcommands(&["plan"]));
    assert!(items[0].1.starts_with("Add a member"), "descriptions after a tab: {items:?}");

    // The binary itself under the completion name (a link, as the krew caveat suggests).
    let linked = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(bin(), linked.path().join("kubectl_complete-etcd_doctor")).expect("link");
    let out = shell("kubectl_complete-etcd_doctor", linked.path(), home.path())
        .args(["--skip", "unst"])
        .output()
        .expect("run");
    assert_eq!(
        cobra(&out.stdout),
        (vec![("unstarted-member".into(), "A member was added but never started".into())], 4)
    );

    if !have("kubectl") {
        skip("kubectl is not installed: kubectl's own plugin completion was not exercised (apt-get install kubectl)");
        return;
    }
    let kubectl = |args: &[&str]| {
        let out = shell("kubectl", dir.path(), home.path()).arg("__complete").args(args).output().expect("run kubectl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        cobra(&out.stdout)
    };
    let (plugins, _) = kubectl(&["etcd-"]);
    assert!(plugins.iter().any(|(w, _)| w == "etcd-doctor"), "kubectl lists the plugin: {plugins:?}");
    let (items, directive) = kubectl(&["etcd-doctor", ""]);
    let words: Vec<&str> = items.iter().map(|(w, _)| w.as_str()).collect();
    for s in ["check", "members", "plan", "explain", "completion", "rbac"] {
        assert!(words.contains(&s), "{s} missing from kubectl's answer {words:?}");
    }
    assert_eq!(directive, 4);
    let (items, _) = kubectl(&["etcd-doctor", "explain", "stale"]);
    assert_eq!(
        items,
        [("stale-member".to_string(), "A member does not answer but is still in the member list".to_string())]
    );
    let (items, _) = kubectl(&["etcd-doctor", "-o", "ya"]);
    assert_eq!(items.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>(), ["yaml"]);
    let (_, directive) = kubectl(&["etcd-doctor", "bundle", "collect", ""]);
    assert_eq!(directive, 16, "directories only");
}

#[test]
fn zsh_script_asks_the_binary_and_hands_candidates_to_describe() {
    if !have("zsh") {
        skip("zsh is not installed: the zsh script was not run (apt-get install zsh)");
        return;
    }
    let dir = install_dir();
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("_kubectl-etcd_doctor");
    std::fs::write(&file, script("zsh")).expect("write");
    // Outside a completion widget compadd cannot run: stand-ins print what zsh would offer.
    let run = |words: &[&str]| {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "compdef() {{ :; }}\n_describe() {{ print -rl -- \"${{(@P)4}}\"; }}\n_files() {{ print -r -- FILES; }}\n_path_files() {{ print -r -- \"DIRS $*\"; }}\nsource '{}'\nwords=({})\nCURRENT={}\n_kubectl-etcd_doctor",
            file.display(),
            quoted.join(" "),
            words.len()
        );
        let out = shell("zsh", dir.path(), home.path()).args(["-f", "-c", &program]).output().expect("run zsh");
        assert!(out.status.success(), "zsh: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect::<Vec<_>>()
    };
    let plan = run(&["kubectl-etcd_doctor", "plan", ""]);
    assert_eq!(plan.len(), subcommands(&["plan"]).len(), "{plan:?}");
    assert!(plan[0].starts_with("add-member:Add a member"), "name:description pairs for _describe: {plan:?}");
    assert_eq!(
        run(&["kubectl-etcd_doctor", "--skip", "stale"]),
        ["stale-member:A member does not answer but is still in the member list"]
    );
    assert_eq!(run(&["kubectl-etcd_doctor", "-o", "j"]).len(), outputs("j").len());
    assert_eq!(run(&["kubectl-etcd_doctor", "apply", "-f", ""]), ["FILES"]);
    assert_eq!(run(&["kubectl-etcd_doctor", "bundle", "collect", ""]), ["DIRS -/"]);
    assert!(run(&["kubectl-etcd_doctor", "--endpoints", ""]).is_empty());
}

#[test]
fn fish_completes_through_the_binary() {
    if !have("fish") {
        skip("fish is not installed: the fish script was not run (apt-get install fish)");
        return;
    }
    let dir = install_dir();
    let home = tempfile::tempdir().expect("tempdir");
    let file = home.path().join("kubectl-etcd_doctor.fish");
    std::fs::write(&file, script("fish")).expect("write");
    // `complete -C` asks fish's real completion machinery for a command line.
    let run = |line: &str| {
        let program = format!("source '{}'; complete -C '{line}'", file.display());
        let out =
            shell("fish", dir.path(), home.path()).args(["--no-config", "-c", &program]).output().expect("run fish");
        assert!(out.status.success(), "fish: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    let mut plan = run("kubectl-etcd_doctor plan ");
    plan.sort();
    let mut want = subcommands(&["plan"]);
    want.sort();
    assert_eq!(plan, want);
    assert_eq!(run("kubectl-etcd_doctor --skip stale"), ["stale-member"]);
    assert_eq!(run("kubectl-etcd_doctor --che"), ["--checks"]);
    let mut o = run("kubectl-etcd_doctor -o j");
    o.sort();
    assert_eq!(o, outputs("j"));
    assert_eq!(run("kubectl-etcd_doctor explain cert-e"), ["cert-expiry"]);
}
