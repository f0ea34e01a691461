//! `kubectl get nodes -o json` read line by line (see `node_list_yaml` for why).

use std::io::Read;

use super::kube::lean;
use super::lines::{Lines, Stop};

/// The document as `lean::Doc`, or `Ok(None)` when its layout is not the one this reads (the
/// caller then parses the whole document with serde).
pub fn read<R: Read>(_lines: &mut Lines<R>) -> Result<Option<lean::Doc>, Stop> {
    Ok(None)
}
