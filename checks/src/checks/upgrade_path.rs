//! `upgrade-path`: each member's version against `--target-version` under etcd's published
//! rules: one minor at a time (up and down), the minimum patch before a minor upgrade
//! (3.5.20+ before 3.6, etcd#19557; 3.6.11+ before 3.7), and the downgrade limits.

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;
use crate::upgrade::knowledge::{self, Source};
use crate::upgrade::{self, Running, Target};

declare_check! {
    /// A target version etcd's upgrade rules do not allow from what the members run.
    UpgradePath, "upgrade-path", Severity::Critical, "0.2.0",
    "The target version skips a minor, or members are below the minimum patch etcd requires first"
}

impl Check for UpgradePath {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let target = match upgrade::snapshot_target(snap) {
            None => return Vec::new(),
            Some(Err(e)) => return vec![undecided(format!("could not decide: {e}"))],
            Some(Ok(t)) if !t.known() => {
                return vec![
                    undecided(format!("could not decide the upgrade path: --target-version {}: {}", t.input, t.how))
                        .with("target", &t),
                ];
            }
            Some(Ok(t)) => t,
        };
        upgrade::running(snap).iter().filter_map(|r| judge(r, &target)).collect()
    }

    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        match upgrade::snapshot_target(snap) {
            None => Some("no --target-version: the upgrade path needs the version the upgrade goes to".into()),
            Some(Err(e)) => Some(e.to_string()),
            Some(Ok(t)) if !t.known() => Some(format!("the etcd of --target-version {} is {}", t.input, t.how)),
            Some(Ok(_)) => upgrade::versions_missing(snap),
        }
    }
}

fn undecided(message: String) -> Finding {
    Finding::new(UpgradePath::INFO.id, Severity::Info, "cluster", message)
}

fn judge(r: &Running<'_>, t: &Target) -> Option<Finding> {
    let (tmaj, tmin) = t.line?;
    let v = r.version;
    let label = r.member.label();
    let target = t.etcd_text();
    let next = format!("{}.{}", v.major, v.minor + 1);
    let mut todo = format!("bring {label} to a version the rules allow before {target}");
    let (severity, what, sources): (Severity, String, Vec<Source>) = if tmaj != v.major {
        (Severity::Critical, format!("{v} → {target} changes the major version: not a rolling upgrade"), Vec::new())
    } else if tmin > v.minor + 1 {
        todo = format!("upgrade {label} to the latest {next}.x first");
        (
            Severity::Critical,
            format!(
                "upgrading {v} → {target} skips {next}: etcd upgrades one minor version at a time; go to the latest {next}.x first"
            ),
            knowledge::ONE_MINOR_AT_A_TIME[..2].to_vec(),
        )
    } else if tmin == v.minor + 1 {
        let rule = knowledge::minimum_patch(v.minor_line())?;
        let srcs = rule.sources.to_vec();
        todo = format!(
            "upgrade {label} within {}.{} to {} or later (at least {}) before {target}",
            v.major, v.minor, rule.recommended, rule.required
        );
        if v < rule.required {
            (
                Severity::Critical,
                format!(
                    "{v} → {target}: etcd requires every {}.{} member on {} or later first ({}); its current guide asks for {}+",
                    v.major, v.minor, rule.required, rule.why, rule.recommended
                ),
                srcs,
            )
        } else if v < rule.recommended {
            (
                Severity::Warning,
                format!(
                    "{v} → {target}: etcd's upgrade guide asks for {}+ first: later {}.{} patches fix further upgrade blockers",
                    rule.recommended, v.major, v.minor
                ),
                srcs,
            )
        } else {
            return None;
        }
    } else if tmin == v.minor {
        match t.etcd {
            Some(te) if te < v => (
                Severity::Warning,
                format!("{target} is older than {v}: a patch downgrade, not an upgrade"),
                Vec::new(),
            ),
            _ => return None,
        }
    } else if tmin + 1 == v.minor {
        downgrade_one_minor(v, t)?
    } else {
        (
            Severity::Critical,
            format!(
                "{v} → {target} is a downgrade of more than one minor: etcd downgrades one minor at a time, with `etcdctl downgrade`"
            ),
            vec![knowledge::ONE_MINOR_AT_A_TIME[2]],
        )
    };
    let urls: Vec<&str> = sources.iter().map(|s| s.url).collect();
    Some(
        Finding::new(UpgradePath::INFO.id, severity, label.clone(), format!("{label}: {what}"))
            .member(r.member.id, r.member.node.as_deref())
            .with("version", &r.raw)
            .with("targetVersion", &t.input)
            .with("target", t)
            .with("sources", &sources)
            .remedy(Remedy::Manual {
                description: format!(
                    "{todo}, one member at a time (followers first, the leader last), with a snapshot first; see {}",
                    urls.first().copied().unwrap_or("etcd's upgrade guide")
                ),
                commands: vec![
                    "etcdctl snapshot save backup.db".into(),
                    "kubectl etcd-doctor plan restart   # the order: followers first, the leader last".into(),
                ],
            }),
    )
}

/// One minor down: 3.5 → 3.4 not with auth (the state of auth is not read, so it is named) and
/// not below 3.4.32; 3.6+ through `etcdctl downgrade validate/enable`.
fn downgrade_one_minor(v: upgrade::Version, t: &Target) -> Option<(Severity, String, Vec<Source>)> {
    let target = t.etcd_text();
    if (v.major, v.minor) == (3, 5) {
        let too_old = t.etcd.is_some_and(|te| te < knowledge::DOWNGRADE_3_4_MINIMUM);
        let sev = if too_old { Severity::Critical } else { Severity::Warning };
        let floor = if too_old {
            format!("; the 3.4 to go to must be {} or later", knowledge::DOWNGRADE_3_4_MINIMUM)
        } else {
            String::new()
        };
        return Some((
            sev,
            format!(
                "{v} → {target} is a downgrade: not supported while auth is enabled (3.5 changed the WAL format of auth entries; whether auth is on was not read){floor}"
            ),
            vec![knowledge::DOWNGRADE_AUTH_3_5],
        ));
    }
    Some((
        Severity::Warning,
        format!(
            "{v} → {target} is a downgrade: run `etcdctl downgrade validate {0}` and `etcdctl downgrade enable {0}` before replacing any binary",
            t.line.map(|(a, b)| format!("{a}.{b}")).unwrap_or_default()
        ),
        vec![knowledge::DOWNGRADE_3_6],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::with_versions;

    fn run(vs: &[&str], target: &str) -> Vec<Finding> {
        let mut snap = with_versions(vs);
        snap.audit.target_version = Some(target.into());
        UpgradePath.run(&snap)
    }

    fn sev(vs: &[&str], target: &str) -> Vec<Severity> {
        run(vs, target).iter().map(|f| f.severity).collect()
    }

    #[test]
    fn skipping_a_minor_is_critical_and_cites_the_guides() {
        let f = run(&["3.4.23", "3.4.23", "3.4.23"], "3.6.6");
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| f.severity == Severity::Critical && f.message.contains("skips 3.5")), "{f:?}");
        assert!(f[0].evidence["sources"].to_string().contains("etcd.io/docs/v3.6/upgrades/upgrade_3_6"), "{f:?}");
        assert!(run(&["3.4.23"], "v3.5.17").is_empty(), "3.4 → 3.5 has no minimum patch");
    }

    #[test]
    fn the_minimum_patch_before_3_6_and_3_7() {
        assert_eq!(sev(&["3.5.16"], "3.6.0"), vec![Severity::Critical]);
        assert_eq!(sev(&["3.5.20"], "3.6.0"), vec![Severity::Warning]);
        assert_eq!(sev(&["3.5.26"], "3.6.0"), vec![Severity::Warning]);
        assert!(sev(&["3.5.32"], "3.6.0").is_empty());
        assert_eq!(sev(&["3.6.4"], "3.7.0"), vec![Severity::Critical]);
        assert!(sev(&["3.6.11"], "3.7.0").is_empty());
        let f = run(&["3.5.16"], "3.6.0");
        assert!(f[0].message.contains("3.5.20 or later") && f[0].message.contains("etcd#19557"), "{f:?}");
    }

    #[test]
    fn downgrades_one_minor_with_their_limits_and_never_two() {
        let f = run(&["3.5.21"], "3.4.33");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("auth"), "{f:?}");
        assert_eq!(sev(&["3.5.21"], "3.4.23"), vec![Severity::Critical], "below 3.4.32");
        assert!(run(&["3.6.5"], "3.5.26")[0].message.contains("etcdctl downgrade enable 3.5"));
        assert_eq!(sev(&["3.6.5"], "3.4.33"), vec![Severity::Critical]);
        assert_eq!(sev(&["3.5.21"], "3.5.20"), vec![Severity::Warning]);
    }

    #[test]
    fn kubernetes_and_k3s_targets_resolve_and_unknown_ones_say_so() {
        // Kubernetes 1.34 with kubeadm runs etcd 3.6: from 3.5.16 that needs 3.5.20+ first.
        let f = run(&["3.5.16"], "v1.34.2");
        assert_eq!(f[0].severity, Severity::Critical, "{f:?}");
        assert!(f[0].evidence["target"]["source"].as_str().is_some_and(|s| s.contains("kubernetes/pull/138392")));
        let f = run(&["3.5.16"], "v1.33.1+k3s1");
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.contains("unknown"), "{f:?}");
        let mut snap = with_versions(&["3.5.16"]);
        snap.audit.target_version = Some("v1.33.1+k3s1".into());
        assert!(UpgradePath.missing_input(&snap).is_some_and(|m| m.contains("unknown")));
        snap.audit.target_version = None;
        assert!(UpgradePath.missing_input(&snap).is_some_and(|m| m.contains("--target-version")));
    }
}
