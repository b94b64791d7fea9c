//! The data lines of a P1 telegram: `OBIS(…)(…)…` CR LF, found lazily and without allocation
//! (PROTOCOL.md §14.1).
//!
//! A line is an OBIS code followed by one or more value groups. Groups may continue on the next
//! line when that line starts with `(`: the DSMR 2.2/3 gas reading
//! `0-1:24.3.0(…)(…)(…)(m3)` CR LF `(00001.001)` is one [`Line`] with seven groups. A line
//! that is not of this form (`1-0:4:24.7.0(…)`, an unterminated group, a stray byte) is
//! reported as an `Err` item and skipped; the following lines are still found.

use super::value::{obis_prefix, Timestamp, Value};
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::obis::Obis;

/// One data line: its OBIS code and value groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The code as sent; F is 255 unless the line gives it (`1-0:1.8.0*255`).
    pub obis: Obis,
    /// Offset of the line's first byte, relative to the telegram start.
    pub offset: usize,
    /// Number of value groups (at least 1).
    pub group_count: usize,
    raw: &'a [u8],
    groups_at: usize,
}

impl<'a> Line<'a> {
    /// The line as sent, from the OBIS code to the last `)` (a continuation's CR LF included).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The OBIS code as sent (`b"1-0:1.8.0"`).
    pub fn obis_text(&self) -> &'a [u8] {
        self.raw.get(..self.groups_at).unwrap_or(&[])
    }

    /// The value groups in order.
    pub fn groups(&self) -> Groups<'a> {
        Groups {
            s: self.raw,
            pos: self.groups_at,
            base: self.offset,
        }
    }

    /// Group `i` (0-based).
    pub fn group(&self, i: usize) -> Option<Group<'a>> {
        self.groups().nth(i)
    }

    /// The typed value of the first group (the only one on most lines).
    pub fn value(&self) -> Option<Value<'a>> {
        self.groups().next().map(|g| g.value())
    }
}

/// One value group: the text between `(` and `)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Group<'a> {
    /// The bytes between the parentheses, as sent.
    pub raw: &'a [u8],
    /// Offset of those bytes (after the `(`), relative to the telegram start.
    pub offset: usize,
}

impl<'a> Group<'a> {
    /// The group typed by its text ([`Value::of`]).
    pub fn value(&self) -> Value<'a> {
        Value::of(self.raw)
    }

    /// The group as a timestamp, accepting the bare `YYMMDDhhmmss` form of DSMR 2.2/3 too.
    pub fn timestamp(&self) -> Option<Timestamp> {
        Timestamp::parse(self.raw)
    }
}

/// Iterator over a line's value groups.
#[derive(Debug, Clone)]
pub struct Groups<'a> {
    s: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Iterator for Groups<'a> {
    type Item = Group<'a>;

    fn next(&mut self) -> Option<Group<'a>> {
        // The line was validated by `Lines`; between groups there is at most a line end.
        let rest = self.s.get(self.pos..)?;
        let skip = rest.iter().position(|&b| b != b'\r' && b != b'\n')?;
        let open = self.pos + skip;
        if self.s.get(open) != Some(&b'(') {
            self.pos = self.s.len();
            return None;
        }
        let close = super::scan::group_end(self.s, open + 1);
        if self.s.get(close) != Some(&b')') {
            self.pos = self.s.len();
            return None;
        }
        self.pos = close + 1;
        Some(Group {
            raw: self.s.get(open + 1..close)?,
            offset: self.base + open + 1,
        })
    }
}

impl core::iter::FusedIterator for Groups<'_> {}

/// Iterator over the data lines of a telegram; malformed lines come as `Err` and are skipped.
///
/// Errors are [`Layer::P1`] `Malformed` with the offset (relative to the telegram start) of the
/// offending byte.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Lines<'a> {
    /// Lines of `data` (the bytes between the header line and `!`), which starts `base` bytes
    /// into the telegram.
    pub(crate) fn new(data: &'a [u8], base: usize) -> Self {
        Lines { data, pos: 0, base }
    }

    /// A malformed-line error at `at` (relative to `data`); the iterator resumes after the
    /// next line feed.
    #[cold]
    #[inline(never)]
    fn fail(&mut self, at: usize, what: &'static str) -> Option<Result<Line<'a>>> {
        let rest = self.data.get(at..).unwrap_or(&[]);
        self.pos = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) => at + lf + 1,
            None => self.data.len(),
        };
        Some(Err(Error::new(
            Layer::P1,
            self.base + at,
            ErrorKind::Malformed(what),
        )))
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<Line<'a>>;

    fn next(&mut self) -> Option<Result<Line<'a>>> {
        let data = self.data;
        let rest = data.get(self.pos..)?;
        let start = self.pos + rest.iter().position(|&b| b != b'\r' && b != b'\n')?;
        let line = data.get(start..).unwrap_or(&[]);
        let Some((obis, obis_len)) = obis_prefix(line) else {
            return self.fail(
                start,
                "expected an OBIS code A-B:C.D.E at the start of a line",
            );
        };
        let mut i = start + obis_len;
        if data.get(i) != Some(&b'(') {
            return self.fail(i, "expected '(' after the OBIS code");
        }
        let mut groups = 0usize;
        loop {
            // data[i] == '('
            let close = super::scan::group_end(data, i + 1);
            match data.get(close) {
                Some(b')') => {}
                Some(_) => return self.fail(close, "value group not closed by ')'"),
                None => return self.fail(close, "value group not closed before '!'"),
            }
            groups += 1;
            i = close + 1;
            let le = match (data.get(i), data.get(i + 1)) {
                (Some(b'('), _) => continue,
                (None, _) => 0,
                (Some(b'\n'), _) => 1,
                (Some(b'\r'), Some(b'\n')) => 2,
                _ => return self.fail(i, "expected '(' or a line end after ')'"),
            };
            if le > 0 && data.get(i + le) == Some(&b'(') {
                // DSMR 2.2/3: the value continues on the next line.
                i += le;
                continue;
            }
            self.pos = i + le;
            break;
        }
        Some(Ok(Line {
            obis,
            offset: self.base + start,
            group_count: groups,
            raw: data.get(start..i).unwrap_or(&[]),
            groups_at: obis_len,
        }))
    }
}

impl core::iter::FusedIterator for Lines<'_> {}
