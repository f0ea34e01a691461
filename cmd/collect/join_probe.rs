//! On a K3s/RKE2 etcd-only server (`--local`): ask the join URL, and the URLs that could replace
//! it, whether they serve the Kubernetes API. Replacements are the other etcd members' hosts on
//! the join port (every server there runs the supervisor), or `--server-url` alone when given.

use std::time::Duration;

use anyhow::{Context, Result};
use etcd_doctor_checks::endpoint::{Endpoint, HostKey};
use etcd_doctor_checks::{Gap, Snapshot};
use url::Url;

use super::api_probe::{self, ProbeTls};
use super::local::Local;

/// Fills `snap.local`'s probes; what cannot be probed becomes a gap.
pub async fn run(snap: &mut Snapshot, local: &Local, server_url: Option<&str>, timeout: Duration) -> Result<()> {
    let mut node = local.node.clone();
    let wanted = node.etcd_only && node.join.is_some();
    if let Some(u) = server_url {
        check_url(u).context("--server-url")?;
        if !wanted {
            snap.gaps.push(Gap::new(
                "join-url",
                "--server-url is only used on a K3s/RKE2 etcd-only server with a join URL; ignored here",
            ));
        }
    }
    let Some(join) = node.join.clone().filter(|_| wanted) else {
        snap.local = Some(node);
        return Ok(());
    };
    let Some(files) = &local.api_tls else {
        snap.gaps.push(Gap::new(
            "join-url",
            format!(
                "cannot check whether {} serves the Kubernetes API: no K3s server CA (server/tls/server-ca.crt or agent/server-ca.crt) to verify it with",
                join.url
            ),
        ));
        snap.local = Some(node);
        return Ok(());
    };
    let tls = load(files)?;
    let api_port: Option<u16> =
        (node.distribution == etcd_doctor_checks::distribution::Distribution::Rke2).then_some(6443);
    let mut urls: Vec<String> = match server_url {
        Some(u) => vec![u.trim_end_matches('/').to_string()],
        None => candidates(snap, node.member_name.as_deref(), &join.url, local),
    };
    urls.retain(|u| u != &join.url);
    let ask = |u: String| {
        let tls = tls.clone();
        async move {
            let api = api_url(&u, api_port);
            api_probe::probe(&u, &api, &tls, timeout).await
        }
    };
    let (first, rest) = tokio::join!(ask(join.url.clone()), futures::future::join_all(urls.into_iter().map(ask)));
    node.join_probe = Some(first);
    node.candidates = rest;
    snap.local = Some(node);
    Ok(())
}

fn check_url(u: &str) -> Result<()> {
    let url = Url::parse(u).with_context(|| format!("{u:?} is not a URL like https://10.0.0.5:6443"))?;
    anyhow::ensure!(
        url.scheme() == "https" && url.host_str().is_some(),
        "{u:?}: expected https://<a node that serves the Kubernetes API>:6443"
    );
    Ok(())
}

fn load(files: &super::local::ApiTlsFiles) -> Result<ProbeTls> {
    let ca = std::fs::read(&files.ca).with_context(|| format!("cannot read {}", files.ca.display()))?;
    let identity = match &files.identity {
        Some((c, k)) => Some((
            std::fs::read(c).with_context(|| format!("cannot read {}", c.display()))?,
            std::fs::read(k).with_context(|| format!("cannot read {}", k.display()))?,
        )),
        None => None,
    };
    ProbeTls::new(&ca, identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())))
        .with_context(|| format!("K3s server CA {}", files.ca.display()))
}

/// The URL whose `/version` tells: the join URL itself on K3s, the same host's port 6443 on
/// RKE2 (whose join URL is the supervisor on 9345).
fn api_url(join_url: &str, api_port: Option<u16>) -> String {
    match (Url::parse(join_url), api_port) {
        (Ok(mut u), Some(p)) => {
            let _ = u.set_port(Some(p));
            u.to_string().trim_end_matches('/').to_string()
        }
        _ => join_url.trim_end_matches('/').to_string(),
    }
}

/// The other members' hosts on the join URL's port, each once, in member-list order.
fn candidates(snap: &Snapshot, me: Option<&str>, join_url: &str, local: &Local) -> Vec<String> {
    let port = Url::parse(join_url).ok().and_then(|u| u.port()).unwrap_or(if local.distribution == "rke2" {
        9345
    } else {
        6443
    });
    let mut out: Vec<String> = Vec::new();
    for m in snap.members.iter().filter(|m| me.is_none_or(|n| m.name != n)) {
        for p in &m.peer_urls {
            let Ok(ep) = Endpoint::parse(p) else { continue };
            let host = match ep.host {
                HostKey::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
                HostKey::Ip(ip) => ip.to_string(),
                HostKey::Name(n) => n,
            };
            let u = format!("https://{host}:{port}");
            if !out.contains(&u) {
                out.push(u);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rke2_asks_the_api_port_of_the_supervisor_host() {
        assert_eq!(api_url("https://10.0.0.1:9345", Some(6443)), "https://10.0.0.1:6443");
        assert_eq!(api_url("https://10.0.0.1:6443/", None), "https://10.0.0.1:6443");
        assert!(check_url("http://x:6443").is_err() && check_url("10.0.0.1:6443").is_err());
        assert!(check_url("https://10.0.0.1:6443").is_ok());
    }
}
