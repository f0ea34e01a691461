//! The gate between two members of a rolling upgrade, and `audit --gate`: the member answers
//! at the new version, its applied index caught up with the leader's, every voter healthy with
//! the fault tolerance back to what it was, and no election in progress. "Caught up" compares
//! a status read after the leader's: the leader keeps applying under writes, so the member's
//! later index reaching the leader's earlier one means it is applying live entries, not a
//! snapshot backlog. Also here: `--restart-command` and its placeholders.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etcd_doctor_checks::plan::upgrade::{at_version, host_of};
use etcd_doctor_checks::quorum::Quorum;
use etcd_doctor_checks::{
    id::MemberId,
    model::{Health, Member, Status},
};

use crate::etcd::{Etcd, EtcdError, MemberList};
use crate::fix::executor::statuses;

/// What the gate waits for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Want {
    /// The member just restarted (`None`: every voter, as `audit --gate` asks).
    pub member: Option<MemberId>,
    /// The version it must answer at.
    pub version: Option<String>,
    /// The fault tolerance the cluster must have again (`None`: every voter healthy).
    pub tolerance: Option<i64>,
}

/// The gate's answer: ready, or what is not, one reason each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// Every condition held.
    pub ready: bool,
    /// What is not ready, one short clause each ("m2 does not answer: …").
    pub not_ready: Vec<String>,
    /// What was seen, in one line: leader, term, healthy voters, tolerance, applied indexes.
    pub seen: String,
}

impl Verdict {
    /// One line for people.
    pub fn line(&self) -> String {
        if self.ready {
            format!("ready: {}", self.seen)
        } else {
            format!("not ready: {} ({})", self.not_ready.join("; "), self.seen)
        }
    }
}

fn label(m: &Member) -> String {
    m.label()
}

fn health(status: &BTreeMap<MemberId, Status>, id: MemberId) -> Health {
    match status.get(&id) {
        Some(s) if s.leader.is_some() => Health::Healthy,
        Some(_) => Health::NoLeader,
        None => Health::Unreachable,
    }
}

/// Judges two status rounds of one member list, the second read after the first: leader and
/// its applied index from the first, everything else from the second.
pub fn judge(
    list: &MemberList,
    first: &BTreeMap<MemberId, Status>,
    second: &BTreeMap<MemberId, Status>,
    want: &Want,
) -> Verdict {
    let mut not_ready = Vec::new();
    let voters: Vec<&Member> = list.members.iter().filter(|m| !m.is_learner).collect();
    // Election: every answering voter names one leader, and that leader says it leads.
    let named: Vec<(MemberId, Option<MemberId>, u64)> =
        voters.iter().filter_map(|m| second.get(&m.id).map(|s| (m.id, s.leader, s.raft_term))).collect();
    let mut leaders: Vec<MemberId> = named.iter().filter_map(|(_, l, _)| *l).collect();
    leaders.sort();
    leaders.dedup();
    let mut terms: Vec<u64> = named.iter().map(|(_, _, t)| *t).collect();
    terms.sort();
    terms.dedup();
    let name_of = |id: MemberId| list.members.iter().find(|m| m.id == id).map_or(id.to_string(), label);
    for (id, l, _) in &named {
        if l.is_none() {
            not_ready.push(format!("{} answers without a leader (an election is in progress)", name_of(*id)));
        }
    }
    let leader = match leaders.as_slice() {
        [l] => Some(*l),
        [] => None,
        many => {
            let names: Vec<String> = many.iter().map(|l| name_of(*l)).collect();
            not_ready.push(format!("voters name different leaders ({}): an election is in progress", names.join(", ")));
            None
        }
    };
    if terms.len() > 1 && leaders.len() == 1 {
        not_ready.push(format!(
            "voters report different raft terms ({terms:?}): a new term has not reached every voter yet"
        ));
    }
    if let Some(l) = leader {
        match second.get(&l) {
            Some(s) if s.leader == Some(l) => {}
            Some(_) => not_ready.push(format!("{} is named leader but does not say it leads", name_of(l))),
            None => not_ready.push(format!("the leader {} does not answer", name_of(l))),
        }
        if first.get(&l).is_some_and(|s| s.leader != Some(l)) {
            not_ready.push(format!("{} became leader between two reads: an election just happened", name_of(l)));
        }
    } else if leaders.is_empty() {
        not_ready.push("no voter answers with a leader".into());
    }
    // Health and tolerance.
    let q = Quorum::from_health(list.members.iter().map(|m| (m.is_learner, health(second, m.id))));
    let tolerance = q.tolerance_min();
    for m in &voters {
        let h = health(second, m.id);
        if h == Health::Unreachable && want.tolerance.is_none() {
            not_ready.push(format!("{} does not answer", label(m)));
        }
    }
    if let Some(t) = want.tolerance
        && tolerance < t
    {
        let down: Vec<String> =
            voters.iter().filter(|m| health(second, m.id) != Health::Healthy).map(|m| label(m)).collect();
        not_ready.push(format!(
            "fault tolerance is {tolerance}, not back to {t} ({} of {} voters healthy; not healthy: {})",
            q.healthy_voters,
            q.voters,
            if down.is_empty() { "none".to_string() } else { down.join(", ") }
        ));
    }
    // The member itself: answers, at the version, caught up.
    let leader_applied = leader.and_then(|l| first.get(&l)).and_then(|s| s.raft_applied_index);
    let check: Vec<&Member> = match want.member {
        Some(id) => list.members.iter().filter(|m| m.id == id).collect(),
        None => voters.clone(),
    };
    if let Some(id) = want.member
        && check.is_empty()
    {
        not_ready.push(format!("member {id} is not in the member list"));
    }
    for m in &check {
        let Some(s) = second.get(&m.id) else {
            if want.member.is_some() || want.tolerance.is_some() {
                not_ready.push(format!("{} does not answer", label(m)));
            }
            continue;
        };
        if let Some(v) = &want.version
            && !at_version(&s.version, v)
        {
            not_ready.push(format!("{} answers at {}, not {v}", label(m), s.version));
        }
        if Some(m.id) == leader {
            continue;
        }
        match (s.raft_applied_index, leader_applied) {
            (Some(a), Some(la)) if a >= la => {}
            (Some(a), Some(la)) => {
                not_ready.push(format!("{} applied index {a} is behind the leader's {la}", label(m)))
            }
            (None, _) => {
                not_ready.push(format!("could not decide whether {} caught up: it reports no applied index", label(m)))
            }
            (Some(_), None) if leader.is_some() => not_ready
                .push(format!("could not decide whether {} caught up: no applied index from the leader", label(m))),
            (Some(_), None) => {}
        }
    }
    not_ready.dedup();
    let seen = format!(
        "leader {}, term {}, {} of {} voters healthy, fault tolerance {tolerance}, applied index {}",
        leader.map_or("none".to_string(), name_of),
        terms.last().map_or("?".to_string(), |t| t.to_string()),
        q.healthy_voters,
        q.voters,
        applied_line(list, second)
    );
    Verdict { ready: not_ready.is_empty(), not_ready, seen }
}

fn applied_line(list: &MemberList, s: &BTreeMap<MemberId, Status>) -> String {
    list.members
        .iter()
        .map(|m| {
            let v = s.get(&m.id).and_then(|s| s.raft_applied_index).map_or("-".to_string(), |a| a.to_string());
            format!("{}={v}", if m.name.is_empty() { m.id.to_string() } else { m.name.clone() })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One look: the member list, then two status rounds one after the other.
pub async fn look_once<E: Etcd>(etcd: &E, want: &Want) -> Result<Verdict, EtcdError> {
    let list = etcd.member_list().await?;
    let first = statuses(etcd, &list).await;
    let second = statuses(etcd, &list).await;
    Ok(judge(&list, &first, &second, want))
}

/// Looks until the gate passes or `within` runs out; `Ok` with the passing verdict and how
/// long it took, `Err` with the last verdict (or list error) at the end.
pub async fn wait<E: Etcd>(
    etcd: &E,
    want: &Want,
    within: Duration,
    every: Duration,
) -> Result<(Verdict, Duration), String> {
    let start = Instant::now();
    let deadline = start + within;
    let mut last = String::from("nothing was read yet");
    loop {
        match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), look_once(etcd, want)).await {
            Ok(Ok(v)) if v.ready => return Ok((v, start.elapsed())),
            Ok(Ok(v)) => last = v.line(),
            Ok(Err(e)) => last = format!("no member list: {e}"),
            Err(_) => {}
        }
        if Instant::now() + every >= deadline {
            return Err(last);
        }
        tokio::time::sleep(every).await;
    }
}

/// The placeholders a `--restart-command` may use.
pub const PLACEHOLDERS: [&str; 3] = ["{name}", "{id}", "{host}"];

/// Why a restart command cannot be used for an upgrade: empty, or `{…}` that is not one of
/// [`PLACEHOLDERS`] (a typo would otherwise run a command with a literal `{nmae}` in it).
pub fn check_restart_command(cmd: &str) -> Result<(), String> {
    if cmd.trim().is_empty() {
        return Err("the restart command is empty".into());
    }
    let mut rest = cmd;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let Some(close) = after.find('}') else {
            return Err(format!("{{ without }} in {cmd:?}"));
        };
        let p = &after[..=close];
        if !PLACEHOLDERS.contains(&p) {
            return Err(format!("unknown placeholder {p} (known: {})", PLACEHOLDERS.join(", ")));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// The command for one member: placeholders replaced by its name, id (hex as etcdctl prints
/// it) and host, each quoted for `sh` when it holds anything but plain name characters.
pub fn expand(cmd: &str, m: &Member) -> String {
    let host = host_of(m).unwrap_or_default();
    cmd.replace("{name}", &quote(&m.name)).replace("{id}", &quote(&m.id.to_string())).replace("{host}", &quote(&host))
}

fn quote(v: &str) -> String {
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "._-:@%+=,/".contains(c)) {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: u64, name: &str) -> Member {
        Member {
            id: MemberId(id),
            name: name.into(),
            peer_urls: vec![format!("https://10.0.0.{id}:2380")],
            client_urls: vec![format!("https://10.0.0.{id}:2379")],
            is_learner: false,
            probe: None,
            node: None,
            peer_probe: None,
        }
    }

    fn st(id: u64, leader: Option<u64>, term: u64, applied: u64) -> Status {
        Status {
            member_id: MemberId(id),
            version: "3.5.1".into(),
            leader: leader.map(MemberId),
            raft_term: term,
            raft_applied_index: Some(applied),
            ..Default::default()
        }
    }

    fn three() -> MemberList {
        MemberList {
            endpoint: "https://10.0.0.1:2379".into(),
            cluster_id: None,
            answered_by: None,
            members: vec![m(1, "m1"), m(2, "m2"), m(3, "m3")],
        }
    }

    fn round(s: &[Status]) -> BTreeMap<MemberId, Status> {
        s.iter().map(|s| (s.member_id, s.clone())).collect()
    }

    #[test]
    fn a_healthy_caught_up_cluster_is_ready() {
        let first = round(&[st(1, Some(1), 3, 100), st(2, Some(1), 3, 99), st(3, Some(1), 3, 100)]);
        let second = round(&[st(1, Some(1), 3, 102), st(2, Some(1), 3, 100), st(3, Some(1), 3, 101)]);
        let v = judge(&three(), &first, &second, &Want::default());
        assert!(v.ready, "{v:?}");
        assert!(
            v.line().starts_with("ready: leader m1 (1), term 3, 3 of 3 voters healthy, fault tolerance 1"),
            "{}",
            v.line()
        );
    }

    #[test]
    fn an_election_is_not_ready() {
        let first = round(&[st(1, Some(1), 3, 100), st(2, Some(1), 3, 100), st(3, Some(1), 3, 100)]);
        // m3 has no leader yet; m2 already follows m2's new term... two views of the leader.
        let second = round(&[st(1, None, 4, 100), st(2, Some(2), 4, 100), st(3, Some(1), 3, 100)]);
        let v = judge(&three(), &first, &second, &Want::default());
        assert!(!v.ready);
        let line = v.line();
        assert!(line.contains("m1 (1) answers without a leader") && line.contains("different leaders"), "{line}");
        // Leader changed between the two reads.
        let second = round(&[st(1, Some(2), 4, 100), st(2, Some(2), 4, 101), st(3, Some(2), 4, 100)]);
        let v = judge(&three(), &first, &second, &Want::default());
        assert!(v.line().contains("m2 (2) became leader between two reads"), "{}", v.line());
    }

    #[test]
    fn a_voter_down_or_behind_is_named() {
        let first = round(&[st(1, Some(1), 3, 100), st(2, Some(1), 3, 100), st(3, Some(1), 3, 100)]);
        let second = round(&[st(1, Some(1), 3, 100), st(2, Some(1), 3, 60)]);
        let v = judge(&three(), &first, &second, &Want::default());
        let line = v.line();
        assert!(
            line.contains("m3 (3) does not answer")
                && line.contains("m2 (2) applied index 60 is behind the leader's 100"),
            "{line}"
        );
        assert!(line.contains("2 of 3 voters healthy, fault tolerance 0"), "{line}");
    }

    #[test]
    fn placeholders_are_checked_and_values_quoted() {
        assert!(check_restart_command("ssh {host} systemctl restart etcd # {name} {id}").is_ok());
        let e = check_restart_command("restart {nmae}").err().unwrap_or_default();
        assert!(e.contains("unknown placeholder {nmae}"), "{e}");
        assert!(check_restart_command("systemctl restart {service}").is_err());
        assert!(check_restart_command("  ").is_err());
        assert!(check_restart_command("x {name").is_err());
        assert_eq!(expand("ssh {host} x {name} {id}", &m(0x2a, "m-2")), "ssh 10.0.0.42 x m-2 2a");
        assert_eq!(expand("x {name}", &m(1, "a b;rm")), "x 'a b;rm'");
        assert_eq!(expand("x {name}", &m(1, "it's")), r"x 'it'\''s'");
    }
}
