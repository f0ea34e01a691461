//! The pre-upgrade verdict of the table (`UPGRADE: ready | blocked … | not verified: …`), one
//! reason a line; the verdict itself is judged in `checks` (`upgrade::verdict`).

use etcd_doctor_checks::report::Report;

/// The verdict block for `audit --pre-upgrade`, with the resolved target; empty otherwise.
pub fn line(r: &Report) -> String {
    let Some(u) = &r.upgrade else { return String::new() };
    let mut out = String::from("\n");
    match u.status.as_str() {
        "blocked" => {
            out.push_str(&format!("UPGRADE: blocked by {}; fix them first\n", u.blocked_by.join(", ")));
            if !u.not_verified.is_empty() {
                out.push_str("  also not verified:\n");
            }
        }
        "not-verified" => {
            let what: Vec<&str> = u.not_verified.iter().map(|n| short(n)).collect();
            out.push_str(&format!("UPGRADE: not verified: {} (what would read them below)\n", what.join(", ")));
        }
        _ => out.push_str(&format!("{}\n", u.line)),
    }
    for n in &u.not_verified {
        out.push_str(&format!("  - {n}\n"));
    }
    if let Some(t) = &u.target {
        let (input, how) = (t["input"].as_str().unwrap_or_default(), t["how"].as_str().unwrap_or_default());
        out.push_str(&format!("  target {input}: {how}\n"));
    }
    out
}

/// What a reason is about: `certificates` of "certificates: no certificates were read …", the
/// member of "k8s-cp-3 (…) was not reached …".
fn short(reason: &str) -> &str {
    match reason.split_once(": ") {
        Some((head, _)) if head.len() <= 30 => head,
        _ => reason.split(" (").next().unwrap_or(reason),
    }
}
