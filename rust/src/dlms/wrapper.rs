//! The IEC 62056-47 wrapper (DLMS/COSEM over TCP or UDP) around an APDU.
//!
//! ```text
//! version (2, = 0x0001) | source wPort (2) | destination wPort (2) | length (2) | APDU (length)
//! ```
//!
//! All fields are big-endian; `length` counts the APDU bytes that follow the 8-byte header.

use crate::cursor::Cursor;
use crate::error::{Error, ErrorKind, Layer, Result};

/// The only wrapper version defined.
pub const VERSION: u16 = 0x0001;

/// Bytes of the wrapper header.
pub const HEADER_LEN: usize = 8;

/// A parsed wrapper, borrowing its APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wrapper<'a> {
    /// The version field (always [`VERSION`] once parsed).
    pub version: u16,
    /// Source wPort (the sending application, e.g. `0x0001` the management logical device).
    pub source_port: u16,
    /// Destination wPort.
    pub destination_port: u16,
    /// The APDU, exactly as long as the length field says.
    pub apdu: &'a [u8],
}

impl<'a> Wrapper<'a> {
    /// Parses a wrapper at the start of `buf`, returning it and the bytes it occupies
    /// (`8 + length`); bytes after it (the next wrapper on a TCP stream) are not looked at.
    ///
    /// # Errors
    /// [`Layer::Apdu`] errors with offsets relative to `buf`: `Truncated` when `buf` ends
    /// inside the header or before the announced APDU end (a stream reader waits for
    /// `needed` bytes counted from the error offset), `Malformed` for a version other than
    /// `0x0001`.
    pub fn parse(buf: &'a [u8]) -> Result<(Wrapper<'a>, usize)> {
        let mut c = Cursor::new(buf, Layer::Apdu);
        let version = c.be_u16()?;
        if version != VERSION {
            return Err(Error::new(
                Layer::Apdu,
                0,
                ErrorKind::Malformed("IEC 62056-47 wrapper version is not 0x0001"),
            ));
        }
        let source_port = c.be_u16()?;
        let destination_port = c.be_u16()?;
        let length = usize::from(c.be_u16()?);
        let apdu = c.take(length)?;
        Ok((
            Wrapper {
                version,
                source_port,
                destination_port,
                apdu,
            },
            c.position(),
        ))
    }

    /// The length field.
    pub fn length(&self) -> usize {
        self.apdu.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // u9n/dlms-cosem test_udp_message.py: a UDP push with a general-glo-ciphering APDU.
    #[rustfmt::skip]
    static UDP_HEAD: [u8; 19] = [
        0x00, 0x01,                   // version 1
        0x00, 0x01,                   // source wPort 1 (management logical device)
        0x00, 0x01,                   // destination wPort 1
        0x00, 0x46,                   // length 70
        0xDB,                         // general-glo-ciphering
        0x08, 0x2F, 0x19, 0x22, 0x91, // system title 2F19229199164103
        0x99, 0x16, 0x41, 0x03,
        0x3B,                         // length 59
    ];

    fn packet() -> Vec<u8> {
        let mut v = UDP_HEAD.to_vec();
        v.extend((0..59u8).map(|i| i.wrapping_mul(37)));
        v
    }

    #[test]
    fn parses_the_udp_push() {
        let mut p = packet();
        assert_eq!(p.len(), 78);
        p.extend_from_slice(&[0, 1, 0, 1]); // the start of a next wrapper
        let (w, used) = Wrapper::parse(&p).unwrap();
        assert_eq!(used, 78);
        assert_eq!((w.version, w.source_port, w.destination_port), (1, 1, 1));
        assert_eq!(w.length(), 70);
        assert_eq!(w.apdu, &p[8..78]);
        assert_eq!(crate::dlms::gbt::announced_len(w.apdu), Some(70));
    }

    #[test]
    fn every_truncated_prefix_is_truncated() {
        let p = packet();
        for n in 0..p.len() {
            let e = Wrapper::parse(&p[..n]).unwrap_err();
            assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{n}: {e:?}");
        }
        let e = Wrapper::parse(&p[..20]).unwrap_err();
        assert_eq!(
            (e.offset, e.kind),
            (
                8,
                ErrorKind::Truncated {
                    needed: 70,
                    available: 12
                }
            )
        );
    }

    #[test]
    fn rejects_other_versions() {
        let mut p = packet();
        p[1] = 2;
        let e = Wrapper::parse(&p).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Malformed(_)));
        assert_eq!(Wrapper::parse(&[0, 1, 0, 1, 0, 1, 0, 0]).unwrap().1, 8);
    }
}
