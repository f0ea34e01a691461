//! A K3s or RKE2 server's own files: where its join URL is set (and which setting wins), whether
//! its API server is disabled (an etcd-only server), its data dir and its etcd config.
//!
//! K3s reads, lowest precedence first: the service env file (`K3S_URL`), `config.yaml`, then
//! `config.yaml.d/*.yaml` in name order (later files override), then the unit's own arguments.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use etcd_doctor_checks::distribution::Distribution;
use etcd_doctor_checks::node_local::JoinSetting;

/// K3s or RKE2: the names they use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// `k3s` or `rke2`.
    pub dist: &'static str,
    /// The same, typed.
    pub distribution: Distribution,
    /// The server's systemd unit.
    pub service: &'static str,
    /// The env variable that sets `--server`.
    pub url_env: &'static str,
    /// The port the join URL uses (K3s serves API and supervisor on 6443; RKE2's supervisor is 9345).
    pub join_port: u16,
}

/// K3s.
pub const K3S: Flavor =
    Flavor { dist: "k3s", distribution: Distribution::K3s, service: "k3s", url_env: "K3S_URL", join_port: 6443 };
/// RKE2.
pub const RKE2: Flavor = Flavor {
    dist: "rke2",
    distribution: Distribution::Rke2,
    service: "rke2-server",
    url_env: "RKE2_URL",
    join_port: 9345,
};

/// What the files say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFiles {
    /// The data dir (node path), `/var/lib/rancher/<dist>` unless configured.
    pub data_dir: String,
    /// `disable-apiserver` is set.
    pub etcd_only: bool,
    /// The winning join URL setting.
    pub join: Option<JoinSetting>,
    /// `name:` of `<data-dir>/server/db/etcd/config`.
    pub member_name: Option<String>,
    /// `listen-client-urls` of that file.
    pub listen_client_urls: Option<String>,
    /// `advertise-client-urls` of that file.
    pub advertise_client_urls: Option<String>,
    /// The files read, as node paths.
    pub read: Vec<String>,
}

/// A node path under `root`.
pub fn at(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Reads the server's files under `root`. Missing files are normal; unreadable or unparsable
/// ones are errors naming the file.
pub fn read(root: &Path, f: Flavor) -> Result<ServerFiles> {
    let mut out = ServerFiles { data_dir: format!("/var/lib/rancher/{}", f.dist), ..Default::default() };
    // 1. The service env files, in the order the units read them (K3s's installer writes
    // `<unit>.service.env`; RKE2's unit reads /etc/default, /etc/sysconfig and the `.env` beside
    // the unit in /usr/local/lib/systemd/system); a later one wins.
    for env in [
        format!("/etc/systemd/system/{}.service.env", f.service),
        format!("/etc/default/{}", f.service),
        format!("/etc/sysconfig/{}", f.service),
        format!("/usr/local/lib/systemd/system/{}.env", f.service),
    ] {
        let Some(text) = read_opt(root, &env)? else { continue };
        out.read.push(env.clone());
        for (i, line) in text.lines().enumerate() {
            let l = line.trim().trim_start_matches("export ").trim();
            if let Some((k, v)) = l.split_once('=')
                && k.trim() == f.url_env
            {
                let url = unquote(v.trim());
                if !url.is_empty() {
                    out.join = Some(JoinSetting {
                        url: url.to_string(),
                        file: env.clone(),
                        key: format!("{}=", f.url_env),
                        line: i + 1,
                    });
                }
            }
        }
    }
    // 2. config.yaml, then config.yaml.d/ in name order.
    let base = format!("/etc/rancher/{}/config.yaml", f.dist);
    let mut configs = vec![base.clone()];
    let dropins = at(root, &format!("{base}.d"));
    if let Ok(dir) = std::fs::read_dir(&dropins) {
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
            .collect();
        names.sort();
        configs.extend(names.into_iter().map(|n| format!("{base}.d/{n}")));
    }
    for file in configs {
        let Some(text) = read_opt(root, &file)? else { continue };
        out.read.push(file.clone());
        config_file(&text, &file, &mut out)?;
    }
    // 3. The unit's ExecStart arguments win over both.
    for unit in [
        format!("/etc/systemd/system/{}.service", f.service),
        format!("/usr/local/lib/systemd/system/{}.service", f.service),
        format!("/usr/lib/systemd/system/{}.service", f.service),
    ] {
        let Some(text) = read_opt(root, &unit)? else { continue };
        out.read.push(unit.clone());
        unit_args(&text, &unit, &mut out);
        break;
    }
    // The etcd config K3s writes for its embedded etcd.
    let etcd = format!("{}/server/db/etcd/config", out.data_dir.trim_end_matches('/'));
    if let Some(text) = read_opt(root, &etcd)? {
        out.read.push(etcd.clone());
        let v: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).with_context(|| format!("cannot parse {etcd} as YAML"))?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        out.member_name = s("name");
        out.listen_client_urls = s("listen-client-urls");
        out.advertise_client_urls = s("advertise-client-urls");
    }
    Ok(out)
}

fn read_opt(root: &Path, node_path: &str) -> Result<Option<String>> {
    let p = at(root, node_path);
    match std::fs::metadata(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => super::limits::read(&p, &super::limits::CONFIG).map(Some),
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

fn truthy(v: &serde_yaml_ng::Value) -> bool {
    match v {
        serde_yaml_ng::Value::Bool(b) => *b,
        serde_yaml_ng::Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// One K3s config file: `server`, `disable-apiserver`, `data-dir` at the top level.
fn config_file(text: &str, file: &str, out: &mut ServerFiles) -> Result<()> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).with_context(|| format!("cannot parse {file} as YAML"))?;
    if v.get("disable-apiserver").is_some_and(truthy) {
        out.etcd_only = true;
    }
    if let Some(d) = v.get("data-dir").and_then(|x| x.as_str()) {
        out.data_dir = d.to_string();
    }
    let url = v.get("server").and_then(|x| x.as_str()).filter(|s| !s.trim().is_empty());
    if let Some(url) = url {
        // The line of the top-level key: unindented `server:` (quoted keys too); the last one wins.
        let line = text
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                let k = l.trim_end();
                ["server:", "\"server\":", "'server':"].iter().any(|p| k.starts_with(p))
            })
            .map(|(i, _)| i + 1)
            .last()
            .unwrap_or(0);
        out.join = Some(JoinSetting { url: url.to_string(), file: file.to_string(), key: "server:".into(), line });
    }
    Ok(())
}

/// The ExecStart arguments of a systemd unit, with the line each sits on.
fn exec_start(text: &str) -> Vec<(String, usize)> {
    let mut args = Vec::new();
    let mut inside = false;
    for (i, raw) in text.lines().enumerate() {
        let mut line = raw.trim();
        if !inside {
            match line.strip_prefix("ExecStart=") {
                Some(rest) => {
                    inside = true;
                    line = rest;
                }
                None => continue,
            }
        }
        let cont = line.ends_with('\\');
        for tok in line.trim_end_matches('\\').split_whitespace() {
            args.push((unquote(tok).to_string(), i + 1));
        }
        if !cont {
            inside = false;
        }
    }
    args
}

fn unit_args(text: &str, unit: &str, out: &mut ServerFiles) {
    let args = exec_start(text);
    for (i, (a, _)) in args.iter().enumerate() {
        let next = args.get(i + 1);
        if a == "--disable-apiserver" && next.is_none_or(|(v, _)| v != "false") || a == "--disable-apiserver=true" {
            out.etcd_only = true;
        }
        if (a == "--data-dir" || a == "-d")
            && let Some((v, _)) = next
        {
            out.data_dir = v.clone();
        }
        if let Some(v) = a.strip_prefix("--data-dir=") {
            out.data_dir = v.to_string();
        }
        let value = if a == "--server" || a == "-s" {
            next.cloned()
        } else {
            a.strip_prefix("--server=").map(|v| (v.to_string(), args[i].1))
        };
        if let Some((url, line)) = value {
            out.join = Some(JoinSetting { url, file: unit.to_string(), key: "--server".into(), line });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        for (p, text) in files {
            let path = at(d.path(), p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        d
    }

    #[test]
    fn config_yaml_beats_the_env_file_and_drop_ins_beat_config_yaml() {
        let d = tree(&[
            ("/etc/systemd/system/k3s.service.env", "K3S_TOKEN='x'\nK3S_URL='https://10.0.0.1:6443'\n"),
            ("/etc/rancher/k3s/config.yaml", "token: secret\nserver: https://10.0.0.2:6443\ndisable-apiserver: true\n"),
        ]);
        let f = read(d.path(), K3S).expect("read");
        assert!(f.etcd_only);
        let j = f.join.expect("join");
        assert_eq!(
            (j.url.as_str(), j.file.as_str(), j.line),
            ("https://10.0.0.2:6443", "/etc/rancher/k3s/config.yaml", 2)
        );
        let d = tree(&[
            ("/etc/rancher/k3s/config.yaml", "server: https://10.0.0.2:6443\n"),
            ("/etc/rancher/k3s/config.yaml.d/10-etcd.yaml", "disable-apiserver: \"true\"\n"),
            ("/etc/rancher/k3s/config.yaml.d/20-join.yaml", "# joined later\n\"server\": \"https://10.0.0.3:6443\"\n"),
        ]);
        let f = read(d.path(), K3S).expect("read");
        assert!(f.etcd_only);
        let j = f.join.expect("join");
        assert_eq!((j.url.as_str(), j.line), ("https://10.0.0.3:6443", 2));
        assert!(j.file.ends_with("20-join.yaml"));
    }

    #[test]
    fn the_env_file_alone_and_the_unit_arguments_win() {
        let d = tree(&[("/etc/systemd/system/k3s.service.env", "K3S_URL=\"https://10.0.0.1:6443\"\n")]);
        let j = read(d.path(), K3S).expect("read").join.expect("join");
        assert_eq!((j.key.as_str(), j.line), ("K3S_URL=", 1));
        let unit = "[Service]\nType=notify\nExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--server' \\\n\t'https://10.0.0.9:6443' \\\n\t'--disable-apiserver' \\\n\n";
        let d = tree(&[
            ("/etc/systemd/system/k3s.service", unit),
            ("/etc/rancher/k3s/config.yaml", "server: https://10.0.0.2:6443\n"),
        ]);
        let f = read(d.path(), K3S).expect("read");
        assert!(f.etcd_only);
        let j = f.join.expect("join");
        assert_eq!((j.url.as_str(), j.key.as_str(), j.line), ("https://10.0.0.9:6443", "--server", 6));
    }

    #[test]
    fn rke2_reads_rke2_url_beside_its_unit_and_its_execstart() {
        let d = tree(&[
            ("/usr/local/lib/systemd/system/rke2-server.env", "HOME=/root\nRKE2_URL=https://10.0.0.5:9345\n"),
            ("/etc/rancher/rke2/config.yaml", "disable-apiserver: true\n"),
        ]);
        let f = read(d.path(), RKE2).expect("read");
        let j = f.join.expect("join");
        assert_eq!((j.url.as_str(), j.key.as_str(), j.line), ("https://10.0.0.5:9345", "RKE2_URL=", 2));
        assert!(f.etcd_only);
        // K3S_URL means nothing to RKE2.
        let d = tree(&[("/etc/default/rke2-server", "K3S_URL=https://10.0.0.5:6443\n")]);
        assert!(read(d.path(), RKE2).expect("read").join.is_none());
        // The unit's arguments win, as for K3s.
        let unit = "[Service]\nExecStart=/usr/local/bin/rke2 server --server https://10.0.0.9:9345\n";
        let d = tree(&[
            ("/usr/local/lib/systemd/system/rke2-server.service", unit),
            ("/etc/rancher/rke2/config.yaml", "server: https://10.0.0.2:9345\n"),
        ]);
        let j = read(d.path(), RKE2).expect("read").join.expect("join");
        assert_eq!((j.url.as_str(), j.key.as_str()), ("https://10.0.0.9:9345", "--server"));
        assert!(j.file.ends_with("rke2-server.service"));
    }

    #[test]
    fn the_etcd_config_gives_the_member_name_and_a_bad_file_is_named() {
        let d = tree(&[
            ("/etc/rancher/k3s/config.yaml", "data-dir: /data/k3s\n"),
            (
                "/data/k3s/server/db/etcd/config",
                "name: node2-0d481970\nlisten-client-urls: https://127.0.0.1:2379,https://10.0.0.2:2379\n",
            ),
        ]);
        let f = read(d.path(), K3S).expect("read");
        assert_eq!(f.member_name.as_deref(), Some("node2-0d481970"));
        assert!(f.join.is_none() && !f.etcd_only);
        let d = tree(&[("/etc/rancher/k3s/config.yaml", "server: [unclosed\n")]);
        let e = read(d.path(), K3S).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(e.contains("/etc/rancher/k3s/config.yaml"), "{e}");
    }
}
