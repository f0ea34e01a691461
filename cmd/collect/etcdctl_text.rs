//! etcdctl's human output read back into the JSON shapes the bundle loader knows. Most captures
//! pasted into issues and runbooks are `member list` (simple or `-w table`), `endpoint status
//! -w table` and `endpoint health` lines, not `-w json`; a bundle may hold them as
//! `member-list.txt`, `endpoint-status.txt`, `endpoint-health.txt`.
//!
//! What text loses is not invented: ids are hex as printed; a follower's leader is known only
//! when the same capture has the leader's row at the same term (the table prints IS LEADER, not
//! the leader's id); sizes are go-humanize SI units ("2.2 MB"), so bytes are approximate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

/// `dir/<name>.json`, or `dir/<name>.txt` when only the text capture is there.
pub fn or_text(json_path: PathBuf) -> PathBuf {
    let txt = json_path.with_extension("txt");
    if !json_path.exists() && txt.exists() { txt } else { json_path }
}

/// Reads a text capture, chosen by its file name, as the JSON etcdctl `-w json` would print.
pub fn read(path: &Path) -> Result<Value> {
    let text = super::limits::read(path, &super::limits::ETCDCTL)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let parsed = if name.starts_with("member-list") {
        member_list(&text)
    } else if name.starts_with("endpoint-status") {
        endpoint_status(&text)
    } else if name.starts_with("endpoint-health") {
        endpoint_health(&text)
    } else {
        bail!("no text reader for this file name")
    };
    parsed.with_context(|| format!("cannot parse {} as etcdctl text output", path.display()))
}

/// The cells of one table row (`|` or the box-drawing `│` of etcdctl 3.6+), or `None` for a
/// border line or anything that is not a row.
fn cells(line: &str) -> Option<Vec<String>> {
    let t = line.trim();
    let sep = if t.starts_with('|') {
        '|'
    } else if t.starts_with('│') {
        '│'
    } else {
        return None;
    };
    let inner = t.trim_start_matches(sep).trim_end_matches(sep);
    Some(inner.split(sep).map(|c| c.trim().to_string()).collect())
}

/// Rows of the first table in `text` whose header has `key`, as (header, cells) pairs.
fn table_rows(text: &str, key: &str) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for line in text.lines() {
        let Some(c) = cells(line) else { continue };
        match &header {
            None if c.iter().any(|h| h == key) => header = Some(c),
            None => {}
            Some(h) if c.len() == h.len() && c != *h => rows.push(c),
            Some(_) => {}
        }
    }
    header.map(|h| (h, rows))
}

fn col<'a>(header: &[String], row: &'a [String], name: &str) -> Option<&'a str> {
    header.iter().position(|h| h == name).and_then(|i| row.get(i)).map(String::as_str)
}

fn is_hex_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn urls(field: &str) -> Vec<String> {
    field.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_string).collect()
}

fn member(id: &str, name: &str, peers: &str, clients: &str, learner: Option<&str>) -> Value {
    let mut m = Map::new();
    m.insert("ID".into(), json!(id.to_ascii_lowercase()));
    if !name.is_empty() {
        m.insert("name".into(), json!(name));
    }
    m.insert("peerURLs".into(), json!(urls(peers)));
    let c = urls(clients);
    if !c.is_empty() {
        m.insert("clientURLs".into(), json!(c));
    }
    if learner == Some("true") {
        m.insert("isLearner".into(), json!(true));
    }
    Value::Object(m)
}

/// `etcdctl member list` in the simple form (`id, status, name, peers, clients[, is learner]`,
/// URLs inside a field joined by `,`) or as a `-w table`.
pub fn member_list(text: &str) -> Result<Value> {
    let mut members = Vec::new();
    if let Some((h, rows)) = table_rows(text, "STATUS") {
        for r in rows {
            let get = |n: &str| col(&h, &r, n).unwrap_or_default();
            if !is_hex_id(get("ID")) {
                bail!("member table row {r:?}: ID is not a hex member id");
            }
            members.push(member(
                get("ID"),
                get("NAME"),
                get("PEER ADDRS"),
                get("CLIENT ADDRS"),
                col(&h, &r, "IS LEARNER"),
            ));
        }
    } else {
        for line in text.lines() {
            // etcdctl joins the fields with ", "; a pasted unstarted row may have lost the
            // trailing space after its empty last field.
            let mut line = line.trim().to_string();
            if line.ends_with(',') {
                line.push(' ');
            }
            let f: Vec<&str> = line.split(", ").map(str::trim).collect();
            let status_ok = f.get(1).is_some_and(|s| *s == "started" || *s == "unstarted");
            if f.len() < 5 || !is_hex_id(f[0]) || !status_ok {
                continue; // a prompt, a log line, a blank line
            }
            members.push(member(f[0], f[2], f[3], f[4], f.get(5).copied()));
        }
    }
    if members.is_empty() {
        bail!("no member rows (expected `etcdctl member list` or `member list -w table` output)");
    }
    // A loop over every etcd pod prints the same list once per pod (rancher/rke2#3600): keep one
    // copy. The same id with other fields means lists from different clusters or times.
    let mut unique: Vec<Value> = Vec::new();
    for m in members {
        match unique.iter().find(|u| u["ID"] == m["ID"]) {
            Some(u) if *u == m => {}
            Some(_) => {
                bail!("member {} is listed twice with different fields: several member lists in one file?", m["ID"])
            }
            None => unique.push(m),
        }
    }
    Ok(json!({"members": unique}))
}

/// go-humanize's SI sizes as etcdctl prints them ("20 kB", "2.2 MB"), in bytes (approximate).
fn size(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "B" | "" => 1.0,
        "kB" | "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult).round() as i64)
}

/// One endpoint status row before leaders are resolved.
struct StatusRow {
    endpoint: String,
    id: String,
    version: String,
    db_size: Option<i64>,
    is_leader: bool,
    is_learner: Option<bool>,
    term: Option<u64>,
    index: Option<u64>,
    applied: Option<u64>,
    errors: Vec<String>,
}

fn bool_of(s: &str) -> Option<bool> {
    match s {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn errors_of(s: &str) -> Vec<String> {
    // etcdctl joins errors with ", "; an error text itself rarely holds one.
    s.split(", ").map(str::trim).filter(|e| !e.is_empty()).map(str::to_string).collect()
}

fn status_rows(text: &str) -> Result<Vec<StatusRow>> {
    let mut out = Vec::new();
    if let Some((h, rows)) = table_rows(text, "ENDPOINT") {
        for r in rows {
            let get = |n: &str| col(&h, &r, n).unwrap_or_default();
            if !is_hex_id(get("ID")) {
                bail!("status table row {r:?}: ID is not a hex member id");
            }
            out.push(StatusRow {
                endpoint: get("ENDPOINT").into(),
                id: get("ID").to_ascii_lowercase(),
                version: get("VERSION").into(),
                db_size: size(get("DB SIZE")),
                is_leader: bool_of(get("IS LEADER")).unwrap_or(false),
                is_learner: col(&h, &r, "IS LEARNER").and_then(bool_of),
                term: get("RAFT TERM").parse().ok(),
                index: get("RAFT INDEX").parse().ok(),
                applied: get("RAFT APPLIED INDEX").parse().ok(),
                errors: errors_of(get("ERRORS")),
            });
        }
        return Ok(out);
    }
    for line in text.lines() {
        // endpoint, id, version, [storage version,] db size, [in use, ...,] is leader,
        // [is learner,] raft term, raft index, [applied index,] errors...
        let mut line = line.trim().to_string();
        if line.ends_with(',') {
            line.push(' '); // the empty ERRORS field lost its trailing space
        }
        let f: Vec<&str> = line.split(", ").map(str::trim).collect();
        if f.len() < 7 || !f[0].contains(':') || !is_hex_id(f[1]) {
            continue;
        }
        let Some(lead_at) = (3..f.len()).find(|&i| bool_of(f[i]).is_some()) else { continue };
        let learner = f.get(lead_at + 1).and_then(|s| bool_of(s));
        let nums_at = lead_at + if learner.is_some() { 2 } else { 1 };
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok());
        let has_applied = learner.is_some();
        let errors_at = nums_at + if has_applied { 3 } else { 2 };
        out.push(StatusRow {
            endpoint: f[0].into(),
            id: f[1].to_ascii_lowercase(),
            version: f[2].into(),
            db_size: f[3..lead_at].iter().find_map(|s| size(s)),
            is_leader: bool_of(f[lead_at]).unwrap_or(false),
            is_learner: learner,
            term: num(nums_at),
            index: num(nums_at + 1),
            applied: if has_applied { num(nums_at + 2) } else { None },
            errors: f.get(errors_at..).map(|e| errors_of(&e.join(", "))).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `etcdctl endpoint status` (simple or `-w table`) as the `-w json` array. A follower's
/// `leader` is the leader row of the same capture at the same raft term; when the capture has
/// no such row, `leader` is left out and `leaderUnknown: true` says so (a 3.4+ member without
/// a leader reports "etcdserver: no leader" in its errors instead).
pub fn endpoint_status(text: &str) -> Result<Value> {
    let rows = status_rows(text)?;
    if rows.is_empty() && !text.contains("ENDPOINT") {
        bail!("no status rows (expected `etcdctl endpoint status` or `-w table` output)");
    }
    let leaders: Vec<(&str, Option<u64>)> =
        rows.iter().filter(|r| r.is_leader).map(|r| (r.id.as_str(), r.term)).collect();
    let mut out = Vec::new();
    for r in &rows {
        let no_leader = r.errors.iter().any(|e| e.contains("no leader"));
        let leader = if r.is_leader {
            Some(r.id.clone())
        } else if no_leader {
            None
        } else {
            leaders.iter().find(|(_, t)| r.term.is_some() && *t == r.term).map(|(id, _)| id.to_string())
        };
        let mut st = Map::new();
        let mut header = Map::new();
        header.insert("member_id".into(), json!(r.id));
        if let Some(t) = r.term {
            header.insert("raft_term".into(), json!(t));
            st.insert("raftTerm".into(), json!(t));
        }
        st.insert("header".into(), Value::Object(header));
        st.insert("version".into(), json!(r.version));
        if let Some(s) = r.db_size {
            st.insert("dbSize".into(), json!(s));
        }
        match leader {
            Some(l) => {
                st.insert("leader".into(), json!(l));
            }
            None if !no_leader => {
                st.insert("leaderUnknown".into(), json!(true));
            }
            None => {}
        }
        if let Some(i) = r.index {
            st.insert("raftIndex".into(), json!(i));
        }
        if let Some(a) = r.applied {
            st.insert("raftAppliedIndex".into(), json!(a));
        }
        if let Some(l) = r.is_learner {
            st.insert("isLearner".into(), json!(l));
        }
        if !r.errors.is_empty() {
            st.insert("errors".into(), json!(r.errors));
        }
        out.push(json!({"Endpoint": r.endpoint, "Status": Value::Object(st)}));
    }
    Ok(Value::Array(out))
}

/// `etcdctl endpoint health` lines (`<ep> is healthy: …` / `<ep> is unhealthy: <error>`) or
/// `-w table`, as the `-w json` array.
pub fn endpoint_health(text: &str) -> Result<Value> {
    let mut out = Vec::new();
    if let Some((h, rows)) = table_rows(text, "HEALTH") {
        for r in rows {
            let get = |n: &str| col(&h, &r, n).unwrap_or_default();
            let mut e = json!({"endpoint": get("ENDPOINT"), "health": get("HEALTH") == "true", "took": get("TOOK")});
            if !get("ERROR").is_empty() {
                e["error"] = json!(get("ERROR"));
            }
            out.push(e);
        }
    } else {
        for line in text.lines().map(str::trim) {
            if let Some((ep, rest)) = line.split_once(" is healthy: ") {
                let took = rest.rsplit_once("took = ").map(|(_, t)| t).unwrap_or_default();
                out.push(json!({"endpoint": ep, "health": true, "took": took}));
            } else if let Some((ep, err)) = line.split_once(" is unhealthy: ") {
                out.push(json!({"endpoint": ep, "health": false, "took": "", "error": err}));
            }
        }
    }
    if out.is_empty() {
        bail!("no health lines (expected `<endpoint> is healthy: …` or `endpoint health -w table` output)");
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    // etcd-io/etcd#15787 (an unstarted member, simple form).
    const ML_SIMPLE_UNSTARTED: &str = "bash-4.4$ etcdctl member list
10ff1e8664a58dc8, unstarted, , https://etcd-0.etcd-peer.ztissan.svc.cluster.local:2380, , false
614a7d4d78766dc4, started, etcd-2, https://etcd-2.etcd-peer.ztissan.svc.cluster.local:2380, https://etcd-2.etcd.ztissan:2379, false
d7e9fb5134c29e0a, started, etcd-1, https://etcd-1.etcd-peer.ztissan.svc.cluster.local:2380, https://etcd-1.etcd.ztissan:2379, false
bash-4.4$";

    #[test]
    fn member_list_simple_with_an_unstarted_member() {
        let v = member_list(ML_SIMPLE_UNSTARTED).expect("parses");
        let ms = v["members"].as_array().expect("members");
        assert_eq!(ms.len(), 3);
        assert_eq!(ms[0]["ID"], "10ff1e8664a58dc8");
        assert!(ms[0].get("name").is_none() && ms[0].get("clientURLs").is_none());
        assert_eq!(ms[0]["peerURLs"][0], "https://etcd-0.etcd-peer.ztissan.svc.cluster.local:2380");
        assert_eq!(ms[1]["name"], "etcd-2");
        assert_eq!(ms[1]["clientURLs"][0], "https://etcd-2.etcd.ztissan:2379");
    }

    #[test]
    fn member_list_simple_pre_3_4_five_columns_and_a_lost_trailing_space() {
        // etcd-io/etcd#7134 (etcdctl 3.1: no IS LEARNER column).
        let text = "8e9e05c52164694d, started, default, http://localhost:2380, http://localhost:2379\n\
                    dc9db47dbc7605b5, unstarted, , http://localhost:111111,";
        let v = member_list(text).expect("parses");
        let ms = v["members"].as_array().expect("members");
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1]["peerURLs"][0], "http://localhost:111111");
        assert!(ms[1].get("clientURLs").is_none());
        assert_eq!(ms[0]["clientURLs"][0], "http://localhost:2379");
    }

    #[test]
    fn member_list_tables_ascii_and_box_drawing_with_a_learner() {
        // captured from etcd 3.4.23 (fixtures/corpus/live-learner-started).
        let ascii =
            "+------------------+---------+------+-------------------------+-------------------------+------------+
|        ID        | STATUS  | NAME |       PEER ADDRS        |      CLIENT ADDRS       | IS LEARNER |
+------------------+---------+------+-------------------------+-------------------------+------------+
| 1b8da1ab613dd01e | started |   m3 | http://127.77.14.3:2380 | http://127.77.14.3:2379 |      false |
| d0c1cfbfee72f6a8 | started |   m4 | http://127.77.14.4:2380 | http://127.77.14.4:2379 |       true |
+------------------+---------+------+-------------------------+-------------------------+------------+";
        let v = member_list(ascii).expect("parses");
        assert_eq!(v["members"][1]["isLearner"], true);
        assert_eq!(v["members"][0]["name"], "m3");
        // German K3s guide (etcdctl 3.7.2 box drawing), rows as pasted.
        let boxed = "│        ID        │ STATUS  │          NAME           │         PEER ADDRS         │        CLIENT ADDRS        │ IS LEARNER │
│ 4a66cfb2886891bd │ started │ coreos-master2-186aaa5f │ https://192.168.56.11:2380 │ https://192.168.56.11:2379 │      false │";
        let v = member_list(boxed).expect("parses");
        assert_eq!(v["members"][0]["ID"], "4a66cfb2886891bd");
        assert_eq!(v["members"][0]["clientURLs"][0], "https://192.168.56.11:2379");
    }

    #[test]
    fn member_list_printed_once_per_pod_is_read_once() {
        // The shape of rancher/rke2#3600 (names shortened): a loop of `member list` over the etcd pods.
        let one = "2dd3d49d0a1b31a6, started, cp01-378a6338, https://10.10.74.144:2380, https://10.10.74.144:2379, false\n\
                   8f391ee98aee99ba, started, cp02-8e51049e, https://10.10.74.139:2380, https://10.10.74.139:2379, false\n";
        let v = member_list(&format!("{one}{one}")).expect("parses");
        assert_eq!(v["members"].as_array().map(Vec::len), Some(2));
        // etcd-io/etcd#15787: the second list (asked through the rogue etcd-0) differs.
        let two =
            format!("{ML_SIMPLE_UNSTARTED}\n10ff1e8664a58dc8, started, etcd-0, https://x:2380, https://x:2379, false");
        assert!(member_list(&two).is_err());
    }

    #[test]
    fn member_list_without_rows_is_an_error() {
        assert!(member_list("Error: context deadline exceeded\n").is_err());
    }

    // etcd-io/etcd#11537 (etcd 3.4.3).
    const STATUS_TABLE: &str = "+-------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
|        ENDPOINT         |        ID        | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |
+-------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
| https://172.16.2.3:2379 | f15c8d27ccf66395 |   3.4.3 |  2.2 MB |     false |      false |         6 |      41219 |              41219 |        |
| https://172.16.2.6:2379 | be8c6e0b5f5f6157 |   3.4.3 |  2.2 MB |      true |      false |         6 |      41219 |              41219 |        |
| https://172.16.2.7:2379 | 7e7a0308e6c2067f |   3.4.3 |  2.2 MB |     false |      false |         6 |      41219 |              41219 |        |
+-------------------------+------------------+---------+---------+-----------+------------+-----------+------------+--------------------+--------+";

    #[test]
    fn status_table_followers_follow_the_leader_row_of_their_term() {
        let v = endpoint_status(STATUS_TABLE).expect("parses");
        let a = v.as_array().expect("array");
        assert_eq!(a.len(), 3);
        assert_eq!(a[0]["Endpoint"], "https://172.16.2.3:2379");
        assert_eq!(a[0]["Status"]["header"]["member_id"], "f15c8d27ccf66395");
        assert_eq!(a[0]["Status"]["leader"], "be8c6e0b5f5f6157");
        assert_eq!(a[1]["Status"]["leader"], "be8c6e0b5f5f6157");
        assert_eq!(a[0]["Status"]["dbSize"], 2_200_000);
        assert_eq!(a[0]["Status"]["raftAppliedIndex"], 41219);
        assert_eq!(a[2]["Status"]["isLearner"], false);
    }

    #[test]
    fn status_no_leader_error_and_an_unknown_leader_are_kept_apart() {
        // captured from etcd 3.4.23: one member after `member add` of a never-started second.
        let no_leader = "| http://127.77.11.1:2379 | 16eb90bd4d5533f |  3.4.23 |   20 kB |     false |      false |         2 |          5 |                  5 | etcdserver: no leader |";
        let text = format!(
            "| ENDPOINT | ID | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |\n{no_leader}"
        );
        let v = endpoint_status(&text).expect("parses");
        assert!(v[0]["Status"].get("leader").is_none());
        assert!(v[0]["Status"].get("leaderUnknown").is_none());
        assert_eq!(v[0]["Status"]["errors"][0], "etcdserver: no leader");
        // A follower asked alone: it has a leader, the table does not say which.
        let lone = "| ENDPOINT | ID | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |\n\
                    | https://172.16.2.3:2379 | f15c8d27ccf66395 |   3.4.3 |  2.2 MB |     false |      false |         6 |      41219 |              41219 |        |";
        let v = endpoint_status(lone).expect("parses");
        assert!(v[0]["Status"].get("leader").is_none());
        assert_eq!(v[0]["Status"]["leaderUnknown"], true);
    }

    #[test]
    fn status_simple_lines_3_3_and_3_4() {
        // etcdctl 3.4 simple form (as printed by printer_simple.go), and 3.3's 7 fields.
        let text = "http://127.0.0.1:2379, 8e9e05c52164694d, 3.4.23, 20 kB, true, false, 2, 8, 8, \n\
                    10.0.0.2:2379, 91bc3c398fb3c146, 3.3.12, 1.1 MB, false, 5, 100\n\
                    Failed to get the status of endpoint http://127.0.0.1:22379 (context deadline exceeded)";
        let v = endpoint_status(text).expect("parses");
        let a = v.as_array().expect("array");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0]["Status"]["leader"], "8e9e05c52164694d");
        assert_eq!(a[0]["Status"]["raftAppliedIndex"], 8);
        assert!(a[0]["Status"].get("errors").is_none());
        assert_eq!(a[1]["Endpoint"], "10.0.0.2:2379");
        assert_eq!(a[1]["Status"]["raftTerm"], 5);
        assert_eq!(a[1]["Status"]["raftIndex"], 100);
        assert!(a[1]["Status"].get("isLearner").is_none());
    }

    #[test]
    fn status_table_with_no_rows_is_an_empty_capture() {
        // etcd-io/etcd#12662: every endpoint failed; etcdctl still prints the header.
        let text = "Failed to get the status of endpoint 192.168.5.58:2379 (context deadline exceeded)
+----------+----+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
| ENDPOINT | ID | VERSION | DB SIZE | IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |
+----------+----+---------+---------+-----------+------------+-----------+------------+--------------------+--------+
+----------+----+---------+---------+-----------+------------+-----------+------------+--------------------+--------+";
        assert_eq!(endpoint_status(text).expect("parses"), json!([]));
        assert!(endpoint_status("nothing here").is_err());
    }

    #[test]
    fn health_lines_and_tables() {
        // opsnull/follow-me-install-kubernetes-cluster#78 and etcd-io/etcd#8295.
        let text = "192.168.233.132:2379 is healthy: successfully committed proposal: took = 2.626859ms
192.168.233.131 is unhealthy: failed to connect: grpc: timed out when dialing
127.0.0.1:2379 is unhealthy: failed to connect: dial tcp 127.0.0.1:2379: getsockopt: connection refused
Error: unhealthy cluster";
        let v = endpoint_health(text).expect("parses");
        assert_eq!(v[0], json!({"endpoint": "192.168.233.132:2379", "health": true, "took": "2.626859ms"}));
        assert_eq!(v[1]["health"], false);
        assert_eq!(v[2]["error"], "failed to connect: dial tcp 127.0.0.1:2379: getsockopt: connection refused");
        // etcd-io/etcd#13692.
        let table = "+------------------------------+--------+-------------+--------------------------------+
|           ENDPOINT           | HEALTH |    TOOK     |             ERROR              |
+------------------------------+--------+-------------+--------------------------------+
| https://etc2.example.com:2379 |  false | 47.552071ms | etcdserver: user name is empty |
+------------------------------+--------+-------------+--------------------------------+
Error: unhealthy cluster";
        let v = endpoint_health(table).expect("parses");
        assert_eq!(v[0]["endpoint"], "https://etc2.example.com:2379");
        assert_eq!(v[0]["error"], "etcdserver: user name is empty");
    }

    #[test]
    fn sizes() {
        assert_eq!(size("20 kB"), Some(20_000));
        assert_eq!(size("2.2 MB"), Some(2_200_000));
        assert_eq!(size("0 B"), Some(0));
        assert_eq!(size("false"), None);
    }
}
