//! Host names in member URLs, resolved with the system resolver, all at once and bounded in
//! time, so `duplicate-peer-url` can see that `https://localhost:2380` is `127.0.0.1:2380`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use etcd_doctor_checks::endpoint::{Endpoint, HostKey, is_localhost};
use etcd_doctor_checks::{Gap, Member};

/// The host names in these members' peer and client URLs (not IPs, not localhost).
pub fn names_in(members: &[Member]) -> BTreeSet<(String, u16)> {
    members
        .iter()
        .flat_map(|m| m.peer_urls.iter().chain(&m.client_urls))
        .filter_map(|u| Endpoint::parse(u).ok())
        .filter_map(|e| match e.host {
            HostKey::Name(n) if !is_localhost(&n) && e.port.is_some() => Some((n, e.port.unwrap_or(0))),
            _ => None,
        })
        .collect()
}

/// What resolving the member URLs' host names found.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The addresses of each name that resolved.
    pub addrs: BTreeMap<String, Vec<IpAddr>>,
    /// What could not be resolved, and why.
    pub gaps: Vec<Gap>,
    /// Names the resolver answered do not exist (NXDOMAIN), while it did resolve another of
    /// the cluster's names: evidence that a machine is gone. A resolver that did not answer,
    /// or that knows none of the cluster's names (a bastion outside its DNS), proves nothing.
    pub nxdomain: BTreeSet<String>,
}

/// Whether a resolver error says the name does not exist, as opposed to "no answer"
/// (`Temporary failure in name resolution`, a timeout). getaddrinfo's EAI_NONAME as glibc,
/// musl, macOS and Windows word it; EAI_NODATA (the name exists without addresses) is not.
pub fn is_nxdomain(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    ["name or service not known", "nodename nor servname provided", "no such host is known", "name does not resolve"]
        .iter()
        .any(|k| m.contains(k))
}

/// Resolves every name in parallel, each bounded by `timeout`; failures become one gap.
pub async fn resolve(names: BTreeSet<(String, u16)>, timeout: Duration) -> Resolved {
    let lookups = names.into_iter().map(|(name, port)| async move {
        let r = tokio::time::timeout(timeout, tokio::net::lookup_host(format!("{name}:{port}"))).await;
        let res = match r {
            Ok(Ok(addrs)) => {
                let mut ips: Vec<IpAddr> = addrs.map(|a| a.ip().to_canonical()).collect();
                ips.sort();
                ips.dedup();
                Ok(ips)
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        (name, res)
    });
    let mut out = Resolved::default();
    let mut failed = Vec::new();
    let mut nxdomain = BTreeSet::new();
    for (name, res) in futures::future::join_all(lookups).await {
        match res {
            Ok(ips) => {
                out.addrs.insert(name, ips);
            }
            Err(e) => {
                if is_nxdomain(&e) {
                    nxdomain.insert(name.clone());
                }
                failed.push(format!("{name} ({e})"));
            }
        }
    }
    if !failed.is_empty() {
        out.gaps.push(Gap::new(
            "resolver",
            format!("could not resolve {}; those URLs are compared by name only", failed.join(", ")),
        ));
    }
    if !nxdomain.is_empty() && out.addrs.is_empty() {
        out.gaps.push(Gap::new(
            "resolver",
            "this machine's resolver knows none of the members' host names: their NXDOMAIN answers are not taken as \
             proof that a machine is gone (run where the cluster's DNS answers, e.g. on a control-plane node)",
        ));
    } else {
        out.nxdomain = nxdomain;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nxdomain_is_told_from_a_resolver_that_did_not_answer() {
        assert!(is_nxdomain("failed to lookup address information: Name or service not known"));
        assert!(is_nxdomain("failed to lookup address information: nodename nor servname provided, or not known"));
        assert!(!is_nxdomain("failed to lookup address information: Temporary failure in name resolution"));
        assert!(!is_nxdomain("failed to lookup address information: No address associated with hostname"));
        assert!(!is_nxdomain("no answer within 2s"));
    }

    #[tokio::test]
    async fn names_that_resolve_and_localhost_never_count_as_gone() {
        let names: BTreeSet<(String, u16)> = [("localhost".to_string(), 2380)].into_iter().collect();
        let r = resolve(names, Duration::from_secs(2)).await;
        assert!(r.nxdomain.is_empty(), "{r:?}");
        assert!(r.addrs.get("localhost").is_some_and(|a| !a.is_empty()), "{r:?}");
    }
}
