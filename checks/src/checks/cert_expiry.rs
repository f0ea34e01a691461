//! `cert-expiry`: a certificate that expired, expires within 7 days (critical) or within
//! `--expiry-warning` (30 days, warning), or is not valid yet — judged against the snapshot's
//! time, never a clock. An expired etcd certificate takes the control plane down: the API
//! server cannot reach etcd, or the members cannot reach each other.

use std::collections::BTreeSet;

use super::{cert_subject, certs_seen};
use crate::cert::rfc3339;
use crate::cert_remedy::{Problem, remedy};
use crate::declare_check;
use crate::finding::{Finding, Severity};
use crate::model::Snapshot;
use crate::registry::Check;

declare_check! {
    /// A certificate that expired, expires soon, or is not valid yet.
    CertExpiry, "cert-expiry", Severity::Critical, "0.2.0",
    "A certificate expired or expires soon"
}

/// Within this many days a certificate is critical.
pub(crate) const CRITICAL_DAYS: i64 = 7;

impl Check for CertExpiry {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        crate::cert::missing(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let now = snap.collected_at;
        let warn = time::Duration::seconds(snap.thresholds.expiry_warning_secs);
        let critical = time::Duration::days(CRITICAL_DAYS);
        let seen = certs_seen(snap);
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut out = Vec::new();
        for s in &seen {
            if !done.insert(s.cert.sha256.as_str()) {
                continue;
            }
            let c = s.cert;
            let left = c.not_after - now;
            let days = c.days_left(now);
            let (severity, state) = if left <= time::Duration::ZERO {
                (Severity::Critical, format!("expired on {} ({} days ago)", rfc3339(c.not_after), -days))
            } else if c.not_before > now {
                (
                    Severity::Critical,
                    format!("is not valid before {} (a clock behind, or issued in the future)", rfc3339(c.not_before)),
                )
            } else if left <= critical {
                (Severity::Critical, format!("expires in {days} day(s), on {}", rfc3339(c.not_after)))
            } else if left <= warn {
                (Severity::Warning, format!("expires in {days} days, on {}", rfc3339(c.not_after)))
            } else {
                continue;
            };
            let mut at: Vec<String> = Vec::new();
            for o in seen.iter().filter(|o| o.cert.sha256 == c.sha256) {
                if !at.contains(&o.at) {
                    at.push(o.at.clone());
                }
            }
            let roles: BTreeSet<&str> =
                seen.iter().filter(|o| o.cert.sha256 == c.sha256).map(|o| o.role.as_str()).collect();
            let whose = s.member.map(|m| format!(" of {}", m.label())).unwrap_or_default();
            let message = format!(
                "the {} certificate{whose} ({}, {}) {state}: {}",
                roles.into_iter().collect::<Vec<_>>().join("/"),
                c.subject,
                at.join(", "),
                if s.role.is_ca() {
                    "every certificate it signed stops verifying with it"
                } else {
                    "TLS connections that need it fail once it expires"
                }
            );
            let mut f = Finding::new(Self::INFO.id, severity, cert_subject(s), message)
                .with("certificate", c.evidence())
                .with("role", s.role.as_str())
                .with("daysLeft", days)
                .with("seenAt", &at)
                .remedy(remedy(snap, s.role, Problem::Expiry, s.member, s.path));
            if let Some(m) = s.member {
                f = f.member(m.id, m.node.as_deref());
            }
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::Port;
    use crate::testing::*;
    use time::macros::datetime;

    fn at(not_after: time::OffsetDateTime) -> Snapshot {
        // The test snapshot is taken at 2026-11-24 12:00 UTC.
        with_certs(cluster(&[healthy(1), healthy(2)]), |c, _| {
            for p in c.presented.iter_mut().filter(|p| p.member_id.0 == 2 && p.port == Port::Client) {
                p.chain[0].not_after = not_after;
            }
        })
    }

    #[test]
    fn thresholds_are_judged_against_the_snapshot_time() {
        assert!(CertExpiry.run(&at(datetime!(2027-01-01 0:00 UTC))).is_empty());
        let f = CertExpiry.run(&at(datetime!(2026-12-10 0:00 UTC)));
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].severity, f[0].member_id.map(|m| m.0)), (Severity::Warning, Some(2)));
        assert_eq!(f[0].evidence["daysLeft"], 15);
        let f = CertExpiry.run(&at(datetime!(2026-11-27 12:00 UTC)));
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("expires in 3 day(s)"), "{}", f[0].message);
        let f = CertExpiry.run(&at(datetime!(2026-11-20 0:00 UTC)));
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("expired on 2026-11-20"), "{}", f[0].message);
        assert_eq!(f[0].evidence["certificate"]["notAfter"], "2026-11-20T00:00:00Z");
    }

    #[test]
    fn the_warning_threshold_is_a_setting() {
        let mut snap = at(datetime!(2026-12-10 0:00 UTC));
        snap.thresholds.expiry_warning_secs = 10 * 86_400;
        assert!(CertExpiry.run(&snap).is_empty());
    }

    #[test]
    fn an_expiring_ca_names_its_file() {
        let snap =
            with_certs(cluster(&[healthy(1)]), |c, _| c.files[0].certs[0].not_after = datetime!(2026-11-25 0:00 UTC));
        let f = CertExpiry.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "certificate /pki/ca.crt");
        assert!(
            f[0].message.contains("server-ca/peer-ca/client-ca") || f[0].message.contains("client-ca"),
            "{}",
            f[0].message
        );
    }
}
