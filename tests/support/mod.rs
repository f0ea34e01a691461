//! Test support shared by the integration tests and the benchmark: a PKI and real etcd
//! clusters on loopback addresses of their own. Include with `mod support;`.
#![allow(dead_code)]

pub mod api_server;
pub mod bin;
pub mod cluster;
pub mod https;
pub mod pki;
pub mod proxy;
pub mod report;
pub mod versions;

#[allow(unused_imports)] // not every test file starts a cluster
pub use cluster::Cluster;
