//! DSMR/P1 ASCII telegrams (IEC 62056-21 mode D style, CRC-16/ARC; PROTOCOL.md §6.3, §9.2,
//! §12.5, §13, §14, Appendix A.9).
//!
//! ```text
//! /ELL5\253833635_A          header: "/" + FLAG id (3 letters) + baud char + ident
//!                            empty line
//! 0-0:1.0.0(241212201348W)   data lines: OBIS code + value groups "(…)"
//! 1-0:1.8.0(00047522.278*kWh)
//! !4760                      "!" + CRC-16/ARC of "/" … "!" (4 hex digits; absent before DSMR 4)
//! ```
//!
//! * [`classify`] / [`P1Scanner`]: where a telegram that starts at a `/` ends, for a stream
//!   splitter (decided from the bytes alone, independent of chunking).
//! * [`parse`]: one telegram, strictly: header, CRC ([`CrcStatus`]), and a lazy, allocation-free
//!   iterator over its [`Line`]s, each with typed value groups ([`Value`]).
//! * [`unit_si`]: P1 units to SI units with a power-of-ten shift, for a mapping layer.
//!
//! Everything borrows from the input; no allocation, no UTF-8 validation of whole telegrams.
//! A `/` inside the data lines is taken as the start of the next telegram (the previous one was
//! cut), so no value may contain one.
//!
//! ```
//! use hanport::p1::{parse, CrcStatus, Decimal, Value};
//! let t = b"/ELL5\\253833635_A\r\n\r\n1-0:1.8.0(00047522.278*kWh)\r\n!\r\n";
//! let tg = parse(t).unwrap();
//! assert_eq!(tg.header.flag, "ELL");
//! assert_eq!(tg.crc, CrcStatus::Unchecked);
//! let line = tg.lines().next().unwrap().unwrap();
//! assert_eq!(line.obis.0, [1, 0, 1, 8, 0, 255]);
//! assert_eq!(
//!     line.value(),
//!     Some(Value::Decimal(Decimal { mantissa: 47522278, exponent: -3, unit: "kWh" }))
//! );
//! ```

mod classify;
mod lines;
mod scan;
mod value;

pub use classify::{classify, classify_last, P1Candidate, P1Scanner, DEFAULT_MAX_LEN, MAX_HEADER};
pub use lines::{Group, Groups, Line, Lines};
pub use value::{decode_hex, parse_obis, unit_si, Decimal, Timestamp, Value};

use crate::error::{CheckField, Error, ErrorKind, Layer, Result};
use crate::obis::Obis;
use crc::{Crc, Table, CRC_16_ARC};

/// The `crc` crate's CRC-16/ARC engine (poly 0x8005 reflected, init 0, no final XOR; check
/// value 0xBB3D), slice-by-16 tables built at compile time. [`crc16_arc`] uses `crc-fast`
/// (carry-less multiplication where the CPU has it); this table engine is its reference.
// Run in a 32-bit register (`Crc<u32>`, width 16): sharing the HDLC CRC's monomorphised
// `Crc<u16, Table<16>>::checksum` would stop the compiler from specialising that one to its
// constants.
pub const ARC: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&ARC_ALGORITHM);

/// CRC-16/ARC with the parameters of `crc::CRC_16_ARC`, in a 32-bit register.
const ARC_ALGORITHM: crc::Algorithm<u32> = crc::Algorithm {
    width: 16,
    poly: CRC_16_ARC.poly as u32,
    init: CRC_16_ARC.init as u32,
    refin: CRC_16_ARC.refin,
    refout: CRC_16_ARC.refout,
    xorout: CRC_16_ARC.xorout as u32,
    check: CRC_16_ARC.check as u32,
    residue: CRC_16_ARC.residue as u32,
};

/// CRC-16/ARC of `data` (a P1 telegram's CRC covers `/` through `!`), by the `crc-fast`
/// crate: folding with carry-less multiplication (PCLMULQDQ, PMULL) where the CPU has it,
/// tables elsewhere (without the `std` feature: [`ARC`]). On a 1059-byte telegram ~80 ns against ~240 ns for the slice-by-16
/// [`ARC`] (the ignored `crc_engine_speed` test measures both).
#[inline]
pub fn crc16_arc(data: &[u8]) -> u16 {
    // a 16-bit CRC: the casts keep all of it
    #[cfg(feature = "std")]
    let crc = (crc_fast::checksum(crc_fast::CrcAlgorithm::Crc16Arc, data) & 0xFFFF) as u16;
    #[cfg(not(feature = "std"))]
    let crc = (ARC.checksum(data) & 0xFFFF) as u16;
    crc
}

/// What the telegram's CRC said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrcStatus {
    /// The CRC after `!` matches (its value).
    Checked(u16),
    /// No CRC after `!` (DSMR 2.2/3, some Iskra and EasyMeter devices).
    Unchecked,
    /// The CRC does not match (only from [`parse_lenient`]; [`parse`] fails instead).
    Mismatch {
        /// CRC-16/ARC computed over the received bytes.
        computed: u16,
        /// The value after `!`.
        found: u16,
    },
}

/// The header line `/XXXZident`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    /// The 3-letter FLAG manufacturer id (`"ELL"`, `"KFM"`, `"ISk"`, `"Lux"`, ...).
    pub flag: &'a str,
    /// The character after the flag (baud-rate id: `b'5'` for 115200 in mode D, `b'9'`, ...).
    pub baud: u8,
    /// The rest of the header line as sent, without CR LF (`\253833635_A`, `KAIFA-METER`;
    /// Iskra's contains the byte 0x02).
    pub ident: &'a [u8],
}

/// A parsed P1 telegram, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P1Telegram<'a> {
    /// The header line.
    pub header: Header<'a>,
    /// The CRC outcome.
    pub crc: CrcStatus,
    raw: &'a [u8],
    data: &'a [u8],
    data_offset: usize,
}

impl<'a> P1Telegram<'a> {
    /// The whole telegram as given to [`parse`].
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The data-line bytes: from after the header line up to (excluding) the `!`.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Offset of [`data`](Self::data) in the telegram.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// The data lines in order; a malformed line is an `Err` item (offset relative to the
    /// telegram start) and the iteration goes on after it.
    pub fn lines(&self) -> Lines<'a> {
        Lines::new(self.data, self.data_offset)
    }

    /// The first well-formed line with this exact code (all six fields A–F compared; a code
    /// sent without F has F = 255). Scans the lines from the start.
    pub fn get(&self, obis: Obis) -> Option<Line<'a>> {
        self.lines()
            .filter_map(core::result::Result::ok)
            .find(|l| l.obis == obis)
    }
}

/// Parses one telegram strictly: `telegram` must be exactly what [`classify`] delimits — a `/`
/// first, then the header line, the data lines, `!`, and either 4 hex CRC digits (optionally
/// followed by CR LF or LF) or 0–3 hex digits followed by CR LF or LF. A CRC is compared
/// numerically (`!B9F` is 0x0B9F); without one the telegram is [`CrcStatus::Unchecked`].
///
/// The data lines are not parsed here but by [`P1Telegram::lines`], lazily; a malformed line
/// does not fail the telegram.
///
/// # Errors
/// [`Layer::P1`], offsets relative to the telegram start:
/// `Checksum` ([`CheckField::P1Crc`]) for a CRC mismatch, `Truncated` when the end (`!`, the
/// CRC line) is missing, `Malformed` for a missing `/`, a bad header line or bytes after the
/// CRC line.
pub fn parse(telegram: &[u8]) -> Result<P1Telegram<'_>> {
    parse_with(telegram, true)
}

/// [`parse`], except that a CRC mismatch is reported as [`CrcStatus::Mismatch`] instead of an
/// error (to look into damaged telegrams; never use its values as measurements).
///
/// # Errors
/// As [`parse`], without the `Checksum` error.
pub fn parse_lenient(telegram: &[u8]) -> Result<P1Telegram<'_>> {
    parse_with(telegram, false)
}

/// [`parse`] of a telegram whose CRC the caller has already verified (a splitter's
/// [`classify`] answered `Telegram` for exactly these bytes): the CRC is not computed again.
///
/// # Errors
/// As [`parse`], without the `Checksum` error.
pub fn parse_verified(telegram: &[u8]) -> Result<P1Telegram<'_>> {
    parse_inner(telegram, Check::Trusted)
}

/// What [`parse_inner`] does with the CRC.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// A mismatch is an error.
    Strict,
    /// A mismatch is reported in the telegram.
    Lenient,
    /// Not computed: the caller verified it.
    Trusted,
}

fn malformed(offset: usize, what: &'static str) -> Error {
    Error::new(Layer::P1, offset, ErrorKind::Malformed(what))
}

fn parse_with(t: &[u8], strict: bool) -> Result<P1Telegram<'_>> {
    parse_inner(
        t,
        if strict {
            Check::Strict
        } else {
            Check::Lenient
        },
    )
}

fn parse_inner(t: &[u8], check: Check) -> Result<P1Telegram<'_>> {
    match t.first() {
        Some(b'/') => {}
        Some(_) => return Err(malformed(0, "a P1 telegram starts with '/'")),
        None => {
            return Err(Error::new(
                Layer::P1,
                0,
                ErrorKind::Truncated {
                    needed: 1,
                    available: 0,
                },
            ))
        }
    }
    let (bang, digits, found) = terminator(t)?;

    let crc = if digits == 0 {
        CrcStatus::Unchecked
    } else if check == Check::Trusted {
        CrcStatus::Checked(found)
    } else {
        let computed = crc16_arc(t.get(..=bang).unwrap_or(&[]));
        if computed == found {
            CrcStatus::Checked(found)
        } else if check == Check::Strict {
            return Err(Error::new(
                Layer::P1,
                bang + 1,
                ErrorKind::Checksum {
                    field: CheckField::P1Crc,
                    expected: computed,
                    found,
                },
            ));
        } else {
            CrcStatus::Mismatch { computed, found }
        }
    };

    let before = t.get(..bang).unwrap_or(&[]);
    let Some(lf) = before.iter().position(|&b| b == b'\n') else {
        return Err(malformed(bang, "no line end after the header line"));
    };
    let line = match before.get(1..lf) {
        Some([l @ .., b'\r']) | Some(l) => l,
        None => &[],
    };
    let header = header(line)?;
    Ok(P1Telegram {
        header,
        crc,
        raw: t,
        data: t.get(lf + 1..bang).unwrap_or(&[]),
        data_offset: lf + 1,
    })
}

/// The header line after the `/` (without line end).
fn header(line: &[u8]) -> Result<Header<'_>> {
    let bad = |at: usize, what| Err(malformed(at, what));
    let [f1, f2, f3, baud, ident @ ..] = line else {
        return bad(1, "header shorter than '/' + 3 letters + 1 character");
    };
    if !(f1.is_ascii_alphabetic() && f2.is_ascii_alphabetic() && f3.is_ascii_alphabetic()) {
        return bad(1, "header flag is not 3 letters");
    }
    if !baud.is_ascii_graphic() && *baud != b' ' {
        return bad(4, "bad character after the header flag");
    }
    if let Some(k) = ident
        .iter()
        .position(|&b| !(b == 0x02 || (b' '..=b'~').contains(&b)))
    {
        return bad(5 + k, "byte not allowed in the header line");
    }
    let flag = line
        .get(..3)
        .and_then(|f| core::str::from_utf8(f).ok())
        .unwrap_or("");
    Ok(Header {
        flag,
        baud: *baud,
        ident,
    })
}

/// Finds the end marker from the back: `!`, 0–4 hex digits, optional line end (required for
/// fewer than 4 digits). Returns (offset of `!`, number of digits, their value).
fn terminator(t: &[u8]) -> Result<(usize, u8, u16)> {
    let (body, line_end) = match t {
        [b @ .., b'\r', b'\n'] | [b @ .., b'\n'] => (b, true),
        b => (b, false),
    };
    let digits = body
        .iter()
        .rev()
        .take(4)
        .take_while(|b| b.is_ascii_hexdigit())
        .count();
    let bang = body.len().checked_sub(digits + 1);
    let Some(bang) = bang.filter(|&i| body.get(i) == Some(&b'!')) else {
        // a '!' near the end with something odd after it, or no end at all
        let tail = t.len().saturating_sub(8);
        if t.get(tail..).is_some_and(|s| s.contains(&b'!')) {
            return Err(malformed(
                tail,
                "expected up to 4 hex CRC digits and a line end after '!'",
            ));
        }
        return Err(Error::new(
            Layer::P1,
            t.len(),
            ErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
        ));
    };
    if digits < 4 && !line_end {
        // `!`, `!4`, ... without line end: the CRC may be cut.
        return Err(Error::new(
            Layer::P1,
            t.len(),
            ErrorKind::Truncated {
                needed: 1,
                available: 0,
            },
        ));
    }
    let value = body
        .get(bang + 1..)
        .unwrap_or(&[])
        .iter()
        .filter_map(|&b| value::hex_digit(b))
        .fold(0u16, |v, d| (v << 4) | u16::from(d));
    // digits ≤ 4
    Ok((bang, u8::try_from(digits).unwrap_or(4), value))
}

#[cfg(test)]
mod tests;
