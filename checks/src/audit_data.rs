//! What the audit checks read besides the member list and statuses: settings given on the
//! command line, each member's metrics (process start time, backend quota), and HashKV at one
//! revision. Collected live (metrics always, HashKV by `audit`) or from a bundle.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::MemberId;

/// etcd's default backend quota (`--quota-backend-bytes` unset): 2 GiB.
pub(crate) const DEFAULT_QUOTA_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// Settings and per-member audit facts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditData {
    /// `--target-version`: the etcd version an upgrade goes to.
    #[serde(default)]
    pub target_version: Option<String>,
    /// `--quota-bytes`: the backend quota, when the operator knows it.
    #[serde(default)]
    pub quota_bytes: Option<i64>,
    /// `--restart-window`: how long a restarted member needs before it counts for quorum again;
    /// voters that started closer together than this were down at the same moment.
    #[serde(default)]
    pub restart_window_secs: Option<u64>,
    /// Each member's metrics, when its metrics page answered.
    #[serde(default)]
    pub metrics: BTreeMap<MemberId, Metrics>,
    /// HashKV per member, when asked (`audit`); `None` when not asked.
    #[serde(default)]
    pub hashes: Option<Vec<HashKv>>,
}

/// Values from a member's `/metrics` page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// `process_start_time_seconds` (Unix time).
    #[serde(default)]
    pub process_start_time: Option<f64>,
    /// `etcd_server_quota_backend_bytes`.
    #[serde(default)]
    pub quota_backend_bytes: Option<i64>,
    /// `etcd_mvcc_put_total` + `etcd_mvcc_delete_total`: writes this process applied since it
    /// started. Far below the store revision, the process started on existing data (a restart,
    /// or a join from a snapshot); about equal, it has run since the cluster began.
    #[serde(default)]
    pub writes_since_start: Option<u64>,
    /// `etcd_network_active_peers{Local,Remote}`: raft's own view of its peer connections, by
    /// remote member id (1 active, 0 not). An active link from a member that answers proves
    /// the remote process runs, even when its client URL does not answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peers_active: BTreeMap<MemberId, bool>,
}

/// A member's answer to HashKV.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HashKv {
    /// The member.
    #[serde(rename = "memberID")]
    pub member_id: MemberId,
    /// The revision the hash covers (the header's revision when asked for the latest).
    pub revision: i64,
    /// The compaction revision; hashes compare only at equal compaction.
    pub compact_revision: i64,
    /// The hash.
    pub hash: u32,
}

impl Metrics {
    /// Reads the two values from a Prometheus text page; other lines are ignored.
    pub fn parse(text: &str) -> Metrics {
        let mut m = Metrics::default();
        let (mut puts, mut deletes) = (None, None);
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else { continue };
            match name {
                "process_start_time_seconds" => m.process_start_time = value.parse::<f64>().ok(),
                "etcd_server_quota_backend_bytes" => {
                    m.quota_backend_bytes = value.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v as i64)
                }
                "etcd_mvcc_put_total" => puts = count(value),
                "etcd_mvcc_delete_total" => deletes = count(value),
                _ if name.starts_with("etcd_network_active_peers{") => {
                    if let Some(remote) = label(name, "Remote").and_then(|r| MemberId::parse_lenient(r).ok()) {
                        m.peers_active.insert(remote, value.parse::<f64>().is_ok_and(|v| v >= 1.0));
                    }
                }
                _ => {}
            }
        }
        m.writes_since_start = puts.map(|p| p.saturating_add(deletes.unwrap_or(0)));
        m
    }
}

/// The value of one label in a Prometheus series name: `name{A="x",B="y"}`.
fn label<'a>(series: &'a str, key: &str) -> Option<&'a str> {
    let inner = series.split_once('{')?.1.strip_suffix('}')?;
    inner.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// A Prometheus counter value (Go prints large ones in float notation).
fn count(v: &str) -> Option<u64> {
    v.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_start_time_and_quota_in_go_float_notation() {
        let page = "# HELP process_start_time_seconds Start time\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.76398042519e+09\netcd_server_quota_backend_bytes 8.589934592e+09\netcd_server_has_leader 1\netcd_mvcc_put_total 1.2345e+06\netcd_mvcc_delete_total 55\n";
        let m = Metrics::parse(page);
        assert_eq!(m.writes_since_start, Some(1_234_555));
        assert_eq!(m.process_start_time, Some(1_763_980_425.19));
        assert_eq!(m.quota_backend_bytes, Some(8_589_934_592));
        assert_eq!(Metrics::parse("garbage\n\nprocess_start_time_seconds x"), Metrics::default());
    }

    #[test]
    fn reads_raft_peer_links_by_remote_id() {
        let page = "etcd_network_active_peers{Local=\"8e9e05c52164694d\",Remote=\"91bc3c398fb3c146\"} 1\netcd_network_active_peers{Local=\"8e9e05c52164694d\",Remote=\"fd422379fda50e48\"} 0\n";
        let m = Metrics::parse(page);
        assert_eq!(m.peers_active.get(&MemberId(0x91bc3c398fb3c146)), Some(&true));
        assert_eq!(m.peers_active.get(&MemberId(0xfd422379fda50e48)), Some(&false));
    }
}
