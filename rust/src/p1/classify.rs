//! Telegram boundaries for a stream splitter (PROTOCOL.md §14.1, §16.1).
//!
//! A candidate starts at a `/`. It is a P1 telegram when the header line is `/` + 3 letters +
//! one more character + ident text, and ends after the first `!`, up to 4 hex CRC digits and
//! a line end:
//!
//! * `!` + 4 hex digits: the telegram ends after the digits, or after a CR LF / LF that
//!   directly follows them (devices that stop after the CRC, or put a NUL before the CR LF,
//!   leave those bytes to the splitter as garbage);
//! * `!` + 0–3 hex digits (no CRC, or one without leading zeros such as `!B9F`): a line end
//!   (CR LF or LF) must follow.
//!
//! Decisions depend only on the bytes, never on how the stream was chunked: every answer other
//! than [`P1Candidate::NeedMore`] for a prefix of a buffer is also the answer for the whole
//! buffer. Bytes a P1 telegram cannot contain (controls other than CR, LF — and 0x02 in the
//! header line, which Iskra sends — and everything above 0x7E) reject the candidate as soon as
//! they are seen, so a `/` inside binary data costs one or two bytes. A second `/` before the
//! `!` means a new telegram started and the current one was cut: it is a
//! [`P1Candidate::Bad`] boundary there, so the next telegram is not lost.

use super::{crc16_arc, CrcStatus};
use crate::error::{CheckField, Error, ErrorKind, Layer};

/// Longest header line accepted, in bytes (`/`, flag, baud character and ident, without the
/// line end). IEC 62056-21 allows 16 ident characters plus escape sequences; observed headers
/// are at most 21 bytes.
pub const MAX_HEADER: usize = 80;

/// A `max_len` for [`classify`] (PROTOCOL.md §16.1 suggests 8 KiB): observed telegrams are at
/// most about 1.5 KiB; a 1024-character text message (2048 hex digits) and long M-Bus or
/// demand-history lines fit with room to spare.
pub const DEFAULT_MAX_LEN: usize = 8192;

/// What the bytes at a `/` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P1Candidate {
    /// Not decidable yet: the buffer ends before the telegram does.
    NeedMore,
    /// Not a P1 telegram: the header is not `/` + 3 letters + one more character, or a byte no
    /// P1 telegram contains appeared. The splitter skips the `/` and hunts on.
    NotATelegram,
    /// A complete telegram of `len` bytes (from `/` through the line end after `!` and CRC)
    /// whose CRC is correct or absent. Parse `&buf[..len]` with [`parse`](super::parse).
    Telegram {
        /// Bytes from `/` through the end of the telegram.
        len: usize,
        /// [`CrcStatus::Checked`] or [`CrcStatus::Unchecked`].
        crc: CrcStatus,
    },
    /// A telegram boundary around bytes that are not a valid telegram: a CRC mismatch
    /// (`Checksum` with [`CheckField::P1Crc`]), a telegram longer than `max_len`, one cut by a
    /// new `/`, a malformed CRC line, or (at the end of the stream) a truncated one. The
    /// splitter skips `span` bytes; the error's offset is relative to the `/`.
    Bad {
        /// What is wrong.
        error: Error,
        /// Bytes the candidate covers (≥ 1).
        span: usize,
    },
}

/// Scanner state: what the next byte must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the `/`.
    Start,
    /// After `/` and this many flag letters (0..=2).
    Flag(u8),
    /// At the character after the 3 flag letters (baud-rate id).
    Baud,
    /// In the ident text of the header line.
    Ident,
    /// After the header line's CR.
    HeaderCr,
    /// In the data lines.
    Body,
    /// After `!` and `digits` CRC digits.
    Crc { digits: u8, value: u16 },
    /// After `!`, the CRC digits and a CR.
    CrcCr { digits: u8, value: u16 },
}

/// A resumable [`classify`]: feed it the same candidate again and again as it grows and it
/// scans each byte once (the free function rescans from the `/` on every call).
///
/// Every call must pass a buffer that starts with the bytes of the previous call's buffer;
/// after a decision other than `NeedMore` (or for a new candidate) call
/// [`reset`](Self::reset). A buffer shorter than what was scanned restarts the scan.
#[derive(Debug, Clone)]
pub struct P1Scanner {
    state: State,
    pos: usize,
    bang: usize,
}

impl Default for P1Scanner {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes allowed in the header after the flag: printable ASCII except `!` and `/`, and 0x02.
#[inline]
fn header_byte(b: u8) -> bool {
    matches!(b, 0x02 | b' ' | b'"'..=b'.' | b'0'..=b'~')
}

impl P1Scanner {
    /// A scanner at the start of a candidate.
    pub const fn new() -> Self {
        P1Scanner {
            state: State::Start,
            pos: 0,
            bang: 0,
        }
    }

    /// Forgets the scanned bytes (for a new candidate).
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Classifies `buf`, which starts at a `/`, resuming where the last call stopped.
    /// See [`classify`].
    pub fn classify(&mut self, buf: &[u8], max_len: usize) -> P1Candidate {
        if self.pos > buf.len() {
            self.reset();
        }
        while let Some(&b) = buf.get(self.pos) {
            let i = self.pos;
            if i >= max_len {
                return too_long(max_len);
            }
            match self.state {
                State::Start => {
                    if b != b'/' {
                        return P1Candidate::NotATelegram;
                    }
                    self.state = State::Flag(0);
                }
                State::Flag(n) => {
                    if !b.is_ascii_alphabetic() {
                        return P1Candidate::NotATelegram;
                    }
                    self.state = if n >= 2 {
                        State::Baud
                    } else {
                        State::Flag(n + 1)
                    };
                }
                State::Baud => {
                    if !header_byte(b) || b == 0x02 {
                        return P1Candidate::NotATelegram;
                    }
                    self.state = State::Ident;
                }
                State::Ident => match b {
                    b'\r' => self.state = State::HeaderCr,
                    b'\n' => self.state = State::Body,
                    _ if header_byte(b) && i < MAX_HEADER => {}
                    _ => return P1Candidate::NotATelegram,
                },
                State::HeaderCr => {
                    if b != b'\n' {
                        return P1Candidate::NotATelegram;
                    }
                    self.state = State::Body;
                }
                State::Body => {
                    let limit = max_len.min(buf.len());
                    let k = super::scan::body_special_at(buf.get(..limit).unwrap_or(&[]), i);
                    self.pos = k;
                    match buf.get(k) {
                        _ if k >= limit => continue,
                        Some(b'!') => {
                            self.bang = k;
                            self.state = State::Crc {
                                digits: 0,
                                value: 0,
                            };
                        }
                        Some(b'/') => {
                            return bad(
                                k,
                                k,
                                ErrorKind::Malformed("a new '/' before the closing '!'"),
                            )
                        }
                        _ => return P1Candidate::NotATelegram,
                    }
                }
                State::Crc { digits, value } => match (b, super::value::hex_digit(b)) {
                    (_, Some(d)) if digits < 4 => {
                        self.state = State::Crc {
                            digits: digits + 1,
                            value: (value << 4) | u16::from(d),
                        };
                    }
                    (b'\n', _) => return self.complete(buf, i + 1, digits, value),
                    (b'\r', _) => self.state = State::CrcCr { digits, value },
                    _ if digits == 4 => return self.complete(buf, i, digits, value),
                    _ => {
                        return bad(
                            i,
                            i,
                            ErrorKind::Malformed("expected CRC hex digits or CR LF after '!'"),
                        )
                    }
                },
                State::CrcCr { digits, value } => {
                    if b == b'\n' {
                        return self.complete(buf, i + 1, digits, value);
                    }
                    if digits == 4 {
                        return self.complete(buf, i.saturating_sub(1), digits, value);
                    }
                    return bad(i, i, ErrorKind::Malformed("CR without LF after '!'"));
                }
            }
            self.pos += 1;
        }
        P1Candidate::NeedMore
    }

    /// Like [`classify`](Self::classify), for the end of the stream: no more bytes will come,
    /// so an unterminated candidate is a `Bad` `Truncated` boundary and a telegram that ends
    /// with `!` and 4 CRC digits (no line end) is complete. Never returns `NeedMore`.
    pub fn classify_last(&mut self, buf: &[u8], max_len: usize) -> P1Candidate {
        match self.classify(buf, max_len) {
            P1Candidate::NeedMore => {}
            decided => return decided,
        }
        let n = buf.len();
        match self.state {
            State::Start => P1Candidate::NotATelegram,
            State::Crc { digits: 4, value } => self.complete(buf, n, 4, value),
            State::CrcCr { digits: 4, value } => self.complete(buf, n.saturating_sub(1), 4, value),
            _ => bad(
                n,
                n,
                ErrorKind::Truncated {
                    needed: 1,
                    available: 0,
                },
            ),
        }
    }

    /// The telegram ends at `len`; checks the CRC over `/` .. `!`.
    fn complete(&self, buf: &[u8], len: usize, digits: u8, found: u16) -> P1Candidate {
        if digits == 0 {
            return P1Candidate::Telegram {
                len,
                crc: CrcStatus::Unchecked,
            };
        }
        let computed = crc16_arc(buf.get(..=self.bang).unwrap_or(&[]));
        if computed == found {
            P1Candidate::Telegram {
                len,
                crc: CrcStatus::Checked(found),
            }
        } else {
            bad(
                self.bang + 1,
                len,
                ErrorKind::Checksum {
                    field: CheckField::P1Crc,
                    expected: computed,
                    found,
                },
            )
        }
    }
}

/// A `Bad` boundary.
fn bad(offset: usize, span: usize, kind: ErrorKind) -> P1Candidate {
    P1Candidate::Bad {
        error: Error::new(Layer::P1, offset, kind),
        span: span.max(1),
    }
}

/// The candidate reached `max_len` bytes without ending.
fn too_long(max_len: usize) -> P1Candidate {
    bad(
        max_len,
        max_len,
        ErrorKind::Malformed("telegram longer than max_len"),
    )
}

/// Classifies the bytes at a `/` for a stream splitter: [`P1Candidate::NeedMore`] until the
/// telegram's end (or a reason to reject it) is in `buf`. A telegram (with its line end) must
/// fit in `max_len` bytes (see [`DEFAULT_MAX_LEN`]). The work is bounded by
/// `min(buf.len(), max_len)`; a CRC is computed once, when the end is found.
///
/// ```
/// use hanport::p1::{classify, P1Candidate};
/// let t = b"/ABC5 x\r\n\r\n1-0:1.8.0(1)\r\n!\r\n";
/// assert!(matches!(classify(t, 8192), P1Candidate::Telegram { len: 28, .. }));
/// assert_eq!(classify(&t[..20], 8192), P1Candidate::NeedMore);
/// assert_eq!(classify(b"/\x00\x81", 8192), P1Candidate::NotATelegram);
/// ```
pub fn classify(buf: &[u8], max_len: usize) -> P1Candidate {
    P1Scanner::new().classify(buf, max_len)
}

/// [`classify`] at the end of a stream (`last = true`): never `NeedMore`; an unterminated
/// candidate is `Bad` with [`ErrorKind::Truncated`].
pub fn classify_last(buf: &[u8], max_len: usize) -> P1Candidate {
    P1Scanner::new().classify_last(buf, max_len)
}
