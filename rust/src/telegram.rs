//! Owned, typed results: [`Telegram`] and [`CosemObject`]. No lifetimes, so they can leave the
//! decoder (and become Python objects).

#[cfg(not(feature = "std"))]
use alloc::{string::String, vec::Vec};

use crate::dlms::datetime::{CosemDateTime, TimeBasis};
use crate::obis::{Obis, Quantity};

/// Who made the meter, as detected from the frame itself.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Manufacturer {
    /// Aidon (`AIDON_V0001`).
    Aidon,
    /// Kaifa (`KFM_001`).
    Kaifa,
    /// Kamstrup (`Kamstrup_V0001`).
    Kamstrup,
    /// Landis+Gyr (E350 with Embriq module, `EMBRIQ_V1_1`; E450).
    LandisGyr,
    /// Sagemcom (T210-D).
    Sagemcom,
    /// Iskra (AM550, IE.5).
    Iskra,
}

impl Manufacturer {
    /// Display name (`"Aidon"`, `"Kaifa"`, `"Kamstrup"`, `"Landis+Gyr"`).
    pub fn name(self) -> &'static str {
        match self {
            Manufacturer::Aidon => "Aidon",
            Manufacturer::Kaifa => "Kaifa",
            Manufacturer::Kamstrup => "Kamstrup",
            Manufacturer::LandisGyr => "Landis+Gyr",
            Manufacturer::Sagemcom => "Sagemcom",
            Manufacturer::Iskra => "Iskra",
        }
    }

    /// The manufacturer a DLMS system title (or FLAG id) names by its first three letters
    /// (`KAM`, `KFM`, `SAG`, `LGZ`, `ISK`; PROTOCOL.md §4.3, §16.3).
    pub fn from_flag_id(id: &[u8]) -> Option<Manufacturer> {
        let up = |b: &u8| b.to_ascii_uppercase();
        match id.get(..3)? {
            [a, b, c] => match [up(a), up(b), up(c)] {
                [b'K', b'A', b'M'] => Some(Manufacturer::Kamstrup),
                [b'K', b'F', b'M'] => Some(Manufacturer::Kaifa),
                [b'S', b'A', b'G'] => Some(Manufacturer::Sagemcom),
                [b'L', b'G', b'Z'] | [b'L', b'G', b'F'] => Some(Manufacturer::LandisGyr),
                [b'I', b'S', b'K'] => Some(Manufacturer::Iskra),
                [b'A', b'D', b'N'] => Some(Manufacturer::Aidon),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Where an object's scaler came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalerSource {
    /// The frame carried a scaler-unit structure.
    Payload,
    /// The vendor's documented implicit scaling (Kaifa, Kamstrup send none).
    Vendor,
    /// Neither: the raw value is reported unscaled.
    None,
}

impl ScalerSource {
    /// `"payload"`, `"vendor"` or `"none"`.
    pub fn name(self) -> &'static str {
        match self {
            ScalerSource::Payload => "payload",
            ScalerSource::Vendor => "vendor",
            ScalerSource::None => "none",
        }
    }
}

/// A value as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// null-data.
    Null,
    /// boolean.
    Bool(bool),
    /// Any signed integer type.
    Int(i64),
    /// Any unsigned integer type (and enum).
    UInt(u64),
    /// float32/float64.
    Float(f64),
    /// visible-/utf8-string, or an octet-string holding text.
    Text(String),
    /// Other octet-strings, bit-strings, BCD, compact arrays.
    Bytes(Vec<u8>),
    /// A date-time.
    DateTime(CosemDateTime),
}

/// Exact powers of ten as f64 (every one up to 1e22 is representable).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `10^k` as f64: exact for k <= 22 (every real scaler), repeated multiplication beyond (no
/// libm needed, so this works without std).
#[inline]
fn pow10(k: u8) -> f64 {
    match POW10.get(usize::from(k)) {
        Some(p) => *p,
        None => (0..k).fold(1.0f64, |p, _| p * 10.0),
    }
}

/// `10^k` as a u64 (k ≤ 19; a table look-up, not `checked_pow`'s loop), `None` beyond.
#[inline]
fn pow10_int(k: u8) -> Option<u64> {
    #[allow(clippy::indexing_slicing)] // evaluated at compile time
    const P: [u64; 20] = {
        let mut p = [1u64; 20];
        let mut i = 1;
        while i < 20 {
            p[i] = p[i - 1] * 10;
            i += 1;
        }
        p
    };
    P.get(usize::from(k)).copied()
}

/// The single scaling rule: `raw × 10^scaler`. Integers stay integers for scaler ≥ 0 while the
/// product fits; everything else becomes the nearest float of the exact quotient/product.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scaled {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Scaled {
    #[inline]
    fn of_int(v: i64, scaler: i8) -> Scaled {
        let k = scaler.unsigned_abs();
        if scaler >= 0 {
            if let Some(r) = pow10_int(k)
                .and_then(|m| i64::try_from(m).ok())
                .and_then(|m| v.checked_mul(m))
            {
                return Scaled::Int(r);
            }
            return Scaled::Float(v as f64 * pow10(k));
        }
        Scaled::Float(v as f64 / pow10(k))
    }

    #[inline]
    fn of_uint(v: u64, scaler: i8) -> Scaled {
        let k = scaler.unsigned_abs();
        if scaler >= 0 {
            if let Some(r) = pow10_int(k).and_then(|m| v.checked_mul(m)) {
                return Scaled::UInt(r);
            }
            return Scaled::Float(v as f64 * pow10(k));
        }
        Scaled::Float(v as f64 / pow10(k))
    }

    #[inline]
    fn of_float(v: f64, scaler: i8) -> Scaled {
        let k = scaler.unsigned_abs();
        Scaled::Float(match scaler {
            0 => v,
            s if s > 0 => v * pow10(k),
            _ => v / pow10(k),
        })
    }

    #[inline]
    fn as_f64(self) -> f64 {
        match self {
            Scaled::Int(v) => v as f64,
            Scaled::UInt(v) => v as f64,
            Scaled::Float(v) => v,
        }
    }
}

impl Data {
    /// This value with `10^scaler` applied: integers stay integers for scaler ≥ 0 (when they
    /// fit), and become the nearest float otherwise.
    pub fn scaled(&self, scaler: i8) -> Data {
        let s = match *self {
            Data::Int(v) => Scaled::of_int(v, scaler),
            Data::UInt(v) => Scaled::of_uint(v, scaler),
            Data::Float(v) => Scaled::of_float(v, scaler),
            ref other => return other.clone(),
        };
        match s {
            Scaled::Int(v) => Data::Int(v),
            Scaled::UInt(v) => Data::UInt(v),
            Scaled::Float(v) => Data::Float(v),
        }
    }

    /// The text, for `Text`.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The borrowed form.
    pub fn to_ref(&self) -> DataRef<'_> {
        match self {
            Data::Null => DataRef::Null,
            Data::Bool(b) => DataRef::Bool(*b),
            Data::Int(v) => DataRef::Int(*v),
            Data::UInt(v) => DataRef::UInt(*v),
            Data::Float(v) => DataRef::Float(*v),
            Data::Text(s) => DataRef::Text(s.as_bytes()),
            Data::Bytes(b) => DataRef::Bytes(b),
            Data::DateTime(t) => DataRef::DateTime(*t),
        }
    }
}

/// A value as sent, borrowing its bytes from the frame: the zero-copy form of [`Data`] that
/// the decoder produces ([`DataRef::to_owned`] makes the owned one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataRef<'a> {
    /// null-data.
    Null,
    /// boolean.
    Bool(bool),
    /// Any signed integer type.
    Int(i64),
    /// Any unsigned integer type (and enum).
    UInt(u64),
    /// float32/float64.
    Float(f64),
    /// visible-/utf8-string, or an octet-string holding text (invalid UTF-8 is replaced when
    /// converted to [`Data::Text`]).
    Text(&'a [u8]),
    /// Other octet-strings, bit-strings, dates, compact arrays.
    Bytes(&'a [u8]),
    /// A date-time.
    DateTime(CosemDateTime),
}

impl DataRef<'_> {
    /// The owned value.
    pub fn to_owned(&self) -> Data {
        match *self {
            DataRef::Null => Data::Null,
            DataRef::Bool(b) => Data::Bool(b),
            DataRef::Int(v) => Data::Int(v),
            DataRef::UInt(v) => Data::UInt(v),
            DataRef::Float(v) => Data::Float(v),
            DataRef::Text(s) => Data::Text(String::from_utf8_lossy(s).into_owned()),
            DataRef::Bytes(b) => Data::Bytes(b.to_vec()),
            DataRef::DateTime(t) => Data::DateTime(t),
        }
    }

    /// Whether this is a number (integer or float).
    pub fn is_number(&self) -> bool {
        matches!(self, DataRef::Int(_) | DataRef::UInt(_) | DataRef::Float(_))
    }

    /// `raw × 10^scaler` as f64 for numbers (the same value [`CosemObject::value`] gives,
    /// converted to f64), `None` for anything else.
    #[inline]
    pub fn scaled_f64(&self, scaler: i8) -> Option<f64> {
        Some(
            match *self {
                DataRef::Int(v) => Scaled::of_int(v, scaler),
                DataRef::UInt(v) => Scaled::of_uint(v, scaler),
                DataRef::Float(v) => Scaled::of_float(v, scaler),
                _ => return None,
            }
            .as_f64(),
        )
    }
}

/// One COSEM object of a push, in the order sent.
#[derive(Debug, Clone, PartialEq)]
pub struct CosemObject {
    /// Its OBIS code (for positional Kaifa lists: the canonical code of the position).
    pub obis: Obis,
    /// The value as sent.
    pub raw: Data,
    /// Power of ten applied to `raw`.
    pub scaler: i8,
    /// DLMS unit code from the payload or the table, if any.
    pub unit: Option<u8>,
    /// Where the scaler came from.
    pub scaler_source: ScalerSource,
    /// The quantity of the OBIS table, if the code names one.
    pub quantity: Option<Quantity>,
}

impl CosemObject {
    /// The value in SI base units. Quantities that are real-valued by nature (V, A, Hz, power
    /// factor) are always floats, so a column keeps one type whatever the meter's resolution;
    /// W, var, Wh and varh stay integers while they are whole.
    pub fn value(&self) -> Data {
        let v = self.raw.scaled(self.scaler);
        let real = self.quantity.is_some_and(|q| {
            q.def().kind == crate::obis::FieldKind::Number
                && matches!(q.unit(), "V" | "A" | "Hz" | "")
        });
        match v {
            Data::Int(x) if real => Data::Float(x as f64),
            Data::UInt(x) if real => Data::Float(x as f64),
            other => other,
        }
    }

    /// Unit as text: from the payload's unit code, else from the OBIS table.
    pub fn unit_name(&self) -> Option<&'static str> {
        match self.unit.and_then(crate::obis::unit_name) {
            Some(u) if !u.is_empty() => Some(u),
            _ => self.quantity.map(Quantity::unit).filter(|u| !u.is_empty()),
        }
    }
}

/// One COSEM object of a push, borrowing from the frame: the zero-copy form of
/// [`CosemObject`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectRef<'a> {
    /// Its OBIS code (for positional lists: the canonical code of the position).
    pub obis: Obis,
    /// The value as sent.
    pub raw: DataRef<'a>,
    /// Power of ten applied to `raw`.
    pub scaler: i8,
    /// DLMS unit code from the payload or the table, if any.
    pub unit: Option<u8>,
    /// Where the scaler came from.
    pub scaler_source: ScalerSource,
    /// The quantity of the OBIS table, if the code names one.
    pub quantity: Option<Quantity>,
}

impl ObjectRef<'_> {
    /// The value in SI base units as f64, for numbers.
    #[inline]
    pub fn number(&self) -> Option<f64> {
        self.raw.scaled_f64(self.scaler)
    }

    /// The owned object.
    pub fn to_owned(&self) -> CosemObject {
        CosemObject {
            obis: self.obis,
            raw: self.raw.to_owned(),
            scaler: self.scaler,
            unit: self.unit,
            scaler_source: self.scaler_source,
            quantity: self.quantity,
        }
    }
}

/// One decoded push, borrowing from the frame: what the decoders produce, with no allocation
/// but the (reused) object list. [`TelegramRef::to_owned`] makes a [`Telegram`].
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramRef<'a> {
    /// Detected manufacturer.
    pub manufacturer: Option<Manufacturer>,
    /// The list version identifier as sent (`AIDON_V0001`, `KFM_001`, ...).
    pub list_id: Option<&'a str>,
    /// Meter identifier (GS1 number).
    pub meter_id: Option<&'a str>,
    /// Meter type.
    pub meter_type: Option<&'a str>,
    /// The meter clock object.
    pub meter_time: Option<CosemDateTime>,
    /// The data-notification's date-time.
    pub notification_time: Option<CosemDateTime>,
    /// Long-invoke-id-and-priority.
    pub invoke_id: u32,
    /// The DLMS system title of an encrypted push's sender.
    pub system_title: Option<[u8; 8]>,
    /// The invocation counter of an encrypted push.
    pub invocation_counter: Option<u32>,
    /// Objects in the order sent.
    pub objects: Vec<ObjectRef<'a>>,
    /// Data-quality flags (see [`crate::quality`]).
    pub flags: crate::quality::Flags,
}

impl<'a> TelegramRef<'a> {
    /// An empty telegram whose object list reuses `objects`' allocation.
    pub fn with_objects(objects: Vec<ObjectRef<'a>>) -> Self {
        let mut objects = objects;
        objects.clear();
        TelegramRef {
            manufacturer: None,
            list_id: None,
            meter_id: None,
            meter_type: None,
            meter_time: None,
            notification_time: None,
            invoke_id: 0,
            system_title: None,
            invocation_counter: None,
            objects,
            flags: crate::quality::Flags::default(),
        }
    }

    /// The owned telegram.
    pub fn to_owned(&self) -> Telegram {
        Telegram {
            manufacturer: self.manufacturer,
            list_id: self.list_id.map(String::from),
            meter_id: self.meter_id.map(String::from),
            meter_type: self.meter_type.map(String::from),
            meter_time: self.meter_time,
            notification_time: self.notification_time,
            invoke_id: self.invoke_id,
            system_title: self.system_title,
            invocation_counter: self.invocation_counter,
            objects: self.objects.iter().map(ObjectRef::to_owned).collect(),
            flags: self.flags,
        }
    }

    /// The first object of a quantity.
    pub fn get(&self, q: Quantity) -> Option<&ObjectRef<'a>> {
        self.objects.iter().find(|o| o.quantity == Some(q))
    }

    /// Whether Aidon's time convention applies (see [`Telegram::time_basis`]).
    pub fn aidon(&self) -> bool {
        self.manufacturer == Some(Manufacturer::Aidon)
    }
}

/// Takes a vector's allocation for another lifetime of its (cleared) elements: the scratch
/// buffers of the decoders are reused frame after frame, whatever they borrowed (an in-place
/// collect of an empty iterator; no unsafe code).
// `filter_map` cannot change the element type's lifetime by itself; that is the point here.
#[allow(clippy::unnecessary_filter_map)]
pub(crate) fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// One decoded push.
#[derive(Debug, Clone, PartialEq)]
pub struct Telegram {
    /// Detected manufacturer.
    pub manufacturer: Option<Manufacturer>,
    /// The list version identifier as sent (`AIDON_V0001`, `KFM_001`, ...).
    pub list_id: Option<String>,
    /// Meter identifier (GS1 number).
    pub meter_id: Option<String>,
    /// Meter type.
    pub meter_type: Option<String>,
    /// The meter clock object.
    pub meter_time: Option<CosemDateTime>,
    /// The data-notification's date-time.
    pub notification_time: Option<CosemDateTime>,
    /// Long-invoke-id-and-priority.
    pub invoke_id: u32,
    /// The DLMS system title of an encrypted push's sender.
    pub system_title: Option<[u8; 8]>,
    /// The invocation counter of an encrypted push.
    pub invocation_counter: Option<u32>,
    /// Objects in the order sent.
    pub objects: Vec<CosemObject>,
    /// Data-quality flags (see [`crate::quality`]).
    pub flags: crate::quality::Flags,
}

impl Telegram {
    /// How to place `meter_time`/`notification_time` on the time line (Aidon's deviation 0 is
    /// local time; see [`crate::dlms::datetime`]).
    pub fn time_basis(&self, t: &CosemDateTime) -> TimeBasis {
        t.basis(self.manufacturer == Some(Manufacturer::Aidon))
    }

    /// The borrowed form (what the quality checks and the columns read).
    pub fn to_ref(&self) -> TelegramRef<'_> {
        TelegramRef {
            manufacturer: self.manufacturer,
            list_id: self.list_id.as_deref(),
            meter_id: self.meter_id.as_deref(),
            meter_type: self.meter_type.as_deref(),
            meter_time: self.meter_time,
            notification_time: self.notification_time,
            invoke_id: self.invoke_id,
            system_title: self.system_title,
            invocation_counter: self.invocation_counter,
            objects: self
                .objects
                .iter()
                .map(|o| ObjectRef {
                    obis: o.obis,
                    raw: o.raw.to_ref(),
                    scaler: o.scaler,
                    unit: o.unit,
                    scaler_source: o.scaler_source,
                    quantity: o.quantity,
                })
                .collect(),
            flags: self.flags,
        }
    }

    /// The first object of a quantity.
    pub fn get(&self, q: Quantity) -> Option<&CosemObject> {
        self.objects.iter().find(|o| o.quantity == Some(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as first written (`checked_pow`), to check the table look-up against.
    fn reference_int(v: i64, scaler: i8) -> Scaled {
        let k = scaler.unsigned_abs();
        if scaler >= 0 {
            match 10i64
                .checked_pow(u32::from(k))
                .and_then(|m| v.checked_mul(m))
            {
                Some(r) => Scaled::Int(r),
                None => Scaled::Float(v as f64 * pow10(k)),
            }
        } else {
            Scaled::Float(v as f64 / pow10(k))
        }
    }

    fn reference_uint(v: u64, scaler: i8) -> Scaled {
        let k = scaler.unsigned_abs();
        if scaler >= 0 {
            match 10u64
                .checked_pow(u32::from(k))
                .and_then(|m| v.checked_mul(m))
            {
                Some(r) => Scaled::UInt(r),
                None => Scaled::Float(v as f64 * pow10(k)),
            }
        } else {
            Scaled::Float(v as f64 / pow10(k))
        }
    }

    #[test]
    fn integer_scaling_matches_checked_pow_for_every_scaler() {
        let ints = [0i64, 1, -1, 7, -12345, 922, i64::MAX, i64::MIN, 1 << 40];
        let uints = [0u64, 1, 7, 12345, u64::MAX, 1 << 40, 18];
        for s in i8::MIN..=i8::MAX {
            for v in ints {
                assert_eq!(Scaled::of_int(v, s), reference_int(v, s), "{v} {s}");
            }
            for v in uints {
                assert_eq!(Scaled::of_uint(v, s), reference_uint(v, s), "{v} {s}");
            }
        }
    }
}
