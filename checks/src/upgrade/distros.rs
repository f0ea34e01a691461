//! Which etcd a Kubernetes distribution ships, where a source says so: kubeadm's etcd image per
//! Kubernetes minor, K3s's embedded etcd per release. Small on purpose: a version not listed
//! resolves to "unknown", never to a neighbour's etcd.

use super::version::Version;

/// kubeadm: the etcd minor line for a Kubernetes minor. The patch moves with Kubernetes patch
/// releases (kubeadm's `SupportedEtcdVersion` is bumped on release branches), so only the line
/// is kept; the example is one value the source shows.
pub struct KubeadmRow {
    /// Kubernetes 1.x minors.
    pub kubernetes_minors: &'static [u64],
    /// The etcd minor line.
    pub etcd_line: (u64, u64),
    /// A value the source shows.
    pub example: &'static str,
    /// The source.
    pub source: &'static str,
    /// What it says.
    pub says: &'static str,
}

/// kubeadm's etcd per Kubernetes minor.
pub const KUBEADM: &[KubeadmRow] = &[
    KubeadmRow {
        kubernetes_minors: &[29, 30],
        etcd_line: (3, 5),
        example: "3.5.15-0",
        source: "https://github.com/kubernetes/kubernetes/blob/3301161c36ac9c27854a7b4636139d4ebde43e72/cmd/kubeadm/app/constants/constants.go",
        says: "SupportedEtcdVersion = map[uint8]string{29: \"3.5.15-0\", 30: \"3.5.15-0\", 31: \"3.5.15-0\"}",
    },
    KubeadmRow {
        kubernetes_minors: &[31, 32, 33],
        etcd_line: (3, 5),
        example: "3.5.24-0",
        source: "https://github.com/kubernetes/kubernetes/pull/134692",
        says: "kubeadm: updated the supported etcd version to v3.5.23 for supported control plane versions v1.31, v1.32, and v1.33 (later v3.5.24: kubernetes#134779, #135018, #135020; \"we must not add 3.6 etcd to < .33 releases\", kubernetes#132865)",
    },
    KubeadmRow {
        kubernetes_minors: &[34, 35, 36],
        etcd_line: (3, 6),
        example: "3.6.10-0",
        source: "https://github.com/kubernetes/kubernetes/pull/138392",
        says: "kubeadm: updated the supported etcd version to v3.6.10 for supported control plane versions v1.34, v1.35, and v1.36 (note: kubeadm v1.35 at first used 3.5.24 for a skewed v1.34 control plane, kubernetes#135271)",
    },
];

/// K3s: the embedded etcd of a release (`v1.31.8+k3s1`), from its release notes.
pub struct K3sRow {
    /// Kubernetes minor.
    pub minor: u64,
    /// Kubernetes patches (any `+k3sN` revision of them seen carried the same etcd).
    pub patches: &'static [u64],
    /// The embedded etcd.
    pub etcd: Version,
    /// The release notes.
    pub source: &'static str,
}

const K3S_131: &str = "https://docs.k3s.io/release-notes/v1.31.X";
const K3S_130: &str = "https://docs.k3s.io/release-notes/v1.30.X";

/// K3s releases whose embedded etcd a release note names.
pub const K3S: &[K3sRow] = &[
    K3sRow {
        minor: 30,
        patches: &[0, 1],
        etcd: Version::new(3, 5, 9),
        source: "https://github.com/k3s-io/k3s/releases/tag/v1.30.1%2Bk3s1",
    },
    K3sRow { minor: 30, patches: &[6], etcd: Version::new(3, 5, 13), source: K3S_130 },
    K3sRow { minor: 30, patches: &[7, 8, 9], etcd: Version::new(3, 5, 16), source: K3S_130 },
    K3sRow { minor: 30, patches: &[10], etcd: Version::new(3, 5, 18), source: K3S_130 },
    K3sRow { minor: 30, patches: &[11], etcd: Version::new(3, 5, 19), source: K3S_130 },
    K3sRow { minor: 30, patches: &[12, 13, 14], etcd: Version::new(3, 5, 21), source: K3S_130 },
    K3sRow { minor: 31, patches: &[5], etcd: Version::new(3, 5, 16), source: K3S_131 },
    K3sRow { minor: 31, patches: &[6], etcd: Version::new(3, 5, 18), source: K3S_131 },
    K3sRow { minor: 31, patches: &[7], etcd: Version::new(3, 5, 19), source: K3S_131 },
    K3sRow { minor: 31, patches: &[8, 9, 10, 11, 12, 13, 14], etcd: Version::new(3, 5, 21), source: K3S_131 },
    K3sRow {
        minor: 34,
        patches: &[9],
        etcd: Version::new(3, 6, 12),
        source: "https://github.com/k3s-io/k3s/releases/tag/v1.34.9%2Bk3s1",
    },
    K3sRow {
        minor: 35,
        patches: &[5],
        etcd: Version::new(3, 6, 7),
        source: "https://github.com/k3s-io/k3s/releases/tag/v1.35.5+k3s1",
    },
    K3sRow {
        minor: 35,
        patches: &[6],
        etcd: Version::new(3, 6, 12),
        source: "https://github.com/k3s-io/k3s/releases/tag/v1.35.6%2Bk3s1",
    },
    K3sRow {
        minor: 36,
        patches: &[1],
        etcd: Version::new(3, 6, 7),
        source: "https://github.com/k3s-io/k3s/releases/tag/v1.36.1+k3s1",
    },
    K3sRow {
        minor: 36,
        patches: &[2],
        etcd: Version::new(3, 6, 12),
        source: "https://github.com/k3s-io/k3s/releases/tag/v1.36.2%2Bk3s1",
    },
];

/// The kubeadm row for a Kubernetes minor.
pub fn kubeadm(minor: u64) -> Option<&'static KubeadmRow> {
    KUBEADM.iter().find(|r| r.kubernetes_minors.contains(&minor))
}

/// The K3s row for a release, exact.
pub fn k3s(minor: u64, patch: u64) -> Option<&'static K3sRow> {
    K3S.iter().find(|r| r.minor == minor && r.patches.contains(&patch))
}

/// The etcd line of a K3s minor when every release of it in the table agrees.
pub fn k3s_line(minor: u64) -> Option<((u64, u64), &'static str)> {
    let rows: Vec<&K3sRow> = K3S.iter().filter(|r| r.minor == minor).collect();
    let first = rows.first()?;
    rows.iter()
        .all(|r| r.etcd.minor_line() == first.etcd.minor_line())
        .then_some((first.etcd.minor_line(), first.source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeadm_moves_to_3_6_with_kubernetes_1_34() {
        assert_eq!(kubeadm(33).map(|r| r.etcd_line), Some((3, 5)));
        assert_eq!(kubeadm(34).map(|r| r.etcd_line), Some((3, 6)));
        assert!(kubeadm(28).is_none() && kubeadm(37).is_none());
    }

    #[test]
    fn k3s_rows_are_exact_and_lines_only_where_every_row_agrees() {
        assert!(k3s(31, 2).is_none());
        assert_eq!(k3s(31, 8).map(|r| r.etcd), Some(Version::new(3, 5, 21)));
        assert_eq!(k3s_line(31).map(|l| l.0), Some((3, 5)));
        assert_eq!(k3s_line(35).map(|l| l.0), Some((3, 6)));
        assert!(k3s_line(33).is_none(), "no K3s 1.33 release note was read");
    }
}
