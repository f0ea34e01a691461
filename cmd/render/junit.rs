//! `-o junit`: one test case per check that ran, failed by each warning or critical finding
//! (info findings are system-out), so CI systems show an audit like a test run.

use etcd_doctor_checks::registry::CheckInfo;
use etcd_doctor_checks::{finding::Severity, report::Report};

/// XML-escapes text for attributes and bodies.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // XML 1.0 forbids most control characters even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The report as a JUnit XML document. `checks` lists every check; those with findings or in
/// the report's selection become test cases.
pub fn render(r: &Report, checks: &[&CheckInfo]) -> String {
    let mut cases = String::new();
    let (mut failures, mut tests) = (0, 0);
    for c in checks {
        let found: Vec<_> = r.findings.iter().filter(|f| f.check == c.id).collect();
        tests += 1;
        cases.push_str(&format!("    <testcase classname=\"etcd-doctor\" name=\"{}\">\n", esc(c.id)));
        let bad: Vec<_> = found.iter().filter(|f| f.severity != Severity::Info).collect();
        if !bad.is_empty() {
            failures += 1;
            let worst = bad.iter().map(|f| f.severity).max().unwrap_or(Severity::Warning);
            let text: Vec<String> =
                bad.iter().map(|f| format!("[{}] {}: {}", f.severity.as_str(), f.subject, f.message)).collect();
            cases.push_str(&format!(
                "      <failure type=\"{}\" message=\"{}\">{}\nmore: kubectl etcd-doctor explain {}</failure>\n",
                worst.as_str(),
                esc(&format!("{} {} finding(s): {}", bad.len(), worst.as_str(), c.title)),
                esc(&text.join("\n")),
                esc(c.id)
            ));
        }
        let info: Vec<String> = found
            .iter()
            .filter(|f| f.severity == Severity::Info)
            .map(|f| format!("{}: {}", f.subject, f.message))
            .collect();
        if !info.is_empty() {
            cases.push_str(&format!("      <system-out>{}</system-out>\n", esc(&info.join("\n"))));
        }
        cases.push_str("    </testcase>\n");
    }
    let gaps: Vec<String> = r.gaps.iter().map(|g| format!("{}: {}", g.source, g.reason)).collect();
    let cluster = r.cluster_id.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into());
    let stamp = r.collected_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"etcd-doctor\" tests=\"{tests}\" failures=\"{failures}\">\n  <testsuite name=\"etcd cluster {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" timestamp=\"{}\">\n{cases}    <system-err>{}</system-err>\n  </testsuite>\n</testsuites>\n",
        esc(&cluster),
        esc(&stamp),
        esc(&gaps.join("\n"))
    )
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(esc("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos; ");
    }
}
