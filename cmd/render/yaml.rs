//! `-o yaml`: the same document as `-o json`. serde_yaml is archived (2024); serde_yaml_ng is
//! its maintained fork with the same API.
//!
//! serde_yaml_ng quotes what YAML 1.2 would misread, but YAML 1.1 readers (PyYAML, Go's
//! yaml.v2, Ruby's Psych) also take `2026-12-01T10:00:00Z` for a timestamp, `yes`/`no`/`on`/
//! `off` for booleans and `1:30` for a number. Such strings are swapped for placeholders
//! before emitting and put back single-quoted, so every reader sees strings.

use anyhow::Result;
use serde::Serialize;
use serde_yaml_ng::Value;

/// YAML of the document.
pub fn render<T: Serialize>(doc: &T) -> Result<String> {
    let mut v = serde_yaml_ng::to_value(doc)?;
    let mut quoted: Vec<String> = Vec::new();
    let tag = placeholder_tag(&serde_yaml_ng::to_string(&v)?);
    swap(&mut v, &tag, &mut quoted);
    let mut text = serde_yaml_ng::to_string(&v)?;
    if quoted.is_empty() {
        return Ok(text);
    }
    // Longest index first, so `…q1…` never replaces a piece of `…q10…`.
    for (i, s) in quoted.iter().enumerate().rev() {
        text = text.replace(&format!("{tag}{i}z"), &format!("'{}'", s.replace('\'', "''")));
    }
    Ok(text)
}

/// A plain-scalar prefix that occurs nowhere in the document.
fn placeholder_tag(text: &str) -> String {
    let mut tag = String::from("etcddoctorq");
    while text.contains(&tag) {
        tag.push('x');
    }
    tag
}

/// Replaces every string a YAML 1.1 reader would misread by `<tag><index>z`, keeping it.
fn swap(v: &mut Value, tag: &str, quoted: &mut Vec<String>) {
    match v {
        Value::String(s) if yaml11_not_a_string(s) => {
            let i = quoted.len();
            quoted.push(std::mem::replace(s, format!("{tag}{i}z")));
        }
        Value::Sequence(items) => items.iter_mut().for_each(|x| swap(x, tag, quoted)),
        Value::Mapping(m) => {
            // Keys are field names and member ids, never timestamps; only values are swapped.
            m.values_mut().for_each(|x| swap(x, tag, quoted));
        }
        Value::Tagged(t) => swap(&mut t.value, tag, quoted),
        _ => {}
    }
}

/// Whether a YAML 1.1 reader would resolve this plain scalar to something else than a string:
/// a timestamp, a YAML 1.1 boolean or null, or a base-60 / underscored / binary number.
fn yaml11_not_a_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "~", "=",
        "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let b = s.as_bytes();
    // A date or a timestamp: YYYY-M[M]-D[D] and whatever follows.
    if b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit() {
        return true;
    }
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if let Some(bin) = digits.strip_prefix("0b") {
        return !bin.is_empty() && bin.bytes().all(|c| matches!(c, b'0' | b'1' | b'_'));
    }
    // Integers and floats with `_` or `:` (base 60), which YAML 1.2 reads as strings.
    digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits.bytes().any(|c| c.is_ascii_digit())
        && digits.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'_' | b':' | b'.'))
        && digits.bytes().filter(|c| *c == b'.').count() <= 1
        && (digits.contains('_') || digits.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_a_yaml_1_1_reader_would_misread_are_quoted() {
        let doc = json!({
            "collectedAt": "2026-12-01T10:00:00.123Z",
            "date": "2026-12-01",
            "answer": "yes",
            "sexagesimal": "1:30",
            "underscored": "1_000",
            "version": "3.5.16",
            "id": "8e9e05c52164694d",
            "digits": "1234",
            "quote": "it's",
            "list": ["on", "off", "2026-12-01 10:00:00"],
            "note": "a plain sentence",
        });
        let text = render(&doc).unwrap_or_default();
        for line in [
            "collectedAt: '2026-12-01T10:00:00.123Z'",
            "date: '2026-12-01'",
            "answer: 'yes'",
            "sexagesimal: '1:30'",
            "underscored: '1_000'",
            "version: 3.5.16",
            "id: 8e9e05c52164694d",
            "digits: '1234'",
            "quote: it's",
            "- 'on'",
            "- 'off'",
            "- '2026-12-01 10:00:00'",
            "note: a plain sentence",
        ] {
            assert!(text.lines().any(|l| l.trim() == line), "{line:?} not in:\n{text}");
        }
        // The same document back, by a YAML 1.2 reader.
        let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap_or_default();
        assert_eq!(back, doc);
    }

    #[test]
    fn a_document_that_contains_the_placeholder_text_still_round_trips() {
        let doc = json!({"a": "etcddoctorq0z", "b": "2026-12-01T10:00:00Z", "c": "etcddoctorq"});
        let text = render(&doc).unwrap_or_default();
        let back: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap_or_default();
        assert_eq!(back, doc, "{text}");
    }
}
