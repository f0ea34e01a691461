//! `--local`: on a control-plane or etcd node, find how to reach the local etcd from the
//! distribution's own files — K3s/RKE2 (`/var/lib/rancher/*/server/tls/etcd/`), kubeadm
//! (`/etc/kubernetes/manifests/etcd.yaml`, `/etc/kubernetes/pki/etcd/`), Kubespray
//! (`/etc/etcd.env`, `/etc/ssl/etcd/ssl/`). `--root DIR` reads a copy of a node's filesystem
//! (support engineers, tests). Flags given explicitly still win.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// What the node's files say.
#[derive(Debug, Clone, PartialEq)]
pub struct Local {
    /// k3s, rke2, kubeadm, kubespray.
    pub distribution: &'static str,
    /// The file that told.
    pub source: PathBuf,
    /// Client URLs to ask.
    pub endpoints: Vec<String>,
    /// CA, client certificate and key, as paths under the root.
    pub cacert: PathBuf,
    /// Client certificate.
    pub cert: PathBuf,
    /// Client key.
    pub key: PathBuf,
}

/// A node path under `root`.
fn at(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Finds the local etcd's endpoint and client files under `root`.
pub fn discover(root: &Path) -> Result<Local> {
    for (dist, base) in
        [("k3s", "/var/lib/rancher/k3s/server/tls/etcd"), ("rke2", "/var/lib/rancher/rke2/server/tls/etcd")]
    {
        let dir = at(root, base);
        if dir.join("client.crt").is_file() {
            return Ok(Local {
                distribution: dist,
                source: dir.clone(),
                endpoints: vec!["https://127.0.0.1:2379".into()],
                cacert: dir.join("server-ca.crt"),
                cert: dir.join("client.crt"),
                key: dir.join("client.key"),
            });
        }
    }
    let manifest = at(root, "/etc/kubernetes/manifests/etcd.yaml");
    if manifest.is_file() {
        return kubeadm(root, &manifest);
    }
    let env = at(root, "/etc/etcd.env");
    if env.is_file() {
        return kubespray(root, &env);
    }
    bail!(
        "--local found no etcd configuration under {}: looked for /var/lib/rancher/{{k3s,rke2}}/server/tls/etcd/ (K3s, RKE2), \
         /etc/kubernetes/manifests/etcd.yaml (kubeadm) and /etc/etcd.env (Kubespray); run on a control-plane or etcd node \
         (as root), or pass --endpoints/--cacert/--cert/--key",
        root.display()
    )
}

/// `--flag=value` or `--flag value` from a list of arguments.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let eq = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(&eq).or_else(|| (a == name).then(|| args.get(i + 1).map(String::as_str)).flatten())
    })
}

/// Prefers a loopback client URL (always reachable on the node), else the advertised ones.
fn pick(listen: Option<&str>, advertise: Option<&str>) -> Vec<String> {
    let split = |s: Option<&str>| -> Vec<String> {
        s.unwrap_or_default().split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect()
    };
    let loopback: Vec<String> = split(listen)
        .into_iter()
        .filter(|u| u.contains("://127.0.0.1:") || u.contains("://localhost:") || u.contains("://[::1]:"))
        .collect();
    if loopback.is_empty() { split(advertise) } else { loopback }
}

fn kubeadm(root: &Path, manifest: &Path) -> Result<Local> {
    #[derive(serde::Deserialize)]
    struct Pod {
        spec: Spec,
    }
    #[derive(serde::Deserialize)]
    struct Spec {
        containers: Vec<Container>,
    }
    #[derive(serde::Deserialize)]
    struct Container {
        #[serde(default)]
        command: Vec<String>,
        #[serde(default)]
        args: Vec<String>,
    }
    let text = std::fs::read_to_string(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let pod: Pod = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("cannot parse {} as a Pod manifest", manifest.display()))?;
    let args: Vec<String> = pod.spec.containers.into_iter().flat_map(|c| c.command.into_iter().chain(c.args)).collect();
    let endpoints = pick(flag(&args, "--listen-client-urls"), flag(&args, "--advertise-client-urls"));
    if endpoints.is_empty() {
        bail!("{}: no --listen-client-urls or --advertise-client-urls", manifest.display());
    }
    let ca = flag(&args, "--trusted-ca-file").unwrap_or("/etc/kubernetes/pki/etcd/ca.crt");
    // healthcheck-client is the client pair kubeadm makes for exactly this; the API server's
    // etcd client pair next; the server pair (serverAuth + clientAuth in kubeadm) last.
    let hc = (
        at(root, "/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
        at(root, "/etc/kubernetes/pki/etcd/healthcheck-client.key"),
    );
    let api = (
        at(root, "/etc/kubernetes/pki/apiserver-etcd-client.crt"),
        at(root, "/etc/kubernetes/pki/apiserver-etcd-client.key"),
    );
    let server = (
        at(root, flag(&args, "--cert-file").unwrap_or("/etc/kubernetes/pki/etcd/server.crt")),
        at(root, flag(&args, "--key-file").unwrap_or("/etc/kubernetes/pki/etcd/server.key")),
    );
    let (cert, key) = [hc, api].into_iter().find(|(c, k)| c.is_file() && k.is_file()).unwrap_or(server);
    Ok(Local { distribution: "kubeadm", source: manifest.to_path_buf(), endpoints, cacert: at(root, ca), cert, key })
}

fn kubespray(root: &Path, env: &Path) -> Result<Local> {
    let text = std::fs::read_to_string(env).with_context(|| format!("cannot read {}", env.display()))?;
    let get = |k: &str| {
        text.lines()
            .filter_map(|l| l.trim().split_once('='))
            .find(|(key, _)| key.trim() == k)
            .map(|(_, v)| v.trim().trim_matches('"'))
    };
    let endpoints = pick(get("ETCD_LISTEN_CLIENT_URLS"), get("ETCD_ADVERTISE_CLIENT_URLS"));
    if endpoints.is_empty() {
        bail!("{}: no ETCD_LISTEN_CLIENT_URLS or ETCD_ADVERTISE_CLIENT_URLS", env.display());
    }
    let ca = get("ETCD_TRUSTED_CA_FILE").unwrap_or("/etc/ssl/etcd/ssl/ca.pem");
    // Kubespray's admin-<host>.pem is the client pair for etcdctl; the member pair also
    // carries clientAuth.
    let ssl = at(root, "/etc/ssl/etcd/ssl");
    let admin = std::fs::read_dir(&ssl).ok().and_then(|d| {
        let mut names: Vec<PathBuf> = d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("admin-") && n.ends_with(".pem") && !n.ends_with("-key.pem"))
            })
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|c| {
                (c.with_file_name(format!("{}-key.pem", c.file_stem().and_then(|s| s.to_str()).unwrap_or_default())), c)
            })
            .find(|(k, _)| k.is_file())
    });
    let (cert, key) = match admin {
        Some((k, c)) => (c, k),
        None => (
            at(root, get("ETCD_CERT_FILE").unwrap_or("/etc/ssl/etcd/ssl/member.pem")),
            at(root, get("ETCD_KEY_FILE").unwrap_or("/etc/ssl/etcd/ssl/member-key.pem")),
        ),
    };
    Ok(Local { distribution: "kubespray", source: env.to_path_buf(), endpoints, cacert: at(root, ca), cert, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3s_layout_gives_loopback_and_the_etcd_client_pair() {
        let d = tempfile::tempdir().expect("tempdir");
        let tls = d.path().join("var/lib/rancher/k3s/server/tls/etcd");
        std::fs::create_dir_all(&tls).expect("mkdir");
        for f in ["server-ca.crt", "client.crt", "client.key"] {
            std::fs::write(tls.join(f), "x").expect("write");
        }
        let l = discover(d.path()).expect("k3s found");
        assert_eq!(l.distribution, "k3s");
        assert_eq!(l.endpoints, vec!["https://127.0.0.1:2379".to_string()]);
        assert_eq!(l.cacert, tls.join("server-ca.crt"));
    }

    #[test]
    fn flags_in_both_spellings_and_loopback_preference() {
        let args: Vec<String> = [
            "etcd",
            "--trusted-ca-file=/a/ca.crt",
            "--listen-client-urls",
            "https://127.0.0.1:2379,https://10.0.0.1:2379",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(flag(&args, "--trusted-ca-file"), Some("/a/ca.crt"));
        assert_eq!(
            pick(flag(&args, "--listen-client-urls"), Some("https://10.0.0.1:2379")),
            vec!["https://127.0.0.1:2379".to_string()]
        );
        assert_eq!(
            pick(Some("https://10.0.0.1:2379"), Some("https://10.0.0.1:2379")),
            vec!["https://10.0.0.1:2379".to_string()]
        );
    }

    #[test]
    fn nothing_found_says_where_it_looked() {
        let d = tempfile::tempdir().expect("tempdir");
        let e = discover(d.path()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("/etc/kubernetes/manifests/etcd.yaml") && e.contains("/etc/etcd.env"), "{e}");
    }
}
