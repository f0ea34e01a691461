//! `kubectl get nodes -o json` read line by line: a 5,000-node list is about 75 MB and 1.8 M
//! lines, mostly image lists, capacity and managed fields the checks never read.
//!
//! Only the pretty-printed layout of kubectl (Go's `MarshalIndent`, 4 spaces) and jq (2
//! spaces) is read: one value per line (`"key": value`, `"key": {`, `}`, `],`, an array's
//! scalars), each line indented one step per level. JSON strings never hold a raw newline, so
//! the lines are the structure. Every line is checked as serde_json checks it (strings and
//! their escapes, numbers, literals, commas, brackets, nesting), also in the parts skipped, so
//! a document this accepts is one serde accepts, with the same `lean::Doc`. Anything else
//! (minified JSON, two values on a line, a value of another type where `lean` reads one, a
//! duplicate field) is `Ok(None)`: the caller then parses the whole document with serde,
//! which decides and names the error.

use std::io::Read;

use super::kube::lean;
use super::limits::KUBE_LIST;
use super::lines::{Lines, Stop};

/// The document as `lean::Doc` without its items, and the items, each made a `T` by `finish`
/// on the thread that read it (while its strings are still in that core's cache); `Ok(None)`
/// when its layout is not the one this reads (the caller then parses the whole document with
/// serde).
pub fn read_items<R: Read, T: Send>(
    lines: &mut Lines<R>,
    finish: fn(lean::Node) -> T,
) -> Result<Option<(lean::Doc, Vec<T>)>, Stop> {
    read_in(lines, PIECE, finish)
}

/// `read_items` with the items in the document, as serde gives it.
#[cfg(test)]
pub fn read<R: Read>(lines: &mut Lines<R>) -> Result<Option<lean::Doc>, Stop> {
    Ok(read_items(lines, std::convert::identity)?.map(|(mut doc, items)| {
        doc.items = items;
        doc
    }))
}

/// The size of the pieces of a large list parsed in parallel: a few dozen items.
const PIECE: usize = 1 << 20;

/// `read_items`, the items cut into pieces of about `piece` bytes.
///
/// A large file is read (the kernel's copy, the UTF-8 check) on this thread and cut after
/// item ends (a line of `},` two levels in); two threads parse the pieces, each from where a
/// piece begins (inside `items`, after an item) up to where it ends, which must be such a
/// place again (or the document's end for the last one). Put together in order, that is what
/// one pass gives; a field of the List seen in two pieces is a duplicate.
fn read_in<R: Read, T: Send>(
    lines: &mut Lines<R>,
    piece: usize,
    finish: fn(lean::Node) -> T,
) -> Result<Option<(lean::Doc, Vec<T>)>, Stop> {
    use std::sync::mpsc::{channel, sync_channel};
    let max_line = lines.max_line();
    let Some(first) = lines.next_text(None)? else { return Ok(None) };
    let Some(second) = lines.next_text(None)? else {
        // One chunk (most files): no thread.
        let mut r = Reader::default();
        return Ok(r
            .block(&first, max_line)
            .and_then(|()| r.piece())
            .and_then(|p| join(vec![p.finish(Vec::new(), finish)])));
    };
    // The indentation of the line after `{`: where an item ends.
    let unit = first.split('\n').nth(1).map_or(0, |l| l.len() - l.trim_start_matches(' ').len());
    let item_end = format!("\n{}}},\n", " ".repeat(2 * unit));
    let cut_at = (1..=8).contains(&unit).then(|| memchr::memmem::FinderRev::new(item_end.as_bytes()));
    let (spares, done_with) = channel::<String>();
    let (results, pieces_read) = channel::<(usize, Option<Piece<T>>)>();
    // Whole pieces, each taken by whichever worker is free: handing every other piece to
    // each kept one waiting while the reader waited on the other.
    let (to_workers, queue) = sync_channel::<(usize, Vec<String>)>(2);
    // Shared by the workers alone: when both are gone, so is the queue, and sending fails.
    let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (spares, results, queue) = (spares.clone(), results.clone(), queue.clone());
                scope.spawn(move || {
                    // The lock is held while waiting: the next piece goes to this worker. (A
                    // worker that panicked poisons it; its piece is missing, so the result is
                    // left to serde.)
                    let next = || queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv().ok();
                    while let Some((k, texts)) = next() {
                        let mut reader = if k == 0 { Reader::default() } else { Reader::in_items(unit) };
                        let (mut ok, mut made) = (true, Vec::new());
                        for text in texts {
                            ok = ok && reader.block(&text, max_line).is_some();
                            reader.made(&mut made, finish);
                            let _ = spares.send(text);
                        }
                        let piece = Some(reader).filter(|_| ok).and_then(Reader::piece).map(|p| p.finish(made, finish));
                        if results.send((k, piece)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        drop((spares, results, queue));
        let (mut k, mut texts, mut size, mut spare) = (0usize, Vec::new(), 0usize, None);
        let mut early = [first, second].into_iter();
        let read = loop {
            let mut text = match early.next() {
                Some(text) => text,
                None => match lines.next_text(spare.take()) {
                    Ok(Some(text)) => text,
                    Ok(None) => break Ok(to_workers.send((k, texts)).is_ok()),
                    Err(e) => break Err(e),
                },
            };
            // A text the workers are done with, to read the next chunk into.
            spare = done_with.try_recv().ok();
            size += text.len();
            let cut = cut_at.as_ref().filter(|_| size >= piece).and_then(|f| f.rfind(text.as_bytes()));
            let Some(at) = cut else {
                texts.push(text);
                continue;
            };
            let rest = text.split_off(at + item_end.len());
            size = rest.len();
            texts.push(text);
            if to_workers.send((k, std::mem::replace(&mut texts, vec![rest]))).is_err() {
                break Ok(false);
            }
            k += 1;
        };
        drop(to_workers);
        let mut got: Vec<(usize, Option<Piece<T>>)> = pieces_read.iter().collect();
        got.sort_by_key(|(k, _)| *k);
        // A worker that panicked (it must not) leaves the document to serde.
        let panicked = workers.into_iter().map(|w| w.join()).filter(Result::is_err).count() > 0;
        read.map(|complete| {
            let all =
                complete && !panicked && got.len() == k + 1 && got.iter().enumerate().all(|(i, (at, _))| i == *at);
            let pieces: Option<Vec<Piece<T>>> = got.into_iter().map(|(_, p)| p).collect();
            pieces.filter(|_| all).and_then(join)
        })
    })
}

/// What a thread read of a piece: its items and the List's fields it held.
pub(super) struct Piece<T = lean::Node> {
    /// The List's fields; its items are in `items`.
    doc: lean::Doc,
    items: Vec<T>,
    /// The List's fields seen (`Frame::seen` of the document).
    seen: u8,
    /// The document ended in it (else it ended after an item).
    done: bool,
}

impl Piece {
    /// Its items made `T`s, after `made` (the ones `Reader::made` made before, in order).
    pub(super) fn finish<T>(mut self, mut made: Vec<T>, finish: fn(lean::Node) -> T) -> Piece<T> {
        made.extend(std::mem::take(&mut self.doc.items).into_iter().map(finish));
        Piece { doc: self.doc, items: made, seen: self.seen, done: self.done }
    }
}

/// The pieces in order as one document (without its items) and the items: each piece ends
/// after an item but the last, which ends the document; no field of the List in two.
pub(super) fn join<T>(pieces: Vec<Piece<T>>) -> Option<(lean::Doc, Vec<T>)> {
    let last = pieces.len().checked_sub(1)?;
    let mut doc = lean::Doc::default();
    let mut items = Vec::with_capacity(pieces.iter().map(|p| p.items.len()).sum());
    let mut seen = 0u8;
    for (i, p) in pieces.into_iter().enumerate() {
        if p.done != (i == last) || seen & p.seen != 0 {
            return None;
        }
        seen |= p.seen;
        items.extend(p.items);
        if p.seen & 1 != 0 {
            doc.kind = p.doc.kind;
        }
        if p.seen & 4 != 0 {
            doc.metadata = p.doc.metadata;
        }
        if p.seen & 8 != 0 {
            doc.status = p.doc.status;
        }
    }
    Some((doc, items))
}

/// What `lean` reads in an object or array, by where it is.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Ctx {
    Root,
    Items,
    Node,
    Meta,
    Labels,
    Annotations,
    Status,
    Addresses,
    Address,
    Conditions,
    Condition,
    Info,
}

#[derive(Clone, Copy)]
struct Frame {
    obj: bool,
    ctx: Ctx,
    /// The fields of a struct seen so far (serde's derive rejects a field twice).
    seen: u8,
}

/// What the line before left to come.
#[derive(Clone, Copy, PartialEq)]
enum After {
    /// A container opened: a value or its end.
    Open,
    /// A value with its comma: another value.
    Comma,
    /// A value without comma: the end of its container.
    Value,
}

/// Where a string goes.
#[derive(Clone, Copy)]
enum Slot {
    Kind,
    Name,
    Address,
    Type,
    Status,
    /// `Option<String>`: also `null`.
    Since,
    Kubelet,
}

/// What a value must be where it stands.
enum Want {
    /// Not read: any valid value.
    Any,
    Str(Slot),
    /// An annotation (`true`) or label, by its key.
    Entry(bool, String),
    /// An object read as `ctx`.
    Obj(Ctx),
    /// An array read as `ctx`.
    Arr(Ctx),
}

/// One value of a line, without its comma.
#[derive(Clone, Copy, PartialEq)]
enum Value {
    /// A string, and whether it has escapes.
    Str(bool),
    /// `{` or `[` opening a container on the lines after.
    Open(bool),
    /// `{}` or `[]`.
    Empty(bool),
    Null,
    /// A number, `true` or `false`.
    Scalar,
}

#[derive(Default)]
pub(super) struct Reader {
    stack: Vec<Frame>,
    after: Option<After>,
    /// Spaces per level (kubectl 4, jq 2), from the first line inside the document.
    unit: usize,
    doc: lean::Doc,
    /// The item being read, while `in_item`.
    node: lean::Node,
    in_item: bool,
    /// The document's closing brace was read.
    done: bool,
    /// The document's fields seen, once its frame is closed.
    root_seen: u8,
    /// Levels open in a part never read (after those on `stack`), and which of them are
    /// objects (bit 0 the outermost; at most 64 levels in all).
    skip: usize,
    skip_objects: u64,
}

impl Reader {
    /// Where a piece after the first begins: inside `items`, after an item and its comma.
    pub(super) fn in_items(unit: usize) -> Reader {
        Reader {
            stack: vec![Frame { obj: true, ctx: Ctx::Root, seen: 0 }, Frame { obj: false, ctx: Ctx::Items, seen: 0 }],
            after: Some(After::Comma),
            unit,
            ..Reader::default()
        }
    }

    /// The items read since asked last, each made a `T` by `finish` and put in `out`: asked
    /// after each block, while the items' strings are still in this core's cache.
    pub(super) fn made<T>(&mut self, out: &mut Vec<T>, finish: fn(lean::Node) -> T) {
        out.extend(self.doc.items.drain(..).map(finish));
    }

    /// What was read, if it ended the document or where the next piece begins.
    pub(super) fn piece(self) -> Option<Piece> {
        let seen = self.stack.first().map_or(0, |f| f.seen);
        let between_items = self.stack.len() == 2
            && self.stack[1].ctx == Ctx::Items
            && self.after == Some(After::Comma)
            && self.skip == 0
            && !self.in_item;
        if self.done {
            // The document's frame is gone: its fields seen were kept.
            return Some(Piece { doc: self.doc, items: Vec::new(), seen: self.root_seen, done: true });
        }
        between_items.then_some(Piece { doc: self.doc, items: Vec::new(), seen, done: false })
    }

    /// Reads whole lines; `None` when the document is not one this reads (or not valid).
    pub(super) fn block(&mut self, text: &str, max_line: usize) -> Option<()> {
        // Each line is read to its end by its grammar (no search for `\n` first).
        let b = text.as_bytes();
        let mut at = 0;
        while at < b.len() {
            if self.skip > 0 {
                // Many lines at once, each checked against `max_line` there.
                at = self.skip_lines(b, at, max_line)?;
                continue;
            }
            let end = self.line(text, at)?;
            if too_long(b.get(at..end)?, max_line) {
                return None;
            }
            at = end;
        }
        Some(())
    }

    /// Reads the line at `s` of `text` (whole lines); where the next line begins, or `None`
    /// when the document is not one this reads (or not valid).
    fn line(&mut self, text: &str, s: usize) -> Option<usize> {
        let b = text.as_bytes();
        if self.done {
            // Only white space after the document, as serde_json allows.
            let end = memchr::memchr(b'\n', &b[s..]).map_or(b.len(), |n| s + n + 1);
            return b[s..end].iter().all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n')).then_some(end);
        }
        let Some(after) = self.after else {
            // The first line opens the document.
            if b.get(s) != Some(&b'{') {
                return None;
            }
            self.stack.push(Frame { obj: true, ctx: Ctx::Root, seen: 0 });
            self.after = Some(After::Open);
            return eol(b, s + 1);
        };
        let depth = self.stack.len();
        let top = *self.stack.last()?;
        if self.unit == 0 {
            // The first line inside the document says the indentation.
            self.unit = b[s..].iter().take_while(|c| **c == b' ').count();
            if self.unit == 0 && b.get(s) == Some(&b'}') {
                // `{` and `}`: an empty document.
                self.unit = 1;
            } else if self.unit == 0 || self.unit > 8 {
                return None;
            }
        }
        let close_at = s + (depth - 1) * self.unit;
        let first = *b.get(close_at)?;
        if first == b'}' || first == b']' {
            if !spaces(b.get(s..close_at)?) {
                return None;
            }
            return self.close(top, first, b, close_at + 1, after);
        }
        let at = close_at + self.unit;
        if !spaces(b.get(s..at)?) || after == After::Value {
            return None;
        }
        self.element(top, text, at)
    }

    /// The lines from `s` in a part never read (most lines), while it is open: only checked.
    /// Where it stopped (the end of the part, or of `b`).
    fn skip_lines(&mut self, b: &[u8], mut s: usize, max_line: usize) -> Option<usize> {
        // Kept in locals for the loop, written back at the end.
        let (mut skip, mut objects, mut after) = (self.skip, self.skip_objects, self.after?);
        let (base, unit) = (self.stack.len(), self.unit);
        while skip > 0 && s < b.len() {
            let start = s;
            let depth = base + skip;
            let close_at = s + (depth - 1) * unit;
            let obj = objects >> (skip - 1) & 1 == 1;
            let first = *b.get(close_at)?;
            if first == b'}' || first == b']' {
                if !spaces(b.get(s..close_at)?) {
                    return None;
                }
                let comma = b.get(close_at + 1) == Some(&b',');
                s = eol(b, close_at + 1 + usize::from(comma))?;
                if (first == b'}') != obj || after == After::Comma {
                    return None;
                }
                skip -= 1;
                objects &= !(1 << skip);
                after = if comma { After::Comma } else { After::Value };
            } else {
                let at = close_at + unit;
                if !spaces(b.get(s..at)?) || after == After::Value {
                    return None;
                }
                let v = if obj {
                    if b.get(at) != Some(&b'"') {
                        return None;
                    }
                    let (q, _) = string_end(b, at + 1)?;
                    if b.get(q + 1..q + 3) != Some(b": ") {
                        return None;
                    }
                    q + 3
                } else {
                    at
                };
                let (value, v_end) = value(b, v)?;
                let comma = b.get(v_end) == Some(&b',');
                s = eol(b, v_end + usize::from(comma))?;
                after = match value {
                    Value::Open(_) if comma || depth + 1 > KUBE_LIST.max_depth => return None,
                    Value::Empty(_) if depth + 1 > KUBE_LIST.max_depth => return None,
                    Value::Open(obj) => {
                        objects |= u64::from(obj) << skip;
                        skip += 1;
                        After::Open
                    }
                    _ if comma => After::Comma,
                    _ => After::Value,
                };
            }
            if s - start > max_line && too_long(&b[start..s], max_line) {
                return None;
            }
        }
        (self.skip, self.skip_objects, self.after) = (skip, objects, Some(after));
        Some(s)
    }

    /// `}` or `]` and maybe a comma, then the line's end.
    fn close(&mut self, top: Frame, bracket: u8, b: &[u8], at: usize, after: After) -> Option<usize> {
        let comma = b.get(at) == Some(&b',');
        let end = eol(b, at + usize::from(comma))?;
        if (bracket == b'}') != top.obj || after == After::Comma {
            return None;
        }
        self.stack.pop();
        if top.ctx == Ctx::Root {
            self.root_seen = top.seen;
        }
        if top.ctx == Ctx::Node {
            self.doc.items.push(std::mem::take(&mut self.node));
            self.in_item = false;
        }
        if self.stack.is_empty() {
            self.done = !comma;
            return self.done.then_some(end);
        }
        self.after = Some(if comma { After::Comma } else { After::Value });
        Some(end)
    }

    /// One value of an array, or one member of an object, on its own line from `at`.
    fn element(&mut self, top: Frame, text: &str, at: usize) -> Option<usize> {
        let b = text.as_bytes();
        let (want, v) = if top.obj {
            if b.get(at) != Some(&b'"') {
                return None;
            }
            let (q, esc) = string_end(b, at + 1)?;
            if b.get(q + 1..q + 3) != Some(b": ") {
                return None;
            }
            (self.field(top.ctx, &text[at..=q], esc)?, q + 3)
        } else {
            (self.elem(top.ctx), at)
        };
        let (value, v_end) = value(b, v)?;
        let comma = b.get(v_end) == Some(&b',');
        let end = eol(b, v_end + usize::from(comma))?;
        let depth = self.stack.len();
        match value {
            Value::Open(_) | Value::Empty(_) if depth + 1 > KUBE_LIST.max_depth => return None,
            Value::Open(_) if comma => return None,
            _ => {}
        }
        match (want, value) {
            (Want::Any, Value::Open(obj)) => {
                self.skip = 1;
                self.skip_objects = u64::from(obj);
            }
            (Want::Any, _) => {}
            (Want::Str(slot), Value::Str(esc)) => {
                let s = string(&text[v..v_end], esc)?;
                self.put(slot, Some(s))?;
            }
            (Want::Str(Slot::Since), Value::Null) => self.put(Slot::Since, None)?,
            (Want::Entry(annotation, key), Value::Str(esc)) => {
                let s = string(&text[v..v_end], esc)?;
                let meta = if self.in_item { &mut self.node.metadata } else { &mut self.doc.metadata };
                let map = if annotation { &mut meta.annotations } else { &mut meta.labels };
                if map.insert(key, s).is_some() {
                    // A key twice: serde keeps the last; left to it.
                    return None;
                }
            }
            (Want::Obj(ctx), Value::Open(true)) => {
                self.open(ctx);
                self.stack.push(Frame { obj: true, ctx, seen: 0 });
            }
            (Want::Obj(Ctx::Node), Value::Empty(true)) => self.doc.items.push(lean::Node::default()),
            (Want::Obj(ctx), Value::Empty(true)) => self.open(ctx),
            (Want::Arr(ctx), Value::Open(false)) => self.stack.push(Frame { obj: false, ctx, seen: 0 }),
            (Want::Arr(_), Value::Empty(false)) => {}
            // Another type than `lean` reads there: serde decides (it rejects most, and reads
            // a struct from an array).
            _ => return None,
        }
        self.after = Some(match value {
            Value::Open(_) => After::Open,
            _ if comma => After::Comma,
            _ => After::Value,
        });
        Some(end)
    }

    /// What the field named by `key` (a JSON string with its quotes) of a `ctx` object is;
    /// `None` for a field seen before.
    fn field(&mut self, ctx: Ctx, key: &str, esc: bool) -> Option<Want> {
        let decoded;
        let name = if esc {
            decoded = string(key, true)?;
            decoded.as_str()
        } else {
            &key[1..key.len() - 1]
        };
        let (bit, want) = match (ctx, name) {
            (Ctx::Labels | Ctx::Annotations, _) => {
                return Some(Want::Entry(ctx == Ctx::Annotations, name.to_string()));
            }
            (Ctx::Root, "kind") => (0, Want::Str(Slot::Kind)),
            (Ctx::Root, "items") => (1, Want::Arr(Ctx::Items)),
            (Ctx::Root | Ctx::Node, "metadata") => (2, Want::Obj(Ctx::Meta)),
            (Ctx::Root | Ctx::Node, "status") => (3, Want::Obj(Ctx::Status)),
            (Ctx::Meta, "name") => (0, Want::Str(Slot::Name)),
            (Ctx::Meta, "labels") => (1, Want::Obj(Ctx::Labels)),
            (Ctx::Meta, "annotations") => (2, Want::Obj(Ctx::Annotations)),
            (Ctx::Status, "addresses") => (0, Want::Arr(Ctx::Addresses)),
            (Ctx::Status, "conditions") => (1, Want::Arr(Ctx::Conditions)),
            (Ctx::Status, "nodeInfo") => (2, Want::Obj(Ctx::Info)),
            (Ctx::Address, "address") => (0, Want::Str(Slot::Address)),
            (Ctx::Condition, "type") => (0, Want::Str(Slot::Type)),
            (Ctx::Condition, "status") => (1, Want::Str(Slot::Status)),
            (Ctx::Condition, "lastTransitionTime") => (2, Want::Str(Slot::Since)),
            (Ctx::Info, "kubeletVersion") => (0, Want::Str(Slot::Kubelet)),
            _ => return Some(Want::Any),
        };
        let top = self.stack.last_mut()?;
        if top.seen & (1 << bit) != 0 {
            return None;
        }
        top.seen |= 1 << bit;
        Some(want)
    }

    /// What an element of a `ctx` array is.
    fn elem(&self, ctx: Ctx) -> Want {
        match ctx {
            Ctx::Items => Want::Obj(Ctx::Node),
            Ctx::Addresses => Want::Obj(Ctx::Address),
            Ctx::Conditions => Want::Obj(Ctx::Condition),
            _ => Want::Any,
        }
    }

    /// An object read as `ctx` begins (or is `{}`): the value it fills starts empty.
    fn open(&mut self, ctx: Ctx) {
        match ctx {
            Ctx::Node => {
                self.node = lean::Node::default();
                self.in_item = true;
            }
            Ctx::Address => self.status().addresses.push(lean::Address::default()),
            Ctx::Condition => self.status().conditions.push(lean::Condition::default()),
            _ => {}
        }
    }

    fn status(&mut self) -> &mut lean::Status {
        if self.in_item { &mut self.node.status } else { &mut self.doc.status }
    }

    fn put(&mut self, slot: Slot, s: Option<String>) -> Option<()> {
        match slot {
            Slot::Kind => self.doc.kind = s?,
            Slot::Name => {
                let meta = if self.in_item { &mut self.node.metadata } else { &mut self.doc.metadata };
                meta.name = s?;
            }
            Slot::Address => self.status().addresses.last_mut()?.address = s?,
            Slot::Type => self.status().conditions.last_mut()?.type_ = s?,
            Slot::Status => self.status().conditions.last_mut()?.status = s?,
            Slot::Since => self.status().conditions.last_mut()?.last_transition_time = s,
            Slot::Kubelet => self.status().node_info.kubelet_version = s?,
        }
        Some(())
    }
}

/// The text of a JSON string token (with its quotes).
fn string(token: &str, esc: bool) -> Option<String> {
    if esc { serde_json::from_str::<String>(token).ok() } else { Some(token[1..token.len() - 1].to_string()) }
}

/// The value at `v` and where it ends, checked as serde_json checks it.
#[inline]
fn value(b: &[u8], v: usize) -> Option<(Value, usize)> {
    let word = |w: &[u8], value: Value| (b.get(v..v + w.len())? == w).then_some((value, v + w.len()));
    match *b.get(v)? {
        b'"' => string_end(b, v + 1).map(|(q, esc)| (Value::Str(esc), q + 1)),
        b'{' if b.get(v + 1) == Some(&b'}') => Some((Value::Empty(true), v + 2)),
        b'[' if b.get(v + 1) == Some(&b']') => Some((Value::Empty(false), v + 2)),
        b'{' => Some((Value::Open(true), v + 1)),
        b'[' => Some((Value::Open(false), v + 1)),
        b'n' => word(b"null", Value::Null),
        b't' => word(b"true", Value::Scalar),
        b'f' => word(b"false", Value::Scalar),
        _ => number(b, v).map(|end| (Value::Scalar, end)),
    }
}

/// A line (with its end) longer than `max_line` without its end.
fn too_long(line: &[u8], max_line: usize) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line).len() > max_line
}

/// The end of a line at `i`: where the next begins (the end of `b` is the file's end).
#[inline(always)]
fn eol(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i) {
        None => Some(i),
        Some(b'\n') => Some(i + 1),
        Some(b'\r') => match b.get(i + 1) {
            None => Some(i + 1),
            Some(b'\n') => Some(i + 2),
            _ => None,
        },
        _ => None,
    }
}

/// All spaces (indentation), 8 at a time (the last 8 overlapping the ones before).
#[inline(always)]
fn spaces(b: &[u8]) -> bool {
    const SPACES: Option<u64> = Some(u64::from_ne_bytes([b' '; 8]));
    let n = b.len();
    if n < 8 {
        return b.iter().all(|c| *c == b' ');
    }
    let mut i = 0;
    while i + 8 < n {
        if word(b, i) != SPACES {
            return false;
        }
        i += 8;
    }
    word(b, n - 8) == SPACES
}

/// The 8 bytes at `i`.
#[inline(always)]
fn word(b: &[u8], i: usize) -> Option<u64> {
    let w: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(w))
}

/// Where the string whose text begins at `i` ends (its closing quote), and whether it has
/// escapes; `None` for a control character, a bad escape or no end.
#[inline(always)]
fn string_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut esc = false;
    loop {
        // 8 bytes at a time up to a quote, a backslash or a control character.
        while let Some(w) = word(b, i) {
            let m = special(w);
            if m != 0 {
                i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match *b.get(i)? {
            b'"' => return Some((i, esc)),
            b'\\' => {
                esc = true;
                i += match *b.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                    b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => 6,
                    _ => return None,
                };
            }
            0..=0x1f => return None,
            _ => i += 1,
        }
    }
}

/// The high bit of each byte of `x` that is `"`, `\` or below 0x20 (exact for the lowest
/// such byte; bytes above it may be marked too).
#[inline(always)]
fn special(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |y: u64| y.wrapping_sub(ONES) & !y & HIGH;
    zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) | (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
}

/// The end of the JSON number at `i`: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
#[inline]
fn number(v: &[u8], i: usize) -> Option<usize> {
    let digits = |i: usize| v[i.min(v.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = i + usize::from(v.get(i) == Some(&b'-'));
    match v.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return None,
    }
    if v.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if matches!(v.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(v.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return None;
        }
        i += n;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value as J, json};

    /// `read`, cut into pieces of about `piece` bytes.
    fn in_pieces<R: Read>(lines: &mut Lines<R>, piece: usize) -> Result<Option<lean::Doc>, Stop> {
        Ok(read_in(lines, piece, std::convert::identity)?.map(|(mut doc, items)| {
            doc.items = items;
            doc
        }))
    }

    /// `read` on `text` (in chunks of `chunk` bytes, lines of at most `max_line`); when it
    /// gives a document, serde gives the same one.
    fn read_with(text: &str, chunk: usize, max_line: usize) -> Option<lean::Doc> {
        let mut lines = Lines::new(text.as_bytes(), max_line, KUBE_LIST.max_bytes).with_chunk(chunk);
        let got = read(&mut lines).ok().flatten();
        // Cut after every item it can be (on two threads): the same, or left to serde.
        let mut lines = Lines::new(text.as_bytes(), max_line, KUBE_LIST.max_bytes).with_chunk(chunk);
        let in_pieces = in_pieces(&mut lines, 1).ok().flatten();
        for doc in [&got, &in_pieces].into_iter().flatten() {
            match serde_json::from_str::<lean::Doc>(text) {
                Ok(want) => assert_eq!(doc, &want, "read differs from serde (chunks of {chunk}) on:\n{text}"),
                Err(e) => panic!("read accepts what serde rejects ({e}, chunks of {chunk}):\n{text}"),
            }
        }
        got
    }

    /// Same as serde, or `None`; read in large and in small chunks alike.
    fn same_as_serde(text: &str) -> Option<lean::Doc> {
        let whole = read_with(text, 256 * 1024, KUBE_LIST.max_field);
        for chunk in [7, 200] {
            assert_eq!(read_with(text, chunk, KUBE_LIST.max_field), whole, "chunks of {chunk}:\n{text}");
        }
        whole
    }

    fn fixture() -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/bundles/kubeadm-etcd-crashloop-json/nodes.json");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Pretty JSON as kubectl (`"    "`) or jq (`"  "`) print it, each object's keys in the
    /// order of the map, or the reverse (serde_json's own maps are sorted).
    fn pretty(v: &J, unit: &str, rev: bool) -> String {
        fn go(v: &J, unit: &str, depth: usize, rev: bool, out: &mut String) {
            let pad = |d: usize| unit.repeat(d);
            match v {
                J::Object(m) if !m.is_empty() => {
                    out.push_str("{\n");
                    let mut entries: Vec<_> = m.iter().collect();
                    if rev {
                        entries.reverse();
                    }
                    for (i, (k, v)) in entries.iter().enumerate() {
                        out.push_str(&pad(depth + 1));
                        out.push_str(&serde_json::to_string(k).expect("key"));
                        out.push_str(": ");
                        go(v, unit, depth + 1, rev, out);
                        out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
                    }
                    out.push_str(&pad(depth));
                    out.push('}');
                }
                J::Array(a) if !a.is_empty() => {
                    out.push_str("[\n");
                    for (i, v) in a.iter().enumerate() {
                        out.push_str(&pad(depth + 1));
                        go(v, unit, depth + 1, rev, out);
                        out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
                    }
                    out.push_str(&pad(depth));
                    out.push(']');
                }
                _ => out.push_str(&serde_json::to_string(v).expect("scalar")),
            }
        }
        let mut out = String::new();
        go(v, unit, 0, rev, &mut out);
        out.push('\n');
        out
    }

    /// A list of nodes with what `lean` reads spelled every way JSON allows, and parts it
    /// skips nested deep.
    fn generated() -> J {
        let deep = (0..20).fold(json!({"leaf": [1, -2.5e-3, true, null, "x"]}), |v, i| json!({format!("k{i}"): [v]}));
        json!({
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": "", "selfLink": ""},
            "items": [
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": "cp-\"1\"\\é\u{1F600}",
                        "labels": {
                            "node-role.kubernetes.io/control-plane": "",
                            "kubernetes.io/hostname": "cp-1",
                            "flag": "true",
                            "esc/aped\n": "line\nbreak\t/slash\u{7f}\u{0}"
                        },
                        "annotations": {"a": "{\"ebs.csi.aws.com\":\"i-0\"}", "b": "", "über": "ü"},
                        "managedFields": [{"fieldsV1": {"f:metadata": {"f:labels": {"k:{\"type\":\"Ready\"}": {}, ".": {}}}}}],
                        "creationTimestamp": "2026-01-01T00:00:00Z"
                    },
                    "spec": {"podCIDRs": [], "taints": [{"effect": "NoSchedule"}], "unschedulable": false, "deep": deep},
                    "status": {
                        "addresses": [{"address": "10.0.0.1", "type": "InternalIP"}, {"type": "Hostname"}, {}],
                        "conditions": [
                            {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-20T08:01:55Z", "lastHeartbeatTime": "x", "message": "ok"},
                            {"type": "MemoryPressure", "status": "False", "lastTransitionTime": null},
                            {}
                        ],
                        "capacity": {"cpu": "4", "pods": "110"},
                        "images": [{"names": ["a@sha256:00", "a:1"], "sizeBytes": 123456789}, {"names": [], "sizeBytes": 0}],
                        "nodeInfo": {"kubeletVersion": "v1.32.3", "architecture": "amd64"},
                        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
                    }
                },
                {},
                {"metadata": {}, "status": {}},
                {"metadata": {"labels": {}, "annotations": {}, "name": ""}, "status": {"addresses": [], "conditions": [], "nodeInfo": {}}},
                {"status": {"nodeInfo": {"kubeletVersion": "v1.31.0"}}, "metadata": {"name": "w-2"}}
            ]
        })
    }

    #[test]
    fn the_recorded_capture_and_generated_lists_read_as_serde_reads_them() {
        let text = fixture();
        let doc = same_as_serde(&text).expect("kubectl's layout is read");
        assert_eq!(doc.items.len(), 5);
        assert!(doc.items.iter().all(|n| !n.metadata.name.is_empty() && !n.status.conditions.is_empty()));
        let v = generated();
        for unit in ["    ", "  "] {
            for rev in [false, true] {
                let text = pretty(&v, unit, rev);
                let doc = same_as_serde(&text).unwrap_or_else(|| panic!("not read:\n{text}"));
                assert_eq!(doc.items.len(), 5);
                assert_eq!(doc.items[0].metadata.labels["esc/aped\n"], "line\nbreak\t/slash\u{7f}\u{0}");
                assert_eq!(doc.items[4].metadata.name, "w-2");
            }
        }
        // serde_json's own pretty printers: jq's two spaces and kubectl's four.
        assert!(same_as_serde(&serde_json::to_string_pretty(&v).expect("pretty")).is_some());
        let mut out = Vec::new();
        let mut ser =
            serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
        serde::Serialize::serialize(&v, &mut ser).expect("pretty");
        assert!(same_as_serde(&String::from_utf8(out).expect("utf-8")).is_some());
        // Escapes only JSON has, where `lean` reads and where it skips.
        let text = "{\n  \"kind\": \"L\\u0069st\",\n  \"items\": [\n    {\n      \"metadata\": {\n        \"n\\u0061me\": \"a\\/b\\b\\f\\r\\ud83d\\ude00\",\n        \"labels\": {\n          \"\\u00e9\": \"\\\"\"\n        }\n      },\n      \"spec\": {\n        \"x\\ud800\": \"\\udc00 lone, ignored\"\n      }\n    }\n  ]\n}\n";
        let doc = same_as_serde(text).expect("escapes");
        assert_eq!((doc.kind.as_str(), doc.items[0].metadata.name.as_str()), ("List", "a/b\u{8}\u{c}\r\u{1F600}"));
    }

    #[test]
    fn every_prefix_and_every_one_line_change_is_read_as_serde_reads_it_or_left_to_it() {
        let v = json!({
            "kind": "List",
            "items": [{
                "metadata": {"name": "a", "labels": {"x": "1"}},
                "spec": {"t": [{"k": [1, 2.0]}], "e": {}},
                "status": {"addresses": [{"address": "10.0.0.1"}], "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": null}], "nodeInfo": {"kubeletVersion": "v1"}}
            }, {"metadata": {"name": "b"}}],
            "metadata": {"name": "list"}
        });
        let text = pretty(&v, "    ", false);
        assert!(same_as_serde(&text).is_some());
        for end in 0..text.len() {
            // Every prefix but the whole (with or without its last newline) is cut short.
            let got = same_as_serde(&text[..end]);
            assert!(got.is_none() || end + 1 == text.len(), "accepted a prefix of {end} bytes");
        }
        let lines: Vec<&str> = text.lines().collect();
        let replacements = [
            "",
            "{",
            "}",
            "},",
            "]",
            "[",
            "null",
            "null,",
            "1",
            "\"s\",",
            "{},",
            "[]",
            "\"name\": \"z\",",
            "\"name\": 5,",
            "\"labels\": null,",
            "\"metadata\": [],",
            "\"kind\": \"Node\",",
            "\t",
        ];
        let mut changed = 0;
        for i in 0..lines.len() {
            let mut variants: Vec<Vec<String>> = Vec::new();
            let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            // Without the line, the line twice, swapped with the next one.
            let mut v = owned.clone();
            v.remove(i);
            variants.push(v);
            let mut v = owned.clone();
            v.insert(i, owned[i].clone());
            variants.push(v);
            if i + 1 < owned.len() {
                let mut v = owned.clone();
                v.swap(i, i + 1);
                variants.push(v);
            }
            // The comma taken off or added, a character dropped, other content.
            let indent: String = owned[i].chars().take_while(|c| *c == ' ').collect();
            let mut v = owned.clone();
            v[i] = match owned[i].strip_suffix(',') {
                Some(s) => s.to_string(),
                None => format!("{},", owned[i]),
            };
            variants.push(v);
            for cut in [indent.len(), owned[i].len().saturating_sub(1), owned[i].len() / 2] {
                if let Some(c) = owned[i].char_indices().map(|(k, _)| k).find(|k| *k >= cut) {
                    let mut v = owned.clone();
                    v[i].remove(c);
                    variants.push(v);
                }
            }
            for r in replacements {
                let mut v = owned.clone();
                v[i] = format!("{indent}{r}");
                variants.push(v);
            }
            for v in variants {
                let t = v.join("\n") + "\n";
                if same_as_serde(&t).is_some() && t != text {
                    changed += 1;
                }
            }
        }
        // Some changes keep a valid document (another name, a comma-free last value...).
        assert!(changed > 0);
    }

    #[test]
    fn documents_serde_rejects_or_reads_another_way_are_left_to_it() {
        let base = pretty(&json!({"kind": "List", "items": [{"metadata": {"name": "a"}}]}), "    ", false);
        assert!(same_as_serde(&base).is_some());
        let cases: Vec<String> = vec![
            format!("{base}x\n"),
            format!("{base}{{}}\n"),
            base.trim_end().trim_end_matches('}').to_string(),
            base.replace("\"name\": \"a\"", "\"name\": 5"),
            base.replace("\"name\": \"a\"", "\"name\": null"),
            base.replace("\"name\": \"a\"", "\"labels\": null"),
            base.replace("\"name\": \"a\"", "\"labels\": []"),
            base.replace("\"name\": \"a\"", "\"name\": \"a\",\n                \"name\": \"b\""),
            base.replace("\"metadata\": {", "\"metadata\": {},\n            \"metadata\": {"),
            base.replace(
                "\"name\": \"a\"",
                "\"labels\": {\n                    \"k\": \"1\",\n                    \"k\": \"2\"\n                }",
            ),
            base.replace("\"name\": \"a\"", "\"name\": \"\\ud800\""),
            base.replace("\"name\": \"a\"", "\"name\": \"a\\x\""),
            base.replace("\"name\": \"a\"", "\"name\": \"a\tb\""),
            base.replace("\"name\": \"a\"", "\"name\": 01"),
            base.replace("\"kind\": \"List\"", "\"kind\": \"List\",\n    \"kind\": \"List\""),
            base.replace("\"kind\": \"List\"", "\"items\": [],\n    \"kind\": \"List\""),
            base.replace("{\n", "{ \n"),
            base.replace("\"kind\": \"List\"", "\"kind\" : \"List\""),
            format!("\u{feff}{base}"),
            format!("\n{base}"),
            serde_json::to_string(&serde_json::from_str::<J>(&base).expect("json")).expect("minified"),
            "{}".to_string(),
            "{\n".to_string(),
            String::new(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(same_as_serde(c).is_none(), "case {i} read:\n{c}");
        }
        // Readable the same way: CRLF, a missing last newline, white space after, an empty list.
        for ok in [
            base.replace('\n', "\r\n"),
            base.trim_end().to_string(),
            format!("{base} \t\n\n"),
            "{\n}\n".to_string(),
            "{\n    \"items\": []\n}\n".to_string(),
            base.replace("\"name\": \"a\"", "\"name\": \"a\",\n                \"x\": {\"inline\": 1}"),
        ] {
            let _ = same_as_serde(&ok);
        }
        assert!(same_as_serde(&base.replace('\n', "\r\n")).is_some());
        assert!(same_as_serde("{\n    \"items\": []\n}\n").is_some_and(|d| d.items.is_empty()));
    }

    #[test]
    fn a_list_cut_into_pieces_reads_as_one_and_a_field_of_the_list_twice_across_pieces_is_left_to_serde() {
        let items: Vec<J> = (0..40)
            .map(|i| json!({"metadata": {"name": format!("n{i}"), "labels": {"l": i.to_string()}}, "spec": {"x": [i, {}]}}))
            .collect();
        let list = json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}});
        for unit in ["    ", "  "] {
            let text = pretty(&list, unit, false);
            let doc = same_as_serde(&text).expect("read");
            assert_eq!(doc.items.len(), 40);
            assert_eq!(doc.items[39].metadata.name, "n39");
            // Cut where it can be: after each item, the pieces read on two threads.
            let mut lines = Lines::new(text.as_bytes(), KUBE_LIST.max_field, KUBE_LIST.max_bytes).with_chunk(300);
            assert_eq!(in_pieces(&mut lines, 1).ok().flatten(), Some(doc), "{text}");
            // `kind` before the items and after them: serde rejects the second.
            let twice =
                text.replacen(&format!("{unit}\"items\""), &format!("{unit}\"kind\": \"List\",\n{unit}\"items\""), 1);
            assert!(serde_json::from_str::<lean::Doc>(&twice).is_err());
            assert!(same_as_serde(&twice).is_none());
            let mut lines = Lines::new(twice.as_bytes(), KUBE_LIST.max_field, KUBE_LIST.max_bytes).with_chunk(300);
            assert!(in_pieces(&mut lines, 1).ok().flatten().is_none());
            // An item cut short where a piece ends: not the end of an item.
            let cut =
                text.replacen(&format!("\n{unit}{unit}}},\n"), &format!("\n{unit}{unit}}},\n{unit}{unit}{{\n"), 1);
            assert!(same_as_serde(&cut).is_none());
        }
    }

    #[test]
    fn nesting_past_the_limit_and_lines_past_the_limit_are_left_to_the_whole_document_parser() {
        let nested = |n: usize| (0..n).fold(json!(1), |v, _| json!([v]));
        // The document is one level, `items` another, the item a third.
        let doc = |n: usize| pretty(&json!({"items": [{"spec": nested(n)}]}), "  ", false);
        assert!(same_as_serde(&doc(KUBE_LIST.max_depth - 3)).is_some());
        assert!(same_as_serde(&doc(KUBE_LIST.max_depth - 2)).is_none());
        let empty =
            |n: usize| pretty(&json!({"items": [{"spec": (0..n).fold(json!([]), |v, _| json!([v]))}]}), "  ", false);
        assert!(same_as_serde(&empty(KUBE_LIST.max_depth - 4)).is_some());
        assert!(same_as_serde(&empty(KUBE_LIST.max_depth - 3)).is_none());
        // The longest line where `lean` reads, and where it skips, read in one chunk and in many.
        let long = "x".repeat(300);
        let wanted =
            json!({"items": [{"metadata": {"labels": {"l": long}}, "status": {"images": [{"names": ["a"]}]}}]});
        let skipped =
            json!({"items": [{"metadata": {"labels": {"l": "a"}}, "status": {"images": [{"names": [long]}]}}]});
        for text in [fixture(), pretty(&wanted, "    ", false), pretty(&skipped, "    ", false)] {
            let longest = text.lines().map(str::len).max().expect("lines");
            for chunk in [64, 4096, 1 << 20] {
                assert!(read_with(&text, chunk, longest).is_some(), "{chunk}:\n{text}");
                assert!(read_with(&text, chunk, longest - 1).is_none(), "{chunk}:\n{text}");
            }
        }
    }
}
