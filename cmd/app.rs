//! Wires the command line to collectors, checks and renderers, and picks the exit code.

use std::ffi::OsString;
use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Parser;
use etcd_doctor_checks::registry::{self, Selection};
use etcd_doctor_checks::{Report, Snapshot, plan};
use serde_json::json;
use time::OffsetDateTime;

use crate::cli::{Cli, Command, Global, Output};
use crate::collect::{bundle, etcd, tls::TlsFiles};
use crate::exit;
use crate::render;

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
            let sel = Selection::new(&g.checks, &g.skip)?;
            let snap = collect(g)?;
            let findings = registry::run_all(&snap, &sel);
            let plan = plan::Plan { fingerprint: plan::fingerprint(&snap), steps: Vec::new() };
            let report = Report::build(&snap, findings, plan);
            print(&render_report(&report, g.output)?)?;
            Ok(report.exit_code())
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
    if let Some(dir) = &g.bundle {
        return bundle::load(dir, OffsetDateTime::now_utc());
    }
    let tls = TlsFiles::load(g.cacert.as_deref(), g.cert.as_deref(), g.key.as_deref())?;
    let target = etcd::Target::new(&g.endpoints, tls, g.dial_timeout, g.command_timeout)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(etcd::collect(&target))
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
