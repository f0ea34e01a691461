//! The command line. Flags match etcdctl (`--endpoints`, `--cacert`, `--cert`, `--key`,
//! `--user`, `--dial-timeout`, `ETCDCTL_*`) and kubectl (`-o json|yaml`, `-w` as an alias), so
//! an operator's muscle memory works. A flag wins over its environment variable.
//!
//! Layout: flags live in small groups (one `Args` struct per help heading: [`ConnArgs`],
//! [`KubeArgs`], [`NodeArgs`], [`CheckArgs`], [`FixArgs`], [`OutputArgs`]); each subcommand
//! flattens only the groups it uses, so `explain -h` shows one argument, not 27 flags. The bare
//! command is `check` and takes every group. Flags written before a subcommand
//! (`kubectl etcd-doctor --endpoints X members`) are moved behind it by [`hoist`] before clap
//! parses, so both orders keep working. [`Invocation::resolve`] turns the groups into one
//! [`Global`] (the settings the rest of the binary reads), applying the rules clap cannot say
//! (offline runs ignore `ETCDCTL_*`; `--user` with or without a password).
//!
//! ADDING A FLAG: put the field in the group whose heading it belongs under (e.g. `--fail-on`
//! in [`CheckArgs`], `--no-headers` in [`OutputArgs`]); add the same field to [`Global`] and
//! one line in [`Invocation::resolve`] copying it over (a group a subcommand lacks contributes
//! its defaults). A flag only one subcommand takes goes on that subcommand's struct. Keep
//! every example line in `after_help` under 80 columns (a unit test checks it).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Start here (pick the one that matches where you are):
  kubectl etcd-doctor                 # a kubeconfig only: etcdctl in a pod
  sudo kubectl etcd-doctor --local    # on a control-plane or etcd node
  kubectl etcd-doctor --bundle DIR    # a captured bundle, offline

With etcd's client URLs and certificates:
  kubectl etcd-doctor --endpoints https://10.0.0.1:2379 \\
    --cacert /etc/kubernetes/pki/etcd/ca.crt \\
    --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt \\
    --key /etc/kubernetes/pki/etcd/healthcheck-client.key

Exit codes:
  0  no finding of severity warning or worse
  1  warnings only
  2  at least one critical finding
  3  could not run: bad flags, unreadable input, no etcd endpoint reachable
  4  --fix / apply refused (unsafe, unconfirmed, stale plan) or a step failed

More: kubectl etcd-doctor explain <check-id>; kubectl etcd-doctor <command> -h";

/// Diagnose etcd membership: stale, unstarted and duplicate members, quorum at risk.
#[derive(Parser)]
#[command(name = "kubectl-etcd_doctor", bin_name = "kubectl etcd-doctor", version = VERSION, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do; `check` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The bare command is `check`: it takes check's flags.
    #[command(flatten)]
    pub check: CheckCmd,
}

/// Subcommands.
// Parsed once per run: the variants' sizes do not matter, and boxing would cost clarity.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Clone)]
pub enum Command {
    /// Run every check; print members, findings and the plan (a dry run).
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor check --skip quorum-at-risk -o json\n  kubectl etcd-doctor --fix"
    )]
    Check(CheckCmd),
    /// The member table: id, name, URLs, learner, reachable, leader, version, db size.
    #[command(
        after_help = "Example:\n  kubectl etcd-doctor members --endpoints https://10.0.0.1:2379 \\\n    --cacert ca.crt"
    )]
    Members(MembersCmd),
    /// List every check: id, severity, title.
    #[command(after_help = "Example:\n  kubectl etcd-doctor checks -o json")]
    Checks(ChecksCmd),
    /// Write the fix plan (or an add-member / restart plan) with the state it was made from.
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor plan -o yaml > plan.yaml\n  kubectl etcd-doctor plan add-member --name etcd-4 \\\n    --peer-url https://10.0.0.14:2380 -o yaml > add.yaml\n  kubectl etcd-doctor plan restart\n  kubectl etcd-doctor plan remove-member 8e9e05c52164694d -o yaml > rm.yaml"
    )]
    Plan(PlanCmd),
    /// Apply a reviewed plan file; refused if the cluster changed since it was made.
    #[command(after_help = "Example:\n  kubectl etcd-doctor apply -f plan.yaml --yes")]
    Apply(ApplyCmd),
    /// Support bundles.
    Bundle {
        /// What to do with bundles.
        #[command(subcommand)]
        what: BundleKind,
    },
    /// Every check, plus the expensive ones (HashKV across members): before an upgrade, in CI.
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor audit --pre-upgrade --target-version 3.5.17 \\\n    -o junit > etcd-audit.xml\n  kubectl etcd-doctor audit --bundle ./etcd-bundle\n  # between two nodes of your own rolling upgrade:\n  until kubectl etcd-doctor audit --gate; do sleep 5; done"
    )]
    Audit(AuditCmd),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor completion bash \\\n    > /etc/bash_completion.d/kubectl-etcd_doctor\n  kubectl etcd-doctor completion zsh > \"${fpath[1]}/_kubectl-etcd_doctor\"\n  kubectl etcd-doctor completion fish \\\n    > ~/.config/fish/completions/kubectl-etcd_doctor.fish\n\nThese complete kubectl-etcd_doctor run directly. For `kubectl etcd-doctor <TAB>`\n(kubectl 1.26+), put kubectl_complete-etcd_doctor on PATH (the release archive\nhas it), or link the binary:\n  cd \"$(dirname \"$(command -v kubectl-etcd_doctor)\")\"\n  ln -s kubectl-etcd_doctor kubectl_complete-etcd_doctor"
    )]
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a check's docs page: what it detects, why it matters, how to fix and silence it.
    #[command(after_help = "Example:\n  kubectl etcd-doctor explain stale-member")]
    Explain {
        /// The check id, e.g. stale-member.
        id: String,
    },
    // new in ship
    /// Print the RBAC roles etcd-doctor needs (deploy/rbac.yaml; with --exec deploy/rbac-exec.yaml).
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor rbac | kubectl apply -f -\n  kubectl etcd-doctor rbac --exec | kubectl apply -f -"
    )]
    Rbac {
        /// The role for reaching etcd through the API (create on pods/exec in kube-system);
        /// not read-only: grant it only to those who may run --fix.
        #[arg(long)]
        exec: bool,
    },
    /// Shell completion candidates in cobra's format (what kubectl_complete-etcd_doctor and
    /// the completion scripts call); the words are read before flags are parsed.
    #[command(name = "__complete", hide = true)]
    Complete {
        /// The words after the program name; the last is the one being completed.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        words: Vec<String>,
    },
}

/// `check` (and the bare command): every group.
#[derive(Args, Clone)]
pub struct CheckCmd {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub checks: CheckArgs,
    #[command(flatten)]
    pub fix: FixArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `members`: where etcd is, and the output format.
#[derive(Args, Clone)]
pub struct MembersCmd {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `checks`: the output format only.
#[derive(Args, Clone)]
pub struct ChecksCmd {
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `plan`: a plan is judged like a check run, and may name removals.
#[derive(Args, Clone)]
pub struct PlanCmd {
    /// Which plan; the fix plan when omitted.
    #[command(subcommand)]
    pub what: Option<PlanKind>,
    #[command(flatten)]
    pub args: PlanArgs,
}

/// The flags of `plan` and of each of its kinds.
#[derive(Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub checks: CheckArgs,
    #[command(flatten)]
    pub removal: RemovalArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `apply -f`.
#[derive(Args, Clone)]
pub struct ApplyCmd {
    /// The plan file (YAML or JSON, from `plan -o yaml`).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `audit`.
#[derive(Args, Clone)]
pub struct AuditCmd {
    /// Judge readiness for an upgrade: the report says whether anything blocks it.
    #[arg(long)]
    pub pre_upgrade: bool,
    /// The version the upgrade goes to: etcd (3.6.0), Kubernetes (v1.34.2), K3s or RKE2.
    ///
    /// Kubernetes (v1.34.2 or 1.34) means the etcd kubeadm ships; K3s (v1.31.8+k3s1) and RKE2
    /// (v1.31.8+rke2r1) theirs. Judged against etcd's published upgrade rules (`explain
    /// upgrade-path`).
    #[arg(long, value_name = "VERSION")]
    pub target_version: Option<String>,
    /// Only the gate between two members of a rolling upgrade.
    ///
    /// Exit 0 when every voter is healthy, caught up with the leader and no election is in
    /// progress; else exit 2 and one line saying what is not ready (3: no member answered).
    #[arg(long, conflicts_with_all = ["pre_upgrade", "target_version"])]
    pub gate: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub checks: CheckArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Plans an operator asks for.
#[derive(Subcommand, Clone)]
pub enum PlanKind {
    /// Add a member safely: as a learner, start it, then promote it.
    AddMember {
        /// The new member's name (its --name).
        #[arg(long)]
        name: String,
        /// Its peer URL, e.g. https://10.0.0.14:2380.
        #[arg(long = "peer-url", value_name = "URL")]
        peer_url: String,
        #[command(flatten)]
        args: PlanArgs,
    },
    /// A rolling restart: followers first, the leader last, never more at once than the
    /// fault tolerance allows.
    Restart {
        #[command(flatten)]
        args: PlanArgs,
    },
    /// Remove a member you decided is gone for good (one that is down, unreachable or hung is
    /// never removed on its own): planned through the same quorum check; never a member that
    /// answers.
    RemoveMember {
        /// The member id as printed (hex, padded or not) or in decimal (`-w json`).
        id: String,
        #[command(flatten)]
        args: PlanArgs,
    },
    // new in rolling
    /// A rolling upgrade: blockers first, a backup, then one member at a time (followers
    /// first, the leader last), each restart followed by a gate. `apply` runs
    /// --restart-command per member and stops at the first gate that fails.
    #[command(
        after_help = "Example:\n  kubectl etcd-doctor plan upgrade --target-version 3.5.17 -o yaml \\\n    > upgrade.yaml\n  kubectl etcd-doctor apply -f upgrade.yaml --backup-dir /var/backups/etcd \\\n    --restart-command 'ssh {host} sudo systemctl restart etcd'"
    )]
    Upgrade {
        /// The etcd release to go to, e.g. 3.5.17 (or a Kubernetes, K3s or RKE2 release whose
        /// etcd is known to the patch).
        #[arg(long, value_name = "VERSION")]
        target_version: String,
        #[command(flatten)]
        args: PlanArgs,
    },
}

/// Bundle subcommands.
#[derive(Subcommand, Clone)]
pub enum BundleKind {
    /// Write a bundle from the live cluster (etcdctl's JSON shapes, nodes.yaml; secrets
    /// redacted) for a ticket; read it back anywhere with --bundle DIR.
    #[command(after_help = "Example:\n  kubectl etcd-doctor bundle collect ./etcd-bundle --local")]
    Collect {
        /// The directory to write (created if needed).
        dir: PathBuf,
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        kube: KubeArgs,
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// Tables for people.
    #[default]
    Table,
    /// One JSON document (CONTRACT.md).
    Json,
    /// The same document as YAML.
    Yaml,
    /// JUnit XML for CI systems: the selected checks, one failing test case per warning or
    /// critical finding, `<skipped>` with the reason where a check's input was missing (check
    /// and audit only).
    Junit,
    // new in table
    /// Tables with every column (URLs, learner, reachable, node), however wide.
    Wide,
}

// new in table
impl Output {
    /// Whether this is a table for people (`table` or `wide`).
    pub fn is_table(self) -> bool {
        matches!(self, Output::Table | Output::Wide)
    }
}

// new in table
/// Which findings make the exit code non-zero (`--fail-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FailOn {
    /// Only critical findings (exit 2); warnings exit 0.
    Critical,
    /// Warnings (exit 1) and critical findings (exit 2).
    #[default]
    Warning,
    /// No finding (exit 0); codes 3 and 4 keep their meaning.
    Never,
}

// new in table
impl From<FailOn> for etcd_doctor_checks::report::FailOn {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Critical => Self::Critical,
            FailOn::Warning => Self::Warning,
            FailOn::Never => Self::Never,
        }
    }
}

/// `--version`: the crate version and the git revision it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ETCD_DOCTOR_GIT_REV"), ")");

/// How `--fix` restarts a node's K3s/RKE2 by default.
pub const DEFAULT_RESTART: &str = "systemctl restart {service}";

/// A value never printed: `Debug` shows `<redacted>` (passwords, `--user NAME:PASSWORD`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that sends it (etcd's Authenticate, etcdctl's argv).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

fn secret(s: &str) -> Result<Secret, String> {
    Ok(Secret(s.to_string()))
}

/// An etcd user and its password (etcd's auth; `--user`, `--password`, `ETCDCTL_USER`,
/// `ETCDCTL_PASSWORD`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: Secret,
}

/// Where etcd is: a live cluster's client URLs and credentials, or a captured bundle.
#[derive(Args, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// etcd client URLs, comma-separated (https://IP:2379).
    #[arg(long, env = "ETCDCTL_ENDPOINTS", hide_env_values = true, value_delimiter = ',', value_name = "URLS")]
    pub endpoints: Vec<String>,
    /// CA bundle that signed the etcd server certificates.
    #[arg(long, env = "ETCDCTL_CACERT", hide_env_values = true, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    #[arg(long, env = "ETCDCTL_CERT", hide_env_values = true, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Client private key for mutual TLS.
    #[arg(long, env = "ETCDCTL_KEY", hide_env_values = true, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// etcd user, on a cluster with auth enabled: NAME:PASSWORD, or NAME with --password.
    #[arg(long, env = "ETCDCTL_USER", hide_env_values = true, value_name = "NAME", value_parser = secret)]
    pub user: Option<Secret>,
    /// The --user's password (never printed).
    #[arg(long, env = "ETCDCTL_PASSWORD", hide_env_values = true, value_name = "PASSWORD", value_parser = secret)]
    pub password: Option<Secret>,
    /// How long to wait for a connection to one endpoint (2s, 500ms; at least 100ms).
    #[arg(long, default_value = "2s", value_parser = crate::duration::parse_timeout, value_name = "DURATION")]
    pub dial_timeout: Duration,
    /// How long to wait for one request after connecting (at least 100ms).
    #[arg(long, default_value = "5s", value_parser = crate::duration::parse_timeout, value_name = "DURATION")]
    pub command_timeout: Duration,
    /// Read captured etcdctl output from DIR instead of asking etcd (offline).
    ///
    /// ETCDCTL_* variables are then ignored; connection flags typed beside it are refused.
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
}

/// The Kubernetes API, asked for nodes and etcd pods.
#[derive(Args, Clone)]
#[command(next_help_heading = "Kubernetes")]
pub struct KubeArgs {
    /// kubeconfig to use (default: KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context to use.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Do not ask the Kubernetes API (node checks then say they could not decide).
    #[arg(long, env = "ETCD_DOCTOR_NO_KUBE", hide_env_values = true, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_kube: bool,
}

/// Running on an etcd node.
#[derive(Args, Clone)]
#[command(next_help_heading = "On a node")]
pub struct NodeArgs {
    /// On an etcd node: find its endpoint and client certificates (run with sudo).
    ///
    /// Read from the distribution's files (K3s, RKE2, kubeadm, Kubespray). Explicit flags
    /// still win.
    #[arg(long, conflicts_with = "bundle")]
    pub local: bool,
    /// With --local: read a copy of a node's filesystem under DIR instead of /.
    ///
    /// Refused without --local.
    #[arg(long, value_name = "DIR", default_value = "/", requires = "local")]
    pub root: PathBuf,
    /// With --local on a K3s/RKE2 etcd-only server: the join URL to switch to.
    ///
    /// It must answer GET /version as a Kubernetes API; default: an etcd member's host that
    /// does.
    #[arg(long, value_name = "URL", requires = "local")]
    pub server_url: Option<String>,
}

/// What to check and the thresholds the checks judge by.
#[derive(Args, Clone)]
#[command(next_help_heading = "Checks")]
pub struct CheckArgs {
    /// Run only these checks (comma-separated ids; the `checks` command lists them).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub checks: Vec<String>,
    /// Skip these checks (comma-separated ids).
    ///
    /// From the environment too, for checks a site silences in every run (CI): a flag given
    /// on the command line replaces it.
    #[arg(long, env = "ETCD_DOCTOR_SKIP", hide_env_values = true, value_delimiter = ',', value_name = "IDS")]
    pub skip: Vec<String>,
    /// Warn about certificates expiring within this time (7d and less is critical).
    #[arg(long, default_value = "30d", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub expiry_warning: Duration,
    /// A node NotReady this long, its member silent, proves the member gone.
    ///
    /// A removal may then be planned; shorter outages are "bring it back" cases.
    #[arg(long, default_value = "5m", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub node_grace: Duration,
    /// etcd's backend quota (8589934592 or 8GiB), when its metrics do not show it.
    ///
    /// Default: the metric, the status, else etcd's 2 GiB.
    #[arg(long, value_name = "BYTES", value_parser = crate::duration::parse_bytes)]
    pub quota_bytes: Option<i64>,
    /// Voters whose processes started closer together than this were down together.
    ///
    /// How long a restarted member needs before it counts for quorum again.
    #[arg(long, default_value = "1s", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub restart_window: Duration,
    /// Which findings make the exit code non-zero: warning, critical or never.
    ///
    /// warning: 1 for warnings, 2 for critical; critical: only critical (2); never: 0. Codes 3
    /// and 4 keep their meaning.
    #[arg(long, value_enum, default_value_t, value_name = "SEVERITY")]
    pub fail_on: FailOn,
}

/// `--remove-member`: the operator's decision that a member is gone (check --fix and plan).
#[derive(Args, Clone)]
#[command(next_help_heading = "Fix")]
pub struct RemovalArgs {
    /// Also remove this member (repeatable): your word that it will not come back.
    ///
    /// For a member that is down, unreachable or hung; never done for a member that answers.
    #[arg(long = "remove-member", value_name = "ID")]
    pub remove_member: Vec<String>,
}

/// What changes the cluster (`check --fix`); `apply` takes the [`ApplyArgs`] part.
#[derive(Args, Clone)]
#[command(next_help_heading = "Fix")]
pub struct FixArgs {
    /// Apply the plan's automatic steps (asks first on a terminal; see --yes).
    #[arg(long)]
    pub fix: bool,
    #[command(flatten)]
    pub removal: RemovalArgs,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

/// How a plan is carried out (`--fix` and `apply`).
#[derive(Args, Clone)]
#[command(next_help_heading = "Fix")]
pub struct ApplyArgs {
    /// Do not ask before --fix or apply changes the cluster.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How long a promotion waits for a new learner to catch up.
    #[arg(long, default_value = "2m", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub wait_learner: Duration,
    /// How to restart a member: K3s/RKE2 after --local --fix changed its join URL, or one
    /// member on the new version in `apply` of an upgrade plan.
    ///
    /// {name}, {id} and {host} are that member's (e.g. 'ssh {host} sudo systemctl restart etcd').
    #[arg(long, value_name = "COMMAND", env = "ETCD_DOCTOR_RESTART_COMMAND", hide_env_values = true, default_value = DEFAULT_RESTART)]
    pub restart_command: String,
    /// `apply` of an upgrade plan: where its backup (a snapshot) is written.
    ///
    /// Default: the current directory, as etcd-snapshot-<cluster>-<time>.db.
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// `apply` of an upgrade plan: how long a restart command and the gate after it may take.
    ///
    /// When the member is not back (at the new version, caught up) by then, the run stops.
    #[arg(long, default_value = "2m", value_parser = crate::duration::parse_timeout, value_name = "DURATION")]
    pub gate_timeout: Duration,
}

/// The output format.
#[derive(Args, Clone)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        visible_short_alias = 'w',
        visible_alias = "write-out",
        value_enum,
        default_value_t
    )]
    pub output: Output,
    /// Tables without their header lines (for scripts: `members --no-headers | awk '{print $1}'`).
    #[arg(long)]
    pub no_headers: bool,
}

/// The settings a run reads, resolved from the groups its subcommand takes (a group it lacks
/// contributes its defaults). Not a clap type: see the module comment for where flags go.
#[derive(Debug, Clone)]
pub struct Global {
    /// `--endpoints` / `ETCDCTL_ENDPOINTS` (empty offline).
    pub endpoints: Vec<String>,
    /// `--cacert`.
    pub cacert: Option<PathBuf>,
    /// `--cert`.
    pub cert: Option<PathBuf>,
    /// `--key`.
    pub key: Option<PathBuf>,
    /// `--user` / `--password` (never printed: `Secret`).
    pub user: Option<Credentials>,
    /// `--dial-timeout`.
    pub dial_timeout: Duration,
    /// `--command-timeout`.
    pub command_timeout: Duration,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--no-kube`.
    pub no_kube: bool,
    /// `--local`.
    pub local: bool,
    /// `--root`.
    pub root: PathBuf,
    /// `--server-url`.
    pub server_url: Option<String>,
    /// `--restart-command`.
    pub restart_command: String,
    /// `--quota-bytes`.
    pub quota_bytes: Option<i64>,
    /// `--restart-window`.
    pub restart_window: Duration,
    /// `--bundle`.
    pub bundle: Option<PathBuf>,
    /// `--checks`.
    pub checks: Vec<String>,
    /// `--skip`.
    pub skip: Vec<String>,
    /// `--fix`.
    pub fix: bool,
    /// `--yes`.
    pub yes: bool,
    /// `--remove-member`.
    pub remove_member: Vec<String>,
    /// `--expiry-warning`.
    pub expiry_warning: Duration,
    /// `--node-grace`.
    pub node_grace: Duration,
    /// `--wait-learner`.
    pub wait_learner: Duration,
    /// `--backup-dir`.
    pub backup_dir: Option<PathBuf>,
    /// `--gate-timeout`.
    pub gate_timeout: Duration,
    /// `-o`.
    pub output: Output,
    /// `--no-headers`.
    pub no_headers: bool,
    /// `--fail-on`.
    pub fail_on: FailOn,
}

/// What one command line asked for: the subcommand (`check` when omitted) and the matches of
/// the innermost subcommand, which say whether a value came from the command line or the
/// environment.
pub struct Invocation {
    /// The subcommand.
    pub command: Command,
    leaf: ArgMatches,
}

impl Invocation {
    /// Parses `args` (flags before a subcommand are moved behind it first).
    pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Self, clap::Error> {
        let args = hoist(args.into_iter().collect(), &Cli::command());
        let matches = Cli::command().try_get_matches_from(args)?;
        let cli = Cli::from_arg_matches(&matches)?;
        let mut leaf = &matches;
        while let Some((_, m)) = leaf.subcommand() {
            leaf = m;
        }
        let leaf = leaf.clone();
        Ok(Invocation { command: cli.command.unwrap_or(Command::Check(cli.check)), leaf })
    }

    /// Whether the flag with clap id `id` was typed (not taken from the environment or a
    /// default). False for an id this subcommand does not have.
    fn typed(&self, id: &str) -> bool {
        self.leaf.ids().any(|i| i.as_str() == id) && self.leaf.value_source(id) == Some(ValueSource::CommandLine)
    }

    /// The settings for a command run with these groups; missing groups give their defaults.
    pub fn resolve(
        &self,
        conn: &ConnArgs,
        kube: &KubeArgs,
        node: &NodeArgs,
        checks: Option<&CheckArgs>,
        fix: Option<&FixArgs>,
        out: Option<&OutputArgs>,
    ) -> Result<Global> {
        let default_checks;
        let checks = match checks {
            Some(c) => c,
            None => {
                default_checks = defaults::<CheckArgs>()?;
                &default_checks
            }
        };
        let default_fix;
        let fix = match fix {
            Some(f) => f,
            None => {
                default_fix = defaults::<FixArgs>()?;
                &default_fix
            }
        };
        let mut conn = conn.clone();
        if let Some(dir) = &conn.bundle {
            // Offline: the bundle is the whole input. ETCDCTL_* are often exported on nodes
            // and in runbooks; only flags typed beside --bundle are a contradiction.
            let typed: Vec<&str> = ["endpoints", "cacert", "cert", "key", "user", "password"]
                .into_iter()
                .filter(|id| self.typed(id))
                .collect();
            if !typed.is_empty() {
                let flags: Vec<String> = typed.iter().map(|f| format!("--{f}")).collect();
                bail!(
                    "--bundle {} reads a capture offline; {} would ask a live etcd: pass one or the other",
                    dir.display(),
                    flags.join(", ")
                );
            }
            conn.endpoints.clear();
            (conn.cacert, conn.cert, conn.key, conn.user, conn.password) = (None, None, None, None, None);
        }
        Ok(Global {
            user: credentials(conn.user.as_ref(), conn.password.as_ref())?,
            endpoints: conn.endpoints,
            cacert: conn.cacert,
            cert: conn.cert,
            key: conn.key,
            dial_timeout: conn.dial_timeout,
            command_timeout: conn.command_timeout,
            bundle: conn.bundle,
            kubeconfig: kube.kubeconfig.clone(),
            context: kube.context.clone(),
            no_kube: kube.no_kube,
            local: node.local,
            root: node.root.clone(),
            server_url: node.server_url.clone(),
            checks: checks.checks.clone(),
            skip: checks.skip.clone(),
            expiry_warning: checks.expiry_warning,
            node_grace: checks.node_grace,
            quota_bytes: checks.quota_bytes,
            restart_window: checks.restart_window,
            fix: fix.fix,
            remove_member: fix.removal.remove_member.clone(),
            yes: fix.apply.yes,
            wait_learner: fix.apply.wait_learner,
            restart_command: fix.apply.restart_command.clone(),
            backup_dir: fix.apply.backup_dir.clone(),
            gate_timeout: fix.apply.gate_timeout,
            output: out.map(|o| o.output).unwrap_or_default(),
            no_headers: out.is_some_and(|o| o.no_headers),
            fail_on: checks.fail_on,
        })
    }
}

/// A group's values when its subcommand does not take it: its defaults, no environment.
pub fn defaults<T: Args + FromArgMatches>() -> Result<T> {
    let cmd = T::augment_args(clap::Command::new("defaults"));
    let m = cmd.try_get_matches_from(["defaults"])?;
    Ok(T::from_arg_matches(&m)?)
}

/// `--user NAME:PASSWORD`, or `--user NAME` with `--password` (etcdctl's rules: with
/// --password the whole --user is the name). No prompt: the tool runs in scripts.
fn credentials(user: Option<&Secret>, password: Option<&Secret>) -> Result<Option<Credentials>> {
    let user = user.map(|u| u.expose().to_string()).filter(|u| !u.is_empty());
    match (user, password) {
        (None, None) => Ok(None),
        (None, Some(_)) => bail!("--password (or ETCDCTL_PASSWORD) was given without --user: pass --user NAME too"),
        (Some(name), Some(pw)) => Ok(Some(Credentials { name, password: pw.clone() })),
        (Some(u), None) => match u.split_once(':') {
            Some((name, pw)) if !name.is_empty() => {
                Ok(Some(Credentials { name: name.to_string(), password: Secret(pw.to_string()) }))
            }
            Some(_) => bail!("--user has an empty name: pass --user NAME:PASSWORD"),
            None => bail!(
                "--user {u} has no password: pass --user {u}:PASSWORD, or --password (or set ETCDCTL_PASSWORD); \
                 the tool never prompts"
            ),
        },
    }
}

/// Moves flags written before a subcommand behind it, at every level (`--endpoints X plan
/// add-member ...` becomes `plan add-member --endpoints X ...`): scripts put the connection
/// first, and each subcommand now owns its flags. Which flags take a value is read from the
/// command itself, so a value that happens to be a subcommand's name is never mistaken for it.
pub fn hoist(args: Vec<OsString>, root: &clap::Command) -> Vec<OsString> {
    let Some((bin, rest)) = args.split_first() else { return args };
    let mut cmd = root;
    let (mut path, mut moved) = (Vec::new(), Vec::new());
    let mut i = 0;
    while let Some(tok) = rest.get(i).and_then(|t| t.to_str()) {
        let n = if tok == "--" {
            break;
        } else if let Some(long) = tok.strip_prefix("--") {
            let takes = !long.contains('=')
                && cmd.get_arguments().any(|a| {
                    a.get_long_and_visible_aliases().is_some_and(|names| names.contains(&long)) && takes_value(a)
                });
            if takes { 2 } else { 1 }
        } else if let Some(shorts) = tok.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A cluster like -yo json: the first short that takes a value takes the rest of
            // the token, or the next token when nothing follows it.
            let mut n = 1;
            for (k, c) in shorts.char_indices() {
                let arg =
                    cmd.get_arguments().find(|a| a.get_short_and_visible_aliases().is_some_and(|s| s.contains(&c)));
                if arg.is_some_and(takes_value) {
                    if k + c.len_utf8() == shorts.len() {
                        n = 2;
                    }
                    break;
                }
            }
            n
        } else {
            match cmd.find_subcommand(tok) {
                Some(sub) => {
                    path.push(rest[i].clone());
                    cmd = sub;
                    i += 1;
                    continue;
                }
                None => break,
            }
        };
        let end = (i + n).min(rest.len());
        moved.extend_from_slice(&rest[i..end]);
        i = end;
    }
    if path.is_empty() || moved.is_empty() {
        return args;
    }
    let mut out = vec![bin.clone()];
    out.extend(path);
    out.extend(moved);
    out.extend_from_slice(&rest[i..]);
    out
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_action().takes_values()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn hoisted(v: &[&str]) -> Vec<String> {
        hoist(os(v), &Cli::command()).into_iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn flags_before_a_subcommand_move_behind_it() {
        assert_eq!(hoisted(&["k", "--endpoints", "X", "members"]), ["k", "members", "--endpoints", "X"]);
        assert_eq!(
            hoisted(&["k", "--bundle", "D", "plan", "remove-member", "ab", "-o", "json"]),
            ["k", "plan", "remove-member", "--bundle", "D", "ab", "-o", "json"]
        );
        assert_eq!(
            hoisted(&["k", "-o", "json", "plan", "--endpoints=X", "add-member", "--name", "n"]),
            ["k", "plan", "add-member", "-o", "json", "--endpoints=X", "--name", "n"]
        );
        // A value named like a subcommand stays a value; -ojson and -yo json are clusters.
        assert_eq!(hoisted(&["k", "--context", "members"]), ["k", "--context", "members"]);
        assert_eq!(hoisted(&["k", "-ojson", "members"]), ["k", "members", "-ojson"]);
        assert_eq!(hoisted(&["k", "-yo", "json", "apply", "-f", "p"]), ["k", "apply", "-yo", "json", "-f", "p"]);
        // Nothing to move, or no subcommand: unchanged.
        assert_eq!(hoisted(&["k", "members", "-o", "json"]), ["k", "members", "-o", "json"]);
        assert_eq!(hoisted(&["k", "--fix", "--yes"]), ["k", "--fix", "--yes"]);
        assert_eq!(hoisted(&["k", "--", "members"]), ["k", "--", "members"]);
    }

    #[test]
    fn the_layout_is_valid_and_examples_fit_80_columns() {
        fn walk(c: &clap::Command, path: &str) {
            for text in [c.get_after_help(), c.get_after_long_help()].into_iter().flatten() {
                for line in text.to_string().lines() {
                    assert!(line.chars().count() <= 80, "{path}: an example line longer than 80 columns: {line}");
                }
            }
            for s in c.get_subcommands() {
                walk(s, &format!("{path} {}", s.get_name()));
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        cmd.clone().debug_assert();
        walk(&cmd, "kubectl etcd-doctor");
    }

    #[test]
    fn user_and_password_as_etcdctl_takes_them() {
        let s = |v: &str| Secret(v.to_string());
        let c = credentials(Some(&s("root:pa:ss")), None).expect("name:password");
        assert_eq!((c.as_ref().map(|c| c.name.as_str())), Some("root"));
        assert_eq!(c.as_ref().map(|c| c.password.expose()), Some("pa:ss"));
        // With --password, the whole --user is the name (etcdctl's rule).
        let c = credentials(Some(&s("ro:ot")), Some(&s("pw"))).expect("with --password");
        assert_eq!(c.map(|c| (c.name, c.password.expose().to_string())), Some(("ro:ot".into(), "pw".into())));
        assert!(credentials(Some(&s("root")), None).is_err_and(|e| e.to_string().contains("root:PASSWORD")));
        assert!(credentials(None, Some(&s("pw"))).is_err_and(|e| e.to_string().contains("--user")));
        assert_eq!(credentials(None, None).ok(), Some(None));
        assert_eq!(format!("{:?}", s("hunter2")), "<redacted>");
    }
}
