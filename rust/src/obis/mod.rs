//! OBIS identification (IEC 62056-6-1): the 6-byte code and the table of named quantities.

pub mod table;

use core::fmt;

pub use table::{FieldKind, ObisDef, Quantity, TABLE};

/// An OBIS code `A-B:C.D.E.F` as its six bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Obis(pub [u8; 6]);

impl Obis {
    /// From a 6-byte octet-string; `None` for any other length.
    #[inline]
    pub fn from_slice(b: &[u8]) -> Option<Obis> {
        <[u8; 6]>::try_from(b).ok().map(Obis)
    }

    /// The quantity this code names (matching A and C.D.E; B and F are ignored).
    #[inline]
    pub fn quantity(&self) -> Option<Quantity> {
        let [a, _b, c, d, e, _f] = self.0;
        Quantity::from_acde(a, c, d, e)
    }

    /// Whether an octet-string of 6 bytes plausibly is an OBIS code in a push list: A is a medium
    /// (0..=15) and F is 255, or the code names a known quantity.
    #[inline]
    pub fn plausible(b: &[u8]) -> bool {
        match b {
            // A is the medium (0 abstract, 1 electricity, 4..9 heat, gas, water, ...; 15 other)
            [a, _, _, _, _, f] => {
                (*a <= 15 && *f == 0xFF)
                    || Obis::from_slice(b).is_some_and(|o| o.quantity().is_some() && *a <= 1)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Obis {
    /// `1-0:1.7.0.255`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a}-{b}:{c}.{d}.{e}.{g}")
    }
}

/// DLMS unit codes (Blue Book "unit" enumeration; PROTOCOL.md §5.5) as text.
pub fn unit_name(code: u8) -> Option<&'static str> {
    Some(match code {
        1 => "a",
        2 => "mo",
        3 => "wk",
        4 => "d",
        5 => "h",
        6 => "min",
        7 => "s",
        8 => "°",
        9 => "°C",
        13 => "m³",
        25 => "J",
        27 => "W",
        28 => "VA",
        29 => "var",
        30 => "Wh",
        31 => "VAh",
        32 => "varh",
        33 => "A",
        34 => "C",
        35 => "V",
        36 => "V/m",
        38 => "Ω",
        44 => "Hz",
        45 => "1/(Wh)",
        46 => "1/(varh)",
        47 => "1/(VAh)",
        48 => "V²h",
        49 => "A²h",
        56 => "%",
        57 => "Ah",
        255 => "",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_plausible() {
        assert_eq!(Obis([1, 0, 1, 7, 0, 255]).to_string(), "1-0:1.7.0.255");
        assert!(Obis::plausible(&[1, 1, 31, 7, 0, 255]));
        assert!(!Obis::plausible(b"KFM_00"));
        assert!(!Obis::plausible(&[1, 0, 1, 7, 0]));
        assert_eq!(unit_name(27), Some("W"));
    }
}
