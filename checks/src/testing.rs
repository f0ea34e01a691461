//! Builders for unit-test snapshots: `cluster(&[healthy(1), down(2), unstarted(3)])`.

use time::macros::datetime;

use crate::evidence::PeerReach;
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
        peer_probe: None,
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
                leader_unknown: false,
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

fn failing(n: u64, client_err: &str, peer_err: Option<&str>) -> Member {
    let mut m = base(n);
    m.probe =
        Some(Probe { attempts: vec![Attempt { endpoint: m.client_urls[0].clone(), result: Err(client_err.into()) }] });
    m.peer_probe = peer_err.map(|e| vec![PeerReach { url: m.peer_urls[0].clone(), result: Err(e.into()) }]);
    m
}

/// A started member refused at its client URL and its peer URL: proven down.
pub fn down(n: u64) -> Member {
    failing(
        n,
        &format!("dial tcp 10.0.0.{n}:2379: connect: connection refused"),
        Some(&format!("dial tcp 10.0.0.{n}:2380: connect: connection refused")),
    )
}

/// A started member refused at its client URL whose peer URL was not dialled (a bundle).
pub fn refused_client_only(n: u64) -> Member {
    failing(n, &format!("dial tcp 10.0.0.{n}:2379: connect: connection refused"), None)
}

/// A started member that timed out at its client and peer URLs.
pub fn unreachable(n: u64) -> Member {
    failing(
        n,
        &format!("dial tcp 10.0.0.{n}:2379: i/o timeout"),
        Some(&format!("dial tcp 10.0.0.{n}:2380: i/o timeout")),
    )
}

/// A started member that accepts TCP but never answers TLS (SIGSTOP).
pub fn hung(n: u64) -> Member {
    failing(n, "hung: TCP accepted, no TLS answer within 2s", Some("hung: TCP accepted, no TLS answer within 2s"))
}

/// A started member whose client URL times out while its peer port completes a handshake.
pub fn alive(n: u64) -> Member {
    let mut m = failing(n, &format!("dial tcp 10.0.0.{n}:2379: i/o timeout"), None);
    m.peer_probe = Some(vec![PeerReach { url: m.peer_urls[0].clone(), result: Ok(()) }]);
    m
}

/// A member that answers without a leader (an election, or its side lost quorum).
pub fn electing(n: u64) -> Member {
    no_leader(n)
}

/// A started member that timed out everywhere and whose host name does not resolve (NXDOMAIN,
/// recorded by [`cluster`]): proven gone.
pub fn gone(n: u64) -> Member {
    let mut m = unreachable(n);
    m.peer_urls = vec![format!("https://m{n}{GONE_SUFFIX}:2380")];
    m.client_urls = vec![format!("https://m{n}{GONE_SUFFIX}:2379")];
    m
}

/// Host names under this suffix are recorded as NXDOMAIN by [`cluster`].
pub const GONE_SUFFIX: &str = ".gone.example";

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
    for m in members {
        for u in m.peer_urls.iter().chain(&m.client_urls) {
            if let Ok(crate::endpoint::Endpoint { host: crate::endpoint::HostKey::Name(h), .. }) =
                crate::endpoint::Endpoint::parse(u)
                && h.ends_with(GONE_SUFFIX)
            {
                s.unresolvable_hosts.insert(h);
            }
        }
    }
    s
}

/// The fingerprint of the test CA.
pub const CA_SHA: &str = "CA:CA:CA";

/// A certificate valid 2026-01-01 .. 2027-01-01, issued by the test CA.
pub fn cert_info(subject: &str, ips: &[&str]) -> crate::cert::CertInfo {
    crate::cert::CertInfo {
        subject: format!("CN={subject}"),
        issuer: "CN=etcd-ca".into(),
        serial: "01".into(),
        dns_names: vec![],
        ip_addresses: ips.iter().filter_map(|s| s.parse().ok()).collect(),
        not_before: datetime!(2026-01-01 0:00 UTC),
        not_after: datetime!(2027-01-01 0:00 UTC),
        sha256: format!("{subject}:SHA"),
        issuer_sha256: Some(CA_SHA.into()),
        is_ca: false,
        usages: vec!["serverAuth".into(), "clientAuth".into()],
        chains_to: Default::default(),
    }
}

/// The same certificate as if a foreign CA had signed it.
pub fn foreign_leaf(c: &crate::cert::CertInfo) -> crate::cert::CertInfo {
    let mut c = c.clone();
    c.issuer = "CN=other-ca".into();
    c.issuer_sha256 = None;
    c.sha256 = format!("{}:FOREIGN", c.sha256);
    for v in c.chains_to.values_mut() {
        *v = false;
    }
    c
}

/// The snapshot with a CA file (`/pki/ca.crt`, every CA role) and, for every started member,
/// a client and a peer chain signed by it that name the member's address; then `edit`.
pub fn with_certs(mut snap: Snapshot, edit: impl FnOnce(&mut crate::cert::Certs, &Snapshot)) -> Snapshot {
    use crate::cert::{CertFile, CertRole, Certs, Port, Presented};
    let mut ca = cert_info("etcd-ca", &[]);
    ca.issuer = "CN=etcd-ca".into();
    ca.sha256 = CA_SHA.into();
    ca.is_ca = true;
    ca.not_after = datetime!(2036-01-01 0:00 UTC);
    let mut certs = Certs {
        files: vec![CertFile {
            path: "/pki/ca.crt".into(),
            roles: vec![CertRole::ServerCa, CertRole::ClientCa, CertRole::PeerCa],
            from: "test".into(),
            member: None,
            certs: vec![ca],
            key_path: None,
            key_matches: None,
            error: None,
        }],
        ..Default::default()
    };
    for m in snap.members.iter().filter(|m| !m.is_unstarted()) {
        let ip = format!("10.0.0.{}", m.id.0);
        for (port, role, url) in [
            (Port::Client, CertRole::ServerCa, m.client_urls.first()),
            (Port::Peer, CertRole::PeerCa, m.peer_urls.first()),
        ] {
            let mut leaf = cert_info(&format!("{}-{}", m.name, port.as_str()), &[&ip]);
            leaf.chains_to.insert(role, true);
            certs.presented.push(Presented {
                member_id: m.id,
                port,
                url: url.cloned().unwrap_or_default(),
                chain: vec![leaf],
                refused_by: None,
                error: None,
            });
        }
    }
    edit(&mut certs, &snap);
    snap.certs = Some(certs);
    snap
}

/// Three (or as many as given) healthy members reporting these versions.
pub fn with_versions(vs: &[&str]) -> Snapshot {
    let members: Vec<_> = (1..=vs.len() as u64).map(healthy).collect();
    let mut snap = cluster(&members);
    for (m, v) in snap.members.iter_mut().zip(vs) {
        if let Some(Ok(s)) = m.probe.as_mut().and_then(|p| p.attempts.first_mut()).map(|a| a.result.as_mut()) {
            s.version = v.to_string();
        }
    }
    snap
}
