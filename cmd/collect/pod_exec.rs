//! Reaching etcd through the Kubernetes API (a laptop with only a kubeconfig, kubeadm): run
//! `etcdctl ... -w json` inside an etcd pod through the exec subresource, with the pod's own
//! certificate paths, and read its output as a bundle reads etcdctl's. Member statuses are
//! asked one exec per client URL, all at once, so one dead member costs one timeout.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use etcd_doctor_checks::{Attempt, Gap, MemberId, Probe, Snapshot, Source, Status};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{AttachParams, ListParams};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;

use super::bundle::{IdMode, members_into, status_of};

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
    url: String,
    /// Bound on one exec (connection, etcdctl's own timeouts, output).
    pub timeout: Duration,
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
    pub async fn find(client: kube::Client, dial: Duration, command: Duration) -> Result<ExecTarget, Why> {
        let api: Api<Pod> = Api::namespaced(client, "kube-system");
        let limit = dial + command;
        let list = tokio::time::timeout(limit * 2, api.list(&ListParams::default().labels("component=etcd")))
            .await
            .map_err(|_| format!("the kube-system pod list did not answer within {:?}", limit * 2))?
            .map_err(|e| format!("cannot list etcd pods: {}", crate::collect::error_line(&e)))?;
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
        Ok(ExecTarget { api, pod: name, container: c.name.clone(), base, url, timeout: dial + command * 2 })
    }

    /// Runs etcdctl with `args` in the pod; its stdout, or what went wrong (stderr, status).
    async fn etcdctl(&self, endpoint: &str, args: &[&str]) -> Result<String, String> {
        self.run(endpoint, args).await.map_err(|f| match f {
            Failed::Exec(e) | Failed::Etcdctl(e) => e,
        })
    }

    /// Like `etcdctl`, telling etcdctl's own failure (it asked etcd) from the exec's (it may
    /// never have run).
    async fn run(&self, endpoint: &str, args: &[&str]) -> Result<String, Failed> {
        let mut cmd = self.base.clone();
        cmd.push(format!("--endpoints={endpoint}"));
        cmd.extend(args.iter().map(|s| s.to_string()));
        let ap = AttachParams::default().container(self.container.clone()).stdin(false).stdout(true).stderr(true);
        let run = async {
            let mut p =
                self.api.exec(&self.pod, cmd, &ap).await.map_err(|e| {
                    Failed::Exec(format!("exec in pod {}: {}", self.pod, crate::collect::error_line(&e)))
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
                    Err(Failed::Etcdctl(if line.is_empty() {
                        s.message.unwrap_or_else(|| "etcdctl failed".into())
                    } else {
                        line
                    }))
                }
                _ => Ok(stdout),
            }
        };
        // etcdctl's own timeouts end it sooner: when this one fires, the exec stalled.
        tokio::time::timeout(self.timeout, run).await.map_err(|_| {
            Failed::Exec(format!("etcdctl in pod {} did not finish within {:?}", self.pod, self.timeout))
        })?
    }

    /// `etcdctl member list -w json` as parsed JSON.
    pub async fn member_list(&self) -> Result<Value, String> {
        let out = self.etcdctl(&self.url, &["member", "list", "-w", "json"]).await?;
        serde_json::from_str(&out).map_err(|e| format!("etcdctl member list in pod {}: not JSON ({e})", self.pod))
    }

    /// `etcdctl endpoint status -w json` for one client URL.
    pub async fn status(&self, url: &str) -> Result<Status, String> {
        self.status_attempt(url).await.unwrap_or_else(Err)
    }

    /// The status of one client URL as an attempt: `Ok(Err)` when etcdctl ran and could not
    /// get it (etcdctl's error line: "Failed to get the status of endpoint … (context deadline
    /// exceeded)"), `Err` when the exec itself failed, so etcd was perhaps never asked.
    async fn status_attempt(&self, url: &str) -> Result<Result<Status, String>, String> {
        let out = match self.run(url, &["endpoint", "status", "-w", "json"]).await {
            Ok(out) => out,
            Err(Failed::Etcdctl(e)) => return Ok(Err(e)),
            Err(Failed::Exec(e)) => return Err(e),
        };
        Ok(parse_status(url, &out))
    }

    /// `etcdctl member remove <hex id>`.
    pub async fn remove(&self, id: MemberId) -> Result<(), String> {
        self.etcdctl(&self.url, &["member", "remove", &id.to_string()]).await.map(|_| ())
    }

    /// `etcdctl member promote <hex id>`.
    pub async fn promote(&self, id: MemberId) -> Result<(), String> {
        self.etcdctl(&self.url, &["member", "promote", &id.to_string()]).await.map(|_| ())
    }

    /// `etcdctl member add <name> --learner --peer-urls=<url>`; the name is set when it starts.
    pub async fn add_learner(&self, peer_url: &str) -> Result<(), String> {
        let peers = format!("--peer-urls={peer_url}");
        self.etcdctl(&self.url, &["member", "add", "new-member", "--learner", &peers]).await.map(|_| ())
    }

    /// A snapshot: the member list, then every member's status, each through its own exec.
    pub async fn collect(&self) -> Result<Snapshot> {
        let collected_at = OffsetDateTime::now_utc();
        let ml = self.member_list().await.map_err(|e| anyhow!("{e}"))?;
        let mut snap = Snapshot::new(Source::Live, collected_at);
        members_into(&ml, Path::new(&format!("etcdctl member list (pod {})", self.pod)), &mut snap)
            .context("reading etcdctl's member list")?;
        let asks: Vec<(usize, String)> = snap
            .members
            .iter()
            .enumerate()
            .flat_map(|(i, m)| m.client_urls.iter().map(move |u| (i, u.clone())))
            .collect();
        let results = futures::future::join_all(asks.iter().map(|(_, u)| self.status_attempt(u))).await;
        let mut attempts: Vec<Vec<Attempt>> = vec![Vec::new(); snap.members.len()];
        let mut not_asked = Vec::new();
        for ((i, url), r) in asks.into_iter().zip(results) {
            // Only what etcdctl itself answered is an attempt; a failed exec proves nothing
            // about the member, which stays unknown unless another URL of it was asked.
            let r = match r {
                Err(e) => {
                    not_asked.push(format!("{url} ({e})"));
                    continue;
                }
                Ok(r) => r,
            };
            let r = match r {
                Ok(s) if snap.members[i].id != s.member_id => {
                    Err(format!("answered as member {}, not {}", s.member_id, snap.members[i].id))
                }
                other => other,
            };
            attempts[i].push(Attempt { endpoint: url, result: r });
        }
        for (m, at) in snap.members.iter_mut().zip(attempts) {
            if !at.is_empty() {
                m.probe = Some(Probe { attempts: at });
            }
        }
        snap.alarms = snap.alarms_from_statuses();
        snap.gaps.push(Gap::new(
            "etcd",
            format!("reached through the Kubernetes API: etcdctl in pod kube-system/{} (exec)", self.pod),
        ));
        if !not_asked.is_empty() {
            snap.gaps.push(Gap::new(
                "etcd",
                format!(
                    "the exec into pod {} failed, so these client URLs were not asked (their members stay unknown): {}",
                    self.pod,
                    not_asked.join("; ")
                ),
            ));
        }
        if snap.members.is_empty() {
            bail!("etcdctl in pod {} listed no members", self.pod);
        }
        Ok(snap)
    }
}

/// One status from `etcdctl endpoint status -w json` output.
fn parse_status(url: &str, out: &str) -> Result<Status, String> {
    let v: Value = serde_json::from_str(out).map_err(|e| format!("endpoint status: not JSON ({e})"))?;
    let mode = IdMode::of(&v);
    let first = match v {
        Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
        _ => return Err(format!("{url}: etcdctl printed no status")),
    };
    let body = first.get("Status").cloned().unwrap_or(first);
    status_of(body, mode, Path::new("etcdctl endpoint status"), "[0]").map_err(|e| format!("{e:#}"))
}

/// How an etcdctl run in the pod failed.
enum Failed {
    /// The exec did not work (API, stream, our own timeout): etcdctl may never have run.
    Exec(String),
    /// etcdctl ran and failed; its last stderr line.
    Etcdctl(String),
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
