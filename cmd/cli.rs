//! The command line. Flags match etcdctl (`--endpoints`, `--cacert`, `--cert`, `--key`,
//! `--dial-timeout`, `ETCDCTL_*`) and kubectl (`-o json|yaml`, `-w` as an alias), so an
//! operator's muscle memory works. A flag wins over its environment variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  no finding of severity warning or worse
  1  warnings only
  2  at least one critical finding
  3  could not run: bad flags, unreadable input, no etcd endpoint reachable
  4  --fix / apply refused (unsafe, unconfirmed, stale plan) or a step failed

Examples:
  kubectl etcd-doctor --endpoints https://10.0.0.1:2379 \\
      --cacert /etc/kubernetes/pki/etcd/ca.crt \\
      --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt \\
      --key /etc/kubernetes/pki/etcd/healthcheck-client.key
  kubectl etcd-doctor --bundle fixtures/bundles/kops-stale-member -o json
  kubectl etcd-doctor explain stale-member";

/// Diagnose etcd membership: stale, unstarted and duplicate members, quorum at risk.
#[derive(Debug, Parser)]
#[command(name = "kubectl-etcd_doctor", bin_name = "kubectl etcd-doctor", version = VERSION, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do; `check` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags every command takes.
    #[command(flatten)]
    pub global: Global,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every check; print members, findings and the plan (a dry run).
    #[command(after_help = "Example:\n  kubectl etcd-doctor check --skip quorum-at-risk -o json")]
    Check,
    /// The member table: id, name, URLs, learner, reachable, leader, version, db size.
    #[command(after_help = "Example:\n  kubectl etcd-doctor members --endpoints https://10.0.0.1:2379 --cacert ca.crt")]
    Members,
    /// List every check: id, severity, title.
    #[command(after_help = "Example:\n  kubectl etcd-doctor checks -o json")]
    Checks,
    /// Write the fix plan (or an add-member / restart plan) with the state it was made from.
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor plan -o yaml > plan.yaml\n  kubectl etcd-doctor plan add-member --name etcd-4 --peer-url https://10.0.0.14:2380 -o yaml > add.yaml\n  kubectl etcd-doctor plan restart\n  kubectl etcd-doctor plan remove-member 8e9e05c52164694d -o yaml > remove.yaml"
    )]
    Plan {
        /// Which plan; the fix plan when omitted.
        #[command(subcommand)]
        what: Option<PlanKind>,
    },
    /// Apply a reviewed plan file; refused if the cluster changed since it was made.
    #[command(after_help = "Example:\n  kubectl etcd-doctor apply -f plan.yaml --yes")]
    Apply {
        /// The plan file (YAML or JSON, from `plan -o yaml`).
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: PathBuf,
    },
    /// Support bundles.
    Bundle {
        /// What to do with bundles.
        #[command(subcommand)]
        what: BundleKind,
    },
    /// Every check, plus the expensive ones (HashKV across members): before an upgrade, in CI.
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor audit --pre-upgrade --target-version 3.5.17 -o junit > etcd-audit.xml\n  kubectl etcd-doctor audit --bundle ./etcd-bundle\n  until kubectl etcd-doctor audit --gate; do sleep 5; done   # between two nodes of your own rolling upgrade"
    )]
    Audit {
        /// Judge readiness for an upgrade: the report says whether anything blocks it.
        #[arg(long)]
        pre_upgrade: bool,
        /// The version the upgrade goes to: etcd (3.6.0), Kubernetes (v1.34.2 or 1.34: the etcd
        /// kubeadm ships), K3s (v1.31.8+k3s1) or RKE2 (v1.31.8+rke2r1); judged against etcd's
        /// published upgrade rules (`explain upgrade-path`).
        #[arg(long, value_name = "VERSION")]
        target_version: Option<String>,
        // new in rolling
        /// Only the gate between two members of a rolling upgrade: exit 0 when every voter is
        /// healthy, caught up with the leader and no election is in progress; else exit 2 and
        /// one line saying what is not ready (3: no member answered).
        #[arg(long, conflicts_with_all = ["pre_upgrade", "target_version"])]
        gate: bool,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  kubectl etcd-doctor completion bash > /etc/bash_completion.d/kubectl-etcd_doctor\n  kubectl etcd-doctor completion zsh > \"${fpath[1]}/_kubectl-etcd_doctor\"\n  kubectl etcd-doctor completion fish > ~/.config/fish/completions/kubectl-etcd_doctor.fish\n\nThese complete kubectl-etcd_doctor run directly. For `kubectl etcd-doctor <TAB>` (kubectl 1.26+), put kubectl_complete-etcd_doctor on PATH (the release archive has it), or link the binary:\n  cd \"$(dirname \"$(command -v kubectl-etcd_doctor)\")\"\n  ln -s kubectl-etcd_doctor kubectl_complete-etcd_doctor"
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

/// Plans an operator asks for.
#[derive(Debug, Subcommand)]
pub enum PlanKind {
    /// Add a member safely: as a learner, start it, then promote it.
    AddMember {
        /// The new member's name (its --name).
        #[arg(long)]
        name: String,
        /// Its peer URL, e.g. https://10.0.0.14:2380.
        #[arg(long = "peer-url", value_name = "URL")]
        peer_url: String,
    },
    /// A rolling restart: followers first, the leader last, never more at once than the
    /// fault tolerance allows.
    Restart,
    /// Remove a member you decided is gone for good (one that is down, unreachable or hung is
    /// never removed on its own): planned through the same quorum check; never a member that
    /// answers.
    RemoveMember {
        /// The member id as printed (hex, padded or not) or in decimal (`-w json`).
        id: String,
    },
    // new in rolling
    /// A rolling upgrade: blockers first, a backup, then one member at a time (followers
    /// first, the leader last), each restart followed by a gate. `apply` runs
    /// --restart-command per member and stops at the first gate that fails.
    #[command(
        after_help = "Example:\n  kubectl etcd-doctor plan upgrade --target-version 3.5.17 -o yaml > upgrade.yaml\n  kubectl etcd-doctor apply -f upgrade.yaml --restart-command 'ssh {host} sudo systemctl restart etcd' --backup-dir /var/backups/etcd"
    )]
    Upgrade {
        /// The etcd version to go to, e.g. 3.5.17.
        #[arg(long, value_name = "VERSION")]
        target_version: String,
    },
}

/// Bundle subcommands.
#[derive(Debug, Subcommand)]
pub enum BundleKind {
    /// Write a bundle from the live cluster (etcdctl's JSON shapes, nodes.yaml; secrets
    /// redacted) for a ticket; read it back anywhere with --bundle DIR.
    #[command(after_help = "Example:\n  kubectl etcd-doctor bundle collect ./etcd-bundle --endpoints ... --cacert ...")]
    Collect {
        /// The directory to write (created if needed).
        dir: PathBuf,
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

/// Global flags.
#[derive(Debug, Args)]
pub struct Global {
    /// etcd client URLs, comma-separated (https://IP:2379). Env: ETCDCTL_ENDPOINTS.
    #[arg(long, global = true, env = "ETCDCTL_ENDPOINTS", value_delimiter = ',', value_name = "URLS")]
    pub endpoints: Vec<String>,
    /// CA bundle that signed the etcd server certificates. Env: ETCDCTL_CACERT.
    #[arg(long, global = true, env = "ETCDCTL_CACERT", value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Client certificate for mutual TLS. Env: ETCDCTL_CERT.
    #[arg(long, global = true, env = "ETCDCTL_CERT", value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Client private key for mutual TLS. Env: ETCDCTL_KEY.
    #[arg(long, global = true, env = "ETCDCTL_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// How long to wait for a connection to one endpoint (Go syntax: 2s, 500ms; at least 100ms).
    #[arg(long, global = true, default_value = "2s", value_parser = crate::duration::parse_timeout, value_name = "DURATION")]
    pub dial_timeout: Duration,
    /// How long to wait for one request after connecting (at least 100ms).
    #[arg(long, global = true, default_value = "5s", value_parser = crate::duration::parse_timeout, value_name = "DURATION")]
    pub command_timeout: Duration,
    /// kubeconfig to read nodes from (default: KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Do not ask the Kubernetes API (node checks then say they could not decide).
    #[arg(long, global = true, env = "ETCD_DOCTOR_NO_KUBE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_kube: bool,
    /// On a node: find the local etcd's endpoint and client certificates from the
    /// distribution's files (K3s, RKE2, kubeadm, Kubespray). Explicit flags still win.
    #[arg(long, global = true, conflicts_with = "bundle")]
    pub local: bool,
    /// With --local: read a copy of a node's filesystem under DIR instead of /.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// With --local on a K3s/RKE2 etcd-only server: the join URL to switch to (it must answer
    /// GET /version as a Kubernetes API); default: an etcd member's host that does.
    #[arg(long, global = true, value_name = "URL", requires = "local")]
    pub server_url: Option<String>,
    /// With --local --fix: how to restart the node's K3s/RKE2 after its join URL changed.
    /// With `apply` of an upgrade plan: how to restart one member on the new version, with
    /// {name}, {id} and {host} of that member (e.g. 'ssh {host} sudo systemctl restart etcd').
    #[arg(
        long,
        global = true,
        value_name = "COMMAND",
        env = "ETCD_DOCTOR_RESTART_COMMAND",
        default_value = DEFAULT_RESTART
    )]
    pub restart_command: String,
    /// The etcd backend quota in bytes (e.g. 8589934592 or 8GiB), when etcd runs with one
    /// its metrics do not show; default: the metric, the status, else etcd's 2 GiB.
    #[arg(long, global = true, value_name = "BYTES", value_parser = crate::duration::parse_bytes)]
    pub quota_bytes: Option<i64>,
    /// How long a restarted member needs before it counts for quorum again: voters whose
    /// processes started closer together than this were down at the same moment.
    #[arg(long, global = true, default_value = "1s", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub restart_window: Duration,
    /// Read captured etcdctl output from DIR instead of asking etcd (offline).
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "endpoints")]
    pub bundle: Option<PathBuf>,
    /// Run only these checks (comma-separated ids).
    #[arg(long, global = true, value_delimiter = ',', value_name = "IDS")]
    pub checks: Vec<String>,
    /// Skip these checks (comma-separated ids).
    #[arg(long, global = true, value_delimiter = ',', value_name = "IDS")]
    pub skip: Vec<String>,
    /// Apply the plan's automatic steps (asks first on a terminal; see --yes).
    #[arg(long, global = true)]
    pub fix: bool,
    /// Do not ask before --fix or apply changes the cluster.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// With --fix: also remove this member (repeatable), your decision for a member that is
    /// down, unreachable or hung and will not come back; never done for a member that answers.
    #[arg(long = "remove-member", global = true, value_name = "ID")]
    pub remove_member: Vec<String>,
    /// Warn about certificates expiring within this time (7d and less is critical).
    #[arg(long, global = true, default_value = "30d", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub expiry_warning: Duration,
    /// A node NotReady this long, while its etcd member does not answer, proves the member
    /// gone (a removal may then be planned); shorter outages are "bring it back" cases.
    #[arg(long, global = true, default_value = "5m", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub node_grace: Duration,
    /// How long a promotion waits for a new learner to catch up.
    #[arg(long, global = true, default_value = "2m", value_parser = crate::duration::parse, value_name = "DURATION")]
    pub wait_learner: Duration,
    // new in rolling
    /// `apply` of an upgrade plan: where its backup (a snapshot through the maintenance API)
    /// is written; default: the current directory, as etcd-snapshot-<cluster>-<time>.db.
    #[arg(long, global = true, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// `apply` of an upgrade plan: how long a restart command may run and how long the gate
    /// after it waits for the member to come back before the run stops.
    #[arg(long, global = true, default_value = "2m", value_parser = crate::duration::parse_timeout, value_name = "DURATION")]
    pub gate_timeout: Duration,
    /// Output format.
    #[arg(
        short = 'o',
        long = "output",
        visible_short_alias = 'w',
        visible_alias = "write-out",
        global = true,
        value_enum,
        default_value_t
    )]
    pub output: Output,
    // new in table
    /// Tables without their header lines (for scripts: `members --no-headers | awk '{print $1}'`).
    #[arg(long, global = true)]
    pub no_headers: bool,
    /// Which findings make the exit code non-zero: warning (1 for warnings, 2 for critical),
    /// critical (only critical: 2), never (0; 3 and 4 keep their meaning).
    #[arg(long, global = true, value_enum, default_value_t, value_name = "SEVERITY")]
    pub fail_on: FailOn,
}
