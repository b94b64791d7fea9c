//! Typed P1 value groups (PROTOCOL.md §6.3, §14.1): exact decimals with their unit, DSMR
//! timestamps, OBIS references and text, plus the unit table a mapping layer needs to reach SI
//! units ([`unit_si`]).
//!
//! Typing is by the group's text alone (a P1 telegram carries no type tags): an empty group is
//! [`Value::Empty`], `YYMMDDhhmmssX` is a [`Value::Timestamp`], `[-]digits[.digits][*unit]` that
//! fits an `i64` mantissa is a [`Value::Decimal`], `A-B:C.D.E` is a [`Value::Obis`], and
//! anything else is [`Value::Text`] as sent. A group is never rejected for its content; the raw
//! bytes stay available on [`Group`](super::Group), which matters for identifiers made only of
//! digits (`0-0:96.1.0(09610)` types as the decimal 9610).

use crate::obis::Obis;

/// An exact decimal number as printed: `mantissa × 10^exponent`, in `unit`.
///
/// `00047522.278*kWh` is mantissa 47522278, exponent −3, unit `"kWh"`; `006*A` is 6, 0, `"A"`;
/// an integer without unit (`00013`) is 13, 0, `""`. Leading zeros are not kept (use the
/// group's raw text when the digits themselves matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal<'a> {
    /// The digits as one integer, sign included.
    pub mantissa: i64,
    /// Power of ten: minus the number of digits after the decimal point.
    pub exponent: i8,
    /// The unit after `*` (`""` when none was sent).
    pub unit: &'a str,
}

impl Decimal<'_> {
    /// The same quantity in its SI unit per [`unit_si`] (`kWh` → `Wh` with the exponent raised
    /// by 3, ...): `None` when the unit is not in that table or the exponent would overflow.
    /// The mantissa is unchanged, so the conversion is exact.
    pub fn to_si(&self) -> Option<Decimal<'static>> {
        let (shift, unit) = unit_si(self.unit)?;
        Some(Decimal {
            mantissa: self.mantissa,
            exponent: self.exponent.checked_add(shift)?,
            unit,
        })
    }

    /// The value as an integer count of `10^exponent` (e.g. `rescale(0)` of 47522.278 kWh
    /// after [`to_si`](Self::to_si) is 47522278 Wh). `None` when that would drop non-zero
    /// digits or overflow.
    pub fn rescale(&self, exponent: i8) -> Option<i64> {
        let diff = i32::from(self.exponent) - i32::from(exponent);
        let p = pow10(diff.unsigned_abs())?;
        if diff >= 0 {
            self.mantissa.checked_mul(p)
        } else if self.mantissa % p == 0 {
            Some(self.mantissa / p)
        } else {
            None
        }
    }

    /// The value as the nearest `f64` (correctly rounded for exponents down to −22).
    pub fn to_f64(&self) -> f64 {
        // i64 → f64 rounds beyond 2^53; meter registers are far below that.
        let m = self.mantissa as f64;
        let mut p = 1.0f64;
        for _ in 0..self.exponent.unsigned_abs() {
            p *= 10.0;
        }
        if self.exponent >= 0 {
            m * p
        } else {
            m / p
        }
    }
}

/// `10^n` as `i64` (`None` above 10^18).
fn pow10(n: u32) -> Option<i64> {
    10i64.checked_pow(n)
}

/// A DSMR timestamp `YYMMDDhhmmssX` (local time of the meter).
///
/// `year` is `2000 + YY` (DSMR sends two digits; `700101010000W`, which one meter sends for an
/// M-Bus channel without a device, reads as 2070-01-01 — a mapping layer may treat it as
/// "no value"). `dst` is `Some(true)` for `S` (summer time),
/// `Some(false)` for `W` (normal time) and `None` for the bare 12-digit form of DSMR 2.2/3
/// (see [`Timestamp::parse`]). Fields are range-checked (month 1–12, day 1–31, hour 0–23,
/// minute and second 0–59); an out-of-range group is not a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    /// 2000 + the two year digits.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// `S` → `Some(true)`, `W` → `Some(false)`, no letter → `None`.
    pub dst: Option<bool>,
}

impl Timestamp {
    /// Parses `YYMMDDhhmmss` optionally followed by `S` or `W`. A group typed by
    /// [`Value::of`] becomes a timestamp only with the letter; use this for the bare form
    /// (DSMR 2.2/3 `0-1:24.3.0(161107190000)…`).
    pub fn parse(raw: &[u8]) -> Option<Timestamp> {
        let (digits, dst) = match raw {
            [d @ .., b'S'] => (d, Some(true)),
            [d @ .., b'W'] => (d, Some(false)),
            d => (d, None),
        };
        let [y1, y2, mo1, mo2, d1, d2, h1, h2, mi1, mi2, s1, s2] = *digits else {
            return None;
        };
        let two = |a: u8, b: u8| -> Option<u8> {
            (a.is_ascii_digit() && b.is_ascii_digit()).then(|| (a - b'0') * 10 + (b - b'0'))
        };
        let t = Timestamp {
            year: 2000 + u16::from(two(y1, y2)?),
            month: two(mo1, mo2)?,
            day: two(d1, d2)?,
            hour: two(h1, h2)?,
            minute: two(mi1, mi2)?,
            second: two(s1, s2)?,
            dst,
        };
        let ok = (1..=12).contains(&t.month)
            && (1..=31).contains(&t.day)
            && t.hour <= 23
            && t.minute <= 59
            && t.second <= 59;
        ok.then_some(t)
    }
}

/// One value group `(…)`, typed by its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value<'a> {
    /// `()`.
    Empty,
    /// A number with optional unit: `(00047522.278*kWh)`, `(006*A)`, `(00013)`.
    Decimal(Decimal<'a>),
    /// `(241212201348W)`.
    Timestamp(Timestamp),
    /// An OBIS reference inside a line: `1-0:99.97.0(2)(0-0:96.7.19)…`,
    /// `0-0:98.1.0(3)(1-0:1.6.0)(1-0:1.6.0)…`, DSMR 3 `(0-1:24.2.1)`.
    Obis(Obis),
    /// Anything else, as sent: hex-encoded octet strings (equipment ids, messages), other
    /// text (`(20240111 09:35:00)`, the DSMR 3 gas unit `(m3)`), out-of-range timestamps
    /// (`632525252525W`), numbers too long for an `i64` (34-digit ids).
    Text(&'a [u8]),
}

impl<'a> Value<'a> {
    /// Types the text between a group's parentheses (see the module docs for the rules).
    pub fn of(raw: &'a [u8]) -> Value<'a> {
        match raw.first() {
            None => Value::Empty,
            Some(b) if b.is_ascii_digit() || *b == b'-' => {
                if let [_, _, _, _, _, _, _, _, _, _, _, _, b'S' | b'W'] = raw {
                    if let Some(t) = Timestamp::parse(raw) {
                        return Value::Timestamp(t);
                    }
                }
                if let Some(d) = parse_decimal(raw) {
                    return Value::Decimal(d);
                }
                match parse_obis(raw) {
                    Some(o) => Value::Obis(o),
                    None => Value::Text(raw),
                }
            }
            Some(_) => Value::Text(raw),
        }
    }

    /// The decimal, if this is one.
    pub fn decimal(&self) -> Option<Decimal<'a>> {
        match *self {
            Value::Decimal(d) => Some(d),
            _ => None,
        }
    }

    /// The timestamp, if this is one.
    pub fn timestamp(&self) -> Option<Timestamp> {
        match *self {
            Value::Timestamp(t) => Some(t),
            _ => None,
        }
    }
}

/// `[-]digits[.digits][*unit]` with a mantissa that fits an `i64`.
fn parse_decimal(raw: &[u8]) -> Option<Decimal<'_>> {
    let (negative, start) = match raw.first() {
        Some(b'-') => (true, 1),
        _ => (false, 0),
    };
    // Up to 18 digits cannot overflow a u64 (10^18 < 2^63); longer ones are checked below.
    let mut mantissa: u64 = 0;
    let mut i = start;
    let digits = |i: &mut usize, m: &mut u64| {
        let from = *i;
        while let Some(&b) = raw.get(*i) {
            let d = b.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            *m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            *i += 1;
        }
        *i - from
    };
    let int_digits = digits(&mut i, &mut mantissa);
    if int_digits == 0 {
        return None;
    }
    let mut frac = 0;
    if raw.get(i) == Some(&b'.') {
        i += 1;
        frac = digits(&mut i, &mut mantissa);
        if frac == 0 {
            return None;
        }
    }
    let unit = match raw.get(i..) {
        Some([]) | None => "",
        Some([b'*', u @ ..]) => {
            if u.is_empty() || !u.iter().all(|&c| c.is_ascii_graphic() && c != b'*') {
                return None;
            }
            core::str::from_utf8(u).ok()?
        }
        Some(_) => return None,
    };
    if int_digits + frac > 18 {
        // exact, or None on overflow
        mantissa = raw
            .get(start..i)?
            .iter()
            .filter(|b| b.is_ascii_digit())
            .try_fold(0u64, |m, &b| {
                m.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            })?;
    }
    let m = i64::try_from(mantissa).ok()?;
    Some(Decimal {
        mantissa: if negative { -m } else { m },
        exponent: -i8::try_from(frac).ok()?,
        unit,
    })
}

/// The value of an ASCII digit.
#[inline(always)]
fn digit(b: Option<&u8>) -> Option<u16> {
    let d = b?.wrapping_sub(b'0');
    (d < 10).then_some(u16::from(d))
}

/// One OBIS value group `0..=255` of 1–3 digits at `s[*i]`, advancing `*i`.
#[inline(always)]
fn obis_number(s: &[u8], i: &mut usize) -> Option<u8> {
    let mut v = digit(s.get(*i))?;
    *i += 1;
    if let Some(d) = digit(s.get(*i)) {
        v = v * 10 + d;
        *i += 1;
        if let Some(d) = digit(s.get(*i)) {
            v = v * 10 + d;
            *i += 1;
        }
    }
    u8::try_from(v).ok()
}

/// Consumes the separator `sep` at `s[*i]`.
#[inline(always)]
fn sep(s: &[u8], i: &mut usize, sep: u8) -> Option<()> {
    (s.get(*i) == Some(&sep)).then(|| *i += 1)
}

/// An OBIS code in text form at the start of `s`: `A-B:C.D.E`, optionally followed by `.F` or
/// `*F` (IEC 62056-21 style, `1-0:1.8.0*255`); F is 255 when omitted. Returns the code and the
/// bytes it took.
#[inline]
pub(crate) fn obis_prefix(s: &[u8]) -> Option<(Obis, usize)> {
    let mut i = 0usize;
    let a = obis_number(s, &mut i)?;
    sep(s, &mut i, b'-')?;
    let b = obis_number(s, &mut i)?;
    sep(s, &mut i, b':')?;
    let c = obis_number(s, &mut i)?;
    sep(s, &mut i, b'.')?;
    let d = obis_number(s, &mut i)?;
    sep(s, &mut i, b'.')?;
    let e = obis_number(s, &mut i)?;
    let mut f = 255;
    if let Some(b'.' | b'*') = s.get(i) {
        let mut j = i + 1;
        if let Some(v) = obis_number(s, &mut j) {
            f = v;
            i = j;
        }
    }
    Some((Obis([a, b, c, d, e, f]), i))
}

/// Parses a whole text OBIS code (`"1-0:1.8.0"`, `"0-1:24.2.1"`, `"1-0:1.8.0.255"`,
/// `"1-0:1.8.0*255"`; F defaults to 255). `None` unless all of `text` is one code.
pub fn parse_obis(text: &[u8]) -> Option<Obis> {
    match obis_prefix(text) {
        Some((o, n)) if n == text.len() => Some(o),
        _ => None,
    }
}

/// The SI unit of a P1 unit and the power of ten to add to a [`Decimal`]'s exponent to get
/// there: `kWh` → `(3, "Wh")`, `kW` → `(3, "W")`, `kvarh`/`kVArh` → `(3, "varh")`,
/// `kvar`/`kVAr` → `(3, "var")`, `V`, `A`, `m3`, `GJ` → `(9, "J")`, `s`, `Hz`, ...
///
/// Energies stay in Wh/varh and volumes in m³ (the units of the crate's OBIS table). `None`
/// for an unknown unit and for `""`: a missing unit is ambiguous (Luxembourg sends
/// `1-0:3.7.0` in kvar without one; power factors have none), so the mapping layer decides
/// from the OBIS code. `kVA`, which one Aidon sample prints for reactive power, maps to `VA`.
pub fn unit_si(unit: &str) -> Option<(i8, &'static str)> {
    Some(match unit {
        "Wh" => (0, "Wh"),
        "kWh" => (3, "Wh"),
        "MWh" => (6, "Wh"),
        "W" => (0, "W"),
        "kW" => (3, "W"),
        "MW" => (6, "W"),
        "varh" | "VArh" | "Varh" | "VARh" => (0, "varh"),
        "kvarh" | "kVArh" | "kVarh" | "kVARh" => (3, "varh"),
        "Mvarh" | "MVArh" => (6, "varh"),
        "var" | "VAr" | "Var" | "VAR" => (0, "var"),
        "kvar" | "kVAr" | "kVar" | "kVAR" => (3, "var"),
        "Mvar" | "MVAr" => (6, "var"),
        "VA" => (0, "VA"),
        "kVA" => (3, "VA"),
        "VAh" => (0, "VAh"),
        "kVAh" => (3, "VAh"),
        "V" => (0, "V"),
        "kV" => (3, "V"),
        "A" => (0, "A"),
        "mA" => (-3, "A"),
        "m3" => (0, "m3"),
        "dm3" => (-3, "m3"),
        "J" => (0, "J"),
        "kJ" => (3, "J"),
        "MJ" => (6, "J"),
        "GJ" => (9, "J"),
        "s" => (0, "s"),
        "ms" => (-3, "s"),
        "Hz" => (0, "Hz"),
        "K" => (0, "K"),
        _ => return None,
    })
}

/// Decodes a hex-encoded octet string (`4B384547…` → `K8EG…`) into `out`, returning the
/// decoded bytes; `None` for an odd length, a non-hex digit, or an `out` that is too small.
pub fn decode_hex<'b>(hex: &[u8], out: &'b mut [u8]) -> Option<&'b [u8]> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let n = hex.len() / 2;
    let dst = out.get_mut(..n)?;
    for (d, pair) in dst.iter_mut().zip(hex.chunks_exact(2)) {
        let [h, l] = *pair else { return None };
        *d = (hex_digit(h)? << 4) | hex_digit(l)?;
    }
    Some(dst)
}

/// The value of one hex digit (either case).
#[inline]
pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}
