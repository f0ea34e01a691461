//! `-o junit`: the selected checks as a test run, so CI systems show an audit like tests.
//!
//! Shape, chosen for how GitLab, Jenkins and the GitHub test reporters display JUnit: one
//! `<testsuite>` (the cluster); one `<testcase>` per finding that fails the run, so each is
//! its own red line with its own message (most readers show only the first `<failure>` of a
//! case); one passing `<testcase>` per check that ran and failed nothing; one
//! `<testcase><skipped message="why"/>` per selected check that could not run (its input
//! was missing). Deselected checks (`--checks`, `--skip`) are not listed. `classname` is
//! `etcd-doctor.<check-id>` (Jenkins shows it as package and class) and names start with the
//! check id (GitLab and GitHub show the name). Findings below `--fail-on` and info findings
//! are `<system-out>` of their check's first case: visible, not failing.

use std::collections::BTreeMap;

use etcd_doctor_checks::registry::CheckInfo;
use etcd_doctor_checks::{finding::Finding, report::Report};

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

/// The report as a JUnit XML document. `checks` lists every check; the report's summary says
/// which were selected, which ran and why the others did not (without one, all ran).
pub fn render(r: &Report, checks: &[&CheckInfo]) -> String {
    let fail_on = r.summary.as_ref().map(|s| s.fail_on).unwrap_or_default();
    let skipped: BTreeMap<&str, &etcd_doctor_checks::registry::SkippedCheck> =
        r.summary.iter().flat_map(|s| &s.checks_skipped).map(|s| (s.id.as_str(), s)).collect();
    let mut cases = String::new();
    let (mut tests, mut failures, mut skips) = (0, 0, 0);
    for c in checks {
        let skip = skipped.get(c.id);
        if skip.is_some_and(|s| s.deselected) {
            continue;
        }
        let found: Vec<&Finding> = r.findings.iter().filter(|f| f.check == c.id).collect();
        let (failing, quiet): (Vec<&Finding>, Vec<&Finding>) = found.iter().partition(|f| fail_on.fails(f.severity));
        let out: Vec<String> =
            quiet.iter().map(|f| format!("[{}] {}: {}", f.severity.as_str(), f.subject, f.message)).collect();
        let system_out = if out.is_empty() {
            String::new()
        } else {
            format!("      <system-out>{}</system-out>\n", esc(&out.join("\n")))
        };
        let class = format!("etcd-doctor.{}", c.id);
        if failing.is_empty() {
            tests += 1;
            cases.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\">\n", esc(&class), esc(c.id)));
            // A check that could not run proves nothing: skipped with why, never passed.
            if let Some(s) = skip {
                skips += 1;
                cases.push_str(&format!("      <skipped message=\"{}\"/>\n", esc(&s.reason)));
            }
            cases.push_str(&system_out);
            cases.push_str("    </testcase>\n");
            continue;
        }
        // Names must differ within a class: a subject seen twice gets its count.
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, f) in failing.iter().enumerate() {
            tests += 1;
            failures += 1;
            let n = seen.entry(f.subject.as_str()).or_insert(0);
            *n += 1;
            let name =
                if *n == 1 { format!("{}: {}", c.id, f.subject) } else { format!("{}: {} ({n})", c.id, f.subject) };
            cases.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\">\n", esc(&class), esc(&name)));
            cases.push_str(&format!(
                "      <failure type=\"{}\" message=\"{}\">[{}] {}: {}\n{}\nmore: kubectl etcd-doctor explain {}</failure>\n",
                f.severity.as_str(),
                esc(&f.message),
                f.severity.as_str(),
                esc(&f.subject),
                esc(&f.message),
                esc(c.title),
                esc(c.id)
            ));
            if i == 0 {
                cases.push_str(&system_out);
            }
            cases.push_str("    </testcase>\n");
        }
    }
    let mut err: Vec<String> = r.gaps.iter().map(|g| format!("{}: {}", g.source, g.reason)).collect();
    if let Some(s) = &r.summary {
        err.push(s.line.clone());
    }
    let cluster = r.cluster_id.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into());
    let stamp = r.collected_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"etcd-doctor\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skips}\">\n  <testsuite name=\"etcd cluster {}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skips}\" timestamp=\"{}\">\n{cases}    <system-err>{}</system-err>\n  </testsuite>\n</testsuites>\n",
        esc(&cluster),
        esc(&stamp),
        esc(&err.join("\n"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_doctor_checks::model::Snapshot;
    use etcd_doctor_checks::registry::{self, Selection};
    use etcd_doctor_checks::report::FailOn;
    use serde_json::json;

    /// Three voters: 1 and 2 answer (1 leads), 3 refuses at its client URL.
    fn snapshot() -> Snapshot {
        let member = |n: u64, answer: serde_json::Value| {
            json!({"id": format!("{n:x}"), "name": format!("m{n}"), "peerUrls": [format!("https://10.0.0.{n}:2380")],
                   "clientUrls": [format!("https://10.0.0.{n}:2379")], "isLearner": false, "node": null,
                   "probe": {"attempts": [{"endpoint": format!("https://10.0.0.{n}:2379"), "result": answer}]}})
        };
        let ok = |n: u64| {
            json!({"Ok": {"memberId": format!("{n:x}"), "clusterId": "c1", "version": "3.5.16", "dbSize": 2097152,
                          "dbSizeInUse": 1048576, "leader": "1", "raftTerm": 2, "revision": 50, "raftIndex": 100,
                          "raftAppliedIndex": 100, "isLearner": false, "errors": [], "dbSizeQuota": null}})
        };
        let refused = json!({"Err": "dial tcp 10.0.0.3:2379: connect: connection refused"});
        let snap = json!({"source": "live", "collectedAt": "2026-12-01T10:00:00Z", "clusterId": "c1",
            "members": [member(1, ok(1)), member(2, ok(2)), member(3, refused)],
            "alarms": [], "hostAddrs": {}, "gaps": []});
        serde_json::from_value(snap).unwrap_or_else(|e| panic!("test snapshot: {e}"))
    }

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(esc("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos; ");
    }

    fn junit(skip: &[&str], fail_on: FailOn) -> String {
        let snap = snapshot();
        let sel = Selection::new(&[], &skip.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_or_default();
        let mut r = Report::build(&snap, registry::run_all(&snap, &sel), Default::default());
        r.summarize(registry::coverage(&snap, &sel), fail_on);
        render(&r, &registry::ALL.iter().map(|c| c.info()).collect::<Vec<_>>())
    }

    #[test]
    fn lists_selected_checks_skips_those_without_input_and_fails_per_finding() {
        let xml = junit(&["version-skew"], FailOn::Warning);
        assert!(!xml.contains("version-skew"), "a deselected check is not a test:\n{xml}");
        // No certificates, no metrics in the test snapshot: skipped with the reason.
        assert!(xml.contains("name=\"ca-mismatch\">\n      <skipped message=\"no certificates were read"), "{xml}");
        assert!(xml.contains("name=\"restart-wave\">\n      <skipped message=\"no metrics were read"), "{xml}");
        // The down voter: one failing case per finding, named by check and subject.
        assert!(xml.contains("name=\"stale-member: member 3 (m3)\">\n      <failure type="), "{xml}");
        let cases = xml.matches("<testcase ").count();
        let failures = xml.matches("<failure ").count();
        let skipped = xml.matches("<skipped ").count();
        assert!(failures >= 2, "{xml}");
        assert!(
            xml.contains(&format!("tests=\"{cases}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\"")),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testcase classname=\"etcd-doctor.unstarted-member\" name=\"unstarted-member\">\n    </testcase>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn findings_below_fail_on_do_not_fail() {
        let xml = junit(&[], FailOn::Never);
        assert!(!xml.contains("<failure"), "{xml}");
        assert!(xml.contains("<system-out>[critical]"), "{xml}");
    }
}
