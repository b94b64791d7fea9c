//! HDLC segmentation (S-bit) reassembly (PROTOCOL.md §2.6).
//!
//! When an APDU does not fit one frame, the meter sends it in several complete frames with the
//! segmentation bit set on all but the last. Only the first segment's information field starts
//! with the LLC header (`E6 E7 00`); continuation segments carry raw APDU bytes. The APDU is the
//! LLC-stripped information field of the first segment followed by the information fields of
//! the continuation segments up to and including the frame with S=0.
//!
//! HDLC UI frames carry no segment numbers, so a lost segment shows only indirectly:
//! * a frame whose information field starts with an LLC header while a message is open is a
//!   new first segment: the open message lost its end and is discarded;
//! * a continuation segment with no open message lost its start and is discarded;
//! * a lost middle segment leaves a message shorter than its own header announces when the
//!   APDU announces its length (ciphered `DB`/`DC`, block transfer `E0`,
//!   see [`crate::dlms::gbt::announced_len`]); such a message is discarded. A plain
//!   data-notification (`0F`) does not announce its length, so a lost middle segment there is
//!   left to the A-XDR decoder to notice.
//!
//! Bounds, error records and buffer reuse follow the contract in [`crate::dlms::gbt`]. An
//! unsegmented frame with no open message is a complete message by itself and is returned
//! without a copy.

use crate::dlms::apdu::strip_llc;
use crate::dlms::gbt::{announced_len, Assembly, Progress, DEFAULT_MAX_MESSAGE};
use crate::error::{ErrorKind, Layer};
use crate::hdlc::splitter::FrameSpan;

/// True when `info` starts with an LLC header (destination `E6`/`FF`, source `E6`/`E7`,
/// quality `00`), the mark of a first segment.
fn starts_with_llc(info: &[u8]) -> bool {
    matches!(info, [0xE6 | 0xFF, 0xE6 | 0xE7, 0x00, ..])
}

/// Reassembles S-bit segmented HDLC frames into APDUs. See the module documentation.
#[derive(Debug, Clone)]
pub struct SegmentReassembler {
    asm: Assembly,
}

impl Default for SegmentReassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl SegmentReassembler {
    /// A reassembler bounded to [`DEFAULT_MAX_MESSAGE`] bytes per message.
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_MESSAGE)
    }

    /// A reassembler that discards messages longer than `max` bytes.
    pub fn with_max_len(max: usize) -> Self {
        SegmentReassembler {
            asm: Assembly::new(Layer::Hdlc, max),
        }
    }

    /// The size bound.
    pub fn max_len(&self) -> usize {
        self.asm.max()
    }

    /// A message is open (waiting for more segments).
    pub fn is_pending(&self) -> bool {
        self.asm.is_open()
    }

    /// Bytes held for the open message.
    pub fn pending_len(&self) -> usize {
        self.asm.pending_len()
    }

    /// Stream offset of the first frame of the open message (for time-outs and records).
    pub fn pending_offset(&self) -> Option<u64> {
        self.asm.first_offset()
    }

    /// Drops the open message without a record (e.g. after a time-out), keeping the buffer.
    pub fn reset(&mut self) {
        self.asm.reset();
    }

    /// Feeds a frame found by the [`crate::hdlc::FrameSplitter`].
    pub fn push_frame<'s>(&'s mut self, frame: &FrameSpan<'s>) -> Progress<'s> {
        let len = u64::try_from(frame.bytes.len()).unwrap_or(u64::MAX);
        self.push(
            frame.information(),
            frame.header.segmented,
            frame.offset,
            len,
        )
    }

    /// Feeds the information field `info` of a frame with segmentation bit `segmented`, found
    /// at stream offset `offset` with `len` bytes on the wire (pass 0 if unknown; it only sizes
    /// error records and [`crate::dlms::gbt::Reassembled::end_offset`]).
    pub fn push<'s>(
        &'s mut self,
        info: &'s [u8],
        segmented: bool,
        offset: u64,
        len: u64,
    ) -> Progress<'s> {
        let last = !segmented;
        if self.asm.is_open() && !starts_with_llc(info) {
            let number = self.asm.next().unwrap_or(1);
            let p = self.asm.sequenced(0, number, last, info, offset, len);
            return check_announced(p);
        }
        match strip_llc(info) {
            Ok((apdu, _)) => self.asm.sequenced(0, 0, last, apdu, offset, len),
            Err(_) => Progress {
                complete: None,
                discarded: Some(self.asm.orphan(
                    ErrorKind::Malformed(
                        "HDLC segment without a first segment (no LLC header, nothing open)",
                    ),
                    offset,
                    len,
                )),
            },
        }
    }
}

/// Discards a multi-segment message whose APDU announces another length than it has.
fn check_announced(p: Progress<'_>) -> Progress<'_> {
    let Some(done) = p.complete else {
        return p;
    };
    let Some(announced) = announced_len(done.apdu) else {
        return p;
    };
    let have = done.apdu.len();
    if announced == have {
        return p;
    }
    let kind = if announced > have {
        ErrorKind::Truncated {
            needed: announced,
            available: have,
        }
    } else {
        ErrorKind::Malformed("segments carry more bytes than the APDU announces")
    };
    Progress {
        complete: None,
        discarded: Some(crate::hdlc::ErrorRecord {
            offset: done.first_offset,
            length: done.end_offset.saturating_sub(done.first_offset),
            error: crate::error::Error::new(Layer::Hdlc, 0, kind),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdlc::frame::emit;
    use crate::hdlc::{Event, FrameSplitter};

    // The first segment of the Croatian Iskra IE.5 push (amsreader issue 1072), header only:
    // PROTOCOL.md §2.6.
    #[rustfmt::skip]
    static ISKRA_FIRST_HEAD: [u8; 16] = [
        0x7E,
        0xA8, 0xA4,                   // format type 0xA, S=1, length 164
        0xCF,                         // dest: client 103 (push client)
        0x02, 0x23,                   // src: upper 1, lower 17
        0x03,                         // control: UI without P/F (non-final segment)
        0x99, 0x96,                   // HCS
        0xE6, 0xE7, 0x00,             // LLC (first segment only)
        0x0F,                         // data-notification
        0x00, 0x01, 0x1E,             // long-invoke-id-and-priority (first bytes)
    ];

    fn frames(infos: &[(&[u8], bool)]) -> Vec<Vec<u8>> {
        infos
            .iter()
            .map(|(info, seg)| emit(&[0xCF], &[0x02, 0x23], 0x03, *seg, info))
            .collect()
    }

    fn with_llc(apdu: &[u8]) -> Vec<u8> {
        let mut v = vec![0xE6, 0xE7, 0x00];
        v.extend_from_slice(apdu);
        v
    }

    #[test]
    fn the_iskra_first_segment_header() {
        let inner = &ISKRA_FIRST_HEAD[1..];
        let h = crate::hdlc::HdlcHeader::parse(inner).unwrap();
        assert!(h.segmented);
        assert_eq!(h.length, 164);
        assert_eq!(h.control, 0x03);
        assert!(starts_with_llc(&inner[h.info_offset()..]));
    }

    #[test]
    fn three_segments_through_the_splitter() {
        let apdu: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let first = with_llc(&apdu[..100]);
        let fs = frames(&[
            (&first, true),
            (&apdu[100..200], true),
            (&apdu[200..], false),
        ]);
        let stream: Vec<u8> = fs.concat();
        let mut r = SegmentReassembler::new();
        let mut out = Vec::new();
        let mut waits = 0;
        let mut sp = FrameSplitter::new();
        sp.push(&stream, |ev| {
            if let Event::Frame(f) = ev {
                let p = r.push_frame(&f);
                assert!(p.discarded.is_none(), "{p:?}");
                match p.complete {
                    Some(done) => out.push((
                        done.apdu.to_vec(),
                        done.first_offset,
                        done.last_offset,
                        done.parts,
                    )),
                    None => waits += 1,
                }
            }
        });
        assert_eq!(waits, 2);
        let second_at = fs[0].len() as u64;
        assert_eq!(out, vec![(apdu, 0, second_at + fs[1].len() as u64, 3)]);
        assert_eq!(second_at, fs[0].len() as u64);
    }

    #[test]
    fn an_unsegmented_frame_is_returned_without_a_copy() {
        let info = with_llc(&[0x0F, 0, 0, 0, 1, 0, 0x12, 0x00, 0x05]);
        let mut r = SegmentReassembler::new();
        let p = r.push(&info, false, 40, 20);
        let done = p.complete.unwrap();
        assert_eq!(done.apdu, &info[3..]);
        assert_eq!(done.apdu.as_ptr(), info[3..].as_ptr());
        assert_eq!(
            (done.first_offset, done.end_offset, done.parts),
            (40, 60, 1)
        );
        // an APDU tag without the LLC is accepted too
        let p = r.push(&info[3..], false, 60, 17);
        assert_eq!(p.complete.unwrap().apdu, &info[3..]);
    }

    #[test]
    fn a_first_segment_waits_for_more() {
        let mut r = SegmentReassembler::new();
        let info = with_llc(&[0x0F, 0, 1, 0x1E, 0x70]);
        let p = r.push(&info, true, 0, 166);
        assert!(p.is_idle());
        assert!(r.is_pending());
        assert_eq!(r.pending_len(), 5);
        assert_eq!(r.pending_offset(), Some(0));
        r.reset();
        assert_eq!(r.pending_offset(), None);
        assert!(!r.is_pending());
    }

    #[test]
    fn lost_segments_lose_only_their_message() {
        // a ciphered APDU announces its length: DB 08 <title> <len> <content>
        let mut apdu = vec![0xDB, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x30];
        apdu.extend((0..48u8).map(|i| i ^ 0x55));
        assert_eq!(announced_len(&apdu), Some(apdu.len()));
        let first = with_llc(&apdu[..20]);
        let (b, c) = (&apdu[20..40], &apdu[40..]);

        // lost middle segment: the message is shorter than announced
        let mut r = SegmentReassembler::new();
        assert!(r.push(&first, true, 0, 30).is_idle());
        let p = r.push(c, false, 60, 30);
        let rec = p.discarded.unwrap();
        assert!(p.complete.is_none());
        assert_eq!(rec.kind(), "truncated");
        assert_eq!((rec.offset, rec.length), (0, 90));
        // the next message is complete
        assert!(r.push(&first, true, 90, 30).is_idle());
        assert!(r.push(b, true, 120, 30).is_idle());
        let p = r.push(c, false, 150, 30);
        assert!(p.discarded.is_none());
        assert_eq!(p.complete.unwrap().apdu, &apdu[..]);

        // lost last segment: the next first segment discards the open message
        assert!(r.push(&first, true, 180, 30).is_idle());
        assert!(r.push(b, true, 210, 30).is_idle());
        let p = r.push(&first, true, 240, 30);
        let rec = p.discarded.unwrap();
        assert_eq!(
            rec.error.kind,
            ErrorKind::Sequence {
                expected: 2,
                found: 0
            }
        );
        assert_eq!((rec.offset, rec.length, rec.error.offset), (180, 60, 60));
        assert!(r.push(b, true, 270, 30).is_idle());
        let p = r.push(c, false, 300, 30);
        assert_eq!(p.complete.unwrap().apdu, &apdu[..]);

        // lost first segment: the continuation segments are orphans
        let p = r.push(b, true, 330, 30);
        assert_eq!(p.discarded.unwrap().kind(), "malformed");
        let p = r.push(c, false, 360, 30);
        assert_eq!(p.discarded.unwrap().offset, 360);
        assert!(!r.is_pending());

        // too long for what the APDU announces
        assert!(r.push(&first, true, 390, 30).is_idle());
        assert!(r.push(b, true, 420, 30).is_idle());
        let mut longer = c.to_vec();
        longer.push(0);
        let p = r.push(&longer, false, 450, 30);
        assert_eq!(p.discarded.unwrap().kind(), "malformed");
    }

    #[test]
    fn bounded_size() {
        let mut r = SegmentReassembler::with_max_len(100);
        assert_eq!(r.max_len(), 100);
        let first = with_llc(&[0x0F; 60]);
        assert!(r.push(&first, true, 0, 70).is_idle());
        let p = r.push(&[0x01; 60], true, 70, 70);
        let rec = p.discarded.unwrap();
        assert_eq!((rec.kind(), rec.offset, rec.length), ("malformed", 0, 140));
        assert!(!r.is_pending());
        let p = r.push(&[0x01; 10], false, 140, 20);
        assert!(p.discarded.is_some());
        // within the bound
        assert!(r.push(&first, true, 160, 70).is_idle());
        let p = r.push(&[0x01; 40], false, 230, 50);
        assert_eq!(p.complete.unwrap().apdu.len(), 100);
    }

    #[test]
    fn empty_and_short_information_fields_never_panic() {
        let mut r = SegmentReassembler::new();
        for n in 0..5 {
            let info = &[0xE6, 0xE7, 0x00, 0x0F][..n];
            let _ = r.push(info, true, 0, 0);
            let _ = r.push(info, false, 0, 0);
        }
    }
}
