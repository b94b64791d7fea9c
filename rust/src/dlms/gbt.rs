//! General Block Transfer (xDLMS `E0`) parsing and reassembly (PROTOCOL.md §2.7), and the
//! reassembly plumbing every link layer shares: [`Reassembled`], [`Progress`] and the bounded,
//! loss-tolerant message buffer behind [`GbtReassembler`],
//! [`crate::hdlc::segments::SegmentReassembler`] and [`crate::mbus::MbusReassembler`].
//!
//! ```text
//! E0 | block-control | block-number (2) | block-number-ack (2) | block-data (A-XDR length + bytes)
//!      bit 7 last block, bit 6 streaming, bits 5..0 window
//! ```
//!
//! Landis+Gyr E450 meters push a long data-notification as consecutive blocks numbered from 1,
//! one per HDLC frame; concatenating the block data in order gives the APDU (`0F` or `DB`).
//!
//! # Reassembly contract (all three reassemblers)
//!
//! * Every push names the stream offset and wire length of the frame that carried the part, so
//!   results and error records can say where they came from.
//! * A part that does not continue the open message (a lost, repeated or reordered one)
//!   discards that message only, with one [`ErrorRecord`] (`bad_sequence`); a part that starts a
//!   message always starts a new one.
//! * Messages are bounded (default [`DEFAULT_MAX_MESSAGE`], 64 KiB): a message growing past the
//!   bound is discarded with an error record.
//! * A completed message borrows the reassembler's internal buffer, which is reused (cleared,
//!   never shrunk) for the next message; a message that arrived in one part borrows the input
//!   instead and costs no copy.

#[cfg(not(feature = "std"))]
use alloc::vec::Vec;

use crate::cursor::Cursor;
use crate::dlms::axdr::read_length;
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::hdlc::ErrorRecord;

/// The general-block-transfer APDU tag.
pub const GENERAL_BLOCK_TRANSFER: u8 = 0xE0;

/// Default bound of a reassembled message, in bytes.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// Bytes of the GBT header before the block-data length: tag, control, number, ack.
const GBT_FIXED: usize = 6;

/// One General Block Transfer APDU, borrowing its block data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GbtBlock<'a> {
    /// Block-control bit 7: this is the last block.
    pub last: bool,
    /// Block-control bit 6: the sender streams blocks without waiting for acknowledgements.
    pub streaming: bool,
    /// Block-control bits 5..0: the window size.
    pub window: u8,
    /// Number of this block (the first is 1).
    pub block_number: u16,
    /// Number of the last block the sender acknowledges having received.
    pub block_number_ack: u16,
    /// The block data (a piece of the transferred APDU).
    pub data: &'a [u8],
}

impl<'a> GbtBlock<'a> {
    /// Parses a General Block Transfer APDU at the start of `apdu` (its `E0` tag), returning it
    /// and the number of bytes it occupies; bytes after it are not looked at.
    ///
    /// # Errors
    /// [`Layer::Apdu`] errors with offsets relative to `apdu`: `Unsupported` for another tag,
    /// `Truncated` when the input ends inside the header or before the block data the length
    /// announces, `Malformed` for an impossible A-XDR length.
    pub fn parse(apdu: &'a [u8]) -> Result<(GbtBlock<'a>, usize)> {
        let mut c = Cursor::new(apdu, Layer::Apdu);
        let tag = c.u8()?;
        if tag != GENERAL_BLOCK_TRANSFER {
            return Err(Error::new(Layer::Apdu, 0, ErrorKind::Unsupported { tag }));
        }
        let control = c.u8()?;
        let block_number = c.be_u16()?;
        let block_number_ack = c.be_u16()?;
        let len = read_length(&mut c)?;
        let data = c.take(len)?;
        Ok((
            GbtBlock {
                last: control & 0x80 != 0,
                streaming: control & 0x40 != 0,
                window: control & 0x3F,
                block_number,
                block_number_ack,
                data,
            },
            c.position(),
        ))
    }

    /// The block-control byte as sent.
    pub fn control(&self) -> u8 {
        u8::from(self.last) << 7 | u8::from(self.streaming) << 6 | (self.window & 0x3F)
    }
}

/// The total length an APDU's own header announces: the ciphered APDUs `DB`/`DC`
/// (`tag | title length | title | A-XDR length | content`) and a block transfer `E0`
/// (`6 header bytes | A-XDR length | block data`). `None` for APDUs that do not announce their
/// length (the data-notification `0F`) and for headers cut short.
///
/// Reassemblers without sequence numbers use it to tell a complete message from one that lost
/// a middle part.
pub fn announced_len(apdu: &[u8]) -> Option<usize> {
    let mut c = Cursor::new(apdu, Layer::Apdu);
    match c.u8().ok()? {
        0xDB | 0xDC => {
            let title = usize::from(c.u8().ok()?);
            c.take(title).ok()?;
        }
        GENERAL_BLOCK_TRANSFER => {
            c.take(GBT_FIXED - 1).ok()?;
        }
        _ => return None,
    }
    let len = read_length(&mut c).ok()?;
    c.position().checked_add(len)
}

/// A completed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reassembled<'a> {
    /// The APDU: the concatenated parts, without link-layer headers (LLC, transport header,
    /// block header). Borrows the reassembler's buffer, or the input when the message was one
    /// part.
    pub apdu: &'a [u8],
    /// Stream offset of the frame that carried the first part.
    pub first_offset: u64,
    /// Stream offset of the frame that carried the last part.
    pub last_offset: u64,
    /// Stream offset one past the last frame (its offset plus the length given with it).
    pub end_offset: u64,
    /// Number of parts (frames, segments, blocks).
    pub parts: u32,
}

/// What one push did.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress<'a> {
    /// The message this push completed.
    pub complete: Option<Reassembled<'a>>,
    /// What this push discarded and why: the open message a lost part broke, a part that
    /// belongs to no message, or a message above the size bound. The record spans the stream
    /// bytes discarded; its error's offset (relative to the record) points at the frame that
    /// revealed the problem.
    pub discarded: Option<ErrorRecord>,
}

impl<'a> Progress<'a> {
    /// Neither completed nor discarded anything: the part was stored and the message waits
    /// for more (or the part was ignored).
    pub fn is_idle(&self) -> bool {
        self.complete.is_none() && self.discarded.is_none()
    }

    fn completed(r: Reassembled<'a>, discarded: Option<ErrorRecord>) -> Self {
        Progress {
            complete: Some(r),
            discarded,
        }
    }

    fn discarded(rec: Option<ErrorRecord>) -> Self {
        Progress {
            complete: None,
            discarded: rec,
        }
    }
}

/// The open message.
#[derive(Debug, Clone, Copy)]
struct Open {
    first: u64,
    last: u64,
    end: u64,
    parts: u32,
    /// Number the next part must carry.
    next: u32,
}

/// A bounded message buffer with sequence checking, shared by the reassemblers.
#[derive(Debug, Clone)]
pub(crate) struct Assembly {
    buf: Vec<u8>,
    max: usize,
    layer: Layer,
    open: Option<Open>,
}

impl Assembly {
    pub(crate) fn new(layer: Layer, max: usize) -> Self {
        Assembly {
            buf: Vec::new(),
            max,
            layer,
            open: None,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Bytes held for the open message.
    pub(crate) fn pending_len(&self) -> usize {
        if self.open.is_some() {
            self.buf.len()
        } else {
            0
        }
    }

    /// Stream offset of the open message's first frame.
    pub(crate) fn first_offset(&self) -> Option<u64> {
        self.open.map(|o| o.first)
    }

    /// Number the next part must carry, if a message is open.
    pub(crate) fn next(&self) -> Option<u32> {
        self.open.map(|o| o.next)
    }

    /// Drops the open message silently, keeping the allocation.
    pub(crate) fn reset(&mut self) {
        self.open = None;
        self.buf.clear();
    }

    /// A record for the frame at `offset` (`len` bytes) alone.
    pub(crate) fn orphan(&self, kind: ErrorKind, offset: u64, len: u64) -> ErrorRecord {
        ErrorRecord {
            offset,
            length: len,
            error: Error::new(self.layer, 0, kind),
        }
    }

    /// Discards the open message, if any: the record runs from its first frame to `until`,
    /// and the error points at `at`.
    pub(crate) fn abandon(&mut self, kind: ErrorKind, at: u64, until: u64) -> Option<ErrorRecord> {
        let open = self.open.take()?;
        self.buf.clear();
        let until = until.max(open.end);
        Some(ErrorRecord {
            offset: open.first,
            length: until - open.first,
            error: Error::new(
                self.layer,
                usize::try_from(at.saturating_sub(open.first)).unwrap_or(usize::MAX),
                kind,
            ),
        })
    }

    fn too_large(&self) -> ErrorKind {
        ErrorKind::Malformed("message exceeds the reassembly size bound")
    }

    /// The part numbered `number` (`first` starts a message, `last` ends it) with payload
    /// `data`, carried by the frame at `offset` of `len` bytes.
    pub(crate) fn sequenced<'a>(
        &'a mut self,
        first: u32,
        number: u32,
        last: bool,
        data: &'a [u8],
        offset: u64,
        len: u64,
    ) -> Progress<'a> {
        let end = offset.saturating_add(len);
        if number == first {
            // A first part always starts a new message; an open one lost its end.
            let broken = self.abandon(
                ErrorKind::Sequence {
                    expected: self.next().unwrap_or(first),
                    found: number,
                },
                offset,
                0,
            );
            if data.len() > self.max {
                let rec = self.orphan(self.too_large(), offset, len);
                return Progress::discarded(Some(merge(broken, rec)));
            }
            if last {
                let done = Reassembled {
                    apdu: data,
                    first_offset: offset,
                    last_offset: offset,
                    end_offset: end,
                    parts: 1,
                };
                return Progress::completed(done, broken);
            }
            self.buf.clear();
            self.buf.extend_from_slice(data);
            self.open = Some(Open {
                first: offset,
                last: offset,
                end,
                parts: 1,
                next: first.wrapping_add(1),
            });
            return Progress::discarded(broken);
        }
        let Some(open) = self.open else {
            let kind = ErrorKind::Sequence {
                expected: first,
                found: number,
            };
            return Progress::discarded(Some(self.orphan(kind, offset, len)));
        };
        if number != open.next {
            let kind = ErrorKind::Sequence {
                expected: open.next,
                found: number,
            };
            return Progress::discarded(self.abandon(kind, offset, end));
        }
        if self.buf.len().saturating_add(data.len()) > self.max {
            return Progress::discarded(self.abandon(self.too_large(), offset, end));
        }
        self.buf.extend_from_slice(data);
        let open = Open {
            last: offset,
            end,
            parts: open.parts.saturating_add(1),
            next: open.next.wrapping_add(1),
            ..open
        };
        if !last {
            self.open = Some(open);
            return Progress::default();
        }
        self.open = None;
        Progress::completed(
            Reassembled {
                apdu: &self.buf,
                first_offset: open.first,
                last_offset: open.last,
                end_offset: open.end,
                parts: open.parts,
            },
            None,
        )
    }
}

/// One record covering both `a` (if any) and `b`, keeping `a`'s error.
fn merge(a: Option<ErrorRecord>, b: ErrorRecord) -> ErrorRecord {
    match a {
        Some(mut a) => {
            let end = b.offset.saturating_add(b.length);
            a.length = end.max(a.offset.saturating_add(a.length)) - a.offset;
            a
        }
        None => b,
    }
}

/// Reassembles General Block Transfer blocks into the transferred APDU. See the module
/// documentation for the contract.
///
/// Blocks are numbered from 1; block 1 always starts a new message, any other block must carry
/// the number after the previous one, and the block with the last-block bit completes the
/// message. The LLC header in front of the first block is the caller's business
/// ([`crate::dlms::strip_llc`]).
#[derive(Debug, Clone)]
pub struct GbtReassembler {
    asm: Assembly,
}

impl Default for GbtReassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl GbtReassembler {
    /// A reassembler bounded to [`DEFAULT_MAX_MESSAGE`] bytes per message.
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_MESSAGE)
    }

    /// A reassembler that discards messages longer than `max` bytes.
    pub fn with_max_len(max: usize) -> Self {
        GbtReassembler {
            asm: Assembly::new(Layer::Apdu, max),
        }
    }

    /// The size bound.
    pub fn max_len(&self) -> usize {
        self.asm.max()
    }

    /// A message is open (waiting for more blocks).
    pub fn is_pending(&self) -> bool {
        self.asm.is_open()
    }

    /// Bytes held for the open message.
    pub fn pending_len(&self) -> usize {
        self.asm.pending_len()
    }

    /// The block number expected next, if a message is open.
    pub fn expected_block(&self) -> Option<u16> {
        self.asm.next().and_then(|n| u16::try_from(n).ok())
    }

    /// Stream offset of the first frame of the open message (for time-outs and records).
    pub fn pending_offset(&self) -> Option<u64> {
        self.asm.first_offset()
    }

    /// Drops the open message without a record (e.g. after a time-out), keeping the buffer.
    pub fn reset(&mut self) {
        self.asm.reset();
    }

    /// Feeds one block, carried by the frame at stream offset `offset` of `len` bytes (pass 0
    /// if unknown; it only sizes error records and [`Reassembled::end_offset`]).
    pub fn push<'s>(&'s mut self, block: &GbtBlock<'s>, offset: u64, len: u64) -> Progress<'s> {
        self.asm.sequenced(
            1,
            u32::from(block.block_number),
            block.last,
            block.data,
            offset,
            len,
        )
    }

    /// Parses `apdu` as a block ([`GbtBlock::parse`]) and feeds it; an APDU that does not parse
    /// is reported as discarded (the open message is kept: the next block tells whether it
    /// lost something). Bytes after the block are ignored.
    pub fn push_apdu<'s>(&'s mut self, apdu: &'s [u8], offset: u64, len: u64) -> Progress<'s> {
        match GbtBlock::parse(apdu) {
            Ok((block, _)) => self.push(&block, offset, len),
            Err(error) => Progress::discarded(Some(ErrorRecord {
                offset,
                length: len,
                error,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(control: u8, number: u16, data: &[u8]) -> Vec<u8> {
        let mut v = vec![GENERAL_BLOCK_TRANSFER, control];
        v.extend_from_slice(&number.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        if data.len() < 0x80 {
            v.push(data.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    /// What a push did, owned (so the pushed block may be a temporary).
    #[derive(Debug)]
    struct Fed {
        complete: Option<Done>,
        discarded: Option<ErrorRecord>,
    }

    #[derive(Debug)]
    struct Done {
        apdu: Vec<u8>,
        first_offset: u64,
        last_offset: u64,
        end_offset: u64,
        parts: u32,
    }

    impl Fed {
        fn is_idle(&self) -> bool {
            self.complete.is_none() && self.discarded.is_none()
        }
    }

    fn feed(r: &mut GbtReassembler, apdu: &[u8], offset: u64, len: u64) -> Fed {
        let p = r.push_apdu(apdu, offset, len);
        Fed {
            complete: p.complete.map(|d| Done {
                apdu: d.apdu.to_vec(),
                first_offset: d.first_offset,
                last_offset: d.last_offset,
                end_offset: d.end_offset,
                parts: d.parts,
            }),
            discarded: p.discarded,
        }
    }

    // PROTOCOL.md Appendix A.7: the first block of the Swiss L&G E450 push (after the LLC).
    #[rustfmt::skip]
    static LG_BLOCK1_HEAD: [u8; 7] = [
        0xE0,                         // general-block-transfer
        0x40,                         // block control: last=0, streaming=1, window 0
        0x00, 0x01,                   // block number 1
        0x00, 0x00,                   // block-number-ack 0
        0x70,                         // block data length 112
    ];

    #[test]
    fn parses_the_lg_block_header() {
        let mut apdu = LG_BLOCK1_HEAD.to_vec();
        let data: Vec<u8> = (0..112u8).collect();
        apdu.extend_from_slice(&data);
        apdu.extend_from_slice(&[0xAA, 0xBB]); // not part of the block
        let (b, used) = GbtBlock::parse(&apdu).unwrap();
        assert_eq!(used, 7 + 112);
        assert!(!b.last);
        assert!(b.streaming);
        assert_eq!(b.window, 0);
        assert_eq!(b.block_number, 1);
        assert_eq!(b.block_number_ack, 0);
        assert_eq!(b.data, &data[..]);
        assert_eq!(b.control(), 0x40);
        assert_eq!(announced_len(&apdu), Some(119));
    }

    #[test]
    fn long_block_data_length() {
        #[rustfmt::skip]
        let head = [
            0xE0,                     // general-block-transfer
            0xC1,                     // last=1, streaming=1, window 1
            0x01, 0x02,               // block number 258
            0x01, 0x01,               // ack 257
            0x82, 0x01, 0x00,         // block data length 256 (2-byte A-XDR length)
        ];
        let mut apdu = head.to_vec();
        apdu.extend_from_slice(&[0x5A; 256]);
        let (b, used) = GbtBlock::parse(&apdu).unwrap();
        assert_eq!(used, apdu.len());
        assert!(b.last && b.streaming);
        assert_eq!(
            (b.window, b.block_number, b.block_number_ack),
            (1, 258, 257)
        );
        assert_eq!(b.control(), 0xC1);
        assert_eq!(b.data.len(), 256);
    }

    #[test]
    fn every_truncated_prefix_is_truncated() {
        let apdu = block(0xC0, 3, &[1, 2, 3, 4, 5]);
        for n in 0..apdu.len() {
            let e = GbtBlock::parse(&apdu[..n]).unwrap_err();
            assert!(
                matches!(e.kind, ErrorKind::Truncated { .. }),
                "prefix {n}: {e:?}"
            );
            assert_eq!(e.layer, Layer::Apdu);
        }
        assert!(GbtBlock::parse(&apdu).is_ok());
    }

    #[test]
    fn rejects_other_tags_and_bad_lengths() {
        let e = GbtBlock::parse(&[0x0F, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported { tag: 0x0F });
        let e = GbtBlock::parse(&[0xE0, 0x40, 0, 1, 0, 0, 0x85, 1, 2, 3, 4, 5]).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Malformed(_)), "{e:?}");
        assert_eq!(e.offset, 6);
    }

    #[test]
    fn three_blocks_in_order() {
        let blocks = [
            block(0x40, 1, b"hello "),
            block(0x40, 2, b"block "),
            block(0xC0, 3, b"world"),
        ];
        let mut r = GbtReassembler::new();
        for (k, b) in blocks.iter().take(2).enumerate() {
            let p = feed(&mut r, b, 100 * k as u64, 50);
            assert!(p.is_idle(), "{p:?}");
        }
        assert!(r.is_pending());
        assert_eq!(r.pending_len(), 12);
        assert_eq!(r.expected_block(), Some(3));
        assert_eq!(r.pending_offset(), Some(0));
        let p = feed(&mut r, &blocks[2], 200, 40);
        let done = p.complete.unwrap();
        assert_eq!(done.apdu, b"hello block world");
        assert_eq!(
            (
                done.first_offset,
                done.last_offset,
                done.end_offset,
                done.parts
            ),
            (0, 200, 240, 3)
        );
        assert!(p.discarded.is_none());
        assert!(!r.is_pending());
    }

    #[test]
    fn a_lost_middle_block_loses_only_its_message() {
        let mut r = GbtReassembler::new();
        assert!(feed(&mut r, &block(0x40, 1, b"aa"), 0, 10).is_idle());
        assert!(feed(&mut r, &block(0x40, 2, b"bb"), 10, 10).is_idle());
        // block 3 lost
        let p = feed(&mut r, &block(0xC0, 4, b"dd"), 30, 10);
        assert!(p.complete.is_none());
        let rec = p.discarded.unwrap();
        assert_eq!(rec.kind(), "bad_sequence");
        assert_eq!(
            rec.error.kind,
            ErrorKind::Sequence {
                expected: 3,
                found: 4
            }
        );
        assert_eq!((rec.offset, rec.length, rec.error.offset), (0, 40, 30));
        assert!(!r.is_pending());
        // the next message is complete
        assert!(feed(&mut r, &block(0x40, 1, b"xx"), 40, 10).is_idle());
        let p = feed(&mut r, &block(0xC0, 2, b"yy"), 50, 10);
        assert_eq!(p.complete.unwrap().apdu, b"xxyy");
    }

    #[test]
    fn orphans_and_restarts() {
        let mut r = GbtReassembler::new();
        // a block 2 with nothing open
        let p = feed(&mut r, &block(0x40, 2, b"zz"), 5, 10);
        let rec = p.discarded.unwrap();
        assert_eq!(
            rec.error.kind,
            ErrorKind::Sequence {
                expected: 1,
                found: 2
            }
        );
        assert_eq!((rec.offset, rec.length), (5, 10));
        // block 0 is never valid
        let p = feed(&mut r, &block(0xC0, 0, b"zz"), 15, 10);
        assert!(p.discarded.is_some());
        // block 1 while a message is open: the open one is lost, the new one completes
        assert!(feed(&mut r, &block(0x40, 1, b"old"), 25, 10).is_idle());
        let p = feed(&mut r, &block(0xC0, 1, b"new"), 35, 10);
        assert_eq!(p.complete.unwrap().apdu, b"new");
        let rec = p.discarded.unwrap();
        assert_eq!((rec.offset, rec.length, rec.error.offset), (25, 10, 10));
        assert_eq!(
            rec.error.kind,
            ErrorKind::Sequence {
                expected: 2,
                found: 1
            }
        );
        // a repeated block breaks the message
        assert!(feed(&mut r, &block(0x40, 1, b"a"), 45, 10).is_idle());
        assert!(feed(&mut r, &block(0x40, 2, b"b"), 55, 10).is_idle());
        let p = feed(&mut r, &block(0x40, 2, b"b"), 65, 10);
        assert!(p.discarded.is_some() && !r.is_pending());
        // an unparsable APDU is reported and keeps nothing
        let p = feed(&mut r, &[0xE0, 0x40], 75, 2);
        assert_eq!(p.discarded.unwrap().kind(), "truncated");
    }

    #[test]
    fn single_block_borrows_the_input() {
        let b = block(0xC0, 1, b"only");
        let mut r = GbtReassembler::new();
        let p = r.push_apdu(&b, 7, 20);
        let done = p.complete.unwrap();
        assert_eq!(done.apdu, b"only");
        assert_eq!(done.apdu.as_ptr(), b[7..].as_ptr());
        assert_eq!(done.parts, 1);
    }

    #[test]
    fn bounded_size_and_buffer_reuse() {
        let mut r = GbtReassembler::with_max_len(10);
        assert_eq!(r.max_len(), 10);
        assert!(feed(&mut r, &block(0x40, 1, &[1; 6]), 0, 10).is_idle());
        let p = feed(&mut r, &block(0x40, 2, &[2; 6]), 10, 10);
        let rec = p.discarded.unwrap();
        assert_eq!(rec.kind(), "malformed");
        assert_eq!((rec.offset, rec.length), (0, 20));
        assert!(!r.is_pending());
        // the rest of the oversized message are orphans
        let p = feed(&mut r, &block(0xC0, 3, &[3; 2]), 20, 10);
        assert_eq!(p.discarded.unwrap().kind(), "bad_sequence");
        // one block above the bound
        let p = feed(&mut r, &block(0xC0, 1, &[4; 11]), 30, 10);
        assert_eq!(p.discarded.unwrap().kind(), "malformed");
        // messages within the bound still work, in the same allocation
        let mut r = GbtReassembler::new();
        let mut ptrs = Vec::new();
        for n in 0..5u8 {
            let _ = feed(&mut r, &block(0x40, 1, &[n; 100]), 0, 0);
            let last = block(0xC0, 2, &[n; 100]);
            let p = r.push_apdu(&last, 0, 0);
            let done = p.complete.unwrap();
            assert_eq!(done.apdu.len(), 200);
            ptrs.push(done.apdu.as_ptr() as usize);
        }
        assert!(ptrs.windows(2).all(|w| w[0] == w[1]), "allocation reused");
        r.reset();
        assert!(!r.is_pending());
    }

    #[test]
    fn announced_lengths() {
        #[rustfmt::skip]
        let db = [
            0xDB,                                           // general-glo-ciphering
            0x08, b'K', b'F', b'M', 0x67, 0x50, 0, 0, 0x09, // system title
            0x81, 0xF8,                                     // length 248
        ];
        assert_eq!(announced_len(&db), Some(12 + 248));
        assert_eq!(announced_len(&db[..11]), None);
        assert_eq!(announced_len(&[0x0F, 0, 0, 0, 1]), None);
        assert_eq!(announced_len(&[]), None);
        assert_eq!(announced_len(&block(0xC0, 1, b"abc")), Some(10));
    }

    proptest::proptest! {
        #[test]
        fn random_parts_never_panic_and_stay_bounded(
            parts in proptest::collection::vec(
                (proptest::prelude::any::<bool>(), 0u16..5, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)),
                0..30,
            ),
        ) {
            let mut g = GbtReassembler::with_max_len(200);
            let mut h = crate::hdlc::segments::SegmentReassembler::with_max_len(200);
            for (k, (last, n, data)) in parts.iter().enumerate() {
                let b = block(if *last { 0xC0 } else { 0x40 }, *n, data);
                let p = g.push_apdu(&b, k as u64, 1);
                if let Some(m) = p.complete {
                    proptest::prop_assert!(m.apdu.len() <= 200);
                }
                let _ = g.push_apdu(data, k as u64, 1);
                proptest::prop_assert!(g.pending_len() <= 200);
                let p = h.push(data, !*last, k as u64, 1);
                if let Some(m) = p.complete {
                    proptest::prop_assert!(m.apdu.len() <= 200);
                }
                proptest::prop_assert!(h.pending_len() <= 200);
            }
        }
    }
}
