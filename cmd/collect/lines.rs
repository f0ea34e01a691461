//! Lines of a large capture, read from the file in fixed chunks: a 5,000-node `kubectl get
//! nodes -o yaml|json` is 15 to 75 MB, and the node list readers go through it a run of whole
//! lines at a time, so the whole file is never held in memory.

use std::io::{self, Read};

const CHUNK: usize = 256 * 1024;

/// Why the lines could not all be read.
#[derive(Debug)]
pub enum Stop {
    /// A line longer than the limit given: the caller reads the file the slow way, which names
    /// the limit.
    TooLong,
    /// Past the size limit given.
    TooBig,
    /// Not UTF-8.
    NotText,
    Io(io::Error),
}

/// Runs of whole lines, checked as UTF-8, within a size limit and a line limit.
pub struct Lines<R> {
    inner: R,
    /// Whole lines read and not all returned yet, checked as UTF-8 at once (checking each
    /// line on its own took 40% of the time of reading a 1.8 M line file).
    text: String,
    start: usize,
    /// What was read after the last `\n`: the beginning of the next line.
    rest: Vec<u8>,
    /// Bytes to read at a time.
    chunk: usize,
    eof: bool,
    /// The bytes after `text` are not UTF-8: said once its lines are returned.
    not_text: bool,
    max_line: usize,
    max_bytes: u64,
    read: u64,
    /// The file's last line had no `\n`: a capture cut short, or written by hand.
    pub unterminated: bool,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R, max_line: usize, max_bytes: u64) -> Self {
        Lines {
            inner,
            text: String::new(),
            start: 0,
            rest: Vec::new(),
            chunk: CHUNK,
            eof: false,
            not_text: false,
            max_line,
            max_bytes,
            read: 0,
            unterminated: false,
        }
    }

    /// Reads `n` bytes at a time (tests: lines and characters cut by the chunks' ends).
    #[cfg(test)]
    pub fn with_chunk(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// The longest line allowed (`next_text`'s readers check it on each line).
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// The next lines at once, as they stand in the file (each with its `\n`, the last one of
    /// the file maybe without), `None` at the end of the file: for readers that split lines
    /// themselves (they check the line limit, `max_line`). An owned
    /// text, to hand to another thread; the next chunk is read into `spare` (a text handed
    /// out before, done with) when given.
    pub fn next_text(&mut self, spare: Option<String>) -> Result<Option<String>, Stop> {
        let mut spare = spare;
        loop {
            if self.start < self.text.len() {
                let mut text = std::mem::replace(&mut self.text, spare.take().unwrap_or_default());
                text.drain(..self.start);
                self.text.clear();
                self.start = 0;
                return Ok(Some(text));
            }
            if self.not_text {
                return Err(Stop::NotText);
            }
            if self.eof {
                return Ok(None);
            }
            if let Some(s) = spare.take() {
                self.text = s;
            }
            self.fill()?;
        }
    }

    /// Reads the next chunk into `text`, up to its last whole line (the whole rest at the end
    /// of the file); reads on while a line goes on past the chunk, up to the line limit.
    fn fill(&mut self) -> Result<(), Stop> {
        let mut buf = std::mem::take(&mut self.text).into_bytes();
        buf.clear();
        self.start = 0;
        buf.append(&mut self.rest);
        loop {
            // Room for the whole chunk at once: grown as it reads, a buffer is copied at each
            // growth (a fresh one per chunk copied 75 MB more). A new buffer also has room for
            // a line carried over, so it is not grown at the next chunk.
            if buf.capacity() == 0 {
                buf.reserve_exact(self.chunk + self.chunk / 4);
            }
            buf.reserve(self.chunk);
            let before = buf.len();
            let n = loop {
                match self.inner.by_ref().take(self.chunk as u64).read_to_end(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Stop::Io(e)),
                }
            };
            self.read += n as u64;
            if self.read > self.max_bytes {
                return Err(Stop::TooBig);
            }
            if n == 0 {
                self.eof = true;
                break;
            }
            if memchr::memchr(b'\n', &buf[before..]).is_some() {
                break;
            }
            if buf.len() > self.max_line.saturating_add(2) {
                return Err(Stop::TooLong);
            }
        }
        if !self.eof {
            let cut = memchr::memrchr(b'\n', &buf).map_or(0, |nl| nl + 1);
            self.rest.extend_from_slice(&buf[cut..]);
            buf.truncate(cut);
        }
        if self.eof && buf.last().is_some_and(|b| *b != b'\n') {
            self.unterminated = true;
        }
        self.text = match String::from_utf8(buf) {
            Ok(text) => text,
            Err(e) => {
                // The lines before the first bad byte are returned, then `NotText`.
                let valid = e.utf8_error().valid_up_to();
                let mut buf = e.into_bytes();
                buf.truncate(memchr::memrchr(b'\n', &buf[..valid]).map_or(0, |nl| nl + 1));
                self.not_text = true;
                String::from_utf8(buf).map_err(|_| Stop::NotText)?
            }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines as a reader splits them from the texts handed out: without `\n` and `\r`,
    /// each held to the line limit.
    fn all(text: &[u8], max_line: usize) -> Result<Vec<String>, String> {
        let mut l = Lines::new(text, max_line, u64::MAX).with_chunk(8); // lines cross chunk ends
        let mut out: Vec<String> = Vec::new();
        loop {
            match l.next_text(None) {
                Ok(Some(t)) => {
                    for line in t.split_inclusive('\n') {
                        let line = line.strip_suffix('\n').unwrap_or(line);
                        let line = line.strip_suffix('\r').unwrap_or(line);
                        if line.len() > l.max_line() {
                            return Err(format!("TooLong after {out:?}"));
                        }
                        out.push(line.to_string());
                    }
                }
                Ok(None) => return Ok(out),
                Err(e) => return Err(format!("{e:?} after {out:?}")),
            }
        }
    }

    #[test]
    fn the_last_line_without_newline_is_told() {
        let mut l = Lines::new(&b"a\nb"[..], 10, 100).with_chunk(1);
        while let Ok(Some(_)) = l.next_text(None) {}
        assert!(l.unterminated);
        let mut l = Lines::new(&b"a\nb\n"[..], 10, 100);
        while let Ok(Some(_)) = l.next_text(None) {}
        assert!(!l.unterminated);
    }

    #[test]
    fn lines_across_chunks_crlf_and_a_last_line_without_newline() {
        let got = all(b"a: 1\r\nbb: a long line past the chunk\n\nlast", 100).expect("lines");
        assert_eq!(got, ["a: 1", "bb: a long line past the chunk", "", "last"]);
        assert_eq!(all(b"", 100).expect("empty"), Vec::<String>::new());
        assert_eq!(all(b"x\n", 100).expect("one"), ["x"]);
        assert_eq!(all(b"\n\n", 100).expect("blank"), ["", ""]);
        // A character cut by a chunk's end is whole in its line.
        let got = all("ab\u{e9}\u{e9}\u{e9}\u{e9}\ncd\u{10348}x\n".as_bytes(), 100).expect("utf-8");
        assert_eq!(got, ["ab\u{e9}\u{e9}\u{e9}\u{e9}", "cd\u{10348}x"]);
    }

    #[test]
    fn texts_handed_out_are_the_whole_lines_in_order_with_the_spare_reused() {
        let text = "first line\nsecond, longer than a chunk\n\u{e9}t\u{e9}\nlast";
        let mut l = Lines::new(text.as_bytes(), 100, u64::MAX).with_chunk(8);
        let (mut got, mut spare) = (String::new(), None);
        while let Some(t) = l.next_text(spare.take()).expect("text") {
            assert!(t.ends_with('\n') || got.len() + t.len() == text.len(), "{t:?}");
            got.push_str(&t);
            spare = Some(t);
        }
        assert_eq!(got, text);
    }

    #[test]
    fn a_line_past_the_limit_and_bytes_that_are_not_text_stop() {
        assert_eq!(all(b"short\nthis one is far too long\n", 10).expect_err("too long"), "TooLong after [\"short\"]");
        assert_eq!(all(b"short\nthis one is far too long", 10).expect_err("too long"), "TooLong after [\"short\"]");
        assert_eq!(all(b"ok\n\xff\xfe\n", 10).expect_err("not text"), "NotText after [\"ok\"]");
        assert_eq!(all(b"ok\nfine\nab\xff", 10).expect_err("not text"), "NotText after [\"ok\", \"fine\"]");
        assert_eq!(all(b"ok\nab\xc3", 10).expect_err("cut character"), "NotText after [\"ok\"]");
        let mut l = Lines::new(&b"0123456789\n0123456789\n"[..], 100, 12);
        assert!(matches!(l.next_text(None), Err(Stop::TooBig)));
    }
}
