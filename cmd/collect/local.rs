//! `--local`: on a control-plane or etcd node, find how to reach the local etcd, and which
//! certificate files etcd and the API server use (for the certificate checks), from the
//! distribution's own files — K3s/RKE2 (`/var/lib/rancher/*/server/tls/etcd/`), kubeadm
//! (`/etc/kubernetes/manifests/etcd.yaml`, `/etc/kubernetes/pki/etcd/`), Kubespray
//! (`/etc/etcd.env`, `/etc/ssl/etcd/ssl/`). `--root DIR` reads a copy of a node's filesystem
//! (support engineers, tests). Flags given explicitly still win.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use etcd_doctor_checks::CertRole::{self, *};
use etcd_doctor_checks::distribution::Distribution;

use super::certs::FileSpec;

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
    /// The local member's name, when the configuration says it.
    pub member: Option<String>,
    /// Every certificate file the configuration names (etcd's, the API server's, the client's).
    pub cert_files: Vec<FileSpec>,
    /// The peer CA and the member's own peer pair, for the certificate probe of peer URLs.
    pub peer_ca: Option<PathBuf>,
    /// The member's peer certificate and key.
    pub peer_pair: Option<(PathBuf, PathBuf)>,
}

impl Local {
    /// The distribution as the checks name it.
    pub fn layout(&self) -> Option<Distribution> {
        match self.distribution {
            "kubeadm" => Some(Distribution::Kubeadm),
            "k3s" => Some(Distribution::K3s),
            "rke2" => Some(Distribution::Rke2),
            "kubespray" => Some(Distribution::Kubespray),
            _ => None,
        }
    }

    fn add(&mut self, path: PathBuf, key: Option<PathBuf>, roles: &[CertRole], from: String, required: bool) {
        let mut spec = FileSpec::new(path, roles, from).member(self.member.as_deref());
        if roles.iter().all(|r| r.is_ca()) {
            spec.member = None;
        }
        if let Some(k) = key {
            spec = spec.key(k);
        }
        if !required {
            spec = spec.optional();
        }
        self.cert_files.push(spec);
    }
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
            return Ok(k3s(root, dist, base, &dir));
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
    let (cert, key) =
        [hc.clone(), api.clone()].into_iter().find(|(c, k)| c.is_file() && k.is_file()).unwrap_or(server.clone());
    let mut l = Local {
        distribution: "kubeadm",
        source: manifest.to_path_buf(),
        endpoints,
        cacert: at(root, ca),
        cert,
        key,
        member: flag(&args, "--name").map(str::to_string),
        cert_files: Vec::new(),
        peer_ca: None,
        peer_pair: None,
    };
    let m = "kubeadm etcd.yaml";
    l.add(at(root, ca), None, &[ClientCa, ServerCa], format!("{m} --trusted-ca-file"), true);
    l.add(server.0, Some(server.1), &[Server], format!("{m} --cert-file"), true);
    let peer_ca = at(root, flag(&args, "--peer-trusted-ca-file").unwrap_or("/etc/kubernetes/pki/etcd/ca.crt"));
    let peer = (
        at(root, flag(&args, "--peer-cert-file").unwrap_or("/etc/kubernetes/pki/etcd/peer.crt")),
        at(root, flag(&args, "--peer-key-file").unwrap_or("/etc/kubernetes/pki/etcd/peer.key")),
    );
    l.add(peer_ca.clone(), None, &[PeerCa], format!("{m} --peer-trusted-ca-file"), true);
    l.add(peer.0.clone(), Some(peer.1.clone()), &[Peer], format!("{m} --peer-cert-file"), true);
    l.add(hc.0, Some(hc.1), &[Client], "kubeadm healthcheck-client".into(), false);
    l.peer_ca = Some(peer_ca);
    l.peer_pair = Some(peer);
    apiserver(root, &mut l, Some(api));
    Ok(l)
}

/// The API server's etcd files, from its static pod manifest (kubeadm, Kubespray), else the
/// kubeadm default pair when present.
fn apiserver(root: &Path, l: &mut Local, default: Option<(PathBuf, PathBuf)>) {
    let manifest = at(root, "/etc/kubernetes/manifests/kube-apiserver.yaml");
    let args = std::fs::read_to_string(&manifest).ok().and_then(|t| pod_args(&t).ok());
    match args {
        Some(args) => {
            let m = "kube-apiserver.yaml";
            if let Some(ca) = flag(&args, "--etcd-cafile") {
                l.add(at(root, ca), None, &[ServerCa], format!("{m} --etcd-cafile"), true);
            }
            if let (Some(c), Some(k)) = (flag(&args, "--etcd-certfile"), flag(&args, "--etcd-keyfile")) {
                let spec =
                    FileSpec::new(at(root, c), &[ApiserverEtcdClient], format!("{m} --etcd-certfile")).key(at(root, k));
                l.cert_files.push(spec);
            }
        }
        None => {
            if let Some((c, k)) = default {
                let spec = FileSpec::new(c, &[ApiserverEtcdClient], "kubeadm apiserver-etcd-client").key(k).optional();
                l.cert_files.push(spec);
            }
        }
    }
}

fn pod_args(text: &str) -> Result<Vec<String>> {
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
    let pod: Pod = serde_yaml_ng::from_str(text)?;
    Ok(pod.spec.containers.into_iter().flat_map(|c| c.command.into_iter().chain(c.args)).collect())
}

/// K3s / RKE2: the etcd config K3s writes (`server/db/etcd/config`) names the files; without
/// it, K3s's fixed names under `server/tls/etcd/`. The API server uses `client.crt` too.
fn k3s(root: &Path, dist: &'static str, base: &str, dir: &Path) -> Local {
    let data = base.trim_end_matches("/tls/etcd");
    let config_path = at(root, &format!("{data}/db/etcd/config"));
    let config: Option<serde_yaml_ng::Value> =
        std::fs::read_to_string(&config_path).ok().and_then(|t| serde_yaml_ng::from_str(&t).ok());
    let get = |section: &str, key: &str| -> Option<PathBuf> {
        config.as_ref()?.get(section)?.get(key)?.as_str().map(|p| at(root, p))
    };
    let name = std::fs::read_to_string(at(root, &format!("{data}/db/etcd/name")))
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .or_else(|| config.as_ref()?.get("name")?.as_str().map(str::to_string));
    let from = if config.is_some() { format!("{dist} {}", config_path.display()) } else { format!("{dist} layout") };
    let required = config.is_some();
    let server_ca = get("client-transport-security", "trusted-ca-file").unwrap_or(dir.join("server-ca.crt"));
    let server = (
        get("client-transport-security", "cert-file").unwrap_or(dir.join("server-client.crt")),
        get("client-transport-security", "key-file").unwrap_or(dir.join("server-client.key")),
    );
    let peer_ca = get("peer-transport-security", "trusted-ca-file").unwrap_or(dir.join("peer-ca.crt"));
    let peer = (
        get("peer-transport-security", "cert-file").unwrap_or(dir.join("peer-server-client.crt")),
        get("peer-transport-security", "key-file").unwrap_or(dir.join("peer-server-client.key")),
    );
    let mut l = Local {
        distribution: dist,
        source: dir.to_path_buf(),
        endpoints: vec!["https://127.0.0.1:2379".into()],
        cacert: dir.join("server-ca.crt"),
        cert: dir.join("client.crt"),
        key: dir.join("client.key"),
        member: name,
        cert_files: Vec::new(),
        peer_ca: Some(peer_ca.clone()),
        peer_pair: Some(peer.clone()),
    };
    l.add(server_ca, None, &[ServerCa, ClientCa], format!("{from} (trusted-ca-file)"), true);
    l.add(server.0, Some(server.1), &[Server], format!("{from} (cert-file)"), required);
    l.add(peer_ca, None, &[PeerCa], format!("{from} (peer trusted-ca-file)"), required);
    l.add(peer.0, Some(peer.1), &[Peer], format!("{from} (peer cert-file)"), required);
    l.add(
        dir.join("client.crt"),
        Some(dir.join("client.key")),
        &[Client, ApiserverEtcdClient],
        format!("{dist} etcd client (etcdctl and the API server)"),
        true,
    );
    l
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
    let member = (
        at(root, get("ETCD_CERT_FILE").unwrap_or("/etc/ssl/etcd/ssl/member.pem")),
        at(root, get("ETCD_KEY_FILE").unwrap_or("/etc/ssl/etcd/ssl/member-key.pem")),
    );
    let (cert, key) = match admin.clone() {
        Some((k, c)) => (c, k),
        None => member.clone(),
    };
    let peer_ca = at(root, get("ETCD_PEER_TRUSTED_CA_FILE").unwrap_or(ca));
    let peer = (
        get("ETCD_PEER_CERT_FILE").map(|p| at(root, p)).unwrap_or(member.0.clone()),
        get("ETCD_PEER_KEY_FILE").map(|p| at(root, p)).unwrap_or(member.1.clone()),
    );
    let mut l = Local {
        distribution: "kubespray",
        source: env.to_path_buf(),
        endpoints,
        cacert: at(root, ca),
        cert,
        key,
        member: get("ETCD_NAME").map(str::to_string),
        cert_files: Vec::new(),
        peer_ca: Some(peer_ca.clone()),
        peer_pair: Some(peer.clone()),
    };
    let e = "/etc/etcd.env";
    l.add(at(root, ca), None, &[ClientCa, ServerCa], format!("{e} ETCD_TRUSTED_CA_FILE"), true);
    l.add(member.0, Some(member.1), &[Server], format!("{e} ETCD_CERT_FILE"), true);
    l.add(peer_ca, None, &[PeerCa], format!("{e} ETCD_PEER_TRUSTED_CA_FILE"), true);
    l.add(peer.0, Some(peer.1), &[Peer], format!("{e} ETCD_PEER_CERT_FILE"), true);
    if let Some((k, c)) = admin {
        l.add(c, Some(k), &[Client], "Kubespray admin-<node>.pem".into(), true);
    }
    apiserver(root, &mut l, None);
    Ok(l)
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
    fn rke2_files_come_from_the_etcd_config_it_writes() {
        let d = tempfile::tempdir().expect("tempdir");
        let tls = d.path().join("var/lib/rancher/rke2/server/tls/etcd");
        std::fs::create_dir_all(&tls).expect("mkdir");
        std::fs::write(tls.join("client.crt"), "x").expect("write");
        let db = d.path().join("var/lib/rancher/rke2/server/db/etcd");
        std::fs::create_dir_all(&db).expect("mkdir");
        // The shape RKE2 writes (../shared/reference/k3s/etcd-config-rke2-anonymized.yaml).
        std::fs::write(
            db.join("config"),
            "client-transport-security:\n  cert-file: /var/lib/rancher/rke2/server/tls/etcd/server-client.crt\n  client-cert-auth: true\n  key-file: /var/lib/rancher/rke2/server/tls/etcd/server-client.key\n  trusted-ca-file: /var/lib/rancher/rke2/server/tls/etcd/server-ca.crt\nname: cp-1-0d481970\npeer-transport-security:\n  cert-file: /var/lib/rancher/rke2/server/tls/etcd/peer-server-client.crt\n  client-cert-auth: true\n  key-file: /var/lib/rancher/rke2/server/tls/etcd/peer-server-client.key\n  trusted-ca-file: /var/lib/rancher/rke2/server/tls/etcd/peer-ca.crt\n",
        )
        .expect("write");
        let l = discover(d.path()).expect("rke2 found");
        assert_eq!((l.distribution, l.member.as_deref()), ("rke2", Some("cp-1-0d481970")));
        let roles = |name: &str| l.cert_files.iter().find(|f| f.path.ends_with(name)).map(|f| f.roles.clone());
        assert_eq!(roles("server-ca.crt"), Some(vec![ServerCa, ClientCa]));
        assert_eq!(roles("peer-ca.crt"), Some(vec![PeerCa]));
        assert_eq!(roles("peer-server-client.crt"), Some(vec![Peer]));
        assert_eq!(roles("client.crt"), Some(vec![Client, ApiserverEtcdClient]));
        let server = l.cert_files.iter().find(|f| f.path.ends_with("server-client.crt"));
        assert_eq!(server.map(|f| (f.member.clone(), f.required)), Some((Some("cp-1-0d481970".into()), true)));
        assert_eq!(l.peer_ca, Some(tls.join("peer-ca.crt")));
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
