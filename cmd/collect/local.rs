//! `--local`: on a control-plane or etcd node, find how to reach the local etcd from the
//! distribution's own files — K3s/RKE2 (`/var/lib/rancher/*/server/tls/etcd/`), kubeadm
//! (`/etc/kubernetes/manifests/etcd.yaml`, `/etc/kubernetes/pki/etcd/`), Kubespray
//! (`/etc/etcd.env`, `/etc/ssl/etcd/ssl/`). `--root DIR` reads a copy of a node's filesystem
//! (support engineers, tests). Flags given explicitly still win.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use etcd_doctor_checks::cert::CertRole::{self, *};
use etcd_doctor_checks::distribution::Distribution;
use etcd_doctor_checks::node_local::{InitialCluster, LocalNode};

use super::certs::FileSpec;
use super::rancher;

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
    /// The facts for the report and the checks.
    pub node: LocalNode,
    /// K3s/RKE2: what `GET /version` on a join URL trusts and presents.
    pub api_tls: Option<ApiTlsFiles>,
    /// The local member's name, when the configuration says it.
    pub member: Option<String>,
    /// Every certificate file the configuration names (etcd's, the API server's, the client's).
    pub cert_files: Vec<FileSpec>,
    /// The peer CA and the member's own peer pair, for the certificate probe of peer URLs.
    pub peer_ca: Option<PathBuf>,
    /// The member's peer certificate and key.
    pub peer_pair: Option<(PathBuf, PathBuf)>,
}

/// Where a node's etcd client files are, as paths under the root.
struct ClientFiles {
    endpoints: Vec<String>,
    cacert: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Local {
    /// A node whose facts are one config file (`source`), its etcd member name and the unit
    /// that runs it; certificate files are added after.
    fn from_file(
        root: &Path,
        distribution: Distribution,
        source: &Path,
        service: &str,
        member: Option<String>,
        client: ClientFiles,
    ) -> Local {
        let node = LocalNode {
            member_name: member.clone(),
            service: Some(service.into()),
            files: vec![node_path(root, source)],
            ..LocalNode::new(distribution, node_path(root, source))
        };
        Local {
            distribution: distribution.as_str(),
            source: source.to_path_buf(),
            endpoints: client.endpoints,
            cacert: client.cacert,
            cert: client.cert,
            key: client.key,
            node,
            api_tls: None,
            member,
            cert_files: Vec::new(),
            peer_ca: None,
            peer_pair: None,
        }
    }

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

/// The K3s/RKE2 server CA and a client pair that the API accepts, as paths under the root.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiTlsFiles {
    /// `server/tls/server-ca.crt` (or the agent's copy).
    pub ca: PathBuf,
    /// The kubelet's (or admin's) client certificate and key, when present.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// A node path under `root`.
fn at(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Shows a path under `root` as the node path it stands for.
fn node_path(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}

/// Finds the local etcd's endpoint and client files under `root`.
pub fn discover(root: &Path) -> Result<Local> {
    for flavor in [rancher::K3S, rancher::RKE2] {
        if let Some(l) = rancher_server(root, flavor)? {
            return Ok(l);
        }
    }
    let manifest = at(root, "/etc/kubernetes/manifests/etcd.yaml");
    if manifest.is_file() {
        return kubeadm(root, &manifest);
    }
    // kubeadm with external etcd: no etcd manifest, but the API server says how it reaches etcd.
    let apiserver = at(root, "/etc/kubernetes/manifests/kube-apiserver.yaml");
    if apiserver.is_file() {
        return kubeadm_external(root, &apiserver);
    }
    let env = at(root, "/etc/etcd.env");
    if env.is_file() {
        return kubespray(root, &env);
    }
    if at(root, "/etc/rancher/k3s").is_dir() || at(root, "/etc/rancher/rke2").is_dir() {
        bail!(
            "--local: this is a K3s/RKE2 node without embedded etcd under {} (an agent, a --disable-etcd server, or an \
             external datastore); run it on a server with the etcd role",
            root.display()
        );
    }
    bail!(
        "--local found no etcd configuration under {}: looked for /var/lib/rancher/{{k3s,rke2}}/server/tls/etcd/ (K3s, RKE2), \
         /etc/kubernetes/manifests/etcd.yaml (kubeadm) and /etc/etcd.env (Kubespray); run on a control-plane or etcd node \
         (as root), or pass --endpoints/--cacert/--cert/--key",
        root.display()
    )
}

/// What a node tree says about the node, without connecting anywhere (a bundle's `local/`,
/// which holds config files but never keys): the full discovery when it works, else what the
/// K3s/RKE2 config files alone say.
pub fn node_facts(root: &Path) -> Result<Option<LocalNode>> {
    if let Ok(l) = discover(root) {
        return Ok(Some(l.node));
    }
    for flavor in [rancher::K3S, rancher::RKE2] {
        if !at(root, &format!("/etc/rancher/{}", flavor.dist)).is_dir() {
            continue;
        }
        let files = rancher::read(root, flavor)?;
        return Ok(Some(LocalNode {
            distribution: flavor.distribution,
            source: format!("/etc/rancher/{}", flavor.dist),
            member_name: files.member_name,
            service: Some(flavor.service.into()),
            etcd_only: files.etcd_only,
            join: files.join,
            join_probe: None,
            candidates: Vec::new(),
            files: files.read,
            initial_cluster: None,
        }));
    }
    Ok(None)
}

/// A K3s/RKE2 server with embedded etcd: its config files, etcd config and TLS dir.
fn rancher_server(root: &Path, flavor: rancher::Flavor) -> Result<Option<Local>> {
    let files = rancher::read(root, flavor)?;
    let data = at(root, &files.data_dir);
    let dir = data.join("server/tls/etcd");
    if !dir.join("client.crt").is_file() {
        return Ok(None);
    }
    let mut endpoints = pick(files.listen_client_urls.as_deref(), files.advertise_client_urls.as_deref());
    if endpoints.is_empty() {
        endpoints = vec!["https://127.0.0.1:2379".into()];
    }
    let ca =
        [data.join("server/tls/server-ca.crt"), data.join("agent/server-ca.crt")].into_iter().find(|p| p.is_file());
    let identity = [
        (data.join("agent/client-kubelet.crt"), data.join("agent/client-kubelet.key")),
        (data.join("server/tls/client-admin.crt"), data.join("server/tls/client-admin.key")),
    ]
    .into_iter()
    .find(|(c, k)| c.is_file() && k.is_file());
    let source = if files.member_name.is_some() {
        format!("{}/server/db/etcd/config", files.data_dir.trim_end_matches('/'))
    } else {
        node_path(root, &dir)
    };
    // The etcd config K3s writes names etcd's certificate files; without it, K3s's fixed names.
    let etcd_config = at(root, &format!("{}/server/db/etcd/config", files.data_dir.trim_end_matches('/')));
    let config: Option<serde_yaml_ng::Value> =
        super::limits::read(&etcd_config, &super::limits::CONFIG).ok().and_then(|t| serde_yaml_ng::from_str(&t).ok());
    let get = |section: &str, key: &str| -> Option<PathBuf> {
        config.as_ref()?.get(section)?.get(key)?.as_str().map(|p| at(root, p))
    };
    let name = super::limits::read(&data.join("server/db/etcd/name"), &super::limits::CONFIG)
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .or(files.member_name.clone());
    let initial_cluster = config.as_ref().and_then(|c| c.get("initial-cluster")?.as_str()).map(|v| {
        let text = super::limits::read(&etcd_config, &super::limits::CONFIG).unwrap_or_default();
        InitialCluster {
            value: v.to_string(),
            file: node_path(root, &etcd_config),
            key: "initial-cluster:".into(),
            line: line_of(&text, |l| l.starts_with("initial-cluster:")),
        }
    });
    let from = if config.is_some() {
        format!("{} {}", flavor.dist, etcd_config.display())
    } else {
        format!("{} layout", flavor.dist)
    };
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
        distribution: flavor.dist,
        source: dir.clone(),
        endpoints,
        cacert: dir.join("server-ca.crt"),
        cert: dir.join("client.crt"),
        key: dir.join("client.key"),
        node: LocalNode {
            distribution: flavor.distribution,
            source,
            member_name: name.clone(),
            service: Some(flavor.service.into()),
            etcd_only: files.etcd_only,
            join: files.join,
            join_probe: None,
            candidates: Vec::new(),
            files: files.read,
            initial_cluster,
        },
        api_tls: ca.map(|ca| ApiTlsFiles { ca, identity }),
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
        format!("{} etcd client (etcdctl and the API server)", flavor.dist),
        true,
    );
    Ok(Some(l))
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

/// The command and args of a static pod manifest's containers.
fn manifest_args(manifest: &Path) -> Result<Vec<String>> {
    let text = super::limits::read(manifest, &super::limits::CONFIG)?;
    pod_args(&text).with_context(|| format!("cannot parse {} as a Pod manifest", manifest.display()))
}

/// The API server's own etcd client pair (`--etcd-certfile`/`--etcd-keyfile`), if its manifest
/// is there and names one.
fn apiserver_pair(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let args = manifest_args(&at(root, "/etc/kubernetes/manifests/kube-apiserver.yaml")).ok()?;
    Some((at(root, flag(&args, "--etcd-certfile")?), at(root, flag(&args, "--etcd-keyfile")?)))
}

/// kubeadm with external etcd: `--etcd-servers`, `--etcd-cafile`, `--etcd-certfile`,
/// `--etcd-keyfile` of the API server.
fn kubeadm_external(root: &Path, manifest: &Path) -> Result<Local> {
    let args = manifest_args(manifest)?;
    let endpoints = pick(flag(&args, "--etcd-servers"), flag(&args, "--etcd-servers"));
    let missing = |f: &str| anyhow::anyhow!("{}: no {f} (is etcd external to this node?)", manifest.display());
    if endpoints.is_empty() {
        return Err(missing("--etcd-servers"));
    }
    let ca = flag(&args, "--etcd-cafile").ok_or_else(|| missing("--etcd-cafile"))?;
    let cert = flag(&args, "--etcd-certfile").ok_or_else(|| missing("--etcd-certfile"))?;
    let key = flag(&args, "--etcd-keyfile").ok_or_else(|| missing("--etcd-keyfile"))?;
    let client = ClientFiles { endpoints, cacert: at(root, ca), cert: at(root, cert), key: at(root, key) };
    let mut l = Local::from_file(root, Distribution::Kubeadm, manifest, "kubelet", None, client);
    apiserver(root, &mut l, None);
    Ok(l)
}

fn kubeadm(root: &Path, manifest: &Path) -> Result<Local> {
    let args = manifest_args(manifest)?;
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
    let api = apiserver_pair(root).unwrap_or((
        at(root, "/etc/kubernetes/pki/apiserver-etcd-client.crt"),
        at(root, "/etc/kubernetes/pki/apiserver-etcd-client.key"),
    ));
    let server = (
        at(root, flag(&args, "--cert-file").unwrap_or("/etc/kubernetes/pki/etcd/server.crt")),
        at(root, flag(&args, "--key-file").unwrap_or("/etc/kubernetes/pki/etcd/server.key")),
    );
    let (cert, key) =
        [hc.clone(), api.clone()].into_iter().find(|(c, k)| c.is_file() && k.is_file()).unwrap_or(server.clone());
    let member = flag(&args, "--name").map(str::to_string);
    let client = ClientFiles { endpoints, cacert: at(root, ca), cert, key };
    let mut l = Local::from_file(root, Distribution::Kubeadm, manifest, "kubelet", member, client);
    l.node.initial_cluster = flag(&args, "--initial-cluster").map(|v| {
        let text = super::limits::read(manifest, &super::limits::CONFIG).unwrap_or_default();
        InitialCluster {
            value: v.to_string(),
            file: node_path(root, manifest),
            key: "--initial-cluster".into(),
            line: line_of(&text, |l| l.trim_start().trim_start_matches("- ").starts_with("--initial-cluster")),
        }
    });
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
    let args = super::limits::read(&manifest, &super::limits::CONFIG).ok().and_then(|t| pod_args(&t).ok());
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

fn kubespray(root: &Path, env: &Path) -> Result<Local> {
    let text = super::limits::read(env, &super::limits::CONFIG)?;
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
    let client = ClientFiles { endpoints, cacert: at(root, ca), cert, key };
    let mut l =
        Local::from_file(root, Distribution::Kubespray, env, "etcd", get("ETCD_NAME").map(str::to_string), client);
    l.node.initial_cluster = env_initial_cluster(&text, &node_path(root, env));
    l.peer_ca = Some(peer_ca.clone());
    l.peer_pair = Some(peer.clone());
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

/// `ETCD_INITIAL_CLUSTER=...` of an env file (Kubespray's `/etc/etcd.env`, a distro's
/// `/etc/default/etcd`), with its line; the last assignment wins, as in a shell.
fn env_initial_cluster(text: &str, file: &str) -> Option<InitialCluster> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let (k, v) = l.trim().trim_start_matches("export ").split_once('=')?;
            (k.trim() == "ETCD_INITIAL_CLUSTER").then(|| InitialCluster {
                value: v.trim().trim_matches(['"', '\'']).to_string(),
                file: file.to_string(),
                key: "ETCD_INITIAL_CLUSTER=".into(),
                line: i + 1,
            })
        })
        .filter(|ic| !ic.value.is_empty())
        .last()
}

/// The 1-based line of the first line that matches, 0 when none does.
fn line_of(text: &str, pred: impl Fn(&str) -> bool) -> usize {
    text.lines().position(pred).map(|i| i + 1).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubespray_env_gives_its_initial_cluster_with_the_line() {
        let d = tempfile::tempdir().expect("tempdir");
        let env = "# Ansible managed\nETCD_DATA_DIR=/var/lib/etcd\nETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.3:2379\nETCD_INITIAL_CLUSTER_STATE=existing\nETCD_INITIAL_CLUSTER=etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380,etcd3=https://10.0.0.2:2380\nETCD_NAME=etcd3\n";
        std::fs::create_dir_all(d.path().join("etc")).expect("mkdir");
        std::fs::write(d.path().join("etc/etcd.env"), env).expect("write");
        let l = discover(d.path()).expect("kubespray found");
        let ic = l.node.initial_cluster.expect("initial cluster read");
        assert_eq!((ic.file.as_str(), ic.key.as_str(), ic.line), ("/etc/etcd.env", "ETCD_INITIAL_CLUSTER=", 5));
        assert_eq!(ic.entries().len(), 3);
        assert_eq!(l.node.member_name.as_deref(), Some("etcd3"));
        assert!(env_initial_cluster("ETCD_INITIAL_CLUSTER=\"\"\n", "/x").is_none());
    }

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
