//! The judgement half of etcd-doctor: the plain-data [`model::Snapshot`] that collectors fill, the
//! check modules that read it, the exact quorum arithmetic, and the report they produce.
//!
//! Nothing here does I/O: no network, no filesystem, no clock. "Now" is a field of the
//! snapshot, so every result is a pure function of its input and can be tested on fixtures.

pub mod audit_data;
pub mod cert;
pub(crate) mod cert_remedy;
pub mod checks;
pub mod detect;
pub mod distribution;
pub mod endpoint;
pub mod evidence;
pub mod finding;
pub mod id;
pub mod model;
pub mod node_local;
pub mod plan;
pub mod plan_file;
pub mod procedure;
pub mod quorum;
pub mod registry;
pub mod report;
pub mod state;
#[cfg(test)]
pub(crate) mod testing;
pub mod upgrade;
