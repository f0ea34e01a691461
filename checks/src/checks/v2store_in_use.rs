//! `v2store-in-use`: an upgrade to 3.6 or later while `--enable-v2` (or `ETCD_ENABLE_V2`) is
//! set on a member. etcd 3.6 removed the v2 store: custom v2 data must be cleaned up first
//! (`etcdutl check v2store` on each member), or the 3.6 member refuses to start.

use crate::declare_check;
use crate::finding::{Finding, Remedy, Severity};
use crate::model::Snapshot;
use crate::registry::Check;
use crate::upgrade::{self, knowledge};

declare_check! {
    /// v2store in use before an upgrade to 3.6+.
    V2storeInUse, "v2store-in-use", Severity::Critical, "0.2.0",
    "--enable-v2 is set while the upgrade goes to etcd 3.6 or later, which has no v2 store"
}

/// One place etcd's flags were read, and what it said about the v2 store.
struct FlagSource {
    /// "etcd pod etcd-cp-1" / "node cp-1 (k3s.io/node-args)".
    place: String,
    /// The flag as written, when it enables v2.
    enables: Option<String>,
}

/// Every place flags were read: etcd pods with their command line, K3s/RKE2 node args.
fn flag_sources(snap: &Snapshot) -> Vec<FlagSource> {
    let mut out = Vec::new();
    for p in snap.etcd_pods.iter().flatten().filter(|p| !p.command.is_empty()) {
        out.push(FlagSource { place: format!("etcd pod {}", p.name), enables: enabling(&p.command) });
    }
    let k3s = crate::detect::k3s_or_rke2_nodes(snap);
    for n in snap.nodes.iter().flatten().filter(|_| k3s) {
        for key in ["k3s.io/node-args", "rke2.io/node-args"] {
            let Some(raw) = n.annotations.get(key) else { continue };
            // The annotation is a JSON array of the server's arguments.
            let args: Vec<String> = serde_json::from_str(raw).unwrap_or_else(|_| vec![raw.clone()]);
            out.push(FlagSource { place: format!("node {} ({key})", n.name), enables: enabling(&args) });
        }
    }
    out
}

/// The argument that turns the v2 API on, if any: `--enable-v2`, `--enable-v2=true`,
/// `ETCD_ENABLE_V2=true`, K3s/RKE2's `--etcd-arg=enable-v2=true` (or the two-word form).
fn enabling(args: &[String]) -> Option<String> {
    args.iter()
        .find(|a| {
            let a = a.trim().trim_start_matches('-');
            let a = a.strip_prefix("etcd-arg=").unwrap_or(a).trim_start_matches('-');
            let value = if let Some(rest) = a.strip_prefix("enable-v2") {
                match rest.strip_prefix('=') {
                    Some(v) => v,
                    None if rest.is_empty() => "true",
                    None => return false,
                }
            } else if let Some(v) = a.strip_prefix("ETCD_ENABLE_V2=") {
                v
            } else {
                return false;
            };
            matches!(value.trim().trim_matches('"').to_ascii_lowercase().as_str(), "true" | "1" | "t")
        })
        .cloned()
}

/// Whether the upgrade crosses into 3.6+ from a member below it (or of unknown version).
fn crosses_into_3_6(snap: &Snapshot) -> Option<bool> {
    let t = upgrade::snapshot_target(snap)?.ok()?;
    let line = t.line?;
    if line < (3, 6) {
        return Some(false);
    }
    let running = upgrade::running(snap);
    Some(running.len() < snap.members.len() || running.iter().any(|r| r.version.minor_line() < (3, 6)))
}

impl Check for V2storeInUse {
    fn run(&self, snap: &Snapshot) -> Vec<Finding> {
        if crosses_into_3_6(snap) != Some(true) {
            return Vec::new();
        }
        let sources = flag_sources(snap);
        let on: Vec<&FlagSource> = sources.iter().filter(|s| s.enables.is_some()).collect();
        let commands = vec![
            "etcdutl check v2store --data-dir <the member's data dir>   # etcdutl 3.5.32+: also reads the WAL".into(),
        ];
        if on.is_empty() {
            if sources.is_empty() {
                return Vec::new();
            }
            let places: Vec<&str> = sources.iter().map(|s| s.place.as_str()).collect();
            return vec![
                Finding::new(
                    Self::INFO.id,
                    Severity::Info,
                    "cluster",
                    format!(
                        "no --enable-v2 in the flags read ({}); etcd's 3.6 guide asks whether it was ever set: `etcdutl check v2store` on each member decides",
                        places.join(", ")
                    ),
                )
                .with("flagsReadFrom", &places)
                .with("sources", knowledge::V2STORE),
            ];
        }
        on.iter()
            .map(|s| {
                let flag = s.enables.clone().unwrap_or_default();
                Finding::new(
                    Self::INFO.id,
                    Severity::Critical,
                    s.place.clone(),
                    format!(
                        "{}: {flag} is set and the upgrade goes to etcd 3.6+, which has no v2 store: run `etcdutl check v2store` on each member, clean up custom v2 data, then remove the flag on every member",
                        s.place
                    ),
                )
                .with("flag", &flag)
                .with("sources", knowledge::V2STORE)
                .remedy(Remedy::Manual {
                    description: "follow etcd's v3.5 → v3.6 guide, section \"V2 Store\", on every member before upgrading"
                        .into(),
                    commands: commands.clone(),
                })
            })
            .collect()
    }

    fn missing_input(&self, snap: &Snapshot) -> Option<String> {
        match crosses_into_3_6(snap) {
            None => Some("no known --target-version: the v2store rule applies to upgrades to etcd 3.6+".into()),
            Some(false) => None,
            Some(true) if flag_sources(snap).is_empty() => Some(
                "etcd's flags were not read (no etcd pod spec, no K3s/RKE2 node args): `etcdutl check v2store` on each member decides"
                    .into(),
            ),
            Some(true) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EtcdPod, Node};
    use crate::testing::with_versions;

    fn pod(args: &[&str]) -> EtcdPod {
        EtcdPod {
            name: "etcd-cp-1".into(),
            node: "cp-1".into(),
            command: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        }
    }

    fn snap(target: &str, pods: Vec<EtcdPod>) -> Snapshot {
        let mut s = with_versions(&["3.5.21", "3.5.21", "3.5.21"]);
        s.audit.target_version = Some(target.into());
        s.etcd_pods = Some(pods);
        s
    }

    #[test]
    fn enable_v2_before_3_6_is_critical_and_cites_the_guide() {
        let f = V2storeInUse.run(&snap("3.6.5", vec![pod(&["etcd", "--enable-v2=true", "--name=cp-1"])]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].message.contains("etcdutl check v2store"), "{f:?}");
        assert!(f[0].evidence["sources"].to_string().contains("upgrade_3_6"));
        for on in [&["etcd", "--enable-v2"][..], &["ETCD_ENABLE_V2=true"], &["--etcd-arg=enable-v2=true"]] {
            assert!(enabling(&on.iter().map(|s| s.to_string()).collect::<Vec<_>>()).is_some(), "{on:?}");
        }
        for off in [&["--enable-v2=false"][..], &["--enable-v2v3=/x"], &["ETCD_ENABLE_V2=false"]] {
            assert!(enabling(&off.iter().map(|s| s.to_string()).collect::<Vec<_>>()).is_none(), "{off:?}");
        }
    }

    #[test]
    fn k3s_node_args_are_read() {
        let mut s = snap("v1.34.9+k3s1", Vec::new());
        s.nodes = Some(vec![Node {
            name: "cp-1".into(),
            annotations: [("k3s.io/node-args".to_string(), r#"["server","--etcd-arg","enable-v2=true"]"#.to_string())]
                .into(),
            ..Default::default()
        }]);
        let f = V2storeInUse.run(&s);
        assert_eq!(f.first().map(|f| f.severity), Some(Severity::Critical), "{f:?}");
    }

    #[test]
    fn silent_below_3_6_and_not_verified_without_flags() {
        assert!(V2storeInUse.run(&snap("3.5.32", vec![pod(&["--enable-v2"])])).is_empty());
        assert_eq!(V2storeInUse.missing_input(&snap("3.5.32", Vec::new())), None);
        let s = snap("3.6.5", Vec::new());
        assert!(V2storeInUse.run(&s).is_empty());
        assert!(V2storeInUse.missing_input(&s).is_some_and(|m| m.contains("etcdutl check v2store")));
        let f = V2storeInUse.run(&snap("3.6.5", vec![pod(&["etcd", "--name=cp-1"])]));
        assert_eq!(f.first().map(|f| f.severity), Some(Severity::Info));
    }
}
