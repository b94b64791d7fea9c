//! The LLC header and the DLMS data-notification APDU (IEC 62056-46 §6.5; IEC 62056-5-3;
//! PROTOCOL.md §2.5, §4.1–§4.2).

use crate::cursor::Cursor;
use crate::dlms::datetime::CosemDateTime;
use crate::error::{Error, ErrorKind, Layer, Result};

/// The data-notification APDU tag.
pub const DATA_NOTIFICATION: u8 = 0x0F;

/// Strips the 3-byte LLC header (`E6 E7 00`; also accepts destination `E6`/`FF`, source
/// `E6`/`E7`, and quality `00`), returning the APDU. An information field that starts directly
/// with an APDU tag is accepted as is.
///
/// # Errors
/// [`Layer::Llc`] `Truncated` or `Malformed` when neither an LLC header nor a known APDU tag
/// is there.
pub fn strip_llc(info: &[u8]) -> Result<(&[u8], usize)> {
    match info {
        [0xE6 | 0xFF, 0xE6 | 0xE7, 0x00, rest @ ..] => Ok((rest, 3)),
        [DATA_NOTIFICATION | 0xDB | 0xDC | 0xE0, ..] => Ok((info, 0)),
        [] | [0xE6 | 0xFF] | [0xE6 | 0xFF, 0xE6 | 0xE7] => Err(Error::new(
            Layer::Llc,
            0,
            ErrorKind::Truncated {
                needed: 3,
                available: info.len(),
            },
        )),
        _ => Err(Error::new(
            Layer::Llc,
            0,
            ErrorKind::Malformed("expected LLC header E6 E7 00"),
        )),
    }
}

/// How the data-notification's date-time was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeForm {
    /// `00`: no date-time (Aidon, L&G Embriq, Kaifa SE OBIS variant).
    Absent,
    /// `0C` + 12 bytes: the standard form (Kamstrup 2018+, continental meters).
    Standard,
    /// `09 0C` + 12 bytes: an extra octet-string tag (Kaifa, Kamstrup 2017 firmware).
    Tagged,
    /// `19` + 12 bytes: a date-time tag (tolerated).
    DateTimeTag,
}

/// A parsed data-notification, borrowing its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataNotification<'a> {
    /// Long-invoke-id-and-priority as sent.
    pub invoke_id: u32,
    /// The date-time, if one was sent.
    pub datetime: Option<CosemDateTime>,
    /// Its encoding.
    pub datetime_form: DateTimeForm,
    /// The notification body (one A-XDR `Data` value).
    pub body: &'a [u8],
    /// Offset of the body within the APDU.
    pub body_offset: usize,
}

impl<'a> DataNotification<'a> {
    /// Parses a data-notification APDU (starting at its `0F` tag).
    ///
    /// # Errors
    /// [`Layer::Apdu`]: `Unsupported` for other APDU tags (ciphered `DB`/`DC`, block transfer
    /// `E0` come with a later version), `Truncated`, or `Malformed` for a date-time that is
    /// neither absent nor 12 bytes.
    #[inline(always)]
    pub fn parse(apdu: &'a [u8]) -> Result<DataNotification<'a>> {
        let mut c = Cursor::new(apdu, Layer::Apdu);
        let tag = c.u8()?;
        if tag != DATA_NOTIFICATION {
            return Err(Error::new(Layer::Apdu, 0, ErrorKind::Unsupported { tag }));
        }
        let invoke_id = c.be_u32()?;
        let at = c.position();
        let (form, datetime) = match c.u8()? {
            0x00 => (DateTimeForm::Absent, None),
            0x0C => (DateTimeForm::Standard, Some(c.take(12)?)),
            0x19 => (DateTimeForm::DateTimeTag, Some(c.take(12)?)),
            0x09 => match c.u8()? {
                0x0C => (DateTimeForm::Tagged, Some(c.take(12)?)),
                0x00 => (DateTimeForm::Absent, None),
                _ => {
                    return Err(c.error_at(
                        at,
                        ErrorKind::Malformed("date-time octet-string is not 12 bytes"),
                    ))
                }
            },
            _ => {
                return Err(c.error_at(
                    at,
                    ErrorKind::Malformed("date-time is neither absent (00) nor 12 bytes (0C)"),
                ))
            }
        };
        let datetime = match datetime {
            Some(b) => {
                let t = CosemDateTime::parse(b).map_err(|e| e.add_offset(at))?;
                if !t.well_formed() {
                    return Err(
                        c.error_at(at, ErrorKind::Malformed("date-time field out of range"))
                    );
                }
                Some(t)
            }
            None => None,
        };
        let body_offset = c.position();
        Ok(DataNotification {
            invoke_id,
            datetime,
            datetime_form: form,
            body: c.rest(),
            body_offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_datetime_forms() {
        let aidon = [0x0F, 0x40, 0, 0, 0, 0x00, 0x01, 0x01];
        let n = DataNotification::parse(&aidon).unwrap();
        assert_eq!(n.invoke_id, 0x4000_0000);
        assert_eq!(n.datetime, None);
        assert_eq!(n.body, &[0x01, 0x01]);
        let mut kaifa = vec![0x0F, 0x40, 0, 0, 0, 0x09, 0x0C];
        kaifa.extend_from_slice(&[0x07, 0xE1, 9, 12, 2, 23, 18, 42, 0xFF, 0x80, 0, 0]);
        kaifa.extend_from_slice(&[0x02, 0x01]);
        let n = DataNotification::parse(&kaifa).unwrap();
        assert_eq!(n.datetime_form, DateTimeForm::Tagged);
        assert_eq!(n.datetime.unwrap().second, 42);
        assert_eq!(n.body_offset, 19);
        let mut kam = vec![0x0F, 0, 0, 0, 0, 0x0C];
        kam.extend_from_slice(&[0x07, 0xE6, 1, 24, 1, 18, 58, 50, 0xFF, 0x80, 0, 0]);
        kam.push(0x02);
        let n = DataNotification::parse(&kam).unwrap();
        assert_eq!(n.datetime_form, DateTimeForm::Standard);
        for k in 0..kam.len() - 1 {
            assert!(DataNotification::parse(&kam[..k]).is_err());
        }
    }

    #[test]
    fn llc_and_unsupported() {
        assert_eq!(
            strip_llc(&[0xE6, 0xE7, 0x00, 0x0F]).unwrap(),
            (&[0x0F][..], 3)
        );
        assert_eq!(strip_llc(&[0x0F, 1]).unwrap().1, 0);
        assert!(strip_llc(&[0x12, 0x34]).is_err());
        assert_eq!(strip_llc(&[0xE6]).unwrap_err().layer, Layer::Llc);
        let e = DataNotification::parse(&[0xDB, 0x08]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported { tag: 0xDB });
    }
}
