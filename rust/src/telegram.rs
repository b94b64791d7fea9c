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
    /// Landis+Gyr (E350 with Embriq module, `EMBRIQ_V1_1`).
    LandisGyr,
}

impl Manufacturer {
    /// Display name (`"Aidon"`, `"Kaifa"`, `"Kamstrup"`, `"Landis+Gyr"`).
    pub fn name(self) -> &'static str {
        match self {
            Manufacturer::Aidon => "Aidon",
            Manufacturer::Kaifa => "Kaifa",
            Manufacturer::Kamstrup => "Kamstrup",
            Manufacturer::LandisGyr => "Landis+Gyr",
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

impl Data {
    /// This value with `10^scaler` applied: integers stay integers for scaler ≥ 0 (when they
    /// fit), and become the nearest float otherwise.
    pub fn scaled(&self, scaler: i8) -> Data {
        if scaler == 0 {
            return self.clone();
        }
        // exact for |scaler| <= 22, which covers every real meter; no libm needed (no_std)
        let pow = (0..scaler.unsigned_abs()).fold(1.0f64, |p, _| p * 10.0);
        let as_f = |x: f64| {
            if scaler < 0 {
                x / pow
            } else {
                x * pow
            }
        };
        match *self {
            Data::Int(v) => {
                if scaler > 0 {
                    if let Some(r) = 10i64
                        .checked_pow(u32::from(scaler.unsigned_abs()))
                        .and_then(|m| v.checked_mul(m))
                    {
                        return Data::Int(r);
                    }
                }
                Data::Float(as_f(v as f64))
            }
            Data::UInt(v) => {
                if scaler > 0 {
                    if let Some(r) = 10u64
                        .checked_pow(u32::from(scaler.unsigned_abs()))
                        .and_then(|m| v.checked_mul(m))
                    {
                        return Data::UInt(r);
                    }
                }
                Data::Float(as_f(v as f64))
            }
            Data::Float(v) => Data::Float(as_f(v)),
            ref other => other.clone(),
        }
    }

    /// The text, for `Text`.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(s) => Some(s),
            _ => None,
        }
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

    /// The first object of a quantity.
    pub fn get(&self, q: Quantity) -> Option<&CosemObject> {
        self.objects.iter().find(|o| o.quantity == Some(q))
    }
}
