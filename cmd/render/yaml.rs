//! `-o yaml`: the same document as `-o json`. serde_yaml is archived (2024); serde_yaml_ng is
//! its maintained fork with the same API.

use anyhow::Result;
use serde::Serialize;

/// YAML of the document.
pub fn render<T: Serialize>(doc: &T) -> Result<String> {
    Ok(serde_yaml_ng::to_string(doc)?)
}
