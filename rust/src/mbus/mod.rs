//! Wired M-Bus long frames (EN 13757-2) carrying DLMS: the frame view, the stream-splitter
//! decision, the transport headers and CI-field segment reassembly (PROTOCOL.md §3,
//! Appendix B.2).
//!
//! ```text
//! 68 | L | L | 68 | C | A | CI | user data | CS | 16
//!                   \___________ L bytes ___/
//! CS = (C + A + CI + user data) mod 256
//! ```
//!
//! `L` counts C through the last user-data byte. The Sagemcom T210-D sends a 257-byte first
//! telegram with `L = 0x01` (the length modulo 256), so [`classify`] tries `L` and `L + 256`
//! and accepts the candidate whose checksum and stop byte match (PROTOCOL.md §3.3). The
//! `68 00 00 68` pseudo-frames in some captures are a firmware's own re-assembled dumps; they
//! fail both candidates and are rejected like any other bad frame.
//!
//! The user data of a DLMS frame (CI `0x00..=0x1F`) starts with the DLMS transport header
//! `STSAP | DTSAP`; CI bit 4 is FIN (last segment), bits 3..0 the segment number. CI
//! `0x60`/`0x61` (to the meter) and `0x7C`/`0x7D` (from the meter) carry an unsegmented APDU
//! behind the long or short EN 13757-3 transport-layer header. [`MbusReassembler`]
//! concatenates the segments of a message into its APDU.

use crate::cursor::Cursor;
use crate::dlms::gbt::{Assembly, Progress, Reassembled, DEFAULT_MAX_MESSAGE};
use crate::error::{CheckField, Error, ErrorKind, Layer, Result};

/// The start byte of a long frame (sent twice).
pub const START: u8 = 0x68;
/// The stop byte.
pub const STOP: u8 = 0x16;
/// Smallest `L`: C, A and CI.
pub const MIN_L: usize = 3;
/// Largest true `L` this decoder accepts (`L + 256` with `L = 0xFF`).
pub const MAX_L: usize = 0xFF + 256;
/// Bytes of a frame around its `L` bytes: `68 L L 68` before, `CS 16` after.
pub const OVERHEAD: usize = 6;

/// What the bytes at the start of a buffer (a candidate `0x68`) are, for a stream splitter.
///
/// The decision depends only on the bytes: a longer prefix of the same stream never turns a
/// `Frame`, `Bad` or `NotAFrame` answer into another one, so any chunking of a stream yields
/// the same frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MbusCandidate {
    /// Not enough bytes to decide: `needed` bytes (from the start) are required at least.
    NeedMore {
        /// Bytes needed from the start of the buffer.
        needed: usize,
    },
    /// Not a long-frame start (the first byte is not `0x68`, the two `L` bytes differ or the
    /// fourth byte is not `0x68`). Advance one byte.
    NotAFrame,
    /// A valid frame of `len` bytes (`68` through `16`).
    Frame {
        /// The frame's length on the wire.
        len: usize,
    },
    /// A long-frame header whose frame fails its checks. Report it and advance one byte: a
    /// valid frame may start inside the rejected span.
    Bad {
        /// Why (offset relative to the start of the buffer).
        error: Error,
        /// The bytes the rejected candidate claims (clipped to the buffer at the end of a
        /// stream).
        span: usize,
    },
}

/// The result of checking one length hypothesis.
enum Check {
    NeedMore(usize),
    Good,
    /// The stop byte is wrong (the length is probably wrong too).
    BadStop(Error),
    /// The stop byte is right, the checksum is not.
    BadSum(Error),
}

impl Check {
    fn error(self) -> Option<Error> {
        match self {
            Check::BadStop(e) | Check::BadSum(e) => Some(e),
            Check::NeedMore(_) | Check::Good => None,
        }
    }
}

/// The checksum: arithmetic sum modulo 256.
fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

/// Checks the frame at the start of `buf` under the hypothesis that `L = l`.
fn check_len(buf: &[u8], l: usize) -> Check {
    let total = l + OVERHEAD;
    let Some(frame) = buf.get(..total) else {
        return Check::NeedMore(total);
    };
    let (body, tail) = match frame.get(4..).map(|r| r.split_at_checked(l)) {
        Some(Some(split)) => split,
        _ => return Check::NeedMore(total),
    };
    let (cs, stop) = match tail {
        [cs, stop] => (*cs, *stop),
        _ => return Check::NeedMore(total),
    };
    if stop != STOP {
        return Check::BadStop(Error::new(
            Layer::Mbus,
            l + 5,
            ErrorKind::Malformed("M-Bus stop byte is not 0x16"),
        ));
    }
    let expected = sum(body);
    if expected != cs {
        return Check::BadSum(Error::new(
            Layer::Mbus,
            l + 4,
            ErrorKind::Checksum {
                field: CheckField::MbusSum,
                expected: u16::from(expected),
                found: u16::from(cs),
            },
        ));
    }
    Check::Good
}

fn truncated(needed: usize, buf: &[u8]) -> MbusCandidate {
    MbusCandidate::Bad {
        error: Error::new(
            Layer::Mbus,
            0,
            ErrorKind::Truncated {
                needed,
                available: buf.len(),
            },
        ),
        span: buf.len(),
    }
}

/// Decides what the bytes at the start of `buf` are; `ended` means no more bytes will come.
fn decide(buf: &[u8], ended: bool) -> MbusCandidate {
    let need = |needed: usize| {
        if ended {
            truncated(needed, buf)
        } else {
            MbusCandidate::NeedMore { needed }
        }
    };
    let l = match buf {
        [] => return need(1),
        [b0, ..] if *b0 != START => return MbusCandidate::NotAFrame,
        [_] => return need(4),
        [_, l1, l2, ..] if l1 != l2 => return MbusCandidate::NotAFrame,
        [_, _, _, b3, ..] if *b3 != START => return MbusCandidate::NotAFrame,
        [_, l, _, _, ..] => usize::from(*l),
        [_, _, ..] => return need(4),
    };
    // The length as sent, unless it cannot hold C, A and CI.
    let standard = if l >= MIN_L {
        match check_len(buf, l) {
            Check::NeedMore(n) => return need(n),
            Check::Good => return MbusCandidate::Frame { len: l + OVERHEAD },
            bad => Some(bad),
        }
    } else {
        None
    };
    // The length modulo 256 (Sagemcom T210-D).
    let long = l + 256;
    let rejected = |error: Error, claimed: usize| MbusCandidate::Bad {
        error,
        span: claimed.min(buf.len()),
    };
    match (check_len(buf, long), standard) {
        (Check::Good, _) => MbusCandidate::Frame {
            len: long + OVERHEAD,
        },
        (Check::NeedMore(n), None) => need(n),
        (Check::NeedMore(n), Some(std)) => match (ended, std.error()) {
            (true, Some(e)) => rejected(e, l + OVERHEAD),
            _ => MbusCandidate::NeedMore { needed: n },
        },
        // Prefer the long hypothesis' error only when its stop byte was right and the
        // standard one's was not.
        (Check::BadSum(e), Some(Check::BadStop(_)) | None) => rejected(e, long + OVERHEAD),
        (other, std) => match std.and_then(Check::error).or(other.error()) {
            Some(e) if l >= MIN_L => rejected(e, l + OVERHEAD),
            Some(e) => rejected(e, long + OVERHEAD),
            None => need(long + OVERHEAD),
        },
    }
}

/// Decides what the bytes at the start of `buf` (a candidate `0x68`) are, for a stream
/// splitter. See [`MbusCandidate`].
///
/// A frame is accepted under `L` when `L >= 3` and its checksum and stop byte match;
/// otherwise under `L + 256` (which needs `L + 262` bytes before it can be decided). A rejected
/// candidate costs the splitter one byte.
pub fn classify(buf: &[u8]) -> MbusCandidate {
    decide(buf, false)
}

/// As [`classify`], for the end of a stream: never answers `NeedMore`. A candidate still
/// waiting for bytes is reported as `Bad`: with the standard candidate's error when that one
/// was already rejected, `Truncated` otherwise.
pub fn classify_final(buf: &[u8]) -> MbusCandidate {
    decide(buf, true)
}

/// The DLMS transport header of CI `0x00..=0x1F` (PROTOCOL.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlmsTransport {
    /// CI bit 4: the last (or only) segment of the message.
    pub fin: bool,
    /// CI bits 3..0: the segment number (the first is 0).
    pub sequence: u8,
    /// Source transport SAP (the meter's management logical device: `0x01`).
    pub stsap: u8,
    /// Destination transport SAP (the push client: `0x67`).
    pub dtsap: u8,
}

/// The short EN 13757-3 transport-layer header (CI `0x61` / `0x7D`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortHeader {
    /// The CI field.
    pub ci: u8,
    /// Access number.
    pub access_number: u8,
    /// Status byte.
    pub status: u8,
    /// Configuration field (sent LSB first).
    pub configuration: u16,
}

/// The long EN 13757-3 transport-layer header (CI `0x60` / `0x7C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader {
    /// The CI field.
    pub ci: u8,
    /// Identification number (8 BCD digits, sent LSB first).
    pub identification: u32,
    /// Manufacturer code (EN 13757-3 three-letter code, sent LSB first).
    pub manufacturer: u16,
    /// Version.
    pub version: u8,
    /// Device type (medium).
    pub device_type: u8,
    /// Access number, status and configuration, as in the short header.
    pub short: ShortHeader,
}

/// The transport header behind the CI field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// CI `0x00..=0x1F`: a (possibly segmented) DLMS message.
    Dlms(DlmsTransport),
    /// CI `0x60` / `0x7C`: an unsegmented APDU behind a 12-byte header.
    Long(LongHeader),
    /// CI `0x61` / `0x7D`: an unsegmented APDU behind a 4-byte header.
    Short(ShortHeader),
}

impl Transport {
    /// Length of the header in the user data.
    pub fn len(&self) -> usize {
        match self {
            Transport::Dlms(_) => 2,
            Transport::Long(_) => 12,
            Transport::Short(_) => 4,
        }
    }

    /// Always false: every transport header has bytes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The CI value is one of the meter-to-reader ones (`0x7C`, `0x7D`); `None` for the DLMS
    /// transport, whose CI does not say.
    pub fn from_meter(&self) -> Option<bool> {
        match self {
            Transport::Dlms(_) => None,
            Transport::Long(h) => Some(h.ci == 0x7C),
            Transport::Short(h) => Some(h.ci == 0x7D),
        }
    }
}

fn short_header(ci: u8, c: &mut Cursor<'_>) -> Result<ShortHeader> {
    let access_number = c.u8()?;
    let status = c.u8()?;
    let configuration = u16::from_le_bytes(c.array()?);
    Ok(ShortHeader {
        ci,
        access_number,
        status,
        configuration,
    })
}

/// A checked, zero-copy wired M-Bus long frame (`68` through `16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbusFrame<'a> {
    bytes: &'a [u8],
}

impl<'a> MbusFrame<'a> {
    /// Checks `bytes` as exactly one frame: start bytes, equal `L` bytes that match the length
    /// (modulo 256), checksum and stop byte.
    ///
    /// # Errors
    /// [`Layer::Mbus`] errors with offsets relative to `bytes`: `Truncated` for fewer than
    /// 9 bytes, `BadLength` for a length outside `9..=517` or one the `L` field does not
    /// match, `Malformed` for a wrong start or stop byte, an M-Bus `Checksum` error.
    pub fn new_checked(bytes: &'a [u8]) -> Result<MbusFrame<'a>> {
        let min = MIN_L + OVERHEAD;
        if bytes.len() < min {
            return Err(Error::new(
                Layer::Mbus,
                0,
                ErrorKind::Truncated {
                    needed: min,
                    available: bytes.len(),
                },
            ));
        }
        let l = bytes.len() - OVERHEAD;
        let bad_len = || {
            Error::new(
                Layer::Mbus,
                1,
                ErrorKind::BadLength {
                    length: u16::try_from(l).unwrap_or(u16::MAX),
                    minimum: u16::try_from(MIN_L).unwrap_or(3),
                },
            )
        };
        if l > MAX_L {
            return Err(bad_len());
        }
        match bytes {
            [START, l1, l2, START, ..] if l1 == l2 => {
                if usize::from(*l1) != l & 0xFF {
                    return Err(bad_len());
                }
            }
            _ => {
                return Err(Error::new(
                    Layer::Mbus,
                    0,
                    ErrorKind::Malformed("not a long-frame header 68 L L 68"),
                ))
            }
        }
        match check_len(bytes, l) {
            Check::Good => Ok(MbusFrame { bytes }),
            Check::BadStop(e) | Check::BadSum(e) => Err(e),
            Check::NeedMore(n) => Err(Error::new(
                Layer::Mbus,
                0,
                ErrorKind::Truncated {
                    needed: n,
                    available: bytes.len(),
                },
            )),
        }
    }

    /// The frame at the start of `buf` (bytes after it are not looked at), decided like
    /// [`classify_final`]; returns the frame and its length.
    ///
    /// # Errors
    /// `Malformed` when `buf` does not start with a long-frame header; otherwise the error of
    /// the rejected candidate ([`classify_final`]).
    pub fn parse(buf: &'a [u8]) -> Result<(MbusFrame<'a>, usize)> {
        match classify_final(buf) {
            MbusCandidate::Frame { len } => {
                let bytes = buf.get(..len).unwrap_or(&[]);
                Ok((MbusFrame { bytes }, len))
            }
            MbusCandidate::Bad { error, .. } => Err(error),
            MbusCandidate::NotAFrame | MbusCandidate::NeedMore { .. } => Err(Error::new(
                Layer::Mbus,
                0,
                ErrorKind::Malformed("not a long-frame header 68 L L 68"),
            )),
        }
    }

    fn byte(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    /// The true `L`: bytes from C through the last user-data byte.
    pub fn length(&self) -> usize {
        self.bytes.len().saturating_sub(OVERHEAD)
    }

    /// The `L` byte as sent.
    pub fn length_field(&self) -> u8 {
        self.byte(1)
    }

    /// The frame is longer than 255 bytes of `L`, so the `L` field holds the length modulo 256
    /// (the Sagemcom T210-D quirk).
    pub fn wrapped_length(&self) -> bool {
        self.length() > 0xFF
    }

    /// The C field (`0x53` SND_UD, `0x73` with FCB set).
    pub fn control(&self) -> u8 {
        self.byte(4)
    }

    /// The A field (`0xFF` broadcast on the customer ports).
    pub fn address(&self) -> u8 {
        self.byte(5)
    }

    /// The CI field.
    pub fn ci(&self) -> u8 {
        self.byte(6)
    }

    /// The user data: after CI, up to the checksum.
    pub fn user_data(&self) -> &'a [u8] {
        let b: &'a [u8] = self.bytes;
        b.get(7..b.len().saturating_sub(2)).unwrap_or(&[])
    }

    /// The checksum as sent.
    pub fn checksum(&self) -> u8 {
        self.byte(self.bytes.len().saturating_sub(2))
    }

    /// The frame's bytes, `68` through `16`.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Parses the transport header the CI field announces, returning it and the APDU (segment)
    /// that follows it.
    ///
    /// # Errors
    /// [`Layer::Mbus`] with offsets relative to the frame: `Unsupported` for a CI value that
    /// carries no DLMS, `Truncated` when the user data is shorter than the header.
    pub fn transport(&self) -> Result<(Transport, &'a [u8])> {
        let ci = self.ci();
        let mut c = Cursor::new(self.user_data(), Layer::Mbus);
        let header = match ci {
            0x00..=0x1F => {
                let stsap = c.u8()?;
                let dtsap = c.u8()?;
                Transport::Dlms(DlmsTransport {
                    fin: ci & 0x10 != 0,
                    sequence: ci & 0x0F,
                    stsap,
                    dtsap,
                })
            }
            0x60 | 0x7C => {
                let identification = u32::from_le_bytes(c.array()?);
                let manufacturer = u16::from_le_bytes(c.array()?);
                let version = c.u8()?;
                let device_type = c.u8()?;
                let short = short_header(ci, &mut c)?;
                Transport::Long(LongHeader {
                    ci,
                    identification,
                    manufacturer,
                    version,
                    device_type,
                    short,
                })
            }
            0x61 | 0x7D => Transport::Short(short_header(ci, &mut c)?),
            tag => return Err(Error::new(Layer::Mbus, 6, ErrorKind::Unsupported { tag })),
        };
        Ok((header, c.rest()))
    }
}

/// Builds a long frame with a correct checksum; `L` is sent modulo 256 like the Sagemcom
/// T210-D does for long ones (test and fixture encoder).
#[cfg(any(test, feature = "std"))]
pub fn emit(c: u8, a: u8, ci: u8, data: &[u8]) -> Vec<u8> {
    let l = data.len() + MIN_L;
    let lb = (l & 0xFF) as u8;
    let mut v = Vec::with_capacity(l + OVERHEAD);
    v.extend_from_slice(&[START, lb, lb, START, c, a, ci]);
    v.extend_from_slice(data);
    let cs = sum(v.get(4..).unwrap_or(&[]));
    v.push(cs);
    v.push(STOP);
    v
}

/// Reassembles the CI-field segments of DLMS messages into APDUs (PROTOCOL.md §3.2, B.2).
///
/// A segment numbered 0 starts a new message (discarding an open one, which lost its end);
/// every other segment must carry the number after the previous one; the FIN segment completes
/// the message. A message in one frame (CI `0x10`) completes at once, and like any segment 0
/// discards an open message; the unsegmented CI `0x60`/`0x61`/`0x7C`/`0x7D` frames complete at
/// once and leave an open message alone. Single-frame messages are returned without a copy.
/// Bounds, error records and buffer reuse follow the contract in [`crate::dlms::gbt`].
#[derive(Debug, Clone)]
pub struct MbusReassembler {
    asm: Assembly,
}

impl Default for MbusReassembler {
    fn default() -> Self {
        Self::new()
    }
}

impl MbusReassembler {
    /// A reassembler bounded to [`DEFAULT_MAX_MESSAGE`] bytes per message.
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_MESSAGE)
    }

    /// A reassembler that discards messages longer than `max` bytes.
    pub fn with_max_len(max: usize) -> Self {
        MbusReassembler {
            asm: Assembly::new(Layer::Mbus, max),
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

    /// The segment number expected next, if a message is open.
    pub fn expected_sequence(&self) -> Option<u8> {
        self.asm.next().and_then(|n| u8::try_from(n).ok())
    }

    /// Stream offset of the first frame of the open message (for time-outs and records).
    pub fn pending_offset(&self) -> Option<u64> {
        self.asm.first_offset()
    }

    /// Drops the open message without a record (e.g. after a time-out), keeping the buffer.
    pub fn reset(&mut self) {
        self.asm.reset();
    }

    /// Feeds a frame found at stream offset `offset`.
    pub fn push<'s>(&'s mut self, frame: &MbusFrame<'s>, offset: u64) -> Progress<'s> {
        let len = u64::try_from(frame.as_bytes().len()).unwrap_or(u64::MAX);
        let (transport, apdu) = match frame.transport() {
            Ok(t) => t,
            Err(error) => {
                return Progress {
                    complete: None,
                    discarded: Some(crate::hdlc::ErrorRecord {
                        offset,
                        length: len,
                        error,
                    }),
                }
            }
        };
        match transport {
            Transport::Dlms(t) => {
                self.asm
                    .sequenced(0, u32::from(t.sequence), t.fin, apdu, offset, len)
            }
            Transport::Long(_) | Transport::Short(_) if apdu.len() > self.asm.max() => Progress {
                complete: None,
                discarded: Some(self.asm.orphan(
                    ErrorKind::Malformed("message exceeds the reassembly size bound"),
                    offset,
                    len,
                )),
            },
            Transport::Long(_) | Transport::Short(_) => Progress {
                complete: Some(Reassembled {
                    apdu,
                    first_offset: offset,
                    last_offset: offset,
                    end_offset: offset.saturating_add(len),
                    parts: 1,
                }),
                discarded: None,
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    type Split = (Vec<(usize, usize)>, Vec<(usize, &'static str)>);

    // PROTOCOL.md Appendix A.6: the second telegram of the Netz NÖ Kaifa MA309 push.
    #[rustfmt::skip]
    static NOE_SECOND: [u8; 26] = [
        0x68, 0x14, 0x14, 0x68,       // long frame, L = 20
        0x53,                         // C: SND_UD
        0xFF,                         // A: broadcast
        0x11,                         // CI: FIN, segment 1
        0x01, 0x67,                   // STSAP 1, DTSAP 0x67
        0x41, 0x9A, 0x3C, 0xFD, 0xA4, // the last 15 ciphertext bytes
        0x4B, 0xE4, 0x38, 0xC9, 0x6F,
        0x0E, 0x38, 0xBF, 0x83, 0xD9,
        0x83,                         // checksum
        0x16,                         // stop
    ];

    // esphome-libs/dlms_parser `mbus_kmswest`: a whole KSM West push in one frame.
    #[rustfmt::skip]
    static KSM_WEST: [u8; 99] = [
        0x68, 0x5D, 0x5D, 0x68,       // long frame, L = 93
        0x53,                         // C: SND_UD
        0xFF,                         // A: broadcast
        0x10,                         // CI: FIN, segment 0 (the only one)
        0x01, 0x67,                   // STSAP 1, DTSAP 0x67
        0xDB,                         // general-glo-ciphering
        0x08, 0x45, 0x4C, 0x53, 0x65, // system title "ELSe" 70 00 00 01
        0x70, 0x00, 0x00, 0x01,
        0x4D,                         // length 77
        0x20,                         // security control: encryption only
        0x00, 0x00, 0x54, 0x1F,       // invocation counter
        0xE2, 0xA3, 0x30, 0xAD, 0x29, 0xE0, 0xD6, 0x8C, 0x09, 0x36, // ciphertext (72 bytes)
        0x5B, 0xA2, 0x86, 0xDB, 0xF3, 0xA7, 0xDF, 0x14, 0xB7, 0x79,
        0x0E, 0x14, 0xD1, 0x55, 0x6A, 0xB9, 0x74, 0xB2, 0x7E, 0xC5,
        0x84, 0x7D, 0x11, 0x93, 0x6D, 0xB5, 0x19, 0x1D, 0xD0, 0xF4,
        0x89, 0xBA, 0x76, 0x8C, 0x2D, 0xBB, 0x68, 0xF6, 0xB0, 0x01,
        0xE3, 0x04, 0xC2, 0x1F, 0xEA, 0x14, 0x7E, 0x0B, 0x2E, 0x2C,
        0xA1, 0xB9, 0x1D, 0x57, 0x4D, 0xF4, 0xF7, 0xF5, 0x82, 0xCE,
        0xBE, 0x92,
        0x83,                         // checksum
        0x16,                         // stop
    ];

    /// Walks a complete buffer like a splitter would: frames with offsets, and rejected spans.
    fn split(buf: &[u8]) -> Split {
        let (mut frames, mut bad) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < buf.len() {
            if buf[i] != START {
                i += 1;
                continue;
            }
            match classify_final(&buf[i..]) {
                MbusCandidate::Frame { len } => {
                    frames.push((i, len));
                    i += len;
                }
                MbusCandidate::Bad { error, .. } => {
                    bad.push((i, error.kind_name()));
                    i += 1;
                }
                MbusCandidate::NotAFrame => i += 1,
                MbusCandidate::NeedMore { .. } => unreachable!(),
            }
        }
        (frames, bad)
    }

    #[test]
    fn the_ksm_west_frame_is_a_whole_message() {
        let f = MbusFrame::new_checked(&KSM_WEST).unwrap();
        assert_eq!((f.length(), f.ci()), (93, 0x10));
        let (t, apdu) = f.transport().unwrap();
        assert!(matches!(
            t,
            Transport::Dlms(DlmsTransport {
                fin: true,
                sequence: 0,
                ..
            })
        ));
        assert_eq!(apdu.len(), 88);
        assert_eq!(crate::dlms::gbt::announced_len(apdu), Some(88));
        let mut r = MbusReassembler::new();
        let p = r.push(&f, 0);
        let done = p.complete.unwrap();
        assert_eq!(done.apdu, apdu);
        assert_eq!((done.parts, done.end_offset), (1, 99));
        assert!(!r.is_pending());
    }

    #[test]
    fn the_noe_second_telegram() {
        let f = MbusFrame::new_checked(&NOE_SECOND).unwrap();
        assert_eq!(f.length(), 20);
        assert_eq!(f.length_field(), 20);
        assert!(!f.wrapped_length());
        assert_eq!((f.control(), f.address(), f.ci()), (0x53, 0xFF, 0x11));
        assert_eq!(f.checksum(), 0x83);
        assert_eq!(f.user_data().len(), 17);
        let (t, seg) = f.transport().unwrap();
        assert_eq!(
            t,
            Transport::Dlms(DlmsTransport {
                fin: true,
                sequence: 1,
                stsap: 0x01,
                dtsap: 0x67
            })
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.from_meter(), None);
        assert_eq!(seg, &NOE_SECOND[9..24]);
        assert_eq!(classify(&NOE_SECOND), MbusCandidate::Frame { len: 26 });
        assert_eq!(MbusFrame::parse(&NOE_SECOND).unwrap().1, 26);
    }

    #[test]
    fn every_prefix_needs_more_and_never_panics() {
        let frames = [
            NOE_SECOND.to_vec(),
            emit(0x53, 0xFF, 0x00, &[0xAB; 254]), // L = 257, sent as 0x01
            emit(0x53, 0xFF, 0x10, &[]),
        ];
        for f in &frames {
            let full = classify(f);
            assert!(matches!(full, MbusCandidate::Frame { len } if len == f.len()));
            for n in 0..f.len() {
                match classify(&f[..n]) {
                    MbusCandidate::NeedMore { needed } => assert!(needed > n, "{n}"),
                    other => panic!("prefix {n}: {other:?}"),
                }
                match classify_final(&f[..n]) {
                    MbusCandidate::Bad { error, span } => {
                        assert_eq!(error.kind_name(), "truncated", "{n}");
                        assert_eq!(span, n);
                    }
                    other => panic!("prefix {n}: {other:?}"),
                }
                let e = MbusFrame::new_checked(&f[..n]).unwrap_err();
                assert_eq!(e.layer, Layer::Mbus);
                assert!(MbusFrame::parse(&f[..n]).is_err());
            }
        }
    }

    #[test]
    fn checksum_and_stop_byte_failures() {
        let mut bad_sum = NOE_SECOND;
        bad_sum[24] ^= 0x01;
        let MbusCandidate::NeedMore { needed } = classify(&bad_sum) else {
            panic!("the L + 256 hypothesis still needs bytes");
        };
        assert_eq!(needed, 20 + 256 + 6);
        match classify_final(&bad_sum) {
            MbusCandidate::Bad { error, span } => {
                assert_eq!(error.kind_name(), "bad_checksum");
                assert_eq!(error.offset, 24);
                assert_eq!(
                    error.kind,
                    ErrorKind::Checksum {
                        field: CheckField::MbusSum,
                        expected: 0x83,
                        found: 0x82
                    }
                );
                assert_eq!(span, 26);
            }
            other => panic!("{other:?}"),
        }
        let e = MbusFrame::new_checked(&bad_sum).unwrap_err();
        assert_eq!(e.kind_name(), "bad_checksum");

        let mut bad_stop = NOE_SECOND;
        bad_stop[25] = 0x17;
        let e = MbusFrame::new_checked(&bad_stop).unwrap_err();
        assert_eq!((e.kind_name(), e.offset), ("malformed", 25));
        // followed by enough bytes, the decision is final and the same in one piece or two
        let mut s = bad_stop.to_vec();
        s.extend_from_slice(&[0u8; 300]);
        let MbusCandidate::Bad { error, span } = classify(&s) else {
            panic!()
        };
        assert_eq!((error.offset, span), (25, 26));
        assert_eq!(classify_final(&s), classify(&s));

        // a corrupted data byte
        let mut bad_data = NOE_SECOND;
        bad_data[12] ^= 0x40;
        assert_eq!(
            MbusFrame::new_checked(&bad_data).unwrap_err().kind_name(),
            "bad_checksum"
        );
    }

    #[test]
    fn not_a_frame() {
        assert_eq!(classify(&[0x10, 0x53]), MbusCandidate::NotAFrame);
        assert_eq!(classify(&[0x68, 0x14, 0x15]), MbusCandidate::NotAFrame);
        assert_eq!(
            classify(&[0x68, 0x14, 0x14, 0x69]),
            MbusCandidate::NotAFrame
        );
        assert_eq!(classify(&[]), MbusCandidate::NeedMore { needed: 1 });
        assert_eq!(classify(&[0x68]), MbusCandidate::NeedMore { needed: 4 });
        assert_eq!(
            classify(&[0x68, 0x14]),
            MbusCandidate::NeedMore { needed: 4 }
        );
        assert!(MbusFrame::parse(&[0x10, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn sagemcom_length_modulo_256() {
        // 257 bytes of L: C, A, CI, STSAP, DTSAP and 252 bytes of APDU
        let mut data = vec![0x01, 0x67, 0xDB, 0x08];
        data.extend((0..250u32).map(|i| (i * 7 % 256) as u8));
        let f = emit(0x53, 0xFF, 0x00, &data);
        #[rustfmt::skip]
        assert_eq!(&f[..7], &[
            0x68, 0x01, 0x01, 0x68,   // L = 257 mod 256
            0x53, 0xFF, 0x00,         // C, A, CI segment 0
        ]);
        assert_eq!(f.len(), 263);
        assert_eq!(classify(&f), MbusCandidate::Frame { len: 263 });
        let mut s = f.clone();
        s.extend_from_slice(&NOE_SECOND);
        assert_eq!(classify(&s), MbusCandidate::Frame { len: 263 });
        let frame = MbusFrame::new_checked(&f).unwrap();
        assert_eq!(frame.length(), 257);
        assert_eq!(frame.length_field(), 1);
        assert!(frame.wrapped_length());
        assert_eq!(frame.transport().unwrap().1, &data[2..]);
        // the wrapped L is also accepted when the standard reading is a plausible length
        let g = emit(0x53, 0xFF, 0x00, &[0x42; 300]);
        assert_eq!(g[1], ((303 - 256) & 0xFF) as u8);
        assert_eq!(classify(&g), MbusCandidate::Frame { len: 309 });
        // a damaged wrapped frame is rejected with its own checksum error
        let mut bad = f.clone();
        bad[100] ^= 0x01;
        match classify(&bad) {
            MbusCandidate::Bad { error, span } => {
                assert_eq!(
                    (error.kind_name(), error.offset, span),
                    ("bad_checksum", 261, 263)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn firmware_pseudo_frames_are_rejected() {
        // 68 00 00 68: a firmware's re-assembled dump with the real length elsewhere
        let mut f = emit(0x53, 0xFF, 0x10, &[0x55; 262]);
        f[1] = 0;
        f[2] = 0;
        let (frames, bad) = split(&f);
        assert!(frames.is_empty());
        assert_eq!(bad.first(), Some(&(0, "malformed")));
    }

    #[test]
    fn chunking_never_changes_a_decision() {
        let mut s = Vec::new();
        s.extend_from_slice(&[0x68, 0x68, 0x00, 0x68, 0x05, 0x05, 0x68]);
        s.extend_from_slice(&emit(0x53, 0xFF, 0x00, &[0x68; 254]));
        s.extend_from_slice(&NOE_SECOND);
        let mut corrupt = NOE_SECOND;
        corrupt[10] = 0x68;
        s.extend_from_slice(&corrupt);
        s.extend_from_slice(&KSM_WEST[..98]);
        // a control frame (L = 3)
        s.extend_from_slice(&[0x68, 0x03, 0x03, 0x68, 0x53, 0xFE, 0x10, 0x61, 0x16]);
        for i in 0..s.len() {
            let full = classify_final(&s[i..]);
            for n in 0..=s.len() - i {
                match classify(&s[i..i + n]) {
                    MbusCandidate::NeedMore { needed } => assert!(needed > n),
                    d => assert_eq!(d, classify(&s[i..]), "at {i}, {n} bytes"),
                }
            }
            if !matches!(classify(&s[i..]), MbusCandidate::NeedMore { .. }) {
                assert_eq!(full, classify(&s[i..]));
            }
        }
        let (frames, _) = split(&s);
        let lens: Vec<usize> = frames.iter().map(|f| f.1).collect();
        assert_eq!(lens, vec![263, 26, 9]);
    }

    #[test]
    fn transport_headers() {
        // CI 0x7C: long EN 13757-3 header, then the APDU
        #[rustfmt::skip]
        let long = [
            0x78, 0x56, 0x34, 0x12,   // identification 12345678
            0x2D, 0x2C,               // manufacturer (KAM)
            0x01,                     // version
            0x02,                     // device type: electricity
            0x2A,                     // access number
            0x00,                     // status
            0x00, 0x00,               // configuration
            0x0F, 0x00, 0x00, 0x00, 0x01, 0x00, // data-notification
        ];
        let f = emit(0x08, 0x01, 0x7C, &long);
        let frame = MbusFrame::new_checked(&f).unwrap();
        let (t, apdu) = frame.transport().unwrap();
        assert_eq!(t.len(), 12);
        assert_eq!(t.from_meter(), Some(true));
        let Transport::Long(h) = t else { panic!() };
        assert_eq!(h.identification, 0x1234_5678);
        assert_eq!(h.manufacturer, 0x2C2D);
        assert_eq!(
            (h.version, h.device_type, h.short.access_number),
            (1, 2, 0x2A)
        );
        assert_eq!(apdu, &long[12..]);
        // CI 0x61: short header
        let f = emit(0x53, 0xFE, 0x61, &[0x01, 0x00, 0x10, 0x05, 0x0F]);
        let frame = MbusFrame::new_checked(&f).unwrap();
        let (t, apdu) = frame.transport().unwrap();
        assert_eq!(
            t,
            Transport::Short(ShortHeader {
                ci: 0x61,
                access_number: 1,
                status: 0,
                configuration: 0x0510
            })
        );
        assert_eq!(t.from_meter(), Some(false));
        assert_eq!(apdu, &[0x0F]);
        // too short for its header, and a CI that carries no DLMS
        let f = emit(0x53, 0xFE, 0x7D, &[0x01, 0x00]);
        let e = MbusFrame::new_checked(&f).unwrap().transport().unwrap_err();
        assert_eq!(e.kind_name(), "truncated");
        let f = emit(0x53, 0xFE, 0x72, &[0x01, 0x00]);
        let e = MbusFrame::new_checked(&f).unwrap().transport().unwrap_err();
        assert_eq!(
            (e.kind, e.offset),
            (ErrorKind::Unsupported { tag: 0x72 }, 6)
        );
        let f = emit(0x53, 0xFE, 0x10, &[0x01]);
        assert!(MbusFrame::new_checked(&f).unwrap().transport().is_err());
    }

    fn segment(ci: u8, apdu: &[u8]) -> Vec<u8> {
        let mut data = vec![0x01, 0x67];
        data.extend_from_slice(apdu);
        emit(0x53, 0xFF, ci, &data)
    }

    #[test]
    fn reassembles_two_segments() {
        let a = segment(0x00, b"first ");
        let b = segment(0x11, b"second");
        let mut r = MbusReassembler::new();
        let fa = MbusFrame::new_checked(&a).unwrap();
        let fb = MbusFrame::new_checked(&b).unwrap();
        assert!(r.push(&fa, 1000).is_idle());
        assert_eq!(r.expected_sequence(), Some(1));
        assert_eq!(r.pending_len(), 6);
        assert_eq!(r.pending_offset(), Some(1000));
        let p = r.push(&fb, 1000 + a.len() as u64);
        let done = p.complete.unwrap();
        assert_eq!(done.apdu, b"first second");
        assert_eq!(done.first_offset, 1000);
        assert_eq!(done.last_offset, 1000 + a.len() as u64);
        assert_eq!(done.end_offset, 1000 + (a.len() + b.len()) as u64);
        assert_eq!(done.parts, 2);
        assert!(!r.is_pending());
    }

    #[test]
    fn a_lost_middle_segment_loses_only_its_message() {
        let msgs: Vec<Vec<Vec<u8>>> = (0..2u8)
            .map(|m| {
                vec![
                    segment(0x00, &[m; 10]),
                    segment(0x01, &[m + 10; 10]),
                    segment(0x12, &[m + 20; 10]),
                ]
            })
            .collect();
        let mut r = MbusReassembler::new();
        let mut at = 0u64;
        let mut complete = Vec::new();
        let mut errors = Vec::new();
        for (m, msg) in msgs.iter().enumerate() {
            for (k, f) in msg.iter().enumerate() {
                let len = f.len() as u64;
                if m == 0 && k == 1 {
                    at += len; // lost on the line
                    continue;
                }
                let frame = MbusFrame::new_checked(f).unwrap();
                let p = r.push(&frame, at);
                if let Some(done) = p.complete {
                    complete.push((done.apdu.to_vec(), done.first_offset));
                }
                errors.extend(p.discarded);
                at += len;
            }
        }
        assert_eq!(complete.len(), 1);
        let mut want = vec![1u8; 10];
        want.extend([11u8; 10]);
        want.extend([21u8; 10]);
        assert_eq!(complete[0].0, want);
        assert_eq!(complete[0].1, 3 * msgs[0][0].len() as u64);
        assert_eq!(errors.len(), 1);
        let rec = errors[0];
        assert_eq!(
            rec.error.kind,
            ErrorKind::Sequence {
                expected: 1,
                found: 2
            }
        );
        assert_eq!(rec.offset, 0);
        assert_eq!(rec.length, 3 * msgs[0][0].len() as u64);
        assert_eq!(rec.error.layer, Layer::Mbus);
    }

    #[test]
    fn restarts_orphans_and_unsegmented_frames() {
        let mut r = MbusReassembler::new();
        // an orphan continuation
        let f = segment(0x11, b"x");
        let p = r.push(&MbusFrame::new_checked(&f).unwrap(), 0);
        assert_eq!(
            p.discarded.unwrap().error.kind,
            ErrorKind::Sequence {
                expected: 0,
                found: 1
            }
        );
        // a new segment 0 discards the open message; a single-frame message completes at once
        let f = segment(0x00, b"open");
        assert!(r.push(&MbusFrame::new_checked(&f).unwrap(), 10).is_idle());
        let g = segment(0x10, b"single");
        let p = r.push(&MbusFrame::new_checked(&g).unwrap(), 30);
        assert_eq!(p.complete.unwrap().apdu, b"single");
        assert_eq!(p.complete.unwrap().apdu.as_ptr(), g[9..].as_ptr());
        let rec = p.discarded.unwrap();
        assert_eq!((rec.offset, rec.length), (10, f.len() as u64));
        // unsegmented CI 0x7D leaves an open message alone
        assert!(r.push(&MbusFrame::new_checked(&f).unwrap(), 50).is_idle());
        let h = emit(0x08, 0x01, 0x7D, &[1, 0, 0, 0, 0x0F, 0xAA]);
        let p = r.push(&MbusFrame::new_checked(&h).unwrap(), 70);
        assert_eq!(p.complete.unwrap().apdu, &[0x0F, 0xAA]);
        assert!(p.discarded.is_none());
        assert!(r.is_pending());
        let k = segment(0x11, b"!");
        let p = r.push(&MbusFrame::new_checked(&k).unwrap(), 90);
        assert_eq!(p.complete.unwrap().apdu, b"open!");
        // a CI without DLMS is reported
        let z = emit(0x53, 0xFF, 0x72, &[0; 12]);
        let p = r.push(&MbusFrame::new_checked(&z).unwrap(), 110);
        assert_eq!(p.discarded.unwrap().kind(), "unsupported");
    }

    #[test]
    fn bounded_size_and_buffer_reuse() {
        let mut r = MbusReassembler::with_max_len(300);
        assert_eq!(r.max_len(), 300);
        let a = segment(0x00, &[1; 200]);
        let b = segment(0x01, &[2; 200]);
        let c = segment(0x12, &[3; 10]);
        assert!(r.push(&MbusFrame::new_checked(&a).unwrap(), 0).is_idle());
        let p = r.push(&MbusFrame::new_checked(&b).unwrap(), 300);
        let rec = p.discarded.unwrap();
        assert_eq!(rec.kind(), "malformed");
        assert_eq!((rec.offset, rec.length), (0, 300 + b.len() as u64));
        let p = r.push(&MbusFrame::new_checked(&c).unwrap(), 600);
        assert_eq!(p.discarded.unwrap().kind(), "bad_sequence");
        let h = emit(0x08, 0x01, 0x7D, &[0u8; 310]);
        let p = r.push(&MbusFrame::new_checked(&h).unwrap(), 700);
        assert_eq!(p.discarded.unwrap().kind(), "malformed");

        let mut r = MbusReassembler::new();
        let mut ptr = None;
        let fin = segment(0x11, &[3; 10]);
        for _ in 0..4 {
            assert!(r.push(&MbusFrame::new_checked(&a).unwrap(), 0).is_idle());
            let p = r.push(&MbusFrame::new_checked(&fin).unwrap(), 0);
            let p = p.complete.unwrap().apdu.as_ptr() as usize;
            assert_eq!(*ptr.get_or_insert(p), p);
        }
        r.reset();
        assert_eq!(r.pending_len(), 0);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_decide_like_their_prefixes(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            frames in proptest::collection::vec((0u8..0x20, 0usize..300), 0..4),
            cuts in proptest::collection::vec(0usize..700, 1..6),
        ) {
            // noise with 0x68 starts sprinkled in, and some real frames
            let mut s = Vec::new();
            for (k, b) in noise.iter().enumerate() {
                s.push(if k % 37 == 0 { START } else { *b });
            }
            for (ci, n) in &frames {
                s.extend_from_slice(&emit(0x53, 0xFF, *ci, &noise[..(*n).min(noise.len())]));
            }
            let mut re = MbusReassembler::with_max_len(400);
            for i in (0..s.len()).filter(|&i| s[i] == START) {
                let full = classify(&s[i..]);
                for &c in &cuts {
                    let n = c.min(s.len() - i);
                    match classify(&s[i..i + n]) {
                        MbusCandidate::NeedMore { needed } => proptest::prop_assert!(needed > n),
                        d => proptest::prop_assert_eq!(d, full),
                    }
                }
                if let MbusCandidate::Frame { len } = classify_final(&s[i..]) {
                    let f = MbusFrame::new_checked(&s[i..i + len]).unwrap();
                    let _ = re.push(&f, i as u64);
                }
            }
        }
    }
}
