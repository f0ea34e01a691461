//! The pre-upgrade verdict line of the table (`UPGRADE: ready | blocked … | not verified: …`);
//! the verdict itself is judged in `checks` (`upgrade::verdict`).

use etcd_doctor_checks::report::Report;

/// `\nUPGRADE: …\n` for `audit --pre-upgrade`, with the resolved target; empty otherwise.
pub fn line(r: &Report) -> String {
    let Some(u) = &r.upgrade else { return String::new() };
    let mut out = format!("\n{}\n", u.line);
    if let Some(how) = u.target.as_ref().and_then(|t| t["how"].as_str()) {
        let input = u.target.as_ref().and_then(|t| t["input"].as_str()).unwrap_or_default();
        out.push_str(&format!("  target {input}: {how}\n"));
    }
    out
}
