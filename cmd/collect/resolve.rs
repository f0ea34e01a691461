//! Host names in member URLs, resolved with the system resolver, all at once and bounded in
//! time, so `duplicate-peer-url` can see that `https://localhost:2380` is `127.0.0.1:2380`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use etcd_doctor_checks::endpoint::{Endpoint, HostKey, is_localhost};
use etcd_doctor_checks::model::{Gap, Member};

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

/// Resolves every name in parallel, each bounded by `timeout`; failures become one gap.
pub async fn resolve(names: BTreeSet<(String, u16)>, timeout: Duration) -> (BTreeMap<String, Vec<IpAddr>>, Vec<Gap>) {
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
    let mut map = BTreeMap::new();
    let mut failed = Vec::new();
    for (name, res) in futures::future::join_all(lookups).await {
        match res {
            Ok(ips) => {
                map.insert(name, ips);
            }
            Err(e) => failed.push(format!("{name} ({e})")),
        }
    }
    let gaps = if failed.is_empty() {
        Vec::new()
    } else {
        vec![Gap::new(
            "resolver",
            format!("could not resolve {}; those URLs are compared by name only", failed.join(", ")),
        )]
    };
    (map, gaps)
}
