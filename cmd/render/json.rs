//! `-o json`: one document, nothing else on stdout.

use anyhow::Result;
use serde::Serialize;

/// Pretty JSON with a trailing newline.
pub fn render<T: Serialize>(doc: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(doc)?;
    s.push('\n');
    Ok(s)
}
