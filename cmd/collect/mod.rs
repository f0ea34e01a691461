//! Collectors fill a `Snapshot`; they never judge. `gather` is the one entry: it picks the route
//! (live etcd `etcd`, an etcd pod `pod_exec`, an offline `bundle`), adds the Kubernetes API
//! (`kube`), this node's files (`local`) and certificates (`certs`), and finishes the snapshot.

pub mod api_probe;
pub mod audit_facts;
pub mod bundle;
pub mod bundle_write;
pub mod certs;
pub mod etcd;
pub mod etcdctl_text;
pub mod gather;
pub mod join_probe;
pub mod kube;
pub mod limits;
pub mod lines;
pub mod local;
pub mod node_list_halves;
pub mod node_list_json;
pub mod node_list_yaml;
pub mod pod_exec;
pub mod rancher;
pub mod resolve;
pub mod tls;
pub mod tls_probe;

pub use crate::errors::{error_line, etcd_error_line};
