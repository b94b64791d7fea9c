//! Learned layouts of P1 telegrams: the stream decoder's memo of how each telegram shape it
//! has seen was mapped (the P1 counterpart of [`super::layout`]).
//!
//! A P1 meter prints the same lines every time, its numbers zero-padded to fixed widths: only
//! the digits of the numbers and timestamps change. After a telegram has been parsed and
//! mapped the full way ([`super::p1::map`]), a [`Layout`] remembers its bytes up to the `!`
//! with the *digits of what the full path read as values* masked out (the digits of decimals
//! of up to 18 digits, and the 12 digits of `YYMMDDhhmmssX` timestamps), and for each object
//! where its value sits and its finished mapping (OBIS code, quantity, scaler, unit).
//!
//! A later telegram is mapped by a layout only when its length, its header and data span, its
//! CRC kind (checked or absent) and **every byte outside the masked digits** equal the
//! layout's, and every masked byte is a digit. The full path decides everything from bytes
//! outside the mask (line structure, OBIS codes, signs, decimal points, units, text) and from
//! digit counts, which masked digits cannot change: it would take the same decisions. Each
//! value is read from this telegram's own digits; timestamps are range-checked again, and so
//! are the capture times an M-Bus reading's mapping depended on. A check that fails hands the
//! telegram to the full path, so its result is always the full path's.
//!
//! Memory is bounded: at most [`MAX_LAYOUTS`](super::layout::MAX_LAYOUTS) layouts of
//! telegrams up to [`MAX_TELEGRAM`] bytes, the least recently used one replaced, but not more
//! often than once every [`REPLACE_EVERY`](super::layout::REPLACE_EVERY) telegrams.

#[cfg(not(feature = "std"))]
use alloc::{string::String, vec::Vec};

use super::layout::{reset, Planned, Slots, Template};
use super::p1::{datetime, map, map_traced, Trace};
use crate::error::Result;
use crate::obis::Quantity;
use crate::p1::{CrcStatus, P1Telegram, Timestamp};
use crate::telegram::{DataRef, Manufacturer, ObjectRef, TelegramRef};

/// Longest telegram learned, in bytes (real ones are under 1.5 KiB).
pub const MAX_TELEGRAM: usize = 4096;

/// What besides the compared bytes the mapping depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    /// The whole telegram's length.
    len: u32,
    /// Where the data lines start (after the header line).
    data_offset: u32,
    /// Where the `!` is (the compared bytes end).
    bang: u32,
    /// Whether a CRC was sent.
    crc: bool,
}

impl Key {
    /// The [`Slots`] tag: the lengths.
    fn tag(&self) -> u64 {
        u64::from(self.len) | u64::from(self.bang) << 32
    }

    fn of(t: &P1Telegram<'_>) -> Option<Key> {
        let bang = t.data_offset().checked_add(t.data().len())?;
        Some(Key {
            len: u32::try_from(t.raw().len()).ok()?,
            data_offset: u32::try_from(t.data_offset()).ok()?,
            bang: u32::try_from(bang).ok()?,
            crc: t.crc != CrcStatus::Unchecked,
        })
    }
}

/// Where one object's value is, and what kind the full path made of it. Positions are relative
/// to the telegram start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Text as sent (outside the mask).
    Text { at: u32, len: u32 },
    /// An empty group.
    Null,
    /// A decimal of up to 18 digits: the integer digits at `int`, the fraction digits at
    /// `frac` (an empty range when there are none), masked.
    Decimal {
        int: (u32, u32),
        frac: (u32, u32),
        negative: bool,
    },
    /// A `YYMMDDhhmmssX` timestamp of `len` bytes at `at` (the digits masked, the letter not).
    Timestamp { at: u32, len: u32 },
}

/// A learned telegram layout (see the module documentation).
#[derive(Debug, Clone)]
struct Layout {
    key: Key,
    /// The telegram's bytes up to the `!`, its values' digits masked out.
    template: Template,
    objects: Vec<Planned<Slot>>,
    /// Groups (at, len) that must still parse as timestamps (an M-Bus reading's capture time).
    guards: Vec<(u32, u32)>,
    manufacturer: Option<Manufacturer>,
    /// The list id and meter id the full path found. Their bytes lie outside the mask, so a
    /// matching telegram carries the same (copies here spare each telegram their UTF-8
    /// validation).
    idents: [Option<String>; 2],
    /// The object holding the meter clock (a value: read from each telegram).
    clock: Option<u32>,
}

/// The P1 layouts one stream decoder has learned.
#[derive(Debug, Clone, Default)]
pub(crate) struct P1Layouts {
    slots: Slots<Layout>,
    /// Scratch: where each mapped object came from (from `map_traced`).
    trace: Vec<Trace>,
    /// Scratch: the mask bytes while learning.
    mask: Vec<u8>,
    /// Off: every telegram takes the full path.
    pub(crate) disabled: bool,
}

/// `len` bytes at `at` of `raw`.
#[inline]
fn span(raw: &[u8], at: u32, len: u32) -> Option<&[u8]> {
    let at = at as usize;
    raw.get(at..at.checked_add(len as usize)?)
}

/// `m` followed by the ASCII digits `digits`; `None` at a byte that is no digit.
#[inline(always)]
fn fold_digits(mut m: u64, digits: &[u8]) -> Option<u64> {
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            return None;
        }
        // at most 18 digits in all: no overflow
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
    }
    Some(m)
}

/// The mantissa of a decimal slot, read from `raw`; `None` when a masked byte is no digit.
#[inline]
fn mantissa(raw: &[u8], int: (u32, u32), frac: (u32, u32), negative: bool) -> Option<i64> {
    let digits = |(from, to): (u32, u32)| raw.get(from as usize..to as usize);
    let m = fold_digits(fold_digits(0, digits(int)?)?, digits(frac)?)?;
    let m = i64::try_from(m).ok()?;
    Some(if negative { m.wrapping_neg() } else { m })
}

/// The slot of a decimal group `g` at `at` (`[-]digits[.digits][*unit]`), `None` beyond 18
/// digits (where the full path's overflow check depends on the digits).
fn decimal_slot(g: &[u8], at: u32) -> Option<Slot> {
    let negative = g.first() == Some(&b'-');
    let run = |from: usize| {
        from + g
            .get(from..)
            .map_or(0, |s| s.iter().take_while(|b| b.is_ascii_digit()).count())
    };
    let i0 = usize::from(negative);
    let i1 = run(i0);
    let (f0, f1) = if g.get(i1) == Some(&b'.') {
        (i1 + 1, run(i1 + 1))
    } else {
        (i1, i1)
    };
    if i1 == i0 || (i1 - i0) + (f1 - f0) > 18 {
        return None;
    }
    let pos = |i: usize| at.checked_add(u32::try_from(i).ok()?);
    Some(Slot::Decimal {
        int: (pos(i0)?, pos(i1)?),
        frac: (pos(f0)?, pos(f1)?),
        negative,
    })
}

impl P1Layouts {
    /// Maps `t` into `tg` (empty), by a learned layout when one matches, else the full way
    /// (learning the telegram's layout). The result is [`map`]'s either way; the identifiers
    /// may be the layout's copies of the telegram's own, so `tg` borrows from the layouts too.
    ///
    /// # Errors
    /// Those of [`map`].
    pub(crate) fn map<'a>(
        &'a mut self,
        t: &P1Telegram<'a>,
        tg: &mut TelegramRef<'a>,
    ) -> Result<()> {
        if self.disabled {
            return map(t, tg);
        }
        if let Some(i) = self.find(t) {
            let layouts: &'a Self = self;
            if layouts.fill(i, t, tg) {
                return Ok(());
            }
            // a check failed: the full path gives the result (the layout is already known)
            return map(t, tg);
        }
        if !self.slots.room() {
            return map(t, tg);
        }
        map_traced(t, tg, Some(&mut self.trace))?;
        self.learn(t, tg);
        Ok(())
    }

    /// Telegrams that matched a layout.
    pub(crate) fn hits(&self) -> u64 {
        self.slots.hits
    }

    /// The learned layout `t` matches, if any (marked as used and counted).
    fn find(&mut self, t: &P1Telegram<'_>) -> Option<usize> {
        let key = Key::of(t)?;
        let bytes = t.raw().get(..key.bang as usize)?;
        self.slots
            .find(key.tag(), |l| l.key == key && l.template.matches(bytes))
    }

    /// Maps `t` by layout `i` into `tg` (empty). `false`, with `tg` left empty, when a check
    /// fails.
    fn fill<'a>(&'a self, i: usize, t: &P1Telegram<'a>, tg: &mut TelegramRef<'a>) -> bool {
        let Some(layout) = self.slots.get(i) else {
            return false;
        };
        let raw = t.raw();
        for &(at, len) in &layout.guards {
            if span(raw, at, len).and_then(Timestamp::parse).is_none() {
                return reset(tg);
            }
        }
        for p in &layout.objects {
            let value = match p.slot {
                Slot::Text { at, len } => span(raw, at, len).map(DataRef::Text),
                Slot::Null => Some(DataRef::Null),
                Slot::Decimal {
                    int,
                    frac,
                    negative,
                } => mantissa(raw, int, frac, negative).map(DataRef::Int),
                Slot::Timestamp { at, len } => span(raw, at, len)
                    .and_then(Timestamp::parse)
                    .map(|ts| DataRef::DateTime(datetime(&ts))),
            };
            let Some(raw) = value else {
                return reset(tg);
            };
            tg.objects.push(p.object(raw));
        }
        tg.manufacturer = layout.manufacturer;
        tg.meter_time = match layout.clock.and_then(|k| tg.objects.get(k as usize)) {
            Some(ObjectRef {
                raw: DataRef::DateTime(d),
                ..
            }) => Some(*d),
            _ => None,
        };
        let [list, id] = &layout.idents;
        tg.list_id = list.as_deref();
        tg.meter_id = id.as_deref();
        true
    }

    /// Learns the layout of a telegram the full path just mapped into `tg` (`self.trace` says
    /// where each object came from).
    fn learn(&mut self, t: &P1Telegram<'_>, tg: &TelegramRef<'_>) {
        let raw = t.raw();
        if raw.len() > MAX_TELEGRAM || self.trace.len() != tg.objects.len() {
            return;
        }
        let Some(key) = Key::of(t) else {
            return;
        };
        let Some(bytes) = raw.get(..key.bang as usize) else {
            return;
        };
        self.mask.clear();
        self.mask.resize(bytes.len(), 0xFF);
        let mut objects = Vec::with_capacity(tg.objects.len());
        let mut guards = Vec::new();
        for (o, tr) in tg.objects.iter().zip(&self.trace) {
            // every value lies before the `!`
            let Some(g) = span(bytes, tr.at, tr.len) else {
                return;
            };
            if tr.timestamp_guard {
                guards.push((tr.at, tr.len));
            }
            let slot = match o.raw {
                // the very bytes of the group (not a copy from elsewhere): unmasked
                DataRef::Text(s) if core::ptr::eq(s.as_ptr(), g.as_ptr()) && s.len() == g.len() => {
                    Slot::Text {
                        at: tr.at,
                        len: tr.len,
                    }
                }
                DataRef::Null if g.is_empty() => Slot::Null,
                DataRef::Int(m) => match decimal_slot(g, tr.at) {
                    Some(Slot::Decimal {
                        int,
                        frac,
                        negative,
                    }) if mantissa(raw, int, frac, negative) == Some(m) => {
                        for (from, to) in [int, frac] {
                            if let Some(d) = self.mask.get_mut(from as usize..to as usize) {
                                d.fill(0);
                            }
                        }
                        Slot::Decimal {
                            int,
                            frac,
                            negative,
                        }
                    }
                    _ => return,
                },
                DataRef::DateTime(_) => match g {
                    [digits @ .., b'S' | b'W'] if digits.len() == 12 => {
                        let at = tr.at as usize;
                        if let Some(d) = self.mask.get_mut(at..at + 12) {
                            d.fill(0);
                        }
                        Slot::Timestamp {
                            at: tr.at,
                            len: tr.len,
                        }
                    }
                    _ => return,
                },
                _ => return,
            };
            objects.push(Planned::of(slot, o));
        }
        // the clock as `finish` picks it: the first meter-time object holding a date-time
        let clock = tg.meter_time.and_then(|_| {
            let k = tg.objects.iter().position(|o| {
                o.quantity == Some(Quantity::MeterTime) && matches!(o.raw, DataRef::DateTime(_))
            })?;
            u32::try_from(k).ok()
        });
        self.slots.insert(
            key.tag(),
            Layout {
                key,
                template: Template::new(bytes, &self.mask),
                objects,
                guards,
                manufacturer: tg.manufacturer,
                idents: [tg.list_id, tg.meter_id].map(|s| s.map(String::from)),
                clock,
            },
        );
    }
}
