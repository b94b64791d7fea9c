//! P1/DSMR telegrams → a [`TelegramRef`] of OBIS-table objects in SI units (PROTOCOL.md §6.3,
//! §14).
//!
//! Every data line becomes one object in the order sent, with its OBIS code as sent (F = 255):
//! a number is an exact decimal, kept as its digits (`raw`) with the power of ten that reaches
//! the SI unit (`scaler`): `00047522.278*kWh` is raw 47522278, scaler 0, unit Wh. Lines the
//! OBIS table names become fields; the others are kept as objects without a field (their first
//! value group; a multi-group line of unknown shape as its text). The DSMR timestamp
//! `YYMMDDhhmmssX` is a date-time in the meter's local time, `S`/`W` telling whether daylight
//! saving was in force (the clock-status DST bit).

#[cfg(not(feature = "std"))]
use alloc::vec::Vec;

use crate::dlms::datetime::{CosemDateTime, DEVIATION_UNSPECIFIED};
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::obis::{FieldKind, Quantity};
use crate::p1::{unit_si, Group, Line, P1Telegram, Timestamp, Value};
use crate::telegram::{DataRef, Manufacturer, ObjectRef, ScalerSource, TelegramRef};

/// A P1 timestamp as a COSEM date-time: deviation not specified (local time), clock status DST
/// bit from `S`/`W` (not specified without a letter).
pub(crate) fn datetime(t: &Timestamp) -> CosemDateTime {
    CosemDateTime {
        // two-digit years as POSIX (and Python's %y) read them: 69..=99 are 1969..1999 (a
        // meter sends `700101010000W`, the Unix epoch, for an unused M-Bus channel)
        year: if t.year >= 2069 { t.year - 100 } else { t.year },
        month: t.month,
        day: t.day,
        weekday: 0xFF,
        hour: t.hour,
        minute: t.minute,
        second: t.second,
        hundredths: 0xFF,
        deviation: DEVIATION_UNSPECIFIED,
        status: match t.dst {
            Some(true) => 0x80,
            Some(false) => 0x00,
            None => 0xFF,
        },
    }
}

/// The (scaler, unit code) of a decimal in `unit` for quantity `q`: the unit's shift to SI,
/// or, for a value sent without a unit, the convention of P1 (powers in kW/kvar, energies in
/// kWh/kvarh; Luxembourg sends reactive powers without a unit).
fn scaling(unit: &str, exponent: i8, q: Option<Quantity>) -> Option<(i8, Option<u8>)> {
    if unit.is_empty() {
        let shift = match q.map(Quantity::unit) {
            Some("W" | "var" | "Wh" | "varh") => 3,
            _ => 0,
        };
        return Some((
            exponent.checked_add(shift)?,
            q.and_then(Quantity::unit_code),
        ));
    }
    let (shift, si) = unit_si(unit)?;
    let code = match si {
        "W" => Some(27),
        "var" => Some(29),
        "Wh" => Some(30),
        "varh" => Some(32),
        "A" => Some(33),
        "V" => Some(35),
        "Hz" => Some(44),
        "m3" | "m³" => Some(13),
        "J" => Some(25),
        "s" => Some(7),
        _ => None,
    };
    Some((exponent.checked_add(shift)?, code))
}

/// The object of one value group under `line`'s code.
fn object<'a>(line: &Line<'a>, g: &Group<'a>, q: Option<Quantity>) -> ObjectRef<'a> {
    let kind = q.map(|q| q.def().kind);
    let value = g.value();
    // a number in another unit than the field's (a heat meter's GJ on the M-Bus reading code
    // that gas meters use for m³) is kept without the field
    let q = match (&value, q) {
        (Value::Decimal(d), Some(f)) if !d.unit.is_empty() => {
            match scaling(d.unit, d.exponent, Some(f)) {
                Some((_, Some(code))) if Some(code) != f.unit_code() => None,
                _ => Some(f),
            }
        }
        _ => q,
    };
    let (raw, scaler, unit, source) = match (value, kind) {
        // identifiers stay as sent (digits-only ids would type as numbers)
        (_, Some(FieldKind::Text)) => (DataRef::Text(g.raw), 0, None, ScalerSource::None),
        (Value::Decimal(d), _) => match scaling(d.unit, d.exponent, q) {
            Some((s, u)) => (DataRef::Int(d.mantissa), s, u, ScalerSource::Payload),
            None => (DataRef::Text(g.raw), 0, None, ScalerSource::None),
        },
        (Value::Timestamp(t), _) => (DataRef::DateTime(datetime(&t)), 0, None, ScalerSource::None),
        (Value::Empty, _) => (DataRef::Null, 0, None, ScalerSource::None),
        (Value::Obis(_) | Value::Text(_), _) => (DataRef::Text(g.raw), 0, None, ScalerSource::None),
    };
    ObjectRef {
        obis: line.obis,
        raw,
        scaler,
        unit,
        scaler_source: source,
        quantity: q,
    }
}

/// Where the full path took one object from, for learning a layout
/// ([`super::p1_layout`]): the bytes of its value group (or, for a line kept as text, of that
/// text), relative to the telegram start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trace {
    pub(crate) at: u32,
    pub(crate) len: u32,
    /// The line's mapping also depended on this group parsing as a timestamp (the first group
    /// of an M-Bus sub-meter reading).
    pub(crate) timestamp_guard: bool,
}

impl Trace {
    fn of(g: &Group<'_>, timestamp_guard: bool) -> Trace {
        Trace {
            at: u32::try_from(g.offset).unwrap_or(u32::MAX),
            len: u32::try_from(g.raw.len()).unwrap_or(u32::MAX),
            timestamp_guard,
        }
    }
}

/// Maps a parsed P1 telegram into `tg` (empty; its object list is reused).
///
/// # Errors
/// [`Layer::P1`] `Malformed` for a telegram without a single data line (nothing to report);
/// lines of unknown shape are kept as text.
pub fn map<'a>(t: &P1Telegram<'a>, tg: &mut TelegramRef<'a>) -> Result<()> {
    map_traced(t, tg, None)
}

/// [`map`], recording in `trace` (when given, emptied first) where each object came from.
pub(crate) fn map_traced<'a>(
    t: &P1Telegram<'a>,
    tg: &mut TelegramRef<'a>,
    mut trace: Option<&mut Vec<Trace>>,
) -> Result<()> {
    if let Some(tr) = trace.as_deref_mut() {
        tr.clear();
    }
    for line in t.lines().flatten() {
        let q = line.obis.quantity();
        let first = line.group(0);
        let (obj, from) = match (line.group_count, first) {
            (1, Some(g)) => (object(&line, &g, q), Trace::of(&g, false)),
            // an M-Bus sub-meter reading: (capture time)(value*unit)
            (2, Some(g)) if g.timestamp().is_some() => {
                tg.objects.push(object(&line, &g, None));
                if let Some(tr) = trace.as_deref_mut() {
                    tr.push(Trace::of(&g, true));
                }
                match line.group(1) {
                    Some(v) => (object(&line, &v, q), Trace::of(&v, false)),
                    None => continue,
                }
            }
            // a log or a list: kept as its text
            (_, Some(_)) => {
                let text = line.raw().get(line.obis_text().len()..).unwrap_or(&[]);
                let obj = ObjectRef {
                    obis: line.obis,
                    raw: DataRef::Text(text),
                    scaler: 0,
                    unit: None,
                    scaler_source: ScalerSource::None,
                    quantity: None,
                };
                let from = Trace {
                    at: u32::try_from(line.offset + line.obis_text().len()).unwrap_or(u32::MAX),
                    len: u32::try_from(text.len()).unwrap_or(u32::MAX),
                    timestamp_guard: false,
                };
                (obj, from)
            }
            (_, None) => continue,
        };
        tg.objects.push(obj);
        if let Some(tr) = trace.as_deref_mut() {
            tr.push(from);
        }
    }
    if tg.objects.is_empty() {
        return Err(Error::new(
            Layer::P1,
            0,
            ErrorKind::Malformed("P1 telegram without data lines"),
        ));
    }
    finish(t, tg);
    Ok(())
}

/// What a telegram's objects and header line give besides the objects: manufacturer, meter
/// clock, meter id, list id.
pub(crate) fn finish<'a>(t: &P1Telegram<'a>, tg: &mut TelegramRef<'a>) {
    tg.manufacturer = Manufacturer::from_flag_id(t.header.flag.as_bytes());
    let mut clock = None;
    let mut id = None;
    for o in &tg.objects {
        match (o.quantity, &o.raw) {
            (Some(Quantity::MeterTime), DataRef::DateTime(d)) if clock.is_none() => {
                clock = Some(*d)
            }
            (Some(Quantity::MeterId), DataRef::Text(s)) if id.is_none() => id = Some(*s),
            _ => {}
        }
    }
    tg.meter_time = clock;
    tg.meter_id = id.and_then(|s| core::str::from_utf8(s).ok());
    // the identification line as sent, without its `/` (`ELL5\253833635_A`)
    let raw = t.raw();
    let end = raw
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(raw.len());
    tg.list_id = raw.get(1..end).and_then(|s| core::str::from_utf8(s).ok());
}
