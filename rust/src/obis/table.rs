//! THE single source of truth for OBIS codes: every quantity hanport names, its code(s), its
//! SI unit and its field name. Nothing else in the crate spells an OBIS code for a quantity.
//!
//! Matching is on A (0 = abstract, 1 = electricity) and C.D.E; B and F are ignored, because
//! Kamstrup sends `1-1:` where Aidon sends `1-0:` (PROTOCOL.md §6.1).

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A number in the SI unit of the row.
    Number,
    /// Text (identifiers).
    Text,
    /// A date-time.
    DateTime,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObisDef {
    /// The quantity.
    pub quantity: Quantity,
    /// Python field name.
    pub field: &'static str,
    /// SI unit as text (`""` for dimensionless ratios and non-numbers).
    pub unit: &'static str,
    /// Kind of value.
    pub kind: FieldKind,
    /// Accepted codes as (A, C, D, E); the first is the canonical one.
    pub codes: &'static [(u8, u8, u8, u8)],
}

macro_rules! obis_table {
    ($( $variant:ident => $field:literal, $unit:literal, $kind:ident, [$( ($a:literal, $c:literal, $d:literal, $e:literal) ),+]; )*) => {
        /// A quantity of the OBIS table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Quantity {
            $(
                #[doc = $field]
                $variant,
            )*
        }

        /// Every row, in declaration order (`Quantity as usize` indexes it).
        pub static TABLE: &[ObisDef] = ROWS;

        const ROWS: &[ObisDef] = &[
            $( ObisDef {
                quantity: Quantity::$variant,
                field: $field,
                unit: $unit,
                kind: FieldKind::$kind,
                codes: &[$( ($a, $c, $d, $e) ),+],
            }, )*
        ];

        impl Quantity {
            /// Every quantity, in table order.
            const ALL: &'static [Quantity] = &[$( Quantity::$variant, )*];

            /// The quantity an OBIS code (A, C, D, E) names, if any.
            #[inline]
            pub fn from_acde(a: u8, c: u8, d: u8, e: u8) -> Option<Quantity> {
                // electricity registers (A = 1, D = 7 or 8, E < 8): one table look-up
                if a == 1 && (d == 7 || d == 8) && e < 8 {
                    let k = usize::from(d - 7) * 8 + usize::from(e);
                    let slot = FAST.get(usize::from(c)).and_then(|row| row.get(k)).copied();
                    return match slot {
                        Some(0) | None => None,
                        Some(i) => Self::ALL.get(usize::from(i) - 1).copied(),
                    };
                }
                Self::from_acde_slow(a, c, d, e)
            }

            fn from_acde_slow(a: u8, c: u8, d: u8, e: u8) -> Option<Quantity> {
                match (a, c, d, e) {
                    $( $( ($a, $c, $d, $e) )|+ => Some(Quantity::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

obis_table! {
    ActivePowerImport => "active_power_import", "W", Number, [(1, 1, 7, 0)];
    ActivePowerExport => "active_power_export", "W", Number, [(1, 2, 7, 0)];
    ReactivePowerImport => "reactive_power_import", "var", Number, [(1, 3, 7, 0)];
    ReactivePowerExport => "reactive_power_export", "var", Number, [(1, 4, 7, 0)];
    CurrentL1 => "current_l1", "A", Number, [(1, 31, 7, 0)];
    CurrentL2 => "current_l2", "A", Number, [(1, 51, 7, 0)];
    CurrentL3 => "current_l3", "A", Number, [(1, 71, 7, 0)];
    CurrentNeutral => "current_neutral", "A", Number, [(1, 91, 7, 0)];
    VoltageL1 => "voltage_l1", "V", Number, [(1, 32, 7, 0)];
    VoltageL2 => "voltage_l2", "V", Number, [(1, 52, 7, 0)];
    VoltageL3 => "voltage_l3", "V", Number, [(1, 72, 7, 0)];
    ActiveEnergyImport => "active_energy_import", "Wh", Number, [(1, 1, 8, 0)];
    ActiveEnergyExport => "active_energy_export", "Wh", Number, [(1, 2, 8, 0)];
    ReactiveEnergyImport => "reactive_energy_import", "varh", Number, [(1, 3, 8, 0)];
    ReactiveEnergyExport => "reactive_energy_export", "varh", Number, [(1, 4, 8, 0)];
    PowerFactor => "power_factor", "", Number, [(1, 13, 7, 0)];
    PowerFactorL1 => "power_factor_l1", "", Number, [(1, 33, 7, 0)];
    PowerFactorL2 => "power_factor_l2", "", Number, [(1, 53, 7, 0)];
    PowerFactorL3 => "power_factor_l3", "", Number, [(1, 73, 7, 0)];
    Frequency => "frequency", "Hz", Number, [(1, 14, 7, 0)];
    ActivePowerImportL1 => "active_power_import_l1", "W", Number, [(1, 21, 7, 0)];
    ActivePowerImportL2 => "active_power_import_l2", "W", Number, [(1, 41, 7, 0)];
    ActivePowerImportL3 => "active_power_import_l3", "W", Number, [(1, 61, 7, 0)];
    ActivePowerExportL1 => "active_power_export_l1", "W", Number, [(1, 22, 7, 0)];
    ActivePowerExportL2 => "active_power_export_l2", "W", Number, [(1, 42, 7, 0)];
    ActivePowerExportL3 => "active_power_export_l3", "W", Number, [(1, 62, 7, 0)];
    ReactivePowerImportL1 => "reactive_power_import_l1", "var", Number, [(1, 23, 7, 0)];
    ReactivePowerImportL2 => "reactive_power_import_l2", "var", Number, [(1, 43, 7, 0)];
    ReactivePowerImportL3 => "reactive_power_import_l3", "var", Number, [(1, 63, 7, 0)];
    ReactivePowerExportL1 => "reactive_power_export_l1", "var", Number, [(1, 24, 7, 0)];
    ReactivePowerExportL2 => "reactive_power_export_l2", "var", Number, [(1, 44, 7, 0)];
    ReactivePowerExportL3 => "reactive_power_export_l3", "var", Number, [(1, 64, 7, 0)];
    ActiveEnergyImportL1 => "active_energy_import_l1", "Wh", Number, [(1, 21, 8, 0)];
    ActiveEnergyImportL2 => "active_energy_import_l2", "Wh", Number, [(1, 41, 8, 0)];
    ActiveEnergyImportL3 => "active_energy_import_l3", "Wh", Number, [(1, 61, 8, 0)];
    ActiveEnergyExportL1 => "active_energy_export_l1", "Wh", Number, [(1, 22, 8, 0)];
    ActiveEnergyExportL2 => "active_energy_export_l2", "Wh", Number, [(1, 42, 8, 0)];
    ActiveEnergyExportL3 => "active_energy_export_l3", "Wh", Number, [(1, 62, 8, 0)];
    ActiveEnergyImportTariff1 => "active_energy_import_tariff_1", "Wh", Number, [(1, 1, 8, 1)];
    ActiveEnergyImportTariff2 => "active_energy_import_tariff_2", "Wh", Number, [(1, 1, 8, 2)];
    ActiveEnergyImportTariff3 => "active_energy_import_tariff_3", "Wh", Number, [(1, 1, 8, 3)];
    ActiveEnergyImportTariff4 => "active_energy_import_tariff_4", "Wh", Number, [(1, 1, 8, 4)];
    ActiveEnergyExportTariff1 => "active_energy_export_tariff_1", "Wh", Number, [(1, 2, 8, 1)];
    ActiveEnergyExportTariff2 => "active_energy_export_tariff_2", "Wh", Number, [(1, 2, 8, 2)];
    ActiveEnergyExportTariff3 => "active_energy_export_tariff_3", "Wh", Number, [(1, 2, 8, 3)];
    ActiveEnergyExportTariff4 => "active_energy_export_tariff_4", "Wh", Number, [(1, 2, 8, 4)];
    GasVolume => "gas_volume", "m³", Number, [(0, 24, 2, 1), (0, 24, 2, 3)];
    MeterId => "meter_id", "", Text, [(0, 96, 1, 0), (1, 0, 0, 5), (0, 96, 1, 1)];
    MeterType => "meter_type", "", Text, [(0, 96, 1, 7), (1, 96, 1, 1)];
    ListId => "list_id", "", Text, [(1, 0, 2, 129)];
    MeterTime => "meter_time", "", DateTime, [(0, 1, 0, 0)];
}

/// `FAST[c][(d - 7) * 8 + e]` = 1 + the row of code (1, c, d, e), 0 for none (built at compile
/// time from the table, for D in 7..=8 and E < 8).
static FAST: [[u8; 16]; 256] = build_fast();

// evaluated at compile time only: an out-of-range index would fail the build, not a run
#[allow(clippy::indexing_slicing)]
const fn build_fast() -> [[u8; 16]; 256] {
    let mut t = [[0u8; 16]; 256];
    let mut row = 0;
    while row < ROWS.len() {
        let codes = ROWS[row].codes;
        let mut k = 0;
        while k < codes.len() {
            let (a, c, d, e) = codes[k];
            if a == 1 && (d == 7 || d == 8) && e < 8 {
                t[c as usize][(d as usize - 7) * 8 + e as usize] = row as u8 + 1;
            }
            k += 1;
        }
        row += 1;
    }
    t
}

/// The DLMS unit code of each row's SI unit (0: none), built at compile time.
static UNIT_CODES: [u8; ROWS.len()] = build_unit_codes();

// evaluated at compile time only: an out-of-range index would fail the build, not a run
#[allow(clippy::indexing_slicing)]
const fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// evaluated at compile time only: an out-of-range index would fail the build, not a run
#[allow(clippy::indexing_slicing)]
const fn build_unit_codes() -> [u8; ROWS.len()] {
    let mut t = [0u8; ROWS.len()];
    let mut row = 0;
    while row < ROWS.len() {
        let u = ROWS[row].unit;
        t[row] = if eq(u, "W") {
            27
        } else if eq(u, "var") {
            29
        } else if eq(u, "Wh") {
            30
        } else if eq(u, "varh") {
            32
        } else if eq(u, "A") {
            33
        } else if eq(u, "V") {
            35
        } else if eq(u, "Hz") {
            44
        } else if eq(u, "m³") {
            13
        } else {
            0
        };
        row += 1;
    }
    t
}

impl Quantity {
    /// The DLMS unit code (Blue Book enumeration) of the row's SI unit, if it has one.
    #[inline]
    pub fn unit_code(self) -> Option<u8> {
        UNIT_CODES.get(self as usize).copied().filter(|&u| u != 0)
    }

    /// Its row in [`TABLE`].
    pub fn def(self) -> &'static ObisDef {
        // `TABLE` is generated from the same list as the enum, in the same order.
        TABLE.get(self as usize).unwrap_or(&TABLE_FALLBACK)
    }

    /// Python field name.
    pub fn field(self) -> &'static str {
        self.def().field
    }

    /// SI unit.
    pub fn unit(self) -> &'static str {
        self.def().unit
    }

    /// Canonical 6-byte OBIS code (B = 0, F = 255).
    pub fn canonical(self) -> [u8; 6] {
        let (a, c, d, e) = self.def().codes.first().copied().unwrap_or((0, 0, 0, 0));
        [a, 0, c, d, e, 0xFF]
    }

    /// Looks a field up by name.
    pub fn from_field(name: &str) -> Option<Quantity> {
        TABLE.iter().find(|d| d.field == name).map(|d| d.quantity)
    }
}

static TABLE_FALLBACK: ObisDef = ObisDef {
    quantity: Quantity::MeterTime,
    field: "meter_time",
    unit: "",
    kind: FieldKind::DateTime,
    codes: &[(0, 1, 0, 0)],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        for (i, d) in TABLE.iter().enumerate() {
            assert_eq!(d.quantity as usize, i);
            for &(a, c, dd, e) in d.codes {
                assert_eq!(
                    Quantity::from_acde(a, c, dd, e),
                    Some(d.quantity),
                    "{}",
                    d.field
                );
            }
            assert_eq!(Quantity::from_field(d.field), Some(d.quantity));
        }
        let mut names: Vec<_> = TABLE.iter().map(|d| d.field).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLE.len());
    }

    #[test]
    fn fast_lookup_agrees_with_the_match() {
        for a in 0..=2u8 {
            for c in 0..=255u8 {
                for d in 0..=9u8 {
                    for e in 0..=9u8 {
                        assert_eq!(
                            Quantity::from_acde(a, c, d, e),
                            Quantity::from_acde_slow(a, c, d, e),
                            "{a} {c} {d} {e}"
                        );
                    }
                }
            }
        }
        assert_eq!(Quantity::VoltageL1.unit_code(), Some(35));
        assert_eq!(Quantity::PowerFactor.unit_code(), None);
        assert_eq!(Quantity::MeterId.unit_code(), None);
    }

    #[test]
    fn lenient_b_and_f_strict_a() {
        assert_eq!(Quantity::from_acde(1, 31, 7, 0), Some(Quantity::CurrentL1));
        assert_eq!(Quantity::from_acde(0, 31, 7, 0), None);
        assert_eq!(
            Quantity::ActivePowerImport.canonical(),
            [1, 0, 1, 7, 0, 255]
        );
    }
}
