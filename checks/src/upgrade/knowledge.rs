//! etcd's published upgrade rules and known-bad releases, one row per rule, each with the page
//! it comes from and what that page says. The checks `upgrade-path`, `etcd-release-to-avoid`
//! and `v2store-in-use` judge against these rows and cite them in their findings; a rule
//! nobody could read is not in here (guessing one would be worse than saying "not known").

use super::version::Version;

/// Where a rule comes from: the page, what it says (quoted or closely paraphrased), and the
/// snapshot it was read at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The page, as a URL an operator can open.
    pub url: &'static str,
    /// The words that carry the rule.
    pub says: &'static str,
    /// Where and when it was read (a commit of the repository behind the page, or the page).
    pub read_at: &'static str,
}

/// The minimum patch of the current minor before moving to the next minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinimumPatch {
    /// The minor being left, e.g. 3.5.
    pub from: (u64, u64),
    /// Below this, the upgrade is known to fail (critical).
    pub required: Version,
    /// Below this (and at or above `required`), the current guide still asks for more
    /// (warning): later patches fix further upgrade blockers.
    pub recommended: Version,
    /// What goes wrong below `required`.
    pub why: &'static str,
    /// The sources, the current guide first.
    pub sources: &'static [Source],
}

/// A release (range) etcd tells users to avoid or leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Avoid {
    /// First release of the range, inclusive.
    pub first: Version,
    /// Last release of the range, inclusive.
    pub last: Version,
    /// How bad running it is.
    pub severity: crate::finding::Severity,
    /// What is wrong with it, in one line.
    pub why: &'static str,
    /// Where to go instead.
    pub instead: &'static str,
    /// The source.
    pub source: Source,
}

const WEBSITE: &str = "etcd-io/website at 8245979 (2026-08-20)";
const ETCD: &str = "etcd-io/etcd at c34dc7e (2026-08-20)";

/// One minor version at a time, in both directions.
pub const ONE_MINOR_AT_A_TIME: &[Source] = &[
    Source {
        url: "https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/",
        says: "To upgrade an existing etcd deployment to v3.6, the running cluster must be v3.5 or greater. If it's before v3.5, please upgrade to v3.5 before upgrading to v3.6.",
        read_at: WEBSITE,
    },
    Source {
        url: "https://etcd.io/docs/v3.5/upgrades/upgrade_3_5/",
        says: "To upgrade an existing etcd deployment to 3.5, the running cluster must be 3.4 or greater. If it's before 3.4, please upgrade to 3.4 before upgrading to 3.5.",
        read_at: WEBSITE,
    },
    Source {
        url: "https://etcd.io/docs/v3.6/downgrades/downgrade_3_6/",
        says: "We only support downgrading one minor version at a time. e.g downgrading from v3.6 to v3.4 isn't allowed.",
        read_at: WEBSITE,
    },
];

/// The running cluster must be healthy before a rolling upgrade (every guide says so).
pub const HEALTHY_FIRST: Source = Source {
    url: "https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/",
    says: "to ensure a smooth rolling upgrade, the running cluster must be healthy. Check the health of the cluster by using the `etcdctl endpoint health` command before proceeding.",
    read_at: WEBSITE,
};

/// Minimum patch releases before a minor upgrade. 3.4 → 3.5 has none: its guide asks only for
/// 3.4 or later and a healthy cluster (read at the same commit).
pub const MINIMUM_PATCH: &[MinimumPatch] = &[
    MinimumPatch {
        from: (3, 5),
        required: Version::new(3, 5, 20),
        recommended: Version::new(3, 5, 32),
        why: "from 3.5.1-3.5.19 some voters can come back as learners on 3.6 and the upgrade fails with \"membership: too many learner member in cluster\" (etcd#19557, fixed in 3.5.20)",
        sources: &[
            Source {
                url: "https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/",
                says: "Before upgrading to 3.6, make sure that all of your 3.5 members are updated to 3.5.32 or later. Patch releases 3.5.24 through 3.5.32 fix several potential upgrade blockers. (The same line said 3.5.20 in May 2025, 3.5.24 in November 2025, 3.5.26 from December 2025, 3.5.32 since August 2026.)",
                read_at: WEBSITE,
            },
            Source {
                url: "https://etcd.io/blog/2025/upgrade_from_3.5_to_3.6_issue/",
                says: "Users are required to first upgrade to etcd v3.5.20 (or a higher patch version) before upgrading to etcd v3.6.0. Failure to do so may result in an unsuccessful upgrade. [...] All etcd patch versions from v3.5.1 to v3.5.19 are affected.",
                read_at: WEBSITE,
            },
            Source {
                url: "https://github.com/etcd-io/etcd/issues/19557",
                says: "[release-3.5] Learner promotion isn't persisted to v3store (bbolt). [...] always requires users to bump to 3.5.20+, and to 3.6 later. (The e2e reproduction in etcd#19634 got \"membership: too many learner members in cluster\".)",
                read_at: "the issue thread as stored in the issues corpus (March 2025 comments)",
            },
            Source {
                url: "https://etcd.io/blog/2025/upgrade_from_3.5_to_3.6_issue_followup/",
                says: "This additional scenario has been addressed in etcd v3.5.24 via #20797. All users who can should first upgrade to etcd v3.5.24 (or a higher patch version) before upgrading to etcd v3.6.",
                read_at: WEBSITE,
            },
            Source {
                url: "https://etcd.io/blog/2025/zombie_members_upgrade/",
                says: "If you are upgrading, make sure to update to v3.5.26 or later first. [...] if v3.5.26 is not available from your packaging source or vendor, you should delay upgrading to v3.6 until it is.",
                read_at: WEBSITE,
            },
        ],
    },
    MinimumPatch {
        from: (3, 6),
        required: Version::new(3, 6, 11),
        recommended: Version::new(3, 6, 11),
        why: "earlier 3.6 patch releases may not be compatible with a rolling upgrade to 3.7",
        sources: &[Source {
            url: "https://etcd.io/docs/v3.7/upgrades/upgrade_3_7/",
            says: "Before upgrading to 3.7, make sure that all of your 3.6 members are updated to 3.6.11 or later. Earlier 3.6 patch releases may not be compatible with a rolling upgrade to 3.7.",
            read_at: WEBSITE,
        }],
    },
];

/// Releases etcd tells users not to run.
pub const AVOID: &[Avoid] = &[
    Avoid {
        first: Version::new(3, 5, 0),
        last: Version::new(3, 5, 2),
        severity: crate::finding::Severity::Critical,
        why: "under high load a killed etcd 3.5.0-3.5.2 can lose committed transactions on some members (data inconsistency, etcd#13766)",
        instead: "3.5.4 or later (production minimum 3.5.6)",
        source: Source {
            url: "https://github.com/etcd-io/etcd/blob/main/CHANGELOG/README.md",
            says: "Running etcd v3.5.2, v3.5.1 and v3.5.0 under high load can cause a data corruption issue. If etcd process is killed, occasionally some committed transactions are not reflected on all the members. Recommendation is to upgrade to v3.5.4+.",
            read_at: ETCD,
        },
    },
    Avoid {
        first: Version::new(3, 5, 3),
        last: Version::new(3, 5, 5),
        severity: crate::finding::Severity::Warning,
        why: "below the minimum etcd recommends for production (3.5.6)",
        instead: "the latest 3.5 patch release",
        source: PRODUCTION,
    },
    Avoid {
        first: Version::new(3, 4, 0),
        last: Version::new(3, 4, 21),
        severity: crate::finding::Severity::Warning,
        why: "below the minimum etcd recommends for production (3.4.22)",
        instead: "3.4.22 or later, then 3.5 (3.4 is out of support)",
        source: PRODUCTION,
    },
    Avoid {
        first: Version::new(3, 4, 22),
        last: Version::new(3, 4, u64::MAX),
        severity: crate::finding::Severity::Info,
        why: "etcd 3.4 reached end of support with 3.4.45 (June 2026): no further patches",
        instead: "3.5 (then 3.6), one minor at a time",
        source: Source {
            url: "https://etcd.io/blog/2026/june-patch-release/",
            says: "This update marks the end of support (EOL) for v3.4 [...] No further patches will be issued by the Kubernetes project. If you are still using v3.4, please upgrade to a supported version as soon as you can.",
            read_at: WEBSITE,
        },
    },
];

const PRODUCTION: Source = Source {
    url: "https://github.com/etcd-io/etcd/blob/main/CHANGELOG/README.md",
    says: "The minimum recommended etcd versions to run in production are v3.4.22+ and v3.5.6+.",
    read_at: ETCD,
};

/// v2store data before 3.6: `--enable-v2` must go and `etcdutl check v2store` must come back clean.
pub const V2STORE: &[Source] = &[
    Source {
        url: "https://etcd.io/docs/v3.6/upgrades/upgrade_3_6/",
        says: "If `--enable-v2` or the environment variable `ETCD_ENABLE_V2=\"true\"` is (or has ever been) configured on any member, the v2store must be cleaned up before the cluster can be safely upgraded to v3.6. [...] Run `etcdutl check v2store` on each member [...] Ensure that you use `etcdutl` of v3.5.32 or later.",
        read_at: WEBSITE,
    },
    Source {
        url: "https://etcd.io/docs/v3.7/upgrades/upgrade_3_7/",
        says: "The v2 store has been fully removed in v3.7. [...] If you are coming from an older release with custom v2 data, follow the v2 migration guide before upgrading.",
        read_at: WEBSITE,
    },
];

/// Downgrades: one minor, only from a healthy cluster; 3.5 → 3.4 not with auth enabled.
pub const DOWNGRADE_AUTH_3_5: Source = Source {
    url: "https://etcd.io/docs/v3.5/downgrades/downgrade_3_5/",
    says: "If your cluster enables auth, rolling downgrade from 3.5 isn't supported because 3.5 changes a format of WAL entries related to auth. [...] The 3.4 version to downgrade to must be >= 3.4.32.",
    read_at: WEBSITE,
};

/// The lowest 3.4 a 3.5 cluster may be downgraded to.
pub const DOWNGRADE_3_4_MINIMUM: Version = Version::new(3, 4, 32);

/// Downgrades from 3.6 go through `etcdctl downgrade validate/enable`.
pub const DOWNGRADE_3_6: Source = Source {
    url: "https://etcd.io/docs/v3.6/downgrades/downgrade_3_6/",
    says: "Validate the downgrade target version before enabling the downgrade [...] After enabling downgrade, the cluster will start to operate with v3.5 protocol [...] etcd will automatically migrate the schema to the downgrade target version.",
    read_at: WEBSITE,
};

/// The minimum-patch rule for leaving the minor `from`, if etcd published one.
pub fn minimum_patch(from: (u64, u64)) -> Option<&'static MinimumPatch> {
    MINIMUM_PATCH.iter().find(|m| m.from == from)
}

/// The worst avoid-row that covers `v`.
pub fn avoid(v: Version) -> Option<&'static Avoid> {
    AVOID.iter().filter(|a| a.first <= v && v <= a.last).max_by_key(|a| a.severity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity;

    #[test]
    fn every_row_names_a_page_and_what_it_says() {
        let all = ONE_MINOR_AT_A_TIME
            .iter()
            .chain(MINIMUM_PATCH.iter().flat_map(|m| m.sources))
            .chain(AVOID.iter().map(|a| &a.source))
            .chain(V2STORE)
            .chain([&HEALTHY_FIRST, &DOWNGRADE_AUTH_3_5, &DOWNGRADE_3_6]);
        for s in all {
            assert!(s.url.starts_with("https://"), "{s:?}");
            assert!(s.says.len() > 30 && !s.read_at.is_empty(), "{s:?}");
        }
    }

    #[test]
    fn the_3_5_to_3_6_floor_is_3_5_20_and_the_guide_asks_for_3_5_32() {
        let m = minimum_patch((3, 5)).map(|m| (m.required, m.recommended));
        assert_eq!(m, Some((Version::new(3, 5, 20), Version::new(3, 5, 32))));
        assert_eq!(minimum_patch((3, 6)).map(|m| m.required), Some(Version::new(3, 6, 11)));
        assert!(minimum_patch((3, 4)).is_none(), "the 3.4 → 3.5 guide asks for no minimum patch");
    }

    #[test]
    fn releases_to_avoid_by_severity() {
        let sev = |v| avoid(v).map(|a| a.severity);
        assert_eq!(sev(Version::new(3, 5, 1)), Some(Severity::Critical));
        assert_eq!(sev(Version::new(3, 5, 3)), Some(Severity::Warning));
        assert_eq!(sev(Version::new(3, 5, 6)), None);
        assert_eq!(sev(Version::new(3, 4, 21)), Some(Severity::Warning));
        assert_eq!(sev(Version::new(3, 4, 23)), Some(Severity::Info));
        assert_eq!(sev(Version::new(3, 6, 0)), None);
    }
}
