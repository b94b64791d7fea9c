//! Resumable, length-driven HDLC stream splitter (PROTOCOL.md §2.3, §16.1, Appendix B.1).
//!
//! Feed it chunks of any size, split anywhere. It hands back every complete frame that passes
//! its checks (format, addresses, length, HCS, closing flag, FCS) with its absolute stream
//! offset, and an [`ErrorRecord`] for everything it skipped. A rejected candidate costs one
//! byte: the hunt restarts one byte after the rejected opening flag, so a good frame hidden
//! behind a false start is never lost. The closing flag of an accepted frame may open the next
//! one, and runs of idle flags are ignored.
//!
//! Decisions depend only on the bytes, never on where a chunk boundary fell, so any chunking
//! of a stream yields the same frames and records as feeding it whole (followed by
//! [`FrameSplitter::finish`]). The buffer holds at most one incomplete candidate
//! (< 2 KiB plus the bytes of one chunk being bridged), so memory is bounded.

#[cfg(not(feature = "std"))]
use alloc::vec::Vec;

use super::frame::{check_fcs, Header, FLAG};
use crate::error::{Error, ErrorKind, Layer};

/// Largest number of buffered bytes appended at once to complete a pending candidate before
/// the splitter switches back to scanning the caller's chunk in place.
const BRIDGE: usize = 4096;

/// Counters kept by the splitter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes fed.
    pub bytes_in: u64,
    /// Frames accepted.
    pub frames_ok: u64,
    /// Candidates rejected for a bad HCS or FCS.
    pub frames_bad_checksum: u64,
    /// Candidates rejected for anything else (length, address, missing closing flag,
    /// truncated at the end of the stream).
    pub frames_malformed: u64,
    /// Bytes that are part of no accepted frame and are not idle flags.
    pub bytes_skipped: u64,
}

/// What the splitter skipped and why: one record per rejected candidate, one per run of
/// garbage outside every candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorRecord {
    /// Absolute stream offset of the first byte concerned (the opening flag of a candidate).
    pub offset: u64,
    /// Bytes concerned: a candidate's claimed size including both flags (clipped to what the
    /// stream held), or the length of a garbage run.
    pub length: u64,
    /// The error; its `offset` is relative to `self.offset` (e.g. where the FCS sits).
    pub error: Error,
}

impl ErrorRecord {
    /// Layer name (`"hdlc"`, `"stream"`).
    pub fn layer(&self) -> &'static str {
        self.error.layer.name()
    }

    /// Stable kind name (`"bad_fcs"`, `"garbage"`, ...).
    pub fn kind(&self) -> &'static str {
        self.error.kind_name()
    }
}

#[cfg(feature = "std")]
impl core::fmt::Display for ErrorRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let at = self.offset.saturating_add(self.error.offset as u64);
        let mut e = self.error;
        e.offset = usize::try_from(at).unwrap_or(usize::MAX);
        write!(
            f,
            "{e} (record at stream offset {}, {} bytes)",
            self.offset, self.length
        )
    }
}

/// A frame found in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpan<'a> {
    /// Absolute stream offset of the opening flag.
    pub offset: u64,
    /// The frame with both flags (`7E … 7E`).
    pub bytes: &'a [u8],
    /// Its checked header.
    pub header: Header,
}

impl<'a> FrameSpan<'a> {
    /// The bytes between the flags.
    pub fn inner(&self) -> &'a [u8] {
        self.bytes
            .get(1..self.bytes.len().saturating_sub(1))
            .unwrap_or(&[])
    }

    /// The information field.
    pub fn information(&self) -> &'a [u8] {
        let inner = self.inner();
        inner
            .get(self.header.info_offset()..inner.len().saturating_sub(2))
            .unwrap_or(&[])
    }
}

/// Link protocols other than HDLC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// A wired M-Bus long frame (`68 L L 68 … CS 16`; EN 13757-2), checksum and stop byte
    /// checked.
    Mbus,
    /// A DSMR/P1 ASCII telegram (`/` … `!CRC`), its CRC checked when present.
    P1,
    /// A raw ciphered APDU (`DB`/`DC` with an 8-byte system title), delimited by its length.
    Apdu,
}

/// A frame of another link protocol found in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSpan<'a> {
    /// Absolute stream offset of its first byte.
    pub offset: u64,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// The protocol.
    pub kind: LinkKind,
}

/// Which link protocols a splitter looks for besides HDLC (which it always recognises).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Protocols {
    /// M-Bus long frames.
    pub mbus: bool,
    /// DSMR/P1 telegrams.
    pub p1: bool,
    /// Raw ciphered APDUs.
    pub apdu: bool,
}

impl Protocols {
    /// HDLC only.
    pub const HDLC: Protocols = Protocols {
        mbus: false,
        p1: false,
        apdu: false,
    };
    /// Every protocol hanport decodes.
    pub const ALL: Protocols = Protocols {
        mbus: true,
        p1: true,
        apdu: true,
    };
}

/// Longest raw ciphered APDU accepted (a Luxembourg frame is 647 bytes).
pub const MAX_RAW_APDU: usize = 4096;
/// Longest P1 telegram accepted (DSMR 5 telegrams are about 1 KB; text messages add 2 KB).
pub const MAX_P1: usize = 8192;

/// An event of the splitter, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A valid HDLC frame.
    Frame(FrameSpan<'a>),
    /// A valid frame of another link protocol (only with [`FrameSplitter::with_protocols`]).
    Link(LinkSpan<'a>),
    /// Something was skipped.
    Error(ErrorRecord),
}

enum Candidate {
    /// Not enough bytes to decide.
    NeedMore { needed: usize },
    /// `7E 7E`: an idle (or shared) flag.
    Idle,
    /// A flag followed by something that is not an HDLC format field.
    NotAFrame,
    /// A valid frame of `len` bytes between the flags.
    Good(Header, usize),
    /// A rejected candidate; `span` is the claimed size including both flags.
    Bad(Error, usize),
}

/// Length-driven HDLC splitter over a byte stream. See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct FrameSplitter {
    buf: Vec<u8>,
    /// Absolute stream offset of `buf[0]` (or of the next byte, when `buf` is empty).
    base: u64,
    stats: Stats,
    /// Unreported garbage run `[start, end)`.
    garbage: Option<(u64, u64)>,
    /// Whether every byte of the garbage run is a CR or LF (with P1 on: the empty line some
    /// P1 modules send before each telegram, which is no garbage when a telegram follows).
    garbage_is_fill: bool,
    /// End of the claimed span of the last rejected candidate: skipped bytes before it are
    /// already explained by that candidate's record.
    covered_until: u64,
    /// Offset of the closing flag of the last accepted frame.
    closing_flag_at: Option<u64>,
    /// Offset of a flag that follows another flag (an idle run).
    idle_flag_at: Option<u64>,
    /// Longest frame accepted (bytes between the flags); 0 means the format's maximum.
    max_frame_length: u16,
    /// Protocols recognised besides HDLC.
    protocols: Protocols,
}

impl FrameSplitter {
    /// A splitter at stream offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A splitter that rejects (as `bad_length`) every candidate claiming more than
    /// `max_frame_length` bytes between its flags, so it never buffers more than that; values
    /// outside 7..=2047 are clamped.
    pub fn with_max_frame_length(max_frame_length: u16) -> Self {
        FrameSplitter {
            max_frame_length: max_frame_length
                .clamp(super::frame::MIN_FRAME_LEN, super::frame::MAX_FRAME_LEN),
            ..Self::default()
        }
    }

    /// A splitter that also recognises the given other link protocols in the same stream.
    pub fn with_protocols(max_frame_length: u16, protocols: Protocols) -> Self {
        FrameSplitter {
            protocols,
            ..Self::with_max_frame_length(max_frame_length)
        }
    }

    /// The protocols recognised besides HDLC.
    pub fn protocols(&self) -> Protocols {
        self.protocols
    }

    /// Whether `b` may start a frame of a recognised protocol.
    #[inline]
    fn is_start(&self, b: u8) -> bool {
        match b {
            FLAG => true,
            0x68 => self.protocols.mbus,
            b'/' => self.protocols.p1,
            0xDB | 0xDC => self.protocols.apdu,
            _ => false,
        }
    }

    /// The longest frame accepted (bytes between the flags).
    pub fn max_frame_length(&self) -> u16 {
        if self.max_frame_length == 0 {
            super::frame::MAX_FRAME_LEN
        } else {
            self.max_frame_length
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Absolute offset of the next byte to be fed.
    pub fn position(&self) -> u64 {
        self.stats.bytes_in
    }

    /// Bytes held back because they may be the start of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Feeds a chunk; calls `sink` for every frame and error record it completes, in order.
    pub fn push<F: FnMut(Event<'_>)>(&mut self, chunk: &[u8], mut sink: F) {
        self.stats.bytes_in += chunk.len() as u64;
        let mut rest = chunk;
        // Bridge a pending partial candidate with the start of this chunk.
        while !self.buf.is_empty() && !rest.is_empty() {
            let take = rest.len().min(BRIDGE);
            let (head, tail) = rest.split_at(take);
            let old_len = self.buf.len();
            self.buf.extend_from_slice(head);
            let buf = core::mem::take(&mut self.buf);
            let consumed = self.scan(&buf, false, &mut sink);
            self.buf = buf;
            if consumed >= old_len {
                // Everything that was buffered before is resolved: continue in place from the
                // first unconsumed byte of this chunk.
                let from = consumed - old_len;
                self.buf.clear();
                self.base += consumed as u64;
                rest = chunk.get(chunk.len() - rest.len() + from..).unwrap_or(&[]);
                break;
            }
            self.buf.drain(..consumed);
            self.base += consumed as u64;
            rest = tail;
        }
        if self.buf.is_empty() && !rest.is_empty() {
            let consumed = self.scan(rest, false, &mut sink);
            self.base += consumed as u64;
            self.buf
                .extend_from_slice(rest.get(consumed..).unwrap_or(&[]));
        }
    }

    /// Ends the stream: whatever is still buffered is resolved (frames that complete within it
    /// are returned, an unfinished candidate becomes a `truncated` record, trailing garbage is
    /// reported). The splitter can be fed again afterwards; offsets continue.
    pub fn finish<F: FnMut(Event<'_>)>(&mut self, mut sink: F) {
        let buf = core::mem::take(&mut self.buf);
        let consumed = self.scan(&buf, true, &mut sink);
        self.base += consumed as u64;
        let end = self.base;
        self.flush_garbage(end, &mut sink);
        self.buf = buf;
        self.buf.clear();
    }

    /// Convenience: splits a complete byte string, returning frames' offsets and records.
    #[cfg(feature = "std")]
    pub fn split_all(data: &[u8]) -> (Vec<(u64, usize)>, Vec<ErrorRecord>, Stats) {
        let mut s = FrameSplitter::new();
        let mut frames = Vec::new();
        let mut errors = Vec::new();
        let mut on = |e: Event<'_>| match e {
            Event::Frame(f) => frames.push((f.offset, f.bytes.len())),
            Event::Link(l) => frames.push((l.offset, l.bytes.len())),
            Event::Error(r) => errors.push(r),
        };
        s.push(data, &mut on);
        s.finish(&mut on);
        (frames, errors, s.stats)
    }

    /// Scans `data` (which starts at `self.base`) and returns how many bytes are resolved.
    fn scan<F: FnMut(Event<'_>)>(&mut self, data: &[u8], last: bool, sink: &mut F) -> usize {
        let base = self.base;
        let mut i = 0usize;
        while i < data.len() {
            let tail = data.get(i..).unwrap_or(&[]);
            let Some(&first) = tail.first() else {
                break;
            };
            if first != FLAG {
                if self.is_start(first) {
                    match self.link(tail, base + i as u64, last, sink) {
                        Some(n) => {
                            i += n;
                            continue;
                        }
                        None => return i,
                    }
                }
                let j = if self.protocols == Protocols::HDLC {
                    memchr::memchr(FLAG, tail)
                } else {
                    tail.iter().position(|&b| self.is_start(b))
                }
                .map_or(data.len(), |k| i + k);
                // line fill or not is a matter of the bytes that become garbage: those past a
                // rejected candidate's span (judging the whole run made the answer depend on
                // where the stream was cut)
                let covered = usize::try_from(self.covered_until.saturating_sub(base + i as u64))
                    .unwrap_or(usize::MAX);
                let run = data.get(i..j).unwrap_or(&[]);
                let fresh = run.get(covered..).unwrap_or(&[]);
                let fill = self.protocols.p1 && fresh.iter().all(|&b| b == b'\r' || b == b'\n');
                self.skip_run(base + i as u64, base + j as u64, fill, sink);
                i = j;
                continue;
            }
            let at = base + i as u64;
            match classify(tail, self.max_frame_length()) {
                Candidate::NeedMore { .. } if tail.len() < 2 && last => {
                    // a lone flag at the very end opens nothing
                    if self.closing_flag_at != Some(at) && self.idle_flag_at != Some(at) {
                        self.skip(at, at + 1, sink);
                    }
                    i += 1;
                }
                Candidate::NeedMore { needed } => {
                    if !last {
                        return i;
                    }
                    let err = Error::new(
                        Layer::Hdlc,
                        0,
                        ErrorKind::Truncated {
                            needed,
                            available: tail.len(),
                        },
                    );
                    self.reject(at, tail.len(), err, sink);
                    i += 1;
                }
                Candidate::Idle => {
                    self.flush_garbage(at, sink);
                    // the next flag belongs to the same idle run: not garbage if it opens nothing
                    self.idle_flag_at = Some(at + 1);
                    i += 1;
                }
                Candidate::NotAFrame => {
                    if self.closing_flag_at != Some(at) && self.idle_flag_at != Some(at) {
                        self.skip(at, at + 1, sink);
                    }
                    i += 1;
                }
                Candidate::Good(header, len) => {
                    self.flush_garbage(at, sink);
                    let bytes = tail.get(..len + 2).unwrap_or(&[]);
                    self.stats.frames_ok += 1;
                    sink(Event::Frame(FrameSpan {
                        offset: at,
                        bytes,
                        header,
                    }));
                    // keep the closing flag: it may open the next frame
                    i += len + 1;
                    self.closing_flag_at = Some(base + i as u64);
                    if data.get(i + 1) == Some(&FLAG) {
                        // the closing flag followed by a flag: what `Candidate::Idle` would do
                        // on the next turn (no garbage is pending: it was flushed above)
                        self.idle_flag_at = Some(base + i as u64 + 1);
                        i += 1;
                    }
                }
                Candidate::Bad(err, span) => {
                    self.reject(at, span.min(tail.len()), err, sink);
                    i += 1;
                }
            }
        }
        data.len()
    }

    /// A candidate of another protocol at `tail[0]` (stream offset `at`): how many bytes are
    /// resolved, or `None` to wait for more.
    fn link<F: FnMut(Event<'_>)>(
        &mut self,
        tail: &[u8],
        at: u64,
        last: bool,
        sink: &mut F,
    ) -> Option<usize> {
        let decision = match tail.first() {
            // at the end of the stream, a start that is not even `68 L L 68` (or `/` and a
            // 4-character header) opened nothing: garbage, as a lone HDLC flag is
            Some(0x68) if last && tail.len() < 4 => LinkDecision::NotAFrame,
            Some(b'/') if last && tail.len() < 5 => LinkDecision::NotAFrame,
            Some(0x68) => match if last {
                crate::mbus::classify_final(tail)
            } else {
                crate::mbus::classify(tail)
            } {
                crate::mbus::MbusCandidate::NeedMore { .. } => LinkDecision::NeedMore,
                crate::mbus::MbusCandidate::NotAFrame => LinkDecision::NotAFrame,
                crate::mbus::MbusCandidate::Frame { len } => {
                    LinkDecision::Frame(LinkKind::Mbus, len)
                }
                crate::mbus::MbusCandidate::Bad { error, span } => LinkDecision::Bad(error, span),
            },
            Some(b'/') => match if last {
                crate::p1::classify_last(tail, MAX_P1)
            } else {
                crate::p1::classify(tail, MAX_P1)
            } {
                crate::p1::P1Candidate::NeedMore => LinkDecision::NeedMore,
                crate::p1::P1Candidate::NotATelegram => LinkDecision::NotAFrame,
                crate::p1::P1Candidate::Telegram { len, .. } => {
                    LinkDecision::Frame(LinkKind::P1, len)
                }
                crate::p1::P1Candidate::Bad { error, span } => LinkDecision::Bad(error, span),
            },
            Some(0xDB | 0xDC) => {
                match raw_apdu(tail, at < self.covered_until, last) {
                    // it has no checksum: an HDLC frame starting inside it wins
                    LinkDecision::Frame(kind, n) => {
                        match hdlc_inside(tail, n, self.max_frame_length(), last) {
                            None => LinkDecision::NeedMore,
                            Some(true) => LinkDecision::NotAFrame,
                            Some(false) => LinkDecision::Frame(kind, n),
                        }
                    }
                    d => d,
                }
            }
            _ => LinkDecision::NotAFrame,
        };
        match decision {
            LinkDecision::NeedMore => None,
            LinkDecision::NotAFrame => {
                self.skip(at, at + 1, sink);
                Some(1)
            }
            LinkDecision::Frame(kind, len) => {
                if kind == LinkKind::P1 {
                    self.drop_fill_before(at);
                }
                self.flush_garbage(at, sink);
                self.stats.frames_ok += 1;
                sink(Event::Link(LinkSpan {
                    offset: at,
                    bytes: tail.get(..len).unwrap_or(&[]),
                    kind,
                }));
                Some(len.max(1))
            }
            LinkDecision::Bad(err, span) => {
                let span = span.clamp(1, tail.len().max(1));
                // a rejected candidate costs one byte, as for HDLC
                self.reject(at, span, err, sink);
                Some(1)
            }
        }
    }

    fn reject<F: FnMut(Event<'_>)>(&mut self, at: u64, span: usize, err: Error, sink: &mut F) {
        self.flush_garbage(at, sink);
        match err.kind {
            ErrorKind::Checksum { .. } => self.stats.frames_bad_checksum += 1,
            _ => self.stats.frames_malformed += 1,
        }
        sink(Event::Error(ErrorRecord {
            offset: at,
            length: span as u64,
            error: err,
        }));
        self.covered_until = self.covered_until.max(at + span as u64);
        // The opening flag itself is skipped unless it closed the previous frame.
        if self.closing_flag_at != Some(at) {
            self.stats.bytes_skipped += 1;
        }
    }

    /// Marks `[from, to)` as skipped; the part not explained by a rejected candidate joins the
    /// current garbage run.
    fn skip<F: FnMut(Event<'_>)>(&mut self, from: u64, to: u64, sink: &mut F) {
        self.skip_run(from, to, false, sink);
    }

    /// [`skip`](Self::skip) of a run that is all CR/LF (`fill`) or not.
    fn skip_run<F: FnMut(Event<'_>)>(&mut self, from: u64, to: u64, fill: bool, sink: &mut F) {
        self.stats.bytes_skipped += to - from;
        let start = from.max(self.covered_until);
        if start >= to {
            return;
        }
        match self.garbage {
            Some((s, e)) if e == start => {
                self.garbage = Some((s, to));
                self.garbage_is_fill &= fill;
            }
            _ => {
                self.flush_garbage(start, sink);
                self.garbage = Some((start, to));
                self.garbage_is_fill = fill;
            }
        }
    }

    /// Forgets a garbage run of CR/LF bytes that ends where a P1 telegram starts (`at`): line
    /// fill, not skipped data (as idle HDLC flags are not).
    fn drop_fill_before(&mut self, at: u64) {
        if let Some((s, e)) = self.garbage {
            if self.garbage_is_fill && e == at {
                self.garbage = None;
                self.stats.bytes_skipped = self.stats.bytes_skipped.saturating_sub(e - s);
            }
        }
    }

    fn flush_garbage<F: FnMut(Event<'_>)>(&mut self, _at: u64, sink: &mut F) {
        if let Some((s, e)) = self.garbage.take() {
            sink(Event::Error(ErrorRecord {
                offset: s,
                length: e - s,
                error: Error::new(Layer::Stream, 0, ErrorKind::Garbage),
            }));
        }
    }
}

/// What a splitter does with a candidate of another link protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDecision {
    /// Wait for more bytes (never answered at the end of the stream).
    NeedMore,
    /// Not a frame start: the byte is skipped (garbage).
    NotAFrame,
    /// A valid frame of this many bytes.
    Frame(LinkKind, usize),
    /// A rejected candidate claiming `span` bytes (the hunt restarts one byte later).
    Bad(Error, usize),
}

/// A raw ciphered APDU candidate (`DB`/`DC`, an 8-byte system title, an A-XDR length). It has
/// no checksum of its own, so it is not looked for inside the claimed span of a rejected HDLC
/// candidate (`inside_rejected`): a damaged HDLC frame must not yield its payload anyway.
fn raw_apdu(tail: &[u8], inside_rejected: bool, last: bool) -> LinkDecision {
    if inside_rejected {
        return LinkDecision::NotAFrame;
    }
    match tail {
        [_] if !last => return LinkDecision::NeedMore,
        [_, 0x08, ..] => {}
        _ => return LinkDecision::NotAFrame,
    }
    // tag, title length, title, A-XDR length (up to 3 bytes) give the frame's size
    let n = match crate::dlms::gbt::announced_len(tail) {
        Some(n) => n,
        None if tail.len() < 13 && !last => return LinkDecision::NeedMore,
        None => return LinkDecision::NotAFrame,
    };
    if n > MAX_RAW_APDU {
        return LinkDecision::NotAFrame;
    }
    match tail.get(..n) {
        None if last => LinkDecision::NotAFrame,
        None => LinkDecision::NeedMore,
        Some(frame) => match crate::dlms::security::CipheredApdu::parse(frame) {
            // security suite 0 or 1, authenticated and/or encrypted, no compression
            Ok((c, used))
                if used == n
                    && matches!(
                        c.security_control.bits() & 0xBF,
                        0x10 | 0x11 | 0x20 | 0x21 | 0x30 | 0x31
                    ) =>
            {
                LinkDecision::Frame(LinkKind::Apdu, n)
            }
            _ => LinkDecision::NotAFrame,
        },
    }
}

/// Whether a valid HDLC frame starts within the first `n` bytes of `tail` (after byte 0);
/// `None` when that cannot be decided yet from the bytes at hand.
fn hdlc_inside(tail: &[u8], n: usize, max_frame_length: u16, last: bool) -> Option<bool> {
    let end = n.min(tail.len());
    let mut i = 1;
    // the flags are found by `memchr` (many bytes at a time): the bytes between them are
    // ciphertext
    while let Some(k) = tail.get(i..end).and_then(|s| memchr::memchr(FLAG, s)) {
        i += k;
        match classify(tail.get(i..).unwrap_or(&[]), max_frame_length) {
            Candidate::Good(..) => return Some(true),
            Candidate::NeedMore { .. } if !last => return None,
            _ => {}
        }
        i += 1;
    }
    Some(false)
}

/// Decides what the flag at `d[0]` starts.
fn classify(d: &[u8], max_frame_length: u16) -> Candidate {
    let Some(&b1) = d.get(1) else {
        return Candidate::NeedMore { needed: 2 };
    };
    if b1 == FLAG {
        return Candidate::Idle;
    }
    if b1 >> 4 != 0xA {
        return Candidate::NotAFrame;
    }
    let inner = d.get(1..).unwrap_or(&[]);
    let claimed = match inner {
        [hi, lo, ..] => (usize::from(hi & 0x07) << 8 | usize::from(*lo)) + 2,
        _ => return Candidate::NeedMore { needed: 3 },
    };
    if claimed > usize::from(max_frame_length) + 2 {
        let length = u16::try_from(claimed - 2).unwrap_or(u16::MAX);
        return Candidate::Bad(
            Error::new(
                Layer::Hdlc,
                1,
                ErrorKind::BadLength {
                    length,
                    minimum: super::frame::MIN_FRAME_LEN,
                },
            ),
            3,
        );
    }
    // borrowed until the frame is accepted: the header is written field by field, and a copy
    // read back at once would wait on those writes (store forwarding fails on them); after
    // the FCS pass they have long left the store buffer
    let parsed = Header::parse(inner);
    let header = match &parsed {
        Ok(h) => h,
        Err(e) => {
            return match e.kind {
                ErrorKind::Truncated { .. } => Candidate::NeedMore { needed: claimed },
                // The header is not credible, so neither is its length: the record covers
                // only the bytes examined up to the failure.
                _ => {
                    let e = e.add_offset(1);
                    Candidate::Bad(e, claimed.min(e.offset + 2))
                }
            };
        }
    };
    let len = usize::from(header.length);
    let Some(&closing) = d.get(len + 1) else {
        return Candidate::NeedMore { needed: len + 2 };
    };
    if closing != FLAG {
        return Candidate::Bad(
            Error::new(
                Layer::Hdlc,
                len + 1,
                ErrorKind::MissingClosingFlag { found: closing },
            ),
            len + 2,
        );
    }
    match check_fcs(inner, len, header.checked_until()) {
        Ok(()) => Candidate::Good(*header, len),
        Err(e) => Candidate::Bad(e.add_offset(1), len + 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdlc::frame::emit;
    use proptest::prelude::*;

    fn frame(n: u8, len: usize) -> Vec<u8> {
        let info: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(n) ^ 0x7E).collect();
        emit(&[0x41], &[0x08, 0x83], 0x13, false, &info)
    }

    type Output = (Vec<(u64, Vec<u8>)>, Vec<ErrorRecord>, Stats);

    /// Feeds `data` to `s` in pieces of the lengths in `cuts` (the rest in one), then finishes.
    fn feed_cut<F: FnMut(Event<'_>)>(
        s: &mut FrameSplitter,
        data: &[u8],
        cuts: &[usize],
        mut on: F,
    ) {
        let mut pos = 0;
        for &c in cuts {
            let end = (pos + c).min(data.len());
            s.push(&data[pos..end], &mut on);
            pos = end;
        }
        s.push(&data[pos..], &mut on);
        s.finish(&mut on);
    }

    fn run_chunked(data: &[u8], cuts: &[usize]) -> Output {
        let mut s = FrameSplitter::new();
        let mut frames = Vec::new();
        let mut errors = Vec::new();
        feed_cut(&mut s, data, cuts, |e| match e {
            Event::Frame(f) => frames.push((f.offset, f.bytes.to_vec())),
            Event::Link(l) => frames.push((l.offset, l.bytes.to_vec())),
            Event::Error(r) => errors.push(r),
        });
        (frames, errors, s.stats())
    }

    #[test]
    fn back_to_back_shared_and_idle_flags() {
        let a = frame(1, 30);
        let b = frame(2, 40);
        let c = frame(3, 10);
        // a, then b sharing a's closing flag, then three idle flags, then c
        let mut s = a.clone();
        s.extend_from_slice(&b[1..]);
        s.extend_from_slice(&[0x7E, 0x7E, 0x7E]);
        s.extend_from_slice(&c);
        let (frames, errors, stats) = run_chunked(&s, &[]);
        assert_eq!(frames.len(), 3, "{errors:?}");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(frames[0].0, 0);
        assert_eq!(frames[1].0, a.len() as u64 - 1);
        assert_eq!(frames[1].1, b);
        assert_eq!(frames[2].1, c);
        assert_eq!(stats.bytes_skipped, 0);
    }

    #[test]
    fn flag_bytes_inside_payload_do_not_split() {
        // Kaifa list 1 with 0x7E inside the value (amshan test vector, 5502 W).
        let f = hex(
            "7ea027010201105a87e6e7000f40000000090c07e4020f06011922ff8000000201060000157eea5e7e",
        );
        let (frames, errors, _) = run_chunked(&f, &[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].1.len(), 41);
    }

    #[test]
    fn garbage_and_false_start_lose_nothing() {
        let a = frame(1, 50);
        let b = frame(2, 60);
        let mut s = vec![0x00, 0x11, 0x7E, 0xA7, 0xFF, 0x22]; // false start claiming 2047 bytes
        s.extend_from_slice(&a);
        s.extend_from_slice(&[0x33, 0x44]);
        s.extend_from_slice(&b);
        s.extend_from_slice(&[0x7E, 0xA0]); // truncated tail
        let (frames, errors, stats) = run_chunked(&s, &[]);
        assert_eq!(frames.len(), 2, "{errors:?}");
        assert_eq!(frames[0].1, a);
        assert_eq!(frames[1].1, b);
        let kinds: Vec<_> = errors.iter().map(|e| (e.offset, e.kind())).collect();
        // false start rejected on its header; the bytes before it are garbage; the ones between
        // the frames are garbage; the tail is truncated.
        assert_eq!(kinds[0], (0, "garbage"));
        assert_eq!(kinds[1], (2, "bad_address"));
        let tail_at = (s.len() - 2) as u64;
        assert!(kinds.contains(&(tail_at, "truncated")), "{kinds:?}");
        assert!(kinds
            .iter()
            .any(|&(o, k)| k == "garbage" && o == 6 + a.len() as u64));
        assert_eq!(stats.frames_ok, 2);
        assert_eq!(
            stats.bytes_skipped,
            (s.len() - a.len() - b.len()) as u64,
            "every byte outside the frames is skipped"
        );
    }

    #[test]
    fn bad_fcs_is_reported_with_offset_and_next_frame_kept() {
        let mut a = frame(1, 80);
        let b = frame(2, 20);
        a[50] ^= 0x01;
        let mut s = a.clone();
        s.extend_from_slice(&b);
        let (frames, errors, stats) = run_chunked(&s, &[]);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].0, a.len() as u64);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].offset, 0);
        assert_eq!(errors[0].kind(), "bad_fcs");
        assert_eq!(errors[0].length, a.len() as u64);
        assert_eq!(errors[0].error.offset, a.len() - 3);
        assert_eq!(stats.frames_bad_checksum, 1);
    }

    #[test]
    fn missing_closing_flag() {
        let mut a = frame(1, 20);
        let last = a.len() - 1;
        a[last] = 0x00;
        let b = frame(2, 20);
        let mut s = a.clone();
        s.extend_from_slice(&b);
        let (frames, errors, _) = run_chunked(&s, &[]);
        assert_eq!(frames.len(), 1);
        assert_eq!(errors[0].kind(), "missing_closing_flag");
    }

    #[test]
    fn one_byte_chunks_equal_whole() {
        let mut s = vec![0x7E, 0x7E, 0x01];
        for n in 0..20u8 {
            let mut f = frame(n, 10 + usize::from(n) * 13);
            if n % 5 == 3 {
                f[12] ^= 0x40;
            }
            s.extend_from_slice(&f);
            s.extend_from_slice(&[0x7E, 0xA1, n]);
        }
        let whole = run_chunked(&s, &[]);
        let ones = run_chunked(&s, &vec![1; s.len()]);
        assert_eq!(whole, ones);
        assert_eq!(whole.0.len(), 16);
    }

    #[test]
    fn a_configured_frame_limit_rejects_longer_frames_early() {
        let small = frame(1, 20);
        let big = frame(2, 300);
        let mut s = small.clone();
        s.extend_from_slice(&big);
        s.extend_from_slice(&small);
        let mut sp = FrameSplitter::with_max_frame_length(100);
        let mut frames = Vec::new();
        let mut errors = Vec::new();
        sp.push(&s[..small.len() + 10], |e| match e {
            Event::Frame(f) => frames.push(f.offset),
            Event::Link(l) => frames.push(l.offset),
            Event::Error(r) => errors.push(r),
        });
        // the long candidate is rejected after its format field, nothing is held back for it
        assert!(sp.pending() < 20, "{}", sp.pending());
        sp.push(&s[small.len() + 10..], |e| match e {
            Event::Frame(f) => frames.push(f.offset),
            Event::Link(l) => frames.push(l.offset),
            Event::Error(r) => errors.push(r),
        });
        sp.finish(|_| {});
        assert_eq!(frames, vec![0, (small.len() + big.len()) as u64]);
        assert_eq!(errors[0].kind(), "bad_length");
        assert_eq!(errors[0].offset, small.len() as u64);
    }

    /// Every event of `data` cut at `cuts` through a splitter of every protocol: (offset,
    /// kind) of each telegram and error, and the skipped byte count.
    fn run_all(data: &[u8], cuts: &[usize]) -> (Vec<(u64, &'static str)>, u64) {
        let mut s =
            FrameSplitter::with_protocols(super::super::frame::MAX_FRAME_LEN, Protocols::ALL);
        let mut out = Vec::new();
        feed_cut(&mut s, data, cuts, |e| match e {
            Event::Frame(f) => out.push((f.offset, "hdlc")),
            Event::Link(l) => out.push((l.offset, "link")),
            Event::Error(r) => out.push((r.offset, r.kind())),
        });
        (out, s.stats.bytes_skipped)
    }

    #[test]
    fn an_empty_line_before_a_p1_telegram_is_line_fill() {
        let t: &[u8] = b"/KAM5\r\n\r\n1-0:1.8.0(00001.000*kWh)\r\n!\r\n";
        // KAM5 modules: an empty line before each telegram, cut anywhere
        let mut s = Vec::new();
        for _ in 0..3 {
            s.extend_from_slice(b"\r\n");
            s.extend_from_slice(t);
        }
        let n = t.len() as u64 + 2;
        let want = vec![(2, "link"), (n + 2, "link"), (2 * n + 2, "link")];
        for cut in [0, 1, 2, 3, 5, 40] {
            let cuts = if cut == 0 {
                vec![]
            } else {
                vec![cut; s.len() / cut + 1]
            };
            assert_eq!(run_all(&s, &cuts), (want.clone(), 0), "cut {cut}");
        }
        // not fill: other bytes in the run, CR/LF before an HDLC frame or at the end
        let mut other = b"\r\nX\r\n".to_vec();
        other.extend_from_slice(t);
        assert_eq!(run_all(&other, &[]), (vec![(0, "garbage"), (5, "link")], 5));
        let mut hdlc = b"\r\n".to_vec();
        hdlc.extend_from_slice(&frame(1, 20));
        assert_eq!(run_all(&hdlc, &[]), (vec![(0, "garbage"), (2, "hdlc")], 2));
        let mut tail = t.to_vec();
        tail.extend_from_slice(b"\r\n");
        let end = t.len() as u64;
        assert_eq!(
            run_all(&tail, &[]),
            (vec![(0, "link"), (end, "garbage")], 2)
        );
    }

    #[test]
    fn line_fill_after_a_rejected_candidate_does_not_depend_on_the_cuts() {
        // an HDLC frame whose closing flag became CR claims its bytes up to that CR; the LF
        // after it, before a P1 telegram, is line fill however the stream is cut (judged on the
        // whole skipped run, which began inside the claimed span, it was garbage when the
        // stream came in one piece and fill when cut just before the LF)
        let mut s = emit(&[0x41], &[0x08, 0x83], 0x13, false, b"ABCDEFGHIJKLMNOPQRST");
        *s.last_mut().unwrap() = b'\r';
        let lf = s.len() as u64;
        s.extend_from_slice(b"\n/KAM5\r\n\r\n1-0:1.8.0(00001.000*kWh)\r\n!\r\n");
        let whole = run_all(&s, &[]);
        assert_eq!(whole.0.last(), Some(&(lf + 1, "link")));
        assert!(!whole.0.contains(&(lf, "garbage")), "{whole:?}");
        for cut in 1..s.len() {
            assert_eq!(run_all(&s, &[cut]), whole, "cut at {cut}");
            let cuts = vec![cut; s.len() / cut + 1];
            assert_eq!(run_all(&s, &cuts), whole, "cut every {cut}");
        }
    }

    #[test]
    fn pending_is_bounded() {
        let mut s = FrameSplitter::new();
        let junk: Vec<u8> = (0..100_000u32)
            .map(|i| [0x7E, 0xA7, 0xFF, 0x13][(i % 4) as usize])
            .collect();
        for c in junk.chunks(777) {
            s.push(c, |_| {});
            assert!(s.pending() <= 2049 + BRIDGE, "{}", s.pending());
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    proptest! {
        #[test]
        fn chunking_never_changes_the_result(
            seed in proptest::collection::vec((any::<u8>(), 0usize..200, any::<bool>()), 1..12),
            garbage in proptest::collection::vec(any::<u8>(), 0..40),
            cuts in proptest::collection::vec(1usize..300, 0..40),
        ) {
            let mut s = Vec::new();
            for (k, (n, len, corrupt)) in seed.iter().enumerate() {
                let mut f = frame(*n, *len);
                if *corrupt { let m = f.len() / 2; f[m] ^= 0x08; }
                s.extend_from_slice(&f);
                if k % 2 == 0 { s.extend_from_slice(&garbage); }
            }
            let whole = run_chunked(&s, &[]);
            let chunked = run_chunked(&s, &cuts);
            prop_assert_eq!(&whole, &chunked);
            let good = seed.iter().filter(|t| !t.2).count();
            prop_assert!(whole.0.len() >= good);
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let (frames, errors, stats) = FrameSplitter::split_all(&data);
            prop_assert_eq!(stats.frames_ok as usize, frames.len());
            prop_assert!(stats.bytes_skipped <= data.len() as u64);
            let _ = errors;
        }
    }
}
