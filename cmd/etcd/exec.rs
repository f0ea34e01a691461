//! etcdctl inside an etcd pod, through the Kubernetes API's exec subresource (a laptop with
//! only a kubeconfig, kubeadm): `etcdctl ... -w json` with the pod's own certificate paths,
//! its output read as etcdctl's JSON shapes.

use std::path::Path;
use std::time::Duration;

use etcd_doctor_checks::{
    id::MemberId,
    model::{Snapshot, Source, Status},
};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, ListParams};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::etcdctl_json::{IdMode, members_into, status_entries, status_of};
use super::{Etcd, EtcdError, MemberList};

/// etcdctl in one etcd pod.
#[derive(Clone)]
pub struct ExecTarget {
    api: Api<Pod>,
    /// The pod used.
    pub pod: String,
    container: String,
    /// `etcdctl` and its TLS and timeout flags.
    base: Vec<String>,
    /// The client URL the pod's etcd listens on (loopback preferred).
    pub url: String,
    /// Bound on one exec (connection, etcdctl's own timeouts, output).
    pub timeout: Duration,
    /// etcd auth (`--user`), passed to etcdctl as `--user` and `--password`.
    user: Option<crate::cli::Credentials>,
}

/// Why the exec path is not possible, or how it failed.
type Why = String;

/// `--flag=value` or `--flag value`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let eq = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix(&eq).or_else(|| (a == name).then(|| args.get(i + 1).map(String::as_str)).flatten())
    })
}

impl ExecTarget {
    /// Picks a running, ready etcd pod of kube-system (`component=etcd`) and reads its etcd
    /// flags for the certificate paths and the client URL.
    pub async fn find(
        client: kube::Client,
        server: &str,
        dial: Duration,
        command: Duration,
    ) -> Result<ExecTarget, Why> {
        let api: Api<Pod> = Api::namespaced(client, "kube-system");
        let limit = dial + command;
        let list = tokio::time::timeout(limit * 2, api.list(&ListParams::default().labels("component=etcd")))
            .await
            .map_err(|_| {
                format!("the Kubernetes API at {server} did not answer the kube-system pod list within {:?}", limit * 2)
            })?
            .map_err(|e| match e {
                kube::Error::Api(s) => {
                    format!("the Kubernetes API at {server} refused to list etcd pods: {}", s.message)
                }
                e => format!(
                    "the Kubernetes API at {server} (from the kubeconfig) did not answer: {}",
                    crate::errors::error_line(&e)
                ),
            })?;
        let ready = |p: &Pod| {
            p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|c| c.iter().all(|c| c.ready))
        };
        let mut pods: Vec<&Pod> = list.items.iter().collect();
        pods.sort_by_key(|p| !ready(p));
        let advertised: Vec<String> = pods
            .iter()
            .filter_map(|p| p.metadata.annotations.as_ref()?.get("kubeadm.kubernetes.io/etcd.advertise-client-urls"))
            .flat_map(|v| v.split(',').map(|u| u.trim().to_string()))
            .filter(|u| !u.is_empty())
            .collect();
        Self::from_pod(api, &pods, dial, command).map_err(|why| {
            if advertised.is_empty() {
                why
            } else {
                format!(
                    "{why}; the etcd pods advertise {}: run again with --endpoints {}",
                    advertised.join(", "),
                    advertised.join(",")
                )
            }
        })
    }

    fn from_pod(api: Api<Pod>, pods: &[&Pod], dial: Duration, command: Duration) -> Result<ExecTarget, Why> {
        let pod = pods.first().ok_or("no etcd pod (label component=etcd) in kube-system")?;
        let name = pod.metadata.name.clone().ok_or("an etcd pod without a name")?;
        let spec = pod.spec.as_ref().ok_or("an etcd pod without a spec")?;
        let c = spec.containers.iter().find(|c| c.name == "etcd").or(spec.containers.first()).ok_or("no container")?;
        let args: Vec<String> =
            c.command.clone().unwrap_or_default().into_iter().chain(c.args.clone().unwrap_or_default()).collect();
        let ca = flag(&args, "--trusted-ca-file").ok_or(format!("pod {name}: etcd has no --trusted-ca-file"))?;
        let cert = flag(&args, "--cert-file").ok_or(format!("pod {name}: etcd has no --cert-file"))?;
        let key = flag(&args, "--key-file").ok_or(format!("pod {name}: etcd has no --key-file"))?;
        let urls: Vec<String> = flag(&args, "--listen-client-urls")
            .or(flag(&args, "--advertise-client-urls"))
            .unwrap_or_default()
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        let url = urls
            .iter()
            .find(|u| u.contains("://127.0.0.1:") || u.contains("://localhost:"))
            .or(urls.first())
            .cloned()
            .ok_or(format!("pod {name}: etcd has no --listen-client-urls"))?;
        // kubeadm's server pair carries clientAuth too; a healthcheck-client pair next to it is
        // the one kubeadm made for exactly this, but it may not exist, and we cannot look.
        let secs = |d: Duration| format!("{}ms", d.as_millis().max(1));
        let base = vec![
            "etcdctl".to_string(),
            format!("--cacert={ca}"),
            format!("--cert={cert}"),
            format!("--key={key}"),
            format!("--dial-timeout={}", secs(dial)),
            format!("--command-timeout={}", secs(command)),
        ];
        Ok(ExecTarget { api, pod: name, container: c.name.clone(), base, url, timeout: dial + command * 2, user: None })
    }

    /// Runs etcdctl as this etcd user (`--user`, `ETCDCTL_USER`). The exec API takes no
    /// environment and etcd images have no shell, so the password rides in etcdctl's argv
    /// (`--password`, so a colon in it is kept); it is never printed or logged here.
    pub fn with_user(mut self, user: Option<crate::cli::Credentials>) -> Self {
        self.user = user;
        self
    }

    /// Runs etcdctl with `args` in the pod; its stdout, or what went wrong (stderr, status).
    async fn etcdctl(&self, endpoint: &str, args: &[&str]) -> Result<String, EtcdError> {
        let mut cmd = self.base.clone();
        cmd.push(format!("--endpoints={endpoint}"));
        if let Some(u) = &self.user {
            cmd.push(format!("--user={}", u.name));
            cmd.push(format!("--password={}", u.password.expose()));
        }
        cmd.extend(args.iter().map(|s| s.to_string()));
        let ap = AttachParams::default().container(self.container.clone()).stdin(false).stdout(true).stderr(true);
        let run = async {
            let mut p = self.api.exec(&self.pod, cmd, &ap).await.map_err(|e| EtcdError::Exec {
                pod: self.pod.clone(),
                line: crate::errors::error_line(&e),
                source: e,
            })?;
            let (mut out, mut err) = (p.stdout(), p.stderr());
            let status = p.take_status();
            // The streams must be drained while the command runs: their buffers are small.
            let read_out = async {
                let mut s = String::new();
                if let Some(o) = out.as_mut() {
                    let _ = o.read_to_string(&mut s).await;
                }
                s
            };
            let read_err = async {
                let mut s = String::new();
                if let Some(e) = err.as_mut() {
                    let _ = e.read_to_string(&mut s).await;
                }
                s
            };
            let (stdout, stderr) = tokio::join!(read_out, read_err);
            let st = match status {
                Some(s) => s.await,
                None => None,
            };
            let _ = p.join().await;
            match st {
                Some(s) if s.status.as_deref() == Some("Failure") => {
                    let line =
                        stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_string();
                    let line =
                        if line.is_empty() { s.message.unwrap_or_else(|| "etcdctl failed".into()) } else { line };
                    Err(EtcdError::Etcdctl(format!("{line}{}", crate::errors::auth_hint(&line))))
                }
                _ => Ok(stdout),
            }
        };
        tokio::time::timeout(self.timeout, run).await.map_err(|_| EtcdError::Timeout(self.timeout))?
    }

    /// `etcdctl member list -w json` at `url`, as parsed JSON.
    pub async fn member_list_json(&self, url: &str) -> Result<Value, EtcdError> {
        let out = self.etcdctl(url, &["member", "list", "-w", "json"]).await?;
        serde_json::from_str(&out)
            .map_err(|e| EtcdError::Shape(format!("etcdctl member list in pod {}: not JSON ({e})", self.pod)))
    }

    /// `etcdctl endpoint status -w json` for one client URL.
    pub async fn status(&self, url: &str) -> Result<Status, EtcdError> {
        let out = self.etcdctl(url, &["endpoint", "status", "-w", "json"]).await?;
        let v: Value =
            serde_json::from_str(&out).map_err(|e| EtcdError::Shape(format!("endpoint status: not JSON ({e})")))?;
        let mode = IdMode::of(&v);
        let shape = |e: anyhow::Error| EtcdError::Shape(format!("{e:#}"));
        let (_, body) = status_entries(v)
            .map_err(shape)?
            .into_iter()
            .next()
            .ok_or_else(|| EtcdError::Shape(format!("{url}: etcdctl printed no status")))?;
        status_of(body, mode, Path::new("etcdctl endpoint status"), "[0]").map_err(shape)
    }
}

impl Etcd for ExecTarget {
    async fn member_list(&self) -> Result<MemberList, EtcdError> {
        self.member_list_at(&self.url).await
    }

    async fn member_list_at(&self, url: &str) -> Result<MemberList, EtcdError> {
        let v = self.member_list_json(url).await?;
        let mut snap = Snapshot::new(Source::Live, time::OffsetDateTime::now_utc());
        members_into(&v, Path::new(&format!("etcdctl member list (pod {})", self.pod)), &mut snap)
            .map_err(|e| EtcdError::Shape(format!("{e:#}")))?;
        let answered_by = v.pointer("/header/member_id").and_then(|m| {
            super::etcdctl_json::id(m, IdMode::of(&v), Path::new("member list"), "header.member_id").ok()
        });
        Ok(MemberList { endpoint: url.to_string(), cluster_id: snap.cluster_id, answered_by, members: snap.members })
    }

    async fn status(&self, url: &str) -> Result<Status, EtcdError> {
        ExecTarget::status(self, url).await
    }

    async fn remove(&self, via: &str, id: MemberId) -> Result<(), EtcdError> {
        self.etcdctl(via, &["member", "remove", &id.to_string()]).await.map(|_| ())
    }

    async fn promote(&self, via: &str, id: MemberId) -> Result<(), EtcdError> {
        self.etcdctl(via, &["member", "promote", &id.to_string()]).await.map(|_| ())
    }

    /// The name is set when the member starts.
    async fn add_learner(&self, via: &str, peer_url: &str) -> Result<(), EtcdError> {
        let peers = format!("--peer-urls={peer_url}");
        self.etcdctl(via, &["member", "add", "new-member", "--learner", &peers]).await.map(|_| ())
    }

    /// Dialled from here, not from the pod: a peer URL this machine cannot reach says nothing.
    async fn peer_answers(&self, peer_url: &str) -> Option<String> {
        super::peer::answers(peer_url, self.timeout / 2, self.timeout / 2).await
    }

    fn budget(&self) -> Duration {
        self.timeout
    }

    /// Through the pod, a snapshot would be written inside it, not here.
    async fn snapshot(&self, _via: &str, _to: &Path) -> Result<super::Saved, EtcdError> {
        Err(EtcdError::Etcdctl(format!(
            "a snapshot through the etcd pod {} would stay inside the pod: run the step's `etcdctl snapshot save` on a control-plane node, or give --endpoints and the client certificates",
            self.pod
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::flag;

    #[test]
    fn flags_in_both_spellings() {
        let a: Vec<String> =
            ["etcd", "--cert-file=/a.crt", "--key-file", "/a.key"].iter().map(|s| s.to_string()).collect();
        assert_eq!(flag(&a, "--cert-file"), Some("/a.crt"));
        assert_eq!(flag(&a, "--key-file"), Some("/a.key"));
        assert_eq!(flag(&a, "--trusted-ca-file"), None);
    }
}
