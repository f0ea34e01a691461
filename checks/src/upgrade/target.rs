//! `--target-version`: an etcd version (`3.6.0`), or a Kubernetes (`v1.31.2`, `1.31`), K3s
//! (`v1.31.2+k3s1`) or RKE2 (`v1.31.2+rke2r1`) version resolved to the etcd it ships, with the
//! source named. A version outside the cited map resolves to "unknown", not to a guess.

use serde::Serialize;

use super::distros;
use super::version::Version;
use crate::distribution::Distribution;

/// What the operator named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An etcd version.
    Etcd,
    /// A Kubernetes version (etcd as kubeadm ships it, or as the detected distribution does).
    Kubernetes,
    /// A K3s release.
    K3s,
    /// An RKE2 release.
    Rke2,
}

/// The etcd an upgrade goes to, and how that was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// What `--target-version` said.
    pub input: String,
    /// What kind of version it is.
    pub kind: Kind,
    /// The exact etcd version, when known.
    pub etcd: Option<Version>,
    /// The etcd minor line (`"3.6"` in JSON), when known (always when `etcd` is).
    #[serde(serialize_with = "line_text")]
    pub line: Option<(u64, u64)>,
    /// How it was resolved, in words ("K3s v1.31.8+k3s1 embeds etcd 3.5.21"), or why not.
    pub how: String,
    /// The source of the mapping, for a distribution version.
    pub source: Option<String>,
}

impl Target {
    /// Whether the etcd it goes to is known, at least to the minor.
    pub fn known(&self) -> bool {
        self.line.is_some()
    }

    /// `3.6.0`, `3.6.x`, or `unknown`, for messages.
    pub fn etcd_text(&self) -> String {
        match (self.etcd, self.line) {
            (Some(v), _) => v.to_string(),
            (None, Some((a, b))) => format!("{a}.{b}.x"),
            _ => "unknown".into(),
        }
    }
}

fn line_text<S: serde::Serializer>(line: &Option<(u64, u64)>, s: S) -> Result<S::Ok, S::Error> {
    match line {
        Some((a, b)) => s.collect_str(&format_args!("{a}.{b}")),
        None => s.serialize_none(),
    }
}

/// `--target-version` is not any kind of version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// Neither etcd (3.x.y), Kubernetes (1.x[.y]), K3s (+k3sN) nor RKE2 (+rke2rN).
    #[error(
        "--target-version {0:?} is not a version: give etcd's (3.6.0), Kubernetes' (v1.31.2 or 1.31), K3s' (v1.31.2+k3s1) or RKE2's (v1.31.2+rke2r1)"
    )]
    NotAVersion(String),
}

/// Resolves `--target-version`. `dist` is the distribution the report detected: it decides
/// whose etcd a bare Kubernetes version means (kubeadm's when none or kubeadm).
pub fn resolve(input: &str, dist: Option<Distribution>) -> Result<Target, TargetError> {
    let raw = input.trim();
    let bad = || TargetError::NotAVersion(input.to_string());
    let (core, build) = match raw.split_once('+') {
        Some((c, b)) => (c, Some(b.to_ascii_lowercase())),
        None => (raw, None),
    };
    let core = core.trim_start_matches(['v', 'V']);
    let nums: Vec<&str> = core.split('-').next().unwrap_or_default().split('.').collect();
    let parsed: Option<Vec<u64>> = nums.iter().map(|n| n.parse().ok()).collect();
    let Some(parsed) = parsed.filter(|p| (2..=3).contains(&p.len())) else { return Err(bad()) };
    let (major, minor, patch) = (parsed[0], parsed[1], parsed.get(2).copied());
    let mk = |kind, etcd: Option<Version>, line: Option<(u64, u64)>, how: String, source: Option<&str>| Target {
        input: input.to_string(),
        kind,
        etcd,
        line: line.or(etcd.map(Version::minor_line)),
        how,
        source: source.map(str::to_string),
    };
    let kind = match build.as_deref() {
        Some(b) if b.starts_with("k3s") => Kind::K3s,
        Some(b) if b.starts_with("rke2") => Kind::Rke2,
        Some(_) => return Err(bad()),
        None if major == 3 => Kind::Etcd,
        None if major == 1 => match dist {
            Some(Distribution::K3s) => Kind::K3s,
            Some(Distribution::Rke2) => Kind::Rke2,
            _ => Kind::Kubernetes,
        },
        None => return Err(bad()),
    };
    if kind != Kind::Etcd && major != 1 {
        return Err(bad());
    }
    let unknown = |kind, why: String| mk(kind, None, None, format!("unknown: {why}"), None);
    Ok(match kind {
        Kind::Etcd => match patch {
            Some(p) => mk(Kind::Etcd, Some(Version::new(major, minor, p)), None, "an etcd version".into(), None),
            None => mk(Kind::Etcd, None, Some((major, minor)), format!("etcd {major}.{minor} (no patch given)"), None),
        },
        Kind::Kubernetes => match (dist, distros::kubeadm(minor)) {
            (Some(d @ (Distribution::Kubespray | Distribution::Kops)), _) => unknown(
                kind,
                format!(
                    "{d} pins its own etcd per Kubernetes release and no cited map of it is built in; give the etcd version"
                ),
            ),
            (_, Some(row)) => mk(
                kind,
                None,
                Some(row.etcd_line),
                format!(
                    "Kubernetes 1.{minor} with kubeadm runs etcd {}.{}.x (e.g. {}; the patch moves with Kubernetes patch releases)",
                    row.etcd_line.0, row.etcd_line.1, row.example
                ),
                Some(row.source),
            ),
            (_, None) => {
                unknown(kind, format!("Kubernetes 1.{minor} is outside the cited kubeadm map; give the etcd version"))
            }
        },
        Kind::K3s => {
            let exact = patch.and_then(|p| distros::k3s(minor, p));
            match (exact, distros::k3s_line(minor)) {
                (Some(row), _) => mk(
                    kind,
                    Some(row.etcd),
                    None,
                    format!("K3s v1.{minor}.{} embeds etcd {}", patch.unwrap_or_default(), row.etcd),
                    Some(row.source),
                ),
                (None, Some((line, source))) => mk(
                    kind,
                    None,
                    Some(line),
                    format!(
                        "K3s 1.{minor} releases embed etcd {}.{}.x (this release is not in the cited table)",
                        line.0, line.1
                    ),
                    Some(source),
                ),
                (None, None) => {
                    unknown(kind, format!("no K3s 1.{minor} release note is in the cited table; give the etcd version"))
                }
            }
        }
        Kind::Rke2 => unknown(kind, "no RKE2 release note was read for the cited table; give the etcd version".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str, d: Option<Distribution>) -> Target {
        resolve(s, d).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn etcd_versions_resolve_to_themselves() {
        let t = r("v3.6.0", None);
        assert_eq!((t.kind, t.etcd, t.line), (Kind::Etcd, Some(Version::new(3, 6, 0)), Some((3, 6))));
        let t = r("3.6", Some(Distribution::K3s));
        assert_eq!((t.etcd, t.line, t.etcd_text()), (None, Some((3, 6)), "3.6.x".to_string()));
    }

    #[test]
    fn kubernetes_versions_resolve_through_kubeadm_with_the_source_named() {
        let t = r("v1.31.2", None);
        assert_eq!((t.kind, t.line, t.etcd), (Kind::Kubernetes, Some((3, 5)), None));
        assert!(t.source.as_deref().is_some_and(|s| s.contains("kubernetes/kubernetes")), "{t:?}");
        assert_eq!(r("1.34", Some(Distribution::Kubeadm)).line, Some((3, 6)));
        let t = r("1.27", None);
        assert!(!t.known() && t.how.starts_with("unknown"), "{t:?}");
        assert!(!r("1.31", Some(Distribution::Kubespray)).known());
    }

    #[test]
    fn k3s_and_rke2_versions() {
        let t = r("v1.31.8+k3s1", None);
        assert_eq!((t.kind, t.etcd), (Kind::K3s, Some(Version::new(3, 5, 21))));
        assert!(t.how.contains("embeds etcd 3.5.21"), "{t:?}");
        // A bare Kubernetes version on a K3s cluster means K3s's etcd.
        assert_eq!(r("v1.31.8", Some(Distribution::K3s)).etcd, Some(Version::new(3, 5, 21)));
        let t = r("v1.31.2+k3s1", None);
        assert_eq!((t.etcd, t.line), (None, Some((3, 5))));
        assert!(!r("v1.33.1+k3s1", None).known());
        let t = r("v1.31.2+rke2r1", None);
        assert_eq!(t.kind, Kind::Rke2);
        assert!(!t.known() && t.how.contains("RKE2"), "{t:?}");
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in ["latest", "", "3", "v2.3.7+k3s1", "v1.31.2+foo", "4.0.0.1", "1.x"] {
            assert!(resolve(bad, None).is_err(), "{bad}");
        }
        assert!(resolve("2.3.7", None).is_err(), "etcd 2 is not an etcd 3 target");
    }
}
