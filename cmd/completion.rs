//! Shell completion. One engine computes the candidates from the clap command tree and the check
//! registry and answers in cobra's `__complete` format, so kubectl's plugin completion (kubectl
//! 1.26+ runs `kubectl_complete-etcd_doctor <words> <current>`) and our bash, zsh and fish
//! scripts share it. clap_complete's static bash script could not be used: it names its case
//! labels after the binary (`kubectl-etcd_doctor`) but matches the name it is run as, so every
//! subcommand was dead.

use std::ffi::OsString;

use clap::{Arg, Command, CommandFactory, ValueHint};

use crate::cli::Cli;

/// cobra's `ShellCompDirective` bits, printed as the last line `:<n>` (spf13/cobra
/// completions.go); kubectl's plugin completion reads them the same way.
pub mod directive {
    /// Complete file names when there is no candidate.
    pub const DEFAULT: u32 = 0;
    /// Something went wrong: complete nothing.
    pub const ERROR: u32 = 1;
    /// Do not add a space after the candidate.
    pub const NO_SPACE: u32 = 2;
    /// Never complete file names.
    pub const NO_FILE_COMP: u32 = 4;
    /// Complete directory names only.
    pub const FILTER_DIRS: u32 = 16;
}

/// What the shell may insert for the word under the cursor.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Full words (with the `--flag=` or `id,` text already typed) and a one-line description.
    pub items: Vec<(String, String)>,
    /// cobra's directive bits.
    pub directive: u32,
}

impl Candidates {
    /// cobra's `__complete` output: one candidate a line (`word\tdescription`), then `:<directive>`.
    pub fn render(&self, descriptions: bool) -> String {
        let mut out = String::new();
        for (word, desc) in &self.items {
            out.push_str(word);
            if descriptions && !desc.is_empty() {
                out.push('\t');
                out.push_str(desc);
            }
            out.push('\n');
        }
        out.push_str(&format!(":{}\n", self.directive));
        out
    }
}

/// The words to complete when this run is a completion request, and whether descriptions are
/// wanted: `kubectl-etcd_doctor __complete <words>` (`__completeNoDesc` without descriptions),
/// or the binary run under the name `kubectl_complete-etcd_doctor` (a link to it), which is
/// how kubectl asks a plugin. Checked before clap parses anything, because the words are
/// half-typed command lines that clap would reject or read as our own flags.
pub fn request(args: &[OsString]) -> Option<(Vec<String>, bool)> {
    let words = |from: usize| args.iter().skip(from).map(|a| a.to_string_lossy().into_owned()).collect();
    let argv0 = args.first().map(|a| std::path::Path::new(a).file_name().unwrap_or_default().to_string_lossy());
    if argv0.is_some_and(|n| n.starts_with("kubectl_complete-")) {
        return Some((words(1), true));
    }
    match args.get(1).and_then(|a| a.to_str()) {
        Some("__complete") => Some((words(2), true)),
        Some("__completeNoDesc") => Some((words(2), false)),
        _ => None,
    }
}

/// The candidates for the last of `words` (the words after the program name; the last one is
/// the word under the cursor, empty when it starts a new word).
pub fn complete(words: &[String]) -> Candidates {
    let mut root = Cli::command();
    // Propagates the global flags into every subcommand and adds --help / --version.
    root.build();
    let (current, before) = match words.split_last() {
        Some((c, b)) => (c.as_str(), b),
        None => ("", &[][..]),
    };

    let mut cmd: &Command = &root;
    let mut positionals = 0usize;
    let mut given: Vec<&str> = Vec::new();
    let mut pending: Option<&Arg> = None;
    let mut end_of_options = false;
    for w in before {
        if pending.take().is_some() {
            continue;
        }
        if !end_of_options && w == "--" {
            end_of_options = true;
        } else if !end_of_options && w.starts_with("--") {
            let (name, inline) = match w[2..].split_once('=') {
                Some((n, _)) => (n, true),
                None => (&w[2..], false),
            };
            if let Some(arg) = find_long(cmd, name) {
                given.push(arg.get_id().as_str());
                if takes_value(arg) && !inline {
                    pending = Some(arg);
                }
            }
        } else if !end_of_options && w.len() > 1 && w.starts_with('-') {
            // `-y`, `-yo json`, `-ojson`: a short flag that takes a value ends the cluster.
            for (i, c) in w.char_indices().skip(1) {
                let Some(arg) = find_short(cmd, c) else { break };
                given.push(arg.get_id().as_str());
                if takes_value(arg) {
                    if i + c.len_utf8() == w.len() {
                        pending = Some(arg);
                    }
                    break;
                }
            }
        } else if positionals == 0
            && let Some(sub) = find_subcommand(cmd, w)
        {
            cmd = sub;
            given.clear();
        } else {
            positionals += 1;
        }
    }

    if let Some(arg) = pending {
        return values(cmd, arg, current, "");
    }
    if !end_of_options && current.starts_with("--") {
        if let Some((name, value)) = current.split_once('=') {
            return match find_long(cmd, &name[2..]) {
                Some(arg) if takes_value(arg) => values(cmd, arg, value, &format!("{name}=")),
                _ => Candidates { items: Vec::new(), directive: directive::NO_FILE_COMP },
            };
        }
        return flags(cmd, current, &given);
    }
    if !end_of_options && current.starts_with('-') {
        return flags(cmd, current, &given);
    }

    let mut out = Candidates { items: Vec::new(), directive: directive::NO_FILE_COMP };
    if positionals == 0 {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name().starts_with(current) {
                out.items.push((sub.get_name().to_string(), first_line(sub.get_about().map(|a| a.to_string()))));
            }
        }
    }
    let mut pos: Vec<&Arg> = cmd.get_positionals().filter(|a| !a.is_hide_set()).collect();
    pos.sort_by_key(|a| a.get_index());
    let arg =
        pos.get(positionals).or_else(|| pos.last().filter(|a| a.get_num_args().is_some_and(|n| n.max_values() > 1)));
    if let Some(arg) = arg {
        let v = values(cmd, arg, current, "");
        out.items.extend(v.items);
        if out.items.is_empty() {
            out.directive = v.directive;
        }
    }
    out
}

/// `--long` (and `-s` unless the word already starts with `--`) for every visible flag of
/// `cmd` starting with `current`; a flag already given is left out unless it repeats.
fn flags(cmd: &Command, current: &str, given: &[&str]) -> Candidates {
    let mut items = Vec::new();
    for arg in cmd.get_arguments().filter(|a| !a.is_positional() && !a.is_hide_set()) {
        let repeats = matches!(arg.get_action(), clap::ArgAction::Append | clap::ArgAction::Count);
        if !repeats && given.contains(&arg.get_id().as_str()) {
            continue;
        }
        let help = first_line(arg.get_help().map(|h| h.to_string()));
        let mut names: Vec<String> =
            arg.get_long_and_visible_aliases().unwrap_or_default().iter().map(|l| format!("--{l}")).collect();
        if !current.starts_with("--") {
            names.extend(arg.get_short_and_visible_aliases().unwrap_or_default().iter().map(|s| format!("-{s}")));
        }
        items.extend(names.into_iter().filter(|n| n.starts_with(current)).map(|n| (n, help.clone())));
    }
    Candidates { items, directive: directive::NO_FILE_COMP }
}

/// What a value of `arg` may be: check ids, the possible values, files, directories, or
/// nothing we can list (a URL, a duration).
fn values(cmd: &Command, arg: &Arg, current: &str, prefix: &str) -> Candidates {
    // `--checks a,b,sta`: complete the last id, keep the ones typed, offer none twice.
    let (done, part) = match arg.get_value_delimiter().and_then(|d| current.rfind(d).map(|i| i + d.len_utf8())) {
        Some(i) => current.split_at(i),
        None => ("", current),
    };
    let typed: Vec<&str> = arg.get_value_delimiter().map(|d| done.split(d).collect()).unwrap_or_default();
    let id = arg.get_id().as_str();
    let listed: Vec<(String, String)> =
        if matches!(id, "checks" | "skip") || (cmd.get_name() == "explain" && id == "id") {
            etcd_doctor_checks::registry::ALL
                .iter()
                .map(|c| (c.info().id.to_string(), c.info().title.to_string()))
                .collect()
        } else {
            arg.get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| (v.get_name().to_string(), first_line(v.get_help().map(|h| h.to_string()))))
                .collect()
        };
    if !listed.is_empty() {
        let items = listed
            .into_iter()
            .filter(|(v, _)| v.starts_with(part) && !typed.contains(&v.as_str()))
            .map(|(v, d)| (format!("{prefix}{done}{v}"), d))
            .collect();
        return Candidates { items, directive: directive::NO_FILE_COMP };
    }
    let names: Vec<&str> = arg.get_value_names().unwrap_or_default().iter().map(|n| n.as_str()).collect();
    let directive = match arg.get_value_hint() {
        ValueHint::DirPath => directive::FILTER_DIRS,
        _ if names.contains(&"DIR") => directive::FILTER_DIRS,
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::ExecutablePath => directive::DEFAULT,
        _ if names.contains(&"FILE") => directive::DEFAULT,
        _ => directive::NO_FILE_COMP,
    };
    Candidates { items: Vec::new(), directive }
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| a.get_long() == Some(name) || a.get_all_aliases().unwrap_or_default().contains(&name))
}

fn find_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c) || a.get_all_short_aliases().unwrap_or_default().contains(&c))
}

fn find_subcommand<'a>(cmd: &'a Command, name: &str) -> Option<&'a Command> {
    cmd.get_subcommands().find(|s| s.get_name() == name || s.get_all_aliases().any(|a| a == name))
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// A description fit for one completion line: the first line, no tab, no final period.
fn first_line(text: Option<String>) -> String {
    let text = text.unwrap_or_default();
    let line = text.lines().next().unwrap_or_default().replace('\t', " ");
    line.trim().trim_end_matches('.').to_string()
}

/// The completion script for `shell`, for the binary name `kubectl-etcd_doctor`; every script
/// asks the binary (`__complete`) for the candidates. `kubectl etcd-doctor <TAB>` goes through
/// kubectl's own completion instead, which runs `kubectl_complete-etcd_doctor`.
pub fn script(shell: clap_complete::Shell) -> String {
    match shell {
        clap_complete::Shell::Bash => BASH.to_string(),
        clap_complete::Shell::Zsh => ZSH.to_string(),
        clap_complete::Shell::Fish => FISH.to_string(),
        other => {
            // Elvish and PowerShell keep clap_complete's static scripts.
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(other, &mut cmd, "kubectl-etcd_doctor", &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
    }
}

const BASH: &str = include_str!("completion/kubectl-etcd_doctor.bash");
const ZSH: &str = include_str!("completion/_kubectl-etcd_doctor.zsh");
const FISH: &str = include_str!("completion/kubectl-etcd_doctor.fish");

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    fn names(line: &str) -> Vec<String> {
        complete(&words(line)).items.into_iter().map(|(w, _)| w).collect()
    }

    #[test]
    fn subcommands_at_the_top_and_nested() {
        let top = names("");
        for s in ["check", "members", "plan", "apply", "bundle", "audit", "explain", "completion"] {
            assert!(top.contains(&s.to_string()), "{s} in {top:?}");
        }
        assert!(!top.iter().any(|s| s.starts_with("__")), "hidden commands stay hidden: {top:?}");
        assert_eq!(names("pl"), ["plan"]);
        let plan = names("plan ");
        assert!(
            ["add-member", "restart", "remove-member", "help"].iter().all(|s| plan.contains(&s.to_string())),
            "{plan:?}"
        );
        assert!(names("--endpoints https://x:2379 bundle ").contains(&"collect".to_string()));
        assert_eq!(names("plan add-member --na"), ["--name"]);
    }

    #[test]
    fn flags_values_and_check_ids() {
        assert_eq!(names("--che"), ["--checks"]);
        let o = complete(&words("-o "));
        let values: Vec<&str> = o.items.iter().map(|(w, _)| w.as_str()).collect();
        assert!(["table", "json", "yaml", "junit"].iter().all(|v| values.contains(v)), "{values:?}");
        assert_eq!(o.directive, directive::NO_FILE_COMP);
        assert_eq!(names("--output=j"), ["--output=json", "--output=junit"]);
        assert_eq!(names("-w y"), ["yaml"]);
        assert_eq!(names("--skip stale"), ["stale-member"]);
        assert_eq!(names("--checks stale-member,unst"), ["stale-member,unstarted-member"]);
        assert!(!names("--checks stale-member,").contains(&"stale-member,stale-member".to_string()));
        let ids = names("explain ");
        assert_eq!(ids.len(), etcd_doctor_checks::registry::ALL.len());
        assert_eq!(names("explain cert-e"), ["cert-expiry"]);
        assert!(names("explain stale-member ").is_empty(), "explain takes one id");
    }

    #[test]
    fn paths_urls_and_used_flags() {
        assert_eq!(complete(&words("--bundle ")).directive, directive::FILTER_DIRS);
        assert_eq!(complete(&words("bundle collect ")).directive, directive::FILTER_DIRS);
        assert_eq!(complete(&words("apply -f ")).directive, directive::DEFAULT);
        assert_eq!(complete(&words("--kubeconfig=")).directive, directive::DEFAULT);
        assert_eq!(complete(&words("--endpoints ")), Candidates { items: vec![], directive: directive::NO_FILE_COMP });
        assert!(!names("--fix --f").contains(&"--fix".to_string()), "a flag given once is not offered again");
        assert!(names("--skip a --s").contains(&"--skip".to_string()), "a repeatable flag is");
        assert_eq!(names("completion "), ["bash", "elvish", "fish", "powershell", "zsh"]);
    }

    #[test]
    fn cobra_format_and_requests() {
        let c = Candidates { items: vec![("a".into(), "the a".into()), ("b".into(), String::new())], directive: 4 };
        assert_eq!(c.render(true), "a\tthe a\nb\n:4\n");
        assert_eq!(c.render(false), "a\nb\n:4\n");
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            request(&os(&["kubectl-etcd_doctor", "__complete", "plan", ""])),
            Some((vec!["plan".into(), "".into()], true))
        );
        assert_eq!(request(&os(&["/x/kubectl_complete-etcd_doctor", "ex"])), Some((vec!["ex".into()], true)));
        assert_eq!(request(&os(&["kubectl-etcd_doctor", "__completeNoDesc", ""])), Some((vec!["".into()], false)));
        assert_eq!(request(&os(&["kubectl-etcd_doctor", "plan"])), None);
    }
}
