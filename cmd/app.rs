//! Wires the command line to collectors, checks and renderers, and picks the exit code.

use std::ffi::OsString;
use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Parser;
use etcd_doctor_checks::registry::{self, Selection};
use etcd_doctor_checks::{Report, Snapshot, plan};
use serde_json::json;
use time::OffsetDateTime;

use crate::cli::{BundleKind, Cli, Command, Global, Output, PlanKind};
use crate::collect::certs::{CertSet, FileSpec};
use crate::collect::tls_probe::ProbeTls;
use crate::collect::{bundle, etcd, tls::TlsFiles};
use crate::exit;
use crate::fix::executor::{Executor, Via};
use crate::fix::{self};
use crate::render;
use etcd_doctor_checks::CertRole;
use etcd_doctor_checks::plan_file::{self, PlanFile};
use etcd_doctor_checks::report::Applied;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// Parses `args` and runs; returns the exit code, or an error meaning "could not run".
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> Result<i32> {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::COULD_NOT_RUN } else { exit::CLEAN };
            let _ = e.print();
            return Ok(code);
        }
    };
    let g = &cli.global;
    match cli.command.unwrap_or(Command::Check) {
        Command::Checks => list_checks(g),
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            // Named as the binary kubectl runs, which is what shells complete.
            clap_complete::generate(shell, &mut cmd, "kubectl-etcd_doctor", &mut out);
            print(&String::from_utf8_lossy(&out))?;
            Ok(exit::CLEAN)
        }
        Command::Explain { id } => explain(&id),
        Command::Members => {
            let snap = collect(g)?;
            let report = Report::build(&snap, Vec::new(), plan::Plan::default());
            let text = match g.output {
                Output::Table => render::table::members(&report),
                Output::Json => render::json::render(&member_list_doc(&report))?,
                Output::Yaml => render::yaml::render(&member_list_doc(&report))?,
                Output::Junit => bail!("-o junit is for check and audit; use -o json or yaml here"),
            };
            print(&text)?;
            Ok(exit::CLEAN)
        }
        Command::Check => {
            let (snap, report) = diagnose_with(g, &Mode { degrade_local: !g.fix, ..Default::default() })?;
            if !g.fix {
                print(&render_report(&report, g.output)?)?;
                return Ok(unreached_exit(&snap, report.exit_code()));
            }
            if g.bundle.is_some() {
                bail!("--fix needs a live cluster: a bundle is a read-only capture");
            }
            fix_run(g, report)
        }
        Command::Plan { what } => {
            let (snap, report) = diagnose(g)?;
            let plan = match what {
                None => report.plan.clone(),
                Some(PlanKind::Restart) => etcd_doctor_checks::procedure::restart(&snap),
                Some(PlanKind::RemoveMember { id }) => {
                    let ids = member_ids(&snap, std::slice::from_ref(&id))?;
                    plan::plan_with(&snap, &[], &ids)
                }
                Some(PlanKind::AddMember { name, peer_url }) => {
                    match etcd_doctor_checks::procedure::add_member(&snap, &name, &peer_url) {
                        Ok(p) => p,
                        Err(e @ etcd_doctor_checks::procedure::AddMemberError::AlreadyMember { .. }) => {
                            let _ = writeln!(std::io::stderr(), "{e}");
                            let empty = plan::Plan { fingerprint: plan_file::fingerprint(&snap), steps: Vec::new() };
                            let doc = PlanFile::new(&snap, &empty);
                            print(&render_plan(&doc, g.output)?)?;
                            return Ok(exit::CLEAN);
                        }
                        Err(e) => bail!(e),
                    }
                }
            };
            let doc = PlanFile::new(&snap, &plan);
            print(&render_plan(&doc, g.output)?)?;
            Ok(exit::CLEAN)
        }
        Command::Apply { file } => apply(g, &file),
        Command::Audit { pre_upgrade, target_version } => {
            if let Some(v) = &target_version
                && etcd_doctor_checks::checks::version_of(v).is_none()
            {
                bail!("--target-version {v:?} is not an etcd version like 3.5.17");
            }
            if g.fix {
                bail!("audit only reports; run `kubectl etcd-doctor --fix` to apply the plan");
            }
            let mode = Mode { hashes: true, target_version, degrade_local: true };
            let (snap, mut report) = diagnose_with(g, &mode)?;
            if pre_upgrade {
                report.upgrade_ready = Some(
                    !snap.members.is_empty()
                        && report.findings.iter().all(|f| f.severity == etcd_doctor_checks::Severity::Info),
                );
            }
            print(&render_report(&report, g.output)?)?;
            Ok(unreached_exit(&snap, report.exit_code()))
        }
        Command::Bundle { what: BundleKind::Collect { dir } } => {
            if g.bundle.is_some() {
                bail!("bundle collect reads a live cluster; --bundle is already a bundle");
            }
            let snap = collect(g)?;
            let root = g.local.then_some(g.root.as_path());
            let files = crate::collect::bundle_write::write(&snap, &dir, root)?;
            let _ = writeln!(std::io::stderr(), "wrote {} to {}", files.join(", "), dir.display());
            Ok(exit::CLEAN)
        }
    }
}

/// What a run collects beyond the default.
#[derive(Default)]
struct Mode {
    /// `--local` with no etcd answering: report what the node's files say instead of failing.
    degrade_local: bool,
    /// HashKV across members (`audit`): it reads the whole keyspace, so not on every check.
    hashes: bool,
    /// `audit --target-version`.
    target_version: Option<String>,
}

/// `--local` when no etcd endpoint answered: the report of the node's files was printed; a
/// critical finding there (it says why etcd is down) sets the code, else it is still "could
/// not run" (3), as the contract has it for no reachable endpoint.
fn unreached_exit(snap: &Snapshot, code: i32) -> i32 {
    let unreached = snap.source == etcd_doctor_checks::Source::Local
        && snap.members.is_empty()
        && snap.gaps.iter().any(|g| g.source == "etcd");
    if unreached && code < 2 {
        let _ =
            writeln!(std::io::stderr(), "no etcd endpoint answered: the report shows only what this node's files say");
        exit::COULD_NOT_RUN
    } else {
        code
    }
}

/// Collects and judges: the snapshot and its report (with the plan).
fn diagnose(g: &Global) -> Result<(Snapshot, Report)> {
    diagnose_with(g, &Mode::default())
}

fn diagnose_with(g: &Global, mode: &Mode) -> Result<(Snapshot, Report)> {
    let sel = Selection::new(&g.checks, &g.skip)?;
    let snap = collect_with(g, mode)?;
    let findings = registry::run_all(&snap, &sel);
    let removals = member_ids(&snap, &g.remove_member)?;
    let plan = plan::plan_with(&snap, &findings, &removals);
    let report = Report::build(&snap, findings, plan);
    Ok((snap, report))
}

/// Member ids as the operator typed them (hex padded or not, or decimal), each resolved to the
/// member of this snapshot it can stand for; one that names no member is kept, so the plan
/// says so.
fn member_ids(snap: &Snapshot, raw: &[String]) -> Result<Vec<etcd_doctor_checks::MemberId>> {
    raw.iter()
        .map(|s| {
            let c = etcd_doctor_checks::MemberId::candidates(s).with_context(|| {
                format!("--remove-member {s:?}: not a member id (hex as etcdctl prints it, or decimal)")
            })?;
            let known = c.iter().copied().find(|id| snap.member(*id).is_some());
            Ok(match known {
                Some(id) => id,
                None => etcd_doctor_checks::MemberId::parse_lenient(s)?,
            })
        })
        .collect()
}

fn render_plan(doc: &PlanFile, o: Output) -> Result<String> {
    match o {
        Output::Table => Ok(render::table::plan_file(doc)),
        Output::Json => render::json::render(doc),
        Output::Yaml => render::yaml::render(doc),
        Output::Junit => bail!("-o junit is for check and audit; write plans with -o yaml"),
    }
}

/// `--fix`: show the plan, confirm, apply, check again.
fn fix_run(g: &Global, before: Report) -> Result<i32> {
    if g.output == Output::Table {
        print(&render_report(&before, g.output)?)?;
    }
    let automatic = before.plan.steps.iter().filter(|s| s.automatic).count();
    if automatic == 0 {
        if before.plan.steps.is_empty() {
            if g.output != Output::Table {
                print(&render_report(&before, g.output)?)?;
            }
            return Ok(before.exit_code());
        }
        return refuse(g, before, "nothing here can be fixed automatically: the manual steps above need a person");
    }
    if let Err(fix::Refusal(why)) = fix::confirm(&before.plan, g.yes)? {
        return refuse(g, before, &why);
    }
    execute_and_recheck(g, &before.plan)
}

fn refuse(g: &Global, mut report: Report, why: &str) -> Result<i32> {
    let _ = writeln!(std::io::stderr(), "refused: {why}");
    if g.output != Output::Table {
        report.applied = Some(Vec::new());
        print(&render_report(&report, g.output)?)?;
    }
    Ok(exit::REFUSED)
}

/// Runs the executor, collects again, and reports what was applied and what is left.
fn execute_and_recheck(g: &Global, plan: &plan::Plan) -> Result<i32> {
    let step_delay = match std::env::var("ETCD_DOCTOR_STEP_DELAY") {
        Ok(v) => crate::duration::parse(&v).map_err(|e| anyhow::anyhow!("ETCD_DOCTOR_STEP_DELAY: {e}"))?,
        Err(_) => std::time::Duration::ZERO,
    };
    let node = g
        .local
        .then(|| crate::fix::executor::NodeSide { root: g.root.clone(), restart_command: g.restart_command.clone() });
    let rt = runtime()?;
    let applied: Vec<Applied> = if exec_mode(g) {
        let k = crate::collect::kube::KubeTarget {
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone(),
            timeout: g.dial_timeout + g.command_timeout,
        };
        let exec = rt.block_on(async {
            let (client, _) =
                crate::collect::kube::client(&k).await.map_err(|gap| anyhow::anyhow!("{}", gap.reason))?;
            find_exec(g, client).await
        })?;
        let ex = Executor { target: Via::Exec(&exec), step_delay, wait_learner: g.wait_learner, node };
        rt.block_on(ex.run(plan))
    } else {
        let target = target(g)?;
        let ex = Executor { target: Via::Grpc(&target), step_delay, wait_learner: g.wait_learner, node };
        rt.block_on(ex.run(plan))
    };
    if g.output == Output::Table {
        let mut text = String::from("\nAPPLIED\n");
        for a in &applied {
            text.push_str(&format!("  {}. {}: {}\n", a.n, a.result, a.message));
        }
        text.push_str("\nAFTER\n");
        print(&text)?;
    }
    let (_, mut after) = diagnose(g)?;
    let stopped = applied.iter().any(|a| a.result.stops());
    after.applied = Some(applied);
    print(&render_report(&after, g.output)?)?;
    Ok(if stopped { exit::REFUSED } else { after.exit_code() })
}

/// `apply -f`: refuse a plan made for another state, else run it.
fn apply(g: &Global, file: &std::path::Path) -> Result<i32> {
    if g.bundle.is_some() {
        bail!("apply needs a live cluster: a bundle is a read-only capture");
    }
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read plan file {}", file.display()))?;
    let doc: PlanFile = serde_yaml_ng::from_str(&text).with_context(|| {
        format!("cannot parse plan file {} (made by `kubectl etcd-doctor plan -o yaml`?)", file.display())
    })?;
    let snap = collect(g)?;
    match doc.check_against(&snap) {
        Err(changes) => {
            let mut msg = String::from("refused: the cluster changed since the plan was made; make a new plan:");
            for c in changes {
                msg.push_str(&format!("\n  - {c}"));
            }
            let _ = writeln!(std::io::stderr(), "{msg}");
            Ok(exit::REFUSED)
        }
        Ok(k) => {
            if k > 0 {
                let _ = writeln!(
                    std::io::stderr(),
                    "resuming: the first {k} automatic step(s) of this plan already happened"
                );
            }
            let plan = doc.plan();
            if let Err(fix::Refusal(why)) = fix::confirm(&plan, g.yes)? {
                let _ = writeln!(std::io::stderr(), "refused: {why}");
                return Ok(exit::REFUSED);
            }
            execute_and_recheck(g, &plan)
        }
    }
}

fn render_report(r: &Report, o: Output) -> Result<String> {
    match o {
        Output::Table => Ok(render::table::report(r)),
        Output::Json => render::json::render(r),
        Output::Yaml => render::yaml::render(r),
        Output::Junit => Ok(render::junit::render(r, &registry::ALL.iter().map(|c| c.info()).collect::<Vec<_>>())),
    }
}

fn member_list_doc(r: &Report) -> serde_json::Value {
    json!({
        "apiVersion": r.api_version,
        "kind": "MemberList",
        "source": r.source,
        "clusterID": r.cluster_id,
        "members": r.members,
        "quorum": r.quorum,
        "gaps": r.gaps,
    })
}

/// Collects a snapshot from the input the flags name.
pub fn collect(g: &Global) -> Result<Snapshot> {
    collect_with(g, &Mode::default())
}

fn collect_with(g: &Global, mode: &Mode) -> Result<Snapshot> {
    let mut snap = collect_inputs(g, mode)?;
    snap.audit.quota_bytes = g.quota_bytes;
    snap.audit.restart_window_secs = Some(g.restart_window.as_secs());
    snap.audit.target_version = mode.target_version.clone();
    snap.thresholds.expiry_warning_secs = i64::try_from(g.expiry_warning.as_secs()).unwrap_or(i64::MAX);
    snap.thresholds.node_grace_secs = i64::try_from(g.node_grace.as_secs()).unwrap_or(i64::MAX);
    Ok(snap)
}

fn collect_inputs(g: &Global, mode: &Mode) -> Result<Snapshot> {
    if let Some(dir) = &g.bundle {
        return bundle::load(dir, OffsetDateTime::now_utc());
    }
    let kube = (!g.no_kube).then(|| crate::collect::kube::KubeTarget {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        timeout: g.dial_timeout + g.command_timeout,
    });
    let rt = runtime()?;
    let ask_kube = || async {
        match &kube {
            None => (None, None),
            Some(k) => match crate::collect::kube::client(k).await {
                Err(gap) => (Some(Err(gap)), None),
                Ok((client, server)) => {
                    let (n, p) = tokio::join!(
                        crate::collect::kube::nodes_with(client.clone(), &server, k.timeout),
                        crate::collect::kube::etcd_pods(client, &server, k.timeout)
                    );
                    (Some(n), Some(p))
                }
            },
        }
    };
    let local = if g.local { Some(crate::collect::local::discover(&g.root)?) } else { None };
    let ((nodes, pods), mut snap) = if exec_mode(g) {
        // No endpoint: reach etcd through the API, with etcdctl inside an etcd pod.
        let Some(k) = &kube else {
            return Err(target(g).err().unwrap_or_else(|| anyhow::anyhow!("no etcd endpoint given")));
        };
        rt.block_on(async {
            let (client, server) = crate::collect::kube::client(k).await.map_err(|gap| {
                anyhow::anyhow!(
                    "no etcd endpoint given, and the Kubernetes API cannot be asked to reach etcd: {}. Pass --endpoints, --cacert, --cert and --key ({})",
                    gap.reason,
                    crate::collect::tls::PATH_HINT
                )
            })?;
            let exec = find_exec(g, client.clone()).await?;
            let _shown = crate::progress::Progress::start(&format!("asking etcd through pod kube-system/{}…", exec.pod));
            let (n, p, s) = tokio::join!(
                crate::collect::kube::nodes_with(client.clone(), &server, k.timeout),
                crate::collect::kube::etcd_pods(client, &server, k.timeout),
                exec.collect()
            );
            let mut s = s?;
            s.gaps.push(etcd_doctor_checks::Gap::new(
                "certificates",
                "not checked through the Kubernetes API route (pass --endpoints and the certificate flags, or run --local on a node)",
            ));
            s.gaps.push(etcd_doctor_checks::Gap::new(
                "metrics",
                "members' /metrics and HashKV are not read through the Kubernetes API route: restart-wave and hash-mismatch could not decide",
            ));
            anyhow::Ok(((Some(n), Some(p)), s))
        })?
    } else {
        // All at once: the API's wait never adds to etcd's, nor does the certificate probe,
        // which runs beside the status probe.
        let (mut target, inputs) = target_and_certs(g, local.as_ref())?;
        target.probe = Some(std::sync::Arc::new(inputs.probe));
        let _shown = crate::progress::Progress::start(&format!(
            "asking etcd at {} and its members{}…",
            target.endpoints().join(","),
            if kube.is_some() { ", and the Kubernetes API" } else { "" }
        ));
        let (k, e) = rt.block_on(async {
            let etcd = async {
                let (mut snap, handshakes) = etcd::collect(&target).await?;
                // After the statuses, which say the URL each member answers on.
                crate::collect::audit_facts::metrics(&target, &mut snap).await;
                if mode.hashes {
                    crate::collect::audit_facts::hashes(&target, &mut snap).await;
                }
                anyhow::Ok((snap, handshakes))
            };
            tokio::join!(ask_kube(), etcd)
        });
        let (mut snap, handshakes) = match e {
            Ok(x) => x,
            // On a node, etcd that does not answer is often etcd that refuses to start (an
            // ETCD_INITIAL_CLUSTER with a duplicate URL): the node's own files still say why, so
            // the run degrades to a report of them with the failure as a gap.
            Err(err) if local.is_some() && mode.degrade_local => {
                let mut s = Snapshot::new(etcd_doctor_checks::Source::Local, OffsetDateTime::now_utc());
                s.gaps.push(etcd_doctor_checks::Gap::new("etcd", format!("{err:#}")));
                (s, Vec::new())
            }
            Err(err) => return Err(err),
        };
        let mut set = CertSet::default();
        set.layout(inputs.layout);
        for f in &inputs.files {
            set.add_file(f);
        }
        for h in handshakes {
            set.add_handshake(h);
        }
        if !set.is_empty() {
            let (certs, gaps) = set.finish();
            snap.gaps.extend(gaps);
            snap.certs = Some(certs);
            crate::collect::certs::unknown_when_refused(&mut snap);
        }
        (k, snap)
    };
    if let Some(l) = &local {
        snap.source = etcd_doctor_checks::Source::Local;
        let timeout = g.dial_timeout + g.command_timeout;
        rt.block_on(crate::collect::join_probe::run(&mut snap, l, g.server_url.as_deref(), timeout))?;
    }
    match nodes {
        Some(Ok(n)) => snap.nodes = Some(n),
        Some(Err(gap)) => snap.gaps.push(gap),
        None => snap.gaps.push(etcd_doctor_checks::Gap::new("kubernetes", "not asked (--no-kube)")),
    }
    match pods {
        Some(Ok(p)) => snap.etcd_pods = Some(p),
        Some(Err(gap)) => snap.gaps.push(gap),
        None => {}
    }
    snap.map_nodes();
    Ok(snap)
}

/// No endpoint, not on a node, and the API may be asked: etcd is reached through an etcd pod.
fn exec_mode(g: &Global) -> bool {
    !g.local && !g.no_kube && g.endpoints.iter().all(|e| e.trim().is_empty())
}

/// The etcd pod to run etcdctl in, or an error that says what to pass instead.
async fn find_exec(g: &Global, client: kube::Client) -> Result<crate::collect::pod_exec::ExecTarget> {
    crate::collect::pod_exec::ExecTarget::find(client, g.dial_timeout, g.command_timeout).await.map_err(|why| {
        anyhow::anyhow!(
            "no etcd endpoint given, and etcd cannot be reached through the Kubernetes API ({why}). Pass --endpoints, --cacert, --cert and --key ({})",
            crate::collect::tls::PATH_HINT
        )
    })
}

fn target(g: &Global) -> Result<etcd::Target> {
    let local = if g.local { Some(crate::collect::local::discover(&g.root)?) } else { None };
    target_and_certs(g, local.as_ref()).map(|(t, _)| t)
}

/// What the certificate checks read: files and the probe's trust and identities.
struct CertInputs {
    files: Vec<FileSpec>,
    probe: ProbeTls,
    layout: Option<etcd_doctor_checks::distribution::Distribution>,
}

/// The target, and the certificate files the flags and `--local` name; explicit flags win
/// over what `--local` found.
fn target_and_certs(g: &Global, local: Option<&crate::collect::local::Local>) -> Result<(etcd::Target, CertInputs)> {
    let mut files: Vec<FileSpec> = local.map(|l| l.cert_files.clone()).unwrap_or_default();
    let (endpoints, cacert, cert, key) = match local {
        Some(l) => (
            if g.endpoints.iter().all(|e| e.trim().is_empty()) { l.endpoints.clone() } else { g.endpoints.clone() },
            Some(g.cacert.clone().unwrap_or_else(|| l.cacert.clone())),
            Some(g.cert.clone().unwrap_or_else(|| l.cert.clone())),
            Some(g.key.clone().unwrap_or_else(|| l.key.clone())),
        ),
        None => (g.endpoints.clone(), g.cacert.clone(), g.cert.clone(), g.key.clone()),
    };
    let tls = TlsFiles::load(cacert.as_deref(), cert.as_deref(), key.as_deref());
    let tls = match local {
        Some(l) => tls.with_context(|| format!("--local ({} layout from {})", l.distribution, l.source.display()))?,
        None => tls?,
    };
    if let Some(ca) = &cacert {
        files.push(FileSpec::new(ca, &[CertRole::ServerCa], "--cacert"));
    }
    if let (Some(c), Some(k)) = (&cert, &key) {
        files.push(FileSpec::new(c, &[CertRole::Client], "--cert").key(k));
    }
    let certs_of = |p: &std::path::Path| crate::collect::certs::read_certs(p).unwrap_or_default();
    let pair = |c: &std::path::Path, k: &std::path::Path| {
        let chain = certs_of(c);
        let key = std::fs::read(k).ok().and_then(|b| PrivateKeyDer::from_pem_slice(&b).ok());
        key.filter(|_| !chain.is_empty()).map(|k| (chain, k))
    };
    let probe = ProbeTls {
        server_roots: cacert.as_deref().map(certs_of).unwrap_or_default(),
        peer_roots: local.and_then(|l| l.peer_ca.as_deref()).map(certs_of).unwrap_or_default(),
        client_identity: cert.as_deref().zip(key.as_deref()).and_then(|(c, k)| pair(c, k)),
        peer_identity: local.and_then(|l| l.peer_pair.as_ref()).and_then(|(c, k)| pair(c, k)),
    };
    let target = etcd::Target::new(&endpoints, tls, g.dial_timeout, g.command_timeout)?;
    Ok((target, CertInputs { files, probe, layout: local.and_then(|l| l.layout()) }))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn list_checks(g: &Global) -> Result<i32> {
    let infos: Vec<_> = registry::ALL.iter().map(|c| c.info()).collect();
    let text = match g.output {
        Output::Table => render::table::checks(&infos),
        Output::Json | Output::Yaml => {
            let doc: Vec<_> = infos
                .iter()
                .map(|c| json!({"id": c.id, "severity": c.severity, "title": c.title, "since": c.since}))
                .collect();
            if g.output == Output::Json { render::json::render(&doc)? } else { render::yaml::render(&doc)? }
        }
        Output::Junit => bail!("-o junit is for check and audit; use -o json or yaml here"),
    };
    print(&text)?;
    Ok(exit::CLEAN)
}

fn explain(id: &str) -> Result<i32> {
    match registry::find(id) {
        Some(c) => {
            print(c.info().docs)?;
            Ok(exit::CLEAN)
        }
        None => {
            Selection::new(&[id.to_string()], &[])?;
            bail!("unknown check id {id:?}")
        }
    }
}

fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}
