//! The JSON shapes etcd prints, read into the model: `etcdctl member list|endpoint status -w
//! json` (3.3 to 3.6; ids as numbers, or hex strings with `--hex`) and the grpc-gateway's
//! (`curl …/v3/cluster/member/list`, `…/v3/maintenance/status`: int64 fields as decimal
//! strings, one object instead of an array, camelCase or snake_case names). Shared by the
//! offline bundle loader and the exec-in-pod client; no I/O here.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use etcd_doctor_checks::{
    id::MemberId,
    model::{Member, Snapshot, Status},
};
use serde::Deserialize;
use serde_json::Value;

/// The members of an `etcdctl member list -w json` document into `snap` (cluster id too);
/// `origin` names the source in errors.
pub fn members_into(ml: &Value, origin: &Path, snap: &mut Snapshot) -> Result<()> {
    let ml_path = origin;
    let mode = IdMode::of(ml);

    snap.cluster_id =
        ml.pointer("/header/cluster_id").map(|v| id(v, mode, ml_path, "header.cluster_id")).transpose()?;
    let raw_members = ml.get("members").and_then(Value::as_array).ok_or_else(|| {
        anyhow!("{}: no \"members\" array: is this `etcdctl member list -w json` output?", ml_path.display())
    })?;
    for (i, m) in raw_members.iter().enumerate() {
        let doc: MemberDoc = serde_json::from_value(m.clone())
            .with_context(|| format!("cannot parse {}: members[{i}]", ml_path.display()))?;
        let mid = id(&doc.id, mode, ml_path, &format!("members[{i}].ID"))?;
        snap.members.push(Member {
            id: mid,
            name: doc.name,
            peer_urls: doc.peer_urls,
            client_urls: doc.client_urls,
            is_learner: doc.is_learner,
            probe: None,
            node: None,
            peer_probe: None,
        });
    }
    Ok(())
}

/// The status objects of an `endpoint status -w json` document (an array of `{Endpoint,
/// Status}`), or the gateway's one bare object: `(endpoint as written, body)`; the endpoint is
/// empty when the shape does not say.
pub fn status_entries(v: Value) -> Result<Vec<(String, Value)>> {
    let entries: Vec<Value> = match v {
        Value::Array(a) => a,
        other @ Value::Object(_) => vec![other],
        _ => bail!("expected the JSON array `etcdctl endpoint status -w json` prints, or one status object"),
    };
    Ok(entries
        .into_iter()
        .map(|e| match (e.get("Endpoint"), e.get("Status")) {
            (Some(ep), Some(st)) => (ep.as_str().unwrap_or_default().to_string(), st.clone()),
            _ => (String::new(), e),
        })
        .collect())
}

/// One `Status` object of `etcdctl endpoint status -w json`.
pub fn status_of(body: Value, mode: IdMode, path: &Path, at: &str) -> Result<Status> {
    let doc: StatusDoc =
        serde_json::from_value(body).with_context(|| format!("cannot parse {}: element {at}", path.display()))?;
    let header = doc.header.as_ref();
    let member_id = match header.and_then(|h| h.get("member_id")) {
        Some(v) => id(v, mode, path, &format!("{at}.header.member_id"))?,
        None => bail!("{}: element {at} has no header.member_id", path.display()),
    };
    let leader = match &doc.leader {
        Some(v) => Some(id(v, mode, path, &format!("{at}.leader"))?).filter(|l| l.0 != 0),
        None => None,
    };
    let cluster_id = match header.and_then(|h| h.get("cluster_id")) {
        Some(v) => Some(id(v, mode, path, &format!("{at}.header.cluster_id"))?),
        None => None,
    };
    Ok(Status {
        member_id,
        cluster_id,
        version: doc.version,
        db_size: doc.db_size,
        db_size_in_use: doc.db_size_in_use,
        leader_unknown: leader.is_none() && doc.leader_unknown,
        leader,
        raft_term: doc.raft_term,
        revision: header.and_then(|h| h.get("revision")).and_then(|v| number::<i64>(v.clone()).ok()),
        raft_index: doc.raft_index,
        raft_applied_index: doc.raft_applied_index,
        is_learner: doc.is_learner,
        errors: doc.errors,
        db_size_quota: doc.db_size_quota,
    })
}

// Field names as etcdctl and the gateway print them (the proto's), with the snake_case and
// camelCase spellings other encoders use as aliases. Numbers may come as decimal strings (the
// gateway encodes every 64-bit integer so).
#[derive(Deserialize)]
struct MemberDoc {
    #[serde(rename = "ID", alias = "id")]
    id: Value,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "peerURLs", alias = "peer_urls", alias = "peerUrls")]
    peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs", alias = "client_urls", alias = "clientUrls")]
    client_urls: Vec<String>,
    #[serde(default, rename = "isLearner", alias = "is_learner")]
    is_learner: bool,
}

#[derive(Deserialize)]
struct StatusDoc {
    #[serde(default)]
    header: Option<Value>,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "dbSize", alias = "db_size", deserialize_with = "int")]
    db_size: i64,
    #[serde(default)]
    leader: Option<Value>,
    /// Written by the text-capture reader: a follower whose leader the table does not name.
    #[serde(default, rename = "leaderUnknown")]
    leader_unknown: bool,
    #[serde(default, rename = "raftIndex", alias = "raft_index", deserialize_with = "int")]
    raft_index: u64,
    #[serde(default, rename = "raftTerm", alias = "raft_term", deserialize_with = "int")]
    raft_term: u64,
    #[serde(default, rename = "raftAppliedIndex", alias = "raft_applied_index", deserialize_with = "opt_int")]
    raft_applied_index: Option<u64>,
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default, rename = "dbSizeInUse", alias = "db_size_in_use", deserialize_with = "opt_int")]
    db_size_in_use: Option<i64>,
    #[serde(default, rename = "isLearner", alias = "is_learner")]
    is_learner: bool,
    #[serde(default, rename = "dbSizeQuota", alias = "db_size_quota", deserialize_with = "opt_int")]
    db_size_quota: Option<i64>,
}

/// A JSON number, or the decimal string the gateway writes for a 64-bit integer.
fn number<T: std::str::FromStr + serde::de::DeserializeOwned>(v: Value) -> std::result::Result<T, String> {
    match v {
        Value::String(s) => s.trim().parse::<T>().map_err(|_| format!("{s:?} is not a number")),
        other => serde_json::from_value(other).map_err(|e| e.to_string()),
    }
}

fn int<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + serde::de::DeserializeOwned,
{
    number(Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn opt_int<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr + serde::de::DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => number(v).map(Some).map_err(serde::de::Error::custom),
    }
}

/// How string ids in one document are written: `--hex` output, or decimal strings (the
/// grpc-gateway). Numbers are always decimal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IdMode {
    /// `--hex`: string ids are hex.
    Hex,
    /// grpc-gateway: string ids are decimal.
    Decimal,
}

impl IdMode {
    /// The mode of a whole document. The gateway writes every 64-bit integer as a string, its
    /// header's `raft_term` too, which etcdctl never does: that settles ids like `1111111111111111`
    /// that read as either.
    pub fn of(doc: &Value) -> IdMode {
        let mut strs = Vec::new();
        collect_id_strings(doc, &mut strs);
        if strs.iter().any(|s| s.bytes().any(|b| b.is_ascii_alphabetic())) {
            IdMode::Hex
        } else if gateway_header(doc) || strs.iter().any(|s| s.len() >= 17) {
            IdMode::Decimal
        } else {
            IdMode::Hex
        }
    }
}

/// Whether a header in the document carries `raft_term` or `revision` as a string.
fn gateway_header(v: &Value) -> bool {
    match v {
        Value::Object(o) => {
            o.get("header")
                .is_some_and(|h| ["raft_term", "revision"].iter().any(|k| h.get(*k).is_some_and(Value::is_string)))
                || o.values().any(gateway_header)
        }
        Value::Array(a) => a.iter().any(gateway_header),
        _ => false,
    }
}

fn collect_id_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("ID" | "id" | "cluster_id" | "member_id" | "leader", Value::String(s)) => out.push(s.clone()),
                    _ => collect_id_strings(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_id_strings(v, out)),
        _ => {}
    }
}

/// One id field: a number, or a string in the document's id mode.
pub fn id(v: &Value, mode: IdMode, path: &Path, field: &str) -> Result<MemberId> {
    let file: PathBuf = path.to_path_buf();
    match v {
        Value::Number(n) => n.as_u64().map(MemberId).ok_or_else(|| {
            anyhow!(
                "{}: {field} = {n} is not an exact unsigned 64-bit id (was the JSON rounded by jq or JavaScript? capture it again with etcdctl)",
                file.display()
            )
        }),
        Value::String(s) => {
            let parsed = match mode {
                IdMode::Hex => u64::from_str_radix(s.trim(), 16).ok(),
                IdMode::Decimal => s.trim().parse::<u64>().ok(),
            };
            parsed.map(MemberId).ok_or_else(|| anyhow!("{}: {field} = {s:?} is not a member id", file.display()))
        }
        other => bail!("{}: {field} = {other} is not a member id", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(v: Value) -> Result<Snapshot> {
        let mut snap = Snapshot::new(etcd_doctor_checks::model::Source::Bundle, time::OffsetDateTime::UNIX_EPOCH);
        members_into(&v, Path::new("t"), &mut snap)?;
        Ok(snap)
    }

    fn status(v: Value) -> Result<Status> {
        let mode = IdMode::of(&v);
        let mut e = status_entries(v)?;
        let (_, body) = e.pop().ok_or_else(|| anyhow!("no status"))?;
        status_of(body, mode, Path::new("t"), "[0]")
    }

    #[test]
    fn gateway_member_list_has_decimal_string_ids() -> Result<()> {
        // etcd-io/website#705, verbatim: `curl -L http://localhost:2379/v3/cluster/member/list -X POST`.
        let v: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","raft_term":"2"},
                "members":[{"ID":"10276657743932975437","name":"default","peerURLs":["http://localhost:2380"],
                "clientURLs":["http://localhost:2379"]}]}"#,
        )?;
        let snap = members(v)?;
        assert_eq!(snap.cluster_id, Some(MemberId(14841639068965178418)));
        assert_eq!(snap.members[0].id, MemberId(10276657743932975437));
        assert_eq!(snap.members[0].client_urls, vec!["http://localhost:2379".to_string()]);
        Ok(())
    }

    #[test]
    fn a_short_decimal_gateway_id_is_not_read_as_hex() -> Result<()> {
        let v = serde_json::json!({"header": {"cluster_id": "1111111111111111", "raft_term": "2"},
            "members": [{"ID": "1111111111111111", "name": "a"}]});
        assert_eq!(members(v)?.members[0].id, MemberId(1111111111111111));
        Ok(())
    }

    #[test]
    fn gateway_status_is_one_object_with_int64_strings_in_either_spelling() -> Result<()> {
        let camel = serde_json::json!({"header": {"cluster_id": "10690329912342562330", "member_id": "8574685709276319584",
            "revision": "1", "raft_term": "2"}, "version": "3.5.21", "dbSize": "20480", "leader": "8574685709276319584",
            "raftIndex": "8", "raftTerm": "2", "raftAppliedIndex": "8", "dbSizeInUse": "16384"});
        let s = status(camel)?;
        assert_eq!(s.member_id, MemberId(8574685709276319584));
        assert_eq!(s.leader, Some(MemberId(8574685709276319584)));
        assert_eq!((s.db_size, s.db_size_in_use, s.raft_index, s.raft_term), (20480, Some(16384), 8, 2));
        assert_eq!((s.revision, s.raft_applied_index), (Some(1), Some(8)));
        let snake = serde_json::json!({"header": {"cluster_id": "10690329912342562330", "member_id": "8574685709276319584",
            "revision": "1", "raft_term": "2"}, "version": "3.5.21", "db_size": "20480", "raft_index": "8",
            "raft_term": "2", "raft_applied_index": "8", "db_size_in_use": "16384", "is_learner": true});
        let s = status(snake)?;
        assert_eq!((s.db_size, s.raft_index, s.is_learner, s.leader), (20480, 8, true, None));
        Ok(())
    }

    #[test]
    fn etcdctl_status_from_3_3_to_3_6() -> Result<()> {
        // 3.3.8 (aoxn/ovm test data): no raftAppliedIndex, dbSizeInUse or isLearner.
        let v33: Value = serde_json::from_str(
            r#"[{"Endpoint":"https://192.168.0.31:2379","Status":{"header":{"cluster_id":18421691612643254815,"member_id":15864905497554707009,"revision":296665,"raft_term":4},"version":"3.3.8","dbSize":4415488,"leader":14952074906564636628,"raftIndex":360582,"raftTerm":4}}]"#,
        )?;
        let s = status(v33)?;
        assert_eq!((s.member_id, s.leader), (MemberId(15864905497554707009), Some(MemberId(14952074906564636628))));
        assert_eq!((s.raft_applied_index, s.db_size_in_use, s.is_learner), (None, None, false));
        // 3.6.6, captured: storageVersion, dbSizeQuota and downgradeInfo added.
        let v36: Value = serde_json::from_str(
            r#"{"header":{"cluster_id":16509504660443962926,"member_id":11589452085494132595,"revision":301,"raft_term":2},"version":"3.6.6","dbSize":49152,"leader":11589452085494132595,"raftIndex":308,"raftTerm":2,"raftAppliedIndex":308,"dbSizeInUse":49152,"storageVersion":"3.6.0","dbSizeQuota":2147483648,"downgradeInfo":{}}"#,
        )?;
        let s = status(v36)?;
        assert_eq!((s.db_size_quota, s.raft_applied_index, s.revision), (Some(2147483648), Some(308), Some(301)));
        // 3.3 member lists have no isLearner; a learner in 3.4+ has it.
        let ml = serde_json::json!({"header": {"cluster_id": 1, "member_id": 2, "raft_term": 4},
            "members": [{"ID": 308211321195050191u64, "name": "a"}, {"ID": 2, "name": "b", "isLearner": true}]});
        let snap = members(ml)?;
        assert_eq!(snap.members.iter().map(|m| m.is_learner).collect::<Vec<_>>(), vec![false, true]);
        Ok(())
    }

    #[test]
    fn id_modes() {
        let hex: Value = serde_json::json!({"header": {"cluster_id": "cdf818194e3a8c32"}, "members": [{"ID": "1234"}]});
        assert_eq!(IdMode::of(&hex), IdMode::Hex);
        let dec: Value = serde_json::json!({"members": [{"ID": "10276657743932975437"}]});
        assert_eq!(IdMode::of(&dec), IdMode::Decimal);
    }
}
