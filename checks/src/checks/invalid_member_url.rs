//! `invalid-member-url`: a member peer or client URL that can never work — a port out of range
//! (etcd#7134: a member added with peer port 111111 is accepted, because Go's URL parser checks
//! only that a port is digits, and then no process can ever listen there), a path, an unknown
//! scheme, no host, or no port where etcd needs one. etcd's own flag parser (`types.NewURLs`)
//! takes `http`, `https`, `unix` and `unixs`, wants `host:port` for http(s) and no path.
//!
//! The URL is read here by hand, not with [`crate::endpoint::Endpoint`]: that parser rejects a
//! port out of range outright, so every check built on it (duplicate-peer-url, node mapping)
//! skips such a URL; this check is where it surfaces.

use super::{member_evidence, subject};
use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::{Member, Snapshot};
use crate::registry::Check;

declare_check! {
    /// A member URL that can never be dialled or listened on.
    InvalidMemberUrl, "invalid-member-url", Severity::Critical, "0.2.0",
    "A member peer or client URL can never work"
}

/// What is wrong with one URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlProblem {
    /// No `scheme://` in front.
    NoScheme,
    /// A scheme etcd does not speak.
    UnknownScheme(String),
    /// Nothing between `://` and the port or path.
    NoHost,
    /// http(s) without an explicit port: etcd refuses it ("does not have the form host:port").
    NoPort,
    /// A port that is not a number from 1 to 65535.
    BadPort(String),
    /// A path after the authority: etcd refuses it ("URL must not contain a path").
    Path(String),
    /// A query or fragment: etcd ignores it, but the URL no longer matches its spelling in
    /// flags and configs.
    QueryOrFragment(String),
}

impl UrlProblem {
    /// Whether the URL can never work (rather than only being untidy).
    pub fn fatal(&self) -> bool {
        !matches!(self, UrlProblem::QueryOrFragment(_))
    }

    fn describe(&self) -> String {
        match self {
            UrlProblem::NoScheme => "has no scheme (etcd needs http://, https://, unix:// or unixs://)".into(),
            UrlProblem::UnknownScheme(s) => {
                format!("uses scheme {s}://, which etcd does not speak (http, https, unix, unixs)")
            }
            UrlProblem::NoHost => "has no host".into(),
            UrlProblem::NoPort => "has no port: etcd needs host:port for http and https".into(),
            UrlProblem::BadPort(p) => format!("has port {p}, which is not a TCP port (1 to 65535)"),
            UrlProblem::Path(p) => format!("has a path {p:?}: etcd refuses URLs with a path"),
            UrlProblem::QueryOrFragment(q) => {
                format!("carries {q:?}, which etcd ignores; the URL then matches no flag that names it")
            }
        }
    }
}

/// The problems of one URL as etcd would read it; empty when it is fine.
pub fn url_problems(raw: &str) -> Vec<UrlProblem> {
    let s = raw.trim();
    let Some((scheme, rest)) = s.split_once("://") else { return vec![UrlProblem::NoScheme] };
    let scheme = scheme.to_ascii_lowercase();
    let mut out = Vec::new();
    match scheme.as_str() {
        "http" | "https" => {}
        // A socket path: everything after the scheme is the path.
        "unix" | "unixs" => {
            if rest.is_empty() {
                out.push(UrlProblem::NoHost);
            }
            return out;
        }
        other => out.push(UrlProblem::UnknownScheme(other.to_string())),
    }
    // authority [path] [?query] [#fragment]
    let (before_frag, frag) = match rest.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (rest, None),
    };
    let (before_query, query) = match before_frag.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (before_frag, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    // user:password@ is not something etcd reads either, but it does not break the URL.
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => {
                (h, tail.strip_prefix(':').map(Some).unwrap_or(if tail.is_empty() { None } else { Some(tail) }))
            }
            None => (v6, None),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        out.push(UrlProblem::NoHost);
    }
    match port {
        None => out.push(UrlProblem::NoPort),
        Some(p) => match p.parse::<u64>() {
            Ok(n) if (1..=65535).contains(&n) => {}
            _ => out.push(UrlProblem::BadPort(p.to_string())),
        },
    }
    if !path.is_empty() {
        out.push(UrlProblem::Path(path.to_string()));
    }
    let extra: Vec<String> =
        [query.map(|q| format!("?{q}")), frag.map(|f| format!("#{f}"))].into_iter().flatten().collect();
    if !extra.is_empty() {
        out.push(UrlProblem::QueryOrFragment(extra.concat()));
    }
    out
}

impl Check for InvalidMemberUrl {
    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        super::no_member_list(snap)
    }

    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        let mut out = Vec::new();
        for m in &snap.members {
            for (kind, urls) in [("peer", &m.peer_urls), ("client", &m.client_urls)] {
                for url in urls {
                    let problems = url_problems(url);
                    if !problems.is_empty() {
                        out.push(finding(m, kind, url, &problems));
                    }
                }
            }
        }
        out
    }
}

fn finding(m: &Member, kind: &str, url: &str, problems: &[UrlProblem]) -> Finding {
    let fatal = problems.iter().any(UrlProblem::fatal);
    let severity = if fatal { Severity::Critical } else { Severity::Warning };
    let what: Vec<String> = problems.iter().map(UrlProblem::describe).collect();
    let consequence = match (kind, fatal) {
        ("peer", true) if m.is_unstarted() => {
            "no etcd can ever start as this member, and as a voter it holds a quorum vote it never casts"
        }
        ("peer", true) => "the other members can never reach this member at it, and no restart of it will work",
        (_, true) => "clients (and etcdctl --cluster) can never reach this member at it",
        _ => "it works, but it will not compare equal to the URL in this member's flags",
    };
    let message = format!("{kind} URL {url:?} of {} {}: {consequence}", m.label(), what.join("; "));
    let remedy = if kind == "peer" {
        let verb = if m.is_unstarted() {
            format!(
                "correct the peer URL of the member that never started (or remove it: etcdctl member remove {})",
                m.id
            )
        } else {
            "correct the peer URL in the member list, then the member's --initial-advertise-peer-urls to match".into()
        };
        Remedy::Manual {
            description: verb,
            commands: vec![format!(
                "etcdctl member update {} --peer-urls=https://<host>:2380   # the URL its etcd listens on",
                m.id
            )],
        }
    } else {
        Remedy::Manual {
            description: format!(
                "a member publishes its client URLs itself when it starts: correct --advertise-client-urls (ETCD_ADVERTISE_CLIENT_URLS) on {} and restart it, one member at a time",
                if m.name.is_empty() { m.id.to_string() } else { m.name.clone() }
            ),
            commands: vec!["--advertise-client-urls=https://<host>:2379".into()],
        }
    };
    Finding::new(InvalidMemberUrl::INFO.id, severity, subject(m), message)
        .member(m.id, m.node.as_deref())
        .with("url", url)
        .with("urlKind", kind)
        .with("problems", &what)
        .with("member", member_evidence(m))
        .remedy(remedy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn urls_etcd_accepts_have_no_problem() {
        for u in [
            "https://10.0.0.1:2380",
            "http://etcd-0.etcd:2380",
            "https://[2001:db8::1]:2380",
            "HTTPS://Etcd-1.Example.com:2379",
            "unix://localhost:2379",
            "unixs:///run/etcd.sock",
            " https://10.0.0.1:2380 ",
        ] {
            assert_eq!(url_problems(u), Vec::<UrlProblem>::new(), "{u}");
        }
    }

    #[test]
    fn urls_that_can_never_work_are_named() {
        use UrlProblem::*;
        let cases: [(&str, Vec<UrlProblem>); 10] = [
            ("http://10.0.0.4:111111", vec![BadPort("111111".into())]),
            ("https://10.0.0.4:0", vec![BadPort("0".into())]),
            ("https://10.0.0.4:23x0", vec![BadPort("23x0".into())]),
            ("https://10.0.0.4:2380/etcd", vec![Path("/etcd".into())]),
            ("https://10.0.0.4:2380/", vec![Path("/".into())]),
            ("tcp://10.0.0.4:2380", vec![UnknownScheme("tcp".into())]),
            ("https://:2380", vec![NoHost]),
            ("https://10.0.0.4", vec![NoPort]),
            ("10.0.0.4:2380", vec![NoScheme]),
            ("https://[::1]", vec![NoPort]),
        ];
        for (u, want) in cases {
            assert_eq!(url_problems(u), want, "{u}");
        }
        let q = url_problems("https://10.0.0.4:2380?x=1#a");
        assert_eq!(q, vec![QueryOrFragment("?x=1#a".into())]);
        assert!(!q[0].fatal());
    }

    #[test]
    fn a_member_added_with_port_111111_is_critical_and_never_removed_automatically() {
        let mut bad = unstarted(4);
        bad.peer_urls = vec!["http://10.0.0.4:111111".into()];
        let snap = cluster(&[healthy(1), healthy(2), healthy(3), bad]);
        let f = InvalidMemberUrl.run(&snap);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(f[0].member_id.map(|m| m.0), Some(4));
        assert!(f[0].message.contains("111111") && f[0].message.contains("can ever start"), "{}", f[0].message);
        assert!(
            matches!(&f[0].remedy, Some(Remedy::Manual { commands, .. }) if commands[0].contains("member update 4"))
        );
        // Other checks built on the endpoint parser skip the URL rather than panic.
        assert!(crate::endpoint::Endpoint::parse("http://10.0.0.4:111111").is_err());
        let _ = super::super::duplicate_peer_url::DuplicatePeerUrl.run(&snap);
        let mut mapped = snap.clone();
        mapped.nodes = Some(Vec::new());
        mapped.map_nodes();
    }

    #[test]
    fn a_bad_client_url_and_a_query_are_reported_with_their_severity() {
        let mut a = healthy(1);
        a.client_urls = vec!["https://10.0.0.1:2379/v3".into()];
        let mut b = healthy(2);
        b.peer_urls = vec!["https://10.0.0.2:2380?timeout=5s".into()];
        let f = InvalidMemberUrl.run(&cluster(&[a, b, healthy(3)]));
        assert_eq!(f.len(), 2, "{f:?}");
        let by = |id: u64| f.iter().find(|x| x.member_id.map(|m| m.0) == Some(id)).map(|x| x.severity);
        assert_eq!(by(1), Some(Severity::Critical));
        assert_eq!(by(2), Some(Severity::Warning));
    }

    #[test]
    fn healthy_members_are_silent() {
        assert!(InvalidMemberUrl.run(&cluster(&[healthy(1), healthy(2), unstarted(3)])).is_empty());
    }
}
