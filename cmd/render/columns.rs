//! A small column renderer for kubectl-style tables: no borders, no leading space, no padding
//! at line ends. Piped (no width) nothing is wrapped, so every id and URL stays on one line
//! for grep. On a terminal ids, URLs and check ids are never split: only free text wraps, at
//! word boundaries; optional columns give way first (`-o wide` keeps them), then the last
//! free-text column moves below its row, and as a last resort each row becomes a record.
//! Linear in its input: every cell is measured once and wrapped greedily (comfy-table took
//! 0.7 s for one 20 KB cell).

use unicode_width::UnicodeWidthStr;

/// Spaces between columns (kubectl's tabwriter uses 3).
const GAP: usize = 3;
/// Columns align up to this many display columns; a longer cell pushes the rest of its own
/// row right instead of padding every other row to its width (output stays linear in input).
const MAX_ALIGN: usize = 160;
/// A free-text column narrower than this (or than its longest word) makes the table not fit.
const MIN_TEXT: usize = 16;
/// Indent of a free-text column moved below its row.
const BELOW_INDENT: usize = 4;

/// How a column's cells may be broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Never split (ids, states, sizes); a `\n` in a cell starts another line.
    Token,
    /// Items that are each never split (URLs), given one per line (`\n`-separated): joined
    /// with `,` when nothing wraps, one per line on a terminal.
    List,
    /// Free text: wrapped at word boundaries on a terminal; words are never split.
    Text,
}

/// A column: its header, how it breaks, and when it gives way.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    header: &'static str,
    kind: Kind,
    /// 0: always shown. Higher levels are hidden first when the table does not fit (unless
    /// `-o wide`).
    optional: u8,
}

impl Column {
    /// An unsplittable column.
    pub const fn token(header: &'static str) -> Self {
        Column { header, kind: Kind::Token, optional: 0 }
    }
    /// A column of unsplittable items (URLs).
    pub const fn list(header: &'static str) -> Self {
        Column { header, kind: Kind::List, optional: 0 }
    }
    /// A free-text column.
    pub const fn text(header: &'static str) -> Self {
        Column { header, kind: Kind::Text, optional: 0 }
    }
    /// Hidden when the table does not fit, level `n` before level `n - 1`; shown by `-o wide`.
    pub const fn optional(mut self, n: u8) -> Self {
        self.optional = n;
        self
    }
}

/// Where the output goes and what the operator asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The terminal's width; `None` when stdout is no terminal or it reports 0 columns: then
    /// nothing wraps.
    pub width: Option<usize>,
    /// `-o wide`: keep every column.
    pub wide: bool,
    /// `--no-headers`: no header lines.
    pub no_headers: bool,
}

impl Layout {
    /// The layout for stdout: its terminal width, if it is a terminal that reports one.
    pub fn stdout(wide: bool, no_headers: bool) -> Self {
        let width = terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| w.0 as usize).filter(|w| *w > 0);
        Layout { width, wide, no_headers }
    }
}

/// Rows of cells under columns.
pub struct Table {
    cols: Vec<Column>,
    rows: Vec<Vec<String>>,
}

/// What one column needs: its width with nothing wrapped, and the least it can take.
struct Need {
    natural: usize,
    min: usize,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(cols: Vec<Column>) -> Self {
        Table { cols, rows: Vec::new() }
    }

    /// Adds a row; missing cells are empty, extra cells are ignored.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.into_iter().take(self.cols.len()).map(|c| clean(&c)).collect();
        cells.resize(self.cols.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as text, each line ending in `\n`.
    pub fn render(&self, l: &Layout) -> String {
        let all: Vec<usize> = (0..self.cols.len()).collect();
        let needs: Vec<Need> = all.iter().map(|&c| self.need(c, l.width.is_some())).collect();
        let Some(width) = l.width else {
            let widths: Vec<usize> = needs.iter().map(|n| n.natural).collect();
            return self.columns(&all, &widths, None, l);
        };
        let fits = |cols: &[usize]| {
            cols.iter().map(|&c| needs[c].min).sum::<usize>() + GAP * cols.len().saturating_sub(1) <= width
        };
        let mut visible = all.clone();
        let mut level = self.cols.iter().map(|c| c.optional).max().unwrap_or(0);
        while !fits(&visible) && !l.wide && level > 0 {
            visible.retain(|&c| self.cols[c].optional < level);
            level -= 1;
        }
        if fits(&visible) {
            return self.columns(&visible, &allot(&visible, &needs, width), None, l);
        }
        // The last free-text column below its row, the others in columns.
        if let Some(&below) = visible.iter().rev().find(|&&c| self.cols[c].kind == Kind::Text) {
            let rest: Vec<usize> = visible.iter().copied().filter(|&c| c != below).collect();
            if !rest.is_empty() && fits(&rest) {
                return self.columns(&rest, &allot(&rest, &needs, width), Some(below), l);
            }
        }
        self.records(&visible, width)
    }

    /// The natural and least width of column `c` (`wrapping`: on a terminal).
    fn need(&self, c: usize, wrapping: bool) -> Need {
        let col = &self.cols[c];
        let mut natural = col.header.width();
        let mut longest = 0;
        for row in &self.rows {
            let cell = &row[c];
            let w = match (col.kind, wrapping) {
                (Kind::List, false) => cell.split('\n').map(|i| i.width()).sum::<usize>() + cell.matches('\n').count(),
                _ => cell.split('\n').map(|line| line.width()).max().unwrap_or(0),
            };
            natural = natural.max(w);
            if col.kind == Kind::Text {
                longest = longest.max(cell.split([' ', '\n']).map(|w| w.width()).max().unwrap_or(0));
            }
        }
        let natural = natural.min(MAX_ALIGN);
        let min = match col.kind {
            Kind::Text => natural.min(longest.max(MIN_TEXT)),
            _ => natural,
        };
        Need { natural, min }
    }

    /// The lines of one cell at this column width (`None`: nothing wraps).
    fn lines(&self, c: usize, cell: &str, width: Option<usize>) -> Vec<String> {
        match (self.cols[c].kind, width) {
            (Kind::List, None) => vec![cell.split('\n').filter(|i| !i.is_empty()).collect::<Vec<_>>().join(",")],
            (Kind::Text, Some(w)) => cell.split('\n').flat_map(|p| wrap(p, w)).collect(),
            _ => cell.split('\n').map(str::to_string).collect(),
        }
    }

    fn columns(&self, cols: &[usize], widths: &[usize], below: Option<usize>, l: &Layout) -> String {
        let mut out = String::new();
        if !l.no_headers {
            let header: Vec<String> = cols.iter().map(|&c| self.cols[c].header.to_string()).collect();
            push_line(&mut out, &header.iter().map(|h| vec![h.clone()]).collect::<Vec<_>>(), widths, 0);
        }
        for row in &self.rows {
            let cells: Vec<Vec<String>> =
                cols.iter().zip(widths).map(|(&c, &w)| self.lines(c, &row[c], l.width.map(|_| w))).collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for i in 0..height {
                push_line(&mut out, &cells, widths, i);
            }
            if let (Some(b), Some(width)) = (below, l.width) {
                for p in row[b].split('\n') {
                    for line in wrap(p, width.saturating_sub(BELOW_INDENT)) {
                        // A word wider than the indented space starts further left.
                        let pad = BELOW_INDENT.min(width.saturating_sub(line.width()));
                        out.push_str(&" ".repeat(pad));
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    /// Each row as `HEADER  value` lines, a blank line between rows: for terminals too narrow
    /// for the columns that must stay whole.
    fn records(&self, cols: &[usize], width: usize) -> String {
        let label = cols.iter().map(|&c| self.cols[c].header.width()).max().unwrap_or(0);
        let room = width.saturating_sub(label + GAP);
        let mut out = String::new();
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            for &c in cols {
                let lines = self.lines(c, &row[c], Some(room.max(1)));
                let header = self.cols[c].header;
                // A value that cannot fit beside its label goes under it, from the margin.
                if lines.iter().any(|v| v.width() > room) {
                    out.push_str(header);
                    out.push('\n');
                    for v in &lines {
                        out.push_str(v);
                        out.push('\n');
                    }
                    continue;
                }
                for (k, v) in lines.iter().enumerate() {
                    let head = if k == 0 { header } else { "" };
                    let line = format!("{head:<label$}{}{v}", " ".repeat(GAP), label = label);
                    out.push_str(line.trim_end());
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// Widths for `cols` in `width`: each column its least, then what is left shared among the
/// free-text columns up to their natural width.
fn allot(cols: &[usize], needs: &[Need], width: usize) -> Vec<usize> {
    let mut w: Vec<usize> = cols.iter().map(|&c| needs[c].min).collect();
    let used = w.iter().sum::<usize>() + GAP * cols.len().saturating_sub(1);
    let mut left = width.saturating_sub(used);
    loop {
        let growing: Vec<usize> = (0..cols.len()).filter(|&i| w[i] < needs[cols[i]].natural).collect();
        if left == 0 || growing.is_empty() {
            return w;
        }
        let share = (left / growing.len()).max(1);
        for i in growing {
            let add = share.min(needs[cols[i]].natural - w[i]).min(left);
            w[i] += add;
            left -= add;
        }
    }
}

/// One output line: line `i` of each cell, padded to its column but the last, no trailing
/// spaces.
fn push_line(out: &mut String, cells: &[Vec<String>], widths: &[usize], i: usize) {
    let start = out.len();
    for (k, (cell, &w)) in cells.iter().zip(widths).enumerate() {
        let s = cell.get(i).map(String::as_str).unwrap_or("");
        out.push_str(s);
        if k + 1 < cells.len() {
            out.push_str(&" ".repeat(w.saturating_sub(s.width()) + GAP));
        }
    }
    let end = out[start..].trim_end().len() + start;
    out.truncate(end);
    out.push('\n');
}

/// Free text wrapped at word boundaries to `width` display columns; a word wider than that
/// stands alone on its line, whole. Greedy, so linear in the text.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    wrap_hanging(text, width, width)
}

/// [`wrap`] with the first line `first` wide and the others `rest` wide.
fn wrap_hanging(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    let mut cur_w = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = word.width();
        let limit = if lines.is_empty() { first } else { rest };
        if cur_w > 0 && cur_w + 1 + w > limit {
            lines.push(std::mem::take(&mut cur));
            cur_w = 0;
        }
        if cur_w > 0 {
            cur.push(' ');
            cur_w += 1;
        }
        cur.push_str(word);
        cur_w += w;
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A paragraph of free text as lines, `indent` spaces before the first line and `indent +
/// hang` before the others: wrapped to the terminal, or one line per `\n` when nothing wraps.
pub fn para(text: &str, l: &Layout, indent: usize, hang: usize) -> String {
    let mut out = String::new();
    for p in clean(text).split('\n') {
        let Some(w) = l.width else {
            out.push_str(format!("{}{p}", " ".repeat(indent)).trim_end());
            out.push('\n');
            continue;
        };
        let lines = wrap_hanging(p, w.saturating_sub(indent).max(1), w.saturating_sub(indent + hang).max(1));
        for (i, line) in lines.iter().enumerate() {
            let lead = if i == 0 { indent } else { indent + hang };
            // A word wider than the indented space starts further left.
            let pad = lead.min(w.saturating_sub(line.width()));
            out.push_str(format!("{}{line}", " ".repeat(pad)).trim_end());
            out.push('\n');
        }
    }
    out
}

/// A cell as it may reach a terminal: control characters (escape sequences in a member name
/// could rewrite the screen) become `?`, tabs and carriage returns spaces; `\n` stays.
fn clean(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\n') {
        return s.to_string();
    }
    s.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' | '\r' => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Table {
        let mut t = Table::new(vec![
            Column::token("ID"),
            Column::token("NAME"),
            Column::list("PEER URLS").optional(2),
            Column::token("STATE"),
            Column::text("DETAILS"),
        ]);
        t.row(vec![
            "8e9e05c52164694d".into(),
            "etcd-a".into(),
            "https://etcd-a.internal.demo.k8s.local:2380\nhttps://10.0.0.1:2380".into(),
            "up".into(),
            "a member that answers and follows the leader; nothing to do here at all".into(),
        ]);
        t.row(vec![
            "c3f0b2".into(),
            "etcd-b".into(),
            "https://10.0.0.2:2380".into(),
            "unreachable".into(),
            "did not answer at https://etcd-b.internal.demo.k8s.local:2379: context deadline exceeded".into(),
        ]);
        t
    }

    fn at(width: Option<usize>) -> Layout {
        Layout { width, ..Layout::default() }
    }

    /// No line wider than `width` unless one of its words alone is.
    fn assert_fits(out: &str, width: usize) {
        for line in out.lines() {
            assert!(
                line.width() <= width || line.split(' ').any(|w| w.width() > width),
                "line wider than {width}: {line:?}\n{out}"
            );
            assert_eq!(line, line.trim_end(), "trailing space: {line:?}");
        }
    }

    #[test]
    fn piped_nothing_wraps_and_lists_join_with_commas() {
        let out = members().render(&at(None));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].starts_with("ID   ") && !lines[0].ends_with(' '), "{out}");
        assert!(lines[1].contains("https://etcd-a.internal.demo.k8s.local:2380,https://10.0.0.1:2380"), "{out}");
        assert!(lines[2].ends_with("context deadline exceeded"), "{out}");
    }

    #[test]
    fn on_a_terminal_ids_and_urls_stay_whole_and_lines_fit() {
        for width in [40, 60, 80, 120, 200] {
            let out = members().render(&at(Some(width)));
            assert_fits(&out, width);
            for token in ["8e9e05c52164694d", "c3f0b2", "https://etcd-b.internal.demo.k8s.local:2379:"] {
                assert!(out.contains(token), "{width}: {token} split:\n{out}");
            }
            // URLs give way before anything is squeezed; -o wide keeps them.
            if width < 120 {
                assert!(!out.contains(":2380"), "{width}:\n{out}");
                let wide = members().render(&Layout { width: Some(width), wide: true, no_headers: false });
                assert!(wide.contains("https://10.0.0.1:2380"), "{width}:\n{wide}");
                assert_fits(&wide, width);
            }
        }
        let out = members().render(&at(Some(200)));
        assert!(out.contains("https://etcd-a.internal.demo.k8s.local:2380"), "{out}");
        assert_eq!(out.lines().count(), 1 + 2 + 1, "two URLs of etcd-a on two lines:\n{out}");
    }

    #[test]
    fn no_headers_drops_the_header_line() {
        for width in [None, Some(80)] {
            let out = members().render(&Layout { width, wide: false, no_headers: true });
            assert!(!out.contains("STATE"), "{out}");
            assert!(out.starts_with("8e9e05c52164694d"), "{out}");
        }
    }

    #[test]
    fn a_narrow_terminal_moves_text_below_then_makes_records() {
        let out = members().render(&at(Some(50)));
        assert!(out.lines().any(|l| l.starts_with("    ") && l.contains("member that")), "{out}");
        assert_fits(&out, 50);
        let out = members().render(&at(Some(20)));
        assert!(out.contains("ID   8e9e05c52164694d") || out.contains("ID\n8e9e05c52164694d"), "{out}");
        assert_fits(&out, 20);
    }

    #[test]
    fn rendering_is_linear_in_a_huge_cell() {
        let long = "n".repeat(256 * 1024);
        let words = "word ".repeat(50 * 1024);
        for width in [None, Some(80)] {
            let mut t = members();
            t.row(vec!["1".into(), long.clone(), "u".into(), "up".into(), words.clone()]);
            let start = std::time::Instant::now();
            let out = t.render(&at(width));
            let took = start.elapsed();
            eprintln!("256 KB cell and 250 KB of words at {width:?} columns: {took:?}");
            assert!(took < std::time::Duration::from_secs(2), "{took:?}");
            assert!(out.contains(&long));
            // Other rows are not padded to the huge cell.
            assert!(out.lines().next().is_some_and(|l| l.len() < 1000), "{width:?}");
        }
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut t = Table::new(vec![Column::token("NAME")]);
        t.row(vec!["evil\u{1b}[2Jname\ttab".into()]);
        let out = t.render(&at(None));
        assert!(out.contains("evil?[2Jname tab"), "{out}");
    }

    #[test]
    fn paragraphs_wrap_with_a_hanging_indent_and_never_split_words() {
        let text = "1. [manual] bring voter etcd-c back: https://etcd-c.internal.demo.k8s.local:4001 did not answer";
        let out = para(text, &at(Some(60)), 2, 3);
        assert_fits(&out, 60);
        assert!(out.starts_with("  1. [manual]"), "{out}");
        assert!(out.lines().skip(1).all(|l| l.starts_with("     ")), "{out}");
        assert!(out.contains("https://etcd-c.internal.demo.k8s.local:4001"), "{out}");
        assert_eq!(para(text, &at(None), 2, 3), format!("  {text}\n"));
        // A word wider than the terminal starts at the margin, whole.
        let out = para(text, &at(Some(30)), 2, 3);
        assert!(out.contains("\nhttps://etcd-c.internal.demo.k8s.local:4001\n"), "{out}");
        assert_fits(&out, 30);
    }
}
