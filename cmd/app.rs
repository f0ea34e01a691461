//! Dispatches the command line: gather (`collect::gather`), judge (checks, plan), then render
//! or execute; picks the exit code.

use std::ffi::OsString;
use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Parser;
use etcd_doctor_checks::registry::{self, Selection};
use etcd_doctor_checks::{model::Snapshot, plan, report::Report};
use serde_json::json;

use crate::cli::{BundleKind, Cli, Command, Global, Output, PlanKind};
use crate::collect::gather::{Gathered, Mode, Route, find_exec, gather, runtime};
use crate::exit;
use crate::fix::executor::Executor;
use crate::fix::{self};
use crate::render;
use etcd_doctor_checks::plan_file::{self, PlanFile};

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
            let (Gathered { snap, route }, report) =
                diagnose_with(g, &Mode { degrade_local: !g.fix, ..Default::default() })?;
            if !g.fix {
                print(&render_report(&report, g.output)?)?;
                return Ok(unreached_exit(&snap, report.exit_code()));
            }
            if g.bundle.is_some() {
                bail!("--fix needs a live cluster: a bundle is a read-only capture");
            }
            fix_run(g, report, route)
        }
        Command::Plan { what } => {
            let (Gathered { snap, .. }, report) = diagnose(g)?;
            let plan = match what {
                None => report.plan.clone(),
                Some(PlanKind::Restart) => etcd_doctor_checks::procedure::restart(&snap),
                Some(PlanKind::RemoveMember { id }) => {
                    let ids = member_ids(&snap, std::slice::from_ref(&id))?;
                    plan::plan_with(&snap, &[], &ids)
                }
                Some(PlanKind::AddMember { name, peer_url }) => {
                    // new in inputs: a peer URL of the other scheme than the cluster's is told.
                    for w in etcd_doctor_checks::procedure::add_member_warnings(&snap, &peer_url) {
                        let _ = writeln!(std::io::stderr(), "warning: {w}");
                    }
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
            let (Gathered { snap, .. }, mut report) = diagnose_with(g, &mode)?;
            if pre_upgrade {
                report.upgrade_ready = Some(
                    !snap.members.is_empty()
                        && report.findings.iter().all(|f| f.severity == etcd_doctor_checks::finding::Severity::Info),
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

/// `--local` when no etcd endpoint answered: the report of the node's files was printed; a
/// critical finding there (it says why etcd is down) sets the code, else it is still "could
/// not run" (3), as the contract has it for no reachable endpoint.
fn unreached_exit(snap: &Snapshot, code: i32) -> i32 {
    let unreached = snap.source == etcd_doctor_checks::model::Source::Local
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

/// Gathers and judges: the snapshot, its report (with the plan) and the route etcd was read by.
fn diagnose(g: &Global) -> Result<(Gathered, Report)> {
    diagnose_with(g, &Mode::default())
}

fn diagnose_with(g: &Global, mode: &Mode) -> Result<(Gathered, Report)> {
    let sel = Selection::new(&g.checks, &g.skip)?;
    let gathered = gather(g, mode)?;
    let findings = registry::run_all(&gathered.snap, &sel);
    let removals = member_ids(&gathered.snap, &g.remove_member)?;
    let plan = plan::plan_with(&gathered.snap, &findings, &removals);
    let report = Report::build(&gathered.snap, findings, plan);
    Ok((gathered, report))
}

/// Member ids as the operator typed them (hex padded or not, or decimal), each resolved to the
/// member of this snapshot it can stand for; one that names no member is kept, so the plan
/// says so.
fn member_ids(snap: &Snapshot, raw: &[String]) -> Result<Vec<etcd_doctor_checks::id::MemberId>> {
    raw.iter()
        .map(|s| {
            let c = etcd_doctor_checks::id::MemberId::candidates(s).with_context(|| {
                format!("--remove-member {s:?}: not a member id (hex as etcdctl prints it, or decimal)")
            })?;
            let known = c.iter().copied().find(|id| snap.member(*id).is_some());
            Ok(match known {
                Some(id) => id,
                None => etcd_doctor_checks::id::MemberId::parse_lenient(s)?,
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
fn fix_run(g: &Global, before: Report, route: Route) -> Result<i32> {
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
    execute_and_recheck(g, &before.plan, route)
}

fn refuse(g: &Global, mut report: Report, why: &str) -> Result<i32> {
    let _ = writeln!(std::io::stderr(), "refused: {why}");
    if g.output != Output::Table {
        report.applied = Some(Vec::new());
        print(&render_report(&report, g.output)?)?;
    }
    Ok(exit::REFUSED)
}

/// Runs the executor through the route the state was read by, collects again, and reports
/// what was applied and what is left. SIGINT or SIGTERM stops the run after the current step
/// (a second one quits at once); what was done is still printed and reported, with exit code 4.
fn execute_and_recheck(g: &Global, plan: &plan::Plan, route: Route) -> Result<i32> {
    let step_delay = match std::env::var("ETCD_DOCTOR_STEP_DELAY") {
        Ok(v) => crate::duration::parse(&v).map_err(|e| anyhow::anyhow!("ETCD_DOCTOR_STEP_DELAY: {e}"))?,
        Err(_) => std::time::Duration::ZERO,
    };
    let rt = runtime()?;
    let stop = {
        let _in = rt.enter();
        fix::stop_on_signal().context("cannot watch for SIGINT and SIGTERM")?
    };
    let run_on = |etcd: &dyn RunPlan| etcd.run_plan(&rt, g, step_delay, stop.clone(), plan);
    let run = match route {
        Route::Bundle => bail!("a bundle is a read-only capture: nothing to apply to"),
        Route::Pod => {
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
            run_on(&exec)
        }
        // The target gather built from the flags and what --local read: no second discovery.
        Route::Grpc(target) => run_on(&target),
    };
    if run.interrupted {
        let next = run.applied.len() + 1;
        let _ = writeln!(
            std::io::stderr(),
            "interrupted: stopped before automatic step {next}; the steps before it are done and verified. Run again to continue: it lists the members before acting"
        );
    }
    if g.output == Output::Table {
        let mut text = String::from("\nAPPLIED\n");
        for a in &run.applied {
            text.push_str(&format!("  {}. {}: {}\n", a.n, a.result, a.message));
        }
        if run.interrupted {
            text.push_str("  interrupted: no further step was started\n");
        }
        text.push_str("\nAFTER\n");
        print(&text)?;
    }
    let (_, mut after) = diagnose(g)?;
    let stopped = run.interrupted || run.applied.iter().any(|a| a.result.stops());
    after.applied = Some(run.applied);
    print(&render_report(&after, g.output)?)?;
    Ok(if stopped { exit::REFUSED } else { after.exit_code() })
}

/// The executor over either client (the trait has async methods, so it is not object-safe;
/// this small one is).
trait RunPlan {
    fn run_plan(
        &self,
        rt: &tokio::runtime::Runtime,
        g: &Global,
        step_delay: std::time::Duration,
        stop: tokio::sync::watch::Receiver<bool>,
        plan: &plan::Plan,
    ) -> crate::fix::executor::Run;
}

impl<E: crate::etcd::Etcd> RunPlan for E {
    fn run_plan(
        &self,
        rt: &tokio::runtime::Runtime,
        g: &Global,
        step_delay: std::time::Duration,
        stop: tokio::sync::watch::Receiver<bool>,
        plan: &plan::Plan,
    ) -> crate::fix::executor::Run {
        let node = g.local.then(|| crate::fix::executor::NodeSide {
            root: g.root.clone(),
            restart_command: g.restart_command.clone(),
        });
        let ex = Executor {
            etcd: self,
            step_delay,
            wait_learner: g.wait_learner,
            verify_within: fix::VERIFY_WITHIN,
            node,
            stop: Some(stop),
            // new in inputs: "start it now" while a promotion waits for the operator.
            cue: Some(&|text: &str| {
                let _ = writeln!(std::io::stderr(), "{text}");
            }),
        };
        rt.block_on(ex.run(plan))
    }
}

/// `apply -f`: refuse a plan made for another state, else run it.
fn apply(g: &Global, file: &std::path::Path) -> Result<i32> {
    if g.bundle.is_some() {
        bail!("apply needs a live cluster: a bundle is a read-only capture");
    }
    let text =
        crate::collect::limits::read(file, &crate::collect::limits::PLAN).context("cannot read the plan file")?;
    let doc: PlanFile = fix::plan_input::read(&text, file)?;
    let unknown = doc.unknown_step_members();
    if !unknown.is_empty() {
        let named: Vec<String> = unknown.iter().map(|(n, id)| format!("step {n} names member {id}")).collect();
        let _ = writeln!(
            std::io::stderr(),
            "refused: {}, which is not in the plan's recorded state; nothing was changed (was the plan edited? make a new one)",
            named.join(", ")
        );
        return Ok(exit::REFUSED);
    }
    let Gathered { snap, route } = gather(g, &Mode::default())?;
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
            // new in inputs: a plan of manual steps only is not "applied" to an empty list.
            if !plan.steps.iter().any(|s| s.automatic) {
                return nothing_automatic(&plan);
            }
            if let Err(fix::Refusal(why)) = fix::confirm(&plan, g.yes)? {
                let _ = writeln!(std::io::stderr(), "refused: {why}");
                return Ok(exit::REFUSED);
            }
            execute_and_recheck(g, &plan, route)
        }
    }
}

/// `apply -f` of a plan without automatic steps: nothing is applied; the manual steps are
/// listed for the person who must take them (exit 4, as `--fix` with nothing automatic).
fn nothing_automatic(plan: &plan::Plan) -> Result<i32> {
    if plan.steps.is_empty() {
        let _ = writeln!(std::io::stderr(), "nothing to apply: the plan has no steps");
        return Ok(exit::CLEAN);
    }
    let mut text = format!(
        "nothing automatic to apply: the plan's {} step(s) are manual; nothing was changed. Take them by hand, in order:\n",
        plan.steps.len()
    );
    for s in &plan.steps {
        text.push_str(&format!("  {}. {}\n", s.n, s.description));
        for c in &s.commands {
            text.push_str(&format!("       {c}\n"));
        }
    }
    let _ = write!(std::io::stderr(), "{text}");
    Ok(exit::REFUSED)
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

/// Collects a snapshot from the inputs the flags name (the one gather step).
fn collect(g: &Global) -> Result<Snapshot> {
    gather(g, &Mode::default()).map(|x| x.snap)
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
