//! Reading the JSON report in tests.

use std::collections::BTreeMap;

use serde_json::Value;

/// check id -> the worst severity it raised.
pub fn findings(r: &Value) -> BTreeMap<String, String> {
    let rank = |s: &str| ["info", "warning", "critical"].iter().position(|x| *x == s).unwrap_or(0);
    let mut m = BTreeMap::new();
    for f in r["findings"].as_array().into_iter().flatten() {
        let (c, s) = (f["check"].as_str().unwrap_or_default().to_string(), f["severity"].as_str().unwrap_or_default());
        let e = m.entry(c).or_insert_with(|| s.to_string());
        if rank(s) > rank(e) {
            *e = s.to_string();
        }
    }
    m
}

/// The map `findings` returns, written as pairs.
pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}
