//! Limits on captured and local input files, checked before any parser sees them: a 100 MB
//! `member-list.json` took over 120 s and 3.2 GB, a 200 KB `nodes.yaml` nested 100,000 deep
//! over 20 s (libyaml's scanner is quadratic in flow depth), a 256 KB member name minutes in the
//! table renderer. Each limit is generous for real captures (a 5,000-node `nodes.yaml` with
//! image lists passes) and its error names the file, the limit and what to do.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The limits for one kind of file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// What the file is, for messages ("an etcdctl capture").
    pub kind: &'static str,
    /// Largest file, in bytes.
    pub max_bytes: u64,
    /// Deepest nesting of mappings and sequences (JSON and YAML; 0: not checked).
    pub max_depth: usize,
    /// Longest string in a JSON document, or line of a YAML or text file, in bytes.
    pub max_field: usize,
    /// What a real file of this kind looks like, for messages.
    pub real: &'static str,
    /// What to do about a file past a limit.
    pub advice: &'static str,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// etcdctl's `-w json` (or text) captures: member list, endpoint status/health, hashkv, and
/// `certs.json` / `local.json`. A 100-member list is under 100 KiB; names and URLs are short.
pub const ETCDCTL: Limits = Limits {
    kind: "an etcdctl capture",
    advice: "capture it again with etcdctl (`-w json`)",
    max_bytes: 8 * MIB,
    max_depth: 64,
    max_field: 64 * KIB as usize,
    real: "etcdctl's captures of a cluster are a few KiB, member names and URLs under 1 KiB",
};

/// `kubectl get nodes|pods -o yaml|json`: a 5,000-node list with image lists and conditions is
/// 15 to 40 MB as YAML and up to 75 MB as JSON; a node annotation can hold a few KiB of JSON.
pub const KUBE_LIST: Limits = Limits {
    kind: "a `kubectl get -o yaml|json` list",
    advice: "capture it again with `kubectl get ... -o yaml` or `-o json`",
    max_bytes: 256 * MIB,
    max_depth: 64,
    max_field: MIB as usize,
    real: "a 5,000-node `kubectl get nodes -o yaml` is 15 to 40 MB, nested about 8 deep",
};

/// A plan file for `apply -f` (`plan -o yaml|json`).
pub const PLAN: Limits = Limits {
    kind: "a plan file",
    advice: "make the plan again with `kubectl etcd-doctor plan -o yaml > plan.yaml`",
    max_bytes: 8 * MIB,
    max_depth: 64,
    max_field: 64 * KIB as usize,
    real: "a plan is a few KiB",
};

/// A node's config files (static pod manifests, K3s/RKE2 config, env files, units).
pub const CONFIG: Limits = Limits {
    kind: "a config file",
    advice: "check that it is the file etcd and the distribution read",
    max_bytes: 4 * MIB,
    max_depth: 64,
    max_field: MIB as usize,
    real: "etcd's and the distributions' config files are a few KiB",
};

/// A certificate file (PEM or DER): a CA bundle of a few hundred certificates stays under 1 MiB.
pub const PEM: Limits = Limits {
    kind: "a certificate file",
    advice: "copy the certificate files themselves",
    max_bytes: 4 * MIB,
    max_depth: 0,
    max_field: usize::MAX,
    real: "a CA bundle of a few hundred certificates is under 1 MiB",
};

/// A `/metrics` page (`metrics/<member>.prom`): a few hundred KiB.
pub const METRICS: Limits = Limits {
    kind: "a metrics page",
    advice: "capture the page again with curl",
    max_bytes: 64 * MIB,
    max_depth: 0,
    max_field: MIB as usize,
    real: "etcd's /metrics page is a few hundred KiB",
};

fn human(n: u64) -> String {
    if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= KIB {
        format!("{:.1} KiB", n as f64 / KIB as f64)
    } else {
        format!("{n} bytes")
    }
}

/// Reads a file as bytes within `l.max_bytes` (checked before reading, and while reading for
/// files whose size the metadata does not tell: a pipe, a growing file).
pub fn read_bytes(path: &Path, l: &Limits) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > l.max_bytes {
        bail!(too_big(path, l, len));
    }
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(l.max_bytes + 1).read_to_end(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
    if buf.len() as u64 > l.max_bytes {
        bail!(too_big(path, l, buf.len() as u64));
    }
    Ok(buf)
}

fn too_big(path: &Path, l: &Limits, len: u64) -> String {
    format!(
        "{} is {}{}, above the {} limit for {} ({}): is it the right file? {}",
        path.display(),
        human(len),
        if len > l.max_bytes { "" } else { " or more" },
        human(l.max_bytes),
        l.kind,
        l.real,
        l.advice
    )
}

/// Reads a UTF-8 text file and checks its size, nesting depth and field length.
pub fn read(path: &Path, l: &Limits) -> Result<String> {
    let bytes = read_bytes(path, l)?;
    let text = String::from_utf8(bytes).with_context(|| format!("cannot read {}: not UTF-8 text", path.display()))?;
    check(&text, path, l)?;
    Ok(text)
}

/// Checks text already read (nesting depth and field length; the size is the caller's).
pub fn check(text: &str, path: &Path, l: &Limits) -> Result<()> {
    if text.len() as u64 > l.max_bytes {
        bail!(too_big(path, l, text.len() as u64));
    }
    let breach = if l.max_depth == 0 {
        lines(text, l)
    } else {
        let json = matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'['));
        in_parallel(text, json, l)
    };
    match breach {
        None => Ok(()),
        Some(Breach::Depth { line }) => bail!(
            "{} line {line}: nested deeper than {} levels, the limit for {} ({}): it is not such a file, or it was damaged; {}",
            path.display(),
            l.max_depth,
            l.kind,
            l.real,
            l.advice
        ),
        Some(Breach::Field { line, len }) => bail!(
            "{} line {line}: a {} of {}, above the {} limit for {} ({}): it is not such a file, or it was damaged; {}",
            path.display(),
            if l.max_depth > 0 && matches!(text.trim_start().as_bytes().first(), Some(b'{' | b'[')) {
                "string"
            } else {
                "line"
            },
            human(len as u64),
            human(l.max_field as u64),
            l.kind,
            l.real,
            l.advice
        ),
    }
}

#[derive(Debug, PartialEq)]
enum Breach {
    /// 1-based line where the nesting passed the limit.
    Depth { line: usize },
    /// 1-based line of a string or line longer than the limit, and its length.
    Field { line: usize, len: usize },
}

fn line_of(text: &[u8], at: usize) -> usize {
    text[..at.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

fn lines(text: &str, l: &Limits) -> Option<Breach> {
    text.split('\n')
        .enumerate()
        .find(|(_, s)| s.len() > l.max_field)
        .map(|(i, s)| Breach::Field { line: i + 1, len: s.len() })
}

/// Large files are checked in pieces on several threads (a 15 MB capture would otherwise add
/// tens of milliseconds): JSON cut at any newline (JSON strings never hold a raw newline), the
/// depth at each cut carried over from the pieces before it; YAML cut before a line at column
/// 0, where no flow collection, quoted or block scalar of the line before can go on.
fn in_parallel(text: &str, is_json: bool, l: &Limits) -> Option<Breach> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
    let pieces = if text.len() < 4 << 20 { 1 } else { threads };
    let mut cuts = vec![0];
    for k in 1..pieces {
        let from = (text.len() * k / pieces).max(cuts[cuts.len() - 1]);
        let mut at = from;
        let cut = loop {
            let Some(nl) = text[at..].find('\n') else { break None };
            at += nl + 1;
            match text.as_bytes().get(at) {
                None => break None,
                Some(b' ' | b'\n' | b'\r' | b'\t') if !is_json => continue,
                Some(_) => break Some(at),
            }
        };
        if let Some(c) = cut {
            cuts.push(c);
        }
    }
    cuts.push(text.len());
    cuts.dedup();
    let chunks: Vec<&str> = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    let line_at = |i: usize| text.as_bytes()[..cuts[i]].iter().filter(|b| **b == b'\n').count();
    let shift = |b: Breach, i: usize| match b {
        Breach::Depth { line } => Breach::Depth { line: line + line_at(i) },
        Breach::Field { line, len } => Breach::Field { line: line + line_at(i), len },
    };
    if !is_json {
        let found: Vec<Option<Breach>> = if chunks.len() == 1 {
            vec![yaml(text, l)]
        } else {
            std::thread::scope(|s| {
                let hs: Vec<_> = chunks.iter().map(|c| s.spawn(move || yaml(c, l))).collect();
                hs.into_iter().map(|h| h.join().unwrap_or(None)).collect()
            })
        };
        return found.into_iter().enumerate().find_map(|(i, b)| b.map(|b| shift(b, i)));
    }
    // Each piece scanned from depth 0 with no depth limit: its net change and deepest point.
    let scans: Vec<Result<(isize, isize), Breach>> = if chunks.len() == 1 {
        vec![json(chunks[0].as_bytes(), 0, isize::MAX, l)]
    } else {
        std::thread::scope(|s| {
            let hs: Vec<_> = chunks.iter().map(|c| s.spawn(move || json(c.as_bytes(), 0, isize::MAX, l))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(Ok((0, 0)))).collect()
        })
    };
    let max = isize::try_from(l.max_depth).unwrap_or(isize::MAX);
    let mut depth = 0isize;
    for (i, scan) in scans.into_iter().enumerate() {
        let (end, deepest) = match scan {
            Ok(v) => v,
            Err(b) => return Some(shift(b, i)),
        };
        if depth + deepest > max {
            // Scanned again from the depth it really starts at, for the line.
            return json(chunks[i].as_bytes(), depth, max, l).err().map(|b| shift(b, i));
        }
        depth += end;
    }
    None
}

/// JSON from `depth`: exact depth and string lengths (strings and escapes tracked byte by
/// byte); the depth at the end and the deepest point, or the first breach.
fn json(text: &[u8], mut depth: isize, max: isize, l: &Limits) -> Result<(isize, isize), Breach> {
    let mut deepest = depth;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                if i - start - 1 > l.max_field {
                    return Err(Breach::Field { line: line_of(text, start), len: i - start - 1 });
                }
            }
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > max {
                    return Err(Breach::Depth { line: line_of(text, i) });
                }
            }
            b'}' | b']' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    Ok((depth, deepest))
}

/// YAML: an upper estimate of the nesting from each line's indentation (two columns a level),
/// its chained `- ` / `? ` markers and the flow brackets (`[`, `{`) outside quoted scalars,
/// block scalars (`|`, `>`) and comments. A flow collection or quoted scalar cannot continue
/// on a line indented no more than where it began, so a misread plain scalar (`a[b`) cannot
/// add up over the file.
fn yaml(text: &str, l: &Limits) -> Option<Breach> {
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    let mut base = 0usize; // indentation of the line where the open flow or quote began
    let mut block_scalar: Option<usize> = None; // indentation of a `|` / `>` header line
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() > l.max_field {
            return Some(Breach::Field { line: n + 1, len: line.len() });
        }
        let b = line.as_bytes();
        let indent = b.iter().take_while(|c| **c == b' ').count();
        let blank = indent == b.len();
        if let Some(h) = block_scalar {
            if blank || indent > h {
                continue;
            }
            block_scalar = None;
        }
        if blank {
            continue;
        }
        if (flow > 0 || quote.is_some()) && indent <= base {
            flow = 0;
            quote = None;
        }
        let mut i = indent;
        let mut depth = indent / 2;
        let mut at_start = true;
        if flow == 0 && quote.is_none() {
            while i < b.len() && matches!(b[i], b'-' | b'?') && (i + 1 == b.len() || b[i + 1] == b' ') {
                depth += 1;
                i += 1;
                while i < b.len() && b[i] == b' ' {
                    i += 1;
                }
            }
            if depth > l.max_depth {
                return Some(Breach::Depth { line: n + 1 });
            }
        }
        while i < b.len() {
            let c = b[i];
            if let Some(q) = quote {
                if q == b'"' && c == b'\\' {
                    i += 2;
                    continue;
                }
                if c == q {
                    if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    quote = None;
                    at_start = false;
                }
                i += 1;
                continue;
            }
            match c {
                b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t') => break,
                b'"' | b'\'' if at_start => {
                    if flow == 0 {
                        base = indent;
                    }
                    quote = Some(c);
                }
                b'[' | b'{' if at_start || flow > 0 => {
                    if flow == 0 {
                        base = indent;
                    }
                    flow += 1;
                    if depth + flow > l.max_depth {
                        return Some(Breach::Depth { line: n + 1 });
                    }
                    at_start = true;
                }
                b']' | b'}' if flow > 0 => {
                    flow -= 1;
                    at_start = false;
                }
                b',' if flow > 0 => at_start = true,
                b':' if flow > 0 || matches!(b.get(i + 1), None | Some(b' ')) => at_start = true,
                b'|' | b'>' if at_start && flow == 0 => {
                    block_scalar = Some(indent);
                    break;
                }
                b' ' | b'\t' => {}
                _ => at_start = false,
            }
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits { kind: "test", max_bytes: 1 << 20, max_depth: 8, max_field: 100, real: "", advice: "" };

    #[test]
    fn kubectl_yaml_passes() {
        let text = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    annotations:\n      flannel.alpha.coreos.com/backend-data: '{\"VNI\":1,\"VtepMAC\":\"3e:40\"}'\n      k3s.io/node-args: '[\"server\",\"--cluster-init\"]'\n      x: a[b {c\n      y: |\n        [[[[[[[[[[[[ \"unclosed\n  status:\n    conditions:\n    - type: Ready\n      message: \"it's [fine\"\n";
        assert_eq!(yaml(text, &L), None);
    }

    #[test]
    fn deep_flow_and_chained_markers_are_caught() {
        assert_eq!(yaml(&format!("a: {}", "[".repeat(20)), &L), Some(Breach::Depth { line: 1 }));
        assert_eq!(yaml(&format!("{}x", "- ".repeat(20)), &L), Some(Breach::Depth { line: 1 }));
        assert_eq!(yaml(&format!("a: {{b: {}", "{c: ".repeat(20)), &L), Some(Breach::Depth { line: 1 }));
        // A stray bracket per line never adds up: each line is back at the base indentation.
        assert_eq!(yaml(&"- [a\n".repeat(50), &L), None);
    }

    #[test]
    fn json_depth_and_strings_are_exact() {
        let check = |t: &str| in_parallel(t, true, &L);
        assert_eq!(check(r#"{"a": "[[[[[[[[[[[[[[[[", "b": [1, {"c": "\"]"}]}"#), None);
        assert_eq!(check(&"[".repeat(9)), Some(Breach::Depth { line: 1 }));
        let long = format!("{{\n\"name\": \"{}\"}}", "x".repeat(101));
        assert_eq!(check(&long), Some(Breach::Field { line: 2, len: 101 }));
    }

    #[test]
    fn pieces_checked_in_parallel_find_what_one_pass_finds() {
        let l = Limits { max_field: 1 << 20, ..L };
        // 4.5 MiB of JSON, 7 deep throughout; then one more level deep at line 100,001 of it.
        let item = "[[[[[[\n\"x\"\n]]]]]]\n".repeat(1 << 18);
        let ok = format!("[\n{item}]\n");
        assert!(ok.len() > 4 << 20);
        assert_eq!(in_parallel(&ok, true, &l), None);
        let deep = format!("[\n{}[[[[[[[[\n{}]]]]]]]]\n]\n", &item[..item.len() / 2], &item[item.len() / 2..]);
        let line = item[..item.len() / 2].matches('\n').count() + 2;
        assert_eq!(in_parallel(&deep, true, &l), Some(Breach::Depth { line }));
        // YAML: the same line whichever piece it falls in.
        let yaml_ok = "- a: {b: [c]}\n  d: |\n    [[[[[[[[[[\n".repeat(1 << 18);
        assert_eq!(in_parallel(&yaml_ok, false, &l), None);
        let bad = format!("{}x: {}\n", &yaml_ok, "[".repeat(9));
        assert_eq!(in_parallel(&bad, false, &l), Some(Breach::Depth { line: (3 << 18) + 1 }));
    }
}
