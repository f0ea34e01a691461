//! A large `nodes.json` file read in two halves at once: each worker reads its half with
//! positional reads and parses it as it goes, so the kernel's copy, the UTF-8 check and the
//! parse of each half run on one core, from that core's cache (one thread reading for two
//! workers was the slowest of the three on a 74 MB list). The halves meet after the first item
//! that ends past the middle; what each worker reads is checked as `node_list_json` checks it.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::kube::lean;
use super::lines::{Lines, Stop};
use super::node_list_json::{Piece, Reader, join};

/// How far past the middle the first item end is looked for (an item is a few KB).
const WINDOW: usize = 4 << 20;

/// The most items room is made for at once (a cluster of 5,000 nodes is Kubernetes' limit).
const EXPECT_MAX: usize = 1 << 16;

/// `node_list_json::read_items` on a file of `size` bytes, in two halves. `Ok(None)` when the
/// file is not laid out as that reader reads (the caller reads it the other way, or with
/// serde), or when no item ends within `WINDOW` past the middle.
pub fn read_items<T: Send>(
    file: &File,
    size: u64,
    max_line: usize,
    max_bytes: u64,
    finish: fn(lean::Node) -> T,
) -> Result<Option<(lean::Doc, Vec<T>)>, Stop> {
    if size > max_bytes {
        return Err(Stop::TooBig);
    }
    let size = usize::try_from(size).map_err(|_| Stop::TooBig)?;
    // The indentation of the line after `{`: where an item ends, as in `node_list_json`.
    let head = read_at(file, 0, size.min(4096))?;
    let Some(unit) = head
        .split(|b| *b == b'\n')
        .nth(1)
        .filter(|_| head.contains(&b'\n'))
        .map(|l| l.iter().take_while(|b| **b == b' ').count())
        .filter(|u| (1..=8).contains(u))
    else {
        return Ok(None);
    };
    let item_end = format!("\n{}}},\n", " ".repeat(2 * unit));
    let needle = item_end.as_bytes();
    let from = (size / 2).saturating_sub(needle.len());
    let Some(split) = find(file, from, size, needle)?.map(|at| at + needle.len()) else { return Ok(None) };
    // The item after it, as a measure of how many items each half holds: room for them is
    // made at once (grown as read, the list was copied into fresh pages a dozen times). Held
    // to `EXPECT_MAX`, and not taken from an item too short to be a node's.
    let item = find(file, split, size, needle)?.map(|at| at + needle.len() - split).filter(|len| *len >= 256);
    let expect = |bytes: usize| item.map_or(0, |len| (bytes / len + bytes / len / 4 + 8).min(EXPECT_MAX));
    std::thread::scope(|scope| {
        let first = scope.spawn(|| half(file, 0..split, max_line, Reader::default(), expect(split), finish));
        let second = half(file, split..size, max_line, Reader::in_items(unit), expect(size - split), finish);
        // A worker that panicked (it must not) leaves the document to the other readers.
        let first = first.join().unwrap_or(Ok(None));
        match (first?, second?) {
            (Some(a), Some(b)) => Ok(join(vec![a, b])),
            _ => Ok(None),
        }
    })
}

/// Where `needle` first occurs in the file's bytes from `from` (within `WINDOW` of them, and
/// `size`), read a step at a time: an item end is a few KB away, and reading the whole window
/// at once made 4 MiB of fresh pages.
fn find(file: &File, from: usize, size: usize, needle: &[u8]) -> Result<Option<usize>, Stop> {
    const STEP: usize = 64 << 10;
    let end = size.min(from.saturating_add(WINDOW));
    let (mut buf, mut at, mut read_to) = (Vec::new(), from, from);
    while read_to < end {
        let n = STEP.min(end - read_to);
        let old = buf.len();
        buf.resize(old + n, 0);
        file.read_exact_at(&mut buf[old..], read_to as u64).map_err(Stop::Io)?;
        read_to += n;
        if let Some(i) = memchr::memmem::find(&buf, needle) {
            return Ok(Some(at + i));
        }
        // The last bytes stay: a needle across two steps.
        let keep = buf.len().min(needle.len().saturating_sub(1));
        buf.drain(..buf.len() - keep);
        at = read_to - keep;
    }
    Ok(None)
}

/// The bytes `from..from + len` of the file (fewer: the file shrank, `Stop::Io`).
fn read_at(file: &File, from: usize, len: usize) -> Result<Vec<u8>, Stop> {
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, from as u64).map_err(Stop::Io)?;
    Ok(buf)
}

/// The bytes `span` of the file read by `reader` as `Lines` hands them out (whole lines, UTF-8
/// checked, the line limit kept); its piece, `None` when the reader does not take it. The span
/// ends at the file's end (its last line may lack its `\n`, as `node_list_json` reads it) or
/// just after a `\n`. About `expect` items are made ready for.
fn half<T>(
    file: &File,
    span: std::ops::Range<usize>,
    max_line: usize,
    mut reader: Reader,
    expect: usize,
    finish: fn(lean::Node) -> T,
) -> Result<Option<Piece<T>>, Stop> {
    let (at, end) = (span.start as u64, span.end as u64);
    let mut lines = Lines::new(Span { file, at, end }, max_line, u64::MAX);
    let (mut spare, mut made) = (None, Vec::with_capacity(expect));
    while let Some(text) = lines.next_text(spare.take())? {
        if reader.block(&text, max_line).is_none() {
            return Ok(None);
        }
        reader.made(&mut made, finish);
        spare = Some(text);
    }
    Ok(reader.piece().map(|p| p.finish(made, finish)))
}

/// Part of a file as a reader, by positional reads: the two halves read the same file at once
/// (a cloned handle would share one offset).
struct Span<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl std::io::Read for Span<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let len = buf.len().min(left);
        let n = self.file.read_at(&mut buf[..len], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::collect::limits::KUBE_LIST;

    fn halves(text: &str) -> Option<lean::Doc> {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        let got = read_items(&f, text.len() as u64, KUBE_LIST.max_field, KUBE_LIST.max_bytes, std::convert::identity)
            .ok()
            .flatten()
            .map(|(mut doc, items)| {
                doc.items = items;
                doc
            });
        if let Some(doc) = &got {
            let want: lean::Doc = serde_json::from_str(text).expect("serde reads what the halves read");
            assert_eq!(doc, &want, "halves differ from serde on:\n{text}");
        }
        got
    }

    /// A List of `n` nodes as kubectl prints it (4 spaces), each with labels, conditions and an
    /// image list passed over.
    fn list(n: usize) -> String {
        let items: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                serde_json::json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": format!("n{i}"), "labels": {"kubernetes.io/hostname": format!("n{i}"), "node-role.kubernetes.io/control-plane": ""}},
                    "status": {"addresses": [{"address": format!("10.0.{}.{}", i / 250, i % 250), "type": "InternalIP"}],
                        "conditions": [{"type": "Ready", "status": if i % 7 == 0 { "False" } else { "True" }, "lastTransitionTime": "2026-11-24T09:30:00Z"}],
                        "images": (0..i % 5).map(|k| serde_json::json!({"names": [format!("img-{k}:1.{i}")], "sizeBytes": 1000 + k})).collect::<Vec<_>>(),
                        "nodeInfo": {"kubeletVersion": "v1.33.1"}}})
            })
            .collect();
        let doc = serde_json::json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}});
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        serde::Serialize::serialize(&doc, &mut serde_json::Serializer::with_formatter(&mut out, fmt)).expect("json");
        out.push(b'\n');
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn two_halves_read_what_serde_reads_wherever_the_middle_falls() {
        // Two nodes: the middle falls in the last item, which ends without a comma: not cut.
        assert!(halves(&list(2)).is_none());
        for n in [3, 5, 17, 64, 400, 3000] {
            let text = list(n);
            let doc = halves(&text).unwrap_or_else(|| panic!("{n} nodes not read in halves"));
            assert_eq!(doc.items.len(), n);
            assert_eq!(doc.items[n - 1].metadata.name, format!("n{}", n - 1));
        }
        // A line longer than the buffer (an annotation of 600 KB, under the 1 MiB line limit).
        let long = list(20)
            .replace("\"n15\",", &format!("\"n15\",\n                    \"big\": \"{}\",", "x".repeat(600 << 10)));
        assert_eq!(halves(&long).map(|d| d.items[15].metadata.labels["big"].len()), Some(600 << 10));
        // The fixture capture (kubectl's layout, five kubeadm nodes).
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bundles/kubeadm-etcd-crashloop-json/nodes.json");
        let real = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(halves(&real).map(|d| d.items.len()), Some(5));
        // jq's two spaces.
        let jq = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&list(40)).expect("json"))
            .expect("json")
            + "\n";
        assert_eq!(halves(&jq).map(|d| d.items.len()), Some(40));
    }

    #[test]
    fn an_item_end_is_found_across_the_steps_it_is_read_in() {
        let needle = b"\n        },\n";
        for at in [0, 100, (64 << 10) - 5, 64 << 10, (128 << 10) - 1] {
            let mut text = vec![b'x'; 200 << 10];
            text[at..at + needle.len()].copy_from_slice(needle);
            let mut f = tempfile::tempfile().expect("temp file");
            f.write_all(&text).expect("write");
            assert_eq!(find(&f, 0, text.len(), needle).expect("read"), Some(at), "at {at}");
            assert_eq!(find(&f, at + 1, text.len(), needle).expect("read"), None, "past {at}");
            // Not past the end it is given.
            assert_eq!(find(&f, 0, at + needle.len() - 1, needle).expect("read"), None, "cut at {at}");
        }
    }

    #[test]
    fn what_the_halves_cannot_read_is_left_to_the_other_readers() {
        let text = list(50);
        // No newline at the end: read as the line reader and serde read it.
        assert_eq!(halves(text.trim_end()).map(|d| d.items.len()), Some(50));
        // One node (no item ends anywhere), minified JSON, a broken token past the middle.
        assert!(halves(&list(1)).is_none());
        let minified =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&text).expect("json")).expect("json");
        assert!(halves(&minified).is_none());
        let at = text.len() * 3 / 4;
        let nl = at + text[at..].find("\"True\"").expect("a condition past the middle");
        let broken = format!("{}\"True{}", &text[..nl], &text[nl + 6..]);
        assert!(halves(&broken).is_none());
        // Past the size limit.
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        assert!(matches!(read_items(&f, text.len() as u64, 1 << 20, 100, std::convert::identity), Err(Stop::TooBig)));
    }
}
