//! The crate's single error type.
//!
//! Errors are small `Copy` values that say which layer failed, at which byte offset (relative to
//! the input of that layer; callers add their base with [`Error::add_offset`]) and what was
//! expected. They never allocate, so producing one on hostile input costs nothing.

use core::fmt;

/// The protocol layer an error or an error record belongs to.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The byte stream between frames (garbage, truncated tails).
    Stream,
    /// HDLC frame format type 3 (IEC 62056-46).
    Hdlc,
    /// The LLC header `E6 E7 00`.
    Llc,
    /// The DLMS APDU (IEC 62056-5-3).
    Apdu,
    /// A-XDR encoded COSEM data (IEC 61334-6).
    Axdr,
    /// Mapping decoded COSEM objects to vendor lists and fields.
    Mapping,
    /// Wired M-Bus long frames and their DLMS transport layer (EN 13757-2).
    Mbus,
    /// Ciphered APDUs: security header, keys, AES-GCM.
    Security,
    /// DSMR/P1 ASCII telegrams.
    P1,
}

impl Layer {
    /// Lower-case name used in error records and in Python (`"hdlc"`, `"axdr"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Stream => "stream",
            Layer::Hdlc => "hdlc",
            Layer::Llc => "llc",
            Layer::Apdu => "apdu",
            Layer::Axdr => "axdr",
            Layer::Mapping => "mapping",
            Layer::Mbus => "mbus",
            Layer::Security => "security",
            Layer::P1 => "p1",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which check sequence of an HDLC frame failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckField {
    /// Header check sequence (over format, addresses and control).
    Hcs,
    /// Frame check sequence (over everything between the flags except the FCS).
    Fcs,
    /// The M-Bus long-frame checksum (sum of C .. last user-data byte, modulo 256).
    MbusSum,
    /// The CRC-16/ARC of a P1 telegram (`/` .. `!`).
    P1Crc,
}

/// What went wrong.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ended `needed` bytes into a field that needs them; `available` were there.
    Truncated {
        /// Bytes the field needs, counted from the error offset.
        needed: usize,
        /// Bytes that were there.
        available: usize,
    },
    /// A CRC did not match.
    Checksum {
        /// HCS or FCS.
        field: CheckField,
        /// The value computed over the received bytes.
        expected: u16,
        /// The value found on the wire.
        found: u16,
    },
    /// The frame-format field does not announce HDLC frame format type 3 (`0xA`).
    BadFormat {
        /// The high nibble that was found.
        found: u8,
    },
    /// The 11-bit length field is impossible for the header it describes.
    BadLength {
        /// The length field's value.
        length: u16,
        /// The smallest length that header allows.
        minimum: u16,
    },
    /// An HDLC address did not terminate within 4 bytes.
    BadAddress,
    /// The byte after the frame is not a closing flag.
    MissingClosingFlag {
        /// The byte found where `0x7E` should be.
        found: u8,
    },
    /// Structurally invalid input; the text says what was expected.
    Malformed(&'static str),
    /// A tag this decoder does not know (so it cannot know its length either).
    Unsupported {
        /// The tag byte.
        tag: u8,
    },
    /// Nesting deeper than the decoder's bound.
    TooDeep {
        /// The bound.
        limit: u8,
    },
    /// Bytes in a stream that belong to no frame.
    Garbage,
    /// No key is configured for the sender's system title.
    NoKey {
        /// The sender's system title.
        system_title: [u8; 8],
    },
    /// Decryption or authentication failed (wrong key, damaged ciphertext or tag).
    Decryption {
        /// The sender's system title.
        system_title: [u8; 8],
        /// What failed.
        reason: &'static str,
    },
    /// A segment or block out of sequence (a lost or repeated one).
    Sequence {
        /// The number expected next.
        expected: u32,
        /// The number found.
        found: u32,
    },
}

/// An error: layer, byte offset, and what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The layer that rejected the input.
    pub layer: Layer,
    /// Byte offset of the problem, relative to the input given to the failing call.
    pub offset: usize,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// Builds an error.
    pub const fn new(layer: Layer, offset: usize, kind: ErrorKind) -> Self {
        Error {
            layer,
            offset,
            kind,
        }
    }

    /// The same error with `base` added to its offset (saturating), so an outer layer can report
    /// positions in its own coordinates.
    #[must_use]
    pub const fn add_offset(mut self, base: usize) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }

    /// A short stable identifier of the kind, used in error records (`"bad_fcs"`, ...).
    pub const fn kind_name(&self) -> &'static str {
        match self.kind {
            ErrorKind::Truncated { .. } => "truncated",
            ErrorKind::Checksum {
                field: CheckField::Hcs,
                ..
            } => "bad_hcs",
            ErrorKind::Checksum {
                field: CheckField::Fcs,
                ..
            } => "bad_fcs",
            ErrorKind::Checksum {
                field: CheckField::MbusSum,
                ..
            } => "bad_checksum",
            ErrorKind::Checksum {
                field: CheckField::P1Crc,
                ..
            } => "bad_crc",
            ErrorKind::BadFormat { .. } => "bad_format",
            ErrorKind::BadLength { .. } => "bad_length",
            ErrorKind::BadAddress => "bad_address",
            ErrorKind::MissingClosingFlag { .. } => "missing_closing_flag",
            ErrorKind::Malformed(_) => "malformed",
            ErrorKind::Unsupported { .. } => "unsupported",
            ErrorKind::TooDeep { .. } => "too_deep",
            ErrorKind::Garbage => "garbage",
            ErrorKind::NoKey { .. } => "no_key",
            ErrorKind::Decryption { .. } => "decryption_failed",
            ErrorKind::Sequence { .. } => "bad_sequence",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error at byte {}: ", self.layer, self.offset)?;
        match self.kind {
            ErrorKind::Truncated { needed, available } => {
                write!(f, "truncated: needed {needed} bytes, {available} available")
            }
            ErrorKind::Checksum {
                field,
                expected,
                found,
            } => {
                let name = match field {
                    CheckField::Hcs => "HCS",
                    CheckField::Fcs => "FCS",
                    CheckField::MbusSum => "M-Bus checksum",
                    CheckField::P1Crc => "P1 CRC",
                };
                write!(
                    f,
                    "{name} mismatch: computed 0x{expected:04X}, frame carries 0x{found:04X}"
                )
            }
            ErrorKind::BadFormat { found } => write!(
                f,
                "frame format type 0x{found:X}, expected 0xA (HDLC frame format type 3)"
            ),
            ErrorKind::BadLength { length, minimum } => write!(
                f,
                "length field {length} is impossible, this header needs at least {minimum}"
            ),
            ErrorKind::BadAddress => f.write_str("HDLC address longer than 4 bytes"),
            ErrorKind::MissingClosingFlag { found } => write!(
                f,
                "expected closing flag 0x7E after the frame, found 0x{found:02X}"
            ),
            ErrorKind::Malformed(what) => write!(f, "malformed: {what}"),
            ErrorKind::Unsupported { tag } => write!(f, "unsupported tag 0x{tag:02X}"),
            ErrorKind::TooDeep { limit } => write!(f, "nesting deeper than {limit}"),
            ErrorKind::Garbage => f.write_str("bytes outside any valid frame"),
            ErrorKind::NoKey { system_title } => {
                f.write_str("no key configured for system title ")?;
                write_title(f, &system_title)
            }
            ErrorKind::Decryption {
                system_title,
                reason,
            } => {
                f.write_str("cannot decrypt the push of system title ")?;
                write_title(f, &system_title)?;
                write!(f, ": {reason}")
            }
            ErrorKind::Sequence { expected, found } => {
                write!(
                    f,
                    "out of sequence: expected number {expected}, found {found}"
                )
            }
        }
    }
}

/// A system title as 16 hex digits (it names the sender; it is not key material).
fn write_title(f: &mut fmt::Formatter<'_>, t: &[u8; 8]) -> fmt::Result {
    t.iter().try_for_each(|b| write!(f, "{b:02X}"))
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_layer_offset_and_expectation() {
        let e = Error::new(
            Layer::Hdlc,
            3,
            ErrorKind::Checksum {
                field: CheckField::Fcs,
                expected: 0x8D37,
                found: 0x1234,
            },
        )
        .add_offset(100);
        assert_eq!(e.offset, 103);
        assert_eq!(e.kind_name(), "bad_fcs");
        let s = format!("{e}");
        assert!(s.contains("hdlc error at byte 103"), "{s}");
        assert!(s.contains("0x8D37") && s.contains("0x1234"), "{s}");
    }
}
