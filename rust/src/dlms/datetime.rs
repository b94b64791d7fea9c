//! The 12-byte COSEM date-time (Blue Book "date-time"; PROTOCOL.md §5.3) and the policy that
//! turns it into an instant.
//!
//! Policy (written down once, applied everywhere):
//! 1. A deviation in −720…720 minutes is trusted: local time = UTC − deviation, so the instant
//!    is fixed by the bytes alone. Exception: Aidon's Norwegian lists send deviation 0 with
//!    local wall-clock time (the push at hh:00:10 carries hh:00:00 in summer and winter), so
//!    for Aidon a deviation of 0 counts as "not specified".
//! 2. Otherwise (0x8000 "not specified": Kaifa, Kamstrup) the fields are wall-clock time in
//!    the configured zone (default Europe/Oslo). When that time occurs twice (the autumn hour),
//!    the clock-status DST bit picks the occurrence: DST active → the first (summer) one; DST
//!    bit clear → the second (winter) one; status not specified → the first. Any other
//!    deviation makes the date-time malformed ([`CosemDateTime::well_formed`], enforced by the
//!    APDU parser and the mapping).
//! 3. Year, month, day or hour "not specified" (0xFF…) → no instant at all. Unspecified minute,
//!    second or hundredths count as 0.

use crate::error::{Error, ErrorKind, Layer, Result};

/// "Deviation not specified".
pub const DEVIATION_UNSPECIFIED: i16 = i16::MIN; // 0x8000

/// A decoded COSEM date-time, exactly as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CosemDateTime {
    /// Year, 0xFFFF = not specified.
    pub year: u16,
    /// Month 1–12 (0xFD/0xFE DST end/begin, 0xFF not specified).
    pub month: u8,
    /// Day of month 1–31 (0xFD/0xFE second-last/last day, 0xFF n/s).
    pub day: u8,
    /// Day of week 1 = Monday … 7 = Sunday (Aidon sends 0 for Sunday), 0xFF n/s. Never trusted.
    pub weekday: u8,
    /// Hour 0–23, 0xFF n/s.
    pub hour: u8,
    /// Minute, 0xFF n/s.
    pub minute: u8,
    /// Second, 0xFF n/s.
    pub second: u8,
    /// Hundredths of a second, 0xFF n/s.
    pub hundredths: u8,
    /// Minutes: UTC = local + deviation; [`DEVIATION_UNSPECIFIED`] when not specified.
    pub deviation: i16,
    /// Clock status bits (bit 7 = daylight saving active), 0xFF n/s.
    pub status: u8,
}

/// How to place a date-time on the time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBasis {
    /// Local time = UTC + `utc_offset_minutes` (the sign flipped from the DLMS deviation).
    FixedOffset {
        /// Offset of local time from UTC, minutes (CET = +60).
        utc_offset_minutes: i16,
    },
    /// Wall-clock time in the configured zone; `dst` resolves the repeated autumn hour.
    LocalZone {
        /// The DST flag from the clock status, if specified.
        dst: Option<bool>,
    },
}

impl CosemDateTime {
    /// Parses the 12 bytes (no range checks; see [`CosemDateTime::well_formed`]).
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] unless `b` has at least 12 bytes (only the first 12 are read).
    #[inline]
    pub fn parse(b: &[u8]) -> Result<CosemDateTime> {
        match b {
            [y0, y1, month, day, weekday, hour, minute, second, hundredths, d0, d1, status, ..] => {
                Ok(CosemDateTime {
                    year: u16::from_be_bytes([*y0, *y1]),
                    month: *month,
                    day: *day,
                    weekday: *weekday,
                    hour: *hour,
                    minute: *minute,
                    second: *second,
                    hundredths: *hundredths,
                    deviation: i16::from_be_bytes([*d0, *d1]),
                    status: *status,
                })
            }
            _ => Err(Error::new(
                Layer::Apdu,
                0,
                ErrorKind::Truncated {
                    needed: 12,
                    available: b.len(),
                },
            )),
        }
    }

    /// Whether every field holds a value the Blue Book allows (a number in range or one of the
    /// "not specified"/special codes). Random bytes rarely do, so this is also a structure check
    /// against corrupted frames that happen to pass the CRCs.
    #[inline]
    pub fn well_formed(&self) -> bool {
        let m = matches!(self.month, 1..=12 | 0xFD..=0xFF);
        let d = matches!(self.day, 1..=31 | 0xFD..=0xFF);
        // Aidon sends 0 for Sunday
        let w = matches!(self.weekday, 0..=7 | 0xFF);
        let h = matches!(self.hour, 0..=23 | 0xFF);
        let mi = matches!(self.minute, 0..=59 | 0xFF);
        let se = matches!(self.second, 0..=60 | 0xFF);
        let hu = matches!(self.hundredths, 0..=99 | 0xFF);
        let dev = self.deviation == DEVIATION_UNSPECIFIED || (-720..=720).contains(&self.deviation);
        m && d && w && h && mi && se && hu && dev
    }

    /// The calendar fields (year, month, day, hour, minute, second, microsecond) when they form
    /// a real date and time; `None` when year/month/day/hour are not specified or out of range.
    pub fn fields(&self) -> Option<(u16, u8, u8, u8, u8, u8, u32)> {
        // years outside 2..=9998 are not representable with any offset applied (and no meter
        // clock is there): treated like "not specified"
        if !(2..=9998).contains(&self.year) || !(1..=12).contains(&self.month) || self.hour > 23 {
            return None;
        }
        if self.day < 1 || self.day > days_in_month(self.year, self.month) {
            return None;
        }
        let minute = if self.minute == 0xFF { 0 } else { self.minute };
        let second = if self.second == 0xFF { 0 } else { self.second };
        if minute > 59 || second > 59 {
            return None;
        }
        let micros = if self.hundredths <= 99 {
            u32::from(self.hundredths) * 10_000
        } else {
            0
        };
        Some((
            self.year, self.month, self.day, self.hour, minute, second, micros,
        ))
    }

    /// Whether the deviation field holds a usable value.
    pub fn deviation_valid(&self) -> bool {
        (-720..=720).contains(&self.deviation)
    }

    /// The DST flag from the clock status, when the status is specified.
    pub fn dst(&self) -> Option<bool> {
        (self.status != 0xFF).then_some(self.status & 0x80 != 0)
    }

    /// The policy decision for this value (see the module documentation). `deviation_zero_is_local`
    /// is set for Aidon.
    pub fn basis(&self, deviation_zero_is_local: bool) -> TimeBasis {
        if self.deviation_valid() && !(deviation_zero_is_local && self.deviation == 0) {
            TimeBasis::FixedOffset {
                utc_offset_minutes: -self.deviation,
            }
        } else {
            TimeBasis::LocalZone { dst: self.dst() }
        }
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaifa_local_time() {
        // 07E1 09 0C 02 17 12 2A FF 8000 00 -> 2017-09-12 23:18:42, deviation n/s, status 0
        let b = [
            0x07, 0xE1, 0x09, 0x0C, 0x02, 0x17, 0x12, 0x2A, 0xFF, 0x80, 0x00, 0x00,
        ];
        let t = CosemDateTime::parse(&b).unwrap();
        assert_eq!(t.fields(), Some((2017, 9, 12, 23, 18, 42, 0)));
        assert_eq!(t.deviation, DEVIATION_UNSPECIFIED);
        assert_eq!(t.basis(false), TimeBasis::LocalZone { dst: Some(false) });
    }

    #[test]
    fn trusted_deviation_and_aidon_zero() {
        let mut b = [
            0x07, 0xE8, 0x03, 0x1F, 0x07, 0x02, 0x00, 0x00, 0x00, 0xFF, 0xC4, 0x00,
        ];
        let t = CosemDateTime::parse(&b).unwrap();
        assert_eq!(
            t.basis(false),
            TimeBasis::FixedOffset {
                utc_offset_minutes: 60
            }
        );
        b[9] = 0;
        b[10] = 0;
        b[11] = 0x80;
        let t = CosemDateTime::parse(&b).unwrap();
        assert_eq!(
            t.basis(false),
            TimeBasis::FixedOffset {
                utc_offset_minutes: 0
            }
        );
        assert_eq!(t.basis(true), TimeBasis::LocalZone { dst: Some(true) });
    }

    #[test]
    fn unspecified_fields() {
        let b = [0xFF, 0xFF, 1, 1, 1, 0, 0, 0, 0xFF, 0x80, 0, 0xFF];
        assert_eq!(CosemDateTime::parse(&b).unwrap().fields(), None);
        let b = [0x07, 0xE8, 2, 30, 1, 0, 0, 0, 0xFF, 0x80, 0, 0xFF];
        assert_eq!(CosemDateTime::parse(&b).unwrap().fields(), None);
        let b = [0x07, 0xE8, 2, 29, 1, 10, 0xFF, 0xFF, 0xFF, 0x80, 0, 0xFF];
        let t = CosemDateTime::parse(&b).unwrap();
        assert_eq!(t.fields(), Some((2024, 2, 29, 10, 0, 0, 0)));
        assert_eq!(t.dst(), None);
        assert!(CosemDateTime::parse(&b[..11]).is_err());
    }
}
