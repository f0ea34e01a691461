//! Builders for unit-test snapshots: `cluster(&[healthy(1), down(2), unstarted(3)])`.

use time::macros::datetime;

use crate::id::MemberId;
use crate::model::{Attempt, Member, Probe, Snapshot, Source, Status};

fn base(n: u64) -> Member {
    Member {
        id: MemberId(n),
        name: format!("m{n}"),
        peer_urls: vec![format!("https://10.0.0.{n}:2380")],
        client_urls: vec![format!("https://10.0.0.{n}:2379")],
        is_learner: false,
        probe: None,
        node: None,
    }
}

fn answered(m: &Member, leader: Option<u64>) -> Probe {
    Probe {
        attempts: vec![Attempt {
            endpoint: m.client_urls[0].clone(),
            result: Ok(Status {
                member_id: m.id,
                cluster_id: Some(MemberId(0xc1)),
                version: "3.5.16".into(),
                db_size: 2 << 20,
                db_size_in_use: Some(1 << 20),
                leader: leader.map(MemberId),
                raft_term: 2,
                revision: Some(50),
                raft_index: 100,
                raft_applied_index: Some(100),
                is_learner: m.is_learner,
                errors: if leader.is_none() { vec!["etcdserver: no leader".into()] } else { vec![] },
                db_size_quota: None,
            }),
        }],
    }
}

/// A started member that answers and follows member 1.
pub fn healthy(n: u64) -> Member {
    let mut m = base(n);
    m.probe = Some(answered(&m, Some(1)));
    m
}

/// A started member whose client URL refuses connections.
pub fn down(n: u64) -> Member {
    let mut m = base(n);
    m.probe = Some(Probe {
        attempts: vec![Attempt {
            endpoint: m.client_urls[0].clone(),
            result: Err(format!("dial tcp 10.0.0.{n}:2379: connect: connection refused")),
        }],
    });
    m
}

/// A member that answers but has no leader.
pub fn no_leader(n: u64) -> Member {
    let mut m = base(n);
    m.probe = Some(answered(&m, None));
    m
}

/// A member added but never started: no name, no client URLs, nothing probed.
pub fn unstarted(n: u64) -> Member {
    let mut m = base(n);
    m.name.clear();
    m.client_urls.clear();
    m
}

/// A started member that was not probed at all.
pub fn unprobed(n: u64) -> Member {
    base(n)
}

/// The same member as a learner.
pub fn learner(mut m: Member) -> Member {
    m.is_learner = true;
    if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
        s.is_learner = true;
    }
    m
}

/// A live snapshot of these members at a fixed time.
pub fn cluster(members: &[Member]) -> Snapshot {
    let mut s = Snapshot::new(Source::Live, datetime!(2026-11-24 12:00 UTC));
    s.cluster_id = Some(MemberId(0xc1));
    s.members = members.to_vec();
    s
}
