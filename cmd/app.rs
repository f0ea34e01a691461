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
use crate::fix::{self, executor::Executor};
use crate::render;
use etcd_doctor_checks::CertRole;
use etcd_doctor_checks::plan::PlanFile;
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
        Command::Explain { id } => explain(&id),
        Command::Members => {
            let snap = collect(g)?;
            let report = Report::build(&snap, Vec::new(), plan::Plan::default());
            let text = match g.output {
                Output::Table => render::table::members(&report),
                Output::Json => render::json::render(&member_list_doc(&report))?,
                Output::Yaml => render::yaml::render(&member_list_doc(&report))?,
            };
            print(&text)?;
            Ok(exit::CLEAN)
        }
        Command::Check => {
            let (_, report) = diagnose(g)?;
            if !g.fix {
                print(&render_report(&report, g.output)?)?;
                return Ok(report.exit_code());
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
                Some(PlanKind::AddMember { name, peer_url }) => {
                    match etcd_doctor_checks::procedure::add_member(&snap, &name, &peer_url) {
                        Ok(p) => p,
                        Err(e @ etcd_doctor_checks::procedure::AddMemberError::AlreadyMember { .. }) => {
                            let _ = writeln!(std::io::stderr(), "{e}");
                            let empty = plan::Plan { fingerprint: plan::fingerprint(&snap), steps: Vec::new() };
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
        Command::Bundle { what: BundleKind::Collect { dir } } => {
            if g.bundle.is_some() {
                bail!("bundle collect reads a live cluster; --bundle is already a bundle");
            }
            let snap = collect(g)?;
            let files = crate::collect::bundle_write::write(&snap, &dir)?;
            let _ = writeln!(std::io::stderr(), "wrote {} to {}", files.join(", "), dir.display());
            Ok(exit::CLEAN)
        }
    }
}

/// Collects and judges: the snapshot and its report (with the plan).
fn diagnose(g: &Global) -> Result<(Snapshot, Report)> {
    let sel = Selection::new(&g.checks, &g.skip)?;
    let snap = collect(g)?;
    let findings = registry::run_all(&snap, &sel);
    let plan = plan::plan(&snap, &findings);
    let report = Report::build(&snap, findings, plan);
    Ok((snap, report))
}

fn render_plan(doc: &PlanFile, o: Output) -> Result<String> {
    match o {
        Output::Table => Ok(render::table::plan_file(doc)),
        Output::Json => render::json::render(doc),
        Output::Yaml => render::yaml::render(doc),
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
    let target = target(g)?;
    let step_delay = match std::env::var("ETCD_DOCTOR_STEP_DELAY") {
        Ok(v) => crate::duration::parse(&v).map_err(|e| anyhow::anyhow!("ETCD_DOCTOR_STEP_DELAY: {e}"))?,
        Err(_) => std::time::Duration::ZERO,
    };
    let ex = Executor { target: &target, step_delay, wait_learner: g.wait_learner };
    let rt = runtime()?;
    let applied: Vec<Applied> = rt.block_on(ex.run(plan));
    if g.output == Output::Table {
        let mut text = String::from("\nAPPLIED\n");
        for a in &applied {
            text.push_str(&format!("  {}. {}: {}\n", a.n, a.result, a.message));
        }
        text.push_str("\nAFTER\n");
        print(&text)?;
    }
    let (_, mut after) = diagnose(g)?;
    let stopped = applied.iter().any(|a| a.result == "refused" || a.result == "failed");
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
    let warn = i64::try_from(g.expiry_warning.as_secs()).unwrap_or(i64::MAX);
    if let Some(dir) = &g.bundle {
        let mut snap = bundle::load(dir, OffsetDateTime::now_utc())?;
        snap.thresholds.expiry_warning_secs = warn;
        return Ok(snap);
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
    let cert_files: Vec<FileSpec>;
    let layout;
    let ((nodes, pods), snap) = if !g.local && g.endpoints.iter().all(|e| e.trim().is_empty()) {
        // Without --endpoints, the etcd pods may say where etcd listens.
        let (_, pods) = rt.block_on(ask_kube());
        if let Some(Ok(p)) = &pods {
            let urls: Vec<String> = p.iter().flat_map(|p| p.advertise_client_urls.clone()).collect();
            if !urls.is_empty() {
                bail!(
                    "no etcd endpoint given; this cluster's etcd pods advertise {}: run again with --endpoints {} and --cacert, --cert, --key \
                     (kubeadm: /etc/kubernetes/pki/etcd/ca.crt, healthcheck-client.crt, healthcheck-client.key on a control-plane node)",
                    urls.join(", "),
                    urls.join(",")
                );
            }
        }
        // No pod to point at: the endpoint error says what to pass.
        return Err(target(g).err().unwrap_or_else(|| anyhow::anyhow!("no etcd endpoint given")));
    } else {
        // Both at once: the API's wait never adds to etcd's (nor the certificate probe's,
        // which runs beside the status probe).
        let (mut target, inputs) = target_and_certs(g)?;
        target.probe = Some(std::sync::Arc::new(inputs.probe));
        let (k, e) = rt.block_on(async { tokio::join!(ask_kube(), etcd::collect(&target)) });
        let (snap, handshakes) = e?;
        cert_files = inputs.files;
        layout = inputs.layout;
        (k, (snap, handshakes))
    };
    let (mut snap, handshakes) = snap;
    let mut set = CertSet::default();
    set.layout(layout);
    for f in &cert_files {
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
    snap.thresholds.expiry_warning_secs = warn;
    if g.local {
        snap.source = etcd_doctor_checks::Source::Local;
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

fn target(g: &Global) -> Result<etcd::Target> {
    target_and_certs(g).map(|(t, _)| t)
}

/// What the certificate checks read: files and the probe's trust and identities.
struct CertInputs {
    files: Vec<FileSpec>,
    probe: ProbeTls,
    layout: Option<etcd_doctor_checks::distribution::Distribution>,
}

/// The target, and the certificate files the flags and `--local` name.
fn target_and_certs(g: &Global) -> Result<(etcd::Target, CertInputs)> {
    let local = if g.local { Some(crate::collect::local::discover(&g.root)?) } else { None };
    let mut files: Vec<FileSpec> = local.as_ref().map(|l| l.cert_files.clone()).unwrap_or_default();
    let (endpoints, cacert, cert, key) = match &local {
        Some(l) => (
            if g.endpoints.iter().all(|e| e.trim().is_empty()) { l.endpoints.clone() } else { g.endpoints.clone() },
            Some(g.cacert.clone().unwrap_or_else(|| l.cacert.clone())),
            Some(g.cert.clone().unwrap_or_else(|| l.cert.clone())),
            Some(g.key.clone().unwrap_or_else(|| l.key.clone())),
        ),
        None => (g.endpoints.clone(), g.cacert.clone(), g.cert.clone(), g.key.clone()),
    };
    let tls = TlsFiles::load(cacert.as_deref(), cert.as_deref(), key.as_deref());
    let tls = match &local {
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
        peer_roots: local.as_ref().and_then(|l| l.peer_ca.as_deref()).map(certs_of).unwrap_or_default(),
        client_identity: cert.as_deref().zip(key.as_deref()).and_then(|(c, k)| pair(c, k)),
        peer_identity: local.as_ref().and_then(|l| l.peer_pair.as_ref()).and_then(|(c, k)| pair(c, k)),
    };
    let target = etcd::Target::new(&endpoints, tls, g.dial_timeout, g.command_timeout)?;
    Ok((target, CertInputs { files, probe, layout: local.as_ref().and_then(|l| l.layout()) }))
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
