//! Tables for people: the member table, then findings worst first (each ending with where to
//! read more), then what could not be read, then the plan. kubectl-style borderless columns.

use comfy_table::{ContentArrangement, Table, presets};
use etcd_doctor_checks::evidence::MemberState;
use etcd_doctor_checks::registry::CheckInfo;
use etcd_doctor_checks::report::MemberRow;
use etcd_doctor_checks::{quorum::Quorum, report::Report};

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    // Piped or in CI there is no terminal to measure: wrap at $COLUMNS, else 160, so a long
    // finding does not become one 500-character line.
    if t.width().is_none() {
        let cols = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<u16>().ok()).filter(|c| *c >= 60);
        t.set_width(cols.unwrap_or(160));
    }
    t
}

/// The whole report.
pub fn report(r: &Report) -> String {
    let mut out = members(r);
    if let Some(l) = &r.local {
        out.push_str(&local(l));
    }
    out.push('\n');
    if r.findings.is_empty() {
        out.push_str("FINDINGS: none\n");
    } else {
        out.push_str("FINDINGS\n");
        let mut t = table(&["SEVERITY", "CHECK", "SUBJECT", "DETAILS"]);
        for f in &r.findings {
            t.add_row(vec![
                f.severity.as_str().to_uppercase(),
                f.check.clone(),
                f.subject.clone(),
                format!("{}\nmore: kubectl etcd-doctor explain {}", f.message, f.check),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    if let Some(c) = &r.certificates {
        out.push_str(&certificates(r, c));
    }
    if !r.gaps.is_empty() {
        out.push_str("\nCOULD NOT READ\n");
        for g in &r.gaps {
            out.push_str(&format!("  {}: {}\n", g.source, g.reason));
        }
    }
    if !r.alarms.is_empty() {
        out.push_str("\nALARMS\n");
        for a in &r.alarms {
            out.push_str(&format!("  {} on member {}\n", a.alarm, a.member_id));
        }
    }
    out.push_str(&super::upgrade::line(r));
    out.push_str("\nPLAN\n");
    if r.plan.steps.is_empty() {
        out.push_str("  nothing to do automatically\n");
    } else {
        for s in &r.plan.steps {
            let how = if s.automatic { "automatic" } else { "manual" };
            out.push_str(&format!("  {}. [{how}] {}\n", s.n, s.description));
            for c in &s.commands {
                out.push_str(&format!("       {c}\n"));
            }
        }
    }
    out
}

/// The certificates seen: one row per member URL and per file, leaf certificates only.
fn certificates(r: &Report, c: &etcd_doctor_checks::cert::Certs) -> String {
    let mut t = table(&["WHERE", "SUBJECT", "ISSUER", "NOT AFTER", "SIGNED BY TRUSTED CA", "HANDSHAKE"]);
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
            Some(l) => t.add_row(vec![
                format!("{name} {}", p.url),
                l.subject.clone(),
                l.issuer.clone(),
                date(l.not_after),
                trusted(l, std::slice::from_ref(&role)),
                hs,
            ]),
            None => t.add_row(vec![format!("{name} {}", p.url), "-".into(), "-".into(), "-".into(), "-".into(), hs]),
        };
    }
    for f in &c.files {
        let roles = f.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
        match (f.leaf(), &f.error) {
            (Some(l), None) => {
                let trust =
                    if f.roles.iter().all(|r| r.is_ca()) { "(CA)".to_string() } else { trusted(l, f.roles.as_slice()) };
                t.add_row(vec![
                    format!("{} [{roles}]", f.path),
                    l.subject.clone(),
                    l.issuer.clone(),
                    date(l.not_after),
                    trust,
                    "-".into(),
                ])
            }
            _ => t.add_row(vec![
                format!("{} [{roles}]", f.path),
                "unreadable".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
        };
    }
    format!("\nCERTIFICATES\n{t}\n")
}

/// A plan file for people.
pub fn plan_file(doc: &etcd_doctor_checks::plan_file::PlanFile) -> String {
    let mut out = format!("PLAN ({} member(s), {})\n", doc.state.len(), doc.fingerprint);
    if doc.steps.is_empty() {
        out.push_str("  nothing to do\n");
    }
    for s in &doc.steps {
        let how = if s.automatic { "automatic" } else { "manual" };
        out.push_str(&format!("  {}. [{how}] {}\n", s.n, s.description));
        for c in &s.commands {
            out.push_str(&format!("       {c}\n"));
        }
    }
    out.push_str("\nWrite it with -o yaml and apply it with: kubectl etcd-doctor apply -f plan.yaml\n");
    out
}

/// The member table with its quorum line.
pub fn members(r: &Report) -> String {
    let mut out = String::new();
    let cluster = r.cluster_id.map(|c| format!("cluster {c}: ")).unwrap_or_default();
    let dist = r
        .distribution
        .and_then(|d| serde_json::to_value(d).ok())
        .and_then(|v| v.as_str().map(|s| format!(", {s}")))
        .unwrap_or_default();
    out.push_str(&format!("MEMBERS ({cluster}{}{dist})\n", quorum_line(&r.quorum, &r.members)));
    let with_node = r.members.iter().any(|m| m.node.is_some());
    let mut header =
        vec!["ID", "NAME", "PEER URLS", "CLIENT URLS", "LEARNER", "STATE", "REACHABLE", "LEADER", "VERSION", "DB SIZE"];
    if with_node {
        header.push("NODE");
    }
    let mut t = table(&header);
    for m in &r.members {
        t.add_row(member_cells(m, with_node));
    }
    out.push_str(&t.to_string());
    out.push('\n');
    out
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
pub fn checks(list: &[&CheckInfo]) -> String {
    let mut t = table(&["ID", "SEVERITY", "TITLE"]);
    for c in list {
        t.add_row(vec![c.id.to_string(), c.severity.as_str().to_string(), c.title.to_string()]);
    }
    format!("{t}\n")
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
fn local(l: &etcd_doctor_checks::node_local::LocalNode) -> String {
    let mut out = format!("\nTHIS NODE: {} (from {})", l.distribution, l.source);
    if let Some(m) = &l.member_name {
        out.push_str(&format!(", member {m}"));
    }
    if l.etcd_only {
        out.push_str(", etcd-only (API server disabled)");
    }
    out.push('\n');
    if let Some(j) = &l.join {
        out.push_str(&format!("  joins through {} ({} line {})", j.url, j.file, j.line));
        if let Some(p) = &l.join_probe {
            out.push_str(&format!(": GET /version -> {}", p.detail));
        }
        out.push('\n');
    }
    for c in &l.candidates {
        out.push_str(&format!("  could join through {}: GET /version -> {}\n", c.url, c.detail));
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
