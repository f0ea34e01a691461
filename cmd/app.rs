//! Dispatches the command line: gather (`collect::gather`), judge (checks, plan), then render
//! or execute; picks the exit code.

use std::ffi::OsString;
use std::io::Write;

use anyhow::{Context, Result, bail};
use etcd_doctor_checks::registry::{self, Selection};
use etcd_doctor_checks::{model::Snapshot, plan, report::Report};
use serde_json::json;

use crate::cli::{ApplyArgs, BundleKind, Command, FixArgs, Global, Invocation, Output, PlanKind, RemovalArgs};
use crate::collect::gather::{Gathered, Mode, Route, find_exec, gather, runtime};
use crate::exit;
use crate::fix::executor::Executor;
use crate::fix::{self};
use crate::render;
use etcd_doctor_checks::plan_file::{self, PlanFile};

/// Parses `args` and runs; returns the exit code, or an error meaning "could not run".
pub fn run<I: IntoIterator<Item = OsString>>(args: I) -> Result<i32> {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some((words, descriptions)) = crate::completion::request(&args) {
        print(&crate::completion::complete(&words).render(descriptions))?;
        return Ok(exit::CLEAN);
    }
    let inv = match Invocation::parse(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::COULD_NOT_RUN } else { exit::CLEAN };
            let _ = e.print();
            return Ok(code);
        }
    };
    match inv.command.clone() {
        Command::Checks(c) => list_checks(&c.out),
        Command::Completion { shell } => {
            print(&crate::completion::script(shell))?;
            Ok(exit::CLEAN)
        }
        // new in ship
        Command::Complete { words } => {
            print(&crate::completion::complete(&words).render(true))?;
            Ok(exit::CLEAN)
        }
        Command::Rbac { exec } => {
            print(if exec { RBAC_EXEC } else { RBAC })?;
            Ok(exit::CLEAN)
        }
        Command::Explain { id } => explain(&id),
        Command::Members(c) => {
            let g = &inv.resolve(&c.conn, &c.kube, &c.node, None, None, Some(&c.out))?;
            let snap = collect(g)?;
            let report = Report::build(&snap, Vec::new(), plan::Plan::default());
            let text = match g.output {
                Output::Table | Output::Wide => render::table::members(&report, &layout(g)),
                Output::Json => render::json::render(&member_list_doc(&report))?,
                Output::Yaml => render::yaml::render(&member_list_doc(&report))?,
                Output::Junit => bail!("-o junit is for check and audit; use -o json or yaml here"),
            };
            print(&text)?;
            Ok(exit::CLEAN)
        }
        Command::Check(c) => {
            let g = &inv.resolve(&c.conn, &c.kube, &c.node, Some(&c.checks), Some(&c.fix), Some(&c.out))?;
            let (Gathered { snap, route }, mut report) =
                diagnose_with(g, &Mode { degrade_local: !g.fix, ..Default::default() })?;
            if !g.fix {
                let code = report.set_exit_code(unreached_exit(&snap, report.exit_code()));
                print(&render_report(&report, g)?)?;
                // The process ends with this: freeing a 5,000-node snapshot piece by piece
                // would cost more than rendering it.
                std::mem::forget(snap);
                return Ok(code);
            }
            if g.bundle.is_some() {
                bail!("--fix needs a live cluster: a bundle is a read-only capture");
            }
            fix_run(g, report, route)
        }
        Command::Plan(p) => {
            let args = match &p.what {
                None => &p.args,
                Some(
                    PlanKind::AddMember { args, .. }
                    | PlanKind::Restart { args }
                    | PlanKind::RemoveMember { args, .. }
                    | PlanKind::Upgrade { args, .. },
                ) => args,
            };
            let fix = FixArgs { fix: false, removal: args.removal.clone(), apply: defaults_apply()? };
            let g =
                &inv.resolve(&args.conn, &args.kube, &args.node, Some(&args.checks), Some(&fix), Some(&args.out))?;
            if let Some(PlanKind::Upgrade { target_version, .. }) = &p.what {
                return plan_upgrade(g, target_version);
            }
            let (Gathered { snap, .. }, report) = diagnose(g)?;
            let plan = match p.what {
                Some(PlanKind::Upgrade { .. }) => unreachable!("returned above"),
                None => report.plan.clone(),
                Some(PlanKind::Restart { .. }) => etcd_doctor_checks::procedure::restart(&snap),
                Some(PlanKind::RemoveMember { id, .. }) => {
                    let ids = member_ids(&snap, std::slice::from_ref(&id))?;
                    plan::plan_with(&snap, &[], &ids)
                }
                Some(PlanKind::AddMember { name, peer_url, .. }) => {
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
                            print(&render_plan(&doc, g)?)?;
                            return Ok(exit::CLEAN);
                        }
                        Err(e) => bail!(e),
                    }
                }
            };
            let doc = PlanFile::new(&snap, &plan);
            print(&render_plan(&doc, g)?)?;
            Ok(exit::CLEAN)
        }
        Command::Apply(a) => {
            let fix =
                FixArgs { fix: false, removal: RemovalArgs { remove_member: Vec::new() }, apply: a.apply.clone() };
            let g = &inv.resolve(&a.conn, &a.kube, &a.node, None, Some(&fix), Some(&a.out))?;
            apply(g, &a.file)
        }
        Command::Audit(a) => {
            let g = &inv.resolve(&a.conn, &a.kube, &a.node, Some(&a.checks), None, Some(&a.out))?;
            if a.gate {
                return audit_gate(g);
            }
            let (pre_upgrade, target_version) = (a.pre_upgrade, a.target_version);
            // An etcd, Kubernetes, K3s or RKE2 version; which etcd it means is decided with the
            // distribution the snapshot shows (the checks name how).
            if let Some(v) = &target_version {
                etcd_doctor_checks::upgrade::resolve(v, None)?;
            }
            let mode = Mode { hashes: true, target_version, degrade_local: true };
            let (Gathered { snap, .. }, mut report) = diagnose_with(g, &mode)?;
            if pre_upgrade {
                report.judge_upgrade(&snap, &registry::coverage(&snap, &Selection::new(&g.checks, &g.skip)?));
            }
            let code = report.set_exit_code(unreached_exit(&snap, report.exit_code()));
            print(&render_report(&report, g)?)?;
            Ok(code)
        }
        Command::Bundle { what: BundleKind::Collect { dir, conn, kube, node } } => {
            if conn.bundle.is_some() {
                bail!("bundle collect reads a live cluster; --bundle is already a bundle");
            }
            let g = &inv.resolve(&conn, &kube, &node, None, None, None)?;
            let snap = collect(g)?;
            let root = g.local.then_some(g.root.as_path());
            let files = crate::collect::bundle_write::write(&snap, &dir, root)?;
            let _ = writeln!(std::io::stderr(), "wrote {} to {}", files.join(", "), dir.display());
            Ok(exit::CLEAN)
        }
    }
}

/// `apply`'s and `plan`'s defaults for the flags they do not take.
fn defaults_apply() -> Result<ApplyArgs> {
    crate::cli::defaults::<ApplyArgs>()
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
    let mut report = Report::build(&gathered.snap, findings, plan);
    report.summarize(registry::coverage(&gathered.snap, &sel), g.fail_on.into());
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

fn render_plan(doc: &PlanFile, g: &Global) -> Result<String> {
    match g.output {
        Output::Table | Output::Wide => Ok(render::table::plan_file(doc, &layout(g))),
        Output::Json => render::json::render(doc),
        Output::Yaml => render::yaml::render(doc),
        Output::Junit => bail!("-o junit is for check and audit; write plans with -o yaml"),
    }
}

/// `--fix`: show the plan, confirm, apply, check again.
fn fix_run(g: &Global, before: Report, route: Route) -> Result<i32> {
    if g.output.is_table() {
        print(&render_report(&before, g)?)?;
    }
    let automatic = before.plan.steps.iter().filter(|s| s.automatic).count();
    if automatic == 0 {
        if before.plan.steps.is_empty() {
            if !g.output.is_table() {
                print(&render_report(&before, g)?)?;
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
    report.set_exit_code(exit::REFUSED);
    if !g.output.is_table() {
        report.applied = Some(Vec::new());
        print(&render_report(&report, g)?)?;
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
            let exec = exec_target(g, &rt)?;
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
    if g.output.is_table() {
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
    let code = after.set_exit_code(if stopped { exit::REFUSED } else { after.exit_code() });
    print(&render_report(&after, g)?)?;
    Ok(code)
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

    /// `audit --gate`: one verdict.
    fn gate(&self, rt: &tokio::runtime::Runtime, want: &fix::gate::Want) -> Result<fix::gate::Verdict>;
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
            upgrade: Some(upgrade_side(g)),
            // new in inputs: "start it now" while a promotion waits for the operator.
            cue: Some(&|text: &str| {
                let _ = writeln!(std::io::stderr(), "{text}");
            }),
        };
        rt.block_on(ex.run(plan))
    }

    fn gate(&self, rt: &tokio::runtime::Runtime, want: &fix::gate::Want) -> Result<fix::gate::Verdict> {
        rt.block_on(audit_gate_look(self, want))
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
    if let Err(why) = restart_command_for(g, &doc.plan()) {
        let _ = writeln!(std::io::stderr(), "refused: {why}; nothing was changed");
        return Ok(exit::REFUSED);
    }
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

// new in rolling: plan upgrade, the restart command and gate of its apply, audit --gate.

/// The exact etcd release `--target-version` names (an etcd version, or a Kubernetes, K3s or
/// RKE2 release whose etcd is known to the patch): a rolling upgrade's gates compare each
/// member's version with it, so a minor line alone is not enough.
fn target_etcd_version(raw: &str) -> Result<String> {
    let t = etcd_doctor_checks::upgrade::resolve(raw, None)?;
    match (t.etcd, t.line) {
        (Some(v), _) => Ok(v.to_string()),
        (None, Some((a, b))) => bail!(
            "--target-version {raw:?} means etcd {a}.{b}.x, not one release; the gates compare each member's \
             version with the target: pass the etcd release your distribution installs, e.g. --target-version {a}.{b}.<patch>"
        ),
        (None, None) => bail!(
            "could not decide which etcd {raw:?} ships (it is outside the distribution map); pass the etcd release \
             itself, e.g. --target-version 3.5.21"
        ),
    }
}

/// `plan upgrade`: diagnosed as `audit --pre-upgrade` does (the same blockers), then planned.
fn plan_upgrade(g: &Global, raw: &str) -> Result<i32> {
    let target = target_etcd_version(raw)?;
    let mode = Mode { hashes: true, target_version: Some(target.clone()), degrade_local: false };
    let (Gathered { snap, .. }, report) = diagnose_with(g, &mode)?;
    let dir = g.backup_dir.clone().unwrap_or_else(|| std::path::PathBuf::from("."));
    let mut etcdctl_tls = Vec::new();
    for (flag, v) in [("--cacert", &g.cacert), ("--cert", &g.cert), ("--key", &g.key)] {
        if let Some(p) = v {
            etcdctl_tls.push(format!("{flag}={}", p.display()));
        }
    }
    let opts = plan::upgrade::UpgradeOptions {
        target,
        backup_file: dir.join("etcd-snapshot.db").display().to_string(),
        etcdctl_tls,
    };
    let plan = plan::upgrade::upgrade(&snap, &report.findings, &opts);
    let doc = PlanFile::new(&snap, &plan);
    print(&render_plan(&doc, g)?)?;
    Ok(exit::CLEAN)
}

/// The `--restart-command` a plan's restart steps run: refused when the plan has one and the
/// command is the default (meant for `--local --fix`) or names an unknown placeholder.
fn restart_command_for(g: &Global, plan: &plan::Plan) -> std::result::Result<Option<String>, String> {
    let restarts = plan.steps.iter().any(|s| s.automatic && s.action == plan::Action::RestartMember);
    if !restarts {
        return Ok(None);
    }
    if g.restart_command == crate::cli::DEFAULT_RESTART {
        return Err(
            "this plan restarts members: give --restart-command with the command that restarts one member on the new version ({name}, {id}, {host} are replaced; e.g. 'ssh {host} sudo systemctl restart etcd'); the plan's manual lines show the distribution's own tooling".into(),
        );
    }
    fix::gate::check_restart_command(&g.restart_command).map_err(|e| format!("--restart-command: {e}"))?;
    Ok(Some(g.restart_command.clone()))
}

fn upgrade_side(g: &Global) -> crate::fix::executor::UpgradeSide {
    let restart_command = (g.restart_command != crate::cli::DEFAULT_RESTART
        && fix::gate::check_restart_command(&g.restart_command).is_ok())
    .then(|| g.restart_command.clone());
    crate::fix::executor::UpgradeSide {
        restart_command,
        gate_timeout: g.gate_timeout,
        gate_every: std::time::Duration::from_millis(500),
        backup_dir: g.backup_dir.clone().unwrap_or_else(|| std::path::PathBuf::from(".")),
    }
}

/// A gate look, tried up to three times about 300 ms apart: one follower a few entries behind
/// under writes is not "not ready".
async fn audit_gate_look<E: crate::etcd::Etcd>(etcd: &E, want: &fix::gate::Want) -> Result<fix::gate::Verdict> {
    let mut last = None;
    for _ in 0..3 {
        let v = fix::gate::look_once(etcd, want).await.context("no member list")?;
        if v.ready {
            return Ok(v);
        }
        last = Some(v);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    last.context("no look was made")
}

/// `audit --gate` not ready: 2, "at least one critical finding" in the contract's words (a
/// voter down, behind or electing is what a gate exists to catch), documented with --gate.
const GATE_NOT_READY: i32 = 2;

/// The etcd pod to run etcdctl in, found again through the kubeconfig (the pod route of
/// `apply` and `audit --gate`).
fn exec_target(g: &Global, rt: &tokio::runtime::Runtime) -> Result<crate::etcd::exec::ExecTarget> {
    let k = crate::collect::kube::KubeTarget {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        timeout: g.dial_timeout + g.command_timeout,
    };
    rt.block_on(async {
        let (client, server) =
            crate::collect::kube::client(&k).await.map_err(|gap| anyhow::anyhow!("{}", gap.reason))?;
        find_exec(g, client, &server).await
    })
}

/// `audit --gate`: 0 ready; 2 not ready, with one line saying why; 3 could not run.
fn audit_gate(g: &Global) -> Result<i32> {
    if g.bundle.is_some() {
        bail!("audit --gate asks the live cluster; a bundle is a capture of the past");
    }
    let Gathered { route, .. } = gather(g, &Mode::default())?;
    let rt = runtime()?;
    let want = fix::gate::Want::default();
    let verdict = match route {
        Route::Bundle => bail!("audit --gate asks the live cluster"),
        Route::Pod => {
            let exec = exec_target(g, &rt)?;
            exec.gate(&rt, &want)?
        }
        Route::Grpc(target) => target.gate(&rt, &want)?,
    };
    let doc = json!({
        "apiVersion": "etcd-doctor/v1",
        "kind": "Gate",
        "ready": verdict.ready,
        "notReady": verdict.not_ready,
        "seen": verdict.seen,
    });
    match g.output {
        Output::Table | Output::Wide => print(&format!("gate: {}\n", verdict.line()))?,
        Output::Json => print(&render::json::render(&doc)?)?,
        Output::Yaml => print(&render::yaml::render(&doc)?)?,
        Output::Junit => bail!("-o junit is for check and audit; use -o json or yaml with --gate"),
    }
    Ok(if verdict.ready { exit::CLEAN } else { GATE_NOT_READY })
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

fn render_report(r: &Report, g: &Global) -> Result<String> {
    match g.output {
        Output::Table | Output::Wide => Ok(render::table::report(r, &layout(g))),
        Output::Json => render::json::render(r),
        Output::Yaml => render::yaml::render(r),
        Output::Junit => Ok(render::junit::render(r, &registry::ALL.iter().map(|c| c.info()).collect::<Vec<_>>())),
    }
}

/// How tables are laid out on stdout (terminal width, `-o wide`, `--no-headers`).
fn layout(g: &Global) -> render::columns::Layout {
    render::columns::Layout::stdout(g.output == Output::Wide, g.no_headers)
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

fn list_checks(out: &crate::cli::OutputArgs) -> Result<i32> {
    let infos: Vec<_> = registry::ALL.iter().map(|c| c.info()).collect();
    let output = out.output;
    let text = match output {
        Output::Table | Output::Wide => {
            render::table::checks(&infos, &render::columns::Layout::stdout(output == Output::Wide, out.no_headers))
        }
        Output::Json | Output::Yaml => {
            let doc: Vec<_> = infos
                .iter()
                .map(|c| json!({"id": c.id, "severity": c.severity, "title": c.title, "since": c.since}))
                .collect();
            if output == Output::Json { render::json::render(&doc)? } else { render::yaml::render(&doc)? }
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

/// The RBAC roles, compiled in so a krew install (which keeps no deploy/ on PATH) can print them.
const RBAC: &str = include_str!("../deploy/rbac.yaml");
const RBAC_EXEC: &str = include_str!("../deploy/rbac-exec.yaml");

fn print(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}
