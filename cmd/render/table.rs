//! Tables for people: the member table, then findings worst first (each ending with where to
//! read more), then what could not be read, then the plan, then one summary line.
//! kubectl-style borderless columns (`columns.rs`): nothing wraps when piped.

use etcd_doctor_checks::evidence::MemberState;
use etcd_doctor_checks::registry::CheckInfo;
use etcd_doctor_checks::report::MemberRow;
use etcd_doctor_checks::{quorum::Quorum, report::Report};

use super::columns::{Column, Layout, Table, para};

/// The whole report.
pub fn report(r: &Report, l: &Layout) -> String {
    let mut out = members_titled(r, l);
    if let Some(local_node) = &r.local {
        out.push_str(&local(local_node, l));
    }
    out.push('\n');
    if r.findings.is_empty() {
        out.push_str("FINDINGS: none\n");
    } else {
        out.push_str("FINDINGS\n");
        let mut t = Table::new(vec![
            Column::token("SEVERITY"),
            Column::token("CHECK"),
            Column::text("SUBJECT"),
            Column::text("DETAILS"),
        ]);
        for f in &r.findings {
            t.row(vec![
                f.severity.as_str().to_uppercase(),
                f.check.clone(),
                f.subject.clone(),
                format!("{}\nmore: kubectl etcd-doctor explain {}", f.message, f.check),
            ]);
        }
        out.push_str(&t.render(l));
    }
    if let Some(c) = &r.certificates {
        out.push_str(&certificates(r, c, l));
    }
    if !r.gaps.is_empty() {
        out.push_str("\nCOULD NOT READ\n");
        for g in &r.gaps {
            out.push_str(&para(&format!("{}: {}", g.source, g.reason), l, 2, 2));
        }
    }
    if !r.alarms.is_empty() {
        out.push_str("\nALARMS\n");
        for a in &r.alarms {
            out.push_str(&para(&format!("{} on member {}", a.alarm, a.member_id), l, 2, 2));
        }
    }
    if let Some(ready) = r.upgrade_ready {
        let bad = r.findings.iter().filter(|f| f.severity != etcd_doctor_checks::finding::Severity::Info).count();
        out.push('\n');
        out.push_str(&para(
            &if ready {
                "UPGRADE: ready (no finding worse than info)".to_string()
            } else {
                format!("UPGRADE: blocked by {bad} finding(s) above; fix them first")
            },
            l,
            0,
            2,
        ));
    }
    out.push_str("\nPLAN\n");
    if r.plan.steps.is_empty() {
        out.push_str("  nothing to do automatically\n");
    } else {
        for s in &r.plan.steps {
            out.push_str(&step(s.n, s.automatic, &s.description, &s.commands, l));
        }
    }
    if let Some(s) = &r.summary {
        out.push('\n');
        out.push_str(&para(&s.line, l, 0, 2));
    }
    out
}

/// A plan step: its description wrapped on a terminal; its commands never (they are copied
/// and pasted whole).
fn step(n: usize, automatic: bool, description: &str, commands: &[String], l: &Layout) -> String {
    let how = if automatic { "automatic" } else { "manual" };
    let mut out = para(&format!("{n}. [{how}] {description}"), l, 2, 5);
    for c in commands {
        out.push_str(&format!("       {c}\n"));
    }
    out
}

/// The certificates seen: one row per member URL and per file, leaf certificates only.
fn certificates(r: &Report, c: &etcd_doctor_checks::cert::Certs, layout: &Layout) -> String {
    let mut t = Table::new(vec![
        Column::text("WHERE"),
        Column::text("SUBJECT"),
        Column::text("ISSUER").optional(1),
        Column::token("NOT AFTER"),
        Column::list("SIGNED BY TRUSTED CA"),
        Column::text("HANDSHAKE"),
    ]);
    let date = |t: time::OffsetDateTime| t.date().to_string();
    // Only the CA each certificate must chain to: the clients' for a server certificate, the
    // peer CA for a peer certificate, the one etcd trusts for clients for a client certificate.
    let trusted = |ci: &etcd_doctor_checks::cert::CertInfo, roles: &[etcd_doctor_checks::cert::CertRole]| -> String {
        let lines: Vec<String> = roles
            .iter()
            .filter_map(|r| r.signed_by())
            .filter_map(|ca| {
                ci.chains_to.get(&ca).map(|v| format!("{}: {}", ca.as_str(), if *v { "yes" } else { "NO" }))
            })
            .collect();
        if lines.is_empty() { "?".to_string() } else { lines.join("\n") }
    };
    for p in &c.presented {
        let name = r.members.iter().find(|m| m.id == p.member_id).map(|m| m.name.clone()).unwrap_or_default();
        let hs = match (&p.refused_by, &p.error) {
            (_, None) => "ok".to_string(),
            (Some(etcd_doctor_checks::cert::Side::EtcdDoctor), _) => "refused by etcd-doctor".to_string(),
            (Some(etcd_doctor_checks::cert::Side::Member), _) => "member refused our cert".to_string(),
            (None, Some(e)) => e.chars().take(40).collect(),
        };
        let role = if p.port == etcd_doctor_checks::cert::Port::Client {
            etcd_doctor_checks::cert::CertRole::Server
        } else {
            etcd_doctor_checks::cert::CertRole::Peer
        };
        match p.chain.first() {
            Some(l) => t.row(vec![
                format!("{name} {}", p.url),
                l.subject.clone(),
                l.issuer.clone(),
                date(l.not_after),
                trusted(l, std::slice::from_ref(&role)),
                hs,
            ]),
            None => t.row(vec![format!("{name} {}", p.url), "-".into(), "-".into(), "-".into(), "-".into(), hs]),
        };
    }
    for f in &c.files {
        let roles = f.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
        match (f.leaf(), &f.error) {
            (Some(l), None) => {
                let trust =
                    if f.roles.iter().all(|r| r.is_ca()) { "(CA)".to_string() } else { trusted(l, f.roles.as_slice()) };
                t.row(vec![
                    format!("{} [{roles}]", f.path),
                    l.subject.clone(),
                    l.issuer.clone(),
                    date(l.not_after),
                    trust,
                    "-".into(),
                ])
            }
            _ => t.row(vec![
                format!("{} [{roles}]", f.path),
                "unreadable".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
        };
    }
    format!("\nCERTIFICATES\n{}", t.render(layout))
}

/// A plan file for people.
pub fn plan_file(doc: &etcd_doctor_checks::plan_file::PlanFile, l: &Layout) -> String {
    let mut out = format!("PLAN ({} member(s), {})\n", doc.state.len(), doc.fingerprint);
    if doc.steps.is_empty() {
        out.push_str("  nothing to do\n");
    }
    for s in &doc.steps {
        out.push_str(&step(s.n, s.automatic, &s.description, &s.commands, l));
    }
    out.push_str("\nWrite it with -o yaml and apply it with: kubectl etcd-doctor apply -f plan.yaml\n");
    out
}

/// `members`: the member table; with `--no-headers` only its rows (for scripts).
pub fn members(r: &Report, l: &Layout) -> String {
    if l.no_headers { member_table(r, l) } else { members_titled(r, l) }
}

/// The member table under its title line (cluster id, quorum, distribution).
fn members_titled(r: &Report, l: &Layout) -> String {
    let cluster = r.cluster_id.map(|c| format!("cluster {c}: ")).unwrap_or_default();
    let dist = r
        .distribution
        .and_then(|d| serde_json::to_value(d).ok())
        .and_then(|v| v.as_str().map(|s| format!(", {s}")))
        .unwrap_or_default();
    let mut out = para(&format!("MEMBERS ({cluster}{}{dist})", quorum_line(&r.quorum, &r.members)), l, 0, 2);
    out.push_str(&member_table(r, l));
    out
}

/// The member table. On a terminal too narrow for every column the URLs give way first, then
/// REACHABLE and LEARNER (the state says as much), then NODE; `-o wide` keeps them all.
fn member_table(r: &Report, l: &Layout) -> String {
    let with_node = r.members.iter().any(|m| m.node.is_some());
    let mut cols = vec![
        Column::token("ID"),
        Column::token("NAME"),
        Column::list("PEER URLS").optional(3),
        Column::list("CLIENT URLS").optional(3),
        Column::token("LEARNER").optional(2),
        Column::token("STATE"),
        Column::token("REACHABLE").optional(2),
        Column::token("LEADER"),
        Column::token("VERSION"),
        Column::token("DB SIZE"),
    ];
    if with_node {
        cols.push(Column::token("NODE").optional(1));
    }
    let mut t = Table::new(cols);
    for m in &r.members {
        t.row(member_cells(m, with_node));
    }
    t.render(l)
}

fn member_cells(m: &MemberRow, with_node: bool) -> Vec<String> {
    let yn = |b: Option<bool>| match b {
        Some(true) => "yes".to_string(),
        Some(false) => "no".to_string(),
        None => "?".to_string(),
    };
    let name = if m.name.is_empty() { "(unstarted)".to_string() } else { m.name.clone() };
    let mut cells = vec![
        m.id.to_string(),
        name,
        m.peer_urls.join("\n"),
        m.client_urls.join("\n"),
        if m.is_learner { "yes".into() } else { "no".into() },
        m.state.to_string(),
        yn(m.reachable),
        match m.leader {
            Some(true) => "*".into(),
            Some(false) => String::new(),
            None => "?".into(),
        },
        m.version.clone().unwrap_or_else(|| "-".into()),
        m.db_size_bytes.map(human_bytes).unwrap_or_else(|| "-".into()),
    ];
    if with_node {
        cells.push(m.node.clone().unwrap_or_else(|| "-".into()));
    }
    cells
}

/// `3 voters, quorum 2, 3 healthy, tolerates 1 failure`; "QUORUM LOST" only when proven (even
/// the voters not proven unhealthy are fewer than a quorum); otherwise, when the evidence leaves
/// it open, "could not decide" and which voters are not proven either way.
pub fn quorum_line(q: &Quorum, members: &[MemberRow]) -> String {
    // No member list was read (`--local` with no etcd answering): nothing to count.
    if members.is_empty() {
        return "no member list: could not decide".to_string();
    }
    let head = format!("{} voters, quorum {}", q.voters, q.quorum);
    let tolerates = |t: i64| if t == 1 { "tolerates 1 failure".to_string() } else { format!("tolerates {t} failures") };
    if q.lost() {
        return format!("{head}, at most {} healthy, QUORUM LOST", q.healthy_voters_max);
    }
    match q.fault_tolerance {
        Some(t) if t < 0 => format!("{head}, {} healthy, QUORUM LOST", q.healthy_voters_max),
        Some(t) => format!("{head}, {} healthy, {}", q.healthy_voters_min, tolerates(t)),
        None => {
            let mut open: Vec<String> = Vec::new();
            for state in [
                MemberState::Unknown,
                MemberState::Unreachable,
                MemberState::Hung,
                MemberState::Alive,
                MemberState::Electing,
            ] {
                let n = members.iter().filter(|m| !m.is_learner && m.state == state).count();
                if n > 0 {
                    open.push(format!("{n} {state}"));
                }
            }
            let verdict = if q.tolerance_min() < 0 {
                "could not decide whether quorum is lost".to_string()
            } else {
                format!("could not decide: tolerates {} to {} failures", q.tolerance_min(), q.tolerance_max())
            };
            format!(
                "{head}, {} to {} healthy, {verdict} (not proven: {})",
                q.healthy_voters_min,
                q.healthy_voters_max,
                open.join(", ")
            )
        }
    }
}

/// The list of checks.
pub fn checks(list: &[&CheckInfo], l: &Layout) -> String {
    let mut t = Table::new(vec![Column::token("ID"), Column::token("SEVERITY"), Column::text("TITLE")]);
    for c in list {
        t.row(vec![c.id.to_string(), c.severity.as_str().to_string(), c.title.to_string()]);
    }
    t.render(l)
}

/// Sizes as etcdctl prints them (SI units).
pub fn human_bytes(n: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", units[u]) }
}

/// The node-local facts: what this node is and, on a K3s/RKE2 etcd-only server, its join URL.
fn local(l: &etcd_doctor_checks::node_local::LocalNode, layout: &Layout) -> String {
    let mut head = format!("THIS NODE: {} (from {})", l.distribution, l.source);
    if let Some(m) = &l.member_name {
        head.push_str(&format!(", member {m}"));
    }
    if l.etcd_only {
        head.push_str(", etcd-only (API server disabled)");
    }
    let mut out = String::from("\n");
    out.push_str(&para(&head, layout, 0, 2));
    if let Some(j) = &l.join {
        let mut line = format!("joins through {} ({} line {})", j.url, j.file, j.line);
        if let Some(p) = &l.join_probe {
            line.push_str(&format!(": GET /version -> {}", p.detail));
        }
        out.push_str(&para(&line, layout, 2, 2));
    }
    for c in &l.candidates {
        out.push_str(&para(&format!("could join through {}: GET /version -> {}", c.url, c.detail), layout, 2, 2));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(20480), "20.5 kB");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(2_185_646_080), "2.2 GB");
    }
}
