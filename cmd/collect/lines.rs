//! Lines of a large capture, read from the file in fixed chunks: a 5,000-node `kubectl get
//! nodes -o yaml|json` is 15 to 75 MB, and the node list readers need one line at a time, so
//! the whole file is never held in memory.

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

/// One line at a time, without its `\n` (and `\r` before it).
pub struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    max_line: usize,
    max_bytes: u64,
    read: u64,
    /// 1-based number of the line last returned.
    pub number: usize,
    /// The last line had no `\n`: a capture cut short, or written by hand.
    pub unterminated: bool,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R, max_line: usize, max_bytes: u64) -> Self {
        Lines {
            inner,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            eof: false,
            max_line,
            max_bytes,
            read: 0,
            number: 0,
            unterminated: false,
        }
    }

    /// The longest line allowed.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// The next line, `None` at the end of the file. A last line without `\n` counts.
    pub fn next_line(&mut self) -> Result<Option<&str>, Stop> {
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let (from, to) = (self.start, self.start + nl);
                self.start = to + 1;
                return self.line(from, to).map(Some);
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let (from, to) = (self.start, self.end);
                self.start = self.end;
                self.unterminated = true;
                return self.line(from, to).map(Some);
            }
            self.fill()?;
        }
    }

    /// The next run of whole lines (each with its `\n`, but the file's last maybe), checked
    /// as UTF-8 at once: cheaper than line by line where every line is looked at. `None` at
    /// the end of the file. The caller checks each line's length against its limit.
    pub fn next_block(&mut self) -> Result<Option<&str>, Stop> {
        loop {
            if let Some(last) = memchr::memrchr(b'\n', &self.buf[self.start..self.end]) {
                let (from, to) = (self.start, self.start + last + 1);
                self.start = to;
                return std::str::from_utf8(&self.buf[from..to]).map(Some).map_err(|_| Stop::NotText);
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let (from, to) = (self.start, self.end);
                self.start = self.end;
                self.unterminated = true;
                return std::str::from_utf8(&self.buf[from..to]).map(Some).map_err(|_| Stop::NotText);
            }
            self.fill()?;
        }
    }

    fn line(&mut self, from: usize, to: usize) -> Result<&str, Stop> {
        self.number += 1;
        let bytes = &self.buf[from..to];
        let bytes = if bytes.last() == Some(&b'\r') { &bytes[..bytes.len() - 1] } else { bytes };
        if bytes.len() > self.max_line {
            return Err(Stop::TooLong);
        }
        std::str::from_utf8(bytes).map_err(|_| Stop::NotText)
    }

    /// Reads more after the unfinished line, moving it to the front (or growing the buffer
    /// when it fills it, up to the line limit).
    fn fill(&mut self) -> Result<(), Stop> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() > self.max_line.saturating_add(2) {
                return Err(Stop::TooLong);
            }
            let grown = self.buf.len() * 2;
            self.buf.resize(grown, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Io(e)),
            }
        };
        self.read += n as u64;
        if self.read > self.max_bytes {
            return Err(Stop::TooBig);
        }
        self.end += n;
        self.eof = n == 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], max_line: usize) -> Result<Vec<String>, String> {
        let mut l = Lines::new(text, max_line, u64::MAX);
        l.buf = vec![0; 8]; // small chunks: lines cross chunk ends
        let mut out = Vec::new();
        loop {
            match l.next_line() {
                Ok(Some(s)) => out.push(s.to_string()),
                Ok(None) => return Ok(out),
                Err(e) => return Err(format!("{e:?}")),
            }
        }
    }

    #[test]
    fn lines_across_chunks_crlf_and_a_last_line_without_newline() {
        let got = all(b"a: 1\r\nbb: a long line past the chunk\n\nlast", 100).expect("lines");
        assert_eq!(got, ["a: 1", "bb: a long line past the chunk", "", "last"]);
        assert_eq!(all(b"", 100).expect("empty"), Vec::<String>::new());
        assert_eq!(all(b"x\n", 100).expect("one"), ["x"]);
        let mut l = Lines::new(&b"a\nb"[..], 10, 100);
        while let Ok(Some(_)) = l.next_line() {}
        assert!(l.unterminated);
        let mut l = Lines::new(&b"a\nb\n"[..], 10, 100);
        while let Ok(Some(_)) = l.next_line() {}
        assert!(!l.unterminated);
    }

    #[test]
    fn blocks_hold_whole_lines_and_end_with_the_last_one() {
        let text = b"first line\nsecond, longer than a chunk\n\nlast";
        let mut l = Lines::new(&text[..], 100, u64::MAX);
        l.buf = vec![0; 8];
        let mut all = String::new();
        while let Ok(Some(block)) = l.next_block() {
            assert!(block.ends_with('\n') || block == "last", "{block:?}");
            all.push_str(block);
        }
        assert_eq!(all.as_bytes(), text);
        assert!(l.unterminated);
    }

    #[test]
    fn a_line_past_the_limit_and_bytes_that_are_not_text_stop() {
        assert_eq!(all(b"short\nthis one is far too long\n", 10).expect_err("too long"), "TooLong");
        assert_eq!(all(b"ok\n\xff\xfe\n", 10).expect_err("not text"), "NotText");
        let mut l = Lines::new(&b"0123456789\n0123456789\n"[..], 100, 12);
        assert!(matches!(l.next_line(), Err(Stop::TooBig)));
    }
}
