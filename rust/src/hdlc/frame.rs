//! Zero-copy view of one HDLC frame, frame format type 3 (IEC 62056-46 §6.4 / Green Book).
//!
//! ```text
//! 7E | format(2) | dest addr(1..4) | src addr(1..4) | control | [HCS(2) | information] | FCS(2) | 7E
//! ```
//! The format field holds the type nibble `0xA`, the segmentation bit and an 11-bit length that
//! counts every byte between the flags. Meters do not byte-stuff, so the length field is the only
//! reliable delimiter (PROTOCOL.md §2.3).
//!
//! [`Frame`] wraps the bytes *between* the flags. Every accessor is total: once
//! [`Frame::new_checked`] has returned `Ok`, no accessor can panic, and none indexes unchecked.

use crate::crc::{fcs16, fcs16_after_checked};
use crate::error::{CheckField, Error, ErrorKind, Layer, Result};

/// The HDLC opening and closing flag.
pub const FLAG: u8 = 0x7E;

/// Smallest possible frame between the flags: format(2) + dest(1) + src(1) + control(1) + FCS(2).
pub const MIN_FRAME_LEN: u16 = 7;

/// Largest length the 11-bit length field can express.
pub const MAX_FRAME_LEN: u16 = 0x07FF;

/// Byte ranges of the fixed fields (relative to the first byte after the opening flag).
mod field {
    pub const FORMAT: core::ops::Range<usize> = 0..2;
    pub const DEST: usize = 2;
}

/// An HDLC address of 1, 2 or 4 bytes (extended addressing: bit 0 set marks the last byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    raw: [u8; 4],
    len: u8,
}

impl Address {
    /// The address bytes as sent.
    pub fn bytes(&self) -> &[u8] {
        self.raw.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Number of bytes on the wire (1..=4).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: an address has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address value: the 7-bit groups (`byte >> 1`) concatenated, most significant first.
    pub fn value(&self) -> u32 {
        self.bytes()
            .iter()
            .fold(0u32, |acc, &b| (acc << 7) | u32::from(b >> 1))
    }

    /// Reads an address starting at `offset`, bounded by `limit` (the claimed frame end) and
    /// by the bytes available.
    fn parse(buf: &[u8], offset: usize, limit: usize) -> Result<(Address, usize)> {
        let mut raw = [0u8; 4];
        for (k, slot) in raw.iter_mut().enumerate() {
            let at = offset + k;
            if at >= limit {
                return Err(Error::new(
                    Layer::Hdlc,
                    at,
                    ErrorKind::Malformed("address runs past the frame length"),
                ));
            }
            let Some(&b) = buf.get(at) else {
                return Err(Error::new(
                    Layer::Hdlc,
                    at,
                    ErrorKind::Truncated {
                        needed: 1,
                        available: 0,
                    },
                ));
            };
            *slot = b;
            if b & 1 == 1 {
                // k is at most 3 here, so k + 1 fits a u8
                let len = u8::try_from(k + 1).unwrap_or(4);
                return Ok((Address { raw, len }, at + 1));
            }
        }
        Err(Error::new(Layer::Hdlc, offset, ErrorKind::BadAddress))
    }
}

/// The parsed header of a frame: everything up to and including the control byte, plus the
/// verified HCS when the frame has an information field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Segmentation (S) bit: more segments of the same APDU follow.
    pub segmented: bool,
    /// The 11-bit length: bytes between the flags.
    pub length: u16,
    /// Destination (client) address.
    pub dest: Address,
    /// Source (server) address.
    pub src: Address,
    /// Control byte (`0x13` UI with P/F for most meters, `0x10` for Kaifa; never filtered on).
    pub control: u8,
    /// Bytes from the format field through the control byte.
    pub header_len: u8,
    /// The HCS as sent, present iff an information field follows.
    pub hcs: Option<u16>,
}

impl Header {
    /// Parses and checks the header at the start of `buf` (the bytes after the opening flag).
    ///
    /// Checks the format type, the addresses, that the length leaves room for the header, and the
    /// HCS when an information field is announced. Needs only the header bytes, so a stream
    /// splitter can reject a false start long before the claimed frame end has arrived.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] when `buf` ends inside the header (more bytes may fix that);
    /// [`ErrorKind::BadFormat`], [`ErrorKind::BadLength`], [`ErrorKind::BadAddress`],
    /// [`ErrorKind::Malformed`] or an HCS [`ErrorKind::Checksum`] otherwise.
    pub fn parse(buf: &[u8]) -> Result<Header> {
        let fmt = buf.get(field::FORMAT).ok_or(Error::new(
            Layer::Hdlc,
            0,
            ErrorKind::Truncated {
                needed: 2,
                available: buf.len(),
            },
        ))?;
        let (hi, lo) = match fmt {
            [hi, lo] => (*hi, *lo),
            _ => return Err(Error::new(Layer::Hdlc, 0, ErrorKind::Malformed("format"))),
        };
        if hi >> 4 != 0xA {
            return Err(Error::new(
                Layer::Hdlc,
                0,
                ErrorKind::BadFormat { found: hi >> 4 },
            ));
        }
        let segmented = hi & 0x08 != 0;
        let length = (u16::from(hi & 0x07) << 8) | u16::from(lo);
        if length < MIN_FRAME_LEN {
            return Err(Error::new(
                Layer::Hdlc,
                0,
                ErrorKind::BadLength {
                    length,
                    minimum: MIN_FRAME_LEN,
                },
            ));
        }
        let limit = usize::from(length);
        let bad_len = |minimum: usize| {
            Error::new(
                Layer::Hdlc,
                0,
                ErrorKind::BadLength {
                    length,
                    minimum: u16::try_from(minimum).unwrap_or(u16::MAX),
                },
            )
        };
        let (dest, p) = Address::parse(buf, field::DEST, limit).map_err(|e| match e.kind {
            ErrorKind::Malformed(_) => bad_len(e.offset + 5),
            _ => e,
        })?;
        let (src, p) = Address::parse(buf, p, limit).map_err(|e| match e.kind {
            ErrorKind::Malformed(_) => bad_len(e.offset + 4),
            _ => e,
        })?;
        let control_at = p;
        let header_len = control_at + 1;
        // room for control + FCS
        if header_len + 2 > limit {
            return Err(bad_len(header_len + 2));
        }
        let control = *buf.get(control_at).ok_or(Error::new(
            Layer::Hdlc,
            control_at,
            ErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
        ))?;
        let has_info = limit > header_len + 2;
        let hcs = if has_info {
            // HCS + FCS must both fit.
            if limit < header_len + 4 {
                return Err(bad_len(header_len + 4));
            }
            let wire = buf.get(header_len..header_len + 2).ok_or(Error::new(
                Layer::Hdlc,
                header_len,
                ErrorKind::Truncated {
                    needed: 2,
                    available: buf.len().saturating_sub(header_len),
                },
            ))?;
            let found = le16(wire);
            let expected = fcs16(buf.get(..header_len).unwrap_or(&[]));
            if found != expected {
                return Err(Error::new(
                    Layer::Hdlc,
                    header_len,
                    ErrorKind::Checksum {
                        field: CheckField::Hcs,
                        expected,
                        found,
                    },
                ));
            }
            Some(found)
        } else {
            None
        };
        Ok(Header {
            segmented,
            length,
            dest,
            src,
            control,
            header_len: u8::try_from(header_len).unwrap_or(u8::MAX),
            hcs,
        })
    }

    /// Offset of the information field (after the HCS), relative to the format field.
    pub fn info_offset(&self) -> usize {
        usize::from(self.header_len) + if self.hcs.is_some() { 2 } else { 0 }
    }

    /// Where the bytes a verified HCS covers (with the HCS) end, if the header has one.
    #[inline]
    pub(crate) fn checked_until(&self) -> Option<usize> {
        self.hcs.is_some().then(|| self.info_offset())
    }
}

fn le16(b: &[u8]) -> u16 {
    match b {
        [lo, hi, ..] => u16::from_le_bytes([*lo, *hi]),
        _ => 0,
    }
}

/// A checked, zero-copy HDLC frame: the bytes between the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
    header: Header,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks `buffer` (the bytes between the flags) completely: header, HCS, that the length
    /// field equals the buffer length, and the FCS.
    ///
    /// # Errors
    /// Any header error of [`Header::parse`]; [`ErrorKind::Truncated`] when the buffer is shorter
    /// than the length field says; [`ErrorKind::BadLength`] when it is longer; an FCS
    /// [`ErrorKind::Checksum`]. Offsets are relative to `buffer`.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let buf = buffer.as_ref();
        let header = Header::parse(buf)?;
        let len = usize::from(header.length);
        if buf.len() < len {
            return Err(Error::new(
                Layer::Hdlc,
                0,
                ErrorKind::Truncated {
                    needed: len,
                    available: buf.len(),
                },
            ));
        }
        if buf.len() > len {
            return Err(Error::new(
                Layer::Hdlc,
                0,
                ErrorKind::BadLength {
                    length: header.length,
                    minimum: u16::try_from(buf.len()).unwrap_or(u16::MAX),
                },
            ));
        }
        check_fcs(buf, len, header.checked_until())?;
        Ok(Frame { buffer, header })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Segmentation bit.
    pub fn segmented(&self) -> bool {
        self.header.segmented
    }

    /// Destination address.
    pub fn dest_addr(&self) -> Address {
        self.header.dest
    }

    /// Source address.
    pub fn src_addr(&self) -> Address {
        self.header.src
    }

    /// Control byte.
    pub fn control(&self) -> u8 {
        self.header.control
    }

    /// The HCS as sent, if the frame has an information field.
    pub fn hcs(&self) -> Option<u16> {
        self.header.hcs
    }

    /// The FCS as sent.
    pub fn fcs(&self) -> u16 {
        let b = self.buffer.as_ref();
        le16(b.get(b.len().saturating_sub(2)..).unwrap_or(&[]))
    }

    /// The information field (LLC header + APDU or an APDU segment); empty if there is none.
    pub fn information(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.header.info_offset()..b.len().saturating_sub(2))
            .unwrap_or(&[])
    }

    /// The bytes between the flags.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Returns the wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<'a> Frame<&'a [u8]> {
    /// Checks a frame given with its opening and closing flags (`7E … 7E`), as captured.
    /// Error offsets are relative to `flagged` (the opening flag is byte 0).
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] when a flag is missing, otherwise as [`Frame::new_checked`].
    pub fn from_flagged(flagged: &'a [u8]) -> Result<Frame<&'a [u8]>> {
        match flagged {
            [FLAG, inner @ .., last] if flagged.len() >= 2 => {
                let f = Frame::new_checked(inner).map_err(|e| e.add_offset(1))?;
                if *last != FLAG {
                    return Err(Error::new(
                        Layer::Hdlc,
                        flagged.len() - 1,
                        ErrorKind::MissingClosingFlag { found: *last },
                    ));
                }
                Ok(f)
            }
            [first, ..] if *first != FLAG => Err(Error::new(
                Layer::Hdlc,
                0,
                ErrorKind::Malformed("frame does not start with the flag 0x7E"),
            )),
            _ => Err(Error::new(
                Layer::Hdlc,
                0,
                ErrorKind::Truncated {
                    needed: usize::from(MIN_FRAME_LEN) + 2,
                    available: flagged.len(),
                },
            )),
        }
    }

    /// The information field, borrowed for the lifetime of the input.
    pub fn information_slice(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        b.get(self.header.info_offset()..b.len().saturating_sub(2))
            .unwrap_or(&[])
    }
}

/// Verifies the FCS of the `len` bytes at the start of `buf` (between the flags) of a frame
/// whose header parsed, given where its verified HCS ends ([`Header::checked_until`]): the
/// bytes that HCS already covered are not run through again. (Not the header itself: a
/// header just written field by field and passed whole would be read back in wide loads that
/// wait on those writes.)
#[inline]
pub(crate) fn check_fcs(buf: &[u8], len: usize, checked: Option<usize>) -> Result<()> {
    let end = len.saturating_sub(2);
    let found = le16(buf.get(end..len).unwrap_or(&[]));
    let expected = match checked {
        Some(at) => fcs16_after_checked(buf.get(at..end).unwrap_or(&[])),
        None => fcs16(buf.get(..end).unwrap_or(&[])),
    };
    if expected != found {
        return Err(Error::new(
            Layer::Hdlc,
            len.saturating_sub(2),
            ErrorKind::Checksum {
                field: CheckField::Fcs,
                expected,
                found,
            },
        ));
    }
    Ok(())
}

/// Builds a frame with correct HCS and FCS (test and fixture encoder).
///
/// `dest` and `src` are the address bytes as sent (bit 0 of the last byte set).
#[cfg(any(test, feature = "std"))]
pub fn emit(dest: &[u8], src: &[u8], control: u8, segmented: bool, info: &[u8]) -> Vec<u8> {
    let header_len = 2 + dest.len() + src.len() + 1;
    let len = header_len + if info.is_empty() { 0 } else { 2 + info.len() } + 2;
    let len11 = u16::try_from(len).unwrap_or(MAX_FRAME_LEN) & MAX_FRAME_LEN;
    let mut v = Vec::with_capacity(len + 2);
    v.push(FLAG);
    let hi = 0xA0 | if segmented { 0x08 } else { 0 } | ((len11 >> 8) as u8 & 0x07);
    v.push(hi);
    v.push((len11 & 0xFF) as u8);
    v.extend_from_slice(dest);
    v.extend_from_slice(src);
    v.push(control);
    if !info.is_empty() {
        let hcs = fcs16(v.get(1..).unwrap_or(&[]));
        v.extend_from_slice(&hcs.to_le_bytes());
        v.extend_from_slice(info);
    }
    let fcs = fcs16(v.get(1..).unwrap_or(&[]));
    v.extend_from_slice(&fcs.to_le_bytes());
    v.push(FLAG);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    // Aidon list 1 (amshan test, PROTOCOL.md §2.2 worked example): 1661 W, 0x7D inside.
    #[rustfmt::skip]
    static AIDON_LIST1: [u8; 44] = [
        0x7E,
        0xA0, 0x2A,                   // format type 0xA, S=0, length 42
        0x41,                         // dest: client 32
        0x08, 0x83,                   // src: upper 4, lower 65
        0x13,                         // control: UI, P/F
        0x04, 0x13,                   // HCS 0x1304
        0xE6, 0xE7, 0x00,             // LLC
        0x0F, 0x40, 0x00, 0x00, 0x00, // data-notification, invoke id
        0x00,                         // no date-time
        0x01, 0x01,                   // array[1]
        0x02, 0x03,                   // structure[3]
        0x09, 0x06, 0x01, 0x00, 0x01, 0x07, 0x00, 0xFF, // OBIS 1.0.1.7.0.255
        0x06, 0x00, 0x00, 0x06, 0x7D, // uint32 1661
        0x02, 0x02, 0x0F, 0x00, 0x16, 0x1B, // scaler 0, unit W
        0x1C, 0x05,                   // FCS
        0x7E,
    ];

    #[test]
    fn parse_aidon_list1() {
        let f = Frame::from_flagged(&AIDON_LIST1).unwrap();
        assert!(!f.segmented());
        assert_eq!(f.header().length, 42);
        assert_eq!(f.dest_addr().bytes(), &[0x41]);
        assert_eq!(f.dest_addr().value(), 32);
        assert_eq!(f.src_addr().bytes(), &[0x08, 0x83]);
        assert_eq!(f.src_addr().value(), (4 << 7) | 65);
        assert_eq!(f.control(), 0x13);
        assert_eq!(f.hcs(), Some(0x1304));
        assert_eq!(f.fcs(), 0x051C);
        assert_eq!(&f.information()[..3], &[0xE6, 0xE7, 0x00]);
        assert_eq!(f.information().len(), 42 - 6 - 2 - 2);
    }

    #[test]
    fn emit_reproduces_aidon_list1() {
        let info = &AIDON_LIST1[9..41];
        let v = emit(&[0x41], &[0x08, 0x83], 0x13, false, info);
        assert_eq!(v.as_slice(), &AIDON_LIST1[..]);
    }

    #[test]
    fn frame_without_information_has_no_hcs() {
        // A0 08 01 02 01 10 | FCS 37 8D
        let bytes = [0x7E, 0xA0, 0x08, 0x01, 0x02, 0x01, 0x10, 0x37, 0x8D, 0x7E];
        let f = Frame::from_flagged(&bytes).unwrap();
        assert_eq!(f.hcs(), None);
        assert!(f.information().is_empty());
        assert_eq!(f.fcs(), 0x8D37);
        assert_eq!(emit(&[0x01], &[0x02, 0x01], 0x10, false, &[]), bytes);
    }

    #[test]
    fn every_truncated_prefix_is_truncated() {
        let inner = &AIDON_LIST1[1..43];
        for n in 0..inner.len() {
            let e = Frame::new_checked(&inner[..n]).unwrap_err();
            assert!(
                matches!(e.kind, ErrorKind::Truncated { .. }),
                "prefix {n}: {e:?}"
            );
        }
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let inner = AIDON_LIST1[1..43].to_vec();
        for i in 0..inner.len() {
            for bit in 0..8 {
                let mut m = inner.clone();
                m[i] ^= 1 << bit;
                assert!(Frame::new_checked(&m[..]).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn errors_name_the_field_and_offset() {
        let mut m = AIDON_LIST1;
        m[40] ^= 0xFF; // inside the information field -> FCS
        let e = Frame::from_flagged(&m).unwrap_err();
        assert_eq!(e.kind_name(), "bad_fcs");
        assert_eq!(e.offset, 41);
        let mut m = AIDON_LIST1;
        m[7] ^= 0x01; // HCS byte
        let e = Frame::from_flagged(&m).unwrap_err();
        assert_eq!(e.kind_name(), "bad_hcs");
        assert_eq!(e.offset, 7);
        let mut m = AIDON_LIST1;
        m[1] = 0x50; // format type 5
        let e = Frame::from_flagged(&m).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadFormat { found: 5 });
        let mut m = AIDON_LIST1;
        m[43] = 0x00;
        let e = Frame::from_flagged(&m).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MissingClosingFlag { found: 0 });
    }

    #[test]
    fn bad_length_and_addresses() {
        // length 5 < 7
        assert_eq!(
            Header::parse(&[0xA0, 0x05, 0x01, 0x03, 0x13])
                .unwrap_err()
                .kind,
            ErrorKind::BadLength {
                length: 5,
                minimum: 7
            }
        );
        // address without terminator in 4 bytes
        assert_eq!(
            Header::parse(&[0xA0, 0x20, 0x00, 0x00, 0x00, 0x00, 0x03])
                .unwrap_err()
                .kind,
            ErrorKind::BadAddress
        );
        // 4-byte addresses do not fit into length 8
        let e = Header::parse(&[
            0xA0, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x13,
        ])
        .unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::BadLength { length: 8, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn segmented_bit_and_long_length() {
        let info = vec![0x55u8; 1500];
        let v = emit(&[0xCF], &[0x02, 0x23], 0x03, true, &info);
        let f = Frame::from_flagged(&v).unwrap();
        assert!(f.segmented());
        assert_eq!(usize::from(f.header().length), v.len() - 2);
        assert_eq!(f.information(), &info[..]);
    }
}
