//! Real etcd clusters for tests: N `etcd` processes (etcd 3.4 or 3.5, per cluster or per member:
//! `support::versions`) with client and peer mTLS, each member on a loopback address of its own
//! (127.A.B.n, standard ports), so tests run in parallel. Everything is killed and removed on
//! drop, also when a test panics; a watchdog per process kills it if the test binary itself
//! dies. Each member's current process id is in `<dir>/<name>.pid`, so a restart script (a
//! binary swap, as an upgrade does) can replace the process and the harness still cleans up.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, MemberAddOptions, TlsOptions};
use tempfile::TempDir;

use super::pki::{Kind, Pki};
#[allow(unused_imports)] // re-exported for the test files; not every one uses both
pub use super::versions::{EtcdVersion, V3_4, V3_5};

static NEXT_BLOCK: AtomicU32 = AtomicU32::new(1);

/// One member process.
pub struct MemberProc {
    /// m0, m1, ...
    pub name: String,
    /// Its loopback address.
    pub ip: String,
    /// https://ip:client_port (where it listens)
    pub client_url: String,
    /// What it advertises (`--advertise-client-urls`): `client_url` unless the test set
    /// another, e.g. an address nothing answers.
    pub advertised_client_url: String,
    /// https://ip:peer_port
    pub peer_url: String,
    /// Its member id (from the member list).
    pub id: u64,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// The etcd release it runs (or runs next time it starts).
    pub version: EtcdVersion,
    /// Holds the id of its current process (the harness's child, or what a restart script
    /// started in its place).
    pub pidfile: PathBuf,
    child: Option<Child>,
}

impl MemberProc {
    /// The process id while it runs: the pidfile's (a restart script may have replaced the
    /// harness's child), else the child's.
    pub fn pid(&self) -> Option<u32> {
        let child = self.child.as_ref().map(Child::id)?;
        let file = fs::read_to_string(&self.pidfile).ok().and_then(|s| s.trim().parse().ok());
        Some(file.unwrap_or(child))
    }
}

/// A member as the member list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Member id.
    pub id: u64,
    /// Name (empty when unstarted).
    pub name: String,
    /// Peer URLs.
    pub peer_urls: Vec<String>,
    /// Client URLs.
    pub client_urls: Vec<String>,
    /// Learner flag.
    pub learner: bool,
}

/// A certificate unlike the cluster's usual ones, for the certificate tests.
#[derive(Clone, Debug)]
pub enum CertSpec {
    /// Issued by another CA (named `etcd-ca` too, as every kubeadm etcd CA is).
    ForeignCa,
    /// From the cluster's CA, with exactly these SANs.
    Sans(Vec<String>),
    /// From the cluster's CA, valid from `.0` to `.1`.
    Validity(time::OffsetDateTime, time::OffsetDateTime),
}

impl CertSpec {
    /// Whether a client that trusts the cluster CA and dials the member's IP accepts it now.
    fn verifiable(&self, ip: &str) -> bool {
        match self {
            CertSpec::ForeignCa => false,
            CertSpec::Sans(s) => s.iter().any(|x| x == ip),
            CertSpec::Validity(from, to) => {
                let now = time::OffsetDateTime::now_utc();
                *from <= now && now < *to
            }
        }
    }
}

/// Options for starting a cluster.
pub struct Builder {
    members: usize,
    first_on_localhost_ip: bool,
    etcd_args: Vec<String>,
    server_certs: Vec<(usize, CertSpec)>,
    unanswered_client_url: Vec<usize>,
    version: EtcdVersion,
    member_versions: Vec<(usize, EtcdVersion)>,
}

impl Builder {
    /// Every member runs this etcd release (default 3.4).
    pub fn version(mut self, v: EtcdVersion) -> Self {
        self.version = v;
        self
    }

    /// Member i runs this release instead (a mixed-version cluster, as mid-upgrade).
    pub fn member_version(mut self, i: usize, v: EtcdVersion) -> Self {
        self.member_versions.push((i, v));
        self
    }

    /// Member i advertises a client URL on a fresh address where nothing listens (a wrong
    /// `--advertise-client-urls`): it runs, but its advertised URL never answers.
    pub fn unanswered_client_url(mut self, i: usize) -> Self {
        self.unanswered_client_url.push(i);
        self
    }

    /// How many members.
    pub fn members(mut self, n: usize) -> Self {
        self.members = n;
        self
    }

    /// Member 0 listens on 127.0.0.1 with two free ports (for `https://localhost:<port>`
    /// duplicates), the others on their own addresses.
    pub fn first_member_on_127_0_0_1(mut self, yes: bool) -> Self {
        self.first_on_localhost_ip = yes;
        self
    }

    /// Extra etcd flags for every member (e.g. `--quota-backend-bytes=16777216`).
    pub fn etcd_args(mut self, args: &[&str]) -> Self {
        self.etcd_args = args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Member i's server certificate (its client URL) is this one instead of the usual.
    pub fn server_cert(mut self, i: usize, spec: CertSpec) -> Self {
        self.server_certs.push((i, spec));
        self
    }

    /// Starts the cluster and waits until every member follows a leader.
    pub fn start(self) -> Cluster {
        Cluster::launch(self)
    }
}

/// A running cluster.
pub struct Cluster {
    /// The CA and every certificate.
    pub pki: Pki,
    /// The members, in start order.
    pub members: Vec<MemberProc>,
    client_cert: PathBuf,
    client_key: PathBuf,
    token: String,
    block: (u32, u32),
    spare: u32,
    etcd_args: Vec<String>,
    /// Members whose client URL the harness cannot verify (their status is read elsewhere).
    unverifiable: Vec<usize>,
    foreign: Option<Pki>,
    /// The release new members start on.
    version: EtcdVersion,
    rt: tokio::runtime::Runtime,
    dir: TempDir,
}

impl Cluster {
    /// A healthy n-member TLS cluster on etcd 3.4.
    pub fn start(n: usize) -> Cluster {
        Self::builder().members(n).start()
    }

    /// A healthy n-member TLS cluster on this release.
    pub fn start_on(v: EtcdVersion, n: usize) -> Cluster {
        Self::builder().version(v).members(n).start()
    }

    /// Options.
    pub fn builder() -> Builder {
        Builder {
            members: 3,
            first_on_localhost_ip: false,
            etcd_args: Vec::new(),
            server_certs: Vec::new(),
            unanswered_client_url: Vec::new(),
            version: V3_4,
            member_versions: Vec::new(),
        }
    }

    fn launch(b: Builder) -> Cluster {
        let dir = tempfile::Builder::new().prefix("etcd-doctor-test-").tempdir().expect("tempdir");
        let pki = Pki::new(&dir.path().join("pki"), "etcd-ca");
        let (client_cert, client_key) = pki.issue("client", &[], Kind::Client);
        let block = free_block(b.members);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let token = format!("t-{}-{}-{}", std::process::id(), block.0, block.1);
        let mut members = Vec::new();
        for i in 0..b.members {
            let (ip, cport, pport) = if i == 0 && b.first_on_localhost_ip {
                ("127.0.0.1".to_string(), free_port("127.0.0.1"), free_port("127.0.0.1"))
            } else {
                (format!("127.{}.{}.{}", block.0, block.1, i + 1), 2379, 2380)
            };
            let mut m = new_member(&dir, &pki, format!("m{i}"), ip, cport, pport);
            m.version = b.member_versions.iter().rev().find(|(j, _)| *j == i).map_or(b.version, |(_, v)| *v);
            members.push(m);
        }
        let initial = members.iter().map(|m| format!("{}={}", m.name, m.peer_url)).collect::<Vec<_>>().join(",");
        let mut c = Cluster {
            pki,
            members,
            client_cert,
            client_key,
            token,
            block,
            spare: 0,
            etcd_args: b.etcd_args.clone(),
            unverifiable: Vec::new(),
            foreign: None,
            version: b.version,
            rt,
            dir,
        };
        for (i, spec) in &b.server_certs {
            c.write_cert(*i, "server", spec);
        }
        for &i in &b.unanswered_client_url {
            let ip = c.spare_address();
            c.members[i].advertised_client_url = format!("https://{ip}:2379");
        }
        for i in 0..c.members.len() {
            c.spawn(i, &initial, "new");
        }
        c.wait_healthy(Duration::from_secs(30));
        c.wait_all_started(Duration::from_secs(30));
        let listed = c.member_list();
        for m in &mut c.members {
            m.id = listed.iter().find(|l| l.name == m.name).map(|l| l.id).unwrap_or_default();
        }
        c
    }

    /// Member i's etcd flags.
    fn member_args(&self, i: usize, initial_cluster: &str, state: &str) -> Vec<String> {
        let (ca, ck, token) = (&self.pki.ca_path, &self.pki.dir, &self.token);
        let m = &self.members[i];
        let cert = |s: &str| ck.join(format!("{}-{s}", m.name));
        let mut args: Vec<String> = vec![
            format!("--name={}", m.name),
            format!("--data-dir={}", m.data_dir.display()),
            format!("--listen-client-urls={}", m.client_url),
            format!("--advertise-client-urls={}", m.advertised_client_url),
            format!("--listen-peer-urls={}", m.peer_url),
            format!("--initial-advertise-peer-urls={}", m.peer_url),
            format!("--initial-cluster={initial_cluster}"),
            format!("--initial-cluster-state={state}"),
            format!("--initial-cluster-token={token}"),
            format!("--cert-file={}", cert("server.crt").display()),
            format!("--key-file={}", cert("server.key").display()),
            "--client-cert-auth".into(),
            format!("--trusted-ca-file={}", ca.display()),
            format!("--peer-cert-file={}", cert("peer.crt").display()),
            format!("--peer-key-file={}", cert("peer.key").display()),
            "--peer-client-cert-auth".into(),
            format!("--peer-trusted-ca-file={}", ca.display()),
            "--heartbeat-interval=100".into(),
            "--election-timeout=1000".into(),
            "--logger=zap".into(),
            "--log-outputs=stderr".into(),
        ];
        args.extend(self.etcd_args.iter().cloned());
        args
    }

    fn spawn(&mut self, i: usize, initial_cluster: &str, state: &str) {
        super::versions::note_release(self.members[i].version);
        let args = self.member_args(i, initial_cluster, state);
        let m = &mut self.members[i];
        // Appended, so a log survives restarts (an upgrade's story is in one file).
        let log = fs::OpenOptions::new().create(true).append(true).open(&m.log).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let child = Command::new(m.version.etcd())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("start etcd");
        watchdog(child.id());
        fs::write(&m.pidfile, child.id().to_string()).expect("pidfile");
        m.child = Some(child);
    }

    /// Stops member i (SIGKILL) and starts it again on its data with release `v`, as an
    /// upgrade (or downgrade) of one member does; waits until its client port listens.
    pub fn restart_on(&mut self, i: usize, v: EtcdVersion) {
        self.kill(i);
        self.members[i].version = v;
        let initial = self.members.iter().map(|m| format!("{}={}", m.name, m.peer_url)).collect::<Vec<_>>().join(",");
        self.spawn(i, &initial, "existing");
        self.wait_listening(i, Duration::from_secs(20));
    }

    /// Writes `<dir>/restart-<name>.sh`: it stops member i's current process (SIGTERM, then
    /// SIGKILL after 10 s), starts etcd release `v` on the member's data with its flags, and
    /// records the new process in the member's pidfile (with a watchdog, as the harness's own
    /// members have). With `start: false` it only stops the member (a node that does not come
    /// back). Returns the script's path; `sh <path>` is a `--restart-command`.
    pub fn restart_script(&mut self, i: usize, v: EtcdVersion, start: bool) -> PathBuf {
        let initial = self.members.iter().map(|m| format!("{}={}", m.name, m.peer_url)).collect::<Vec<_>>().join(",");
        let args = self.member_args(i, &initial, "existing");
        let m = &self.members[i];
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let cmd = std::iter::once(q(&v.etcd().display().to_string()))
            .chain(args.iter().map(|a| q(a)))
            .collect::<Vec<_>>()
            .join(" ");
        let mut script = format!(
            "#!/bin/sh\n# Restart {name} on etcd {minor} (written by the test harness).\nset -eu\npidfile={pidfile}\n\
             old=$(cat \"$pidfile\" 2>/dev/null || true)\n\
             if [ -n \"$old\" ] && kill -0 \"$old\" 2>/dev/null; then\n\
             \x20 kill -CONT \"$old\" 2>/dev/null || true; kill -TERM \"$old\" 2>/dev/null || true\n\
             \x20 n=0\n\
             \x20 # Gone, or a zombie of the test process (its ports are closed then).\n\
             \x20 while [ -d /proc/$old ] && ! grep -q '^State:.*Z' /proc/$old/status 2>/dev/null; do\n\
             \x20   n=$((n+1)); [ $n -lt 100 ] || {{ kill -9 \"$old\" 2>/dev/null || true; }}; sleep 0.1\n\
             \x20 done\n\
             fi\n",
            name = m.name,
            minor = v.minor(),
            pidfile = q(&m.pidfile.display().to_string()),
        );
        if start {
            let me = std::process::id();
            script.push_str(&format!(
                "{cmd} </dev/null >>{log} 2>&1 &\nnew=$!\necho $new > \"$pidfile\"\n\
                 (while kill -0 {me} 2>/dev/null && kill -0 $new 2>/dev/null; do sleep 1; done; kill -9 $new 2>/dev/null) \
                 </dev/null >/dev/null 2>&1 &\n",
                log = q(&m.log.display().to_string()),
            ));
        }
        super::versions::note_release(v);
        let path = self.dir.path().join(format!("restart-{}.sh", m.name));
        fs::write(&path, script).expect("restart script");
        self.members[i].version = v;
        path
    }

    /// Waits until member i's client port accepts connections.
    pub fn wait_listening(&self, i: usize, limit: Duration) {
        let m = &self.members[i];
        let addr = format!("{}:{}", m.ip, m.client_url.rsplit(':').next().unwrap_or("2379"));
        let deadline = Instant::now() + limit;
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "{} did not listen within {limit:?}:\n{}", m.name, tail(&m.log, 20));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The foreign CA (made on first use).
    pub fn foreign_ca(&mut self) -> &Pki {
        let dir = self.dir.path().join("foreign");
        self.foreign.get_or_insert_with(|| Pki::new(&dir, "etcd-ca"))
    }

    /// Writes member i's `server` or `peer` certificate (and key) as `spec` says.
    pub fn write_cert(&mut self, i: usize, which: &str, spec: &CertSpec) {
        let name = format!("{}-{which}", self.members[i].name);
        let ip = self.members[i].ip.clone();
        let mut sans = vec![ip.clone()];
        if which == "peer" {
            sans.push("127.0.0.1".into());
        }
        let (crt, key) = match spec {
            CertSpec::ForeignCa => {
                let refs: Vec<&str> = sans.iter().map(String::as_str).collect();
                self.foreign_ca().issue(&name, &refs, Kind::Server)
            }
            CertSpec::Sans(list) => {
                let refs: Vec<&str> = list.iter().map(String::as_str).collect();
                self.pki.issue(&name, &refs, Kind::Server)
            }
            CertSpec::Validity(from, to) => {
                let refs: Vec<&str> = sans.iter().map(String::as_str).collect();
                self.pki.issue_with(&name, &refs, Kind::Server, *from, *to)
            }
        };
        // The foreign CA writes into its own directory; etcd reads the member's usual paths.
        let (want_crt, want_key) = (self.pki.dir.join(format!("{name}.crt")), self.pki.dir.join(format!("{name}.key")));
        if crt != want_crt {
            fs::copy(&crt, &want_crt).expect("copy cert");
            fs::copy(&key, &want_key).expect("copy key");
        }
        if which == "server" && !spec.verifiable(&ip) && !self.unverifiable.contains(&i) {
            self.unverifiable.push(i);
        }
    }

    /// Replaces member i's peer certificate and restarts it (its data kept): as after a
    /// manual rejoin with certificates from elsewhere. Waits until its client port listens.
    pub fn replace_peer_cert_and_restart(&mut self, i: usize, spec: &CertSpec) {
        self.kill(i);
        self.write_cert(i, "peer", spec);
        // Its data directory exists, so etcd ignores --initial-cluster on this restart.
        let initial = self.members.iter().map(|m| format!("{}={}", m.name, m.peer_url)).collect::<Vec<_>>().join(",");
        self.spawn(i, &initial, "new");
        self.wait_listening(i, Duration::from_secs(20));
    }

    /// Waits until every member in the member list has published its name (it started and
    /// joined raft), whatever its client certificate.
    fn wait_all_started(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let list = self.member_list();
            if list.len() == self.members.len() && list.iter().all(|l| !l.name.is_empty()) {
                return;
            }
            assert!(Instant::now() < deadline, "not every member started within {limit:?}: {list:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Client URLs of the members whose process runs.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().filter(|m| m.child.is_some()).map(|m| m.client_url.clone()).collect()
    }

    /// Client URLs the harness's own client can verify (not the members given odd certificates).
    fn verifiable_endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .enumerate()
            .filter(|(i, m)| m.child.is_some() && !self.unverifiable.contains(i))
            .map(|(_, m)| m.client_url.clone())
            .collect()
    }

    /// The CA file.
    pub fn cacert(&self) -> &Path {
        &self.pki.ca_path
    }

    /// The client certificate.
    pub fn client_cert(&self) -> &Path {
        &self.client_cert
    }

    /// The client key.
    pub fn client_key(&self) -> &Path {
        &self.client_key
    }

    /// Member i.
    pub fn member(&self, i: usize) -> &MemberProc {
        &self.members[i]
    }

    /// The flags that point etcd-doctor (or etcdctl) at this cluster.
    pub fn tool_args(&self) -> Vec<String> {
        vec![
            "--endpoints".into(),
            self.endpoints().join(","),
            "--cacert".into(),
            self.cacert().display().to_string(),
            "--cert".into(),
            self.client_cert().display().to_string(),
            "--key".into(),
            self.client_key().display().to_string(),
        ]
    }

    /// The environment that points the real etcdctl at this cluster.
    pub fn etcdctl_env(&self) -> Vec<(String, String)> {
        vec![
            ("ETCDCTL_API".into(), "3".into()),
            ("ETCDCTL_ENDPOINTS".into(), self.endpoints().join(",")),
            ("ETCDCTL_CACERT".into(), self.cacert().display().to_string()),
            ("ETCDCTL_CERT".into(), self.client_cert().display().to_string()),
            ("ETCDCTL_KEY".into(), self.client_key().display().to_string()),
        ]
    }

    /// SIGKILLs member i and waits for it (also a process a restart script put in its place).
    pub fn kill(&mut self, i: usize) {
        let replaced = self.members[i].pid().filter(|p| Some(*p) != self.members[i].child.as_ref().map(Child::id));
        if let Some(p) = replaced {
            signal(p, "CONT");
            signal(p, "KILL");
        }
        if let Some(mut c) = self.members[i].child.take() {
            signal(c.id(), "CONT");
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills member i and deletes its data: its machine is gone.
    pub fn kill_and_wipe(&mut self, i: usize) {
        self.kill(i);
        let _ = fs::remove_dir_all(&self.members[i].data_dir);
    }

    /// Stops members `which` (SIGKILL) and starts them again on their data, all at once (a
    /// config-management handler that restarts every member).
    pub fn restart_together(&mut self, which: &[usize]) {
        for &i in which {
            self.kill(i);
        }
        let initial = self.members.iter().map(|m| format!("{}={}", m.name, m.peer_url)).collect::<Vec<_>>().join(",");
        for &i in which {
            self.spawn(i, &initial, "existing");
        }
        self.wait_healthy(Duration::from_secs(30));
    }

    /// Wipes member i and restarts it with `--initial-cluster-state new` and only itself in
    /// `--initial-cluster`: it bootstraps a separate one-member cluster at the same address
    /// (kubespray#13261). Waits until it has a leader (itself) and every other running member
    /// has one again: if it led, the rest elect anew, which took over 3 s once on a loaded CI
    /// host, and a test would see "no leader" it did not ask for.
    pub fn restart_as_new_cluster(&mut self, i: usize) {
        self.kill_and_wipe(i);
        let only_me = format!("{}={}", self.members[i].name, self.members[i].peer_url);
        self.spawn(i, &only_me, "new");
        let opts = self.connect_options();
        let has_leader = |ep: String| {
            let opts = opts.clone();
            self.rt.block_on(async move {
                let fut = async {
                    let mut c = Client::connect([ep], Some(opts)).await.ok()?;
                    c.status().await.ok().map(|s| s.leader() != 0)
                };
                tokio::time::timeout(Duration::from_secs(2), fut).await.ok().flatten().unwrap_or(false)
            })
        };
        let running: Vec<usize> = (0..self.members.len()).filter(|j| self.members[*j].child.is_some()).collect();
        for j in std::iter::once(i).chain(running.into_iter().filter(|j| *j != i)) {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !has_leader(self.members[j].client_url.clone()) {
                assert!(
                    Instant::now() < deadline,
                    "{} has no leader after {} bootstrapped a cluster of its own:\n{}",
                    self.members[j].name,
                    self.members[i].name,
                    tail(&self.members[j].log, 20)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// SIGSTOPs member i: its sockets accept but nothing answers.
    pub fn pause(&self, i: usize) {
        if let Some(p) = self.members[i].pid() {
            signal(p, "STOP");
        }
    }

    /// SIGCONTs member i.
    pub fn resume(&self, i: usize) {
        if let Some(p) = self.members[i].pid() {
            signal(p, "CONT");
        }
    }

    /// A fresh loopback address in this cluster's block, never used by a member.
    pub fn spare_address(&mut self) -> String {
        self.spare += 1;
        format!("127.{}.{}.{}", self.block.0, self.block.1, 200 + self.spare)
    }

    /// Prepares a new member (certificates, a fresh address) without adding or starting it.
    /// Returns its index; its peer URL is `members[i].peer_url`.
    pub fn prepare_member(&mut self, name: &str) -> usize {
        let ip = self.spare_address();
        let mut m = new_member(&self.dir, &self.pki, name.to_string(), ip, 2379, 2380);
        m.version = self.version;
        self.members.push(m);
        self.members.len() - 1
    }

    /// Starts prepared member i to join the running cluster (`--initial-cluster-state
    /// existing`, every started member in `--initial-cluster`), as an operator does after
    /// `member add`; waits until it answers.
    pub fn start_joining(&mut self, i: usize) {
        let me = self.members[i].name.clone();
        let mut initial: Vec<String> = self
            .member_list()
            .into_iter()
            .filter(|l| !l.name.is_empty())
            .flat_map(|l| l.peer_urls.into_iter().map(move |u| format!("{}={u}", l.name)))
            .collect();
        initial.push(format!("{me}={}", self.members[i].peer_url));
        self.spawn(i, &initial.join(","), "existing");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.member_list().iter().any(|l| l.name == me) {
            assert!(Instant::now() < deadline, "{me} did not join:\n{}", tail(&self.members[i].log, 20));
            std::thread::sleep(Duration::from_millis(100));
        }
        let id = self.member_list().iter().find(|l| l.name == me).map(|l| l.id).unwrap_or_default();
        self.members[i].id = id;
    }

    /// Adds a voter on a fresh address and never starts it. Returns (id, peer URL).
    pub fn add_unstarted_member(&mut self) -> (u64, String) {
        let peer = format!("https://{}:2380", self.spare_address());
        let id = self.member_add(&peer, false);
        (id, peer)
    }

    /// Adds a learner with this peer URL and never starts it. Returns its id.
    pub fn add_learner(&mut self, peer_url: &str) -> u64 {
        self.member_add(peer_url, true)
    }

    /// `member add`, retrying only etcd's "unhealthy cluster" (3.4 refuses voter adds until
    /// every voter has been connected for ~5 s), bounded at 20 s.
    pub fn member_add(&self, peer_url: &str, learner: bool) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.with_client(|mut c| {
                let peer = peer_url.to_string();
                async move {
                    let opts = if learner { Some(MemberAddOptions::new().with_is_learner()) } else { None };
                    c.member_add([peer], opts).await.map(|r| r.member().map(|m| m.id()).unwrap_or_default())
                }
            });
            match r {
                Ok(id) => return id,
                Err(e) if e.contains("unhealthy cluster") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(250))
                }
                Err(e) => panic!("member add {peer_url} (learner={learner}): {e}"),
            }
        }
    }

    /// The index of the member that leads now (waits out an election, bounded).
    pub fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let id = self
                .read(|mut c| async move { c.status().await.map(|s| s.leader()) })
                .unwrap_or_else(|e| panic!("status: {e}"));
            if let Some(i) = self.members.iter().position(|m| m.id == id && id != 0) {
                return i;
            }
            assert!(Instant::now() < deadline, "no leader among the harness members (last: {id:x})");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The member list, from any running member.
    pub fn member_list(&self) -> Vec<Listed> {
        self.read(|mut c| async move {
            c.member_list().await.map(|r| {
                r.members()
                    .iter()
                    .map(|m| Listed {
                        id: m.id(),
                        name: m.name().to_string(),
                        peer_urls: m.peer_urls().to_vec(),
                        client_urls: m.client_urls().to_vec(),
                        learner: m.is_learner(),
                    })
                    .collect()
            })
        })
        .unwrap_or_else(|e| panic!("member list: {e}"))
    }

    /// Writes n keys `<prefix>/<i>`.
    pub fn put_keys(&self, prefix: &str, n: usize) {
        let prefix = prefix.to_string();
        self.with_client(|mut c| async move {
            // In transactions of 100 (etcd allows 128 operations in one): one raft round trip
            // each, so a loaded machine does not turn 1,000 keys into 1,000 fsyncs per member.
            let all: Vec<usize> = (0..n).collect();
            for chunk in all.chunks(100) {
                let ops: Vec<etcd_client::TxnOp> = chunk
                    .iter()
                    .map(|i| etcd_client::TxnOp::put(format!("{prefix}/{i:06}"), format!("value-{i}"), None))
                    .collect();
                c.txn(etcd_client::Txn::new().and_then(ops)).await?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("put keys: {e}"));
    }

    /// Writes n keys one request each: n raft entries, a log with a past (`put_keys` batches).
    pub fn put_each(&self, prefix: &str, n: usize) {
        // 100 requests per client session: each session is bounded (15 s), so a loaded
        // machine slows this down without failing it.
        for start in (0..n).step_by(100) {
            let prefix = prefix.to_string();
            self.with_client(|mut c| async move {
                for i in start..(start + 100).min(n) {
                    c.put(format!("{prefix}/{i:06}"), format!("value-{i}"), None).await?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("put keys: {e}"));
        }
    }

    /// How many keys start with `<prefix>/`.
    pub fn count_keys(&self, prefix: &str) -> usize {
        let key = format!("{prefix}/");
        self.read(|mut c| {
            let key = key.clone();
            async move {
                let r = c.get(key, Some(GetOptions::new().with_prefix().with_count_only())).await?;
                Ok(r.count() as usize)
            }
        })
        .unwrap_or_else(|e| panic!("count keys: {e}"))
    }

    /// Reads every key `<prefix>/…` back and checks each against what `put_keys` wrote;
    /// returns how many matched (panics on a missing or changed key).
    pub fn verify_keys(&self, prefix: &str, n: usize) -> usize {
        let key = format!("{prefix}/");
        let kvs: Vec<(String, String)> = self
            .read(|mut c| {
                let key = key.clone();
                async move {
                    let r = c.get(key, Some(GetOptions::new().with_prefix())).await?;
                    Ok(r.kvs()
                        .iter()
                        .map(|kv| {
                            (
                                kv.key_str().unwrap_or_default().to_string(),
                                kv.value_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect())
                }
            })
            .unwrap_or_else(|e| panic!("read keys: {e}"));
        assert_eq!(kvs.len(), n, "expected {n} keys under {prefix}/");
        for (i, (k, v)) in kvs.iter().enumerate() {
            assert_eq!((k.as_str(), v.as_str()), (format!("{prefix}/{i:06}").as_str(), format!("value-{i}").as_str()));
        }
        kvs.len()
    }

    /// Like `with_client` for read-only work: retries what an election causes ("leader
    /// changed", "no leader", timeouts) for up to 15 s.
    pub fn read<T, F, Fut>(&self, f: F) -> Result<T, String>
    where
        F: Fn(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.with_client(&f) {
                Err(e)
                    if Instant::now() < deadline
                        && ["leader changed", "no leader", "timed out", "answers"].iter().any(|k| e.contains(k)) =>
                {
                    std::thread::sleep(Duration::from_millis(200))
                }
                r => return r,
            }
        }
    }

    /// The version member i's server reports in Status (`None` when it does not answer in 2 s).
    pub fn server_version(&self, i: usize) -> Option<String> {
        let ep = self.members[i].client_url.clone();
        let opts = self.connect_options();
        self.rt.block_on(async move {
            let fut = async {
                let mut c = Client::connect([ep], Some(opts)).await.ok()?;
                c.status().await.ok().map(|s| s.version().to_string())
            };
            tokio::time::timeout(Duration::from_secs(2), fut).await.ok().flatten()
        })
    }

    /// Runs `f` with a client of the running members, bounded at 15 s.
    pub fn with_client<T, F, Fut>(&self, f: F) -> Result<T, String>
    where
        F: FnOnce(Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        let endpoints = self.verifiable_endpoints();
        let opts = self.connect_options();
        self.rt.block_on(async move {
            let fut = async {
                // The first member that answers: a balanced client would also pick members
                // that are paused, dead or still joining.
                let mut chosen = None;
                for ep in &endpoints {
                    let Ok(mut c) = Client::connect([ep.as_str()], Some(opts.clone())).await else { continue };
                    if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), c.status()).await {
                        chosen = Some(c);
                        break;
                    }
                }
                let c = chosen.ok_or_else(|| format!("no member of {endpoints:?} answers"))?;
                f(c).await.map_err(|e| e.to_string())
            };
            tokio::time::timeout(Duration::from_secs(15), fut)
                .await
                .unwrap_or_else(|_| Err("timed out after 15s".into()))
        })
    }

    fn connect_options(&self) -> ConnectOptions {
        let ca = fs::read(self.cacert()).expect("read ca");
        let cert = fs::read(&self.client_cert).expect("read client cert");
        let key = fs::read(&self.client_key).expect("read client key");
        ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5))
            .with_tls(
                TlsOptions::new().ca_certificate(Certificate::from_pem(ca)).identity(Identity::from_pem(cert, key)),
            )
    }

    /// Waits until every running member answers Status with a leader.
    pub fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let opts = self.connect_options();
        let running: Vec<String> = self.verifiable_endpoints();
        loop {
            let all_ok = running.iter().all(|ep| {
                let (ep, opts) = (ep.clone(), opts.clone());
                self.rt.block_on(async move {
                    let fut = async {
                        let mut c = Client::connect([ep], Some(opts)).await.ok()?;
                        c.status().await.ok().map(|s| s.leader() != 0)
                    };
                    tokio::time::timeout(Duration::from_secs(2), fut).await.ok().flatten().unwrap_or(false)
                })
            });
            if all_ok {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> =
                    self.members.iter().map(|m| format!("--- {}:\n{}", m.name, tail(&m.log, 15))).collect();
                panic!("cluster not healthy within {limit:?}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The harness's temp directory (certificates, data, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

fn new_member(dir: &TempDir, pki: &Pki, name: String, ip: String, cport: u16, pport: u16) -> MemberProc {
    let mut sans = vec![ip.as_str()];
    if ip == "127.0.0.1" {
        sans.push("localhost");
    }
    pki.issue(&format!("{name}-server"), &sans, Kind::Server);
    // etcd checks a dialling peer's source address against its certificate's IP SANs, and
    // the kernel sources loopback connections from 127.0.0.1 whatever 127.x they go to.
    let mut peer_sans = sans.clone();
    if ip != "127.0.0.1" {
        peer_sans.push("127.0.0.1");
    }
    pki.issue(&format!("{name}-peer"), &peer_sans, Kind::Peer);
    MemberProc {
        client_url: format!("https://{ip}:{cport}"),
        advertised_client_url: format!("https://{ip}:{cport}"),
        peer_url: format!("https://{ip}:{pport}"),
        data_dir: dir.path().join(format!("{name}.etcd")),
        log: dir.path().join(format!("{name}.log")),
        pidfile: dir.path().join(format!("{name}.pid")),
        version: V3_4,
        name,
        ip,
        id: 0,
        child: None,
    }
}

/// A block 127.A.B.0/24 whose member addresses have 2379 and 2380 free. A comes from the
/// process id (test binaries run side by side), B from a counter (tests run in threads).
fn free_block(members: usize) -> (u32, u32) {
    let a = 10 + std::process::id() % 200;
    loop {
        let b = NEXT_BLOCK.fetch_add(1, Ordering::SeqCst);
        assert!(b < 250, "ran out of loopback blocks");
        let ok = (1..=members).all(|i| {
            let ip = format!("127.{a}.{b}.{i}");
            TcpListener::bind((ip.as_str(), 2379)).is_ok() && TcpListener::bind((ip.as_str(), 2380)).is_ok()
        });
        if ok {
            return (a, b);
        }
    }
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// Kills `pid` once this test process is gone (a panic that aborts, a SIGKILLed test
/// binary), so no etcd outlives its test. It exits by itself when `pid` exits.
fn watchdog(pid: u32) {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; kill -CONT {pid} 2>/dev/null; kill -9 {pid} 2>/dev/null"
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Both cores kept busy by spinning threads until dropped, or for at most `limit`: an
/// election under CPU load, as on a loaded control plane.
pub struct CpuLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuLoad {
    /// Starts `n` spinning threads, each stopping by itself after `limit`.
    pub fn start(n: usize, limit: Duration) -> CpuLoad {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let until = Instant::now() + limit;
                    let mut x: u64 = 0;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        CpuLoad { stop, threads }
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The last n lines of a file.
pub fn tail(p: &Path, n: usize) -> String {
    let s = fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
