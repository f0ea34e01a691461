//! `kubectl get nodes -o yaml` read line by line. A 5,000-node list is 15 to 40 MB, most of it
//! image lists, managed fields and capacity that no check reads, and libyaml scans all of it at
//! about 14 MB/s. This reader knows the layout kubectl (and PyYAML, yq, serde_yaml) prints:
//! block mappings and sequences, one key per line. It cuts the List into its items as the lines
//! come, reads the keys `lean` holds and passes over everything else by indentation.
//!
//! It gives what serde gives, or nothing: an item it cannot read exactly (a block scalar, an
//! escape, an anchor, a flow collection) goes to serde on its own, after the input limits; a
//! document it cannot cut into items (tabs, several documents, one Node) makes the caller parse
//! the whole file. Differential tests hold it to serde's answers.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};

use super::kube::lean;
use super::limits;
use super::lines::{Lines, Stop};

/// Nodes nest about 8 deep; a line indented past this is read the slow way, which applies the
/// depth limit.
const MAX_LEAD: usize = 2 * 64;

/// Items handed to the reading thread at a time.
const BATCH: usize = 32;

/// Items, each with the column of its `- `.
type Batch = Vec<(ItemText, usize)>;

/// The document as `lean::Doc` without its items, and the items, each made a `T` by `finish`
/// on the thread that read it (while its strings are still in that core's cache); `Ok(None)`
/// when it is not laid out as this reads (the caller then parses the whole document with
/// serde, which also names a limit or an error).
pub fn read_items<R: Read, T: Send>(
    lines: &mut Lines<R>,
    finish: fn(lean::Node) -> T,
) -> Result<Option<(lean::Doc, Vec<T>)>, Stop> {
    Ok(read_counting(lines, finish)?.map(|(doc, items, _)| (doc, items)))
}

/// `read_items` with the items in the document, as serde gives it.
#[cfg(test)]
pub fn read<R: Read>(lines: &mut Lines<R>) -> Result<Option<lean::Doc>, Stop> {
    Ok(read_counting(lines, std::convert::identity)?.map(|(mut doc, items, _)| {
        doc.items = items;
        doc
    }))
}

/// `read_items`, and how many items serde read on their own. The lines are cut into items on
/// this thread and the items read on another, as they come.
fn read_counting<R: Read, T: Send>(
    lines: &mut Lines<R>,
    finish: fn(lean::Node) -> T,
) -> Result<Option<(lean::Doc, Vec<T>, usize)>, Stop> {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(8);
        // Batches read go back, to cut the next items into: fresh buffers for each item were
        // 40 MB of new pages for a 36 MB list.
        let (spares_tx, spares) = std::sync::mpsc::channel::<Batch>();
        let reader = scope.spawn(move || {
            let mut nodes = Vec::new();
            let mut by_serde = 0;
            for mut batch in rx {
                for (item, indent) in &mut batch {
                    let (node, serde) = item.read(*indent)?;
                    nodes.push(finish(node));
                    by_serde += usize::from(serde);
                }
                let _ = spares_tx.send(batch);
            }
            Some((nodes, by_serde))
        });
        let root = cut_items(lines, &tx, &spares);
        drop(tx);
        let read = reader.join().ok().flatten();
        let (Some(root), Some((items, by_serde))) = (root?, read) else { return Ok(None) };
        if limits::check(&root, Path::new("nodes.yaml"), &limits::KUBE_LIST).is_err() {
            return Ok(None);
        }
        let Ok(doc) = serde_yaml_ng::from_str::<lean::Doc>(&root) else { return Ok(None) };
        if doc.kind == "Node" {
            return Ok(None);
        }
        Ok(Some((doc, items, by_serde)))
    })
}

/// Cuts the List's items out of the lines and sends each (with the indentation of its `- `)
/// as it ends. Returns the document without its items (`items: []` in their place), for
/// serde: its kind, the List's metadata and any oddity there; `None` when the document is not
/// one List laid out in block style.
fn cut_items<R: Read>(
    lines: &mut Lines<R>,
    tx: &SyncSender<Batch>,
    spares: &Receiver<Batch>,
) -> Result<Option<String>, Stop> {
    let mut root = String::new();
    let mut item = ItemText::default();
    let mut state = State::Root;
    let mut seen_items = false;
    let mut first = true;
    // Items go to the other thread in batches (a wake-up per item costs more than reading it).
    // Each new item is cut into the buffers of one read before, else into new ones the size
    // of the item before.
    let (mut batch, mut pool) = (Vec::with_capacity(BATCH), Vec::<ItemText>::new());
    let mut send = |item: &mut ItemText, indent: usize, last: bool| {
        if !item.is_empty() {
            if pool.is_empty()
                && let Ok(read) = spares.try_recv()
            {
                pool.extend(read.into_iter().map(|(text, _)| text));
            }
            let next = match pool.pop() {
                Some(mut spare) => {
                    spare.text.clear();
                    spare.lines.clear();
                    spare
                }
                None => ItemText {
                    text: String::with_capacity(item.text.len() + item.text.len() / 4),
                    lines: Vec::with_capacity(item.lines.len() + item.lines.len() / 4),
                },
            };
            batch.push((std::mem::replace(item, next), indent));
        }
        if batch.len() < BATCH && !last {
            return true;
        }
        tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_ok()
    };
    let max_line = lines.max_line();
    let mut spare = None;
    while let Some(block) = lines.next_text(spare.take())? {
        // memchr's iterator: str::split_inclusive's searcher took a third of this thread.
        let mut from = 0;
        let ends = memchr::memchr_iter(b'\n', block.as_bytes())
            .map(|nl| nl + 1)
            .chain((!block.ends_with('\n')).then_some(block.len()));
        for end in ends {
            let line = &block[from..end];
            from = end;
            let line = line.strip_suffix('\n').unwrap_or(line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.len() > max_line || (std::mem::take(&mut first) && line.starts_with('\u{feff}')) {
                return Ok(None);
            }
            let lead = line.len() - line.trim_start_matches(' ').len();
            let body = &line[lead..];
            if body.starts_with('\t') || lead > MAX_LEAD {
                return Ok(None);
            }
            if let State::Items { indent } = &mut state {
                if is_blank(body) || body.as_bytes()[0] == b'#' {
                    if !item.is_empty() {
                        item.push(line, lead);
                    }
                    continue;
                }
                let ind = *indent.get_or_insert(lead);
                if lead == ind && is_entry(body) {
                    if !send(&mut item, ind, false) {
                        return Ok(None);
                    }
                    item.push(line, lead);
                    continue;
                }
                if lead > ind && !item.is_empty() {
                    item.push(line, lead);
                    continue;
                }
                if lead > 0 || body.starts_with('-') || !send(&mut item, ind, true) {
                    return Ok(None);
                }
                state = State::Root;
            }
            if lead == 0 && body.trim_end() == "items:" {
                if std::mem::replace(&mut seen_items, true) {
                    return Ok(None);
                }
                root.push_str("items: []\n");
                state = State::Items { indent: None };
                continue;
            }
            root.push_str(line);
            root.push('\n');
        }
        spare = Some(block);
    }
    // kubectl ends its output with a newline; a capture cut inside a line may be cut inside
    // a value this reader passes over, which serde would refuse.
    if lines.unterminated || !seen_items {
        return Ok(None);
    }
    if let State::Items { indent } = state
        && !send(&mut item, indent.unwrap_or(0), true)
    {
        return Ok(None);
    }
    Ok(Some(root))
}

enum State {
    Root,
    /// Inside `items:`; the indentation of its `- ` once the first entry is seen.
    Items {
        indent: Option<usize>,
    },
}

/// The lines of one item as they were read, and where each starts and how far it is indented.
#[derive(Default)]
struct ItemText {
    text: String,
    lines: Vec<Ln>,
}

#[derive(Clone, Copy)]
struct Ln {
    lead: usize,
    /// The line (without its indentation) in `ItemText::text`.
    start: usize,
    end: usize,
}

impl ItemText {
    fn push(&mut self, line: &str, lead: usize) {
        let start = self.text.len();
        self.text.push_str(line);
        let end = self.text.len();
        self.text.push('\n');
        self.lines.push(Ln { lead, start: start + lead, end });
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The node this item holds, and whether serde read it (`None`: neither this reader nor
    /// serde on the item alone can read it; the whole document decides then).
    fn read(&mut self, indent: usize) -> Option<(lean::Node, bool)> {
        if let Ok(node) = (Item { text: &self.text, lines: &mut self.lines, i: 0, levels: Vec::new() }).node(indent) {
            return Some((node, false));
        }
        // The item alone, all of it, the way serde reads it (a sequence of one), within the
        // input limits.
        limits::check(&self.text, Path::new("nodes.yaml"), &limits::KUBE_LIST).ok()?;
        let mut one = serde_yaml_ng::from_str::<Vec<lean::Node>>(&self.text).ok()?;
        (one.len() == 1).then(|| (one.remove(0), true))
    }
}

/// Not readable here exactly: serde reads it.
#[derive(Debug)]
struct Unsure;

type R<T> = Result<T, Unsure>;

/// One item's lines, read by descent over the keys `lean` holds.
struct Item<'a> {
    text: &'a str,
    lines: &'a mut [Ln],
    i: usize,
    /// The columns open while passing over a value (`skip`), and whether each holds the
    /// dashes of a sequence (else the keys of a mapping); kept to reuse the allocation.
    levels: Vec<(usize, bool)>,
}

impl<'a> Item<'a> {
    fn body(&self, at: usize) -> &'a str {
        let l = self.lines[at];
        &self.text[l.start..l.end]
    }

    /// The next line that is neither blank nor a comment: its index, indentation and text.
    fn peek(&mut self) -> Option<(usize, usize, &'a str)> {
        while self.i < self.lines.len() {
            let body = self.body(self.i);
            if is_blank(body) || body.as_bytes()[0] == b'#' {
                self.i += 1;
                continue;
            }
            return Some((self.i, self.lines[self.i].lead, body));
        }
        None
    }

    /// Makes the line at `at` (`- rest`) read as `rest`, two columns further right: the first
    /// key of a sequence entry's mapping.
    fn enter_entry(&mut self, at: usize) -> R<()> {
        let body = self.body(at);
        let rest = body.strip_prefix("- ").ok_or(Unsure)?;
        let skipped = body.len() - rest.len() + (rest.len() - rest.trim_start_matches(' ').len());
        let l = &mut self.lines[at];
        l.lead += skipped;
        l.start += skipped;
        Ok(())
    }

    fn node(&mut self, indent: usize) -> R<lean::Node> {
        self.enter_entry(0)?;
        let col = indent + 2;
        if self.lines[0].lead != col {
            return Err(Unsure);
        }
        let mut node = lean::Node::default();
        let mut seen = Seen::default();
        while let Some((key, value)) = self.next_key(col)? {
            match key {
                "metadata" => {
                    seen.once(0)?;
                    node.metadata = self.meta(value, col)?;
                }
                "status" => {
                    seen.once(1)?;
                    node.status = self.status(value, col)?;
                }
                _ => self.skip(value, col)?,
            }
        }
        // Nothing may follow the item's mapping.
        if self.peek().is_some() {
            return Err(Unsure);
        }
        Ok(node)
    }

    /// The next key of the block mapping whose keys stand at `col`, and the rest of its line;
    /// `None` where the mapping ends.
    fn next_key(&mut self, col: usize) -> R<Option<(&'a str, &'a str)>> {
        let Some((at, lead, body)) = self.peek() else { return Ok(None) };
        if lead < col {
            return Ok(None);
        }
        if lead > col {
            return Err(Unsure);
        }
        let (key, value) = split_key(body).ok_or(Unsure)?;
        self.i = at + 1;
        Ok(Some((key, value)))
    }

    /// The indentation of a block value's first line, when it is more than `col`.
    fn child_col(&mut self, col: usize) -> Option<usize> {
        self.peek().map(|(_, lead, _)| lead).filter(|lead| *lead > col)
    }

    /// Passes over the value of a key at `col` whose line ends in `value`: the lines indented
    /// more, and those at `col` of a sequence when `value` is empty. Their block structure is
    /// still checked, so that a damaged or hand-edited file serde refuses is not read as sound
    /// here: a line may only go back to a column a key or entry stands at, go deeper only
    /// below a key or entry whose value is on the lines below, and go on a scalar only as text.
    /// What could carry a value past the indentation (an open quote, a flow collection) is
    /// left to serde.
    fn skip(&mut self, value: &str, col: usize) -> R<()> {
        let mut levels = std::mem::take(&mut self.levels);
        levels.clear();
        levels.push((col, false));
        let mut next = Next::of(value, col)?;
        while self.i < self.lines.len() {
            let Ln { lead, .. } = self.lines[self.i];
            let body = self.body(self.i);
            if is_blank(body) {
                self.i += 1;
                continue;
            }
            if let Next::Text { past, plain, indent } = &mut next {
                if lead > *past {
                    // A block scalar's text keeps the indentation of its first line.
                    let text_at = *indent.get_or_insert(lead);
                    if (*plain && !plain_ok(body)) || (!*plain && lead < text_at) {
                        return Err(Unsure);
                    }
                    self.i += 1;
                    continue;
                }
                next = Next::Leaf;
            }
            if body.as_bytes()[0] == b'#' {
                self.i += 1;
                continue;
            }
            if lead < col || (lead == col && !(value.is_empty() && is_entry(body))) {
                break;
            }
            let dash = is_entry(body);
            let mut popped = false;
            while levels.last().is_some_and(|(c, _)| *c > lead) {
                levels.pop();
                popped = true;
            }
            match levels.last().copied() {
                Some((c, seq)) if c == lead => {
                    if dash && !seq {
                        // A sequence at its key's column: that key's value, right below it.
                        if popped || !matches!(next, Next::Block) {
                            return Err(Unsure);
                        }
                        levels.push((lead, true));
                    } else if !dash && seq {
                        // A key after such a sequence goes back to the mapping; a key never
                        // stands at the dashes of an indented sequence.
                        levels.pop();
                        if levels.last() != Some(&(lead, false)) {
                            return Err(Unsure);
                        }
                    }
                }
                _ => {
                    if popped || !matches!(next, Next::Block) {
                        return Err(Unsure);
                    }
                    levels.push((lead, dash));
                }
            }
            // `- - key: v`: each entry's content two (or more) columns right.
            let mut rest = body.trim_end();
            let mut at = lead;
            while let Some(r) = rest.strip_prefix('-').filter(|r| r.is_empty() || r.starts_with(' ')) {
                if at > lead {
                    levels.push((at, true));
                }
                let r2 = r.trim_start_matches(' ');
                at += rest.len() - r2.len();
                rest = r2;
            }
            // One pass finds the key and whether the text is plain (`split_key` and `plain_ok`
            // would each scan the line: this is the loop over most lines of a list).
            let (colon, bad) = skim(rest);
            let key = colon.filter(|c| {
                bad.is_none_or(|b| b > *c) && *c > 0 && !indicator(rest.as_bytes()[0]) && !rest[..*c].ends_with(' ')
            });
            next = match key {
                Some(c) => {
                    if at > lead {
                        levels.push((at, false));
                    }
                    let v = rest[c + 1..].trim_start_matches(' ');
                    Next::scanned(v, at, bad.is_none())?
                }
                None if at > lead => Next::scanned(rest, at, bad.is_none())?,
                None => return Err(Unsure),
            };
            self.i += 1;
        }
        self.levels = levels;
        Ok(())
    }

    fn meta(&mut self, value: &str, col: usize) -> R<lean::Meta> {
        let mut meta = lean::Meta::default();
        let Some(col) = self.block(value, col)? else { return Ok(meta) };
        let mut seen = Seen::default();
        while let Some((key, value)) = self.next_key(col)? {
            match key {
                "name" => {
                    seen.once(0)?;
                    meta.name = self.scalar(value, col)?;
                }
                "labels" => {
                    seen.once(1)?;
                    meta.labels = self.string_map(value, col)?;
                }
                "annotations" => {
                    seen.once(2)?;
                    meta.annotations = self.string_map(value, col)?;
                }
                _ => self.skip(value, col)?,
            }
        }
        Ok(meta)
    }

    fn status(&mut self, value: &str, col: usize) -> R<lean::Status> {
        let mut status = lean::Status::default();
        let Some(col) = self.block(value, col)? else { return Ok(status) };
        let mut seen = Seen::default();
        while let Some((key, value)) = self.next_key(col)? {
            match key {
                "addresses" => {
                    seen.once(0)?;
                    status.addresses = self.entries(value, col, |item, key, value, col, a: &mut lean::Address| {
                        match key {
                            "address" => a.address = item.scalar(value, col)?,
                            _ => item.skip(value, col)?,
                        }
                        Ok(key == "address")
                    })?;
                }
                "conditions" => {
                    seen.once(1)?;
                    status.conditions =
                        self.entries(value, col, |item, key, value, col, c: &mut lean::Condition| {
                            match key {
                                "type" => c.type_ = item.scalar(value, col)?,
                                "status" => c.status = item.scalar(value, col)?,
                                "lastTransitionTime" => c.last_transition_time = Some(item.scalar(value, col)?),
                                _ => {
                                    item.skip(value, col)?;
                                    return Ok(false);
                                }
                            }
                            Ok(true)
                        })?;
                }
                "nodeInfo" => {
                    seen.once(2)?;
                    let Some(col) = self.block(value, col)? else { continue };
                    let mut seen = Seen::default();
                    while let Some((key, value)) = self.next_key(col)? {
                        if key == "kubeletVersion" {
                            seen.once(0)?;
                            status.node_info.kubelet_version = self.scalar(value, col)?;
                        } else {
                            self.skip(value, col)?;
                        }
                    }
                }
                _ => self.skip(value, col)?,
            }
        }
        Ok(status)
    }

    /// A mapping value: `{}` is empty (`None`), else the column of its keys on the lines
    /// below. Anything else (a null, a flow mapping, a scalar) is serde's to judge.
    fn block(&mut self, value: &str, col: usize) -> R<Option<usize>> {
        match value.trim_end() {
            "{}" => Ok(None),
            "" => self.child_col(col).map(Some).ok_or(Unsure),
            _ => Err(Unsure),
        }
    }

    fn string_map(&mut self, value: &str, col: usize) -> R<BTreeMap<String, String>> {
        let mut map = BTreeMap::new();
        let Some(col) = self.block(value, col)? else { return Ok(map) };
        while let Some((key, value)) = self.next_key(col)? {
            // As serde: a repeated key keeps its last value.
            map.insert(key.to_string(), self.scalar(value, col)?);
        }
        Ok(map)
    }

    /// A block sequence of mappings under a key at `col` (at `col` itself, or indented), each
    /// entry read by `field` (which says whether it took a known field, for duplicates).
    fn entries<T: Default>(
        &mut self,
        value: &str,
        col: usize,
        field: impl Fn(&mut Self, &'a str, &'a str, usize, &mut T) -> R<bool>,
    ) -> R<Vec<T>> {
        let mut out = Vec::new();
        match value.trim_end() {
            "[]" => return Ok(out),
            "" => {}
            _ => return Err(Unsure),
        }
        let Some((_, dash, _)) = self.peek().filter(|(_, lead, body)| *lead >= col && body.starts_with("- ")) else {
            return Err(Unsure);
        };
        while let Some((at, lead, body)) = self.peek() {
            if lead < dash || (lead == dash && dash == col && !body.starts_with('-')) {
                break;
            }
            if lead != dash {
                return Err(Unsure);
            }
            self.enter_entry(at)?;
            let entry_col = self.lines[at].lead;
            let mut t = T::default();
            let mut seen: Vec<&str> = Vec::new();
            while let Some((key, value)) = self.next_key(entry_col)? {
                if field(self, key, value, entry_col, &mut t)? {
                    if seen.contains(&key) {
                        return Err(Unsure);
                    }
                    seen.push(key);
                }
            }
            out.push(t);
        }
        Ok(out)
    }

    /// A scalar value starting at `value` (the rest of a key's line), continued on the lines
    /// indented more than `col`: plain, single- or double-quoted (without escapes), folded
    /// over lines as YAML folds them.
    fn scalar(&mut self, value: &'a str, col: usize) -> R<String> {
        match value.as_bytes().first() {
            None => Err(Unsure),
            Some(b'\'') => self.quoted(&value[1..], col, b'\''),
            Some(b'"') => self.quoted(&value[1..], col, b'"'),
            Some(b) if indicator(*b) => Err(Unsure),
            Some(_) => self.plain(value, col),
        }
    }

    fn plain(&mut self, value: &str, col: usize) -> R<String> {
        let first = value.trim_end_matches(' ');
        if !plain_ok(first) {
            return Err(Unsure);
        }
        let mut out = first.to_string();
        let mut breaks = 0;
        while self.i < self.lines.len() {
            let Ln { lead, .. } = self.lines[self.i];
            let body = self.body(self.i).trim_end_matches(' ');
            if body.is_empty() {
                breaks += 1;
                self.i += 1;
                continue;
            }
            if lead <= col || body.starts_with('#') {
                break;
            }
            if !plain_ok(body) || indicator(body.as_bytes()[0]) {
                return Err(Unsure);
            }
            fold(&mut out, breaks);
            breaks = 0;
            out.push_str(body);
            self.i += 1;
        }
        Ok(out)
    }

    /// The text after an opening quote, to its closing quote on this line or one below.
    fn quoted(&mut self, mut rest: &'a str, col: usize, quote: u8) -> R<String> {
        let mut out = String::new();
        let mut breaks = 0;
        let mut first = true;
        loop {
            if !first {
                fold(&mut out, breaks);
                breaks = 0;
            }
            first = false;
            // One line of the scalar: up to the closing quote, or all of it.
            let bytes = rest.as_bytes();
            let mut k = 0;
            let mut from = 0;
            while k < bytes.len() {
                match bytes[k] {
                    b'\\' if quote == b'"' => return Err(Unsure),
                    b if b == quote => {
                        if quote == b'\'' && bytes.get(k + 1) == Some(&b'\'') {
                            out.push_str(&rest[from..=k]);
                            k += 2;
                            from = k;
                            continue;
                        }
                        out.push_str(&rest[from..k]);
                        // Only spaces may follow the closing quote.
                        return if rest[k + 1..].bytes().all(|b| b == b' ') { Ok(out) } else { Err(Unsure) };
                    }
                    b'\t' => return Err(Unsure),
                    _ => k += 1,
                }
            }
            // The line ends inside the quotes: its trailing spaces go, the next lines follow.
            out.push_str(rest[from..].trim_end_matches(' '));
            loop {
                if self.i >= self.lines.len() {
                    return Err(Unsure);
                }
                let Ln { lead, .. } = self.lines[self.i];
                let body = self.body(self.i);
                self.i += 1;
                if body.trim_end_matches(' ').is_empty() {
                    breaks += 1;
                    continue;
                }
                if lead <= col {
                    return Err(Unsure);
                }
                rest = body;
                break;
            }
        }
    }
}

/// `- ` or a lone `-`: a block sequence entry. (Byte tests: a slice comparison calls memcmp,
/// which costs more than the rest of a skipped line.)
fn is_entry(body: &str) -> bool {
    match body.as_bytes() {
        [b'-'] | [b'-', b' ', ..] => true,
        [b'-', rest @ ..] => rest.iter().all(|b| *b == b' '),
        _ => false,
    }
}

/// A line with nothing but spaces.
fn is_blank(body: &str) -> bool {
    body.bytes().all(|b| b == b' ')
}

/// Bytes that give a scalar's first character a meaning other than text (a table: this is
/// asked of every line).
const INDICATORS: [bool; 256] = {
    let mut t = [false; 256];
    let bytes = b"-?:,[]{}#&*!|>'\"%@`";
    let mut k = 0;
    while k < bytes.len() {
        t[bytes[k] as usize] = true;
        k += 1;
    }
    t
};

fn indicator(b: u8) -> bool {
    INDICATORS[usize::from(b)]
}

/// Where `:`, `#` and tabs stand in `b`, in order: the few bytes that matter on most lines of a
/// large list. Eight bytes at a time: memchr3's searcher, built anew for each short line, cost
/// more than the search.
fn marks(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // The high bit of each zero byte, exactly (no carry crosses a byte).
    let zero = |y: u64| !((((y & LOW7) + LOW7) | y) | LOW7);
    let (mut next, mut base, mut mask) = (0usize, 0usize, 0u64);
    std::iter::from_fn(move || {
        while mask == 0 {
            let word = b.get(next..next + 8)?;
            let w = u64::from_le_bytes(word.try_into().ok()?);
            mask = zero(w ^ (ONES * u64::from(b':'))) | zero(w ^ (ONES * u64::from(b'#'))) | zero(w ^ (ONES * 9));
            base = next;
            next += 8;
        }
        let k = base + (mask.trailing_zeros() / 8) as usize;
        mask &= mask - 1;
        Some(k)
    })
    .chain(
        // The last bytes, fewer than eight.
        b.iter().enumerate().skip(b.len() / 8 * 8).filter(|(_, c)| matches!(c, b':' | b'#' | b'\t')).map(|(k, _)| k),
    )
}

/// A plain scalar's line that is only text: no comment, no `key: `, no tab.
fn plain_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !marks(b).any(|k| match b[k] {
        b'#' => k > 0 && b[k - 1] == b' ',
        b':' => b.get(k + 1).is_none_or(|n| *n == b' '),
        _ => true,
    })
}

/// A line passed over, in one pass: where its key ends (the first `:` before a space or the
/// end), and the first byte that keeps it from being plain text after that (a ` #`, a tab, a
/// second `key: `).
fn skim(rest: &str) -> (Option<usize>, Option<usize>) {
    let b = rest.as_bytes();
    let mut colon = None;
    for k in marks(b) {
        let bad = match b[k] {
            b'#' => k > 0 && b[k - 1] == b' ',
            b':' if b.get(k + 1).is_none_or(|n| *n == b' ') => {
                let second = colon.is_some();
                colon.get_or_insert(k);
                second
            }
            b':' => false,
            _ => true,
        };
        if bad {
            return (colon, Some(k));
        }
    }
    (colon, None)
}

/// Joins the next line of a folded scalar: a space, or a newline per blank line between.
fn fold(out: &mut String, breaks: usize) {
    if breaks == 0 {
        out.push(' ');
    } else {
        out.extend(std::iter::repeat_n('\n', breaks));
    }
}

/// What may follow a line passed over, by the value its line ends in.
#[derive(Clone, Copy)]
enum Next {
    /// Nothing deeper: the value is on the line.
    Leaf,
    /// A block below (the value is empty): a deeper line opens it.
    Block,
    /// Lines indented past `past` are the value's text (a block scalar, indented as its first
    /// line, or a plain scalar folded over lines, which may not hold `: ` or ` #`).
    Text { past: usize, plain: bool, indent: Option<usize> },
}

impl Next {
    fn of(value: &str, col: usize) -> R<Next> {
        Next::scanned(value, col, plain_ok(value))
    }

    /// `of`, told whether the value (as plain text) is plain: `plain_ok`, found by the caller.
    fn scanned(value: &str, col: usize, plain: bool) -> R<Next> {
        let v = value.trim_end();
        match v.as_bytes().first() {
            None => Ok(Next::Block),
            // `|` or `>` with a chomping sign; an explicit indentation digit is serde's to read.
            Some(b'|' | b'>') if v.len() == 1 || matches!(&v[1..], "-" | "+") => {
                Ok(Next::Text { past: col, plain: false, indent: None })
            }
            Some(b'|' | b'>') => Err(Unsure),
            Some(b'[' | b'{') if v == "[]" || v == "{}" => Ok(Next::Leaf),
            // `-1`, `:x`: text; `- x` (a sequence where a value should be), `&a`, `!t`: not.
            Some(b'-' | b'?' | b':') if v.as_bytes().get(1).is_some_and(|b| *b != b' ') && plain => {
                Ok(Next::Text { past: col, plain: true, indent: None })
            }
            Some(q @ (b'\'' | b'"')) => match quoted_end(v.as_bytes(), *q) {
                Some(end) if end == v.len() => Ok(Next::Leaf),
                _ => Err(Unsure),
            },
            Some(b) if indicator(*b) => Err(Unsure),
            Some(_) if plain => Ok(Next::Text { past: col, plain: true, indent: None }),
            Some(_) => Err(Unsure),
        }
    }
}

/// Where a quoted scalar that starts `v` ends (past its closing quote) on this line: `''` is a
/// quote in single quotes, `\` escapes the next byte in double quotes.
fn quoted_end(v: &[u8], quote: u8) -> Option<usize> {
    let mut k = 1;
    while k < v.len() {
        match v[k] {
            b'\\' if quote == b'"' => k += 2,
            b'\t' => return None,
            b if b == quote => {
                if quote == b'\'' && v.get(k + 1) == Some(&b'\'') {
                    k += 2;
                    continue;
                }
                return Some(k + 1);
            }
            _ => k += 1,
        }
    }
    None
}

/// `key: value` or `key:` with a plain key: the key and the rest after `: ` (may be empty).
fn split_key(body: &str) -> Option<(&str, &str)> {
    let first = *body.as_bytes().first()?;
    if indicator(first) {
        return None;
    }
    let bytes = body.as_bytes();
    let mut from = 0;
    let at = loop {
        let c = from + memchr::memchr(b':', &bytes[from..])?;
        match bytes.get(c + 1) {
            None | Some(b' ') => break c,
            _ => from = c + 1,
        }
    };
    let key = &body[..at];
    if key.ends_with(' ') || !plain_ok(key) {
        return None;
    }
    let value = body[at + 1..].trim_start_matches(' ');
    Some((key, value))
}

/// Known fields seen in one mapping: serde refuses a repeated one.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    fn once(&mut self, bit: u8) -> R<()> {
        if self.0 & (1 << bit) != 0 {
            return Err(Unsure);
        }
        self.0 |= 1 << bit;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(text: &str) -> Option<lean::Doc> {
        let mut lines = Lines::new(text.as_bytes(), limits::KUBE_LIST.max_field, u64::MAX);
        read(&mut lines).ok().flatten()
    }

    /// How many items serde read on their own, when the document was read here.
    fn by_serde(text: &str) -> Option<usize> {
        let mut lines = Lines::new(text.as_bytes(), limits::KUBE_LIST.max_field, u64::MAX);
        read_counting(&mut lines, std::convert::identity).ok().flatten().map(|(_, _, n)| n)
    }

    fn serde(text: &str) -> Option<lean::Doc> {
        serde_yaml_ng::from_str::<lean::Doc>(text).ok()
    }

    /// When the reader answers, serde gives the same; `must` says it has to answer.
    fn same_as_serde(text: &str, must: bool) {
        match fast(text) {
            Some(doc) => assert_eq!(Some(doc), serde(text), "differs from serde on:\n{text}"),
            None => assert!(!must, "not read line by line:\n{text}"),
        }
    }

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bundles").join(name).join("nodes.yaml");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn marks_are_where_colons_hashes_and_tabs_stand() {
        let naive = |b: &[u8]| -> Vec<usize> {
            b.iter().enumerate().filter(|(_, c)| matches!(c, b':' | b'#' | b'\t')).map(|(k, _)| k).collect()
        };
        // Every length up to three words, the marks at every place, and bytes one off each
        // mark (`9`, `;`, `"`, tab's neighbours) and with the high bit set.
        let alphabet = [b':', b'#', b'\t', b'a', b';', b'"', 8, 10, 0x3a | 0x80, 0xa3, b' ', 0];
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..=24 {
            for _ in 0..200 {
                let b: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                assert_eq!(marks(&b).collect::<Vec<_>>(), naive(&b), "{b:?}");
            }
        }
        assert_eq!(marks(b"image: registry.example.com/x:1.2 # note").collect::<Vec<_>>(), [5, 29, 34]);
    }

    #[test]
    fn the_fixture_captures_read_as_serde_reads_them() {
        for b in ["k3s-etcd-only-via-etcd", "kubeadm-node-deleted", "kubeadm-etcd-crashloop"] {
            let text = fixture(b);
            let doc = fast(&text).unwrap_or_else(|| panic!("{b}: not read line by line"));
            assert!(!doc.items.is_empty(), "{b}");
            assert_eq!(Some(doc), serde(&text), "{b}");
            assert_eq!(by_serde(&text), Some(0), "{b}");
        }
    }

    #[test]
    fn the_json_fixture_printed_as_yaml_in_both_sequence_styles() {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bundles/kubeadm-etcd-crashloop-json/nodes.json");
        let json = std::fs::read_to_string(&p).expect("nodes.json");
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        let yaml = serde_yaml_ng::to_string(&value).expect("yaml");
        same_as_serde(&yaml, true);
        assert_eq!(fast(&yaml).map(|d| d.items.len()), Some(5));
        // kubectl puts a sequence at its key's column; other emitters indent it two more.
        let indented: String = yaml
            .lines()
            .map(|l| {
                let lead = l.len() - l.trim_start().len();
                if l[lead..].starts_with("- ") { format!("{}  {}\n", &l[..lead], &l[lead..]) } else { format!("{l}\n") }
            })
            .collect();
        // Re-indenting only the dash lines breaks the nesting of what follows them; the
        // reader must then either agree with serde or leave it to serde.
        same_as_serde(&indented, false);
    }

    const NODE: &str = "apiVersion: v1
items:
- apiVersion: v1
  kind: Node
  metadata:
    annotations:
      k3s.io/node-args: '[\"server\",\"--cluster-init\"]'
      flannel.alpha.coreos.com/kube-subnet-manager: \"true\"
      multi: 'a long value
        folded over lines'
      plain: words
        go on

        after a blank line
    creationTimestamp: \"2026-01-01T00:00:07Z\"
    labels:
      node-role.kubernetes.io/etcd: \"true\"
      node-role.kubernetes.io/control-plane: ''
      empty: \"\"
      quote: 'it''s'
      trailing: spaced   
    name: server-0
    managedFields:
    - apiVersion: v1
      fieldsV1:
        f:metadata:
          f:annotations:
            .: {}
  spec:
    taints:
    - effect: NoSchedule
      key: node-role.kubernetes.io/control-plane
  status:
    addresses:
    - address: 10.42.0.1
      type: InternalIP
    - type: Hostname
      address: server-0
    conditions:
    - lastHeartbeatTime: \"2026-11-24T09:30:00Z\"
      lastTransitionTime: \"2026-11-20T08:01:55Z\"
      message: |
        kubelet is posting ready status
        '[unclosed, in a block scalar
      reason: 'Kubelet: ready, quoted'
      status: \"True\"
      type: Ready
    images:
    - names:
      - registry.k8s.io/etcd:3.5.16-0
      sizeBytes: 57680541
    nodeInfo:
      architecture: amd64
      kubeletVersion: v1.33.1
# a comment between items
- metadata:
    name: server-1
  status: {}
kind: List
metadata:
  resourceVersion: \"\"
";

    #[test]
    fn a_kubectl_list_reads_as_serde_reads_it() {
        let doc = fast(NODE).expect("read line by line");
        assert_eq!(Some(&doc), serde(NODE).as_ref());
        assert_eq!(by_serde(NODE), Some(0), "every item read here");
        let n = &doc.items[0];
        assert_eq!(n.metadata.name, "server-0");
        assert_eq!(n.metadata.annotations["multi"], "a long value folded over lines");
        assert_eq!(n.metadata.annotations["plain"], "words go on\nafter a blank line");
        assert_eq!(n.metadata.labels["quote"], "it's");
        assert_eq!(n.status.addresses.len(), 2);
        assert_eq!(n.status.conditions[0].last_transition_time.as_deref(), Some("2026-11-20T08:01:55Z"));
        assert_eq!(n.status.node_info.kubelet_version, "v1.33.1");
        assert_eq!(doc.items[1].metadata.name, "server-1");
    }

    #[test]
    fn every_prefix_of_a_list_is_read_as_serde_reads_it_or_left_to_serde() {
        // Cut at every line and inside lines: a truncated capture must never read as more
        // (or less) than serde reads from it.
        let mut cuts: Vec<usize> = NODE.match_indices('\n').map(|(i, _)| i + 1).collect();
        cuts.extend((0..NODE.len()).step_by(7).filter(|i| NODE.is_char_boundary(*i)));
        for cut in cuts {
            same_as_serde(&NODE[..cut], false);
        }
    }

    #[test]
    fn mutated_lists_read_as_serde_reads_them_or_are_left_to_serde() {
        // Thousands of small edits of a real-looking list (a character inserted, a range cut,
        // a line re-indented or doubled), each held to serde's answer; a fixed seed, so a
        // failure repeats.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let inserts =
            [" ", "\n", "- ", ":", ": ", "'", "\"", "#", " #", "|", ">", "[", "{}", "&a ", "*a", "\t", "x", "\n\n"];
        let lines: Vec<&str> = NODE.lines().collect();
        let mut fast_read = 0;
        for _ in 0..4000 {
            let text = match next(4) {
                0 => {
                    let mut at = next(NODE.len());
                    while !NODE.is_char_boundary(at) {
                        at -= 1;
                    }
                    format!("{}{}{}", &NODE[..at], inserts[next(inserts.len())], &NODE[at..])
                }
                1 => {
                    let (a, len) = (next(NODE.len()), 1 + next(12));
                    let b = (a + len).min(NODE.len());
                    if !NODE.is_char_boundary(a) || !NODE.is_char_boundary(b) {
                        continue;
                    }
                    format!("{}{}", &NODE[..a], &NODE[b..])
                }
                2 => {
                    let k = next(lines.len());
                    let shift = [0, 1, 2, 4][next(4)];
                    let mut l = lines.clone();
                    let moved = if next(2) == 0 {
                        format!("{}{}", " ".repeat(shift), l[k])
                    } else {
                        l[k].get(shift.min(l[k].len() - l[k].trim_start().len())..).unwrap_or_default().to_string()
                    };
                    l[k] = &moved;
                    l.join("\n") + "\n"
                }
                _ => {
                    let k = next(lines.len());
                    let mut l = lines.clone();
                    l.insert(k, lines[k]);
                    l.join("\n") + "\n"
                }
            };
            if fast(&text).is_some() {
                fast_read += 1;
            }
            same_as_serde(&text, false);
        }
        // Most edits leave a list this reader still reads (and then agrees with serde on).
        assert!(fast_read > 1000, "only {fast_read} of 4000 read line by line");
    }

    #[test]
    fn odd_items_go_to_serde_and_odd_documents_to_the_caller() {
        let variants = [
            // An escape, a block scalar, an anchor and alias, a tag, a flow mapping: per item.
            ("name: server-0", "name: \"server-\\u0030\""),
            ("name: server-0", "name: |\n      server-0"),
            ("name: server-0", "name: &n server-0"),
            ("name: server-0", "name: !!str server-0"),
            ("    labels:\n", "    labels: {a: b}\n    x:\n"),
            ("kubeletVersion: v1.33.1", "kubeletVersion: v1.33.1 # a comment"),
            ("type: Ready", "type: Ready\n      type: Ready"),
            ("  status:\n    addresses:", "  status:\n    addresses: []\n  status:\n    addresses:"),
            ("name: server-1", "name: server-1\n    name: again"),
            ("      plain: words", "      \"quoted key\": x\n      plain: words"),
            // Tabs, a second document, one Node: the whole document.
            ("  kind: Node", "\tkind: Node"),
            ("kind: List", "kind: List\n---\nkind: List"),
            ("apiVersion: v1\nitems:", "apiVersion: v1\nkind: Node\nitems:"),
            ("    images:", "    images: [[[\"x\"]]]\n    other:"),
            ("      sizeBytes: 57680541", "      sizeBytes: 'open\n      quote'"),
        ];
        for (from, to) in variants {
            assert!(NODE.contains(from), "{from}");
            let text = NODE.replacen(from, to, 1);
            same_as_serde(&text, false);
        }
        // A document that is one node, and an empty list, are the caller's.
        assert!(fast("apiVersion: v1\nkind: Node\nmetadata:\n  name: a\n").is_none());
        assert!(fast("apiVersion: v1\nitems: []\nkind: List\n").is_none());
    }

    #[test]
    fn an_item_serde_reads_on_its_own_keeps_the_others_line_by_line() {
        let text = NODE.replacen("name: server-0", "name: |-\n      server-0", 1);
        let doc = fast(&text).expect("read, the first item by serde");
        assert_eq!(by_serde(&text), Some(1));
        assert_eq!(doc.items[0].metadata.name, "server-0");
        assert_eq!(Some(doc), serde(&text));
    }

    #[test]
    fn generated_scalars_read_as_serde_reads_them() {
        // Values serde_yaml itself prints (quoted where YAML needs it), and kubectl's styles.
        let values = [
            "true",
            "123",
            "1.5",
            "null",
            "~",
            "0x10",
            "yes",
            "10.42.0.1",
            "-1",
            "a b",
            "it's",
            "say \"hi\"",
            "a: b",
            "a #b",
            "#c",
            "x\ty",
            "ünïcödé",
            "back\\slash",
            "",
            " lead",
            "trail ",
            "[x]",
            "{y}",
            "*z",
            "&a",
            "!t",
            "|p",
            ">f",
            "%d",
            "@a",
            "`b",
            "multi\nline",
            "a  b",
        ];
        for v in values {
            let value = serde_json::json!({
                "apiVersion": "v1",
                "items": [{"metadata": {"name": v, "labels": {"k": v, "k2": "x"}, "annotations": {"a": v}},
                           "status": {"addresses": [{"address": v, "type": "InternalIP"}],
                                      "conditions": [{"type": "Ready", "status": v, "lastTransitionTime": v}],
                                      "nodeInfo": {"kubeletVersion": v}}}],
                "kind": "List",
            });
            let yaml = serde_yaml_ng::to_string(&value).expect("yaml");
            same_as_serde(&yaml, false);
            for quoted in [format!("'{}'", v.replace('\'', "''")), format!("\"{v}\""), v.to_string()] {
                let kubectl = NODE.replacen("server-0", &quoted, 1).replacen("v1.33.1", &quoted, 1);
                same_as_serde(&kubectl, false);
            }
        }
    }
}
