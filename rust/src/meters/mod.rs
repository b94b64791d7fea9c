//! Vendor mapping: decoded A-XDR nodes → a [`Telegram`](crate::telegram::Telegram) of named,
//! scaled objects (PROTOCOL.md §7, §8, §16.2–§16.4).
//!
//! Detection uses only the frame at hand (never what came before): the list identifier, the
//! HDLC addresses, the date-time encoding and the body's shape.
//!
//! * **Self-describing pushes** (Aidon, L&G Embriq, Kamstrup, Swedish Kaifa OBIS variant, any
//!   unknown OBIS-coded meter) go through one generic extractor: an `octet-string(6)` that looks
//!   like OBIS, followed by a value and optionally a `{int8 scaler, enum unit}` structure, is an
//!   object; null-data placeholders (Kamstrup 1-phase) are skipped.
//! * **Kaifa's positional lists** carry no OBIS codes; the element count picks the list.
//! * Scalers from the payload win; vendor defaults apply only to objects sent without one.

#[cfg(not(feature = "std"))]
use alloc::vec::Vec;

pub(crate) mod layout;
pub mod p1;
pub(crate) mod p1_layout;

use crate::dlms::apdu::{DataNotification, DateTimeForm};
use crate::dlms::axdr::{Node, Value};
use crate::dlms::datetime::CosemDateTime;
use crate::error::{Error, ErrorKind, Layer, Result};
use crate::obis::{Obis, Quantity};
use crate::telegram::{DataRef, Manufacturer, ObjectRef, ScalerSource, TelegramRef};

/// What the link layer says about the sender, when there was a link layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkHints<'a> {
    /// HDLC destination address bytes.
    pub dest: &'a [u8],
    /// HDLC source address bytes.
    pub src: &'a [u8],
    /// The DLMS system title of a ciphered APDU's sender.
    pub system_title: Option<[u8; 8]>,
}

impl LinkHints<'_> {
    fn manufacturer(&self) -> Option<Manufacturer> {
        // `41 / 08 83` is shared by Aidon and the L&G E350's Embriq module (their list 1 frames
        // are identical in layout), so it names no manufacturer on its own.
        match (self.dest, self.src) {
            ([0x01], [0x02, 0x01] | [0x00, 0x01]) => Some(Manufacturer::Kaifa),
            ([0x2B], [0x21]) => Some(Manufacturer::Kamstrup),
            _ => self
                .system_title
                .and_then(|t| Manufacturer::from_flag_id(&t)),
        }
    }
}

/// Kaifa positional layouts (PROTOCOL.md §8.2, Appendix B.6).
const KAIFA_3P: [Quantity; 18] = [
    Quantity::ListId,
    Quantity::MeterId,
    Quantity::MeterType,
    Quantity::ActivePowerImport,
    Quantity::ActivePowerExport,
    Quantity::ReactivePowerImport,
    Quantity::ReactivePowerExport,
    Quantity::CurrentL1,
    Quantity::CurrentL2,
    Quantity::CurrentL3,
    Quantity::VoltageL1,
    Quantity::VoltageL2,
    Quantity::VoltageL3,
    Quantity::MeterTime,
    Quantity::ActiveEnergyImport,
    Quantity::ActiveEnergyExport,
    Quantity::ReactiveEnergyImport,
    Quantity::ReactiveEnergyExport,
];
const KAIFA_1P: [Quantity; 14] = [
    Quantity::ListId,
    Quantity::MeterId,
    Quantity::MeterType,
    Quantity::ActivePowerImport,
    Quantity::ActivePowerExport,
    Quantity::ReactivePowerImport,
    Quantity::ReactivePowerExport,
    Quantity::CurrentL1,
    Quantity::VoltageL1,
    Quantity::MeterTime,
    Quantity::ActiveEnergyImport,
    Quantity::ActiveEnergyExport,
    Quantity::ReactiveEnergyImport,
    Quantity::ReactiveEnergyExport,
];

/// The A-XDR type a slot of a typed positional layout must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Octets,
    Bool,
    U8,
    Enum,
    U16,
    U32,
    /// An array, whatever it holds.
    Array,
}

/// One element of a typed positional layout: its type, and the quantity it is reported as
/// with the vendor's scaler (`None`: checked, not reported).
type Slot = (Ty, Option<(Quantity, i8)>);

/// Whether the root structure's elements are exactly `layout`'s, in number and in type.
fn fits(nodes: &[Node<'_>], layout: &[Slot]) -> bool {
    if value_at(nodes, 0) != Some(&Value::Structure(layout.len() as u32)) {
        return false;
    }
    let mut i = 1;
    for &(ty, _) in layout {
        let ok = matches!(
            (ty, value_at(nodes, i)),
            (Ty::Octets, Some(Value::OctetString(_)))
                | (Ty::Bool, Some(Value::Boolean(_)))
                | (Ty::Array, Some(Value::Array(_)))
                | (Ty::U8, Some(Value::U8(_)))
                | (Ty::Enum, Some(Value::Enum(_)))
                | (Ty::U16, Some(Value::U16(_)))
                | (Ty::U32, Some(Value::U32(_)))
        );
        if !ok {
            return false;
        }
        i = next_sibling(nodes, i);
    }
    true
}

const fn q(q: Quantity, scaler: i8) -> Option<(Quantity, i8)> {
    Some((q, scaler))
}

/// Landis+Gyr E450 as pushed by Netz Burgenland (PROTOCOL.md §12.3): a structure of 14 bare
/// values, U1..U3 (V), I1..I3 (0.01 A), P+ and P− (W), A+ and A− (Wh), three long-unsigned of
/// unknown meaning (not reported), and the meter number.
const LG_BURGENLAND: [Slot; 14] = [
    (Ty::U16, q(Quantity::VoltageL1, 0)),
    (Ty::U16, q(Quantity::VoltageL2, 0)),
    (Ty::U16, q(Quantity::VoltageL3, 0)),
    (Ty::U16, q(Quantity::CurrentL1, -2)),
    (Ty::U16, q(Quantity::CurrentL2, -2)),
    (Ty::U16, q(Quantity::CurrentL3, -2)),
    (Ty::U32, q(Quantity::ActivePowerImport, 0)),
    (Ty::U32, q(Quantity::ActivePowerExport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExport, 0)),
    (Ty::U16, None),
    (Ty::U16, None),
    (Ty::U16, None),
    (Ty::Octets, q(Quantity::MeterId, 0)),
];

/// Iskra AM550 as pushed by Slovenian DSOs (Elektro Ljubljana and others, PROTOCOL.md §12.4):
/// structures of bare values without OBIS codes, told apart by element count and types. The
/// first element is the logical device name (`ISK` and 13 digits; the meter's serial number is
/// its tail), reported as the meter id. Positions as amsreader reads them, checked against
/// the captures: the per-phase powers add up to the total, the tariff registers to theirs.
///
/// The 18-element instantaneous list: P+, P−, Q+, Q− (W, var), U1..U3 (0.1 V), I1..I3
/// (0.01 A), P+ and P− per phase. The second element (`16820005`) is the same for two
/// different meters and one more (`…06`) in their energy list: a list number, not a meter.
const ISKRA_INSTANT_3P: [Slot; 18] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::Octets, q(Quantity::ListId, 0)),
    (Ty::U32, q(Quantity::ActivePowerImport, 0)),
    (Ty::U32, q(Quantity::ActivePowerExport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerImport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerExport, 0)),
    (Ty::U16, q(Quantity::VoltageL1, -1)),
    (Ty::U16, q(Quantity::VoltageL2, -1)),
    (Ty::U16, q(Quantity::VoltageL3, -1)),
    (Ty::U16, q(Quantity::CurrentL1, -2)),
    (Ty::U16, q(Quantity::CurrentL2, -2)),
    (Ty::U16, q(Quantity::CurrentL3, -2)),
    (Ty::U32, q(Quantity::ActivePowerImportL1, 0)),
    (Ty::U32, q(Quantity::ActivePowerImportL2, 0)),
    (Ty::U32, q(Quantity::ActivePowerImportL3, 0)),
    (Ty::U32, q(Quantity::ActivePowerExportL1, 0)),
    (Ty::U32, q(Quantity::ActivePowerExportL2, 0)),
    (Ty::U32, q(Quantity::ActivePowerExportL3, 0)),
];

/// The 12-element energy list (every 15 minutes): list number, an enum and a 2-byte string of
/// unknown meaning, A+ total and tariffs 1 and 2, A− likewise (Wh), R+ and R− (varh).
const ISKRA_ENERGY: [Slot; 12] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::Octets, q(Quantity::ListId, 0)),
    (Ty::Enum, None),
    (Ty::Octets, None),
    (Ty::U32, q(Quantity::ActiveEnergyImport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImportTariff1, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImportTariff2, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExportTariff1, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExportTariff2, 0)),
    (Ty::U32, q(Quantity::ReactiveEnergyImport, 0)),
    (Ty::U32, q(Quantity::ReactiveEnergyExport, 0)),
];

/// Elektro Celje's 12-element instantaneous list: a list name (`UP_3f`), U1..U3 (0.1 V),
/// I1..I3 (0.01 A), then P+, P−, Q+, Q− (W, var) as in Ljubljana's list.
const ISKRA_CELJE_3P: [Slot; 12] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::Octets, q(Quantity::ListId, 0)),
    (Ty::U16, q(Quantity::VoltageL1, -1)),
    (Ty::U16, q(Quantity::VoltageL2, -1)),
    (Ty::U16, q(Quantity::VoltageL3, -1)),
    (Ty::U16, q(Quantity::CurrentL1, -2)),
    (Ty::U16, q(Quantity::CurrentL2, -2)),
    (Ty::U16, q(Quantity::CurrentL3, -2)),
    (Ty::U32, q(Quantity::ActivePowerImport, 0)),
    (Ty::U32, q(Quantity::ActivePowerExport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerImport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerExport, 0)),
];

/// The 1-phase instantaneous lists (AM550 ED1.21): the meter's short serial (`ISK84605887`,
/// not reported: the device name holds it), P+, P−, Q+, Q−, U1 (0.1 V), then I1 (0.01 A) and
/// P+, P− of L1 (10 elements), or two double-long-unsigned of unknown meaning (9 elements).
const ISKRA_INSTANT_1P: [Slot; 10] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::Octets, None),
    (Ty::U32, q(Quantity::ActivePowerImport, 0)),
    (Ty::U32, q(Quantity::ActivePowerExport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerImport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerExport, 0)),
    (Ty::U16, q(Quantity::VoltageL1, -1)),
    (Ty::U16, q(Quantity::CurrentL1, -2)),
    (Ty::U32, q(Quantity::ActivePowerImportL1, 0)),
    (Ty::U32, q(Quantity::ActivePowerExportL1, 0)),
];
const ISKRA_INSTANT_1P_SHORT: [Slot; 9] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::Octets, None),
    (Ty::U32, q(Quantity::ActivePowerImport, 0)),
    (Ty::U32, q(Quantity::ActivePowerExport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerImport, 0)),
    (Ty::U32, q(Quantity::ReactivePowerExport, 0)),
    (Ty::U16, q(Quantity::VoltageL1, -1)),
    (Ty::U32, None),
    (Ty::U32, None),
];

/// The 9-element list with powers and energies (Elektro Ljubljana via GEN-i): P+, P− (W),
/// A+ total and tariffs 1 and 2, A− likewise (Wh).
const ISKRA_POWER_ENERGY: [Slot; 9] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::U32, q(Quantity::ActivePowerImport, 0)),
    (Ty::U32, q(Quantity::ActivePowerExport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImportTariff1, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImportTariff2, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExportTariff1, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExportTariff2, 0)),
];

/// The 4-element total-energy list (every 15 minutes): the meter's serial number, an
/// unsigned of unknown meaning, A+ and A− (Wh). Its first element has no `ISK` prefix, so it
/// is taken as Iskra's only from Iskra's HDLC addressing (`CF` / `02 23`).
const ISKRA_TOTALS: [Slot; 4] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::U8, None),
    (Ty::U32, q(Quantity::ActiveEnergyImport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExport, 0)),
];

/// The 33-element list of Croatian IE.5 meters (HEP): the meter's serial number, the time
/// and the date (4- and 5-byte COSEM time and date, not reported: the notification carries
/// the clock), A+ total and tariffs 1 and 2, A− likewise (Wh), four reactive energy registers
/// (per quadrant: no field for them), P+, P− (W), the power factor (0.001), P+ and P− per phase,
/// U1..U3 (0.1 V), I1..I3 (0.01 A), then a double-long-unsigned, three one-element arrays and a
/// boolean of unknown meaning (a limiter and the disconnector, perhaps). Checked against the
/// two captures: the tariffs add up to their totals, the phases' powers to the total, and no
/// phase's power exceeds its U·I. No `ISK` name: the 33 typed elements identify it.
const ISKRA_HR: [Slot; 33] = [
    (Ty::Octets, q(Quantity::MeterId, 0)),
    (Ty::Octets, None),
    (Ty::Octets, None),
    (Ty::U32, q(Quantity::ActiveEnergyImport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImportTariff1, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyImportTariff2, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExport, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExportTariff1, 0)),
    (Ty::U32, q(Quantity::ActiveEnergyExportTariff2, 0)),
    (Ty::U32, None),
    (Ty::U32, None),
    (Ty::U32, None),
    (Ty::U32, None),
    (Ty::U32, q(Quantity::ActivePowerImport, 0)),
    (Ty::U32, q(Quantity::ActivePowerExport, 0)),
    (Ty::U16, q(Quantity::PowerFactor, -3)),
    (Ty::U32, q(Quantity::ActivePowerImportL1, 0)),
    (Ty::U32, q(Quantity::ActivePowerImportL2, 0)),
    (Ty::U32, q(Quantity::ActivePowerImportL3, 0)),
    (Ty::U32, q(Quantity::ActivePowerExportL1, 0)),
    (Ty::U32, q(Quantity::ActivePowerExportL2, 0)),
    (Ty::U32, q(Quantity::ActivePowerExportL3, 0)),
    (Ty::U16, q(Quantity::VoltageL1, -1)),
    (Ty::U16, q(Quantity::VoltageL2, -1)),
    (Ty::U16, q(Quantity::VoltageL3, -1)),
    (Ty::U16, q(Quantity::CurrentL1, -2)),
    (Ty::U16, q(Quantity::CurrentL2, -2)),
    (Ty::U16, q(Quantity::CurrentL3, -2)),
    (Ty::U32, None),
    (Ty::Array, None),
    (Ty::Array, None),
    (Ty::Array, None),
    (Ty::Bool, None),
];

/// The Iskra layout the body fits, if any: by the device name's `ISK` prefix, or (for the
/// one list without it) by the HDLC addresses.
fn iskra_layout(nodes: &[Node<'_>], hints: &LinkHints<'_>) -> Option<&'static [Slot]> {
    let named = matches!(value_at(nodes, 1), Some(Value::OctetString(s)) if s.starts_with(b"ISK"));
    if named {
        let all: [&'static [Slot]; 6] = [
            &ISKRA_INSTANT_3P,
            &ISKRA_ENERGY,
            &ISKRA_CELJE_3P,
            &ISKRA_INSTANT_1P,
            &ISKRA_INSTANT_1P_SHORT,
            &ISKRA_POWER_ENERGY,
        ];
        return all.into_iter().find(|l| fits(nodes, l));
    }
    if fits(nodes, &ISKRA_HR) {
        return Some(&ISKRA_HR);
    }
    let iskra_link = matches!((hints.dest, hints.src), ([0xCF], [0x02, 0x23]));
    (iskra_link && fits(nodes, &ISKRA_TOTALS)).then_some(&ISKRA_TOTALS[..])
}

/// A push whose body lists its capture objects before their values (PROTOCOL.md §12.3): a
/// structure of n elements whose first is an array of m capture-object descriptors, each a
/// structure `{class id, OBIS code, attribute, data index}` (Landis+Gyr E450) or with two more
/// elements, the access restriction and columns (Energomera). With n = m, element k is the
/// value of descriptor k (element 0, the list itself, is the push setup's value); with
/// n = m + 1, element k + 1 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Descriptors {
    /// Not this shape.
    No,
    /// The shape, with m descriptors; `skip` is 1 when descriptor 0 is the list itself.
    Listed { m: usize, skip: usize },
    /// Descriptors whose number fits neither reading: no value can be matched to them.
    Unmatched,
}

fn descriptor_list(nodes: &[Node<'_>]) -> Descriptors {
    let (Some(Value::Structure(n)), Some(Value::Array(m))) =
        (value_at(nodes, 0), value_at(nodes, 1))
    else {
        return Descriptors::No;
    };
    if *m == 0 {
        return Descriptors::No;
    }
    let mut i = 2;
    for _ in 0..*m {
        let shape = (
            value_at(nodes, i),
            value_at(nodes, i + 1),
            value_at(nodes, i + 2),
            value_at(nodes, i + 3),
            value_at(nodes, i + 4),
        );
        match shape {
            (
                Some(Value::Structure(4 | 6)),
                Some(Value::U16(_)),
                Some(Value::OctetString(o)),
                Some(Value::I8(_)),
                Some(Value::U16(_)),
            ) if o.len() == 6 => i = next_sibling(nodes, i),
            _ => return Descriptors::No,
        }
    }
    let (Ok(n), Ok(m)) = (usize::try_from(*n), usize::try_from(*m)) else {
        return Descriptors::Unmatched;
    };
    if n == m && n >= 2 {
        Descriptors::Listed { m, skip: 1 }
    } else if n == m + 1 {
        Descriptors::Listed { m, skip: 0 }
    } else {
        Descriptors::Unmatched
    }
}

/// Maps a [`descriptor_list`] body: each value under its descriptor's OBIS code. No scalers
/// are sent; Landis+Gyr's currents are in 0.01 A (the only implicit scaler applied).
fn described<'a>(
    nodes: &[Node<'a>],
    (m, skip): (usize, usize),
    hints: LinkHints<'_>,
    tg: &mut TelegramRef<'a>,
    from: &mut Vec<u32>,
) -> Result<()> {
    // HDLC `CE FF` / `03` is the Landis+Gyr E450's push addressing (PROTOCOL.md §2.4)
    let maker = hints.manufacturer().or(match (hints.dest, hints.src) {
        ([0xCE, 0xFF], [0x03]) => Some(Manufacturer::LandisGyr),
        _ => None,
    });
    tg.manufacturer = maker;
    // descriptor k (its OBIS code is its second element) and its value, one of the root's
    // children after the list, side by side
    let mut d = 2;
    let mut v = next_sibling(nodes, 1);
    for k in 0..m {
        let code = match value_at(nodes, d + 2) {
            Some(Value::OctetString(o)) => Obis::from_slice(o),
            _ => None,
        };
        d = next_sibling(nodes, d);
        if k < skip {
            continue;
        }
        let Some(value) = value_at(nodes, v) else {
            return Err(mapping_error(
                "fewer values than capture-object descriptors",
            ));
        };
        if let Some(obis) = code {
            let q = obis.quantity();
            let current = matches!(
                q,
                Some(Quantity::CurrentL1 | Quantity::CurrentL2 | Quantity::CurrentL3)
            );
            let (scaler, source) = if current && maker.is_none_or(|m| m == Manufacturer::LandisGyr)
            {
                (-2, ScalerSource::Vendor)
            } else {
                (0, ScalerSource::None)
            };
            tg.objects.push(ObjectRef {
                obis,
                raw: data_of(value, q),
                scaler,
                unit: q.and_then(unit_code),
                scaler_source: source,
                quantity: q,
            });
            from.push(u32::try_from(v).unwrap_or(u32::MAX));
        }
        v = next_sibling(nodes, v);
    }
    if tg.objects.is_empty() {
        return Err(mapping_error("capture-object descriptors without values"));
    }
    Ok(())
}

/// Maps a positional structure (the root's elements in order) by a layout of slots (the
/// body [`fits`] it); slots without a quantity are skipped. The scalers are the vendor's.
fn positional<'a>(
    nodes: &[Node<'a>],
    tg: &mut TelegramRef<'a>,
    maker: Manufacturer,
    layout: &[Slot],
    from: &mut Vec<u32>,
) -> Result<()> {
    tg.manufacturer = Some(maker);
    let mut i = 1;
    for &(_, slot) in layout {
        let Some(v) = value_at(nodes, i) else {
            return Err(mapping_error("positional list shorter than its layout"));
        };
        if let Some((q, scaler)) = slot {
            tg.objects.push(ObjectRef {
                obis: Obis(q.canonical()),
                raw: data_of(v, Some(q)),
                scaler,
                unit: unit_code(q),
                scaler_source: ScalerSource::Vendor,
                quantity: Some(q),
            });
            from.push(u32::try_from(i).unwrap_or(u32::MAX));
        }
        i = next_sibling(nodes, i);
    }
    Ok(())
}

/// Vendor implicit scaling for objects sent without a scaler-unit (PROTOCOL.md §16.4).
#[inline]
fn vendor_scaler(m: Option<Manufacturer>, q: Quantity) -> Option<i8> {
    use Quantity as Q;
    let current = matches!(
        q,
        Q::CurrentL1 | Q::CurrentL2 | Q::CurrentL3 | Q::CurrentNeutral
    );
    let voltage = matches!(q, Q::VoltageL1 | Q::VoltageL2 | Q::VoltageL3);
    let energy = matches!(
        q,
        Q::ActiveEnergyImport
            | Q::ActiveEnergyExport
            | Q::ReactiveEnergyImport
            | Q::ReactiveEnergyExport
    );
    // Kamstrup's per-phase registers (Danish list) count in the totals' unit
    let phase_energy = matches!(
        q,
        Q::ActiveEnergyImportL1
            | Q::ActiveEnergyImportL2
            | Q::ActiveEnergyImportL3
            | Q::ActiveEnergyExportL1
            | Q::ActiveEnergyExportL2
            | Q::ActiveEnergyExportL3
    );
    let power_factor = matches!(
        q,
        Q::PowerFactor | Q::PowerFactorL1 | Q::PowerFactorL2 | Q::PowerFactorL3
    );
    let power = matches!(
        q,
        Q::ActivePowerImport
            | Q::ActivePowerExport
            | Q::ReactivePowerImport
            | Q::ReactivePowerExport
    );
    match m? {
        // W, var, mA, 0.1 V, Wh (community-verified; the KFM_001 sheet disagrees, §8.2)
        Manufacturer::Kaifa if current => Some(-3),
        Manufacturer::Kaifa if voltage => Some(-1),
        Manufacturer::Kaifa if energy || power => Some(0),
        // W, var, 0.01 A, 1 V, 10 Wh (Kamstrup HAN-NVE rev 3.1); power factor 0.01 (the
        // Danish list: 222 V × 0.57 A × 0.31 = 39 W against the 36 W the frame sends)
        Manufacturer::Kamstrup if current || power_factor => Some(-2),
        Manufacturer::Kamstrup if voltage || power => Some(0),
        Manufacturer::Kamstrup if energy || phase_energy => Some(1),
        _ => None,
    }
}

/// DLMS unit code of a quantity's SI unit.
#[inline]
fn unit_code(q: Quantity) -> Option<u8> {
    q.unit_code()
}

/// An identifier as users expect it: without the padding some meters add (L&G Embriq pads the
/// meter id with NULs to 16 bytes).
#[inline]
fn trimmed(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|&b| b != 0 && b != b' ')
        .map_or(0, |i| i + 1);
    s.get(..end).unwrap_or(&[])
}

/// Printable ASCII (what meters send as identifiers).
#[inline]
fn printable(s: &[u8]) -> bool {
    s.iter().all(|b| (0x20..0x7F).contains(b))
}

/// An identifier that passed [`check_structure`] (printable ASCII, so valid UTF-8).
fn ident(s: &[u8]) -> Option<&str> {
    core::str::from_utf8(s).ok()
}

#[inline(always)]
fn data_of<'a>(v: &Value<'a>, kind_hint: Option<Quantity>) -> DataRef<'a> {
    use crate::obis::FieldKind;
    let hint = kind_hint.map(|q| q.def().kind);
    match *v {
        Value::Null | Value::DontCare => DataRef::Null,
        Value::Boolean(b) => DataRef::Bool(b),
        Value::I8(x) => DataRef::Int(i64::from(x)),
        Value::I16(x) => DataRef::Int(i64::from(x)),
        Value::I32(x) => DataRef::Int(i64::from(x)),
        Value::I64(x) => DataRef::Int(x),
        Value::U8(x) | Value::Enum(x) => DataRef::UInt(u64::from(x)),
        Value::U16(x) => DataRef::UInt(u64::from(x)),
        Value::U32(x) => DataRef::UInt(u64::from(x)),
        Value::U64(x) => DataRef::UInt(x),
        Value::F32(x) => DataRef::Float(f64::from(x)),
        Value::F64(x) => DataRef::Float(x),
        Value::VisibleString(s) | Value::Utf8String(s) => DataRef::Text(s),
        Value::OctetString(s) => match hint {
            Some(FieldKind::Text) => DataRef::Text(s),
            Some(FieldKind::DateTime) => match CosemDateTime::parse(s) {
                Ok(t) if s.len() == 12 => DataRef::DateTime(t),
                _ => DataRef::Bytes(s),
            },
            _ => DataRef::Bytes(s),
        },
        Value::DateTime(s) => match CosemDateTime::parse(s) {
            Ok(t) => DataRef::DateTime(t),
            Err(_) => DataRef::Bytes(s),
        },
        Value::BitString { bytes, .. } => DataRef::Bytes(bytes),
        Value::Bcd(b) => DataRef::UInt(u64::from(b >> 4) * 10 + u64::from(b & 0x0F)),
        Value::Date(s) | Value::Time(s) => DataRef::Bytes(s),
        Value::CompactArray { .. } => DataRef::Bytes(v.compact_parts().map_or(&[], |p| p.1)),
        Value::Array(_) | Value::Structure(_) => DataRef::Null,
    }
}

#[inline]
fn value_at<'n, 'a>(nodes: &'n [Node<'a>], i: usize) -> Option<&'n Value<'a>> {
    nodes.get(i).map(|n| &n.value)
}

#[inline]
fn next_sibling(nodes: &[Node<'_>], i: usize) -> usize {
    nodes.get(i).map_or(usize::MAX, |n| n.end as usize)
}

/// An `{int8, enum}` scaler-unit structure at `i`?
#[inline]
fn scaler_unit(nodes: &[Node<'_>], i: usize) -> Option<(i8, u8)> {
    match (
        value_at(nodes, i),
        value_at(nodes, i + 1),
        value_at(nodes, i + 2),
    ) {
        (Some(Value::Structure(2)), Some(Value::I8(s)), Some(Value::Enum(u))) => Some((*s, *u)),
        _ => None,
    }
}

/// Generic OBIS extraction over the children of the container at `c` (PROTOCOL.md B.5).
/// Depth is bounded by the A-XDR decoder's nesting limit.
/// Objects get the payload's scaler-unit when there is one; vendor defaults come later, once the
/// vendor is known.
fn extract<'a>(
    nodes: &[Node<'a>],
    c: usize,
    out: &mut Vec<ObjectRef<'a>>,
    list_id: &mut Option<usize>,
    from: &mut Vec<u32>,
) {
    let end = next_sibling(nodes, c).min(nodes.len());
    let mut i = c + 1;
    let mut first = true;
    let register_form = matches!(value_at(nodes, c), Some(Value::Structure(2 | 3)));
    while i < end {
        let v = value_at(nodes, i);
        match v {
            // an OBIS code: plausible by itself, or the first element of a {code, value} /
            // {code, value, scaler-unit} structure (Aidon's register form)
            Some(Value::OctetString(s))
                if s.len() == 6 && (Obis::plausible(s) || (first && register_form)) =>
            {
                let vi = next_sibling(nodes, i);
                if vi >= end {
                    break;
                }
                let mut j = next_sibling(nodes, vi);
                let su = if j < end { scaler_unit(nodes, j) } else { None };
                if su.is_some() {
                    j = next_sibling(nodes, j);
                }
                if let (Some(obis), Some(v)) = (Obis::from_slice(s), value_at(nodes, vi)) {
                    let q = obis.quantity();
                    let (scaler, unit, scaler_source) = match su {
                        Some((s, u)) => (s, Some(u), ScalerSource::Payload),
                        None => (0, q.and_then(unit_code), ScalerSource::None),
                    };
                    out.push(ObjectRef {
                        obis,
                        raw: data_of(v, q),
                        scaler,
                        unit,
                        scaler_source,
                        quantity: q,
                    });
                    from.push(u32::try_from(vi).unwrap_or(u32::MAX));
                }
                i = j;
            }
            Some(Value::Null) => i += 1,
            Some(Value::Array(_) | Value::Structure(_)) => {
                extract(nodes, i, out, list_id, from);
                i = next_sibling(nodes, i);
            }
            Some(Value::VisibleString(_)) if first && list_id.is_none() => {
                // Kamstrup: the list version comes first, without an OBIS code.
                *list_id = Some(i);
                i += 1;
            }
            _ => i = next_sibling(nodes, i),
        }
        first = false;
    }
}

/// The EVN / Netz NÖ list (Kaifa MA309M, Sagemcom T210-D; PROTOCOL.md §12): a structure whose
/// first element is the meter clock as a bare 12-byte date-time and whose last is the meter
/// number as a bare string, both without an OBIS code, around OBIS-coded objects. Only that
/// shape, and only when the extractor found no meter id and no clock of its own: the clock
/// becomes the `MeterTime` object (first) and the number the `MeterId` object (last).
fn bare_clock_and_number<'a>(nodes: &[Node<'a>], tg: &mut TelegramRef<'a>, from: &mut Vec<u32>) {
    let Some(Value::Structure(n)) = value_at(nodes, 0) else {
        return;
    };
    let clock = match value_at(nodes, 1) {
        Some(Value::OctetString(s)) if s.len() == 12 => match CosemDateTime::parse(s) {
            Ok(t) if t.well_formed() => t,
            _ => return,
        },
        _ => return,
    };
    let mut last = 1;
    for _ in 1..*n {
        last = next_sibling(nodes, last);
    }
    let number = match value_at(nodes, last) {
        Some(Value::OctetString(s) | Value::VisibleString(s))
            if !s.is_empty() && printable(trimmed(s)) =>
        {
            *s
        }
        _ => return,
    };
    let taken = tg
        .objects
        .iter()
        .any(|o| matches!(o.quantity, Some(Quantity::MeterId | Quantity::MeterTime)));
    if taken || last <= 1 || from.contains(&u32::try_from(last).unwrap_or(u32::MAX)) {
        return;
    }
    let bare = |q: Quantity, raw: DataRef<'a>| ObjectRef {
        obis: Obis(q.canonical()),
        raw,
        scaler: 0,
        unit: None,
        scaler_source: ScalerSource::None,
        quantity: Some(q),
    };
    tg.objects
        .insert(0, bare(Quantity::MeterTime, DataRef::DateTime(clock)));
    from.insert(0, 1);
    tg.objects
        .push(bare(Quantity::MeterId, DataRef::Text(number)));
    from.push(u32::try_from(last).unwrap_or(u32::MAX));
}

fn manufacturer_from_list_id(id: &[u8]) -> Option<Manufacturer> {
    if id.starts_with(b"AIDON") {
        Some(Manufacturer::Aidon)
    } else if id.starts_with(b"KFM") || id.starts_with(b"KAIFA") {
        Some(Manufacturer::Kaifa)
    } else if id.starts_with(b"Kamstrup") {
        Some(Manufacturer::Kamstrup)
    } else if id.starts_with(b"EMBRIQ") {
        Some(Manufacturer::LandisGyr)
    } else {
        None
    }
}

fn mapping_error(what: &'static str) -> Error {
    Error::new(Layer::Mapping, 0, ErrorKind::Malformed(what))
}

/// Maps a decoded data-notification into `tg` (which should be empty; its object list's
/// allocation is reused).
///
/// # Errors
/// [`Layer::Mapping`] `Malformed` when the body is neither OBIS-coded nor a known positional
/// layout, or when identifiers or the clock are damaged.
pub fn map<'a>(
    notification: &DataNotification<'a>,
    nodes: &[Node<'a>],
    hints: LinkHints<'_>,
    tg: &mut TelegramRef<'a>,
) -> Result<()> {
    map_traced(notification, nodes, hints, tg, &mut Vec::new())
}

/// As [`map`], also telling where each object came from: `from` (cleared first) gets the node
/// index of each object's value, in object order (what [`layout`] needs to learn the list).
pub(crate) fn map_traced<'a>(
    notification: &DataNotification<'a>,
    nodes: &[Node<'a>],
    hints: LinkHints<'_>,
    tg: &mut TelegramRef<'a>,
    from: &mut Vec<u32>,
) -> Result<()> {
    from.clear();
    let list_id = map_objects(notification, nodes, hints, tg, from)?;
    identify(tg, list_id)
}

/// The objects, manufacturer and header fields of [`map_traced`]; returns the list id for
/// [`identify`].
fn map_objects<'a>(
    notification: &DataNotification<'a>,
    nodes: &[Node<'a>],
    hints: LinkHints<'_>,
    tg: &mut TelegramRef<'a>,
    from: &mut Vec<u32>,
) -> Result<Option<&'a [u8]>> {
    let root = nodes
        .first()
        .ok_or_else(|| mapping_error("empty notification body"))?;
    tg.notification_time = notification.datetime;
    tg.invoke_id = notification.invoke_id;
    let link_maker = hints.manufacturer();

    // Kaifa positional lists: structure whose first element is the KFM list id, or a lone
    // uint32 (list 1) from a Kaifa-addressed frame or with Kaifa's tagged date-time.
    if let Value::Structure(n) = root.value {
        let first = value_at(nodes, 1);
        let positional: Option<&[Quantity]> = match (n, first) {
            (9 | 13 | 14 | 18, Some(Value::OctetString(s))) if s.starts_with(b"KFM") => {
                Some(match n {
                    9 => KAIFA_1P.get(..9).unwrap_or(&[]),
                    13 => KAIFA_3P.get(..13).unwrap_or(&[]),
                    14 => &KAIFA_1P,
                    _ => &KAIFA_3P,
                })
            }
            (1, Some(Value::U32(_) | Value::U64(_)))
                if link_maker == Some(Manufacturer::Kaifa)
                    || (link_maker.is_none()
                        && notification.datetime_form == DateTimeForm::Tagged) =>
            {
                Some(&[Quantity::ActivePowerImport])
            }
            (14, Some(Value::U16(_)))
                if link_maker == Some(Manufacturer::LandisGyr) && fits(nodes, &LG_BURGENLAND) =>
            {
                positional(nodes, tg, Manufacturer::LandisGyr, &LG_BURGENLAND, from)?;
                return Ok(None);
            }
            (_, Some(Value::OctetString(_))) => {
                if let Some(layout) = iskra_layout(nodes, &hints) {
                    positional(nodes, tg, Manufacturer::Iskra, layout, from)?;
                    return Ok(None);
                }
                None
            }
            _ => None,
        };
        if let Some(layout) = positional {
            tg.manufacturer = Some(Manufacturer::Kaifa);
            let mut i = 1;
            for &q in layout {
                let Some(v) = value_at(nodes, i) else {
                    return Err(mapping_error("Kaifa list shorter than its element count"));
                };
                let scaler = vendor_scaler(tg.manufacturer, q);
                tg.objects.push(ObjectRef {
                    obis: Obis(q.canonical()),
                    raw: data_of(v, Some(q)),
                    scaler: scaler.unwrap_or(0),
                    unit: unit_code(q),
                    scaler_source: if scaler.is_some() {
                        ScalerSource::Vendor
                    } else {
                        ScalerSource::None
                    },
                    quantity: Some(q),
                });
                from.push(u32::try_from(i).unwrap_or(u32::MAX));
                i = next_sibling(nodes, i);
            }
            return Ok(None);
        }
    }

    match descriptor_list(nodes) {
        Descriptors::Listed { m, skip } => {
            described(nodes, (m, skip), hints, tg, from)?;
            return Ok(None);
        }
        // read as OBIS-coded pairs, each descriptor's attribute index would become a value
        Descriptors::Unmatched => {
            return Err(mapping_error(
                "capture-object descriptors that the values do not match in number",
            ))
        }
        Descriptors::No => {}
    }

    let mut list_id_at = None;
    match root.value {
        Value::Array(_) | Value::Structure(_) => {
            extract(nodes, 0, &mut tg.objects, &mut list_id_at, from);
        }
        _ => {
            return Err(mapping_error(
                "notification body is not an array or structure",
            ))
        }
    }
    if tg.objects.is_empty() {
        return Err(mapping_error(
            "no OBIS-coded objects and no known positional layout in the body",
        ));
    }
    bare_clock_and_number(nodes, tg, from);
    // list id first: it decides the vendor, and the vendor decides the implicit scalers.
    // Kamstrup sends it first, without an OBIS code; a list-id object wins over that.
    let mut list_id: Option<&'a [u8]> = list_id_at.and_then(|i| value_at(nodes, i)).and_then(|v| {
        match data_of(v, Some(Quantity::ListId)) {
            DataRef::Text(s) => Some(s),
            _ => None,
        }
    });
    if let Some(s) = tg.objects.iter().find_map(|o| match o.raw {
        DataRef::Text(s) if o.quantity == Some(Quantity::ListId) => Some(s),
        _ => None,
    }) {
        list_id = Some(trimmed(s));
    }
    tg.manufacturer = list_id.and_then(manufacturer_from_list_id).or(link_maker);
    let maker = tg.manufacturer;
    for o in &mut tg.objects {
        if o.scaler_source == ScalerSource::None {
            if let Some(s) = o.quantity.and_then(|q| vendor_scaler(maker, q)) {
                o.scaler = s;
                o.scaler_source = ScalerSource::Vendor;
            }
        }
    }
    Ok(list_id)
}

/// The clock check of [`identify`] for one `MeterTime` object: a date-time must be well formed;
/// the first one is the meter time.
#[inline]
fn meter_clock(o: &ObjectRef<'_>, clock: &mut Option<CosemDateTime>) -> Result<()> {
    if let DataRef::DateTime(t) = o.raw {
        if !t.well_formed() {
            return Err(mapping_error("clock date-time field out of range"));
        }
        if clock.is_none() {
            *clock = Some(t);
        }
    }
    Ok(())
}

/// Structure checks on the mapped objects, then the identifiers and the clock copied out of
/// them. Identifiers must be printable ASCII and clocks well-formed date-times: meters send
/// nothing else there, so anything else is a damaged frame that slipped through the CRCs (see
/// benches/noloss.rs).
fn identify<'a>(tg: &mut TelegramRef<'a>, list_id: Option<&'a [u8]>) -> Result<()> {
    let (mut list, mut id, mut kind, mut clock) = (None, None, None, None);
    for o in &tg.objects {
        match (o.quantity, &o.raw) {
            (
                Some(q @ (Quantity::ListId | Quantity::MeterId | Quantity::MeterType)),
                &DataRef::Text(s),
            ) => {
                let s = trimmed(s);
                if !printable(s) {
                    return Err(mapping_error("identifier is not printable ASCII"));
                }
                let slot = match q {
                    Quantity::ListId => &mut list,
                    Quantity::MeterId => &mut id,
                    _ => &mut kind,
                };
                if slot.is_none() && !s.is_empty() {
                    *slot = Some(s);
                }
            }
            (Some(Quantity::MeterTime), _) => meter_clock(o, &mut clock)?,
            _ => {}
        }
    }
    let list = match list_id {
        Some(s) if !printable(trimmed(s)) => {
            return Err(mapping_error("list id is not printable ASCII"));
        }
        Some(s) => Some(s),
        None => list,
    };
    tg.list_id = list.and_then(ident);
    tg.meter_id = id.and_then(ident);
    tg.meter_type = kind.and_then(ident);
    tg.meter_time = clock;
    Ok(())
}
