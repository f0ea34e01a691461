//! Endpoint normalisation: when do two URLs name the same socket? Scheme and host case, a
//! trailing slash, the scheme's default port, IPv4-mapped IPv6, and a host name versus the
//! addresses it resolves to (resolution is done by the collector and passed in).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Why a URL is not usable as an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No `scheme://` in front.
    #[error("{0:?} has no scheme: write https://{0} (or http:// for an etcd without TLS)")]
    NoScheme(String),
    /// Not a URL at all.
    #[error("{url:?} is not a valid URL: {reason}")]
    Invalid {
        /// The input.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// A URL without a host.
    #[error("{0:?} has no host")]
    NoHost(String),
}

/// A parsed endpoint: lowercase scheme, normalised host, port (the scheme default if absent).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// `http`, `https`, `unix`, `unixs`.
    pub scheme: String,
    /// The host.
    pub host: HostKey,
    /// The port; `None` only for unix sockets.
    pub port: Option<u16>,
}

/// A host as a comparable key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostKey {
    /// An IP address (IPv4-mapped IPv6 folded to IPv4).
    Ip(IpAddr),
    /// A lowercase DNS name without a trailing dot (or a unix socket path).
    Name(String),
}

impl std::fmt::Display for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostKey::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            HostKey::Ip(ip) => write!(f, "{ip}"),
            HostKey::Name(n) => f.write_str(n),
        }
    }
}

impl Endpoint {
    /// Parses a URL as etcd would dial it.
    pub fn parse(raw: &str) -> Result<Endpoint, EndpointError> {
        let s = raw.trim();
        if !s.contains("://") {
            return Err(EndpointError::NoScheme(s.to_string()));
        }
        let url = Url::parse(s).map_err(|e| EndpointError::Invalid { url: s.to_string(), reason: e.to_string() })?;
        let scheme = url.scheme().to_ascii_lowercase();
        if scheme == "unix" || scheme == "unixs" {
            let path = format!("{}{}", url.host_str().unwrap_or(""), url.path());
            return Ok(Endpoint { scheme, host: HostKey::Name(path), port: None });
        }
        let host = match url.host() {
            Some(Host::Ipv4(ip)) => HostKey::Ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => HostKey::Ip(ip.to_canonical()),
            Some(Host::Domain(d)) => match d.parse::<IpAddr>() {
                // Non-special schemes leave IPs as domains; fold them here.
                Ok(ip) => HostKey::Ip(ip.to_canonical()),
                Err(_) => HostKey::Name(d.trim_end_matches('.').to_ascii_lowercase()),
            },
            None => return Err(EndpointError::NoHost(s.to_string())),
        };
        let port = url.port_or_known_default();
        Ok(Endpoint { scheme, host, port })
    }

    /// `host:port` as written after normalisation.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }

    /// The sockets this endpoint may dial: one per address its host stands for. A name the
    /// collector did not resolve stands for itself, so it still matches its own spelling.
    pub fn sockets(&self, host_addrs: &BTreeMap<String, Vec<IpAddr>>) -> Vec<(HostKey, Option<u16>)> {
        let addrs: Vec<IpAddr> = match &self.host {
            HostKey::Ip(ip) => vec![*ip],
            HostKey::Name(n) => match host_addrs.get(n) {
                Some(a) if !a.is_empty() => a.iter().map(|ip| ip.to_canonical()).collect(),
                _ if is_localhost(n) => vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)],
                _ => return vec![(self.host.clone(), self.port)],
            },
        };
        addrs.into_iter().map(|ip| (HostKey::Ip(ip), self.port)).collect()
    }
}

/// `localhost` and `*.localhost` always mean loopback (RFC 6761), resolver or not.
pub fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: &str) -> Endpoint {
        Endpoint::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn scheme_host_case_slash_and_default_port_fold() {
        assert_eq!(ep("HTTPS://Etcd-1.Example.COM:443/"), ep("https://etcd-1.example.com"));
        assert_eq!(ep("https://10.0.0.1:2380/"), ep("https://10.0.0.1:2380"));
        assert_eq!(ep("http://10.0.0.1").port, Some(80));
        assert_eq!(ep("https://etcd.example.com.:2380"), ep("https://etcd.example.com:2380"));
        assert_eq!(ep("https://[::ffff:10.0.0.1]:2380").host, ep("https://10.0.0.1:2380").host);
        assert_eq!(ep("https://[2001:DB8::1]:2380").authority(), "[2001:db8::1]:2380");
    }

    #[test]
    fn missing_scheme_is_a_clear_error() {
        let e = Endpoint::parse("10.0.0.1:2379").err();
        assert!(matches!(e, Some(EndpointError::NoScheme(_))));
        assert!(e.is_some_and(|e| e.to_string().contains("https://10.0.0.1:2379")));
        assert!(Endpoint::parse("https://").is_err());
        assert!(Endpoint::parse("https://a b:1").is_err());
    }

    #[test]
    fn localhost_matches_loopback_without_a_resolver() {
        let none = BTreeMap::new();
        let a = ep("https://localhost:2380").sockets(&none);
        let b = ep("https://127.0.0.1:2380").sockets(&none);
        assert!(a.iter().any(|s| b.contains(s)));
    }

    #[test]
    fn resolved_names_match_their_addresses_and_unresolved_ones_only_themselves() {
        let mut m = BTreeMap::new();
        m.insert("etcd-a.internal".to_string(), vec!["10.0.0.5".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))]);
        let a = ep("https://etcd-a.internal:2380").sockets(&m);
        assert_eq!(a, ep("https://10.0.0.5:2380").sockets(&m));
        let b = ep("https://etcd-b.internal:2380").sockets(&m);
        assert_eq!(b, vec![(HostKey::Name("etcd-b.internal".into()), Some(2380))]);
    }
}
